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
import type { DatabaseOptions, DatabaseRef, Entry, GetOptions, RangeOptions } from './types.js';
import { InvalidKeyError, InvalidOptionError, KeyTooLargeError, ReadOnlyError, ValueTooLargeError } from '../errors.js';
import { clearDatabase, dropDatabase } from '../txn/drop.js';
import { rollbackTo, savepoint } from '../txn/savepoint.js';
import { checkRangeOptions } from './lmdb-options.js';
import { ABORT, isPromise, refuseExtra, transactionOf } from './lmdb-compat.js';
import { VersionedCodec, checkVersion, satisfies, versionOf } from './versions.js';

export type { DatabaseOptions, Entry, GetOptions, KeyEncoding, RangeOptions, ValueEncoding } from './types.js';

/**
 * `db.flushed`: a promise-like that settles once every asynchronous write issued so far has
 * committed (a commit is durable when it resolves, so this is also lmdb-js's `committed`), and,
 * for code written against rotadb before it became a property, callable as `db.flushed()`.
 */
export type Flushed = PromiseLike<boolean> & (() => Promise<void>);

import { listenersOf, type CommitListener } from './events.js';

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
  /** Opened with `readOnly: true`: every write throws ReadOnlyError. */
  readonly readOnly: boolean;
  /** Opened with `useVersions: true`: every stored value starts with its version (api/versions.ts). */
  readonly useVersions: boolean;

  /** @internal */
  constructor(env: Environment, queue: WriteQueue, name: string | null, opts: DatabaseOptions, readOnly = false) {
    this.env = env;
    this.queue = queue;
    this.name = name;
    this.readOnly = readOnly;
    this.keyCodec = keyCodec(opts.keyEncoding);
    this.useVersions = opts.useVersions === true;
    this.valueCodec = this.useVersions ? new VersionedCodec(valueCodec(opts.encoding)) : valueCodec(opts.encoding);
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

  /** @internal `version`: of a versioned database (0 when not given, as lmdb-js). */
  encodeValue(value: unknown, version?: number): Uint8Array {
    const v = version !== undefined ? (this.valueCodec as VersionedCodec).encodeVersioned(value, version) : this.valueCodec.encode(value);
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

  /**
   * The value of `key`, or undefined. `options.transaction` (from useReadTransaction(), beginRead()
   * or beginWrite()) reads in that transaction instead of the current version.
   */
  get(key: unknown, options?: GetOptions): V | undefined {
    const given = transactionOf(this.env, options, 'get');
    const klen = this.encodeKey(key);
    if (given !== null) return this.getIn(given, given.tree(this.name), klen);
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

  /** The stored bytes of a value, copied (whatever the encoding; without the version of a versioned database). */
  getBinary(key: unknown): Buffer | undefined {
    const klen = this.encodeKey(key);
    const v = this.view();
    try {
      const hit = this.hit;
      if (v.tree === undefined || !lookup(v.reader, v.tree, this.keyBuf, klen, hit)) return undefined;
      const stored = hit.value(v.reader);
      return Buffer.from(this.useVersions ? stored.subarray(8) : stored);
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
    const skip = this.useVersions ? 8 : 0; // the entry's version comes first (api/versions.ts)
    if (hit.isOverflow) return asBuffer(hit.value(r)).subarray(skip);
    return (hit.page as Buffer).subarray(hit.valueStart + skip, hit.valueEnd); // pages are Buffers (pager.ts, write.ts)
  }

  /**
   * Whether `key` exists. With a second argument, as lmdb-js: `null` asks whether it does NOT
   * exist; in a database with useVersions, a number asks whether it exists with that version
   * (IF_EXISTS: any); otherwise a value asks whether the key holds exactly that value (its
   * encoded bytes equal).
   */
  doesExist(key: unknown, value?: unknown, options?: GetOptions): boolean {
    const given = transactionOf(this.env, options, 'doesExist');
    const klen = this.encodeKey(key);
    const v: View = given !== null ? { reader: given, tree: given.tree(this.name), done: noop, txn: null } : this.view();
    try {
      if (value === undefined) return this.existsIn(v.reader, v.tree, klen);
      if (value === null) return !this.existsIn(v.reader, v.tree, klen);
      const want = this.useVersions ? null : this.encodeValue(value);
      const hit = this.hit;
      if (v.tree === undefined || !lookup(v.reader, v.tree, this.keyBuf, klen, hit)) return false;
      if (want === null) {
        checkVersion('doesExist(key, version): version', value, false);
        return satisfies(hit.value(v.reader), value as number);
      }
      return Buffer.from(want).equals(hit.value(v.reader));
    } finally {
      v.done();
    }
  }

  /** lmdb-js's entry form of get(): `{ value, version }` (`{ value }` without useVersions), or undefined. */
  getEntry(key: unknown, options?: GetOptions): { value: V; version?: number } | undefined {
    if (!this.useVersions) {
      const value = this.get(key, options);
      return value === undefined ? undefined : { value };
    }
    const given = transactionOf(this.env, options, 'get');
    const klen = this.encodeKey(key);
    const v: View = given !== null ? { reader: given, tree: given.tree(this.name), done: noop, txn: null } : this.view();
    try {
      const hit = this.hit;
      if (v.tree === undefined || !lookup(v.reader, v.tree, this.keyBuf, klen, hit)) return undefined;
      const stored = hit.value(v.reader);
      return { value: this.valueCodec.decode(stored) as V, version: versionOf(stored) };
    } finally {
      v.done();
    }
  }

  /**
   * The values of `keys`, in order, all read from one snapshot (or the open write transaction).
   * The read is synchronous; the promise (and `callback(error, values)`) are lmdb-js's form.
   */
  getMany(keys: readonly unknown[], callback?: (error: unknown, values?: (V | undefined)[]) => void): Promise<(V | undefined)[]> {
    const p = new Promise<(V | undefined)[]>((resolve) => {
      if (!Array.isArray(keys)) throw new InvalidOptionError('getMany(keys): keys must be an array');
      const v = this.view();
      try {
        resolve(keys.map((k) => this.getIn(v.reader, v.tree, this.encodeKey(k))));
      } finally {
        v.done();
      }
    });
    if (callback !== undefined) p.then((values) => callback(null, values), (e) => callback(e));
    return p;
  }

  /** Reads the pages of `keys` into this thread's page cache (lmdb-js's prefetch; here the read is synchronous). */
  prefetch(keys: readonly unknown[], callback?: () => void): Promise<void> {
    return this.getMany(keys).then(() => callback?.());
  }

  /**
   * The number of entries in a range (getRange's options, `offset` skipping as there); counts by
   * walking the range. `limit` is refused: lmdb-js 3.5 ignores it here, so code relying on either
   * meaning would silently change.
   */
  getCount(options: RangeOptions = {}): number {
    checkRangeOptions(options, this.useVersions);
    if (options.limit !== undefined) throw new InvalidOptionError('getCount()/getKeysCount() do not take limit (lmdb-js ignores it there; count, then take the minimum)');
    const it = this.iterate(options, false, transactionOf(this.env, options, 'getCount') ?? undefined);
    let n = 0;
    while (!it.next().done) n++;
    return n;
  }

  /** The number of keys in a range: getCount(), since a key holds one value. */
  getKeysCount(options: RangeOptions = {}): number {
    return this.getCount(options);
  }

  /** lmdb-js's: reads here always see the newest committed version (or the open write transaction), so there is nothing to reset. */
  resetReadTxn(): void {}

  /** A read transaction for `get(key, { transaction })` and `getRange({ transaction })`; call its done() (or end()) when finished. */
  useReadTransaction(): ReadTransaction {
    return this.beginRead();
  }

  /**
   * Entries in key order from `start` (inclusive) to `end` (exclusive), lazily. The iteration reads
   * one snapshot: the version current when it starts (or the open write transaction).
   */
  getRange(options: RangeOptions = {}): RangeIterable<Entry<V>> {
    checkRangeOptions(options, this.useVersions);
    const given = transactionOf(this.env, options, 'getRange') ?? undefined;
    return new RangeIterable(() => this.iterate(options, true, given) as Iterator<Entry<V>>);
  }

  /** Keys in order, as getRange but without decoding values. */
  getKeys(options: RangeOptions = {}): RangeIterable<Key> {
    checkRangeOptions(options, this.useVersions);
    const given = transactionOf(this.env, options, 'getKeys') ?? undefined;
    return new RangeIterable(() => this.iterate(options, false, given) as Iterator<Key>);
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
  put(key: unknown, value: V, ...versions: unknown[]): Promise<boolean> {
    const [version, ifVersion] = this.versionArgs('put', versions, ['version', 'ifVersion']);
    this.writable('put');
    const klen = this.encodeKey(key);
    const v = this.encodeValue(value, version);
    const env = this.env;
    env.checkOpen();
    if (env.writeTxn !== null) {
      const w = env.writeTxn;
      if (ifVersion !== undefined && !this.conditionHolds(w, this.keyBuf, klen, ifVersion)) return Promise.resolve(false);
      return Promise.resolve(this.putIn(w, this.keyBuf, klen, v) || true);
    }
    // the batch copies key and value now (the encoder's buffer or the caller's may change before
    // it runs); a condition is checked at commit time, in the batch's transaction (as lmdb-js does)
    return this.queue.current().put(this.name, this.keyBuf, klen, v, ifVersion);
  }

  /** Removes `key`. Resolves to whether it existed, once committed and durable (batched as put). */
  remove(key: unknown, ...versions: unknown[]): Promise<boolean> {
    const [ifVersion] = this.versionArgs('remove', versions, ['ifVersion or value'], true);
    this.writable('remove');
    const klen = this.encodeKey(key);
    const env = this.env;
    env.checkOpen();
    if (env.writeTxn !== null) {
      const w = env.writeTxn;
      if (ifVersion !== undefined && !this.conditionHolds(w, this.keyBuf, klen, ifVersion)) return Promise.resolve(false);
      return Promise.resolve(this.removeIn(w, this.keyBuf, klen));
    }
    return this.queue.current().remove(this.name, this.keyBuf, klen, ifVersion);
  }

  /** Stores `value` under `key` and commits durably before returning (or writes into the open transaction). Returns true when the key was new. */
  putSync(key: unknown, value: V, ...versions: unknown[]): boolean {
    const [version] = this.versionArgs('putSync', versions, ['version or options']);
    this.writable('putSync');
    const klen = this.encodeKey(key);
    const v = this.encodeValue(value, version);
    return this.env.writeTxn !== null
      ? this.putIn(this.env.writeTxn, this.keyBuf, klen, v)
      : this.transactionSync(() => this.putIn(this.env.writeTxn!, this.keyBuf, klen, v));
  }

  /** Removes `key` and commits durably before returning; returns whether it existed. */
  removeSync(key: unknown, ...versions: unknown[]): boolean {
    const [ifVersion] = this.versionArgs('removeSync', versions, ['ifVersion or value'], true);
    this.writable('removeSync');
    const klen = this.encodeKey(key);
    const run = (w: WriteTxn): boolean => (ifVersion !== undefined && !this.conditionHolds(w, this.keyBuf, klen, ifVersion) ? false : this.removeIn(w, this.keyBuf, klen));
    return this.env.writeTxn !== null ? run(this.env.writeTxn) : this.transactionSync(() => run(this.env.writeTxn!));
  }

  /**
   * The version arguments of put/remove (lmdb-js's `version`, `ifVersion`): refused unless the
   * database has useVersions, else checked to be numbers (`ifVersion` may be null: "must not
   * exist"). `firstIsCondition`: remove's only one is an ifVersion.
   */
  private versionArgs(call: string, args: readonly unknown[], names: readonly string[], firstIsCondition = false): [number | undefined, (number | null | undefined)?] {
    if (!this.useVersions) {
      refuseExtra(call, args, names);
      return [undefined, undefined];
    }
    if (args.length > 2 || (firstIsCondition && args.length > 1)) refuseExtra(call, args.slice(firstIsCondition ? 1 : 2), ['next']);
    const [a, b] = args;
    if (a !== undefined) checkVersion(`${call}(): ${firstIsCondition ? 'ifVersion' : 'version'}`, a, firstIsCondition);
    if (b !== undefined) checkVersion(`${call}(): ifVersion`, b, true);
    return [a as number | undefined, b as number | null | undefined];
  }

  /** Whether the entry of the encoded `key[0, klen)` satisfies `ifVersion` in `txn` (api/versions.ts). */
  private conditionHolds(txn: WriteTxn, key: Uint8Array, klen: number, ifVersion: number | null): boolean {
    const hit = this.hit;
    const t = txn.tree(this.name);
    return satisfies(lookup(txn, t, key, klen, hit) ? hit.value(txn) : undefined, ifVersion);
  }

  // ---------------------------------------------------------------- transactions

  /**
   * Runs `fn` in a write transaction and commits when it returns; aborts when it throws or returns
   * ABORT. Called inside another write transaction, runs as a child transaction of it (as in
   * lmdb-js): a throw or ABORT undoes only what `fn` did. `fn` must be synchronous.
   */
  transactionSync<T>(fn: () => T, ...unsupported: unknown[]): T {
    refuseExtra('transactionSync', unsupported, ['flags']);
    this.writable('transactionSync');
    const env = this.env;
    env.checkOpen();
    if (env.writeTxn !== null) return this.childSync(env.writeTxn, fn);
    const txn = env.beginWriteSync();
    try {
      const result = fn();
      if (isPromise(result)) {
        throw new InvalidOptionError('transactionSync() callback returned a promise; use transaction() for async callbacks');
      }
      if (result === ABORT) txn.abort();
      else if (txn.state === 'active') txn.commit();
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
    this.writable('transaction');
    this.env.checkOpen();
    if (this.env.writeTxn !== null) return Promise.resolve().then(fn);
    // ABORT as the result aborts; the queue then commits nothing (it commits an active transaction only).
    return this.queue.transaction((txn) => {
      const r = fn();
      if (!isPromise(r)) return abortOn(txn, r);
      return Promise.resolve(r).then((v) => abortOn(txn, v));
    });
  }

  /**
   * A child transaction of the open write transaction of this thread: a throw (or rejection) or
   * ABORT from `fn` undoes what it wrote, and only that; otherwise its writes stay in the parent.
   * With no write transaction open, it is a transaction() of its own. A savepoint copies the
   * parent's dirty pages (txn/savepoint.ts), so a child of a large transaction costs that copy.
   */
  childTransaction<T>(fn: () => T | Promise<T>): Promise<T> {
    this.writable('childTransaction');
    const env = this.env;
    env.checkOpen();
    const w = env.writeTxn;
    if (w === null) return this.transaction(fn);
    const sp = savepoint(w);
    let r: T | Promise<T>;
    try {
      r = fn();
    } catch (e) {
      rollbackTo(sp);
      return Promise.reject(e);
    }
    if (!isPromise(r)) {
      if (r === ABORT) rollbackTo(sp);
      return Promise.resolve(r);
    }
    return Promise.resolve(r).then(
      (v) => (v === ABORT && rollbackTo(sp), v),
      (e) => {
        if (w.state === 'active') rollbackTo(sp);
        throw e;
      },
    );
  }

  private childSync<T>(w: WriteTxn, fn: () => T): T {
    const sp = savepoint(w);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      if (w.state === 'active') rollbackTo(sp);
      throw e;
    }
    if (isPromise(result)) throw new InvalidOptionError('transactionSync() callback returned a promise; use transaction() for async callbacks');
    if (result === ABORT) rollbackTo(sp);
    return result;
  }

  /**
   * Runs `fn` in a transaction (queued as transaction()) only if `key` does not exist when it
   * runs; resolves to whether it ran. Unlike lmdb-js, `fn` runs then, not at the call.
   */
  ifNoExists(key: unknown, fn: () => unknown): Promise<boolean> {
    this.writable('ifNoExists');
    const k = this.encodeKeyCopy(key);
    return this.transaction(async () => {
      const w = this.env.writeTxn!;
      this.keyBuf.set(k);
      if (this.existsIn(w, w.tree(this.name), k.length)) return false;
      await fn();
      return true;
    });
  }

  /**
   * lmdb-js's batch(): the writes `fn` makes, in one transaction (queued as transaction());
   * resolves to true once committed. Unlike lmdb-js, `fn` runs then, not at the call.
   */
  batch(fn: () => unknown): Promise<boolean> {
    this.writable('batch');
    return this.transaction(async () => {
      await fn();
      return true;
    });
  }

  /**
   * Runs `fn` in a transaction (queued as transaction()) only if the entry of `key` has version
   * `version` when it runs (null: does not exist; IF_EXISTS: exists); resolves to whether it ran.
   * A version other than null needs useVersions. Unlike lmdb-js, `fn` runs then, not at the call.
   */
  ifVersion(key: unknown, version: number | null, fn: () => unknown): Promise<boolean> {
    if (version === null) return this.ifNoExists(key, fn);
    if (!this.useVersions) throw new InvalidOptionError('ifVersion(key, version): this database has no entry versions (open it with useVersions: true)');
    checkVersion('ifVersion(): version', version, false);
    this.writable('ifVersion');
    const k = this.encodeKeyCopy(key);
    return this.transaction(async () => {
      if (!this.conditionHolds(this.env.writeTxn!, k, k.length, version)) return false;
      await fn();
      return true;
    });
  }

  // ---------------------------------------------------------------- clear and drop

  /** Removes every entry of this database, in one commit (or in the open write transaction); its pages are freed. */
  clearSync(): void {
    this.writable('clearSync');
    this.env.checkOpen();
    const w = this.env.writeTxn; // inside a transaction: join it (no child savepoint to copy)
    if (w !== null) clearDatabase(w, this.name);
    else this.transactionSync(() => clearDatabase(this.env.writeTxn!, this.name));
  }

  /** clearSync() as an asynchronous transaction, queued after the writes issued before it. */
  clearAsync(): Promise<void> {
    this.writable('clearAsync');
    return this.transaction(() => clearDatabase(this.env.writeTxn!, this.name));
  }

  /** lmdb-js's older name of clearAsync(). */
  clear(): Promise<void> {
    return this.clearAsync();
  }

  /** Removes this named database: its entries, its pages and its name. A later write creates it again, empty. */
  dropSync(): void {
    this.writable('dropSync');
    const name = this.droppable();
    this.env.checkOpen();
    const w = this.env.writeTxn;
    if (w !== null) dropDatabase(w, name);
    else this.transactionSync(() => dropDatabase(this.env.writeTxn!, name));
  }

  /** dropSync() as an asynchronous transaction. */
  drop(): Promise<void> {
    this.writable('drop');
    const name = this.droppable();
    return this.transaction(() => dropDatabase(this.env.writeTxn!, name));
  }

  private droppable(): string {
    if (this.name === null) throw new InvalidOptionError('the root database cannot be dropped (it holds the file); use clearSync() or clearAsync() to empty it');
    return this.name;
  }

  // ---------------------------------------------------------------- events

  /**
   * 'beforecommit': called before every commit of this file in this thread, with the write
   * transaction still open, so that what it writes joins the commit (a throw stops the commit).
   * 'aftercommit': called with `{ txnId }` once a commit is durable. lmdb-js fires beforecommit
   * only for its batches of asynchronous writes; rotadb fires both for every commit.
   */
  on(event: 'beforecommit' | 'aftercommit', listener: CommitListener): this {
    this.listeners(event).push(listener);
    return this;
  }

  off(event: 'beforecommit' | 'aftercommit', listener: CommitListener): this {
    const list = this.listeners(event);
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  private listeners(event: string): CommitListener[] {
    if (event !== 'beforecommit' && event !== 'aftercommit') throw new InvalidOptionError(`unknown event ${String(event)} (rotadb has 'beforecommit' and 'aftercommit')`);
    const l = listenersOf(this.env);
    return event === 'beforecommit' ? l.before : l.after;
  }

  /** @internal Throws ReadOnlyError when this database was opened with `readOnly: true`. */
  writable(what: string): void {
    if (this.readOnly) throw new ReadOnlyError(what);
  }

  /** Begins a read transaction on the current version; end it (or use `using`) to release it. */
  beginRead(): ReadTransaction {
    return new ReadTransaction(this, this.env.beginRead(true));
  }

  /** Begins the write transaction, waiting up to writeTimeoutMs; commit or abort it (or use `using`). */
  beginWrite(): WriteTransaction {
    this.writable('beginWrite');
    return new WriteTransaction(this, this.env.beginWriteSync());
  }

  /**
   * Settles when every asynchronous write issued so far has committed (or failed): `await
   * db.flushed` as in lmdb-js (resolves to true), or `await db.flushed()` as before.
   * A rotadb commit is durable when it resolves, so this is the same moment as `committed`.
   */
  get flushed(): Flushed {
    const p = this.queue.flushed();
    const f = (() => p) as Flushed;
    const done = p.then(() => true);
    f.then = done.then.bind(done);
    return f;
  }

  /** A promise that resolves (to true) when every asynchronous write issued so far has committed. */
  get committed(): Promise<boolean> {
    return this.queue.flushed().then(() => true);
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

function noop(): void {}

/** A transaction() callback's result: ABORT aborts the transaction (and is the result). */
function abortOn<T>(txn: WriteTxn, result: T): T {
  if (result === ABORT && txn.state === 'active') txn.abort();
  return result;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}
