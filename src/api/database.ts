/**
 * The public API, close to lmdb-js: a RootDatabase per file, named databases from openDB(),
 * get/getRange/put/remove and their Sync forms, transactions as callbacks or as objects.
 *
 * Routing rule: while this thread has a write transaction open (transactionSync, an explicit
 * beginWrite(), or the callback of transaction()), every read and write made through any database
 * handle of the file goes into that transaction, as in lmdb-js.
 */
import { Environment, isHandle, type DatabaseHandle, type EnvOptions } from '../env/environment.js';
import { keyCodec, type Key, type KeyCodec } from '../encoding/keys.js';
import { valueCodec, type ValueCodec } from '../encoding/values.js';
import { cellValue, del, found, lookup, put } from '../btree/tree.js';
import { Cursor } from '../btree/cursor.js';
import { leafIsOverflow, leafKeyLen, leafValueLen, leafValueStart, upperOf } from '../pages/node.js';
import type { PageReader, TreeInfo } from '../btree/store.js';
import { compareBytes, copyOf } from '../pages/bytes.js';
import { LEAF_KEY, MAX_VALUE_SIZE, maxKeySize } from '../pages/layout.js';
import { WriteQueue } from './write-queue.js';
import type { ReadTxn } from '../txn/read.js';
import type { WriteTxn } from '../txn/write.js';
import { RangeIterable } from './range.js';
import { checkEnvironment, type CheckReport } from '../tools/check.js';
import { databaseStats, type Stats } from '../tools/stats.js';
import type { ReaderInfo } from '../sync/locks.js';
import { compact, type CompactOptions, type CompactResult } from '../tools/compact.js';
import { backup, type BackupOptions, type BackupResult } from '../tools/backup.js';
import { dump, type DumpOptions, type DumpResult } from '../tools/dump.js';
import { load, type DumpReader, type LoadOptions, type LoadResult } from '../tools/load.js';
import type { Readable, Writable } from 'node:stream';
import {
  InvalidKeyError, InvalidOptionError, KeyTooLargeError, TransactionEndedError,
  ValueTooLargeError,
} from '../errors.js';

export type ValueEncoding = 'msgpack' | 'binary' | 'string' | 'json';
export type KeyEncoding = 'ordered' | 'binary';

export interface DatabaseOptions {
  /** How values are stored: msgpack (default, any structured value), binary (Uint8Array), string, json. */
  encoding?: ValueEncoding;
  /** How keys are ordered: 'ordered' (default; strings, numbers, booleans, null, byte arrays, arrays) or 'binary'. */
  keyEncoding?: KeyEncoding;
}

export interface OpenOptions extends EnvOptions, DatabaseOptions {}

export interface RangeOptions {
  /** Inclusive. With `reverse`, iteration starts at the last key <= start. */
  start?: unknown;
  /** Exclusive. */
  end?: unknown;
  reverse?: boolean;
  limit?: number;
  offset?: number;
}

export interface Entry<V = unknown> {
  key: Key;
  value: V;
}

/** Which version a read sees: the thread's open write transaction, or a pinned snapshot. */
type View = { reader: PageReader; tree: TreeInfo | undefined; done(): void; txn: WriteTxn | null };

export class Database<V = any> {
  /** @internal */ readonly env: Environment;
  /** @internal */ readonly queue: WriteQueue;
  readonly name: string | null;
  private readonly keys: KeyCodec;
  private readonly values: ValueCodec;
  /** @internal Scratch space for the encoded key of the current call. */
  readonly keyBuf: Buffer;
  private readonly maxKey: number;

  /** @internal */
  constructor(env: Environment, queue: WriteQueue, name: string | null, opts: DatabaseOptions) {
    this.env = env;
    this.queue = queue;
    this.name = name;
    this.keys = keyCodec(opts.keyEncoding);
    this.values = valueCodec(opts.encoding);
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
    const n = this.keys.write(key, this.keyBuf);
    if (n > this.maxKey) throw new KeyTooLargeError(n, this.maxKey);
    return n;
  }

  /** @internal */
  encodeKeyCopy(key: unknown): Buffer {
    return Buffer.from(this.keyBuf.subarray(0, this.encodeKey(key)));
  }

  /** @internal */
  encodeValue(value: unknown): Uint8Array {
    const v = this.values.encode(value);
    if (v.length > MAX_VALUE_SIZE) throw new ValueTooLargeError(v.length, MAX_VALUE_SIZE);
    return v;
  }

  /** @internal */
  decodeKey(bytes: Uint8Array): Key {
    return this.keys.read(bytes, 0, bytes.length);
  }

  /** @internal */
  decodeValue(bytes: Uint8Array): V {
    return this.values.decode(bytes) as V;
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

  /** @internal */
  getIn(r: PageReader, tree: TreeInfo | undefined, klen: number): V | undefined {
    if (tree === undefined) return undefined;
    const off = lookup(r, tree, this.keyBuf, klen);
    if (off < 0) return undefined;
    const p = found.page as Buffer; // pages are Buffers (pager.ts, write.ts)
    if (leafIsOverflow(p, off)) return this.values.decode(cellValue(r, p, off)) as V;
    const start = leafValueStart(p, off);
    return this.values.decodeAt(p, start, start + leafValueLen(p, off)) as V;
  }

  /** The stored bytes of a value, copied (whatever the encoding). */
  getBinary(key: unknown): Buffer | undefined {
    const klen = this.encodeKey(key);
    const v = this.view();
    try {
      if (v.tree === undefined) return undefined;
      const off = lookup(v.reader, v.tree, this.keyBuf, klen);
      return off < 0 ? undefined : Buffer.from(cellValue(v.reader, found.page, off));
    } finally {
      v.done();
    }
  }

  doesExist(key: unknown): boolean {
    const klen = this.encodeKey(key);
    const v = this.view();
    try {
      return v.tree !== undefined && lookup(v.reader, v.tree, this.keyBuf, klen) >= 0;
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
   * @internal Range iteration over a given read transaction (explicit transactions) or a fresh snapshot.
   *
   * The cursor holds the current leaf's buffer, so most steps read no page through the reader;
   * each step therefore checks the reader itself once, after decoding and before returning
   * (ReadTxn.check(): ended or expired throws), and a write transaction's iteration checks that the
   * transaction is still active and re-seeks after any change to it (its dirty pages change in place).
   */
  iterate(options: RangeOptions, withValues: boolean, given?: ReadTxn | WriteTxn): Iterator<Entry<V> | Key> {
    validateRange(options);
    const startKey = options.start === undefined ? null : this.encodeKeyCopy(options.start);
    const endKey = options.end === undefined ? null : this.encodeKeyCopy(options.end);
    const reverse = options.reverse === true;
    let limit = options.limit ?? Infinity;
    let skip = options.offset ?? 0;
    let state: 'new' | 'open' | 'done' = 'new';
    let reader: PageReader;
    let ownRead: ReadTxn | null = null;
    /** The read transaction to check at every step (none for a write transaction). */
    let read: ReadTxn | null = null;
    let write: WriteTxn | null = null;
    let cursor: Cursor | null = null;
    let seen = -1;
    let last: Uint8Array | null = null;
    const env = this.env;
    const keys = this.keys;
    const values = this.values;
    const leafCopies = withValues && values.name === 'binary' ? new LeafCopies() : null;
    const finish = (): IteratorResult<Entry<V> | Key> => {
      if (state !== 'done') {
        state = 'done';
        if (ownRead) {
          env.untrack(ownRead);
          ownRead.end(false); // every step was checked for expiry before it returned
        }
      }
      return { done: true, value: undefined };
    };
    /** The range or the tree ended: still a read, so an ended or expired reader throws. */
    const ended = (): IteratorResult<Entry<V> | Key> => {
      read?.check();
      return finish();
    };
    const start = (): boolean => {
      env.checkOpen();
      let tree: TreeInfo | undefined;
      if (given) {
        reader = given;
        if ('commit' in given) write = given;
        else read = given;
        tree = given.tree(this.name);
      } else if (env.writeTxn !== null) {
        write = env.writeTxn;
        reader = write;
        tree = write.tree(this.name);
      } else {
        ownRead = env.beginRead(true);
        read = ownRead;
        env.track(iterator, ownRead);
        reader = ownRead;
        tree = ownRead.tree(this.name);
      }
      if (write) seen = write.modCount;
      if (tree === undefined) return false;
      cursor = new Cursor(reader, tree);
      if (reverse) return startKey ? cursor.seekLE(startKey, startKey.length) : cursor.last();
      return startKey ? cursor.seek(startKey, startKey.length) : cursor.first();
    };
    /** After a write in the same transaction the cursor's path may be stale: find our place again. */
    const resync = (): boolean => {
      const c = cursor!;
      seen = write!.modCount;
      if (last === null) return c.valid;
      if (reverse) {
        if (!c.seekLE(last, last.length)) return false;
        return sameKey(c.key(), last) ? c.prev() : true;
      }
      if (!c.seek(last, last.length)) return false;
      return sameKey(c.key(), last) ? c.next() : true;
    };
    const step = (): IteratorResult<Entry<V> | Key> => {
      let ok: boolean;
      if (state === 'new') {
        state = 'open';
        ok = start();
      } else if (write) {
        write.assertActive();
        if (write.modCount !== seen) ok = resync();
        else ok = reverse ? cursor!.prev() : cursor!.next();
      } else {
        ok = reverse ? cursor!.prev() : cursor!.next();
      }
      for (;;) {
        if (!ok || limit <= 0) return ended();
        const c = cursor!;
        const p = c.page as Buffer; // pages are Buffers (pager.ts, write.ts)
        const off = c.cell();
        const ks = off + LEAF_KEY;
        const ke = ks + leafKeyLen(p, off);
        if (endKey) {
          const cmp = compareBytes(p, ks, ke, endKey, 0, endKey.length);
          if (reverse ? cmp <= 0 : cmp >= 0) return ended();
        }
        if (skip > 0) {
          skip--;
          ok = reverse ? c.prev() : c.next();
          continue;
        }
        limit--;
        if (write) last = copyOf(p, ks, ke);
        const key = keys.read(p, ks, ke);
        if (!withValues) {
          read?.check();
          return { done: false, value: key };
        }
        let value: V;
        if (leafIsOverflow(p, off)) {
          value = values.decode(cellValue(reader, p, off)) as V;
        } else if (leafCopies !== null && write === null) {
          value = leafCopies.take(p, ke, ke + leafValueLen(p, off)) as V;
        } else {
          value = values.decodeAt(p, ke, ke + leafValueLen(p, off)) as V; // the inline value follows the key
        }
        read?.check();
        return { done: false, value: { key, value } };
      }
    };
    const iterator: Iterator<Entry<V> | Key> = {
      next: () => {
        if (state === 'done') return { done: true, value: undefined };
        try {
          return step();
        } catch (e) {
          finish(); // for-of does not call return() when next() throws
          throw e;
        }
      },
      return: () => finish(),
    };
    return iterator;
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

/** A read transaction object: one snapshot for its whole life. */
export class ReadTransaction {
  /** @internal */
  constructor(private readonly db: Database, /** @internal */ readonly txn: ReadTxn) {}

  get txnId(): number {
    return this.txn.txnId;
  }

  get isActive(): boolean {
    return this.txn.isActive;
  }

  get<W = any>(key: unknown, db: Database<W> = this.db as Database<W>): W | undefined {
    this.assertActive();
    const klen = db.encodeKey(key);
    return db.getIn(this.txn, this.txn.tree(db.name), klen);
  }

  doesExist(key: unknown, db: Database = this.db): boolean {
    this.assertActive();
    const t = this.txn.tree(db.name);
    const klen = db.encodeKey(key);
    return t !== undefined && lookup(this.txn, t, db.keyBuf, klen) >= 0;
  }

  getRange<W = any>(options: RangeOptions = {}, db: Database<W> = this.db as Database<W>): RangeIterable<Entry<W>> {
    return new RangeIterable(() => {
      this.assertActive();
      return db.iterate(options, true, this.txn) as Iterator<Entry<W>>;
    });
  }

  protected assertActive(): void {
    if (!this.txn.isActive) throw new TransactionEndedError('read');
  }

  end(): void {
    this.txn.end();
  }

  [Symbol.dispose](): void {
    this.end();
  }
}

/** The write transaction object. Nothing is visible to others until commit(). */
export class WriteTransaction {
  /** @internal */
  constructor(private readonly db: Database, /** @internal */ readonly txn: WriteTxn) {}

  get txnId(): number {
    return this.txn.txnId;
  }

  get isActive(): boolean {
    return this.txn.state === 'active';
  }

  get<W = any>(key: unknown, db: Database<W> = this.db as Database<W>): W | undefined {
    this.txn.assertActive();
    const klen = db.encodeKey(key);
    return db.getIn(this.txn, this.txn.tree(db.name), klen);
  }

  doesExist(key: unknown, db: Database = this.db): boolean {
    this.txn.assertActive();
    const klen = db.encodeKey(key);
    return lookup(this.txn, this.txn.tree(db.name), db.keyBuf, klen) >= 0;
  }

  getRange<W = any>(options: RangeOptions = {}, db: Database<W> = this.db as Database<W>): RangeIterable<Entry<W>> {
    return new RangeIterable(() => {
      this.txn.assertActive();
      return db.iterate(options, true, this.txn) as Iterator<Entry<W>>;
    });
  }

  put<W = any>(key: unknown, value: W, db: Database<W> = this.db as Database<W>): boolean {
    this.txn.assertActive();
    const klen = db.encodeKey(key);
    return db.putIn(this.txn, db.keyBuf, klen, db.encodeValue(value));
  }

  remove(key: unknown, db: Database = this.db): boolean {
    this.txn.assertActive();
    const klen = db.encodeKey(key);
    return db.removeIn(this.txn, db.keyBuf, klen);
  }

  /** Makes every change durable and visible, in one commit. */
  commit(): void {
    this.txn.commit();
  }

  /** Discards every change. Safe to call after commit (does nothing). */
  abort(): void {
    this.txn.abort();
  }

  [Symbol.dispose](): void {
    this.abort();
  }
}

/**
 * Opens (or creates) a database file: `open(path, options)` or `open({ path, ...options })`.
 * In a worker thread, `open(handle, options)` with a handle from db.handle() joins the file that
 * another thread has open.
 */
export function open<V = any>(pathOrOptions: string | OpenOptions | DatabaseHandle, options: OpenOptions = {}): RootDatabase<V> {
  if (isHandle(pathOrOptions)) {
    if (options.path !== undefined || options.storage !== undefined) throw new InvalidOptionError('open(handle, options): the handle names the file; options may not');
    validateEncodings(options);
    const env = Environment.join(pathOrOptions, options);
    return new RootDatabase<V>(env, new WriteQueue(env), null, options);
  }
  const opts: OpenOptions = typeof pathOrOptions === 'string' ? { ...options, path: pathOrOptions } : { ...pathOrOptions };
  validateEncodings(opts);
  const env = Environment.open(opts);
  return new RootDatabase<V>(env, new WriteQueue(env), null, opts);
}

function validateEncodings(o: DatabaseOptions): void {
  if (o.encoding !== undefined) valueCodec(o.encoding);
  if (o.keyEncoding !== undefined) keyCodec(o.keyEncoding);
}

function validateRange(o: RangeOptions): void {
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 0)) throw new InvalidOptionError(`limit must be a non-negative integer, not ${o.limit}`);
  if (o.offset !== undefined && !(Number.isInteger(o.offset) && o.offset >= 0)) throw new InvalidOptionError(`offset must be a non-negative integer, not ${o.offset}`);
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return compareBytes(a, 0, a.length, b, 0, b.length) === 0;
}

function noop(): void {}

const NO_PAGE = Buffer.alloc(0);

/**
 * Inline 'binary' values of a scan over committed (immutable) leaves. The first value taken from
 * a leaf is copied on its own; from the second one on, the leaf's cell area is copied once and
 * values are views of that copy: one allocation and one copy per leaf instead of per value. A
 * value never aliases a page, and the views of one copy never overlap. Like a Buffer from
 * Buffer.allocUnsafe's pool, a value keeps the whole copy alive.
 */
class LeafCopies {
  private seen: Buffer = NO_PAGE;
  private from: Buffer = NO_PAGE;
  private start = 0;
  private copy: Buffer = NO_PAGE;

  /** A copy of page[start, end): `page` is the cursor's current leaf. */
  take(page: Buffer, start: number, end: number): Buffer {
    if (page !== this.from) {
      const upper = upperOf(page);
      if (page !== this.seen || start < upper) {
        this.seen = page;
        const out = Buffer.allocUnsafe(end - start);
        page.copy(out, 0, start, end);
        return out;
      }
      this.from = page;
      this.start = upper;
      this.copy = Buffer.allocUnsafe(page.length - upper);
      page.copy(this.copy, 0, upper);
    }
    return this.copy.subarray(start - this.start, end - this.start);
  }
}

