/**
 * The rotadb command-line tool (bin/rotadb.mjs runs main()). docs/cli.md is its manual.
 *
 *   rotadb stat|check|dump|load|compact|backup|readers <file> ...
 *
 * Output goes to stdout; errors are one line `rotadb: <message> (<code>)` on stderr. Progress
 * bars go to stderr, only when stderr is a terminal. Exit status: 0 success, 1 an error or a
 * check that found problems, 2 the file is open in another process (ROTA_LOCKED), 64 bad usage.
 */
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { open, type OpenOptions } from '../api/open.js';
import type { RootDatabase } from '../api/database.js';
import { RotaError } from '../errors.js';
import { compact, listDatabases, refuseExisting, removeQuietly, type ProgressCallback } from '../tools/compact.js';
import { backup } from '../tools/backup.js';
import { DumpReader, dump, load } from '../tools/dump.js';

export interface CliIO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable;
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_LOCKED = 2;
export const EXIT_USAGE = 64;

const VERSION = '0.1.0';
const CACHE = 64 * 1024 * 1024;

// ---------------------------------------------------------------- commands and their help

type OptionKind = 'flag' | 'string' | 'int';

interface Command {
  name: string;
  args: string[];
  summary: string;
  options: Record<string, { kind: OptionKind; help: string; alias?: string; value?: string }>;
  details: string;
  run(pos: string[], opts: Opts, io: CliIO): Promise<number>;
}

type Opts = Record<string, string | number | boolean | undefined>;

class UsageError extends RotaError {
  constructor(message: string) { super('ROTA_USAGE', message); }
}

const commands: Command[] = [
  {
    name: 'stat',
    args: ['file'],
    summary: 'sizes, version, free space, and entries and pages of every database',
    options: { '--json': { kind: 'flag', help: 'print one JSON object instead of text' } },
    details: 'Reads the current version. Free and pending pages are as a fresh open sees them (no reader is left after a reopen, so every free page is reusable).',
    run: runStat,
  },
  {
    name: 'check',
    args: ['file'],
    summary: 'verify every page of the file: checksums, tree structure, ownership',
    options: { '--json': { kind: 'flag', help: 'print the full report as JSON' } },
    details: "Prints 'ok' and exits 0 when the file is sound; otherwise prints one line per problem, naming the page, and exits 1.",
    run: runCheck,
  },
  {
    name: 'dump',
    args: ['file'],
    summary: 'write the data as line-delimited JSON (format in docs/cli.md)',
    options: {
      '--db': { kind: 'string', value: 'name', help: 'dump only the named database' },
      '--main': { kind: 'flag', help: 'dump only the main database' },
      '--out': { kind: 'string', alias: '-o', value: 'path', help: 'write to a new file instead of stdout (never overwrites)' },
    },
    details: 'Dumps one consistent snapshot: a header line, then one line per entry with the raw key and value bytes in base64.',
    run: runDump,
  },
  {
    name: 'load',
    args: ['file'],
    summary: 'load a dump into a database, creating the file if needed',
    options: {
      '--in': { kind: 'string', alias: '-i', value: 'path', help: 'read the dump from a file instead of stdin' },
      '--page-size': { kind: 'int', value: 'n', help: "page size of a new file (default: the dump's)" },
      '--roots': { kind: 'int', value: 'n', help: "root slots of a new file (default: the dump's)" },
    },
    details: 'Existing keys are replaced. Writes go in transactions of 10,000 entries, so a load that fails part way keeps what it committed.',
    run: runLoad,
  },
  {
    name: 'compact',
    args: ['file', 'dest'],
    summary: 'write a new file holding only the live data, with full pages',
    options: {
      '--page-size': { kind: 'int', value: 'n', help: "page size of the new file (default: the source's)" },
      '--roots': { kind: 'int', value: 'n', help: "root slots of the new file (default: the source's)" },
    },
    details: 'Copies one consistent snapshot in key order. <dest> must not exist; it appears only once complete.',
    run: runCompact,
  },
  {
    name: 'backup',
    args: ['file', 'dest'],
    summary: 'a consistent physical copy of the current version',
    options: {},
    details: '<dest> must not exist; it appears only once complete and synced. To back up a database that a program has open, call db.backup() in that program (this tool cannot open a file another process holds).',
    run: runBackup,
  },
  {
    name: 'readers',
    args: ['file'],
    summary: 'open read transactions (only a process that has the file open can see them)',
    options: {},
    details: 'rotadb allows one process per file, and readers live in the memory of that process: this tool cannot see them. If another process has the file open, it says so and exits 2; call db.readers() (or db.stats()) in that process instead.',
    run: runReaders,
  },
];

function topHelp(): string {
  const width = Math.max(...commands.map((c) => usageOf(c).length));
  return [
    'rotadb: inspect and maintain rotadb database files',
    '',
    'Usage: rotadb <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${usageOf(c).padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  -h, --help     help (also: rotadb <command> --help)',
    '  --version      the version of rotadb',
    '',
    'Progress bars go to stderr, only when it is a terminal.',
    'Exit status: 0 success; 1 error, or check found problems; 2 the file is open in another',
    'process (ROTA_LOCKED); 64 bad usage. Errors are one line: rotadb: <message> (<code>).',
    '',
  ].join('\n');
}

function usageOf(c: Command): string {
  return `${c.name} ${c.args.map((a) => `<${a}>`).join(' ')}${Object.keys(c.options).length ? ' [options]' : ''}`;
}

function commandHelp(c: Command): string {
  const opts = Object.entries(c.options).map(([name, o]) => {
    const label = `${o.alias ? `${o.alias}, ` : ''}${name}${o.value ? ` <${o.value}>` : ''}`;
    return [label, o.help] as const;
  });
  opts.push(['-h, --help', 'this help']);
  const width = Math.max(...opts.map(([l]) => l.length));
  return [
    `Usage: rotadb ${usageOf(c)}`,
    '',
    `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`,
    ...wrap(c.details, 78),
    '',
    'Options:',
    ...opts.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`),
    '',
  ].join('\n');
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) { out.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

// ---------------------------------------------------------------- argument parsing (no library)

function parse(c: Command, argv: string[]): { pos: string[]; opts: Opts; help: boolean } {
  const byName = new Map<string, string>();
  for (const [name, o] of Object.entries(c.options)) {
    byName.set(name, name);
    if (o.alias) byName.set(o.alias, name);
  }
  const pos: string[] = [];
  const opts: Opts = {};
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { pos.push(...argv.slice(i + 1)); break; }
    if (a === '-h' || a === '--help') { help = true; continue; }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const flag = eq > 0 ? a.slice(0, eq) : a;
      const name = byName.get(flag);
      if (name === undefined) throw new UsageError(`unknown option ${flag} for '${c.name}'; see 'rotadb ${c.name} --help'`);
      const spec = c.options[name]!;
      if (spec.kind === 'flag') {
        if (eq > 0) throw new UsageError(`${flag} takes no value`);
        opts[name] = true;
        continue;
      }
      let value: string | undefined = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`${flag} needs a value; see 'rotadb ${c.name} --help'`);
      if (spec.kind === 'int') {
        const n = Number(value);
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`${flag} needs a whole number, not ${JSON.stringify(value)}`);
        opts[name] = n;
      } else {
        opts[name] = value;
      }
      continue;
    }
    pos.push(a);
  }
  if (!help) {
    if (pos.length < c.args.length) throw new UsageError(`'${c.name}' needs ${c.args.map((x) => `<${x}>`).join(' ')}; see 'rotadb ${c.name} --help'`);
    if (pos.length > c.args.length) throw new UsageError(`'${c.name}' takes ${c.args.length} argument(s), got ${pos.length}; see 'rotadb ${c.name} --help'`);
  }
  return { pos, opts, help };
}

// ---------------------------------------------------------------- entry point

/** Runs the tool with `argv` (without node and the script) and returns the exit status. */
export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }): Promise<number> {
  const first = argv[0];
  let cmd: Command | undefined;
  try {
    if (first === undefined) {
      io.stderr.write(topHelp());
      return EXIT_USAGE;
    }
    if (first === '-h' || first === '--help' || first === 'help') {
      const sub = first === 'help' ? argv[1] : undefined;
      const c = sub === undefined ? undefined : commands.find((x) => x.name === sub);
      if (sub !== undefined && c === undefined) throw new UsageError(`unknown command '${sub}'; see 'rotadb --help'`);
      io.stdout.write(c ? commandHelp(c) : topHelp());
      return EXIT_OK;
    }
    if (first === '--version' || first === '-v') {
      io.stdout.write(`rotadb ${VERSION}\n`);
      return EXIT_OK;
    }
    cmd = commands.find((x) => x.name === first);
    if (cmd === undefined) throw new UsageError(`unknown command '${first}'; see 'rotadb --help'`);
    const { pos, opts, help } = parse(cmd, argv.slice(1));
    if (help) {
      io.stdout.write(commandHelp(cmd));
      return EXIT_OK;
    }
    return await cmd.run(pos, opts, io);
  } catch (e) {
    return reportError(e, cmd, io);
  }
}

/** For bin/rotadb.mjs: runs main() and sets the process exit status (no process.exit: output drains first). */
export function run(argv: string[] = process.argv.slice(2)): void {
  main(argv).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`rotadb: internal error: ${oneLine(String((e as Error)?.stack ?? e))} (ROTA_INTERNAL)\n`); process.exitCode = EXIT_ERROR; },
  );
}

function reportError(e: unknown, cmd: Command | undefined, io: CliIO): number {
  const code = (e as { code?: unknown } | null)?.code;
  const message = (e as Error)?.message ?? String(e);
  if (code === 'EPIPE') return EXIT_ERROR; // the reader of our output went away (rotadb dump x | head): nothing to say
  if (code === 'ROTA_LOCKED') {
    const pid = (e as { pid?: number }).pid;
    const file = (e as { file?: string }).file ?? 'the file';
    const seeing = cmd?.name === 'readers'
      ? `; its readers live in that process and cannot be seen from here: call db.readers() there`
      : `; stop it first${cmd?.name === 'backup' || cmd?.name === 'compact' || cmd?.name === 'dump' ? `, or call db.${cmd.name}() in that process` : ''}`;
    io.stderr.write(`rotadb: ${file} is open in process ${pid ?? '(unknown)'} and rotadb allows one process per file${seeing} (ROTA_LOCKED)\n`);
    return EXIT_LOCKED;
  }
  if (e instanceof UsageError) {
    io.stderr.write(`rotadb: ${oneLine(message)} (ROTA_USAGE)\n`);
    return EXIT_USAGE;
  }
  if (typeof code === 'string') {
    io.stderr.write(`rotadb: ${oneLine(message)} (${code})\n`);
    return EXIT_ERROR;
  }
  const detail = process.env.ROTADB_DEBUG ? ` ${oneLine(String((e as Error)?.stack ?? ''))}` : '';
  io.stderr.write(`rotadb: internal error: ${oneLine(message)}${detail} (ROTA_INTERNAL)\n`);
  return EXIT_ERROR;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

// ---------------------------------------------------------------- opening

/** Opens an existing database file; never creates one. ROTA_LOCKED carries the file for the message. */
function openExisting(file: string, options: OpenOptions = {}): RootDatabase {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new RotaError('ROTA_NOT_FOUND', `${file} does not exist`);
  }
  if (st.isDirectory()) throw new RotaError('ROTA_NOT_A_DATABASE', `${file} is a directory, not a rotadb database file`);
  return openOrTag(file, { cacheSize: CACHE, ...options });
}

function openOrTag(file: string, options: OpenOptions): RootDatabase {
  try {
    return open(file, options);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ROTA_LOCKED') (e as { file?: string }).file = file;
    throw e;
  }
}

async function withDb<T>(db: RootDatabase, fn: (db: RootDatabase) => Promise<T>): Promise<T> {
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------- progress bar

/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
class ProgressBar {
  private last = 0;
  private drawn = false;

  constructor(private readonly stream: CliIO['stderr'], private readonly label: string, private readonly unit: string) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  readonly update: ProgressCallback = (done, total) => {
    if (!this.enabled) return;
    const now = Date.now();
    if (done < total && now - this.last < 100) return;
    this.last = now;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const full = Math.round(frac * width);
    const bar = '#'.repeat(full) + '-'.repeat(width - full);
    this.stream.write(`\r${this.label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${fmt(done)}/${fmt(total)} ${this.unit}\x1b[K`);
    this.drawn = true;
  };

  /** Erases the bar. */
  finish(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

async function withProgress<T>(io: CliIO, label: string, unit: string, fn: (p: ProgressCallback) => Promise<T> | T): Promise<T> {
  const bar = new ProgressBar(io.stderr, label, unit);
  try {
    return await fn(bar.update);
  } finally {
    bar.finish();
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function bytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

// ---------------------------------------------------------------- the commands

interface DbStat {
  name: string | null;
  entries: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
}

async function runStat([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  return withDb(openExisting(file!), async (db) => {
    const r = db.env.beginRead(false);
    let dbs: DbStat[];
    let meta: typeof r.meta;
    try {
      meta = r.meta;
      dbs = listDatabases(r).map(({ name, tree: t }) => ({
        name, entries: t.entries, depth: t.depth, branchPages: t.branchPages, leafPages: t.leafPages, overflowPages: t.overflowPages,
      }));
    } finally {
      r.end();
    }
    const s = db.stats();
    const report = {
      path: file!,
      txnId: meta.txnId,
      pageSize: meta.pageSize,
      nRoots: meta.nRoots,
      fileSize: s.fileSize,
      totalPages: meta.highWater,
      treePages: dbs.reduce((a, d) => a + d.branchPages + d.leafPages + d.overflowPages, 0),
      catalogPages: meta.catalog.branchPages + meta.catalog.leafPages,
      spaceMapPages: meta.spaceMapPages,
      freePages: s.freePages,
      pendingPages: s.pendingPages,
      databases: dbs,
    };
    if (opts['--json']) {
      io.stdout.write(JSON.stringify(report, null, 2) + '\n');
      return EXIT_OK;
    }
    const x = report;
    const lines = [
      `file          ${file}`,
      `size          ${fmt(x.fileSize)} bytes (${bytes(x.fileSize)}), pages of ${fmt(x.pageSize)} bytes`,
      `version       ${x.txnId} (${x.nRoots} root slot${x.nRoots === 1 ? '' : 's'})`,
      `pages         ${fmt(x.totalPages)} below the high-water mark: ${fmt(x.treePages)} data, ${fmt(x.freePages + x.pendingPages)} free, ` +
        `${x.nRoots} root slot${x.nRoots === 1 ? '' : 's'}, ${fmt(x.catalogPages)} catalog, ${fmt(x.spaceMapPages)} space map`,
      `databases     main and ${dbs.length - 1} named`,
      '',
    ];
    const head = ['database', 'entries', 'depth', 'branch', 'leaf', 'overflow'];
    const rows = dbs.map((d) => [d.name === null ? '(main)' : d.name, fmt(d.entries), String(d.depth), fmt(d.branchPages), fmt(d.leafPages), fmt(d.overflowPages)]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    lines.push(line(head), ...rows.map(line), '');
    io.stdout.write(lines.join('\n'));
    return EXIT_OK;
  });
}

async function runCheck([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  return withDb(openExisting(file!), async (db) => {
    const report = await withProgress(io, 'check', 'pages', (p) => db.check(p));
    if (opts['--json']) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else if (report.ok) io.stdout.write('ok\n');
    else io.stdout.write(report.problems.map((p) => oneLine(p)).join('\n') + '\n');
    if (report.ok) return EXIT_OK;
    io.stderr.write(`rotadb: check found ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${file} (ROTA_CORRUPT)\n`);
    return EXIT_ERROR;
  });
}

async function runDump([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  if (opts['--db'] !== undefined && opts['--main']) throw new UsageError('--db and --main exclude each other');
  const database = opts['--main'] ? null : (opts['--db'] as string | undefined);
  const outPath = opts['--out'] as string | undefined;
  return withDb(openExisting(file!), async (db) => {
    if (outPath === undefined) {
      await withProgress(io, 'dump', 'entries', (p) => dump(db, io.stdout, { database, onProgress: p }));
      return EXIT_OK;
    }
    refuseExisting(outPath, 'dump -o');
    const stream = fs.createWriteStream('', { fd: fs.openSync(outPath, 'wx') });
    try {
      const result = await withProgress(io, 'dump', 'entries', (p) => dump(db, stream, { database, onProgress: p }));
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => resolve());
      });
      io.stderr.write(`dumped ${fmt(result.entries)} entries of ${result.databases} database${result.databases === 1 ? '' : 's'} (version ${result.txnId}) to ${outPath}\n`);
      return EXIT_OK;
    } catch (e) {
      stream.destroy();
      removeQuietly(outPath);
      throw e;
    }
  });
}

async function runLoad([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  const inPath = opts['--in'] as string | undefined;
  let input: Readable;
  if (inPath === undefined) {
    input = io.stdin;
  } else {
    if (!fs.existsSync(inPath)) throw new RotaError('ROTA_NOT_FOUND', `${inPath} does not exist`);
    input = fs.createReadStream(inPath);
  }
  try {
    const reader = await DumpReader.open(input);
    const pageSize = opts['--page-size'] as number | undefined;
    const nRoots = opts['--roots'] as number | undefined;
    const exists = fs.existsSync(file!);
    const db = exists
      ? openExisting(file!, { pageSize, nRoots })
      : openOrTag(file!, { cacheSize: CACHE, pageSize: pageSize ?? reader.header.pageSize, nRoots: nRoots ?? reader.header.nRoots });
    return await withDb(db, async () => {
      const result = await withProgress(io, 'load', 'entries', (p) => load(db, reader, { onProgress: p }));
      io.stdout.write(`loaded ${fmt(result.entries)} entries into ${result.databases} database${result.databases === 1 ? '' : 's'} of ${file}${exists ? '' : ' (new file)'}\n`);
      return EXIT_OK;
    });
  } finally {
    if (inPath !== undefined) input.destroy();
  }
}

async function runCompact([file, dest]: string[], opts: Opts, io: CliIO): Promise<number> {
  refuseExisting(dest!, 'compact');
  return withDb(openExisting(file!), async (db) => {
    const r = await withProgress(io, 'compact', 'entries', (p) => compact(db, dest!, {
      onProgress: p, pageSize: opts['--page-size'] as number | undefined, nRoots: opts['--roots'] as number | undefined,
    }));
    io.stdout.write(`compacted ${file} (${bytes(r.sourceSize)}) to ${dest} (${bytes(r.size)}): ${fmt(r.entries)} entries in main and ${r.databases} named database${r.databases === 1 ? '' : 's'}, version ${r.txnId}\n`);
    return EXIT_OK;
  });
}

async function runBackup([file, dest]: string[], _opts: Opts, io: CliIO): Promise<number> {
  refuseExisting(dest!, 'backup');
  return withDb(openExisting(file!), async (db) => {
    const r = await withProgress(io, 'backup', 'pages', (p) => backup(db, dest!, { onProgress: p }));
    io.stdout.write(`backed up version ${r.txnId} of ${file} to ${dest}: ${fmt(r.pages)} pages (${bytes(r.size)})\n`);
    return EXIT_OK;
  });
}

async function runReaders([file]: string[], _opts: Opts, io: CliIO): Promise<number> {
  // Opening succeeds only when no other process holds the file (ROTA_LOCKED otherwise, exit 2);
  // readers live in the memory of the process that has it open, so once we hold it there are none.
  return withDb(openExisting(file!), async (db) => {
    const rs = db.readers();
    if (rs.length === 0) {
      io.stdout.write('no readers: the file is not open in any process\n');
    } else {
      for (const r of rs) io.stdout.write(`thread ${r.threadId} reads version ${r.txnId} since ${new Date(r.startedAt).toISOString()}\n`);
    }
    return EXIT_OK;
  });
}
