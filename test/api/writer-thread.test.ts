/**
 * The writer thread (src/api/writer-thread.ts): once asynchronous writes queue up, batches are
 * applied and committed by a worker of their own. What it must keep: results and order, the
 * typed errors, closeSync finishing what the thread has, a process kept alive exactly while a
 * write is unsettled, and a thread that dies failing the database instead of losing writes.
 * (test/api/async-writes.test.ts runs the batching cases in both places.)
 */
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { open, type RootDatabase } from '../../src/index.js';
import { IF_EXISTS } from '../../src/api/versions.js';
import { WriteTimeoutError } from '../../src/errors.js';
import { codeOf, expectClean, openFile, openMem, syncCodeOf, tempPath } from '../helpers/db.js';

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** A file database whose batches go to its writer thread. */
async function threadDb(file = tempPath(), options: Parameters<typeof openFile>[1] = {}): Promise<RootDatabase> {
  const db = openFile(file, { writerThread: true, ...options });
  expect(await db.queue.writerThreadStarted()).toBe(true);
  return db;
}

/** The internals a test may look at: the thread's worker. */
const workerOf = (db: RootDatabase): { terminate(): Promise<number> } => (db.queue as any).thread.worker;

function child(file: string, body: string): { status: number | null; out: string; ms: number } {
  const src = `import { open } from ${JSON.stringify(dist)};\nconst file = ${JSON.stringify(file)};\n${body}`;
  const t0 = Date.now();
  // --expose-gc: a V8 option, which a worker refuses when it is passed on explicitly
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', src], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout + r.stderr, ms: Date.now() - t0 };
}

describe('the writer thread', () => {
  it('is started only once writes queue up behind unfinished ones, and then takes the batches', async () => {
    const db = openFile(tempPath(), { writerThread: true });
    await db.put('one', 1); // one write at a time: no thread
    expect((db.queue as any).thread.worker).toBeNull();
    const ps = [db.put('a', 1)];
    await new Promise((r) => setImmediate(r));
    ps.push(db.put('b', 2)); // issued while the first batch is unsettled
    expect((db.queue as any).thread.worker).not.toBeNull(); // started by that, not by the check below
    await Promise.all(ps);
    expect(await db.queue.writerThreadStarted()).toBe(true);
    const before = db.stats().txnId;
    await db.put('c', 3);
    expect(db.stats().txnId).toBe(before + 1);
    expect([db.get('one'), db.get('a'), db.get('b'), db.get('c')]).toEqual([1, 1, 2, 3]);
    expectClean(db);
  });

  it('applies puts, removes and conditional writes of several databases in the order issued', async () => {
    const db = await threadDb(tempPath(), { useVersions: true });
    const a = db.openDB('a', { useVersions: true });
    const b = db.openDB('b', { useVersions: true });
    db.putSync('k', 'root', 1);
    const results = await Promise.all([
      a.put('x', 'a1', 1), b.put('x', 'b1', 1), a.remove('x'), a.put('x', 'a2', 2),
      db.put('k', 'no', 9, 5), db.put('k', 'yes', 2, 1), b.put('x', 'b2', 2, IF_EXISTS), b.put('new', 'n', 1, null),
      b.remove('nope'), db.remove('k', 7),
    ]);
    expect(results).toEqual([true, true, true, true, false, true, true, true, false, false]);
    expect([a.get('x'), b.get('x'), db.get('k'), b.get('new')]).toEqual(['a2', 'b2', 'yes', 'n']);
    expect([a.getEntry('x')?.version, db.getEntry('k')?.version]).toEqual([2, 2]);
    expectClean(db);
  });

  it('rejects with the typed error the thread met (here: its root slot pinned past writeTimeoutMs)', async () => {
    const db = await threadDb(tempPath(), { writeTimeoutMs: 200, nRoots: 2 });
    const reader = db.beginRead(); // pins the slot of the current version
    db.putSync('k', 0); // the next writer needs the pinned slot
    const e = await db.put('k', 1).then(() => null, (x: unknown) => x);
    reader.end();
    expect(e).toBeInstanceOf(WriteTimeoutError);
    expect((e as WriteTimeoutError).code).toBe('ROTA_WRITE_TIMEOUT');
    expect((e as Error).message).toContain('pinned by 1 reader');
    await expect(db.put('k', 2)).resolves.toBe(true); // not failed: the next batch commits
    expect(db.get('k')).toBe(2);
    expectClean(db);
  });

  it('closeSync right after the puts: the thread finishes them, then the file is free to open again', async () => {
    const file = tempPath();
    const db = await threadDb(file, { encoding: 'json' });
    const puts: Promise<boolean>[] = [];
    for (let i = 0; i < 3000; i++) puts.push(db.put(`k${i}`, { i }));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r)); // the batch is posted (at the end of the turn after the puts')
    const late = db.put('late', 1); // not posted yet: rejected
    db.closeSync();
    expect(await codeOf(() => late)).toBe('ROTA_CLOSED');
    expect((await Promise.all(puts)).every((r) => r)).toBe(true);
    expect(fs.existsSync(`${file}-lock`)).toBe(false); // the thread was the last one out, and left
    const again = open(file, { encoding: 'json' });
    expect(again.get('k2999')).toEqual({ i: 2999 });
    expect(again.get('late')).toBeUndefined();
    expectClean(again);
    await again.close();
  });

  it('a thread that dies fails its writes and the database (writes refused until reopened); nothing is half-committed', async () => {
    const file = tempPath();
    const db = await threadDb(file);
    db.putSync('before', 1);
    const p = db.put('lost', 1);
    await workerOf(db).terminate();
    expect(await codeOf(() => p)).toBe('ROTA_FAILED');
    expect(syncCodeOf(() => db.putSync('x', 1))).toBe('ROTA_FAILED');
    expect(db.get('before')).toBe(1); // reads go on
    db.closeSync();
    const again = open(file, { nRoots: 4 });
    expect(again.get('before')).toBe(1);
    expectClean(again);
    await again.close();
  });

  it('with an on(\'beforecommit\') listener, batches run on this thread, where the listener sees them', async () => {
    const db = await threadDb();
    let seen = 0;
    const count = (): void => { seen++; };
    db.on('beforecommit', count);
    await Promise.all([db.put('a', 1), db.put('b', 2)]);
    expect(seen).toBe(1);
    expect(db.get('b')).toBe(2);
    db.off('beforecommit', count);
    const before = (db.queue as any).thread.posted;
    await Promise.all([db.put('c', 3), db.put('d', 4)]);
    expect((db.queue as any).thread.posted).toBe(before + 1); // once removed, batches go to the thread again
    expect(seen).toBe(1);
    expectClean(db);
  });

  it('a listener that comes while a batch waits to be posted moves that batch here, after the ones the thread has', async () => {
    const db = await threadDb();
    const first: Promise<boolean>[] = [];
    for (let i = 0; i < 2000; i++) first.push(db.put('k', i));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r)); // posted to the thread
    const late = db.put('k', 'late'); // a batch for the thread, not posted yet
    let seen = 0;
    db.on('beforecommit', () => { seen++; });
    await Promise.all([...first, late]);
    expect(db.get('k')).toBe('late');
    expect(seen).toBe(1); // the late batch ran here
    expectClean(db);
  });

  it('writerThread must be a boolean, and true needs a file path', () => {
    expect(syncCodeOf(() => openFile(tempPath(), { writerThread: 'yes' as unknown as boolean }))).toBe('ROTA_BAD_OPTION');
    expect(syncCodeOf(() => openMem({ writerThread: true }))).toBe('ROTA_BAD_OPTION');
    expect((openFile(tempPath()).queue as any).thread).toBeNull(); // off by default
    const db = openFile(tempPath(), { writerThread: false });
    expect((db.queue as any).thread).toBeNull();
  });
});

describe('the writer thread and the life of the process', () => {
  it('keeps the process alive until writes nobody awaits are durable, then lets it exit', () => {
    const file = tempPath();
    const r = child(file, `
      const db = open(file, { encoding: 'json', writerThread: true });
      for (let t = 0; t < 20; t++) {
        for (let i = 0; i < 500; i++) db.put('k' + (t * 500 + i), t);
        await new Promise((r) => setImmediate(r));
      }
      // the last batches are still unsettled when the script ends; no close, nothing awaited`);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
    const db = openFile(file, { encoding: 'json' });
    expect(db.get('k9999')).toBe(19);
    expect(db.stats().entries).toBe(10_000);
    expectClean(db);
  });

  it('starts in a process run with node options (-e, --input-type, a V8 flag), and does not keep it alive once idle', () => {
    const file = tempPath();
    const r = child(file, `
      const db = open(file, { writerThread: true });
      const ps = [];
      for (let t = 0; t < 5; t++) {
        ps.push(db.put('k' + t, t));
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(ps);
      const keep = setInterval(() => {}, 1000); // the thread's start alone does not keep the process alive
      const started = await db.queue.writerThreadStarted();
      clearInterval(keep);
      await Promise.all([db.put('a', 1), db.put('b', 2)]); // in the thread
      console.log('started', started, 'settled', db.get('b'));`);
    expect(r.out).toBe('started true settled 2\n');
    expect(r.status).toBe(0);
    expect(r.ms).toBeLessThan(20_000);
    expectClean(openFile(file));
  });
});
