/**
 * One range iteration (getRange, getKeys): a Cursor over one snapshot, from `start` (inclusive,
 * or exclusive with `exclusiveStart`) to `end` (exclusive, or inclusive with `inclusiveEnd`),
 * forward or with `reverse` from the last key <= start down, skipping `offset` entries and
 * returning at most `limit`.
 *
 * With `snapshot: false` (and no transaction to read in), nothing is pinned between steps: each
 * step is a short read of the newest version that seeks past the last key returned, reads one
 * entry and releases its pin (validated, so an expired short read throws rather than returns).
 *
 * It starts lazily, at the first next(): over the transaction it was given (the transaction
 * objects), else over the thread's open write transaction, else over a snapshot of its own
 * (a registered reader, env.beginRead(true)), tracked so that an abandoned iterator still
 * releases it, and released when the iteration finishes: at its end, on return(), or when a step
 * throws (for-of does not call return() then).
 *
 * The cursor holds its current leaf's buffer, so most steps read no page through the reader:
 * each step therefore checks a read transaction itself once, after decoding and before returning
 * (ReadTxn.check(): ended or expired throws). Over a write transaction, each step checks that the
 * transaction is still active, and re-seeks after any change to it (its dirty pages change in
 * place, so the cursor's path may be stale): to the entry after the last one returned.
 */
import type { DatabaseRef, Entry, RangeOptions } from './types.js';
import type { Key } from '../encoding/keys.js';
import { Cursor } from '../btree/cursor.js';
import { LeafCopies } from '../btree/leaf-copies.js';
import type { ReadTxn } from '../txn/read.js';
import type { WriteTxn } from '../txn/write.js';
import { InvalidOptionError } from '../errors.js';
import { versionOf } from './versions.js';

export class RangeIterator<V> implements Iterator<Entry<V> | Key> {
  private state: 'new' | 'open' | 'done' = 'new';
  private readonly startKey: Uint8Array | null;
  private readonly endKey: Uint8Array | null;
  private readonly reverse: boolean;
  private readonly inclusiveEnd: boolean;
  private readonly exclusiveStart: boolean;
  /** `snapshot: false` asked for; `renewing` once it applies (no transaction given or open). */
  private readonly noSnapshot: boolean;
  private renewing = false;
  /** Add each entry's version (getRange({ versions: true }) on a database with useVersions). */
  private readonly versions: boolean;
  private limit: number;
  private skip: number;
  /** The snapshot this iterator pinned itself, released when it finishes. */
  private own: ReadTxn | null = null;
  /** The read transaction to check at every step (none over a write transaction). */
  private read: ReadTxn | null = null;
  private write: WriteTxn | null = null;
  /** Null until started, and when the database does not exist in the snapshot. */
  private cursor: Cursor | null = null;
  /** The write transaction's modCount the cursor's path is valid for. */
  private seen = -1;
  /** Over a write transaction, or renewing: a copy of the last key returned, to re-seek from. */
  private last: Uint8Array | null = null;
  /** Binary values of committed leaves (not over a write transaction: its pages change). */
  private copies: LeafCopies | null = null;

  constructor(
    private readonly db: DatabaseRef<V>,
    options: RangeOptions,
    private readonly withValues: boolean,
    private readonly given?: ReadTxn | WriteTxn,
  ) {
    validateRange(options);
    this.startKey = options.start === undefined ? null : db.encodeKeyCopy(options.start);
    this.endKey = options.end === undefined ? null : db.encodeKeyCopy(options.end);
    this.reverse = options.reverse === true;
    this.inclusiveEnd = options.inclusiveEnd === true;
    this.exclusiveStart = options.exclusiveStart === true;
    this.noSnapshot = options.snapshot === false;
    this.versions = options.versions === true && db.useVersions;
    this.limit = options.limit ?? Infinity;
    this.skip = options.offset ?? 0;
  }

  next(): IteratorResult<Entry<V> | Key> {
    if (this.state === 'done') return { done: true, value: undefined };
    try {
      return this.step();
    } catch (e) {
      this.finish();
      throw e;
    }
  }

  return(): IteratorResult<Entry<V> | Key> {
    return this.finish();
  }

  private step(): IteratorResult<Entry<V> | Key> {
    let ok: boolean;
    const write = this.write;
    if (this.state === 'new') {
      this.state = 'open';
      ok = this.start();
    } else if (this.renewing) {
      ok = this.renew();
    } else if (write !== null) {
      write.assertActive();
      ok = write.modCount !== this.seen ? this.resync(write) : this.advance();
    } else {
      ok = this.advance();
    }
    const r = this.emit(ok);
    if (this.renewing && this.own !== null) this.releaseShort();
    return r;
  }

  /** From the cursor's position (`ok`: it has one), the next entry within the range, or the end. */
  private emit(ok: boolean): IteratorResult<Entry<V> | Key> {
    for (;;) {
      if (!ok || this.limit <= 0) return this.ended();
      const c = this.cursor!;
      const end = this.endKey;
      if (end !== null) {
        const cmp = c.compareKey(end);
        if (this.inclusiveEnd ? (this.reverse ? cmp < 0 : cmp > 0) : (this.reverse ? cmp <= 0 : cmp >= 0)) return this.ended();
      }
      if (this.skip > 0) {
        this.skip--;
        ok = this.advance();
        continue;
      }
      this.limit--;
      if (this.write !== null || this.renewing) this.last = c.copyKey();
      const page = c.page as Buffer; // pages are Buffers (pages/pager.ts, txn/write.ts)
      const key = this.db.keyCodec.read(page, c.keyStart, c.keyEnd);
      if (!this.withValues) {
        this.read?.check();
        return { done: false, value: key };
      }
      let value: V;
      if (c.isOverflow) value = this.db.valueCodec.decode(c.value()) as V;
      else if (this.copies !== null) value = this.copies.take(c) as V;
      else value = this.db.valueCodec.decodeAt(page, c.valueStart, c.valueEnd) as V;
      const entry: Entry<V> = this.versions ? { key, value, version: versionOf(c.value()) } : { key, value };
      this.read?.check();
      return { done: false, value: entry };
    }
  }

  /** Pins or joins the version to read and positions the cursor; false when there is nothing. */
  private start(): boolean {
    const db = this.db;
    const env = db.env;
    env.checkOpen();
    const given = this.given;
    let reader: ReadTxn | WriteTxn;
    if (given !== undefined) {
      reader = given;
      if ('commit' in given) this.write = given;
      else this.read = given;
    } else if (env.writeTxn !== null) {
      reader = this.write = env.writeTxn;
    } else if (this.noSnapshot) {
      this.renewing = true;
      this.own = this.read = reader = env.beginRead(false);
    } else {
      const own = env.beginRead(true);
      this.own = this.read = reader = own;
      env.track(this, own);
    }
    if (this.write !== null) this.seen = this.write.modCount;
    else if (this.withValues && db.valueCodec.name === 'binary') this.copies = new LeafCopies();
    const tree = reader.tree(db.name);
    if (tree === undefined) return false;
    const c = (this.cursor = new Cursor(reader, tree));
    const from = this.startKey;
    let ok: boolean;
    if (this.reverse) ok = from !== null ? c.seekLE(from, from.length) : c.last();
    else ok = from !== null ? c.seek(from, from.length) : c.first();
    if (ok && this.exclusiveStart && from !== null && c.compareKey(from) === 0) ok = this.advance();
    return ok;
  }

  /** snapshot: false, a later step: a short read of the newest version, placed after the last key returned. */
  private renew(): boolean {
    const env = this.db.env;
    env.checkOpen();
    const r = env.beginRead(false);
    this.own = this.read = r;
    const tree = r.tree(this.db.name);
    if (tree === undefined) return false;
    const c = (this.cursor = new Cursor(r, tree));
    return this.seekAfter(c, this.last!);
  }

  /** Ends this step's short read, validated: a step whose pin was expired throws instead of returning. */
  private releaseShort(): void {
    const own = this.own!;
    this.own = this.read = null;
    own.end();
  }

  private advance(): boolean {
    return this.reverse ? this.cursor!.prev() : this.cursor!.next();
  }

  /** After a write in the same transaction the cursor's path may be stale: find our place again. */
  private resync(write: WriteTxn): boolean {
    const c = this.cursor!;
    this.seen = write.modCount;
    const last = this.last;
    if (last === null) return c.valid;
    return this.seekAfter(c, last);
  }

  /** Places `c` on the first entry after `last` in iteration order; false when there is none. */
  private seekAfter(c: Cursor, last: Uint8Array): boolean {
    if (this.reverse) {
      if (!c.seekLE(last, last.length)) return false;
      return c.compareKey(last) === 0 ? c.prev() : true;
    }
    if (!c.seek(last, last.length)) return false;
    return c.compareKey(last) === 0 ? c.next() : true;
  }

  /** The range or the tree ended: still a read, so an ended or expired reader throws. */
  private ended(): IteratorResult<Entry<V> | Key> {
    this.read?.check();
    if (this.renewing && this.own !== null) this.releaseShort();
    return this.finish();
  }

  private finish(): IteratorResult<Entry<V> | Key> {
    if (this.state !== 'done') {
      this.state = 'done';
      this.cursor = null;
      const own = this.own;
      if (own !== null) {
        this.own = null;
        if (!this.renewing) this.db.env.untrack(own);
        own.end(false); // every step was checked for expiry before it returned
      }
    }
    return { done: true, value: undefined };
  }
}

function validateRange(o: RangeOptions): void {
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 0)) throw new InvalidOptionError(`limit must be a non-negative integer, not ${o.limit}`);
  if (o.offset !== undefined && !(Number.isInteger(o.offset) && o.offset >= 0)) throw new InvalidOptionError(`offset must be a non-negative integer, not ${o.offset}`);
}
