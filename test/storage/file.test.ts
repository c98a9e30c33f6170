import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotADatabaseError, StorageError } from '../../src/errors.js';
import { FileStorage } from '../../src/storage/file.js';
import { thrown } from '../helpers/thrown.js';

let dir: string;
const opened: FileStorage[] = [];

function openTracked(p: string, create: boolean): FileStorage {
  const s = FileStorage.open(p, { create });
  opened.push(s);
  return s;
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-file-'));
});

afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('FileStorage I/O', () => {
  it('creates an empty file and round-trips writes at odd positions', () => {
    const p = path.join(dir, 'a.db');
    const s = openTracked(p, true);
    expect(s.path).toBe(p);
    expect(s.size()).toBe(0);

    const a = bytes(13, 1);
    const b = bytes(7, 2);
    s.write(a, 1001);
    s.write(b, 3);
    expect(s.size()).toBe(1014);

    const outA = new Uint8Array(13);
    expect(s.read(outA, 1001)).toBe(13);
    expect(outA).toEqual(a);
    const outB = new Uint8Array(7);
    expect(s.read(outB, 3)).toBe(7);
    expect(outB).toEqual(b);

    // The hole between the two writes reads as zeros.
    const gap = new Uint8Array(1001 - 10);
    expect(s.read(gap, 10)).toBe(gap.length);
    expect(gap.every((x) => x === 0)).toBe(true);
  });

  it('round-trips a multi-megabyte buffer', () => {
    const s = openTracked(path.join(dir, 'big.db'), true);
    const data = bytes(3 * 1024 * 1024 + 17, 9);
    s.write(data, 4095);
    const out = new Uint8Array(data.length);
    expect(s.read(out, 4095)).toBe(data.length);
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
  });

  it('returns short counts at end of file', () => {
    const s = openTracked(path.join(dir, 'eof.db'), true);
    s.write(bytes(100, 3), 0);
    const out = new Uint8Array(64).fill(0xee);
    expect(s.read(out, 80)).toBe(20);
    expect(out.subarray(0, 20)).toEqual(bytes(100, 3).subarray(80));
    expect(out[20]).toBe(0xee); // bytes past the count are untouched
    expect(s.read(out, 100)).toBe(0);
    expect(s.read(out, 5000)).toBe(0);
  });

  it('truncate shrinks, and extends with zeros', () => {
    const s = openTracked(path.join(dir, 't.db'), true);
    s.write(new Uint8Array(50).fill(0xff), 0);
    s.truncate(5);
    expect(s.size()).toBe(5);
    s.truncate(40);
    expect(s.size()).toBe(40);
    const out = new Uint8Array(40);
    expect(s.read(out, 0)).toBe(40);
    expect(out.subarray(0, 5).every((x) => x === 0xff)).toBe(true);
    expect(out.subarray(5).every((x) => x === 0)).toBe(true);
  });

  it('sync persists data that a reopen sees; create does not truncate an existing file', () => {
    const p = path.join(dir, 'persist.db');
    const s = FileStorage.open(p, { create: true });
    s.write(bytes(300, 4), 0);
    s.sync();
    s.close();

    const again = openTracked(p, true);
    expect(again.size()).toBe(300);
    const out = new Uint8Array(300);
    again.read(out, 0);
    expect(out).toEqual(bytes(300, 4));
    expect(fs.readFileSync(p).equals(Buffer.from(bytes(300, 4)))).toBe(true);
  });

  it('close is idempotent and later calls throw StorageError', () => {
    const s = FileStorage.open(path.join(dir, 'c.db'), { create: true });
    s.close();
    s.close();
    const calls: Array<() => unknown> = [
      () => s.read(new Uint8Array(1), 0),
      () => s.write(new Uint8Array(1), 0),
      () => s.sync(),
      () => s.size(),
      () => s.truncate(0),
    ];
    for (const call of calls) {
      const err = thrown(call);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe('ROTA_IO');
      expect((err as StorageError).message).toContain('closed');
    }
  });
});

describe('FileStorage asynchronous calls', () => {
  it('writeAsync, writevAsync and syncAsync write what the synchronous calls would, and close waits for them', async () => {
    const s = openTracked(path.join(dir, 'async.bin'), true);
    const a = bytes(1000, 1);
    const parts = [bytes(4096, 2), bytes(4096, 3), bytes(100, 4)];
    const pending = [s.writeAsync(a, 10), s.writevAsync(parts, 5000), s.syncAsync()];
    s.close(); // the descriptor stays open until the calls end
    await Promise.all(pending);
    const back = fs.readFileSync(path.join(dir, 'async.bin'));
    expect(Buffer.compare(back.subarray(10, 1010), Buffer.from(a))).toBe(0);
    expect(Buffer.compare(back.subarray(5000, 5000 + 8292), Buffer.concat(parts))).toBe(0);
  });
});

describe('FileStorage errors', () => {
  it('a missing file without create is NotADatabaseError and is not created', () => {
    const p = path.join(dir, 'missing.db');
    const err = thrown(() => FileStorage.open(p, { create: false }));
    expect(err).toBeInstanceOf(NotADatabaseError);
    expect((err as NotADatabaseError).code).toBe('ROTA_NOT_A_DATABASE');
    expect((err as Error).message).toContain(p);
    expect((err as Error).message).toContain('does not exist');
    expect(fs.existsSync(p)).toBe(false);
  });

  it.each([false, true])('a directory is NotADatabaseError (create: %s)', (create) => {
    const err = thrown(() => FileStorage.open(dir, { create }));
    expect(err).toBeInstanceOf(NotADatabaseError);
    expect((err as NotADatabaseError).code).toBe('ROTA_NOT_A_DATABASE');
    expect((err as Error).message).toContain(dir);
  });

  it('a missing parent directory with create is StorageError carrying the OS error', () => {
    const p = path.join(dir, 'no-such-dir', 'x.db');
    const err = thrown(() => FileStorage.open(p, { create: true }));
    expect(err).toBeInstanceOf(StorageError);
    const se = err as StorageError;
    expect(se.code).toBe('ROTA_IO');
    expect(se.syscallCode).toBe('ENOENT');
    expect((se.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(se.message).toContain(p);
    expect(se.message).toContain('create');
  });

  it('a path through a regular file is StorageError (ENOTDIR)', () => {
    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, 'x');
    const err = thrown(() => FileStorage.open(path.join(file, 'x.db'), { create: false }));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).syscallCode).toBe('ENOTDIR');
  });

  const isRoot = process.getuid?.() === 0;
  // root bypasses permission bits, so a mode-0 file opens fine; the ENOSPC test below
  // covers the OS-error mapping on the I/O path for that case.
  it.skipIf(isRoot)('a file without permissions is StorageError (EACCES)', () => {
    const p = path.join(dir, 'locked.db');
    fs.writeFileSync(p, 'x', { mode: 0o000 });
    fs.chmodSync(p, 0o000);
    const err = thrown(() => FileStorage.open(p, { create: false }));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).syscallCode).toBe('EACCES');
    expect((err as Error).message).toContain(p);
  });

  // /dev/full accepts opens but fails every write with ENOSPC, whoever the user is.
  it.skipIf(!fs.existsSync('/dev/full'))('a write failing in the OS is StorageError naming the operation', () => {
    const s = openTracked('/dev/full', false);
    const err = thrown(() => s.write(new Uint8Array(16), 0));
    expect(err).toBeInstanceOf(StorageError);
    const se = err as StorageError;
    expect(se.syscallCode).toBe('ENOSPC');
    expect((se.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(se.message).toContain('write');
    expect(se.message).toContain('/dev/full');
  });
});
