/**
 * The rotadb command-line tool (bin/rotadb.mjs runs run()). docs/cli.md is its manual.
 *
 *   rotadb stat|check|dump|load|compact|backup|readers|recover <file> ...
 *
 * This file parses arguments, dispatches to the command (one file each: stat.ts, check.ts, ...),
 * prints help, and turns errors into exit statuses.
 *
 * Output goes to stdout; errors are one line `rotadb: <message> (<code>)` on stderr. Progress
 * bars go to stderr, only when stderr is a terminal. Exit status: 0 success, 1 an error or a
 * check that found problems, 2 the file is open in another process and the command needs it alone (ROTA_LOCKED), 64 bad usage.
 */
import { UsageError } from '../errors.js';
import { backup } from './backup.js';
import { check } from './check.js';
import { EXIT_ERROR, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, oneLine, type CliIO, type Command, type Opts } from './common.js';
import { compact } from './compact.js';
import { dump } from './dump.js';
import { load } from './load.js';
import { readers } from './readers.js';
import { recoverCommand } from './recover.js';
import { stat } from './stat.js';

export { EXIT_ERROR, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, type CliIO } from './common.js';

const VERSION = '0.1.0';

// ---------------------------------------------------------------- help

/** In the order help lists them. */
const commands: Command[] = [stat, check, dump, load, compact, backup, readers, recoverCommand];

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
    // recover needs the file to itself; any command does on a platform without /proc, or against
    // the lock file of an older rotadb
    const why = cmd?.name === 'recover' ? 'recover needs the file to itself' : 'that process holds it alone (a platform without /proc, or an older rotadb)';
    io.stderr.write(`rotadb: ${file} is open in process ${pid ?? '(unknown)'} and ${why}; stop it first (ROTA_LOCKED)\n`);
    return EXIT_LOCKED;
  }
  if (e instanceof UsageError) {
    io.stderr.write(`rotadb: ${oneLine(message)} (ROTA_USAGE)\n`);
    return EXIT_USAGE;
  }
  // An InternalError (ROTA_INTERNAL) is a bug like any uncoded error: reported as one, below.
  if (typeof code === 'string' && code !== 'ROTA_INTERNAL') {
    io.stderr.write(`rotadb: ${oneLine(message)} (${code})\n`);
    return EXIT_ERROR;
  }
  const detail = process.env.ROTADB_DEBUG ? ` ${oneLine(String((e as Error)?.stack ?? ''))}` : '';
  io.stderr.write(`rotadb: internal error: ${oneLine(message)}${detail} (ROTA_INTERNAL)\n`);
  return EXIT_ERROR;
}
