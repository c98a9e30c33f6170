/**
 * The writer protocol's asynchronous path (src/sync/writer.ts): a waiting put keeps its thread
 * alive until it settles, it settles within writeTimeoutMs, and its wait is counted once.
 * Scenarios that need a thread with nothing else pending run in a child process or a worker,
 * on the built module (dist/, built by test/global-setup.ts).
 */
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectClean, openFile, openMem, sleep, tempPath } from '../helpers/db.js';

const rejection = (p: Promise<unknown>): Promise<unknown> => p.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e);

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** Runs `body` (an ES module text, with `open` and `file` in scope) in a fresh node process. */
function child(file: string, body: string): { status: number | null; out: string } {
  const src = `import { open } from ${JSON.stringify(dist)};\nconst file = ${JSON.stringify(file)};\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('an awaited write that has to wait', () => {
  it('keeps a worker alive while the main thread holds the writer lock, then commits', async () => {
    const file = tempPath();
    const db = openFile(file, { encoding: 'json' });
    const w = db.beginWrite(); // the worker's put must wait for this
    const script = `
      const { workerData } = await import('node:worker_threads');
      const { open } = await import(${JSON.stringify(dist)});
      const db = open(workerData.handle, { encoding: 'json' });
      await db.put('x', 2); // nothing else is pending in this thread
      db.closeSync();`;
    const worker = new Worker(script, { eval: true, workerData: { handle: db.handle() } });
    const tid = worker.threadId;
    const exit = new Promise<number>((resolve) => worker.on('exit', resolve));
    await sleep(500);
    w.put('y', 1);
    w.commit();
    expect(await exit).toBe(0); // before the fix: exit code 13, and x was never written
    db.releaseThread(tid);
    expect(db.get('x')).toBe(2);
    expect(db.get('y')).toBe(1);
    expectClean(db);
  });

  it('in a process with nothing else pending, a put waiting for a pinned slot settles: written once the reader ends', () => {
    const r = child(tempPath(), `
      const db = open(file, { nRoots: 2, encoding: 'json' });
      const reader = db.beginRead();              // pins the slot of version 0
      db.putSync('a', 1);                         // version 1: the next writer needs slot 0
      setTimeout(() => reader.end(), 300);        // the only other thing pending, and it ends first
      await db.put('b', 2);
      console.log('put resolved', db.get('b'));
      await db.close();`);
    expect(r.out).toContain('put resolved 2');
    expect(r.status).toBe(0);
  });

  it('in a process with nothing else pending, a put waiting on a terminated worker\'s pin rejects at writeTimeoutMs instead of vanishing', () => {
    const r = child(tempPath(), `
      const { Worker } = await import('node:worker_threads');
      const db = open(file, { nRoots: 2, encoding: 'json', writeTimeoutMs: 400 });
      const w = new Worker(\`
        const { workerData, parentPort } = await import('node:worker_threads');
        const { open } = await import(\${JSON.stringify(${JSON.stringify(dist)})});
        const db = open(workerData.handle);
        db.beginRead();                              // pinned, never ended
        parentPort.postMessage('pinned');
        setInterval(() => {}, 1000);\`, { eval: true, workerData: { handle: db.handle() } });
      await new Promise((r) => w.once('message', r));
      await w.terminate();                         // its pin stays (no releaseThread)
      db.putSync('a', 1);
      try {
        await db.put('b', 2);
        console.log('resolved');
      } catch (e) {
        console.log('rejected', e.code, /pinned by 1 reader/.test(e.message));
      }
      db.closeSync();`);
    expect(r.out).toContain('rejected ROTA_WRITE_TIMEOUT true'); // before the fix: exit 13, no output
    expect(r.status).toBe(0);
  });
});

describe('the bound on the asynchronous path', () => {
  it('a put that waits for this thread\'s own reader rejects after writeTimeoutMs, naming it', async () => {
    const db = openMem({ nRoots: 2, writeTimeoutMs: 200 });
    const reader = db.beginRead();
    db.putSync('a', 1);
    const started = Date.now();
    const err = await rejection(db.put('b', 2));
    expect((err as { code?: string }).code).toBe('ROTA_WRITE_TIMEOUT');
    expect((err as Error).message).toMatch(/on version 0 for \d+ ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    reader.end();
    expect(await db.put('b', 3)).toBe(true); // nothing was left half-done
    expect(db.get('b')).toBe(3);
    expectClean(db);
  });

  it('a put that waits for the writer lock held by another thread rejects after writeTimeoutMs', async () => {
    const db = openFile(tempPath(), { writeTimeoutMs: 150 });
    const script = `
      const { workerData, parentPort } = await import('node:worker_threads');
      const { open } = await import(${JSON.stringify(dist)});
      const db = open(workerData.handle);
      const w = db.beginWrite();
      parentPort.postMessage('holding');
      await new Promise((r) => parentPort.once('message', r));
      w.abort();
      db.closeSync();`;
    const worker = new Worker(script, { eval: true, workerData: { handle: db.handle() } });
    const exit = new Promise<number>((resolve) => worker.on('exit', resolve));
    await new Promise((r) => worker.once('message', r));
    const err = await rejection(db.put('b', 2));
    expect((err as { code?: string }).code).toBe('ROTA_WRITE_TIMEOUT');
    expect((err as Error).message).toMatch(/writer lock held by thread \d+/);
    worker.postMessage('done');
    expect(await exit).toBe(0);
    expect(await db.put('b', 3)).toBe(true);
    expectClean(db);
  });
});

describe('writerWaitedMs', () => {
  it('counts an asynchronous wait once', async () => {
    const db = openMem({ nRoots: 2 });
    const reader = db.beginRead();
    db.putSync('a', 1); // the next writer needs the reader's slot
    const slot = 0;
    const before = db.stats().slots[slot]!.writerWaitedMs;
    const put = db.put('b', 2);
    await sleep(300);
    reader.end();
    await put;
    const waited = db.stats().slots[slot]!.writerWaitedMs - before;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(550); // twice the wait (the old double count) would be at least 600
    expectClean(db);
  });
});
