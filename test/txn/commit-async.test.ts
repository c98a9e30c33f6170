/**
 * The asynchronous commit (src/txn/commit.ts, commitAsync): put(), remove() and transaction()
 * make their writes and fdatasync through Storage.writeAsync/syncAsync, so the event loop runs
 * while a commit is being made durable; the version becomes visible only once it is durable;
 * a synchronous writer of the same thread finishes a commit in flight; a failure rejects.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { FileStorage } from '../../src/storage/file.js';
import { expectClean, tempPath } from '../helpers/db.js';

/** A memory image whose asynchronous fdatasync waits until the test lets it go (or fails it). */
class GatedStorage extends MemoryStorage {
  asyncSyncs = 0;
  syncs = 0;
  private gates: Array<{ go: () => void; fail: (e: Error) => void }> = [];

  override sync(): void {
    this.syncs++;
    super.sync();
  }

  async writeAsync(buf: Uint8Array, position: number): Promise<void> {
    this.write(buf, position);
  }

  syncAsync(): Promise<void> {
    this.asyncSyncs++;
    return new Promise((resolve, reject) => {
      this.gates.push({ go: () => { super.sync(); resolve(); }, fail: reject });
    });
  }

  /** Stays readable after close, so the test can look at what reached the disk. */
  override close(): void {}

  get waiting(): number {
    return this.gates.length;
  }

  release(): void {
    this.gates.shift()!.go();
  }

  failNext(e: Error): void {
    this.gates.shift()!.fail(e);
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await turn();
  expect(cond()).toBe(true);
}

describe('asynchronous commit', () => {
  it('the event loop runs while a commit is made durable, its version is visible only then, and writes issued meanwhile form the next commit', async () => {
    const storage = new GatedStorage();
    const db = open({ storage, encoding: 'json' });
    db.putSync('a', 0);
    const first = db.put('a', 1);
    await until(() => storage.waiting === 1); // commit 2 is waiting for its fdatasync
    expect(db.get('a')).toBe(0); // not durable, not visible
    const txnBefore = db.stats().txnId;
    const more = [db.put('b', 1), db.put('c', 1), db.remove('a')];
    await turn();
    await turn();
    expect(storage.waiting).toBe(1); // they wait for the commit in flight, in a batch of their own
    storage.release();
    expect(await first).toBe(true);
    expect(db.get('a')).toBe(1);
    await until(() => storage.waiting === 1);
    storage.release();
    expect(await Promise.all(more)).toEqual([true, true, true]);
    expect(db.stats().txnId).toBe(txnBefore + 2); // two commits for four puts: the group commit
    expect(db.get('a')).toBeUndefined();
    expectClean(db);
    await db.close();
  });

  it('a synchronous write of the same thread finishes the commit in flight first, in order', async () => {
    const storage = new GatedStorage();
    const db = open({ storage, encoding: 'json' });
    const p = db.put('k', 'async');
    await until(() => storage.waiting === 1);
    const syncs = storage.syncs;
    db.putSync('k2', db.get('k') ?? 'not yet'); // finishes the in-flight commit synchronously
    expect(storage.syncs).toBeGreaterThan(syncs);
    expect(db.get('k')).toBe('async');
    expect(db.get('k2')).toBe('not yet'); // the read before putSync saw the durable version only
    storage.release(); // the async fdatasync finishes late: nothing more happens
    expect(await p).toBe(true);
    expect(db.get('k')).toBe('async');
    expectClean(db);
    await db.close();
  });

  it('a failed asynchronous fdatasync rejects with ROTA_FAILED and keeps the previous version', async () => {
    const storage = new GatedStorage();
    const db = open({ storage, encoding: 'json' });
    db.putSync('k', 'old');
    const p = db.put('k', 'new');
    await until(() => storage.waiting === 1);
    storage.failNext(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await expect(p).rejects.toMatchObject({ code: 'ROTA_FAILED' });
    expect(db.get('k')).toBe('old');
    expect(() => db.putSync('x', 1)).toThrow(expect.objectContaining({ code: 'ROTA_FAILED' }));
    db.closeSync();
  });

  it('closeSync with a commit in flight finishes it; the promise resolves and the write is durable', async () => {
    const storage = new GatedStorage();
    const db = open({ storage, encoding: 'json' });
    const p = db.put('k', 'v');
    await until(() => storage.waiting === 1);
    db.closeSync();
    storage.release();
    expect(await p).toBe(true);
    const again = open({ storage: MemoryStorage.from(storage.snapshot()), encoding: 'json' });
    expect(again.get('k')).toBe('v');
    again.closeSync();
  });

  it('on a file: puts commit off the event loop, and closeSync right after keeps the descriptor until the writes end', async () => {
    const file = tempPath();
    const db = open(file, { encoding: 'json' }); // batches on this thread (test/api/writer-thread.test.ts: in the writer thread)
    const puts: Promise<boolean>[] = [];
    for (let i = 0; i < 2000; i++) puts.push(db.put(`k${i}`, { i }));
    await puts[0];
    const late = db.put('last', 1);
    await until(() => db.env.inFlight !== null); // its writes are on the thread pool
    db.closeSync();
    expect(await late).toBe(true);
    await Promise.all(puts);
    const again = open(file, { encoding: 'json' });
    expect(again.get('k1999')).toEqual({ i: 1999 });
    expect(again.get('last')).toBe(1);
    expectClean(again);
    await again.close();
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
    expect(typeof FileStorage.prototype.syncAsync).toBe('function');
  });
});

describe('a batch applied across event-loop turns', () => {
  it('a large batch yields to the event loop while it applies, and a synchronous write of the thread meanwhile finishes it first', async () => {
    const storage = new GatedStorage();
    const db = open({ storage, encoding: 'json' });
    const puts: Promise<boolean>[] = [];
    for (let i = 0; i < 60_000; i++) puts.push(db.put(`k${i}`, { i, pad: 'x'.repeat(40) }));
    let turns = 0;
    await until(() => db.env.background !== null); // the batch is being applied, in slices
    while (db.env.background !== null && turns < 2) { await turn(); turns++; }
    expect(db.get('k0')).toBeUndefined(); // not committed yet: not visible
    db.putSync('after', db.get('k59999') ?? 'absent'); // finishes the batch (applied and committed) first
    expect(db.get('k59999')).toEqual({ i: 59999, pad: 'x'.repeat(40) });
    expect(db.get('after')).toBe('absent');
    expect((await Promise.all(puts)).every((r) => r)).toBe(true);
    expectClean(db);
    await db.close();
  });
});

describe('an asynchronous commit stamped in slices', () => {
  it('a synchronous write while its pages are still being stamped finishes it: every page is stamped and the commit verifies', async () => {
    const storage = new GatedStorage();
    const db = open({ storage, encoding: 'json' });
    const puts: Promise<boolean>[] = [];
    for (let i = 0; i < 40_000; i++) puts.push(db.put(`k${i}`, { i, pad: 'y'.repeat(60) }));
    await until(() => db.env.inFlight !== null && db.env.inFlight.unstamped.length > 0);
    db.putSync('after', 1); // stamps the rest, writes, fdatasyncs and publishes the batch first
    expect((await Promise.all(puts)).every((r) => r)).toBe(true);
    expect(db.get('k39999')).toEqual({ i: 39999, pad: 'y'.repeat(60) });
    expectClean(db);
    // reopened from what was written, the one-fsync commits verify (their digests match)
    const again = open({ storage: MemoryStorage.from(storage.snapshot()), encoding: 'json' });
    expect(again.stats().txnId).toBe(db.stats().txnId);
    expect(again.get('after')).toBe(1);
    again.closeSync();
    await db.close();
  });
});
