/**
 * The writer protocol of one thread (docs/design.md, "Writer T"): the writer mutex, then the
 * exclusive hold of the root slot it will write, then waiting until no reader pins that slot.
 *
 * Which slot (the `slotPolicy` option):
 *   'rotate'           slot (published + 1) mod nRoots: version T in slot T mod nRoots. A reader
 *                      older than nRoots - 1 commits makes the writer wait.
 *   'oldest-unpinned'  the slot, other than the current version's, that holds the oldest version
 *                      nobody pins; the writer waits only when every such slot is pinned. One long
 *                      reader never blocks writers with nRoots >= 3.
 * Readers pin only the current version's slot, so a slot the writer found unpinned (other than the
 * current one) gains no new reader: a late pin of an old slot fails its re-check (tryPin).
 *
 * Lock order: writer mutex, then EXCL[slot]. Nobody waits for either while holding a pin of its
 * own thread that the wait depends on: the synchronous path detects that and throws
 * WouldDeadlockError instead.
 */
import { fullTxn, type LockTable } from './locks.js';
import type { ReaderPins } from './readers.js';
import { WouldDeadlockError, WriteTimeoutError } from '../errors.js';

/** How long a sync writer leaves a free writer mutex to another thread's waiting async writer. */
const ASYNC_GRACE_MS = 2;
/** The period of the timer that keeps a thread alive while its async writer waits (it never fires in practice). */
const KEEP_ALIVE_MS = 1 << 30;
/** With 'oldest-unpinned', a writer waits on one slot's reader count but any slot may free up: look again this often. */
const RECHECK_MS = 20;

export type SlotPolicy = 'rotate' | 'oldest-unpinned';

export interface WriterOptions {
  writeTimeoutMs: number;
  /** 0: off. Readers at least this old that pin the writer's slot are expired while it waits. */
  maxReaderAgeMs: number;
  slotPolicy: SlotPolicy;
}

/**
 * The writers' side of sharing the file with other processes (procs/ implements it; null when
 * the file is not shared). Taken after this process's writer mutex, released before it.
 */
export interface ProcessWriters {
  /** Takes the writer lock across processes, waiting until `deadline` (ms since epoch); false if not granted by then. */
  lock(deadline: number): boolean;
  /** One attempt that does not wait (the async path): false when another process holds or is taking it. */
  tryLock(): boolean;
  /** Releases it, and clears the target slot if nothing was published. */
  unlock(): void;
  /** Holding it: brings this process's view of the published version and of every slot's version up to date. */
  refresh(): void;
  /** Holding it: tells other processes' readers that `slot` is about to be written (before scan()). */
  target(slot: number): void;
  /** Reads other processes' records: which slots they pin, at the version each slot holds now. */
  scan(): void;
  /** Live other processes that pin `slot`'s present version, as of the last scan (expired ones not counted). */
  pinsOn(slot: number): number;
  /** Stops waiting for other processes' pins on `slot`'s present version (maxReaderAgeMs); returns how many. */
  expire(slot: number): number;
  /** The processes pinning `slot`, as of the last scan, for error messages. */
  describe(slot: number): string;
  /** The process that held the writer lock when lock() or tryLock() gave up, for error messages. */
  holder(): string;
}

/** How often a writer looks again at pins of other processes (they cannot notify it). */
const PROCESS_POLL_MS = 1;

/** The writer lock and slot, once held: begin the transaction, then release() when it ends. */
export interface Acquired {
  slot: number;
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
    /** The id the next transaction will have. */
    private readonly nextTxn: () => number,
    private readonly other: ProcessWriters | null = null,
  ) {}

  /** Readers of any process pinning `slot`'s version (other processes' as of the last scan). */
  private pinsOn(slot: number): number {
    return this.locks.readers(slot) + (this.other?.pinsOn(slot) ?? 0);
  }

  /**
   * The slot the next writer writes: with 'rotate' the one after the current version's, pinned or
   * not; with 'oldest-unpinned' the unpinned one holding the oldest version, or when all are
   * pinned the pinned one holding the oldest version (the one to wait for).
   */
  private target(): number {
    const locks = this.locks;
    const n = locks.nRoots;
    const cur = locks.publishedSlot();
    if (this.options.slotPolicy === 'rotate' || n <= 2) return (cur + 1) % n;
    const curTxn = this.nextTxn() - 1;
    let free = -1;
    let freeVersion = Infinity;
    let pinned = -1;
    let pinnedVersion = Infinity;
    for (let s = 0; s < n; s++) {
      if (s === cur) continue;
      const v = fullTxn(curTxn, locks.slotVersionLow(s));
      if (this.pinsOn(s) === 0) {
        if (v < freeVersion) { free = s; freeVersion = v; }
      } else if (v < pinnedVersion) {
        pinned = s;
        pinnedVersion = v;
      }
    }
    return free >= 0 ? free : pinned;
  }

  /** Pins of this thread that a writer waiting for `slot` would wait for in vain; 0 if none. */
  private ownPinsBlocking(slot: number): number {
    const own = this.readers.localPins;
    if (this.options.slotPolicy === 'rotate' || this.locks.nRoots <= 2) return own[slot]!;
    // every candidate slot is pinned (else target() chose a free one): only a deadlock if each
    // of them has a pin of this thread
    const cur = this.locks.publishedSlot();
    let total = 0;
    for (let s = 0; s < this.locks.nRoots; s++) {
      if (s === cur) continue;
      if (own[s]! === 0) return 0;
      total += own[s]!;
    }
    return total;
  }

  /**
   * Takes the mutex and a slot, waiting up to writeTimeoutMs in all; throws WriteTimeoutError
   * naming the readers, or WouldDeadlockError when the wait could never end.
   */
  acquireSync(): Acquired {
    const locks = this.locks;
    if (locks.writerOwner() === locks.tid) {
      throw new WouldDeadlockError('this thread already has a write transaction open (or an asynchronous one in progress); rotadb allows one writer at a time');
    }
    // This thread's lingering short-read pin goes first: it must never wait for its own pin.
    this.readers.beforeWait();
    const timeout = this.options.writeTimeoutMs;
    const start = Date.now();
    const deadline = start + timeout;
    // Fairness: a sync waiter in another thread wakes the moment the mutex is released, an async
    // one only when its event loop runs, so it would nearly always lose. Leave it a moment.
    if (locks.otherAsyncWaiting()) Atomics.wait(locks.i32, locks.writerIndex, 0, ASYNC_GRACE_MS);
    while (!locks.tryLockWriter()) {
      const owner = locks.writerOwner();
      const left = deadline - Date.now();
      if (left <= 0) throw new WriteTimeoutError(`waited ${timeout} ms for the writer lock held by thread ${owner}`);
      if (owner >= 0) Atomics.wait(locks.i32, locks.writerIndex, owner + 1, left);
    }
    const other = this.other;
    if (other !== null && !other.lock(deadline)) {
      locks.unlockWriter();
      throw new WriteTimeoutError(`waited ${timeout} ms for the writer lock held by ${other.holder()}`);
    }
    const wait = new SlotWait(locks);
    let held = -1;
    try {
      other?.refresh();
      for (;;) {
        if (other !== null && this.scansFirst()) other.scan();
        const slot = this.target();
        if (slot !== held) {
          if (held >= 0) locks.releaseSlot(held);
          locks.holdSlot(slot);
          other?.target(slot);
          held = slot;
        }
        other?.scan();
        const local = locks.readers(slot);
        const n = local + (other?.pinsOn(slot) ?? 0);
        if (n === 0) break;
        const own = this.ownPinsBlocking(slot);
        if (own > 0) {
          throw new WouldDeadlockError(`transaction ${this.nextTxn()} must write root slot ${slot}, but this thread holds ${own} read transaction(s) it would wait for: ${this.describeReaders(slot)}. End them first, or use the async write API, or raise nRoots`);
        }
        locks.askToDrop(slot);
        const now = Date.now();
        wait.on(slot, now);
        if (this.expireOld(wait, now)) continue;
        const left = deadline - now;
        if (left <= 0) throw this.slotTimeout(slot, n);
        // a reader of this process notifies when it leaves; one of another process cannot
        const look = Math.min(this.nextLook(wait, now), n > local ? PROCESS_POLL_MS : Infinity);
        Atomics.wait(locks.i32, locks.readersIndex(slot), local, Math.min(left, look));
      }
    } catch (e) {
      wait.end(Date.now());
      this.release(held);
      throw e;
    }
    wait.end(Date.now());
    return { slot: held };
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
    const timeout = this.options.writeTimeoutMs;
    const deadline = start + timeout;
    const wait = new SlotWait(locks);
    const other = this.other;
    /** The last check under the lock found other processes' pins on the slot: look again without the lock until they go. */
    let remote = false;
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    /** Waits for word `index` to change from `value`, for at most `ms` and never past the deadline. */
    const sleep = async (index: number, value: number, ms: number): Promise<void> => {
      keepAlive ??= setInterval(noop, KEEP_ALIVE_MS);
      await waitAsync(locks.i32, index, value, Math.max(1, Math.min(ms, deadline - Date.now())));
      thread.checkWritable();
    };
    try {
      for (;;) {
        // the thread's gets ran meanwhile: drop what they left, so it never waits for itself
        this.readers.beforeWait();
        if (remote) other!.scan(); // a hint only, taken without the lock: the check that counts comes after target()
        const slot = this.target();
        const local = locks.readers(slot);
        const n: number = local + (remote ? other!.pinsOn(slot) : 0);
        remote &&= n > local;
        if (n > 0) {
          locks.askToDrop(slot);
          const now = Date.now();
          wait.on(slot, now);
          if (this.expireOld(wait, now)) continue;
          if (now >= deadline) throw this.slotTimeout(slot, n);
          await sleep(locks.readersIndex(slot), local, Math.min(this.nextLook(wait, now), n > local ? PROCESS_POLL_MS : Infinity));
          continue;
        }
        if (thread.busy() || !locks.tryLockWriter()) {
          const owner = Atomics.load(locks.i32, locks.writerIndex);
          // unlockWriter() notifies; that wakes waitAsync in this thread as well as in others
          locks.setAsyncWaiting(entry, true);
          if (owner === 0) continue; // released meanwhile: try again
          if (Date.now() >= deadline) throw new WriteTimeoutError(`waited ${timeout} ms for the writer lock held by thread ${owner - 1}`);
          await sleep(locks.writerIndex, owner, Infinity);
          continue;
        }
        if (other !== null && !other.tryLock()) {
          locks.unlockWriter();
          if (Date.now() >= deadline) throw new WriteTimeoutError(`waited ${timeout} ms for the writer lock held by ${other.holder()}`);
          await sleep(locks.writerIndex, Atomics.load(locks.i32, locks.writerIndex), PROCESS_POLL_MS);
          continue;
        }
        locks.setAsyncWaiting(entry, false);
        let s = -1;
        try {
          other?.refresh();
          if (other !== null && this.scansFirst()) other.scan();
          s = this.target();
          locks.holdSlot(s);
          other?.target(s);
          other?.scan();
        } catch (e) {
          this.release(s);
          throw e;
        }
        if (this.pinsOn(s) > 0) {
          remote = (other?.pinsOn(s) ?? 0) > 0;
          this.release(s);
          continue;
        }
        wait.end(Date.now());
        return onAcquired({ slot: s });
      }
    } finally {
      if (keepAlive !== undefined) clearInterval(keepAlive);
      // after close the entry may belong to another thread already
      if (!thread.closed()) locks.setAsyncWaiting(entry, false);
      wait.end(Date.now());
    }
  }

  /** Releases the slot and the mutex (commit, abort or failure), and the lock across processes. */
  release(slot: number): void {
    if (slot >= 0) this.locks.releaseSlot(slot);
    try {
      this.other?.unlock();
    } finally {
      this.locks.unlockWriter();
    }
  }

  /** Whether target() depends on pins (so other processes' must be read before it). */
  private scansFirst(): boolean {
    return this.options.slotPolicy !== 'rotate' && this.locks.nRoots > 2;
  }

  /** The readers pinning `slot`, for error messages: thread, version, age. */
  describeReaders(slot: number): string {
    const now = Date.now();
    const rs = this.readers.list().filter((r) => r.slot === slot && r.state === 'active');
    const named = rs.map((r) => r.kind === 'transaction'
      ? `thread ${r.threadId} on version ${r.txnId} for ${now - r.startedAt} ms`
      : `a short read in thread ${r.threadId}`).join('; ');
    const unnamed = this.locks.readers(slot) - rs.length;
    const local = named + (unnamed > 0 ? `${named ? '; ' : ''}${unnamed} more` : '');
    const remote = this.other?.describe(slot) ?? '';
    return [local, remote].filter(Boolean).join('; ') || 'none';
  }

  private slotTimeout(slot: number, n: number): WriteTimeoutError {
    const every = this.options.slotPolicy === 'oldest-unpinned' && this.locks.nRoots > 2 ? ' (every slot but the current one is pinned)' : '';
    return new WriteTimeoutError(`transaction ${this.nextTxn()} waited ${this.options.writeTimeoutMs} ms for root slot ${slot}${every}; it is pinned by ${n} reader(s): ${this.describeReaders(slot)}`);
  }

  /** How long to sleep before looking again: until a reader may expire, or another slot may have freed up. */
  private nextLook(wait: SlotWait, now: number): number {
    const max = this.options.maxReaderAgeMs;
    const expiry = max > 0 ? Math.max(1, max - (now - wait.start)) : Infinity;
    return this.options.slotPolicy === 'oldest-unpinned' && this.locks.nRoots > 2 ? Math.min(expiry, RECHECK_MS) : expiry;
  }

  /**
   * With maxReaderAgeMs set: expires the readers of the waited-for slot that are at least that old.
   * Returns whether it expired any.
   */
  private expireOld(wait: SlotWait, now: number): boolean {
    const max = this.options.maxReaderAgeMs;
    if (max <= 0) return false;
    // Short reads are judged by having stayed the same pin for the whole wait.
    const waited = now - wait.start >= max;
    const shortSeen = waited ? wait.seen : new Map<number, number>();
    let n = this.locks.expire(wait.slot, max, now, shortSeen).length;
    // Other processes' pins: after waiting that long for them (their readers' ages are their own
    // clocks' business; the wait is ours). An expired reader of another process never reads a
    // wrong page: every page read is checked to be born by its version (docs/design.md).
    if (waited && this.other !== null) n += this.other.expire(wait.slot);
    return n > 0;
  }
}

/** One writer's wait for the readers of a slot: the WAITING flag, writerWaitedMs, expiry's view. */
class SlotWait {
  slot = -1;
  start = 0;
  /** Pin sequences of the short reads on the slot when the wait began. */
  seen = new Map<number, number>();

  constructor(private readonly locks: LockTable) {}

  /** Waits on `slot` from `now` (ending a wait on another slot first). */
  on(slot: number, now: number): void {
    if (slot === this.slot) return;
    this.end(now);
    this.slot = slot;
    this.start = now;
    this.seen = this.locks.snapshotShortReads(slot);
    this.locks.setWaiting(slot, true);
  }

  /** Ends the wait, counting it once in the slot's writerWaitedMs. */
  end(now: number): void {
    if (this.slot < 0) return;
    this.locks.setWaiting(this.slot, false);
    this.locks.addWaited(this.slot, now - this.start);
    this.slot = -1;
  }
}

function noop(): void {}

function waitAsync(i32: Int32Array, index: number, value: number, timeoutMs?: number): Promise<unknown> {
  const r = Atomics.waitAsync(i32, index, value, timeoutMs);
  return r.async ? r.value : Promise.resolve(r.value);
}
