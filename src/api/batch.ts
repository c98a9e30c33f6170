/**
 * A batch of asynchronous writes (put/remove of one event-loop turn), encoded as bytes in one
 * buffer so that it costs one allocation per batch instead of several per write, and so that it
 * can be handed to the writer thread (api/writer-thread.ts) by transferring that buffer.
 *
 * Each operation, little-endian:
 *
 *   0  u8   kind       1 put, 2 remove; | 0x80: conditional (ifVersion follows); | 0x40: ifVersion is null
 *   1  u8   reserved   0
 *   2  u16  database   index into the batch's names (null: the main database)
 *   4  u16  key length
 *   6  u16  reserved   0
 *   8  u32  value length (0 for a remove)
 *  12  f64  ifVersion  only when conditional and not null
 *   .. key bytes, then value bytes
 *
 * Unconditional puts resolve to true when their commit is durable; they share one promise per
 * batch (as lmdb-js's do), so a put allocates no promise of its own. Removes and conditional
 * puts resolve to their own result (existed / condition held) and get a promise each.
 */
import { del, lookup, put } from '../btree/tree.js';
import { LeafCell } from '../btree/leaf-cell.js';
import type { WriteTxn } from '../txn/write.js';
import { satisfies } from './versions.js';

const PUT = 1;
const REMOVE = 2;
const CONDITIONAL = 0x80;
const IF_NULL = 0x40;
const HEADER = 12;
const FIRST_SIZE = 64 * 1024;

/** What a batch's operations are applied with, in a thread: the result of each (1 true, 0 false). */
export type BatchResults = Uint8Array;

/** A batch as it crosses to the writer thread (structured clone; `bytes` is transferred). */
export interface BatchMessage {
  id: number;
  names: Array<string | null>;
  bytes: ArrayBuffer;
  length: number;
  count: number;
}

/**
 * Batch buffers for reuse: a batch's buffer goes back once it is applied (here, or returned by
 * the writer thread), so that a steady stream of batches allocates, zeroes and grows none (at
 * 1,000 puts per event-loop turn a batch is about a quarter MiB).
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  take(): ArrayBuffer | undefined {
    return this.free.pop();
  }

  give(b: ArrayBuffer): void {
    if (this.free.length < POOL_BUFFERS && b.byteLength > 0 && b.byteLength <= POOL_MAX_BYTES) this.free.push(b); // a transferred (detached) buffer has length 0
  }
}

const POOL_BUFFERS = 4;
const POOL_MAX_BYTES = 4 * 1024 * 1024;

interface Waiter { index: number; resolve(v: boolean): void; reject(e: unknown): void }

export class WriteBatch {
  private bytes: Uint8Array;
  private view: DataView;
  /** Bytes used. */
  length = 0;
  /** Operations encoded. */
  count = 0;
  readonly names: Array<string | null> = [];
  private readonly nameIndex = new Map<string | null, number>();
  private readonly waiters: Waiter[] = [];
  private all: { promise: Promise<boolean>; resolve(v: boolean): void; reject(e: unknown): void } | null = null;
  private over = false;
  private end!: () => void;
  /** Resolves once the batch's promises have settled (either way); never rejects. */
  readonly settled = new Promise<void>((r) => {
    this.end = r;
  });

  /** `buffer`: one to reuse (a settled batch's, see BufferPool), else a new one is allocated. */
  constructor(buffer?: ArrayBuffer) {
    this.bytes = new Uint8Array(buffer ?? new ArrayBuffer(FIRST_SIZE));
    this.view = new DataView(this.bytes.buffer);
  }

  /** The buffer, for reuse once the batch is applied (the batch is then unusable). */
  release(): ArrayBuffer {
    return this.bytes.buffer as ArrayBuffer;
  }

  /** Adds a put; `ifVersion` undefined: unconditional. The bytes are copied now. */
  put(name: string | null, key: Uint8Array, klen: number, value: Uint8Array, ifVersion: number | null | undefined): Promise<boolean> {
    this.encode(PUT, name, key, klen, value, value.length, ifVersion);
    return ifVersion === undefined ? this.shared() : this.own();
  }

  /** Adds a remove; resolves to whether the key existed (and the condition held). */
  remove(name: string | null, key: Uint8Array, klen: number, ifVersion: number | null | undefined): Promise<boolean> {
    this.encode(REMOVE, name, key, klen, key, 0, ifVersion);
    return this.own();
  }

  /** The batch as a message for the writer thread; the batch's buffer is no longer usable here. */
  message(id: number): { message: BatchMessage; transfer: ArrayBuffer[] } {
    const bytes = this.bytes.buffer as ArrayBuffer;
    return { message: { id, names: this.names, bytes, length: this.length, count: this.count }, transfer: [bytes] };
  }

  /** Applies every operation in `txn` (in this thread), in order, from `from`; see applyBatch. */
  applyFrom(txn: WriteTxn, out: BatchResults, from: { op: number; at: number }, deadline: number): boolean {
    return applyBatch(txn, this.names, this.bytes, this.length, out, from, deadline);
  }

  resolve(results: BatchResults | null): void {
    if (this.over) return;
    this.over = true;
    this.all?.resolve(true);
    for (const w of this.waiters) w.resolve(results !== null && results[w.index] === 1);
    this.end();
  }

  reject(e: unknown): void {
    if (this.over) return;
    this.over = true;
    this.all?.reject(e);
    for (const w of this.waiters) w.reject(e);
    this.end();
  }

  private shared(): Promise<boolean> {
    if (this.all === null) {
      let resolve!: (v: boolean) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<boolean>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.all = { promise, resolve, reject };
    }
    return this.all.promise;
  }

  private own(): Promise<boolean> {
    const index = this.count - 1;
    return new Promise<boolean>((resolve, reject) => {
      this.waiters.push({ index, resolve, reject });
    });
  }

  private encode(kind: number, name: string | null, key: Uint8Array, klen: number, value: Uint8Array, vlen: number, ifVersion: number | null | undefined): void {
    const conditional = ifVersion !== undefined;
    const size = HEADER + (conditional && ifVersion !== null ? 8 : 0) + klen + vlen;
    if (this.length + size > this.bytes.length) this.grow(this.length + size);
    let db = this.nameIndex.get(name);
    if (db === undefined) {
      db = this.names.length;
      this.names.push(name);
      this.nameIndex.set(name, db);
    }
    const b = this.bytes;
    const v = this.view;
    let at = this.length;
    b[at] = kind | (conditional ? CONDITIONAL : 0) | (ifVersion === null ? IF_NULL : 0);
    b[at + 1] = 0;
    v.setUint16(at + 2, db, true);
    v.setUint16(at + 4, klen, true);
    v.setUint16(at + 6, 0, true);
    v.setUint32(at + 8, vlen, true);
    at += HEADER;
    if (conditional && ifVersion !== null) {
      v.setFloat64(at, ifVersion, true);
      at += 8;
    }
    b.set(klen === key.length ? key : key.subarray(0, klen), at);
    at += klen;
    if (vlen > 0) b.set(value, at);
    this.length = at + vlen;
    this.count++;
  }

  private grow(need: number): void {
    let n = this.bytes.length * 2;
    while (n < need) n *= 2;
    const next = new Uint8Array(n);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }
}

/**
 * Applies encoded operations in `txn`, in order, starting at `from` (which it advances), writing
 * each result into `out`; returns true when all are applied, false when `deadline`
 * (performance.now()) passed first. A conditional operation checks its condition in `txn`, at
 * commit time, as lmdb-js does.
 */
export function applyBatch(
  txn: WriteTxn, names: ReadonlyArray<string | null>, bytes: Uint8Array, length: number,
  out: BatchResults, from: { op: number; at: number }, deadline: number,
): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hit = new LeafCell();
  let at = from.at;
  let op = from.op;
  while (at < length) {
    const flags = bytes[at]!;
    const tree = txn.tree(names[view.getUint16(at + 2, true)] as string | null);
    const klen = view.getUint16(at + 4, true);
    const vlen = view.getUint32(at + 8, true);
    at += HEADER;
    let holds = true;
    if (flags & CONDITIONAL) {
      let ifVersion: number | null = null;
      if ((flags & IF_NULL) === 0) {
        ifVersion = view.getFloat64(at, true);
        at += 8;
      }
      const key = bytes.subarray(at, at + klen);
      holds = satisfies(lookup(txn, tree, key, klen, hit) ? hit.value(txn) : undefined, ifVersion);
    }
    const key = bytes.subarray(at, at + klen);
    at += klen;
    let result = holds;
    if (holds) {
      txn.assertActive();
      txn.modCount++;
      if ((flags & 0x0f) === PUT) put(txn, tree, key, klen, bytes.subarray(at, at + vlen), vlen);
      else result = del(txn, tree, key, klen);
    }
    at += vlen;
    out[op++] = result ? 1 : 0;
    if ((op & 63) === 0 && at < length && performance.now() >= deadline) break;
  }
  from.at = at;
  from.op = op;
  return at >= length;
}
