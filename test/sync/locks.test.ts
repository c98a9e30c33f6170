/**
 * LockTable, mostly in one thread: the writer mutex, the published version, pins and their
 * release/expiry race on the entry state (a pin is dropped exactly once), the reader table, the
 * reuse log ring, and the small flags. One test joins the table from a real worker thread.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Worker, threadId } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { KIND_THREAD, KIND_TXN, LockTable, MAX_THREADS, fullTxn } from '../../src/sync/locks.js';

const shape = { nRoots: 4, maxReaders: 3 };
const LOG = 1 << 16; // entries the reuse log holds
const table = () => new LockTable(shape);

/** A transaction entry pinned on the published version; returns the entry and its slot. */
function pinned(t: LockTable, now = 0): { r: number; slot: number } {
  const r = t.claim(KIND_TXN, now);
  const slot = t.tryPin(r);
  expect(slot).toBeGreaterThanOrEqual(0);
  return { r, slot };
}

describe('construction', () => {
  it('a second table on the same buffer sees the same words; a buffer of another shape is refused', () => {
    const a = table();
    const b = new LockTable(shape, a.sab);
    a.publish(9, 1);
    expect([b.publishedSeq(), b.publishedSlot()]).toEqual([9, 1]);
    expect(() => new LockTable({ nRoots: 5, maxReaders: 3 }, a.sab)).toThrow(/does not match/);
    expect(() => new LockTable({ nRoots: 4, maxReaders: 4 }, a.sab)).toThrow(/does not match/);
  });
});

describe('writer mutex', () => {
  it('one owner at a time, named by thread id; unlock frees it', () => {
    const t = table();
    expect(t.writerOwner()).toBe(-1);
    expect(t.tryLockWriter()).toBe(true);
    expect(t.writerOwner()).toBe(threadId);
    expect(t.tryLockWriter()).toBe(false); // not reentrant: the caller detects its own ownership
    t.unlockWriter();
    expect(t.writerOwner()).toBe(-1);
    expect(t.tryLockWriter()).toBe(true);
  });
});

describe('published version', () => {
  it('publish sets the sequence, the slot and that slot\'s version (low 32 bits)', () => {
    const t = table();
    t.publish(7, 3);
    expect([t.publishedSeq(), t.publishedSlot(), t.slotVersionLow(3)]).toEqual([7, 3, 7]);
    const big = 2 ** 40 + 2 ** 31 + 5;
    t.publish(big, 1);
    expect(t.slotVersionLow(3)).toBe(7); // other slots keep theirs
    expect(fullTxn(big, t.publishedSeq())).toBe(big);
    expect(fullTxn(big, t.slotVersionLow(3))).toBe(2 ** 40 + 7);
    expect(fullTxn(big + 10, t.slotVersionLow(1))).toBe(big);
  });

  it('fullTxn is the id at or below cur with the given low 32 bits', () => {
    expect(fullTxn(100, 100)).toBe(100);
    expect(fullTxn(100, 98)).toBe(98);
    expect(fullTxn(2 ** 32 + 3, 0xffffffff | 0)).toBe(2 ** 32 - 1); // across a wrap, signed or not
    expect(fullTxn(2 ** 32 + 3, 0xffffffff)).toBe(2 ** 32 - 1);
    expect(fullTxn(5, 6)).toBe(5 - 2 ** 32 + 1); // "within 2^32 below": never above cur
  });
});

describe('pins', () => {
  it('tryPin pins the published slot; release drops it once and reports false the second time', () => {
    const t = table();
    t.publish(5, 2);
    const { r, slot } = pinned(t);
    expect(slot).toBe(2);
    expect(t.readers(2)).toBe(1);
    expect(t.list()).toMatchObject([{ threadId, slot: 2, kind: 'transaction', state: 'active' }]);
    expect(t.release(r)).toBe(true);
    expect(t.readers(2)).toBe(0);
    expect(t.release(r)).toBe(false);
    expect(t.readers(2)).toBe(0);
    expect(t.list()).toEqual([]);
  });

  it('a slot held exclusively refuses the pin with -2 - slot and leaves no count behind', () => {
    const t = table();
    t.publish(1, 1);
    const r = t.claim(KIND_TXN, 0);
    t.holdSlot(1);
    expect(t.tryPin(r)).toBe(-3);
    expect(t.readers(1)).toBe(0);
    expect(t.list()).toEqual([]);
    t.releaseSlot(1);
    expect(t.tryPin(r)).toBe(1);
    expect(t.readers(1)).toBe(1);
  });

  it('expire drops old transaction pins on its slot once; the reader learns it; release then reports false', () => {
    const t = table();
    t.publish(3, 3);
    const { r } = pinned(t, 1000);
    t.setTxn(r, 2 ** 40 + 3);
    expect(t.expire(3, 100, 1099, new Map())).toEqual([]); // not old enough
    expect(t.expire(2, 100, 5000, new Map())).toEqual([]); // another slot
    expect(t.isExpired(r)).toBe(false);
    const gone = t.expire(3, 100, 1100, new Map());
    expect(gone).toEqual([{ threadId, processId: process.pid, slot: 3, txnId: 2 ** 40 + 3, startedAt: 1000, kind: 'transaction', state: 'active' }]);
    expect(t.readers(3)).toBe(0);
    expect(t.isExpired(r)).toBe(true);
    expect(t.list()).toMatchObject([{ state: 'expired' }]); // still listed until the reader ends
    expect(t.expire(3, 100, 9999, new Map())).toEqual([]); // already dropped: not again
    expect(t.release(r)).toBe(false);
    expect(t.readers(3)).toBe(0);
    expect(t.isExpired(r)).toBe(false);
    expect(t.list()).toEqual([]);
  });

  it('a released pin is never expired (no second drop)', () => {
    const t = table();
    t.publish(1, 1);
    const a = pinned(t, 0);
    pinned(t, 0);
    expect(t.release(a.r)).toBe(true);
    expect(t.expire(1, 0, 10, new Map())).toHaveLength(1); // only the other one
    expect(t.readers(1)).toBe(0);
  });

  it('a short read is expired only if its pin sequence is the one seen earlier', () => {
    const t = table();
    t.publish(1, 1);
    const r = t.claim(KIND_THREAD, 0);
    t.bumpSeq(r);
    expect(t.tryPin(r)).toBe(1);
    const seen = t.snapshotShortReads(1);
    expect(seen.size).toBe(1);
    expect(t.snapshotShortReads(0).size).toBe(0);
    // the same short read still in progress: expired, whatever its start time
    expect(t.expire(1, 1e9, 0, seen)).toMatchObject([{ kind: 'short' }]);
    expect(t.release(r)).toBe(false);
    // a newer short read since the snapshot: left alone
    const again = t.snapshotShortReads(1);
    t.bumpSeq(r);
    expect(t.tryPin(r)).toBe(1);
    expect(t.expire(1, 0, 1e9, again)).toEqual([]);
    expect(t.expire(1, 0, 1e9, new Map())).toEqual([]);
    expect(t.release(r)).toBe(true);
  });
});

describe('reader table', () => {
  it('transaction entries are bounded by maxReaders, thread entries by MAX_THREADS, separately', () => {
    const t = table();
    const txns = [0, 1, 2].map(() => t.claim(KIND_TXN, 0));
    expect(new Set(txns).size).toBe(3);
    expect(t.claim(KIND_TXN, 0)).toBe(-1);
    const threads = Array.from({ length: MAX_THREADS }, () => t.claim(KIND_THREAD, 0));
    expect(threads.every((r) => r >= 0 && !txns.includes(r))).toBe(true);
    expect(new Set(threads).size).toBe(MAX_THREADS);
    expect(t.claim(KIND_THREAD, 0)).toBe(-1);
    t.unclaim(txns[1]!);
    expect(t.claim(KIND_TXN, 0)).toBe(txns[1]);
    expect(t.claim(KIND_TXN, 0)).toBe(-1);
  });

  it('releaseThread drops every pin of the thread once and frees its entries; says whether it had joined', () => {
    const t = table();
    t.publish(2, 2);
    const short = t.claim(KIND_THREAD, 0);
    expect(t.tryPin(short)).toBe(2);
    const a = pinned(t);
    pinned(t);
    t.expire(2, 0, 1, new Map()); // both transaction pins: releaseThread must not drop them again
    expect(t.readers(2)).toBe(1); // the short read was not in `seen`: kept
    expect(t.isExpired(a.r)).toBe(true);
    expect(t.releaseThread(threadId + 1000)).toBe(false); // no such thread: nothing changes
    expect(t.list()).toHaveLength(3);
    expect(t.releaseThread(threadId)).toBe(true);
    expect(t.readers(2)).toBe(0);
    expect(t.list()).toEqual([]);
    expect([0, 1, 2].map(() => t.claim(KIND_TXN, 0)).every((r) => r >= 0)).toBe(true);
    expect(t.releaseThread(threadId)).toBe(false); // only transaction entries now
  });

  // The flag lives in the thread's entry, and neither releaseThread nor unclaim clears it, so a
  // worker terminated while its async writer waited leaves otherAsyncWaiting() true for every
  // other thread until the entry is claimed again: each beginWriteSync then waits its grace time.
  it('no thread is reported as waiting for the mutex after its entries are released', () => {
    const t = table();
    const r = t.claim(KIND_THREAD, 0);
    t.setAsyncWaiting(r, true);
    expect(t.otherAsyncWaiting()).toBe(false); // this thread's own flag does not count
    t.releaseThread(threadId);
    expect(t.otherAsyncWaiting()).toBe(false);
  });
});

describe('reuse log', () => {
  it('a reader catches up with everything logged since its cursor, in order, u32 page numbers intact', () => {
    const t = table();
    const other = new LockTable(shape, t.sab);
    t.appendLog([1, 2, 3]);
    const got: number[] = [];
    let cursor = other.readLog(0, (p) => got.push(p), () => got.push(-1));
    expect([cursor, got]).toEqual([3, [1, 2, 3]]);
    t.appendLog(new Set([0xffffffff, 0x80000000]));
    cursor = other.readLog(cursor, (p) => got.push(p), () => got.push(-1));
    expect([cursor, got.slice(3)]).toEqual([5, [0xffffffff, 0x80000000]]);
    expect(other.readLog(cursor, () => got.push(-2), () => got.push(-1))).toBe(5);
    expect(got).toHaveLength(5);
  });

  it('a reader exactly one ring behind reads it all; one more and it must drop everything', () => {
    const t = table();
    const pages = Array.from({ length: LOG + 1 }, (_, i) => i + 10);
    t.appendLog(pages.slice(0, LOG));
    const got: number[] = [];
    let cleared = 0;
    expect(t.readLog(0, (p) => got.push(p), () => cleared++)).toBe(LOG);
    expect(cleared).toBe(0);
    expect(got).toEqual(pages.slice(0, LOG));
    t.appendLog(pages.slice(LOG));
    got.length = 0;
    expect(t.readLog(0, (p) => got.push(p), () => cleared++)).toBe(LOG + 1);
    expect([cleared, got.length]).toEqual([1, 0]);
    expect(t.logHead).toBe(LOG + 1);
  });
});

describe('flags and counters', () => {
  it('hold flag, openers, waiting and waited time per slot', () => {
    const t = table();
    expect(t.holding()).toBe(false);
    t.setHold(true);
    expect(t.holding()).toBe(true);
    t.setHold(false);
    expect(t.holding()).toBe(false);
    expect([t.addOpener(), t.addOpener(), t.removeOpener(), t.removeOpener()]).toEqual([1, 2, 1, 0]);
    t.setWaiting(2, true);
    expect([0, 1, 2, 3].map((s) => t.isWaiting(s))).toEqual([false, false, true, false]);
    t.setWaiting(2, false);
    expect(t.isWaiting(2)).toBe(false);
    t.addWaited(1, 10.4);
    t.addWaited(1, 5.6);
    expect([t.waitedMs(0), t.waitedMs(1)]).toEqual([0, 16]);
  });
});

describe('across threads', () => {
  const workers: Worker[] = [];
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.terminate();
  });

  it('a worker on the same buffer holds the mutex and pins; releaseThread frees its pins after it dies', async () => {
    const t = table();
    t.publish(6, 2);
    const w = new Worker(fileURLToPath(new URL('./locks-worker.mjs', import.meta.url)), { workerData: { sab: t.sab, shape } });
    workers.push(w);
    const tid = w.threadId;
    const msg = await new Promise<{ threadId: number; locked: boolean; pins: number[] }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(msg).toEqual({ threadId: tid, locked: true, pins: [2, 2] });
    expect(t.writerOwner()).toBe(tid);
    expect(t.tryLockWriter()).toBe(false);
    expect(t.readers(2)).toBe(2);
    expect(t.otherAsyncWaiting()).toBe(true);
    expect(t.list().map((x) => [x.threadId, x.kind]).sort()).toEqual([[tid, 'short'], [tid, 'transaction']]);
    const logged: number[] = [];
    t.readLog(0, (p) => logged.push(p), () => logged.push(-1));
    expect(logged).toEqual([42, 0xfffffffe]);
    expect(t.addOpener()).toBe(2);

    await w.terminate(); // dies holding its pins, as a crashed worker would
    expect(t.readers(2)).toBe(2);
    expect(t.releaseThread(tid)).toBe(true);
    expect(t.readers(2)).toBe(0);
    expect(t.list()).toEqual([]);
    expect(t.releaseThread(tid)).toBe(false);
  });
});
