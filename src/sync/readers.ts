/**
 * The reader protocol of one thread (docs/design.md, "Reader (pin)"): pinning the published
 * version through a reader-table entry, releasing it, and the per-thread bookkeeping that tells
 * a wait from a deadlock.
 *
 * Every pin goes through an entry of the lock table. Short reads (get, doesExist, stats) share
 * this thread's own entry, claimed once at open; read transactions and range iterators claim an
 * entry each, so that a writer can name them and expire them by age.
 */
import { KIND_THREAD, KIND_TXN, LockTable, MAX_THREADS, type ReaderInfo } from './locks.js';
import { ReadersFullError, ReadTimeoutError, TooManyThreadsError, WouldDeadlockError } from '../errors.js';

/**
 * The readers' side of sharing the file with other processes (procs/ implements it; null when
 * the file is not shared). A pin counts in this process's lock table first; the process's record
 * in the lock directory shows it to other processes' writers while any thread pins the slot.
 */
export interface ProcessReaders {
  /** Makes this process's view of the published version at least as new as what any process published. */
  refresh(): void;
  /**
   * `slot`, at version `versionLow`, is pinned in this process: makes sure other processes'
   * writers see it. 'retry': a writer of another process may have taken the slot meanwhile (pin
   * again); 'wait': serial mode, a writer of another process holds the only slot.
   */
  announce(slot: number, versionLow: number): 'ok' | 'retry' | 'wait';
  /**
   * A pin on `slot` was dropped: withdraws the announcement if no pin of this process is left on
   * it, lazily (when this thread's event loop turns) unless `atOnce`.
   */
  withdraw(slot: number, atOnce?: boolean): void;
  /** Withdraws now every announcement no pin of this process holds any more (the lazy ones). */
  sweep(): void;
}

/** Short reads that reuse one lingering pin before looking for other processes' commits again. */
const LINGER_USES_SHARED = 256;

/** One pin: the slot it holds and the reader-table entry it holds it through. */
export interface Pin {
  readonly slot: number;
  readonly entry: number;
  /** A read transaction or iterator with an entry of its own; else a short read on the thread's entry. */
  readonly registered: boolean;
}

export class ReaderPins {
  /** This thread's entry for short reads. */
  readonly shortEntry: number;
  private shortActive = false;
  /** The previous short read's pin, still held (see pin() and release()); null when none. */
  private linger: Pin | null = null;
  /** Low 32 bits of the version `linger` pins. */
  private lingerVersion = 0;
  /** Serial mode (nRoots 1) does not linger: there a pin keeps every writer out. */
  private readonly lingers: boolean;
  private dropScheduled = false;
  private closed = false;
  private readonly dropTask = (): void => {
    this.dropScheduled = false;
    if (!this.closed) this.dropLinger();
  };
  /** Pins this thread holds, per slot: a writer of this thread that must wait for them never could. */
  readonly localPins: Int32Array;

  /** Short reads served by the lingering pin since it was taken (with other processes: bounded). */
  private lingerUses = 0;

  /** Claims this thread's short-read entry; throws TooManyThreadsError when every one is taken. */
  constructor(private readonly locks: LockTable, private readonly writeTimeoutMs: number, private readonly other: ProcessReaders | null = null) {
    this.localPins = new Int32Array(locks.nRoots);
    this.lingers = locks.nRoots > 1;
    const entry = locks.claim(KIND_THREAD, Date.now());
    if (entry < 0) throw new TooManyThreadsError(MAX_THREADS);
    this.shortEntry = entry;
  }

  /**
   * Pins the published version. `register`: through an entry of its own (a read transaction or
   * iterator). Otherwise a short read through the thread's entry, unless one is already in
   * progress (a short read inside a short read, e.g. stats() during a get), which registers.
   *
   * A short read reuses the lingering pin of the previous one when that still holds the
   * published version, no writer expired it and none asked for it (docs/design.md, "Lingering
   * short-read pin"); else it drops it and pins anew.
   */
  pin(register: boolean): Pin {
    const short = !register && !this.shortActive;
    let entry = this.shortEntry;
    if (short) {
      const l = this.linger;
      if (l !== null) {
        const locks = this.locks;
        // Other processes' commits and requests do not show in the lock table: with them, a pin
        // lingers for a bounded number of reads (the next one looks at the commit record again).
        if (locks.publishedSeq() === this.lingerVersion && locks.isActive(entry) && !locks.dropAsked(entry)
          && (this.other === null || ++this.lingerUses < LINGER_USES_SHARED)) {
          this.shortActive = true;
          return l;
        }
        this.dropLinger();
      }
      this.locks.bumpSeq(entry);
      this.locks.clearDrop(entry);
      this.shortActive = true;
    } else {
      entry = this.locks.claim(KIND_TXN, Date.now());
      if (entry < 0) throw new ReadersFullError(this.locks.maxReaders);
    }
    try {
      const slot = this.pinThrough(entry);
      if (short) {
        this.lingerVersion = this.locks.slotVersionLow(slot); // fixed while pinned
        this.lingerUses = 0;
      }
      return { slot, entry, registered: !short };
    } catch (e) {
      if (short) this.shortActive = false;
      else this.locks.unclaim(entry);
      throw e;
    }
  }

  /** Records the version a registered pin holds (readers(), stats, expiry messages). */
  setVersion(pin: Pin, txnId: number): void {
    if (pin.registered) this.locks.setTxn(pin.entry, txnId);
  }

  /**
   * Ends the read holding `pin`: false when a writer had expired it (so what it read cannot be
   * trusted). A short read's pin stays behind (lingers) unless serial mode, a writer's request
   * or an expiry says otherwise; it is dropped when this thread's synchronous code ends.
   */
  release(pin: Pin): boolean {
    if (!pin.registered) {
      this.shortActive = false;
      if (this.lingers && !this.closed) {
        const locks = this.locks;
        // A load is as good as the release CAS here: a writer expires a pin before it reuses any
        // page, so ACTIVE now means every page this read saw was intact when it read it.
        if (locks.isActive(pin.entry) && !locks.dropAsked(pin.entry)) {
          this.linger = pin;
          if (!this.dropScheduled) {
            this.dropScheduled = true;
            queueMicrotask(this.dropTask);
          }
          return true;
        }
        this.linger = null;
      }
    }
    this.localPins[pin.slot]!--;
    const ok = this.locks.release(pin.entry);
    if (pin.registered) this.locks.unclaim(pin.entry);
    this.other?.withdraw(pin.slot);
    return ok;
  }

  /**
   * Drops the lingering short-read pin, if any: before this thread waits for the writer mutex or
   * a slot (it must never wait for its own pin), at close, and when its synchronous code ends.
   */
  dropLinger(): void {
    const l = this.linger;
    if (l === null || this.shortActive) return;
    this.linger = null;
    this.localPins[l.slot]!--;
    this.locks.release(l.entry); // false: a writer expired it while it lingered; nothing was being read
    this.other?.withdraw(l.slot);
  }

  /**
   * Before this thread waits for a writer lock: drops what it holds without reading, the
   * lingering pin and, with other processes, the announcements withdrawn lazily. A writer of
   * another process may be waiting for exactly those, while this thread, blocked, would never
   * withdraw them: both would wait for the other until writeTimeoutMs.
   */
  beforeWait(): void {
    this.dropLinger();
    this.other?.sweep();
  }

  /** Drops the lingering pin for good; afterwards the entry may belong to another thread. */
  close(): void {
    this.dropLinger();
    this.closed = true;
  }

  /** Whether a writer has expired the pin held through `entry`. */
  expired(entry: number): boolean {
    return this.locks.isExpired(entry);
  }

  list(): ReaderInfo[] {
    return this.locks.list();
  }

  private pinThrough(entry: number): number {
    let deadline = 0;
    let retryDeadline = 0;
    const other = this.other;
    for (let attempt = 0; ; attempt++) {
      // Each retry needs a commit to land between two reads microseconds apart; bounded all the
      // same, so that a stream of commits cannot keep a reader spinning without end.
      if (attempt > 0 && deadline === 0) {
        const now = Date.now();
        if (retryDeadline === 0) retryDeadline = now + this.writeTimeoutMs;
        else if (now >= retryDeadline) throw new ReadTimeoutError(`a read could not pin a version for ${this.writeTimeoutMs} ms: every attempt was overtaken by a commit`);
      }
      other?.refresh();
      const r = this.locks.tryPin(entry);
      if (r >= 0 && other !== null) {
        const a = other.announce(r, this.locks.slotVersionLow(r));
        if (a !== 'ok') {
          this.locks.release(entry);
          other.withdraw(r, true); // a writer may be waiting for exactly this pin
          if (a === 'wait') deadline = this.serialWait(r, deadline, 'a writer of another process');
          continue;
        }
      }
      if (r >= 0) {
        this.localPins[r]!++;
        return r;
      }
      if (r === -1) continue; // a commit or an expiry raced the pin: retry at once
      // Serial mode: the writer holds the only slot. Wait for it, unless it is this thread.
      const slot = -2 - r;
      if (this.locks.writerOwner() === this.locks.tid) {
        throw new WouldDeadlockError('a read transaction cannot start while this thread has a write transaction open and nRoots is 1 (serial mode); read inside the write transaction instead');
      }
      deadline = this.serialWait(slot, deadline, `the writer (thread ${this.locks.writerOwner()})`);
    }
  }

  /** Serial mode: waits a little for the writer holding `slot`; returns the deadline (0: not set yet). */
  private serialWait(slot: number, deadline: number, who: string): number {
    const now = Date.now();
    if (deadline === 0) deadline = now + this.writeTimeoutMs;
    if (now >= deadline) throw new ReadTimeoutError(`waited ${this.writeTimeoutMs} ms for ${who} in serial mode (nRoots = 1)`);
    // A writer of this process notifies when it releases the slot; one of another process
    // cannot, so then this only sleeps a millisecond before looking again.
    const i = this.locks.exclIndex(slot);
    const local = Atomics.load(this.locks.i32, i) === 1;
    Atomics.wait(this.locks.i32, i, local ? 1 : 0, Math.min(deadline - now, local ? 50 : 1));
    return deadline;
  }
}
