/**
 * The lock table: every word that coordinates readers and the writer lives in one
 * SharedArrayBuffer, so threads that share it (issue: worker threads) coordinate through the same
 * protocol that a single thread uses. All accesses are Atomics (sequentially consistent).
 *
 * Lock order (docs/design.md): writer mutex, then the target slot's exclusive hold. A reader
 * holds one slot pin and takes nothing else. Nobody waits for the writer mutex while holding a pin
 * of its own thread: that would deadlock, and the sync paths detect it and throw instead.
 *
 * Pin protocol (reader):            Publish protocol (writer T into slot s = T mod n):
 *   v = SEQ; s = SLOT                  EXCL[s] = 1; wait until READERS[s] == 0
 *   READERS[s] += 1                    ... write pages, sync, write slot, sync ...
 *   if SEQ != v or EXCL[s]: undo,      VERSION[s] = T; SLOT = s; SEQ = T (low 32 bits)
 *      retry                           EXCL[s] = 0
 * A reader whose re-check passes pinned version v before any later SEQ store, so every later
 * writer sees its pin when it computes the oldest pinned version (Dekker-style: increment, then
 * load; store, then load).
 */
import { threadId } from 'node:worker_threads';

const WRITER = 0; // owner thread id + 1, or 0
const SEQ = 1; // low 32 bits of the published (current) transaction id
const SLOT = 2; // slot of the published version
const HEADER_WORDS = 8;
const SLOT_WORDS = 4;
const S_READERS = 0;
const S_EXCL = 1;
const S_VERSION = 2; // low 32 bits of the transaction id held in the slot
const S_WAIT_SINCE = 3; // seconds (env clock) since a writer began waiting on this slot, 0 if none
const READER_WORDS = 8; // [owner tid + 1][slot][txn lo][txn hi][start ms as float64 (2 words)][2 spare]

export interface ReaderInfo {
  threadId: number;
  slot: number;
  txnId: number;
  startedAt: number;
}

export class LockTable {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly readersBase: number;
  readonly tid = threadId;

  constructor(readonly nRoots: number, readonly maxReaders: number, sab?: SharedArrayBuffer) {
    this.readersBase = HEADER_WORDS + nRoots * SLOT_WORDS;
    const words = this.readersBase + maxReaders * READER_WORDS;
    this.sab = sab ?? new SharedArrayBuffer(words * 4);
    this.i32 = new Int32Array(this.sab);
    this.f64 = new Float64Array(this.sab);
  }

  // ---- published version

  publish(txnId: number, slot: number): void {
    const i = this.i32;
    Atomics.store(i, HEADER_WORDS + slot * SLOT_WORDS + S_VERSION, txnId | 0);
    Atomics.store(i, SLOT, slot);
    Atomics.store(i, SEQ, txnId | 0);
  }

  /** Low 32 bits of the transaction id held in `slot`. */
  slotVersionLow(slot: number): number {
    return Atomics.load(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_VERSION);
  }

  // ---- readers

  /**
   * Tries once to pin the published version. Returns its slot, or -1 when a commit raced us
   * (retry at once), or -2 - slot when the slot is held exclusively (serial mode: wait).
   */
  tryPin(): number {
    const i = this.i32;
    const v = Atomics.load(i, SEQ);
    const s = Atomics.load(i, SLOT);
    const base = HEADER_WORDS + s * SLOT_WORDS;
    Atomics.add(i, base + S_READERS, 1);
    if (Atomics.load(i, SEQ) === v && Atomics.load(i, base + S_EXCL) === 0) return s;
    this.unpin(s);
    return Atomics.load(i, base + S_EXCL) !== 0 ? -2 - s : -1;
  }

  unpin(slot: number): void {
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

  holdSlot(slot: number): void {
    Atomics.store(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_EXCL, 1);
  }

  releaseSlot(slot: number): void {
    const idx = HEADER_WORDS + slot * SLOT_WORDS + S_EXCL;
    Atomics.store(this.i32, idx, 0);
    Atomics.notify(this.i32, idx);
  }

  setWaitSince(slot: number, seconds: number): void {
    Atomics.store(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_WAIT_SINCE, seconds);
  }

  waitSince(slot: number): number {
    return Atomics.load(this.i32, HEADER_WORDS + slot * SLOT_WORDS + S_WAIT_SINCE);
  }

  // ---- reader table (long-lived readers: explicit transactions and range iterators)

  /** Claims an entry; returns its index or -1 when the table is full. */
  register(slot: number, txnId: number, now: number): number {
    const i = this.i32;
    for (let r = 0; r < this.maxReaders; r++) {
      const base = this.readersBase + r * READER_WORDS;
      if (Atomics.compareExchange(i, base, 0, this.tid + 1) === 0) {
        Atomics.store(i, base + 1, slot);
        Atomics.store(i, base + 2, txnId >>> 0);
        Atomics.store(i, base + 3, Math.floor(txnId / 0x100000000));
        this.f64[(base + 4) >>> 1] = now;
        return r;
      }
    }
    return -1;
  }

  unregister(r: number): void {
    Atomics.store(this.i32, this.readersBase + r * READER_WORDS, 0);
  }

  list(): ReaderInfo[] {
    const out: ReaderInfo[] = [];
    const i = this.i32;
    for (let r = 0; r < this.maxReaders; r++) {
      const base = this.readersBase + r * READER_WORDS;
      const owner = Atomics.load(i, base);
      if (owner === 0) continue;
      out.push({
        threadId: owner - 1,
        slot: Atomics.load(i, base + 1),
        txnId: (Atomics.load(i, base + 2) >>> 0) + (Atomics.load(i, base + 3) >>> 0) * 0x100000000,
        startedAt: this.f64[(base + 4) >>> 1]!,
      });
    }
    return out;
  }
}
