/**
 * Level iterators over rotadb read transactions (built on the public API only).
 *
 * A Level range has up to four bounds (gt, gte, lt, lte; gte and lte win over gt and lt); a
 * rotadb range has an inclusive start and walks forward or backward from it. So rotadb is asked
 * only where to start (the inner bound, or the seek target when it lies further in), and the
 * scan itself checks both bounds on every key: a key on the wrong side of the start bound is
 * skipped (at most the start key itself, see startKey()), and the first key past the far bound
 * ends the scan. The rotadb iteration is lazy, so ending it early reads nothing more.
 */
import { AbstractIterator, AbstractKeyIterator, AbstractValueIterator } from 'abstract-level';
import type { ReadTransaction } from '../index.js';

/** The range options abstract-level hands to the private API: bounds encoded as Buffers. */
export interface LevelRange {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  reverse: boolean;
}

/** Starts a rotadb iteration at `start` (inclusive; undefined: at the first or last key). */
export type Opener<X> = (start: Buffer | undefined, reverse: boolean) => Iterator<X>;

export class Scan<X> {
  private readonly lo: Buffer | undefined;
  private readonly loIncl: boolean;
  private readonly hi: Buffer | undefined;
  private readonly hiIncl: boolean;
  private readonly reverse: boolean;
  private target: Buffer | undefined;
  private it: Iterator<X> | null = null;
  private finished = false;

  constructor(
    private readonly open: Opener<X>,
    private readonly keyOf: (x: X) => Buffer,
    range: LevelRange,
    private readonly maxKey: number,
  ) {
    this.lo = range.gte ?? range.gt;
    this.loIncl = range.gte !== undefined;
    this.hi = range.lte ?? range.lt;
    this.hiIncl = range.lte !== undefined;
    this.reverse = range.reverse;
  }

  /** Restarts at the first key >= target (the last key <= target in reverse), within the range. */
  seek(target: Buffer): void {
    this.stop();
    this.target = target;
    this.finished = false;
  }

  next(): X | undefined {
    if (this.finished) return undefined;
    this.it ??= this.open(this.startKey(), this.reverse);
    for (;;) {
      const r = this.it.next();
      if (r.done) return this.end();
      const k = this.keyOf(r.value);
      if (this.beforeStart(k)) continue;
      if (this.pastEnd(k)) return this.end();
      return r.value;
    }
  }

  close(): void {
    this.end();
  }

  /**
   * The inner of the start bound and the seek target. A key longer than any stored key is cut to
   * maxKey bytes: the cut T is <= the bound B, and the only stored key in [T, B) is T itself
   * (every other key >= T is longer than T, or differs from B at a byte where it is larger), so
   * starting at T skips at most T; in reverse, no stored key lies in (T, B], so T starts exactly.
   */
  private startKey(): Buffer | undefined {
    const bound = this.reverse ? this.hi : this.lo;
    const t = this.target;
    let s = bound;
    if (t !== undefined && (s === undefined || (this.reverse ? Buffer.compare(t, s) < 0 : Buffer.compare(t, s) > 0))) s = t;
    return s !== undefined && s.length > this.maxKey ? s.subarray(0, this.maxKey) : s;
  }

  /** Outside the start bound or before the seek target (forward: below them; reverse: above). */
  private beforeStart(k: Buffer): boolean {
    const t = this.target;
    if (this.reverse) {
      if (t !== undefined && Buffer.compare(k, t) > 0) return true;
      return this.hi !== undefined && outside(Buffer.compare(k, this.hi), this.hiIncl);
    }
    if (t !== undefined && Buffer.compare(k, t) < 0) return true;
    return this.lo !== undefined && outside(-Buffer.compare(k, this.lo), this.loIncl);
  }

  private pastEnd(k: Buffer): boolean {
    if (this.reverse) return this.lo !== undefined && outside(-Buffer.compare(k, this.lo), this.loIncl);
    return this.hi !== undefined && outside(Buffer.compare(k, this.hi), this.hiIncl);
  }

  private stop(): void {
    this.it?.return?.();
    this.it = null;
  }

  private end(): undefined {
    this.stop();
    this.finished = true;
    return undefined;
  }
}

/** `c` is how far a key lies beyond a bound (positive: beyond it, 0: on it): is it out of the range? */
function outside(c: number, inclusive: boolean): boolean {
  return inclusive ? c > 0 : c >= 0;
}

/** The read transaction an iterator reads, and whether the iterator ends it (implicit snapshot). */
export interface Source {
  txn: ReadTransaction;
  own: boolean;
}

interface Item { key: Buffer; value: Buffer }

/** The private-API options of db._iterator(), _keys() and _values() that the scan uses. */
export interface IteratorOptions extends LevelRange {
  keys?: boolean;
  values?: boolean;
  limit: number;
}

function scanOf(source: Source, options: LevelRange, maxKey: number, keysOnly = false): Scan<Item> {
  const open: Opener<Item> = keysOnly
    ? (start, reverse) => keysAsItems(source.txn.getKeys({ start, reverse })[Symbol.iterator]() as Iterator<Buffer>)
    : (start, reverse) => source.txn.getRange<Buffer>({ start, reverse })[Symbol.iterator]() as Iterator<Item>;
  return new Scan(open, (e) => e.key, options, maxKey);
}

const NO_VALUE = Buffer.alloc(0);

/** A key iterator as entries whose value is never read. */
function keysAsItems(keys: Iterator<Buffer>): Iterator<Item> {
  return {
    next: () => {
      const r = keys.next();
      return r.done ? { done: true, value: undefined } : { done: false, value: { key: r.value, value: NO_VALUE } };
    },
    return: () => {
      keys.return?.();
      return { done: true, value: undefined };
    },
  };
}

/** Entries, up to `n` or the end. */
function take<T>(scan: Scan<Item>, n: number, map: (e: Item) => T): T[] {
  const out: T[] = [];
  while (out.length < n) {
    const e = scan.next();
    if (e === undefined) break;
    out.push(map(e));
  }
  return out;
}

function release(scan: Scan<Item>, source: Source): void {
  scan.close();
  if (source.own) source.txn.end();
}

export class RotaIterator<D> extends AbstractIterator<D, Buffer, Buffer> {
  private readonly scan: Scan<Item>;
  private readonly map: (e: Item) => [Buffer, Buffer];

  constructor(db: D, options: IteratorOptions, private readonly source: Source, maxKey: number) {
    super(db, options as never);
    this.scan = scanOf(source, options, maxKey);
    const keys = options.keys !== false;
    const values = options.values !== false;
    this.map = (e) => [(keys ? e.key : undefined) as Buffer, (values ? e.value : undefined) as Buffer];
  }

  async _next(): Promise<[Buffer, Buffer] | undefined> {
    const e = this.scan.next();
    return e === undefined ? undefined : this.map(e);
  }

  async _nextv(size: number): Promise<Array<[Buffer, Buffer]>> {
    return take(this.scan, size, this.map);
  }

  async _all(): Promise<Array<[Buffer, Buffer]>> {
    return take(this.scan, this.limit - this.count, this.map);
  }

  _seek(target: Buffer): void {
    this.scan.seek(target);
  }

  async _close(): Promise<void> {
    release(this.scan, this.source);
  }
}

/** Keys only: values are never read (ReadTransaction.getKeys). */
export class RotaKeyIterator<D> extends AbstractKeyIterator<D, Buffer> {
  private readonly scan: Scan<Item>;

  constructor(db: D, options: IteratorOptions, private readonly source: Source, maxKey: number) {
    super(db, options as never);
    this.scan = scanOf(source, options, maxKey, true);
  }

  async _next(): Promise<Buffer | undefined> {
    return this.scan.next()?.key;
  }

  async _nextv(size: number): Promise<Buffer[]> {
    return take(this.scan, size, keyOf);
  }

  async _all(): Promise<Buffer[]> {
    return take(this.scan, this.limit - this.count, keyOf);
  }

  _seek(target: Buffer): void {
    this.scan.seek(target);
  }

  async _close(): Promise<void> {
    release(this.scan, this.source);
  }
}

export class RotaValueIterator<D> extends AbstractValueIterator<D, Buffer, Buffer> {
  private readonly scan: Scan<Item>;

  constructor(db: D, options: IteratorOptions, private readonly source: Source, maxKey: number) {
    super(db, options as never);
    this.scan = scanOf(source, options, maxKey);
  }

  async _next(): Promise<Buffer | undefined> {
    return this.scan.next()?.value;
  }

  async _nextv(size: number): Promise<Buffer[]> {
    return take(this.scan, size, valueOf);
  }

  async _all(): Promise<Buffer[]> {
    return take(this.scan, this.limit - this.count, valueOf);
  }

  _seek(target: Buffer): void {
    this.scan.seek(target);
  }

  async _close(): Promise<void> {
    release(this.scan, this.source);
  }
}

function keyOf(e: Item): Buffer {
  return e.key;
}

function valueOf(e: Item): Buffer {
  return e.value;
}
