/**
 * The rotadb command-line tool, run for real: `node bin/rotadb.mjs ...` in a child process, on
 * dist/ as `npm run build` makes it. Every subcommand, --help, a missing file, a non-database file, a file another
 * process has open (the tools work on it; recover refuses with ROTA_LOCKED, exit 2), and check on a deliberately damaged leaf page.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './helpers/dist.js';
import { open } from '../src/api/open.js';
import { branchChild } from '../src/pages/node.js';
import { main } from '../src/cli/main.js';
import { expectClean, tempDir, track } from './helpers/db.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'rotadb.mjs');

interface Run { status: number | null; stdout: string; stderr: string }

function rota(args: string[], input?: string): Run {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exactly one line on stderr, in the documented form. */
function expectOneErrorLine(r: Run, code: string): void {
  expect(r.stderr.endsWith('\n')).toBe(true);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^rotadb: .+ \\(${code}\\)$`));
}

/** A database file with a main database, two named ones (one emptied) and a large value. */
async function sample(dir: string, name = 'db.rdb'): Promise<string> {
  const file = path.join(dir, name);
  const db = open(file);
  const users = db.openDB('users', { encoding: 'json' });
  db.transactionSync(() => {
    for (let i = 0; i < 3000; i++) db.putSync(['item', i], { i, pad: 'p'.repeat(i % 40) });
    for (let i = 0; i < 100; i++) users.putSync(`u${i}`, { name: `user ${i}` });
    db.putSync('large', Buffer.alloc(30000, 3));
    db.openDB('gone').putSync('x', 1);
  });
  db.openDB('gone').removeSync('x');
  await db.close();
  return file;
}

const commands = ['stat', 'check', 'dump', 'load', 'compact', 'backup', 'readers'];

beforeAll(ensureBuilt, 120_000);

describe('rotadb --help', () => {
  it('top-level help lists every subcommand and the exit codes', () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = rota([flag]);
      expect(r.status).toBe(0);
      for (const c of commands) expect(r.stdout).toContain(`  ${c} <file>`);
      expect(r.stdout).toContain('ROTA_LOCKED');
      expect(r.stderr).toBe('');
    }
  });

  it('every subcommand has --help', () => {
    for (const c of commands) {
      for (const flag of ['--help', '-h']) {
        const r = rota([c, flag]);
        expect(r.status, c).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^Usage: rotadb ${c} <file>`));
        expect(r.stdout).toContain('-h, --help');
      }
      expect(rota(['help', c]).stdout).toBe(rota([c, '--help']).stdout);
    }
  });

  it('bad usage: one error line and exit 64', () => {
    const none = rota([]);
    expect(none.status).toBe(64);
    expect(none.stderr).toContain('Usage: rotadb <command>');
    for (const args of [['frob'], ['stat'], ['stat', 'a', 'b'], ['stat', 'a', '--bogus'], ['dump', 'a', '-o'], ['load', 'a', '--page-size', 'x']]) {
      const r = rota(args);
      expect(r.status, args.join(' ')).toBe(64);
      expectOneErrorLine(r, 'ROTA_USAGE');
    }
    expect(rota(['--version']).stdout).toMatch(/^rotadb \d+\.\d+\.\d+\n$/);
  });
});

describe('rotadb subcommands', () => {
  it('stat: text and --json, for the main database and each named one', async () => {
    const file = await sample(tempDir());
    const text = rota(['stat', file]);
    expect(text.status).toBe(0);
    expect(text.stderr).toBe('');
    expect(text.stdout).toMatch(/^file {10}.*db\.rdb$/m);
    expect(text.stdout).toMatch(/^\(main\)\s+3,001\s+\d/m);
    expect(text.stdout).toMatch(/^users\s+100\s+\d/m);
    expect(text.stdout).toMatch(/^gone\s+0\s+0/m);
    const json = rota(['stat', file, '--json']);
    expect(json.status).toBe(0);
    const s = JSON.parse(json.stdout);
    expect(s.pageSize).toBe(4096);
    expect(s.nRoots).toBe(4);
    expect(s.fileSize).toBe(fs.statSync(file).size);
    expect(s.databases.map((d: { name: string | null; entries: number }) => [d.name, d.entries])).toEqual([[null, 3001], ['gone', 0], ['users', 100]]);
    expect(s.databases[0].overflowPages).toBe(8);
    expect(s.nRoots + s.treePages + s.catalogPages + s.spaceMapPages + s.freePages + s.pendingPages).toBe(s.totalPages);
  });

  it("check: 'ok' and exit 0 on a sound file; --json gives the report", async () => {
    const file = await sample(tempDir());
    const r = rota(['check', file]);
    expect(r).toEqual({ status: 0, stdout: 'ok\n', stderr: '' });
    const j = rota(['check', file, '--json']);
    expect(j.status).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, problems: [], databases: 2 });
  });

  it('check: a flipped byte in a leaf page gives exit 1 and a line naming the page', async () => {
    const file = await sample(tempDir());
    const db = open(file);
    let pgno = db.env.current.main.root;
    for (let level = db.env.current.main.depth; level > 1; level--) pgno = branchChild(db.env.pager.read(pgno), 1);
    const pageSize = db.env.pageSize;
    await db.close();
    const fd = fs.openSync(file, 'r+');
    const b = Buffer.alloc(1);
    const at = pgno * pageSize + pageSize - 200; // inside the cell area
    fs.readSync(fd, b, 0, 1, at);
    b[0] ^= 0x20;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    const r = rota(['check', file]);
    expect(r.status).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.some((l) => l.includes(`page ${pgno}`) && l.includes('checksum'))).toBe(true);
    expect(r.stdout).not.toMatch(/^ok$/m);
    expectOneErrorLine(r, 'ROTA_CORRUPT');
    expect(r.stderr).toMatch(/check found \d+ problems? in/);
  });

  it('dump to stdout and -o, --db and --main; load from -i and stdin gives the same data', async () => {
    const dir = tempDir();
    const file = await sample(dir);
    const out = rota(['dump', file]);
    expect(out.status).toBe(0);
    expect(out.stderr).toBe(''); // no progress bar: stderr is not a terminal
    const lines = out.stdout.trimEnd().split('\n');
    const header = JSON.parse(lines[0]!);
    expect(header.format).toBe('rotadb-dump');
    expect(header.databases).toEqual([{ name: null, entries: 3001 }, { name: 'gone', entries: 0 }, { name: 'users', entries: 100 }]);
    expect(lines).toHaveLength(1 + 3101);

    const dumpFile = path.join(dir, 'd.jsonl');
    const toFile = rota(['dump', file, '-o', dumpFile]);
    expect(toFile.status).toBe(0);
    expect(toFile.stdout).toBe('');
    expect(fs.readFileSync(dumpFile, 'utf8')).toBe(out.stdout);
    const again = rota(['dump', file, '--out', dumpFile]);
    expect(again.status).toBe(1);
    expectOneErrorLine(again, 'ROTA_EXISTS');

    const users = rota(['dump', file, '--db', 'users']);
    expect(users.stdout.trimEnd().split('\n')).toHaveLength(101);
    expect(JSON.parse(users.stdout.split('\n')[0]!).databases).toEqual([{ name: 'users', entries: 100 }]);
    const mainOnly = rota(['dump', file, '--main']);
    expect(JSON.parse(mainOnly.stdout.split('\n')[0]!).databases).toEqual([{ name: null, entries: 3001 }]);
    const missing = rota(['dump', file, '--db', 'nope']);
    expect(missing.status).toBe(1);
    expectOneErrorLine(missing, 'ROTA_NO_DATABASE');

    const fromFile = path.join(dir, 'from-file.rdb');
    const l1 = rota(['load', fromFile, '-i', dumpFile]);
    expect(l1.status).toBe(0);
    expect(l1.stdout).toMatch(/^loaded 3,101 entries into 3 databases of .*from-file\.rdb \(new file\)\n$/);
    const fromStdin = path.join(dir, 'from-stdin.rdb');
    const l2 = rota(['load', fromStdin, '--page-size', '8192'], out.stdout);
    expect(l2.status).toBe(0);
    for (const f of [fromFile, fromStdin]) {
      const d = rota(['dump', f]);
      expect(d.stdout.split('\n').slice(1)).toEqual(out.stdout.split('\n').slice(1));
      expect(rota(['check', f]).stdout).toBe('ok\n');
    }
    expect(JSON.parse(rota(['stat', fromStdin, '--json']).stdout).pageSize).toBe(8192);

    const bad = rota(['load', path.join(dir, 'x.rdb')], 'not a dump\n');
    expect(bad.status).toBe(1);
    expectOneErrorLine(bad, 'ROTA_BAD_DUMP');
    expect(fs.existsSync(path.join(dir, 'x.rdb'))).toBe(false); // the header is read before the file is created
  });

  it('compact and backup write sound new files and refuse an existing destination', async () => {
    const dir = tempDir();
    const file = await sample(dir);
    const compacted = path.join(dir, 'compact.rdb');
    const c = rota(['compact', file, compacted]);
    expect(c.status).toBe(0);
    expect(c.stderr).toBe('');
    expect(c.stdout).toMatch(/^compacted .* 3,101 entries in main and 2 named databases, version \d+\n$/);
    const backedUp = path.join(dir, 'backup.rdb');
    const b = rota(['backup', file, backedUp]);
    expect(b.status).toBe(0);
    expect(b.stdout).toMatch(/^backed up version \d+ of .* pages/);
    const original = rota(['dump', file]).stdout.split('\n').slice(1);
    for (const f of [compacted, backedUp]) {
      expect(rota(['check', f]).stdout).toBe('ok\n');
      expect(rota(['dump', f]).stdout.split('\n').slice(1)).toEqual(original);
    }
    expect(fs.statSync(compacted).size).toBeLessThanOrEqual(fs.statSync(file).size);
    for (const cmd of ['compact', 'backup']) {
      const r = rota([cmd, file, compacted]);
      expect(r.status).toBe(1);
      expectOneErrorLine(r, 'ROTA_EXISTS');
    }
    const small = rota(['compact', file, path.join(dir, 'small.rdb'), '--page-size', '1024', '--roots', '2']);
    expect(small.status).toBe(0);
    expect(JSON.parse(rota(['stat', path.join(dir, 'small.rdb'), '--json']).stdout)).toMatchObject({ pageSize: 1024, nRoots: 2 });
  });

  it("readers: says that no other process reads the file", async () => {
    const file = await sample(tempDir());
    const r = rota(['readers', file]);
    expect(r).toEqual({ status: 0, stdout: 'no readers: no other process reads the file now\n', stderr: '' });
  });

  it('a missing file: one line, exit 1, and nothing is created', () => {
    const dir = tempDir();
    const file = path.join(dir, 'missing.rdb');
    for (const c of ['stat', 'check', 'dump', 'readers', 'compact', 'backup']) {
      const r = rota(c === 'compact' || c === 'backup' ? [c, file, path.join(dir, 'out.rdb')] : [c, file]);
      expect(r.status, c).toBe(1);
      expectOneErrorLine(r, 'ROTA_NOT_FOUND');
    }
    expect(fs.readdirSync(dir)).toEqual([]);
    const inMissing = rota(['load', path.join(dir, 'new.rdb'), '-i', path.join(dir, 'nope.jsonl')]);
    expect(inMissing.status).toBe(1);
    expectOneErrorLine(inMissing, 'ROTA_NOT_FOUND');
  });

  it('a file that is not a database: one line, exit 1, the file untouched', () => {
    const dir = tempDir();
    const file = path.join(dir, 'notes.txt');
    const text = 'just some text\n'.repeat(500);
    fs.writeFileSync(file, text);
    for (const c of ['stat', 'check', 'dump', 'readers']) {
      const r = rota([c, file]);
      expect(r.status, c).toBe(1);
      expectOneErrorLine(r, 'ROTA_NOT_A_DATABASE');
    }
    const dirArg = rota(['stat', dir]);
    expect(dirArg.status).toBe(1);
    expectOneErrorLine(dirArg, 'ROTA_NOT_A_DATABASE');
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
    expect(fs.readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('a file open in another process: every subcommand works on it while it writes; recover refuses (ROTA_LOCKED, exit 2)', async () => {
    const dir = tempDir();
    const file = await sample(dir);
    const db = track(open(file)); // the application; the tool runs in a child process
    const snapshot = db.useReadTransaction(); // an old reader, pinned while this process writes on
    try {
      db.putSync('written while the tool looks', 1);
      for (const c of commands) {
        const args = c === 'compact' || c === 'backup' ? [c, file, path.join(dir, `${c}.rdb`)] : [c, file];
        const input = c === 'load' ? `${JSON.stringify({ format: 'rotadb-dump', version: 1, pageSize: 4096, nRoots: 4, txnId: 0, databases: [] })}\n` : undefined;
        const r = rota(args, input);
        expect(r.status, `${c}: ${r.stderr}`).toBe(0);
      }
      const readers = rota(['readers', file]);
      expect(readers.stdout).toMatch(new RegExp(`^process ${process.pid} reads version \\d+ \\(root slot \\d\\)`, 'm'));
      const backup = track(open(path.join(dir, 'backup.rdb')));
      expect(backup.get('written while the tool looks')).toBe(1);
      expect(backup.check().ok).toBe(true);
      const r = rota(['recover', file]);
      expect(r.status).toBe(2);
      expectOneErrorLine(r, 'ROTA_LOCKED');
      expect(r.stderr).toContain(`process ${process.pid}`);
      db.putSync('after the tools', 2); // the tools left the writer lock free
      expectClean(db);
    } finally {
      snapshot.done();
      await db.close();
    }
    expect(rota(['readers', file]).stdout).toBe('no readers: no other process reads the file now\n');
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
  });
});

describe('progress bars (in process)', () => {
  /** Runs main() with captured streams; `tty` makes stderr claim to be a terminal. */
  async function run(args: string[], tty: boolean): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const out = new PassThrough();
    out.on('data', (c) => { stdout += c; });
    const err = Object.assign(new PassThrough(), { isTTY: tty });
    err.on('data', (c) => { stderr += c; });
    const code = await main(args, { stdout: out, stderr: err, stdin: Readable.from([]) });
    await new Promise((r) => setImmediate(r));
    return { code, stdout, stderr };
  }

  it('are drawn on stderr only when it is a terminal, and erased at the end', async () => {
    const dir = tempDir();
    const file = await sample(dir);
    for (const [i, cmd] of ['compact', 'backup', 'check', 'dump'].entries()) {
      const args = cmd === 'compact' || cmd === 'backup' ? [cmd, file, path.join(dir, `${cmd}-${i}.rdb`)] : [cmd, file];
      const quiet = await run(cmd === 'compact' || cmd === 'backup' ? [cmd, file, path.join(dir, `${cmd}-q.rdb`)] : args, false);
      expect(quiet.code, cmd).toBe(0);
      expect(quiet.stderr, cmd).toBe('');
      const tty = await run(args, true);
      expect(tty.code, cmd).toBe(0);
      expect(tty.stderr, cmd).toMatch(new RegExp(`\\r${cmd} \\[#+-*\\] +\\d+%`));
      expect(tty.stderr.endsWith('\r\x1b[K'), cmd).toBe(true);
    }
  });
});
