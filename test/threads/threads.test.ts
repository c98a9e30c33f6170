/**
 * Readers and writers in worker threads sharing one file through db.handle(): snapshot isolation
 * across threads (bank transfers), the root-slot blocking rule across threads, reader expiry,
 * and workers that die holding readers. dist/ is built by test/global-setup.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type RootDatabase } from '../../src/index.js';

// Every cache hit in every thread is checked against the disk (see Pager.verifyHits): a stale
// entry fails loudly instead of maybe returning old data. Workers inherit the environment.
process.env.ROTADB_VERIFY_CACHE = '1';

const script = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const dirs: string[] = [];
const workers: Worker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.terminate();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-threads-'));
  dirs.push(d);
  return path.join(d, 'db.rdb');
}

function spawn(db: RootDatabase, scenario: string, args: Record<string, unknown> = {}): { w: Worker; next: () => Promise<any>; exited: Promise<number> } {
  const w = new Worker(script, { workerData: { handle: db.handle(), scenario, args } });
  workers.push(w);
  const queue: unknown[] = [];
  const waiting: ((m: unknown) => void)[] = [];
  const failures: ((e: unknown) => void)[] = [];
  let failed: unknown;
  w.on('message', (m) => (waiting.length ? waiting.shift()!(m) : queue.push(m)));
  w.on('error', (e) => {
    failed = e; // a worker that dies early fails the next next(), not a timeout
    failures.splice(0).forEach((f) => f(e));
  });
  const exited = new Promise<number>((r) => w.on('exit', r));
  return {
    w,
    exited,
    next: () => new Promise((resolve, reject) => {
      if (queue.length) return resolve(queue.shift());
      if (failed !== undefined) return reject(failed);
      waiting.push(resolve);
      failures.push(reject);
    }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('worker threads', () => {
  it('opening the same file in a worker without the handle fails and says what to do', async () => {
    const file = tempFile();
    const db = open(file);
    const w = new Worker(`import('${pathToImport('../../dist/index.js')}').then(({ open }) => { try { open(${JSON.stringify(file)}); } catch (e) { require('node:worker_threads').parentPort.postMessage([e.code, e.message]); } })`, { eval: true });
    workers.push(w);
    const [code, message] = await new Promise<[string, string]>((r) => w.once('message', r));
    expect(code).toBe('ROTA_ALREADY_OPEN');
    expect(message).toMatch(/handle/);
    await db.close();
  });

  for (const slotPolicy of ['rotate', 'oldest-unpinned'] as const) it(`bank transfers (slotPolicy '${slotPolicy}'): every snapshot in every thread sees the same total`, async () => {
    const file = tempFile();
    const accounts = 50;
    const db = open(file, { encoding: 'json', nRoots: 4, noSync: true, slotPolicy });
    db.transactionSync(() => { for (let i = 0; i < accounts; i++) db.putSync(['acct', i], 1000); });
    const total = accounts * 1000;
    const stop = new SharedArrayBuffer(4);
    const args = { accounts, total, stop };
    const writers = [1, 2].map((seed) => spawn(db, 'bankWriter', { ...args, seed }));
    const readers = [1, 2].map(() => spawn(db, 'bankReader', args));
    // the main thread reads and writes too
    let mainSnapshots = 0;
    let mainWrong = 0;
    const until = Date.now() + 2500;
    let dead: unknown;
    for (const x of [...writers, ...readers]) x.w.once('error', (e) => (dead = e));
    while (Date.now() < until && dead === undefined) {
      await db.transaction(() => {
        const a = mainSnapshots % accounts;
        const b = (a + 7) % accounts;
        db.putSync(['acct', a], db.get(['acct', a]) - 3);
        db.putSync(['acct', b], db.get(['acct', b]) + 3);
      });
      let sum = 0;
      for (const { value } of db.getRange({ start: ['acct'], end: ['acct', Infinity] })) sum += value as number;
      if (sum !== total) mainWrong++;
      mainSnapshots++;
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const w = await Promise.all(writers.map((x) => x.next()));
    const r = await Promise.all(readers.map((x) => x.next()));
    const snapshots = r.reduce((a, x) => a + x.snapshots, 0) + mainSnapshots;
    console.log(`[threads] bank (${slotPolicy}): ${w.map((x) => x.commits).join('+')} worker commits, ${snapshots} snapshots (${r.map((x) => x.versions).join('+')} distinct versions seen by worker readers)`);
    expect(r.map((x) => x.wrong)).toEqual([0, 0]);
    expect(mainWrong).toBe(0);
    expect(snapshots).toBeGreaterThan(1000);
    expect(w.every((x) => x.commits > 0)).toBe(true);
    let sum = 0;
    for (const { value } of db.getRange()) sum += value as number;
    expect(sum).toBe(total);
    expect(db.check().problems).toEqual([]);
    await Promise.all([...writers, ...readers].map((x) => x.exited));
    await db.close();
  }, 30_000);

  for (const nRoots of [1, 2, 4, 8]) {
    it(`nRoots ${nRoots}: a reader in a worker on version v lets writers v+1..v+${nRoots - 1} commit and blocks writer v+${nRoots}`, async () => {
      const file = tempFile();
      const db = open(file, { encoding: 'json', nRoots, writeTimeoutMs: 300 });
      db.putSync('x', 0);
      const t = spawn(db, 'pin');
      const { pinned, value } = await t.next();
      expect(value).toBe(0);
      for (let i = 1; i < nRoots; i++) {
        db.putSync('x', i);
        expect(db.stats().txnId).toBe(pinned + i);
      }
      // sync: waits writeTimeoutMs, then names the reader
      const t0 = Date.now();
      let err: any;
      try { db.putSync('x', 'late'); } catch (e) { err = e; }
      expect(err?.code).toBe('ROTA_WRITE_TIMEOUT');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(err.message).toContain(`thread ${t.w.threadId} on version ${pinned}`);
      // async: waits until the worker's reader ends
      let done = false;
      const p = db.put('x', 'after').then(() => (done = true));
      await sleep(100);
      expect(done).toBe(false);
      expect(db.stats().slots[pinned % nRoots]!.writerWaiting).toBe(true);
      t.w.postMessage('end');
      const ended = await t.next();
      expect(ended.value).toBe(0); // the worker's snapshot never moved
      await p;
      expect(db.get('x')).toBe('after');
      expect(db.stats().txnId).toBe(pinned + nRoots);
      expect(db.stats().slots[pinned % nRoots]!.writerWaitedMs).toBeGreaterThanOrEqual(50);
      expect(db.check().problems).toEqual([]);
      await db.close();
    }, 20_000);
  }

  it('a reader that sleeps past maxReaderAgeMs is expired: its next read throws, never a wrong value', async () => {
    const file = tempFile();
    const db = open(file, { encoding: 'json', nRoots: 2, maxReaderAgeMs: 100 });
    db.putSync('x', 'v0');
    const t = spawn(db, 'sleepyReader', { sleepMs: 600 });
    const { pinned } = await t.next();
    // two commits: the second needs the sleeper's slot and expires it after 100 ms
    const t0 = Date.now();
    for (let i = 1; i <= 6; i++) await db.put('x', `v${i}`);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(waited).toBeLessThan(550); // did not wait for the sleeper to wake up
    const out = await t.next();
    expect(out).toMatchObject({ before: 'v0', pinned, error: 'ROTA_READER_EXPIRED', rangeError: 'ROTA_READER_EXPIRED' });
    expect(db.get('x')).toBe('v6');
    expect(db.check().problems).toEqual([]);
    await t.exited;
    await db.close();
  }, 20_000);

  it('a terminated worker that held a read transaction blocks writers no longer than maxReaderAgeMs', async () => {
    const file = tempFile();
    const db = open(file, { encoding: 'json', nRoots: 2, maxReaderAgeMs: 150 });
    db.putSync('x', 0);
    const t = spawn(db, 'holdForever');
    await t.next();
    const tid = t.w.threadId; // -1 once the worker has exited
    await t.w.terminate();
    const t0 = Date.now();
    for (let i = 1; i <= 4; i++) await db.put('x', i);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(db.get('x')).toBe(4);
    db.releaseThread(tid); // what a Worker 'exit' handler does; lets the lock file go at close
    expect(db.readers().filter((r) => r.threadId === tid)).toEqual([]);
    await db.close();
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
  }, 20_000);

  it('releaseThread() frees what a terminated worker pinned, at once', async () => {
    const file = tempFile();
    const db = open(file, { encoding: 'json', nRoots: 2, writeTimeoutMs: 300 });
    db.putSync('x', 0);
    const t = spawn(db, 'holdForever');
    const { pinned } = await t.next();
    db.putSync('x', 1);
    const tid = t.w.threadId;
    await t.w.terminate();
    expect(() => db.putSync('x', 2)).toThrow(expect.objectContaining({ code: 'ROTA_WRITE_TIMEOUT' }));
    expect(db.readers().some((r) => r.txnId === pinned)).toBe(true);
    db.releaseThread(tid);
    db.putSync('x', 2);
    expect(db.get('x')).toBe(2);
    expect(db.check().problems).toEqual([]);
    await db.close();
  }, 20_000);

  it('a worker terminated in the middle of gets does not block writers beyond maxReaderAgeMs', async () => {
    const file = tempFile();
    const db = open(file, { encoding: 'json', nRoots: 1, maxReaderAgeMs: 100, writeTimeoutMs: 5000 });
    db.putSync('x', 0);
    const t = spawn(db, 'getLoop');
    await t.next();
    await sleep(20);
    const tid = t.w.threadId;
    await t.w.terminate();
    const t0 = Date.now();
    db.putSync('x', 1); // serial mode: a pin left by the killed get would block every writer
    db.putSync('x', 2);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(db.get('x')).toBe(2);
    db.releaseThread(tid);
    await db.close();
  }, 20_000);
});

function pathToImport(rel: string): string {
  return new URL(rel, import.meta.url).href;
}
