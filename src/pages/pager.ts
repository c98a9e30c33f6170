/**
 * Page I/O with checksums: every page read from storage is verified before anyone sees it, and
 * every page written gets its checksum (seeded with its page number) just before the write.
 */
import type { Storage } from '../storage/storage.js';
import { PAGE_CHECKSUM, PAGE_HEADER, PAGE_TXN, PAGE_TYPE, PAGE_UPPER, PageType } from './layout.js';
import { setU32, u32 } from './bytes.js';
import { checksum } from './checksum.js';
import { PageCache } from './cache.js';
import { CorruptionError } from '../errors.js';

export class Pager {
  readonly cache: PageCache;
  pagesRead = 0;
  pagesWritten = 0;

  constructor(readonly storage: Storage, readonly pageSize: number, cacheBytes: number) {
    this.cache = new PageCache(cacheBytes, pageSize);
  }

  /** A committed branch, leaf or space-map page, from the cache or verified from storage. */
  read(pgno: number): Uint8Array {
    const hit = this.cache.get(pgno);
    if (hit !== undefined) return hit;
    const p = this.load(pgno, this.pageSize);
    this.cache.put(pgno, p);
    return p;
  }

  /** Reads the overflow run at `pgno` holding `length` bytes; runs bypass the cache. */
  readRun(pgno: number, length: number): Uint8Array {
    const pages = Math.ceil((PAGE_HEADER + length) / this.pageSize);
    const run = this.load(pgno, pages * this.pageSize);
    if (run[PAGE_TYPE] !== PageType.Overflow || u32(run, PAGE_UPPER) !== pages) {
      throw new CorruptionError(`expected an overflow run of ${pages} pages`, pgno);
    }
    return run.subarray(PAGE_HEADER, PAGE_HEADER + length);
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
   * order, coalescing neighbours into one write. Stamps txn id and checksum first.
   */
  writePages(pages: Map<number, Uint8Array>, txnId: number): void {
    const order = [...pages.keys()].sort((a, b) => a - b);
    let runStart = -1;
    let runNext = -1;
    let bufs: Uint8Array[] = [];
    const flush = (): void => {
      if (bufs.length === 0) return;
      const one = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
      this.storage.write(one, runStart * this.pageSize);
      bufs = [];
    };
    for (const pgno of order) {
      const p = pages.get(pgno)!;
      setU32(p, PAGE_TXN, txnId >>> 0);
      setU32(p, PAGE_CHECKSUM, checksum(p, 4, p.length, pgno));
      this.pagesWritten += p.length / this.pageSize;
      if (pgno !== runNext || bufs.length >= 256) {
        flush();
        runStart = pgno;
      }
      bufs.push(p);
      runNext = pgno + p.length / this.pageSize;
    }
    flush();
  }
}
