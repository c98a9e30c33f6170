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
  /** Pins this thread holds, per slot: a writer of this thread that must wait for them never could. */
  readonly localPins: Int32Array;

  /** Claims this thread's short-read entry; throws TooManyThreadsError when every one is taken. */
  constructor(private readonly locks: LockTable, private readonly writeTimeoutMs: number) {
    this.localPins = new Int32Array(locks.nRoots);
    const entry = locks.claim(KIND_THREAD, Date.now());
    if (entry < 0) throw new TooManyThreadsError(MAX_THREADS);
    this.shortEntry = entry;
  }

  /**
   * Pins the published version. `register`: through an entry of its own (a read transaction or
   * iterator). Otherwise a short read through the thread's entry, unless one is already in
   * progress (a short read inside a short read, e.g. stats() during a get), which registers.
   */
  pin(register: boolean): Pin {
    const short = !register && !this.shortActive;
    let entry = this.shortEntry;
    if (short) {
      this.locks.bumpSeq(entry);
      this.shortActive = true;
    } else {
      entry = this.locks.claim(KIND_TXN, Date.now());
      if (entry < 0) throw new ReadersFullError(this.locks.maxReaders);
    }
    try {
      const slot = this.pinThrough(entry);
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

  /** Drops the pin: false when a writer had expired it (so what it read cannot be trusted). */
  release(pin: Pin): boolean {
    this.localPins[pin.slot]!--;
    const ok = this.locks.release(pin.entry);
    if (pin.registered) this.locks.unclaim(pin.entry);
    else this.shortActive = false;
    return ok;
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
    for (;;) {
      const r = this.locks.tryPin(entry);
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
      const now = Date.now();
      if (deadline === 0) deadline = now + this.writeTimeoutMs;
      if (now >= deadline) throw new ReadTimeoutError(`waited ${this.writeTimeoutMs} ms for the writer (thread ${this.locks.writerOwner()}) in serial mode (nRoots = 1)`);
      Atomics.wait(this.locks.i32, this.locks.exclIndex(slot), 1, Math.min(deadline - now, 50));
    }
  }
}
