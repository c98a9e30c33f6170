/**
 * `rotadb recover`, run for real (`node bin/rotadb.mjs` on dist/, as test/cli.test.ts does): a clean
 * file, a file that needs a rollback (with and without --apply, and --json), a file with nothing
 * to recover, a file held by another process, a missing file, and the progress bar.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { main } from '../../src/cli/main.js';
import { tempDir, track } from '../helpers/db.js';
import { ensureBuilt } from '../helpers/dist.js';
import { contents, damagedEverywhereImage, optsOf, sameModel, stalePageImage } from '../tools/recover-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin', 'rotadb.mjs');

interface Run { status: number | null; stdout: string; stderr: string }

function rota(args: string[]): Run {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneErrorLine(r: Run, code: string): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^rotadb: .+ \\(${code}\\)$`));
}

beforeAll(ensureBuilt, 120_000);

function write(image: Uint8Array, name: string): string {
  const file = path.join(tempDir(), name);
  fs.writeFileSync(file, image);
  return file;
}

describe('rotadb recover', () => {
  it('is listed in the help, with its own --help', () => {
    expect(rota(['--help']).stdout).toContain('  recover <file> [options]');
    const h = rota(['recover', '--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^Usage: rotadb recover <file> \[options\]/);
    expect(h.stdout).toContain('--apply');
  });

  it('a clean file: exit 0, nothing to recover, the file untouched (even with --apply)', () => {
    const file = path.join(tempDir(), 'clean.rdb');
    const db = open(file);
    for (let i = 0; i < 30; i++) db.putSync(i, `v${i}`);
    db.closeSync();
    const bytes = fs.readFileSync(file);
    for (const args of [['recover', file], ['recover', file, '--apply']]) {
      const r = rota(args);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^version \d+ is current and verifies: nothing to recover$/m);
    }
    expect(Buffer.compare(fs.readFileSync(file), bytes)).toBe(0);
  });

  it('a rollback: reported (exit 1, nothing written), then --apply (exit 0), then check is ok and the data is the older version', () => {
    const f = stalePageImage();
    const file = write(f.image, 'stale.rdb');
    const dry = rota(['recover', file]);
    expect(dry.status).toBe(1);
    expectOneErrorLine(dry, 'ROTA_CORRUPT');
    expect(dry.stderr).toContain(`--apply`);
    expect(dry.stdout).toMatch(new RegExp(`^slot \\d  version ${f.newest}  fails: page ${f.leaf}: holds a page of transaction`, 'm'));
    expect(dry.stdout).toContain(`version ${f.previousTxn} verifies; making it current discards version ${f.newest}`);
    expect(dry.stdout).toMatch(new RegExp(`^database\\s+entries\\s+in version ${f.newest}\\s+difference$`, 'm'));
    expect(dry.stdout).toMatch(/^\(main\)\s+8\s+8\s+0$/m);
    expect(dry.stdout).toContain('nothing was written');
    expect(Buffer.compare(fs.readFileSync(file), f.image)).toBe(0);
    const json = rota(['recover', file, '--json']);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'recoverable', recovered: f.previousTxn, newest: f.newest, applied: false });

    const applied = rota(['recover', file, '--apply']);
    expect(applied.status, applied.stderr).toBe(0);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(new RegExp(`^applied: version ${f.previousTxn} is current \\(cleared slot \\d; zeroed \\d+ pages? born after it\\)$`, 'm'));
    expect(rota(['check', file]).stdout).toBe('ok\n');
    expect(rota(['recover', file]).status).toBe(0);
    const db = open<Buffer>({ storage: MemoryStorage.from(fs.readFileSync(file)), ...optsOf(4) });
    try {
      expect(sameModel(contents(db), f.previous)).toBe(true);
      expect(db.env.current.txnId).toBe(f.previousTxn);
    } finally {
      db.closeSync();
    }
  });

  it('nothing to recover: exit 1 and one ROTA_CORRUPT line; --apply writes nothing', () => {
    const image = damagedEverywhereImage();
    const file = write(image, 'damaged.rdb');
    for (const args of [['recover', file], ['recover', file, '--apply']]) {
      const r = rota(args);
      expect(r.status).toBe(1);
      expectOneErrorLine(r, 'ROTA_CORRUPT');
      expect(r.stderr).toContain('no version');
      expect(r.stdout).toContain('no version verifies: nothing to recover');
    }
    expect(Buffer.compare(fs.readFileSync(file), image)).toBe(0);
  });

  it('a file open in another process: exit 2; a missing file and a non-database: exit 1', () => {
    const dir = tempDir();
    const file = path.join(dir, 'held.rdb');
    const db = track(open(file));
    db.putSync('a', 1);
    const held = rota(['recover', file, '--apply']);
    expect(held.status).toBe(2);
    expectOneErrorLine(held, 'ROTA_LOCKED');
    expect(held.stderr).toContain(`${file} is open in process ${process.pid}`);
    const missing = rota(['recover', path.join(dir, 'none.rdb')]);
    expect(missing.status).toBe(1);
    expectOneErrorLine(missing, 'ROTA_NOT_FOUND');
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'not a database\n'.repeat(300));
    const notDb = rota(['recover', text, '--apply']);
    expect(notDb.status).toBe(1);
    expectOneErrorLine(notDb, 'ROTA_NOT_A_DATABASE');
    expect(fs.readFileSync(text, 'utf8')).toBe('not a database\n'.repeat(300));
    expect(fs.existsSync(path.join(dir, 'none.rdb'))).toBe(false);
  });

  it('draws a progress bar on stderr only when it is a terminal', async () => {
    const file = write(stalePageImage().image, 'bar.rdb');
    for (const tty of [false, true]) {
      let stderr = '';
      const err = Object.assign(new PassThrough(), { isTTY: tty });
      err.on('data', (c) => { stderr += c; });
      const code = await main(['recover', file], { stdout: new PassThrough(), stderr: err, stdin: Readable.from([]) });
      await new Promise((r) => setImmediate(r));
      expect(code).toBe(1);
      const bar = stderr.split('\n')[0]!;
      if (tty) expect(bar).toMatch(/\rrecover \[#+-*\] +\d+%/);
      else expect(bar).toMatch(/^rotadb: /);
    }
  });
});
