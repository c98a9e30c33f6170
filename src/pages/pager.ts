/**
 * Page I/O with checksums: every page read from storage is verified before anyone sees it, and
 * every page written gets its checksum (seeded with its page number) just before the write.
 */
import type { Storage } from '../storage/storage.js';
import { MAX_VALUE_SIZE, PAGE_CHECKSUM, PAGE_HEADER, PAGE_TXN, PAGE_TYPE, PAGE_UPPER, PageType } from './layout.js';
import { setU32, u32 } from './bytes.js';
import { CommitDigest, checksum } from './checksum.js';
import { PageCache } from './cache.js';
import { validatePage } from './validate.js';
import { CorruptionError } from '../errors.js';

/**
 * Throws unless `page` was written by version `version` or an older one. Every page that version v
 * reaches was written by a transaction <= v (committed pages are never rewritten), so a newer one
 * means the page number was reused: a stale cache entry, a fallback to a version whose pages
 * were reused, or a damaged pointer. The header keeps the low 32 bits of the writer's id, so ids
 * are compared modulo 2^32 (exact while the two are less than 2^31 apart).
 */
export function assertBornBy(page: Uint8Array, pgno: number, version: number): void {
  const birth = u32(page, PAGE_TXN);
  if (((birth - version) | 0) > 0) {
    throw new CorruptionError(`written by transaction ${version + ((birth - version) | 0)}, after version ${version} that reaches it: the page was reused`, pgno);
  }
}

/** Neighbouring pages are gathered into one write of at most this many pages. */
const MAX_WRITE_PAGES = 256;
/** Dirty pages are carved from slabs of this many pages (one ArrayBuffer each). */
const SLAB_PAGES = 8;
/** Recycled page buffers kept at most (quarantined and spare together): this many bytes, and an eighth of the cache's pages. */
const MAX_SPARE_BYTES = 32 * 1024 * 1024;

export class Pager {
  readonly cache: PageCache;
  pagesRead = 0;
  pagesWritten = 0;
  /**
   * Test mode (ROTADB_VERIFY_CACHE=1): every cache hit is compared with the page on disk. Sound
   * because a page any reader or the writer may reach never changes on disk; a difference means
   * a stale cache entry, which is what cross-thread invalidation exists to prevent.
   */
  private readonly verifyHits = process.env.ROTADB_VERIFY_CACHE === '1';
  private gather: Buffer | undefined;
  private slab: Buffer | undefined;
  private slabUsed = SLAB_PAGES;
  /**
   * The file's size when readRun last asked. Runs inside it need no stat; a run past it asks
   * again. Either way no run longer than the file was at some moment is ever allocated (a file
   * truncated since then fails the read itself, as a short read).
   */
  private sizeSeen = 0;

  /*
   * Recycling. A page buffer the cache displaced (a page whose number a commit reused, or one
   * evicted to make room) still holds committed bytes, and something may hold the buffer: a
   * cursor of a read transaction or iterator of this thread, the write transaction's descent,
   * the read in progress, an asynchronous write on the thread pool. So it waits in `quarantine`
   * until a moment when none of those can exist: no registered read transaction and no write
   * transaction of this thread is open (`holders`, counted by txn/), no asynchronous page write
   * is in flight, and no read is in progress (settle() runs at the end of a short read and of a
   * commit). From then on nothing can reach it (a getBinaryFast view is valid only until the
   * next call) and its memory goes to the next page read from storage or copied by the writer,
   * saving the allocation and the garbage collection of 4 KiB per cache miss and per dirty page.
   * A recycled buffer gets a new Buffer object over the old memory, so code that recognises a
   * page by its buffer's identity (btree/leaf-copies.ts) never takes new contents for old.
   *
   * One exception skips the quarantine: a buffer that a commit replaced under its own page
   * number and that was never exposed (cache.ts, "Exposure": only the writer's tree code read
   * it, through peek(), and that code keeps no buffer past one operation; the transaction that
   * did so has ended when its commit publishes). Nothing of this thread can hold it, whatever
   * readers are open, so it is reusable at once, unless asynchronous page writes are in flight
   * (a commit finished synchronously by finishCommit may leave its first writes running on
   * buffers it published). So a load keeps recycling the pages it rewrites while readers of
   * this thread stay open (their holds stop only the quarantine).
   */
  private readonly quarantine: Uint8Array[] = [];
  private readonly spare: Uint8Array[] = [];
  private readonly spareMax: number;
  /** Registered read transactions and write transactions of this thread not yet ended (txn/ counts them). */
  holders = 0;
  /** Calls of writeStampedAsync not yet settled: their buffers may still be read by the thread pool. */
  private asyncWrites = 0;
  /** Displaced buffers made reusable so far (tests, benchmarks). */
  recycled = 0;

  constructor(readonly storage: Storage, readonly pageSize: number, cacheBytes: number) {
    this.cache = new PageCache(cacheBytes, pageSize);
    this.spareMax = Math.min(Math.floor(MAX_SPARE_BYTES / pageSize), this.cache.capacity >>> 3);
  }

  /**
   * Caches a committed page (the writer's at commit, or one just read; `exposed` as for
   * PageCache.put). Its displaced buffer is reusable at once if the cache says nothing outside
   * the writer's tree code saw it, else it waits in quarantine (see "Recycling" above).
   */
  cachePut(pgno: number, page: Uint8Array, exposed = true): void {
    const old = this.cache.put(pgno, page, exposed);
    if (old === undefined || old.length !== this.pageSize || this.quarantine.length + this.spare.length >= this.spareMax) return;
    if (this.cache.displacedUnexposed && this.asyncWrites === 0) {
      this.spare.push(old);
      this.recycled++;
    } else {
      this.quarantine.push(old);
    }
  }

  /**
   * A moment when this thread reads nothing (the end of a short read or of a commit): if no
   * holder is open either, the quarantined buffers become reusable (see "Recycling" above).
   */
  settle(): void {
    if (this.quarantine.length === 0 || this.holders !== 0 || this.asyncWrites !== 0) return;
    for (const b of this.quarantine) this.spare.push(b);
    this.recycled += this.quarantine.length;
    this.quarantine.length = 0;
  }

  /** A reusable page buffer (contents undefined) as a new Buffer object, or undefined. */
  private takeSpare(): Buffer | undefined {
    const b = this.spare.pop();
    if (b === undefined) return undefined;
    return Buffer.from(b.buffer, b.byteOffset, b.length);
  }

  /**
   * A committed branch, leaf or space-map page, from the cache or read from storage and verified:
   * checksum, then structure (pages/validate.ts), so every cached page is well formed.
   */
  read(pgno: number): Uint8Array {
    return this.readPage(pgno, true);
  }

  /**
   * read() for the writer's tree code, which keeps no reference to the buffer once its operation
   * is over (PageWriter.peek): such a read does not mark the cached buffer exposed (cache.ts), so
   * the buffer can be recycled once a commit replaces it.
   */
  peek(pgno: number): Uint8Array {
    return this.readPage(pgno, false);
  }

  private readPage(pgno: number, expose: boolean): Uint8Array {
    const hit = this.cache.get(pgno, expose);
    if (hit !== undefined) {
      if (this.verifyHits && Buffer.compare(this.load(pgno, this.pageSize), hit) !== 0) {
        throw new CorruptionError('stale page cache entry: the cached copy differs from the page on disk', pgno);
      }
      return hit;
    }
    const p = this.load(pgno, this.pageSize);
    validatePage(p, pgno);
    this.cachePut(pgno, p, expose);
    return p;
  }

  /**
   * A zeroed page buffer for the writer. Allocating an ArrayBuffer per page dominated the cost of
   * copy-on-write, so pages come from 8-page slabs; a cached page keeps its slab alive, so the
   * cache's real footprint is at most 8 times its page budget in the worst case (in practice
   * pages of one commit are cached and evicted together).
   */
  newPage(): Buffer {
    const s = this.takeSpare();
    if (s !== undefined) return s.fill(0);
    return this.slabPage();
  }

  /**
   * A page buffer for the writer holding a copy of `src` (a page of this size): what
   * copy-on-write needs, from a recycled buffer when there is one (it is overwritten whole).
   */
  copyPage(src: Uint8Array): Buffer {
    const p = this.takeSpare() ?? this.slabPage();
    p.set(src);
    return p;
  }

  /** The next (zeroed) page of the current slab. */
  private slabPage(): Buffer {
    if (this.slabUsed === SLAB_PAGES) {
      this.slab = Buffer.alloc(SLAB_PAGES * this.pageSize);
      this.slabUsed = 0;
    }
    const at = this.slabUsed++ * this.pageSize;
    return this.slab!.subarray(at, at + this.pageSize);
  }

  /** Reads the overflow run at `pgno` holding `length` bytes of version `version`; runs bypass the cache. */
  readRun(pgno: number, length: number, version: number): Uint8Array {
    const run = this.loadRun(pgno, length);
    assertBornBy(run, pgno, version);
    return run.subarray(PAGE_HEADER, PAGE_HEADER + length);
  }

  /** The whole overflow run (header included) at `pgno` for a value of `length` bytes, verified. */
  loadRun(pgno: number, length: number): Uint8Array {
    // A length or page number from a damaged cell must not size an allocation or a read: check
    // both against the format's limit and the file before allocating the run's buffer.
    if (!(length >= 0 && length <= MAX_VALUE_SIZE)) throw new CorruptionError(`overflow value length ${length} outside [0, ${MAX_VALUE_SIZE}]`, pgno);
    const pages = Math.ceil((PAGE_HEADER + length) / this.pageSize);
    const end = (pgno + pages) * this.pageSize;
    if (end > this.sizeSeen && end > (this.sizeSeen = this.storage.size())) {
      throw new CorruptionError(`an overflow run of ${pages} pages would end past the end of the file (${this.sizeSeen} bytes)`, pgno);
    }
    const run = this.load(pgno, pages * this.pageSize);
    if (run[PAGE_TYPE] !== PageType.Overflow || u32(run, PAGE_UPPER) !== pages) {
      throw new CorruptionError(`expected an overflow run of ${pages} pages`, pgno);
    }
    return run;
  }

  private load(pgno: number, bytes: number): Uint8Array {
    // own ArrayBuffer (or a recycled page's): 4-byte aligned for the checksum; Buffer so value views are Buffers
    const buf = (bytes === this.pageSize ? this.takeSpare() : undefined) ?? Buffer.allocUnsafeSlow(bytes);
    const n = this.storage.read(buf, pgno * this.pageSize);
    this.pagesRead++;
    if (n !== bytes) throw new CorruptionError(`short read (${n} of ${bytes} bytes): the file is truncated`, pgno);
    if (checksum(buf, 4, bytes, pgno) !== u32(buf, PAGE_CHECKSUM)) {
      throw new CorruptionError('checksum mismatch: the page is damaged on disk', pgno);
    }
    return buf;
  }

  /**
   * Writes pages (`pgno -> bytes`; an overflow run is one entry of several pages) in ascending
   * order, coalescing neighbours into one write. Stamps txn id and checksum first. Returns the
   * digest of what it wrote (a one-fsync commit stores it in its root slot).
   */
  writePages(pages: Map<number, Uint8Array>, txnId: number): CommitDigest {
    const digest = this.stamp(pages, txnId);
    this.writeStamped(pages);
    return digest;
  }

  /** Stamps every page with the writer's id and its checksum; returns the digest of them all. */
  stamp(pages: Map<number, Uint8Array>, txnId: number): CommitDigest {
    const digest = new CommitDigest();
    for (const [pgno, p] of pages) digest.add(pgno, this.stampPage(pgno, p, txnId));
    return digest;
  }

  /** Stamps one page (an overflow run counts as one) with the writer's id and its checksum; returns the checksum. */
  stampPage(pgno: number, p: Uint8Array, txnId: number): number {
    setU32(p, PAGE_TXN, txnId >>> 0);
    const sum = checksum(p, 4, p.length, pgno);
    setU32(p, PAGE_CHECKSUM, sum);
    return sum;
  }

  /** Writes stamped pages synchronously, neighbours gathered into one reusable buffer. */
  writeStamped(pages: Map<number, Uint8Array>): void {
    for (const [position, bufs] of this.runs(pages)) {
      if (bufs.length === 1) {
        this.storage.write(bufs[0]!, position);
        continue;
      }
      // gather into one reusable buffer: one write call, no allocation per commit
      this.gather ??= Buffer.allocUnsafeSlow(MAX_WRITE_PAGES * this.pageSize);
      let at = 0;
      for (const b of bufs) { this.gather.set(b, at); at += b.length; }
      this.storage.write(this.gather.subarray(0, at), position);
    }
  }

  /**
   * Writes stamped pages off the event loop (Storage.writeAsync, all runs at once: they never
   * overlap), each run of neighbours in a buffer of its own, since the writes are in flight
   * together. Without writeAsync, the same writes synchronously.
   */
  async writeStampedAsync(pages: Map<number, Uint8Array>): Promise<void> {
    const s = this.storage;
    if (s.writeAsync === undefined) return this.writeStamped(pages);
    const writes: Promise<void>[] = [];
    this.asyncWrites++;
    try {
      for (const [position, bufs] of this.runs(pages)) {
        // a gathered write (pwritev) needs no copy of the pages into one buffer
        writes.push(bufs.length === 1 ? s.writeAsync(bufs[0]!, position) : s.writevAsync ? s.writevAsync(bufs, position) : s.writeAsync(Buffer.concat(bufs), position));
      }
    } finally {
      // every write issued must settle before its buffers may be recycled, even if issuing failed
      void Promise.allSettled(writes).then(() => { this.asyncWrites--; });
    }
    const results = await Promise.allSettled(writes);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  /** The writes of `pages`: byte position and the neighbouring page buffers that go there together. */
  private *runs(pages: Map<number, Uint8Array>): Generator<[number, Uint8Array[]]> {
    const order = Uint32Array.from(pages.keys()).sort(); // numeric, without a comparator call per step
    let runStart = -1;
    let runNext = -1;
    let bufs: Uint8Array[] = [];
    for (const pgno of order) {
      const p = pages.get(pgno)!;
      const n = p.length / this.pageSize;
      this.pagesWritten += n;
      if (n > MAX_WRITE_PAGES) {
        if (bufs.length > 0) yield [runStart * this.pageSize, bufs];
        bufs = [];
        yield [pgno * this.pageSize, [p]]; // a large overflow run goes out on its own
        runNext = -1;
        continue;
      }
      if (pgno !== runNext || runNext - runStart + n > MAX_WRITE_PAGES) {
        if (bufs.length > 0) yield [runStart * this.pageSize, bufs];
        bufs = [];
        runStart = pgno;
      }
      bufs.push(p);
      runNext = pgno + n;
    }
    if (bufs.length > 0) yield [runStart * this.pageSize, bufs];
  }
}
