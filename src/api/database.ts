/**
 * The public API, close to lmdb-js: a RootDatabase per file, named databases from openDB(),
 * get/getRange/put/remove and their Sync forms, transactions as callbacks or as objects
 * (api/transactions.ts). open() is in api/open.ts, range iteration in api/range-iterator.ts.
 *
 * Routing rule: while this thread has a write transaction open (transactionSync, an explicit
 * beginWrite(), or the callback of transaction()), every read and write made through any database
 * handle of the file goes into that transaction, as in lmdb-js.
 */
import type { Environment, DatabaseHandle } from '../env/environment.js';
import { keyCodec, type Key, type KeyCodec } from '../encoding/keys.js';
import { valueCodec, type ValueCodec } from '../encoding/values.js';
import { del, lookup, put } from '../btree/tree.js';
import { LeafCell } from '../btree/leaf-cell.js';
import { MAX_VALUE_SIZE, maxKeySize, type PageReader, type TreeInfo } from '../btree/store.js';
import type { WriteQueue } from './write-queue.js';
import type { ReadTxn } from '../txn/read.js';
import type { WriteTxn } from '../txn/write.js';
import { RangeIterable } from './range.js';
import { RangeIterator } from './range-iterator.js';
import { ReadTransaction, WriteTransaction } from './transactions.js';
import { checkEnvironment, type CheckReport } from '../tools/check.js';
import { databaseStats, type Stats } from '../tools/stats.js';
import type { ReaderInfo } from '../sync/locks.js';
import { compact, type CompactOptions, type CompactResult } from '../tools/compact.js';
import { backup, type BackupOptions, type BackupResult } from '../tools/backup.js';
import { dump, type DumpOptions, type DumpResult } from '../tools/dump.js';
import { load, type DumpReader, type LoadOptions, type LoadResult } from '../tools/load.js';
import type { Readable, Writable } from 'node:stream';
import type { DatabaseOptions, DatabaseRef, Entry, RangeOptions } from './types.js';
import { InvalidKeyError, InvalidOptionError, KeyTooLargeError, ValueTooLargeError } from '../errors.js';

export type { DatabaseOptions, Entry, KeyEncoding, RangeOptions, ValueEncoding } from './types.js';

/** Which version a read sees: the thread's open write transaction, or a pinned snapshot. */
type View = { reader: PageReader; tree: TreeInfo | undefined; done(): void; txn: WriteTxn | null };

export class Database<V = any> implements DatabaseRef<V> {
  /** @internal */ readonly env: Environment;
  /** @internal */ readonly queue: WriteQueue;
  readonly name: string | null;
  /** @internal */ readonly keyCodec: KeyCodec;
  /** @internal */ readonly valueCodec: ValueCodec;
  /** @internal Scratch space for the encoded key of the current call. */
  readonly keyBuf: Buffer;
  /** Where lookups of this handle leave the cell they found; read at once, before any other lookup. */
  private readonly hit = new LeafCell();
  private readonly maxKey: number;

  /** @internal */
  constructor(env: Environment, queue: WriteQueue, name: string | null, opts: DatabaseOptions) {
    this.env = env;
    this.queue = queue;
    this.name = name;
    this.keyCodec = keyCodec(opts.keyEncoding);
    this.valueCodec = valueCodec(opts.encoding);
    this.maxKey = maxKeySize(env.pageSize);
    this.keyBuf = Buffer.allocUnsafeSlow(this.maxKey + 8);
  }

  /** The longest encoded key this database accepts, in bytes. */
  get maxKeySize(): number {
    return this.maxKey;
  }

  // ---------------------------------------------------------------- encoding

  /** @internal Encodes `key` into the scratch buffer and returns its length. */
  encodeKey(key: unknown): number {
    if (key === undefined) throw new InvalidKeyError('undefined cannot be a key');
    const n = this.keyCodec.write(key, this.keyBuf);
    if (n > this.maxKey) throw new KeyTooLargeError(n, this.maxKey);
    return n;
  }

  /** @internal */
  encodeKeyCopy(key: unknown): Buffer {
    return Buffer.from(this.keyBuf.subarray(0, this.encodeKey(key)));
  }

  /** @internal */
  encodeValue(value: unknown): Uint8Array {
    const v = this.valueCodec.encode(value);
    if (v.length > MAX_VALUE_SIZE) throw new ValueTooLargeError(v.length, MAX_VALUE_SIZE);
    return v;
  }

  /** @internal */
  decodeKey(bytes: Uint8Array): Key {
    return this.keyCodec.read(bytes, 0, bytes.length);
  }

  /** @internal */
  decodeValue(bytes: Uint8Array): V {
    return this.valueCodec.decode(bytes) as V;
  }

  // ---------------------------------------------------------------- reads

  private view(): View {
    const env = this.env;
    env.checkOpen();
    const w = env.writeTxn;
    if (w !== null) return { reader: w, tree: w.tree(this.name), done: noop, txn: w };
    const r = env.beginRead(false);
    return { reader: r, tree: r.tree(this.name), done: () => r.end(), txn: null };
  }

  get(key: unknown): V | undefined {
    const klen = this.encodeKey(key);
    const env = this.env;
    env.checkOpen();
    if (env.writeTxn === null) {
      // The hot path: pin, descend, decode, unpin.
      const r = env.beginRead(false);
      try {
        return this.getIn(r, r.tree(this.name), klen);
      } finally {
        r.end();
      }
    }
    const v = this.view();
    return this.getIn(v.reader, v.tree, klen);
  }

  /** @internal The value of the encoded key in `keyBuf[0, klen)`, decoded. */
  getIn(r: PageReader, tree: TreeInfo | undefined, klen: number): V | undefined {
    const hit = this.hit;
    if (tree === undefined || !lookup(r, tree, this.keyBuf, klen, hit)) return undefined;
    if (hit.isOverflow) return this.valueCodec.decode(hit.value(r)) as V;
    return this.valueCodec.decodeAt(hit.page as Buffer, hit.valueStart, hit.valueEnd) as V; // pages are Buffers (pager.ts, write.ts)
  }

  /** @internal Whether the encoded key in `keyBuf[0, klen)` exists. */
  existsIn(r: PageReader, tree: TreeInfo | undefined, klen: number): boolean {
    return tree !== undefined && lookup(r, tree, this.keyBuf, klen, this.hit);
  }

  /** The stored bytes of a value, copied (whatever the encoding). */
  getBinary(key: unknown): Buffer | undefined {
    const klen = this.encodeKey(key);
    const v = this.view();
    try {
      const hit = this.hit;
      if (v.tree === undefined || !lookup(v.reader, v.tree, this.keyBuf, klen, hit)) return undefined;
      return Buffer.from(hit.value(v.reader));
    } finally {
      v.done();
    }
  }

  /**
   * The stored bytes of a value without a copy: a view of the page the value lives in (or of its
   * overflow run). Valid until the next call of any method of this database's file in this
   * thread, as lmdb-js's getBinaryFast: read it or copy it at once. (Outside a write transaction
   * the bytes stay intact even longer, since committed pages never change, but that is not
   * promised; inside one the next write may change them.) Writing into it is not allowed.
   */
  getBinaryFast(key: unknown): Buffer | undefined {
    const klen = this.encodeKey(key);
    const env = this.env;
    env.checkOpen();
    if (env.writeTxn !== null) {
      const w = env.writeTxn;
      return this.viewIn(w, w.tree(this.name), klen);
    }
    const r = env.beginRead(false);
    try {
      return this.viewIn(r, r.tree(this.name), klen);
    } finally {
      r.end();
    }
  }

  private viewIn(r: PageReader, tree: TreeInfo | undefined, klen: number): Buffer | undefined {
    const hit = this.hit;
    if (tree === undefined || !lookup(r, tree, this.keyBuf, klen, hit)) return undefined;
    if (hit.isOverflow) return asBuffer(hit.value(r));
    return (hit.page as Buffer).subarray(hit.valueStart, hit.valueEnd); // pages are Buffers (pager.ts, write.ts)
  }

  doesExist(key: unknown): boolean {
    const klen = this.encodeKey(key);
    const v = this.view();
    try {
      return this.existsIn(v.reader, v.tree, klen);
    } finally {
      v.done();
    }
  }

  /**
   * Entries in key order from `start` (inclusive) to `end` (exclusive), lazily. The iteration reads
   * one snapshot: the version current when it starts (or the open write transaction).
   */
  getRange(options: RangeOptions = {}): RangeIterable<Entry<V>> {
    return new RangeIterable(() => this.iterate(options, true) as Iterator<Entry<V>>);
  }

  /** Keys in order, as getRange but without decoding values. */
  getKeys(options: RangeOptions = {}): RangeIterable<Key> {
    return new RangeIterable(() => this.iterate(options, false) as Iterator<Key>);
  }

  /**
   * @internal Range iteration over a given transaction (the explicit transaction objects), else
   * over the thread's open write transaction or a fresh snapshot (see RangeIterator).
   */
  iterate(options: RangeOptions, withValues: boolean, given?: ReadTxn | WriteTxn): Iterator<Entry<V> | Key> {
    return new RangeIterator<V>(this, options, withValues, given);
  }

  // ---------------------------------------------------------------- writes

  /** @internal Puts an encoded key and value into `txn`. */
  putIn(txn: WriteTxn, key: Uint8Array, klen: number, value: Uint8Array): boolean {
    txn.assertActive();
    txn.modCount++;
    return put(txn, txn.tree(this.name), key, klen, value, value.length);
  }

  /** @internal */
  removeIn(txn: WriteTxn, key: Uint8Array, klen: number): boolean {
    txn.assertActive();
    txn.modCount++;
    return del(txn, txn.tree(this.name), key, klen);
  }

  /**
   * Stores `value` under `key`. Resolves (to true) once the write is committed and durable; every
   * put and remove of this event-loop turn shares that one commit. Inside an open write
   * transaction of this thread, writes into it and resolves at once.
   */
  put(key: unknown, value: V): Promise<boolean> {
    const klen = this.encodeKey(key);
    const v = this.encodeValue(value);
    const env = this.env;
    env.checkOpen();
    if (env.writeTxn !== null) return Promise.resolve(this.putIn(env.writeTxn, this.keyBuf, klen, v) || true);
    const k = Buffer.from(this.keyBuf.subarray(0, klen));
    const vc = Uint8Array.prototype.slice.call(v); // a copy: the encoder's buffer or the caller's Buffer may change before the batch runs
    return new Promise((resolve, reject) => {
      this.queue.add({ apply: (txn) => (this.putIn(txn, k, klen, vc), true), resolve, reject });
    });
  }

  /** Removes `key`. Resolves to whether it existed, once committed and durable (batched as put). */
  remove(key: unknown): Promise<boolean> {
    const klen = this.encodeKey(key);
    const env = this.env;
    env.checkOpen();
    if (env.writeTxn !== null) return Promise.resolve(this.removeIn(env.writeTxn, this.keyBuf, klen));
    const k = Buffer.from(this.keyBuf.subarray(0, klen));
    return new Promise((resolve, reject) => {
      this.queue.add({ apply: (txn) => this.removeIn(txn, k, klen), resolve, reject });
    });
  }

  /** Stores `value` under `key` and commits durably before returning (or writes into the open transaction). Returns true when the key was new. */
  putSync(key: unknown, value: V): boolean {
    const klen = this.encodeKey(key);
    const v = this.encodeValue(value);
    return this.env.writeTxn !== null
      ? this.putIn(this.env.writeTxn, this.keyBuf, klen, v)
      : this.transactionSync(() => this.putIn(this.env.writeTxn!, this.keyBuf, klen, v));
  }

  /** Removes `key` and commits durably before returning; returns whether it existed. */
  removeSync(key: unknown): boolean {
    const klen = this.encodeKey(key);
    return this.env.writeTxn !== null
      ? this.removeIn(this.env.writeTxn, this.keyBuf, klen)
      : this.transactionSync(() => this.removeIn(this.env.writeTxn!, this.keyBuf, klen));
  }

  // ---------------------------------------------------------------- transactions

  /**
   * Runs `fn` in a write transaction and commits when it returns (aborts when it throws).
   * Nested calls join the outer transaction. `fn` must be synchronous.
   */
  transactionSync<T>(fn: () => T): T {
    const env = this.env;
    env.checkOpen();
    if (env.writeTxn !== null) return fn();
    const txn = env.beginWriteSync();
    try {
      const result = fn();
      if (result && typeof (result as { then?: unknown }).then === 'function') {
        throw new InvalidOptionError('transactionSync() callback returned a promise; use transaction() for async callbacks');
      }
      if (txn.state === 'active') txn.commit();
      return result;
    } catch (e) {
      txn.abort();
      throw e;
    }
  }

  /**
   * Runs `fn` in a write transaction queued after the writes issued before it, and commits when
   * it returns or its promise resolves. While it is pending, this thread's writes go into it.
   */
  transaction<T>(fn: () => T | Promise<T>): Promise<T> {
    this.env.checkOpen();
    if (this.env.writeTxn !== null) return Promise.resolve().then(fn);
    return this.queue.transaction(() => fn());
  }

  /** Begins a read transaction on the current version; end it (or use `using`) to release it. */
  beginRead(): ReadTransaction {
    return new ReadTransaction(this, this.env.beginRead(true));
  }

  /** Begins the write transaction, waiting up to writeTimeoutMs; commit or abort it (or use `using`). */
  beginWrite(): WriteTransaction {
    return new WriteTransaction(this, this.env.beginWriteSync());
  }

  /** Resolves when every asynchronous write issued so far has committed (or failed). */
  flushed(): Promise<void> {
    return this.queue.flushed();
  }

  // ---------------------------------------------------------------- inspection

  stats(): Stats {
    this.env.checkOpen();
    return databaseStats(this.env, this.name);
  }

  /** Verifies the whole file (all databases); see CheckReport. */
  check(onProgress?: (checked: number, total: number) => void): CheckReport {
    this.env.checkOpen();
    return checkEnvironment(this.env, onProgress);
  }

  /** Open read transactions and range iterators (and short reads in progress) of this file, in every thread of this process. */
  readers(): ReaderInfo[] {
    this.env.checkOpen();
    return this.env.readers();
  }

  /**
   * A handle to pass to a worker thread (in workerData or postMessage); the worker calls
   * open(handle) and shares this file, its writer lock and its root slots.
   */
  handle(): DatabaseHandle {
    return this.env.handle();
  }

  /**
   * Releases the read pins of another thread that can no longer do it itself: call it from the
   * 'exit' event of a Worker that had the database open (a terminated worker runs no cleanup).
   */
  releaseThread(threadId: number): void {
    this.env.checkOpen();
    this.env.releaseThread(threadId);
  }
}

export class RootDatabase<V = any> extends Database<V> {
  private readonly dbs = new Map<string, Database>();

  /** A named database in the same file; writes to all of them share transactions. */
  openDB<W = any>(name: string, options: DatabaseOptions = {}): Database<W> {
    this.env.checkOpen();
    if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionError('a database name must be a non-empty string');
    if (Buffer.byteLength(name) > this.maxKeySize) throw new InvalidOptionError(`database name longer than ${this.maxKeySize} bytes`);
    const db = new Database<W>(this.env, this.queue, name, options);
    this.dbs.set(name, db);
    return db;
  }

  /** Writes a new file with only the live data of one snapshot, pages full and in key order. */
  compact(dest: string, options?: CompactOptions): Promise<CompactResult> {
    return compact(this.env, dest, options);
  }

  /** Copies one consistent snapshot, page for page, while writers go on. */
  backup(dest: string, options?: BackupOptions): Promise<BackupResult> {
    return backup(this.env, dest, options);
  }

  /** Writes every entry of one snapshot as line-delimited JSON (docs/cli.md). */
  dump(out: Writable | NodeJS.WritableStream, options?: DumpOptions): Promise<DumpResult> {
    return dump(this.env, out, options);
  }

  /** Reads a dump into this database, in bounded transactions. */
  load(input: DumpReader | Readable | NodeJS.ReadableStream | AsyncIterable<string | Buffer>, options?: LoadOptions): Promise<LoadResult> {
    return load(this.env, input, options, (body) => this.transaction(() => body(this.env.writeTxn!)));
  }

  /** Waits for queued writes, then closes the file. Open transactions end; later calls throw. */
  async close(): Promise<void> {
    if (this.env.closed) return;
    await this.queue.flushed();
    this.env.close();
  }

  /** Closes at once: an open write transaction is aborted, queued asynchronous writes are rejected. */
  closeSync(): void {
    this.env.close();
  }
}

function noop(): void {}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}
