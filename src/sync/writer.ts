/**
 * The writer protocol of one thread (docs/design.md, "Writer T"): the writer mutex, then the
 * exclusive hold of root slot `T mod nRoots`, then waiting until no reader pins that slot.
 *
 * Lock order: writer mutex, then EXCL[slot]. Nobody waits for either while holding a pin of its
 * own thread: the synchronous path detects that and throws WouldDeadlockError instead.
 */
import type { LockTable } from './locks.js';
import type { ReaderPins } from './readers.js';
import { WouldDeadlockError, WriteTimeoutError } from '../errors.js';

/** How long a sync writer leaves a free writer mutex to another thread's waiting async writer. */
const ASYNC_GRACE_MS = 2;
/** The period of the timer that keeps a thread alive while its async writer waits (it never fires in practice). */
const KEEP_ALIVE_MS = 1 << 30;

export interface WriterOptions {
  writeTimeoutMs: number;
  /** 0: off. Readers at least this old that pin the writer's slot are expired while it waits. */
  maxReaderAgeMs: number;
}

/** The writer lock and slot, once held: begin the transaction, then release() when it ends. */
export interface Acquired {
  slot: number;
  /** How long the writer waited for readers of its slot, in ms. */
  waitedMs: number;
}

/** What the async path asks of its thread's environment while it waits. */
export interface AsyncWriterThread {
  /** This thread has a write transaction open: wait for it as for another thread's. */
  busy(): boolean;
  /** Throws when the database was closed or failed meanwhile. */
  checkWritable(): void;
  closed(): boolean;
}

export class WriterLock {
  constructor(
    private readonly locks: LockTable,
    private readonly readers: ReaderPins,
    private readonly options: WriterOptions,
    /** The id the next transaction will have (for messages). */
    private readonly nextTxn: () => number,
  ) {}

  /** The slot the next writer must write: the one after the published version's. */
  private nextSlot(): number {
    return (this.locks.publishedSlot() + 1) % this.locks.nRoots;
  }

  /**
   * Takes the mutex and the next slot, waiting up to writeTimeoutMs for both; throws
   * WriteTimeoutError naming the readers, or WouldDeadlockError when the wait could never end.
   */
  acquireSync(): Acquired {
    const locks = this.locks;
    if (locks.writerOwner() === locks.tid) {
      throw new WouldDeadlockError('this thread already has a write transaction open (or an asynchronous one in progress); rotadb allows one writer at a time');
    }
    const timeout = this.options.writeTimeoutMs;
    const deadline = Date.now() + timeout;
    // Fairness: a sync waiter in another thread wakes the moment the mutex is released, an async
    // one only when its event loop runs, so it would nearly always lose. Leave it a moment.
    if (locks.otherAsyncWaiting()) Atomics.wait(locks.i32, locks.writerIndex, 0, ASYNC_GRACE_MS);
    while (!locks.tryLockWriter()) {
      const owner = locks.writerOwner();
      const left = deadline - Date.now();
      if (left <= 0) throw new WriteTimeoutError(`waited ${timeout} ms for the writer lock held by thread ${owner}`);
      if (owner >= 0) Atomics.wait(locks.i32, locks.writerIndex, owner + 1, left);
    }
    const slot = this.nextSlot();
    locks.holdSlot(slot);
    let waitStart = 0;
    let seen: Map<number, number> | undefined;
    try {
      for (;;) {
        const n = locks.readers(slot);
        if (n === 0) break;
        const own = this.readers.localPins[slot]!;
        if (own > 0) {
          throw new WouldDeadlockError(`transaction ${this.nextTxn()} must write root slot ${slot}, but this thread holds ${own} read transaction(s) on it: ${this.describeReaders(slot)}. End them first, or use the async write API, or raise nRoots`);
        }
        const now = Date.now();
        if (waitStart === 0) {
          waitStart = now;
          seen = locks.snapshotShortReads(slot);
          locks.setWaiting(slot, true);
        }
        if (this.expireOld(slot, now - waitStart, seen!)) continue;
        const left = deadline - now;
        if (left <= 0) {
          throw new WriteTimeoutError(`transaction ${this.nextTxn()} waited ${timeout} ms for root slot ${slot}; it is pinned by ${n} reader(s): ${this.describeReaders(slot)}`);
        }
        const max = this.options.maxReaderAgeMs;
        Atomics.wait(locks.i32, locks.readersIndex(slot), n, max > 0 ? Math.min(left, Math.max(1, max - (now - waitStart))) : left);
      }
    } catch (e) {
      locks.setWaiting(slot, false);
      if (waitStart) locks.addWaited(slot, Date.now() - waitStart);
      this.release(slot);
      throw e;
    }
    const waitedMs = waitStart ? Date.now() - waitStart : 0;
    locks.setWaiting(slot, false);
    if (waitedMs > 0) locks.addWaited(slot, waitedMs);
    return { slot, waitedMs };
  }

  /**
   * Waits without blocking the event loop until this thread can take the mutex and a slot free
   * of readers, then calls `onAcquired` in the same tick (so no other code of this thread runs
   * between taking the locks and beginning the transaction). Holds nothing while it waits, so
   * the thread's reads and synchronous writes go on meanwhile.
   *
   * It waits at most writeTimeoutMs in all, then rejects with WriteTimeoutError naming what it
   * waited for, as the synchronous path does. While it waits it keeps the thread's event loop
   * alive (Atomics.waitAsync alone does not: a thread with nothing else to do would exit and the
   * awaited write would vanish), and no longer once it has settled.
   */
  async acquireAsync<T>(thread: AsyncWriterThread, onAcquired: (a: Acquired) => T): Promise<T> {
    const locks = this.locks;
    const entry = this.readers.shortEntry;
    const start = Date.now();
    let waitStart = 0;
    let waitSlot = -1;
    let seen = new Map<number, number>();
    const timeout = this.options.writeTimeoutMs;
    const deadline = start + timeout;
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    /** Waits for word `index` to change from `value`, for at most `ms` and never past the deadline. */
    const wait = async (index: number, value: number, ms: number): Promise<void> => {
      keepAlive ??= setInterval(noop, KEEP_ALIVE_MS);
      await waitAsync(locks.i32, index, value, Math.max(1, Math.min(ms, deadline - Date.now())));
      thread.checkWritable();
    };
    try {
      for (;;) {
        const slot = this.nextSlot();
        const n = locks.readers(slot);
        if (n > 0) {
          const now = Date.now();
          if (slot !== waitSlot) {
            if (waitSlot >= 0) locks.setWaiting(waitSlot, false);
            waitSlot = slot;
            waitStart = now;
            seen = locks.snapshotShortReads(slot);
            locks.setWaiting(slot, true);
          }
          if (this.expireOld(slot, now - waitStart, seen)) continue;
          if (now >= deadline) {
            throw new WriteTimeoutError(`transaction ${this.nextTxn()} waited ${timeout} ms for root slot ${slot}; it is pinned by ${n} reader(s): ${this.describeReaders(slot)}`);
          }
          const max = this.options.maxReaderAgeMs;
          await wait(locks.readersIndex(slot), n, max > 0 ? max - (now - waitStart) : Infinity);
          continue;
        }
        if (thread.busy() || !locks.tryLockWriter()) {
          const owner = Atomics.load(locks.i32, locks.writerIndex);
          // unlockWriter() notifies; that wakes waitAsync in this thread as well as in others
          locks.setAsyncWaiting(entry, true);
          if (owner === 0) continue; // released meanwhile: try again
          if (Date.now() >= deadline) throw new WriteTimeoutError(`waited ${timeout} ms for the writer lock held by thread ${owner - 1}`);
          await wait(locks.writerIndex, owner, Infinity);
          continue;
        }
        locks.setAsyncWaiting(entry, false);
        const s = this.nextSlot();
        locks.holdSlot(s);
        if (locks.readers(s) > 0) {
          this.release(s);
          continue;
        }
        if (s === waitSlot) {
          locks.setWaiting(s, false);
          locks.addWaited(s, Date.now() - waitStart);
          waitSlot = -1;
        }
        return onAcquired({ slot: s, waitedMs: Date.now() - start });
      }
    } finally {
      if (keepAlive !== undefined) clearInterval(keepAlive);
      // after close the entry may belong to another thread already
      if (!thread.closed()) locks.setAsyncWaiting(entry, false);
      if (waitSlot >= 0) {
        locks.setWaiting(waitSlot, false);
        locks.addWaited(waitSlot, Date.now() - waitStart);
      }
    }
  }

  /** Releases the slot and the mutex (commit, abort or failure). */
  release(slot: number): void {
    this.locks.releaseSlot(slot);
    this.locks.unlockWriter();
  }

  /** The readers pinning `slot`, for error messages: thread, version, age. */
  describeReaders(slot: number): string {
    const now = Date.now();
    const rs = this.readers.list().filter((r) => r.slot === slot && r.state === 'active');
    const named = rs.map((r) => r.kind === 'transaction'
      ? `thread ${r.threadId} on version ${r.txnId} for ${now - r.startedAt} ms`
      : `a short read in thread ${r.threadId}`).join('; ');
    const unnamed = this.locks.readers(slot) - rs.length;
    return named + (unnamed > 0 ? `${named ? '; ' : ''}${unnamed} more` : '') || 'none';
  }

  /**
   * With maxReaderAgeMs set and a writer `waited` ms on `slot`: expires the readers that are at
   * least that old. Returns whether it expired any.
   */
  private expireOld(slot: number, waited: number, seen: Map<number, number>): boolean {
    const max = this.options.maxReaderAgeMs;
    if (max <= 0) return false;
    // Short reads are judged by having stayed the same pin for the whole wait.
    const shortSeen = waited >= max ? seen : new Map<number, number>();
    return this.locks.expire(slot, max, Date.now(), shortSeen).length > 0;
  }
}

function noop(): void {}

function waitAsync(i32: Int32Array, index: number, value: number, timeoutMs?: number): Promise<unknown> {
  const r = Atomics.waitAsync(i32, index, value, timeoutMs);
  return r.async ? r.value : Promise.resolve(r.value);
}
