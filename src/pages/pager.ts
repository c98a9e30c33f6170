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
/** At most this many bytes of recycled page buffers wait for reuse (see publish). */
const MAX_SPARE_BYTES = 32 * 1024 * 1024;

export class Pager {
  readonly cache: PageCache;
  pagesRead = 0;
  pagesWritten = 0;
  /** Page buffers taken back for reuse by publish() (a statistic, for tests and benchmarks). */
  pagesRecycled = 0;
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
   * Page buffers that left the cache with nothing else holding them (publish), for the writer's
   * next pages: a load that rewrites most pages per commit then allocates (and collects) about
   * nothing per page.
   */
  private readonly spare: Buffer[] = [];
  /** writeStampedAsync calls not yet settled: their buffers are being read by the thread pool. */
  private asyncWrites = 0;
  /**
   * The file's size when readRun last asked. Runs inside it need no stat; a run past it asks
   * again. Either way no run longer than the file was at some moment is ever allocated (a file
   * truncated since then fails the read itself, as a short read).
   */
  private sizeSeen = 0;

  private readonly maxSpare: number;

  constructor(readonly storage: Storage, readonly pageSize: number, cacheBytes: number) {
    this.cache = new PageCache(cacheBytes, pageSize);
    this.maxSpare = Math.floor(MAX_SPARE_BYTES / pageSize);
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
    this.cache.put(pgno, p, expose);
    return p;
  }

  /**
   * Commit step 7 for one written page: it becomes the cached contents of `pgno`. `exposed`: the
   * buffer may be held outside the writer (its transaction handed its dirty pages out). The
   * buffer it replaces, when the cache says nothing else holds it, is kept for newPage and
   * copyPage; not while asynchronous page writes are in flight, since a commit finished
   * synchronously (finishCommit) leaves its first writes running on buffers it has published.
   */
  publish(pgno: number, page: Uint8Array, exposed: boolean): void {
    const old = this.cache.publish(pgno, page, exposed);
    if (old !== undefined && this.asyncWrites === 0 && this.spare.length < this.maxSpare && old.length === this.pageSize) {
      this.spare.push(old as Buffer);
      this.pagesRecycled++;
    }
  }

  /**
   * A zeroed page buffer for the writer. Allocating an ArrayBuffer per page dominated the cost of
   * copy-on-write, so pages come from 8-page slabs; a cached page keeps its slab alive, so the
   * cache's real footprint is at most 8 times its page budget in the worst case (in practice
   * pages of one commit are cached and evicted together).
   */
  newPage(): Buffer {
    const spare = this.spare.pop();
    return spare !== undefined ? spare.fill(0) : this.slabPage();
  }

  /**
   * A page buffer for the writer holding a copy of `src` (a page of this size): what
   * copy-on-write needs, from a recycled buffer when there is one (it is overwritten whole).
   */
  copyPage(src: Uint8Array): Buffer {
    const p = this.spare.pop() ?? this.slabPage();
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
    const buf = Buffer.allocUnsafeSlow(bytes); // own ArrayBuffer: 4-byte aligned for the checksum; Buffer so value views are Buffers
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
      // every write started is settled before the count drops (a throw above leaves some unstarted)
      void Promise.allSettled(writes).then(() => { this.asyncWrites--; });
    }
    const results = await Promise.allSettled(writes);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  /** The writes of `pages`: byte position and the neighbouring page buffers that go there together. */
  private *runs(pages: Map<number, Uint8Array>): Generator<[number, Uint8Array[]]> {
    const order = Float64Array.from(pages.keys()).sort(); // a typed sort: numeric, no comparator calls
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
