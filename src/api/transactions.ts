/**
 * Transactions as objects (db.beginRead(), db.beginWrite()): every call may name the database it
 * reads or writes (default: the one that began the transaction), and throws ROTA_TXN_ENDED once
 * the transaction ended. Both work with `using`.
 */
import type { DatabaseRef, Entry, RangeOptions } from './types.js';
import type { Key } from '../encoding/keys.js';
import type { Environment } from '../env/environment.js';
import { RangeIterable } from './range.js';
import type { ReadTxn } from '../txn/read.js';
import type { WriteTxn } from '../txn/write.js';
import { TransactionEndedError } from '../errors.js';
import { checkRangeOptions } from './lmdb-options.js';

/** A read transaction object: one snapshot for its whole life. */
export class ReadTransaction {
  /** @internal */
  constructor(private readonly db: DatabaseRef, /** @internal */ readonly txn: ReadTxn) {}

  get txnId(): number {
    return this.txn.txnId;
  }

  /** @internal The file this transaction reads. */
  get env(): Environment {
    return this.db.env;
  }

  get isActive(): boolean {
    return this.txn.isActive;
  }

  get<W = any>(key: unknown, db: DatabaseRef<W> = this.db as DatabaseRef<W>): W | undefined {
    this.assertActive();
    const klen = db.encodeKey(key);
    return db.getIn(this.txn, this.txn.tree(db.name), klen);
  }

  doesExist(key: unknown, db: DatabaseRef = this.db): boolean {
    this.assertActive();
    const t = this.txn.tree(db.name);
    const klen = db.encodeKey(key);
    return db.existsIn(this.txn, t, klen);
  }

  getRange<W = any>(options: RangeOptions = {}, db: DatabaseRef<W> = this.db as DatabaseRef<W>): RangeIterable<Entry<W>> {
    checkRangeOptions(options, db.useVersions);
    return new RangeIterable(() => {
      this.assertActive();
      return db.iterate(options, true, this.txn) as Iterator<Entry<W>>;
    });
  }

  /** Keys in order, as getRange but without reading values. */
  getKeys(options: RangeOptions = {}, db: DatabaseRef = this.db): RangeIterable<Key> {
    checkRangeOptions(options, db.useVersions);
    return new RangeIterable(() => {
      this.assertActive();
      return db.iterate(options, false, this.txn) as Iterator<Key>;
    });
  }

  protected assertActive(): void {
    if (!this.txn.isActive) throw new TransactionEndedError('read');
  }

  end(): void {
    this.txn.end();
  }

  /** lmdb-js's name for end() (a transaction from useReadTransaction()). */
  done(): void {
    this.end();
  }

  [Symbol.dispose](): void {
    this.end();
  }
}

/** The write transaction object. Nothing is visible to others until commit(). */
export class WriteTransaction {
  /** @internal */
  constructor(private readonly db: DatabaseRef, /** @internal */ readonly txn: WriteTxn) {}

  get txnId(): number {
    return this.txn.txnId;
  }

  /** @internal The file this transaction writes. */
  get env(): Environment {
    return this.db.env;
  }

  get isActive(): boolean {
    return this.txn.state === 'active';
  }

  get<W = any>(key: unknown, db: DatabaseRef<W> = this.db as DatabaseRef<W>): W | undefined {
    this.txn.assertActive();
    const klen = db.encodeKey(key);
    return db.getIn(this.txn, this.txn.tree(db.name), klen);
  }

  doesExist(key: unknown, db: DatabaseRef = this.db): boolean {
    this.txn.assertActive();
    const klen = db.encodeKey(key);
    return db.existsIn(this.txn, this.txn.tree(db.name), klen);
  }

  getRange<W = any>(options: RangeOptions = {}, db: DatabaseRef<W> = this.db as DatabaseRef<W>): RangeIterable<Entry<W>> {
    checkRangeOptions(options, db.useVersions);
    return new RangeIterable(() => {
      this.txn.assertActive();
      return db.iterate(options, true, this.txn) as Iterator<Entry<W>>;
    });
  }

  /** Keys in order, as getRange but without reading values. */
  getKeys(options: RangeOptions = {}, db: DatabaseRef = this.db): RangeIterable<Key> {
    checkRangeOptions(options, db.useVersions);
    return new RangeIterable(() => {
      this.txn.assertActive();
      return db.iterate(options, false, this.txn) as Iterator<Key>;
    });
  }

  put<W = any>(key: unknown, value: W, db: DatabaseRef<W> = this.db as DatabaseRef<W>): boolean {
    this.txn.assertActive();
    const klen = db.encodeKey(key);
    return db.putIn(this.txn, db.keyBuf, klen, db.encodeValue(value));
  }

  remove(key: unknown, db: DatabaseRef = this.db): boolean {
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
