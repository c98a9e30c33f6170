/**
 * The lock table: every word that coordinates readers and the writer lives in one
 * SharedArrayBuffer, shared by every thread that has the file open (a worker joins with the
 * handle from db.handle()). All accesses are Atomics (sequentially consistent).
 *
 * Lock order (docs/design.md): writer mutex, then the target slot's exclusive hold. A reader
 * holds one slot pin and takes nothing else. Nobody waits for the writer mutex or a slot while
 * holding a pin of its own thread: the sync paths detect that and throw instead.
 *
 * Pin protocol (reader, with its reader-table entry E):
 *   v = SEQ; s = SLOT; E.slot = s; E.state = ACTIVE; READERS[s] += 1
 *   if SEQ != v or EXCL[s] or E.state != ACTIVE: release (see below) and retry
 * A reader whose re-check passes pinned version v before any later SEQ store, so every later
 * writer sees its pin when it computes the oldest pinned version (increment, then load; against
 * the writer's store, then load).
 *
 * Release and expiry race on E.state: the reader releases with CAS(ACTIVE -> IDLE), a writer
 * expires a pin with CAS(ACTIVE -> EXPIRED); whoever wins decrements READERS[s]. So a pin is
 * dropped exactly once, and an expired reader learns it from the failed CAS.
 */
import { threadId } from 'node:worker_threads';
import { InvalidOptionError } from '../errors.js';

// header words
const WRITER = 0; // owner thread id + 1, or 0
const SEQ = 1; // low 32 bits of the published (current) transaction id
const SLOT = 2; // slot of the published version
const OPENERS = 3; // threads that have the file open; the last one out removes the lock file
const LOG_HEAD = 4; // entries ever appended to the reuse log (wraps at 2^32)
const HOLD = 5; // 1 while pages freed by the version found at open must not be reused (see env.ts)
const PROC_MUTEX = 6; // thread id + 1 of the thread writing this process's record in the lock directory, or 0
const PROC_CHOOSING = 7; // this process's writer is taking a ticket for the writer lock across processes
const PROC_TICKET = 8; // float64 (words 8-9): its ticket, or 0
const HEADER_WORDS = 10;
// per slot
const SLOT_WORDS = 10; // even: S_PUB_SINCE is a float64
const S_READERS = 0;
const S_EXCL = 1;
const S_VERSION = 2; // low 32 bits of the transaction id held in the slot
const S_WAITING = 3; // a writer is waiting for this slot's readers (0/1)
const S_WAITED_MS = 4; // total ms writers waited for this slot (wraps after ~24 days)
const S_PUB = 5; // this process's record shows a pin on the slot: PUB_NONE, PUB_SHOWN or PUB_CLEARING
const S_PUB_VERSION = 6; // low 32 bits of the version the record shows it pinned at
const S_PUB_SINCE = 8; // float64 (words 8-9): ms since epoch when the record began showing it
// reader table entry
const READER_WORDS = 12; // even: R_START is a float64
const R_OWNER = 0; // thread id + 1; 0 = free entry
const R_STATE = 1;
const R_SLOT = 2;
const R_TXN_LO = 3;
const R_TXN_HI = 4;
const R_SEQ = 5; // pin sequence of a thread entry: changes with every short read
const R_START = 6; // float64 (words 6-7): ms since epoch when the reader began
const R_KIND = 8;
const R_ASYNC_WAIT = 9; // thread entries: 1 while the thread has an async writer waiting for the mutex
const R_DROP = 10; // thread entries: 1 when a writer waiting for the entry's slot asks its lingering short-read pin to go

/** This process's record in the lock directory shows no pin on the slot (procs/process-pins.ts). */
export const PUB_NONE = 0;
export const PUB_SHOWN = 1;
/** A thread is withdrawing the record's pin on the slot (it re-checks the slot's reader count first). */
export const PUB_CLEARING = 2;

export const IDLE = 0;
export const ACTIVE = 1;
export const EXPIRED = 2;
/** An entry for one read transaction or range iterator. */
export const KIND_TXN = 1;
/** A thread's entry for its short reads (get, doesExist): at most one at a time per thread. */
export const KIND_THREAD = 2;

const LOG_CAPACITY = 1 << 16;
/** See lockRecord(). */
const RECORD_STEAL_MS = 250;
/** Threads that can have one file open at once (each has an entry for its short reads). */
export const MAX_THREADS = 64;

/** The transaction id whose low 32 bits are `low`, at or below `cur` (and within 2^32 of it). */
export function fullTxn(cur: number, low: number): number {
  return cur - ((cur - low) >>> 0);
}

export interface ReaderInfo {
  /** The thread (of process `processId`); -1 for a pin of another process, whose threads are not listed. */
  threadId: number;
  /** The process: this one, or for kind 'process' the one whose record holds the pin. */
  processId: number;
  slot: number;
  txnId: number;
  /** ms since epoch; for a thread's short reads, when the thread joined. */
  startedAt: number;
  /** 'process': another process pins the slot (one entry per process and slot, whatever its threads do). */
  kind: 'transaction' | 'short' | 'process';
  state: 'active' | 'expired';
}

export interface LockShape {
  nRoots: number;
  maxReaders: number;
}

export class LockTable {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly readersBase: number;
  private readonly logBase: number;
  readonly tid = threadId;
  readonly nRoots: number;
  /** Entries for read transactions and iterators; MAX_THREADS more come first, one per thread. */
  readonly maxReaders: number;
  private readonly entries: number;

  constructor(shape: LockShape, sab?: SharedArrayBuffer) {
    this.nRoots = shape.nRoots;
    this.maxReaders = shape.maxReaders;
    this.readersBase = HEADER_WORDS + shape.nRoots * SLOT_WORDS;
    this.entries = MAX_THREADS + shape.maxReaders;
    this.logBase = this.readersBase + this.entries * READER_WORDS;
    const words = this.logBase + LOG_CAPACITY;
    this.sab = sab ?? new SharedArrayBuffer(words * 4);
    if (this.sab.byteLength !== words * 4) throw new InvalidOptionError('lock table: shared buffer does not match nRoots/maxReaders');
    this.i32 = new Int32Array(this.sab);
    this.f64 = new Float64Array(this.sab);
  }

  // ---- openers

  addOpener(): number {
    return Atomics.add(this.i32, OPENERS, 1) + 1;
  }

  /** Returns how many threads still have the file open. */
  removeOpener(): number {
    return Atomics.sub(this.i32, OPENERS, 1) - 1;
  }

  // ---- durability hold (docs/design.md, "Opening after a crash")

  setHold(on: boolean): void {
    Atomics.store(this.i32, HOLD, on ? 1 : 0);
  }

  holding(): boolean {
    return Atomics.load(this.i32, HOLD) !== 0;
  }

  // ---- published version

  publish(txnId: number, slot: number): void {
    const i = this.i32;
    Atomics.store(i, HEADER_WORDS + slot * SLOT_WORDS + S_VERSION, txnId | 0);
    Atomics.store(i, SLOT, slot);
    Atomics.store(i, SEQ, txnId | 0);
  }

  publishedSeq(): number {
    return Atomics.load(this.i32, SEQ);
  }

  publishedSlot(): number {
    return Atomics.load(this.i32, SLOT);
  }

  /** Low 32 bits of the transaction id held in `slot`. */
  slotVersionLow(slot: number): number {
    return Atomics.load(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_VERSION);
  }

  // ---- readers

  /**
   * Tries once to pin the published version through entry `r`. Returns the slot, or -1 when a
   * commit or an expiry raced us (retry at once), or -2 - slot when the slot is held exclusively
   * (serial mode: wait for the writer).
   */
  tryPin(r: number): number {
    const i = this.i32;
    const e = this.readersBase + r * READER_WORDS;
    const v = Atomics.load(i, SEQ);
    const s = Atomics.load(i, SLOT);
    const base = HEADER_WORDS + s * SLOT_WORDS;
    Atomics.store(i, e + R_SLOT, s);
    Atomics.store(i, e + R_STATE, ACTIVE);
    Atomics.add(i, base + S_READERS, 1);
    if (Atomics.load(i, SEQ) === v && Atomics.load(i, base + S_EXCL) === 0 && Atomics.load(i, e + R_STATE) === ACTIVE) {
      return s;
    }
    this.release(r);
    return Atomics.load(i, base + S_EXCL) !== 0 && Atomics.load(i, SEQ) === v ? -2 - s : -1;
  }

  /** Drops the pin of entry `r`. Returns false when a writer had expired it (and dropped it). */
  release(r: number): boolean {
    const i = this.i32;
    const e = this.readersBase + r * READER_WORDS;
    if (Atomics.compareExchange(i, e + R_STATE, ACTIVE, IDLE) !== ACTIVE) {
      Atomics.store(i, e + R_STATE, IDLE);
      return false;
    }
    this.dropPin(Atomics.load(i, e + R_SLOT));
    return true;
  }

  /** Whether entry `r` holds a pin that no writer has expired. */
  isActive(r: number): boolean {
    return Atomics.load(this.i32, this.readersBase + r * READER_WORDS + R_STATE) === ACTIVE;
  }

  /**
   * Asks the thread entries pinning `slot` to drop their short-read pins (docs/design.md,
   * "Lingering short-read pin"): each drops it at its next get, at the end of the get in
   * progress, or when its thread's synchronous code ends (a microtask), whichever comes first.
   */
  askToDrop(slot: number): void {
    const i = this.i32;
    for (let r = 0; r < MAX_THREADS; r++) {
      const e = this.readersBase + r * READER_WORDS;
      if (Atomics.load(i, e + R_OWNER) !== 0 && Atomics.load(i, e + R_STATE) === ACTIVE && Atomics.load(i, e + R_SLOT) === slot) {
        Atomics.store(i, e + R_DROP, 1);
      }
    }
  }

  /** Whether a writer asked thread entry `r` to drop its pin. */
  dropAsked(r: number): boolean {
    return Atomics.load(this.i32, this.readersBase + r * READER_WORDS + R_DROP) !== 0;
  }

  /** Clears the request; call before pinning anew through `r`. */
  clearDrop(r: number): void {
    Atomics.store(this.i32, this.readersBase + r * READER_WORDS + R_DROP, 0);
  }

  /** Whether entry `r`'s pin has been expired by a writer (checked on every page read). */
  isExpired(r: number): boolean {
    return Atomics.load(this.i32, this.readersBase + r * READER_WORDS + R_STATE) === EXPIRED;
  }

  private dropPin(slot: number): void {
    const idx = HEADER_WORDS + slot * SLOT_WORDS + S_READERS;
    if (Atomics.sub(this.i32, idx, 1) === 1) Atomics.notify(this.i32, idx);
  }

  readers(slot: number): number {
    return Atomics.load(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_READERS);
  }

  /** Index of the READERS word of `slot`, for Atomics.wait / waitAsync. */
  readersIndex(slot: number): number {
    return HEADER_WORDS + slot * SLOT_WORDS + S_READERS;
  }

  exclIndex(slot: number): number {
    return HEADER_WORDS + slot * SLOT_WORDS + S_EXCL;
  }

  // ---- writer

  tryLockWriter(): boolean {
    return Atomics.compareExchange(this.i32, WRITER, 0, this.tid + 1) === 0;
  }

  writerOwner(): number {
    return Atomics.load(this.i32, WRITER) - 1;
  }

  unlockWriter(): void {
    Atomics.store(this.i32, WRITER, 0);
    Atomics.notify(this.i32, WRITER);
  }

  get writerIndex(): number {
    return WRITER;
  }

  /** Flags (on this thread's entry `r`) that an async writer of this thread waits for the mutex. */
  setAsyncWaiting(r: number, on: boolean): void {
    Atomics.store(this.i32, this.readersBase + r * READER_WORDS + R_ASYNC_WAIT, on ? 1 : 0);
  }

  /** Whether a thread other than this one has an async writer waiting for the mutex. */
  otherAsyncWaiting(): boolean {
    const i = this.i32;
    for (let r = 0; r < MAX_THREADS; r++) {
      const e = this.readersBase + r * READER_WORDS;
      if (Atomics.load(i, e + R_ASYNC_WAIT) !== 0 && Atomics.load(i, e + R_OWNER) !== this.tid + 1) return true;
    }
    return false;
  }

  holdSlot(slot: number): void {
    Atomics.store(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_EXCL, 1);
  }

  releaseSlot(slot: number): void {
    const idx = HEADER_WORDS + slot * SLOT_WORDS + S_EXCL;
    Atomics.store(this.i32, idx, 0);
    Atomics.notify(this.i32, idx);
  }

  setWaiting(slot: number, waiting: boolean): void {
    Atomics.store(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_WAITING, waiting ? 1 : 0);
  }

  isWaiting(slot: number): boolean {
    return Atomics.load(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_WAITING) !== 0;
  }

  addWaited(slot: number, ms: number): void {
    Atomics.add(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_WAITED_MS, Math.round(ms));
  }

  waitedMs(slot: number): number {
    return Atomics.load(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_WAITED_MS) >>> 0;
  }

  // ---- reader table

  /** Claims an entry for a read transaction (or a thread's short reads); -1 when the table is full. */
  claim(kind: number, now: number): number {
    const i = this.i32;
    const [from, to] = kind === KIND_THREAD ? [0, MAX_THREADS] : [MAX_THREADS, this.entries];
    for (let r = from; r < to; r++) {
      const e = this.readersBase + r * READER_WORDS;
      if (Atomics.compareExchange(i, e + R_OWNER, 0, this.tid + 1) === 0) {
        Atomics.store(i, e + R_STATE, IDLE);
        Atomics.store(i, e + R_KIND, kind);
        Atomics.store(i, e + R_SEQ, 0);
        Atomics.store(i, e + R_ASYNC_WAIT, 0);
        Atomics.store(i, e + R_DROP, 0);
        this.f64[(e + R_START) >>> 1] = now;
        return r;
      }
    }
    return -1;
  }

  /** Records the full version id of a transaction entry (for readers() and stats); claim() set its start. */
  setTxn(r: number, txnId: number): void {
    const e = this.readersBase + r * READER_WORDS;
    Atomics.store(this.i32, e + R_TXN_LO, txnId | 0);
    Atomics.store(this.i32, e + R_TXN_HI, Math.floor(txnId / 0x100000000));
  }

  /** Marks a new short read on a thread entry (the writer tells old pins from new ones by it). */
  bumpSeq(r: number): void {
    Atomics.add(this.i32, this.readersBase + r * READER_WORDS + R_SEQ, 1);
  }

  /** Frees an entry; its pin must have been released. A freed entry waits for nothing. */
  unclaim(r: number): void {
    Atomics.store(this.i32, this.readersBase + r * READER_WORDS + R_ASYNC_WAIT, 0);
    Atomics.store(this.i32, this.readersBase + r * READER_WORDS + R_OWNER, 0);
  }

  /**
   * Expires the pins on `slot` that are older than `maxAgeMs`: transaction entries by their start
   * time; a thread's short read when its pin sequence is the same one seen `maxAgeMs` ago
   * (`seen`, from snapshotShortReads). Returns what it expired.
   */
  expire(slot: number, maxAgeMs: number, now: number, seen: Map<number, number>): ReaderInfo[] {
    const out: ReaderInfo[] = [];
    const i = this.i32;
    for (let r = 0; r < this.entries; r++) {
      const e = this.readersBase + r * READER_WORDS;
      if (Atomics.load(i, e + R_OWNER) === 0 || Atomics.load(i, e + R_STATE) !== ACTIVE || Atomics.load(i, e + R_SLOT) !== slot) continue;
      const kind = Atomics.load(i, e + R_KIND);
      const old = kind === KIND_TXN
        ? now - this.f64[(e + R_START) >>> 1]! >= maxAgeMs
        : seen.get(r) === Atomics.load(i, e + R_SEQ);
      if (!old) continue;
      const info = this.info(r);
      if (Atomics.compareExchange(i, e + R_STATE, ACTIVE, EXPIRED) === ACTIVE) {
        this.dropPin(slot);
        out.push(info);
      }
    }
    return out;
  }

  /** Pin sequences of the active short reads on `slot`, to compare after waiting. */
  snapshotShortReads(slot: number): Map<number, number> {
    const m = new Map<number, number>();
    const i = this.i32;
    for (let r = 0; r < this.entries; r++) {
      const e = this.readersBase + r * READER_WORDS;
      if (Atomics.load(i, e + R_OWNER) !== 0 && Atomics.load(i, e + R_KIND) === KIND_THREAD
        && Atomics.load(i, e + R_STATE) === ACTIVE && Atomics.load(i, e + R_SLOT) === slot) {
        m.set(r, Atomics.load(i, e + R_SEQ));
      }
    }
    return m;
  }

  private info(r: number): ReaderInfo {
    const i = this.i32;
    const e = this.readersBase + r * READER_WORDS;
    return {
      threadId: Atomics.load(i, e + R_OWNER) - 1,
      processId: process.pid,
      slot: Atomics.load(i, e + R_SLOT),
      txnId: (Atomics.load(i, e + R_TXN_LO) >>> 0) + (Atomics.load(i, e + R_TXN_HI) >>> 0) * 0x100000000,
      startedAt: this.f64[(e + R_START) >>> 1]!,
      kind: Atomics.load(i, e + R_KIND) === KIND_TXN ? 'transaction' : 'short',
      state: Atomics.load(i, e + R_STATE) === EXPIRED ? 'expired' : 'active',
    };
  }

  /** Active (or expired but not yet ended) read transactions, and short reads in progress. */
  list(): ReaderInfo[] {
    const out: ReaderInfo[] = [];
    const i = this.i32;
    for (let r = 0; r < this.entries; r++) {
      const e = this.readersBase + r * READER_WORDS;
      if (Atomics.load(i, e + R_OWNER) === 0 || Atomics.load(i, e + R_STATE) === IDLE) continue;
      out.push(this.info(r));
    }
    return out;
  }

  /** Releases every entry owned by thread `tid` (its thread is gone or closing); returns whether it had joined (owned a thread entry). */
  releaseThread(tid: number): boolean {
    const i = this.i32;
    let joined = false;
    for (let r = 0; r < this.entries; r++) {
      const e = this.readersBase + r * READER_WORDS;
      if (Atomics.load(i, e + R_OWNER) !== tid + 1) continue;
      if (Atomics.load(i, e + R_KIND) === KIND_THREAD) joined = true;
      this.release(r);
      this.unclaim(r);
    }
    // a thread terminated while it wrote the process's record
    if (Atomics.compareExchange(i, PROC_MUTEX, tid + 1, 0) === tid + 1) Atomics.notify(i, PROC_MUTEX);
    return joined;
  }

  // ---- this process's record in the lock directory (procs/): its state, shared by the threads

  /**
   * Takes the mutex under which a thread rewrites the process's record; waits at most `ms`. It is
   * held for one pwrite, so a holder that keeps it for RECORD_STEAL_MS is taken to be a thread
   * that was terminated while writing (Worker.terminate() can stop a thread anywhere), and the
   * mutex is taken from it. If that thread was only slow, its late write may drop a pin from the
   * record for a moment: a writer of another process could then reuse that version's pages, and
   * the reader would get a typed error from the birth check, never a wrong value.
   */
  lockRecord(ms: number): boolean {
    const i = this.i32;
    const start = Date.now();
    let owner = 0;
    let since = start;
    for (;;) {
      const cur = Atomics.compareExchange(i, PROC_MUTEX, 0, this.tid + 1);
      if (cur === 0) return true;
      const now = Date.now();
      if (cur !== owner) { owner = cur; since = now; }
      if (now - since >= RECORD_STEAL_MS && Atomics.compareExchange(i, PROC_MUTEX, cur, this.tid + 1) === cur) return true;
      const left = start + ms - now;
      if (left <= 0) return false;
      Atomics.wait(i, PROC_MUTEX, cur, Math.min(left, RECORD_STEAL_MS));
    }
  }

  unlockRecord(): void {
    Atomics.store(this.i32, PROC_MUTEX, 0);
    Atomics.notify(this.i32, PROC_MUTEX);
  }

  pubState(slot: number): number {
    return Atomics.load(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_PUB);
  }

  pubVersion(slot: number): number {
    return Atomics.load(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_PUB_VERSION);
  }

  pubSince(slot: number): number {
    return this.f64[(HEADER_WORDS + slot * SLOT_WORDS + S_PUB_SINCE) >>> 1]!;
  }

  /** Under lockRecord: sets what the record shows for `slot`. */
  setPub(slot: number, state: number, versionLow = 0, since = 0): void {
    const base = HEADER_WORDS + slot * SLOT_WORDS;
    if (state === PUB_SHOWN) {
      Atomics.store(this.i32, base + S_PUB_VERSION, versionLow | 0);
      this.f64[(base + S_PUB_SINCE) >>> 1] = since;
    }
    Atomics.store(this.i32, base + S_PUB, state);
  }

  /** Under lockRecord: this process's bakery state for the writer lock across processes. */
  setTicket(choosing: boolean, ticket: number): void {
    Atomics.store(this.i32, PROC_CHOOSING, choosing ? 1 : 0);
    this.f64[PROC_TICKET >>> 1] = ticket;
  }

  choosing(): boolean {
    return Atomics.load(this.i32, PROC_CHOOSING) !== 0;
  }

  ticket(): number {
    return this.f64[PROC_TICKET >>> 1]!;
  }

  /** Sets the low 32 bits of the version `slot` holds (another process wrote it: procs/). */
  setSlotVersion(slot: number, txnId: number): void {
    Atomics.store(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_VERSION, txnId | 0);
  }

  // ---- reuse log: page numbers whose contents a commit replaced, for other threads' caches

  get logHead(): number {
    return Atomics.load(this.i32, LOG_HEAD) >>> 0;
  }

  /** Appends page numbers (the writer only; entries become visible before the publish). */
  appendLog(pages: Iterable<number>): void {
    let head = this.logHead;
    for (const p of pages) {
      Atomics.store(this.i32, this.logBase + (head & (LOG_CAPACITY - 1)), p | 0);
      head = (head + 1) >>> 0;
    }
    Atomics.store(this.i32, LOG_HEAD, head | 0);
  }

  /**
   * Calls `drop` for every page logged since `cursor` and returns the new cursor; calls
   * `dropAll` instead when more was logged than the log holds.
   */
  readLog(cursor: number, drop: (pgno: number) => void, dropAll: () => void): number {
    const head = this.logHead;
    const n = (head - cursor) >>> 0;
    if (n === 0) return head;
    if (n > LOG_CAPACITY) {
      dropAll();
      return head;
    }
    for (let k = cursor; k !== head; k = (k + 1) >>> 0) drop(Atomics.load(this.i32, this.logBase + (k & (LOG_CAPACITY - 1))) >>> 0);
    // A writer of another thread may have appended meanwhile; past the ring's size it overwrote
    // entries this loop read, so what it read may be wrong: drop everything.
    if (((this.logHead - cursor) >>> 0) > LOG_CAPACITY) dropAll();
    return head;
  }
}
