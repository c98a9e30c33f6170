/**
 * A read transaction: one pinned root slot, hence one committed version, for its whole life.
 * Reads go through this thread's page cache; the version's pages cannot be reused while the pin
 * is held (the writer that would overwrite this slot blocks, and the epoch rule keeps freed pages).
 */
import type { PageReader, TreeInfo } from '../btree/store.js';
import type { Meta } from '../pages/meta.js';
import { readDescriptor } from './catalog.js';
import { CorruptionError, ReaderExpiredError, TransactionEndedError } from '../errors.js';
import type { Pin } from '../sync/readers.js';
import { assertBornBy, type Pager } from '../pages/pager.js';

/** What a read transaction needs from the environment that opened it (env/ implements it). */
export interface ReadHost {
  readonly pager: Pager;
  /** Whether a writer has expired the pin held through reader-table entry `entry`. */
  readerExpired(entry: number): boolean;
  /** Drops the pin of `txn`: false when a writer had expired it (what it read cannot be trusted). */
  releaseRead(txn: ReadTxn, pin: Pin): boolean;
  /**
   * Whether root slot `meta.slot` no longer holds version `meta`: a writer of another process
   * expired this reader's pin and wrote the slot (it cannot flag the reader's entry, so a page
   * of a reused number is how the reader finds out).
   */
  outlived(meta: Meta): boolean;
}

export class ReadTxn implements PageReader {
  readonly pageSize: number;
  private active = true;
  private named: Map<string, TreeInfo> | undefined;

  /** A read transaction or iterator (checked on every page); else a short read (checked at end). */
  readonly registered: boolean;
  private readonly entry: number;

  constructor(private readonly host: ReadHost, private readonly pin: Pin, readonly meta: Meta) {
    this.pageSize = meta.pageSize;
    this.registered = pin.registered;
    this.entry = pin.entry;
    // a registered reader's cursors hold cached buffers across calls (pages/pager.ts, "Recycling")
    if (this.registered) host.pager.holders++;
  }

  get slot(): number {
    return this.pin.slot;
  }

  get txnId(): number {
    return this.meta.txnId;
  }

  get isActive(): boolean {
    return this.active;
  }

  /**
   * The core page-read path. An expired reader's version may be overwritten at any moment, so a
   * registered reader checks before the read and again after it: a page that a writer reused
   * while we copied it is never returned, because the writer expires us before it reuses a page.
   * (A short read checks once, in end(), before its result is returned.)
   */
  get(pgno: number): Uint8Array {
    if (!this.active) throw new TransactionEndedError('read');
    if (pgno >= this.meta.highWater || pgno < this.meta.nRoots) {
      this.throwIfExpired();
      throw new CorruptionError(`page number out of range [${this.meta.nRoots}, ${this.meta.highWater})`, pgno);
    }
    try {
      if (!this.registered) {
        const p = this.host.pager.read(pgno);
        assertBornBy(p, pgno, this.meta.txnId);
        return p;
      }
      this.throwIfExpired();
      const page = this.host.pager.read(pgno);
      this.throwIfExpired();
      assertBornBy(page, pgno, this.meta.txnId);
      return page;
    } catch (e) {
      throw this.explain(e);
    }
  }

  /** A damaged or too young page read by a reader whose version was overwritten means expiry, not damage. */
  private explain(e: unknown): unknown {
    if (e instanceof CorruptionError && this.host.outlived(this.meta)) return new ReaderExpiredError(this.meta.txnId);
    return e;
  }

  readOverflow(pgno: number, length: number): Uint8Array {
    if (!this.active) throw new TransactionEndedError('read');
    try {
      if (!this.registered) return this.host.pager.readRun(pgno, length, this.meta.txnId);
      this.throwIfExpired();
      const run = this.host.pager.readRun(pgno, length, this.meta.txnId);
      this.throwIfExpired();
      return run;
    } catch (e) {
      throw this.explain(e);
    }
  }

  /**
   * For a step that reads no page (a cursor moving inside a leaf it already holds): throws as the
   * next page read would, TransactionEndedError once ended, ReaderExpiredError once a registered
   * reader was expired. Call it after decoding the step's key and value and before returning
   * them: expiry is sticky until end(), so a check after the decode also covers an expiry that
   * happened before or during it. (What a held page holds is never wrong, see btree/cursor.ts;
   * this keeps the rule that an expired reader's next read of any kind throws.)
   */
  check(): void {
    if (!this.active) throw new TransactionEndedError('read');
    if (this.registered && this.host.readerExpired(this.entry)) throw new ReaderExpiredError(this.meta.txnId);
  }

  private throwIfExpired(): void {
    if (this.host.readerExpired(this.entry)) throw new ReaderExpiredError(this.meta.txnId);
  }

  /** The tree of database `name` (null: the main database) in this version; empty if it does not exist. */
  tree(name: string | null): TreeInfo | undefined {
    if (name === null) return this.meta.main;
    let t = this.named?.get(name);
    if (t === undefined) {
      t = readDescriptor(this, this.meta.catalog, name);
      if (t === undefined) return undefined;
      (this.named ??= new Map()).set(name, t);
    }
    return t;
  }

  /**
   * Makes an ended short read active again on the same pin (the pin lingered, so it still holds
   * this version: sync/readers.ts). Saves a new object per get; the tree descriptors stay valid.
   */
  renew(pin: Pin): boolean {
    if (this.active || this.registered || pin !== this.pin) return false;
    this.active = true;
    return true;
  }

  /**
   * Releases the pin. With `validate` (the default for short reads), throws ReaderExpiredError
   * when a writer had expired this reader: whatever the short read computed must be discarded.
   * A registered reader checked every page it read, so its end() does not throw.
   */
  end(validate = !this.registered): void {
    if (!this.active) return;
    this.active = false;
    const pager = this.host.pager;
    if (this.registered) pager.holders--;
    const ok = this.host.releaseRead(this, this.pin);
    pager.settle(); // nothing of this read is used any more (a getBinaryFast view: until the next call)
    if (!ok && validate) throw new ReaderExpiredError(this.meta.txnId);
  }
}
