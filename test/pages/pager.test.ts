/**
 * Pager: every page read is verified against its checksum (seeded with its page number) before
 * anyone sees it; writes stamp txn id and checksum and coalesce neighbouring pages.
 */
import { describe, expect, it } from 'vitest';
import { Pager } from '../../src/pages/pager.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { PAGE_HEADER, PAGE_TXN, PAGE_TYPE, PAGE_UPPER, PageType } from '../../src/pages/layout.js';
import { setU32, u32 } from '../../src/pages/bytes.js';
import { CorruptionError } from '../../src/errors.js';
import { thrown } from '../helpers/thrown.js';

const PS = 1024;

/** MemoryStorage that records the [first page, pages] of every write. */
class Counting extends MemoryStorage {
  writes: Array<[number, number]> = [];
  override write(buf: Uint8Array, position: number): void {
    this.writes.push([position / PS, buf.length / PS]);
    super.write(buf, position);
  }
}

/** An empty leaf (well formed: reads validate structure) with `tag` in its free gap. */
function leaf(tag: number): Uint8Array {
  const p = new Uint8Array(PS);
  p[PAGE_TYPE] = PageType.Leaf;
  setU32(p, PAGE_UPPER, PS);
  p[PAGE_HEADER] = tag;
  return p;
}

function run(payload: Uint8Array): Uint8Array {
  const pages = Math.ceil((PAGE_HEADER + payload.length) / PS);
  const p = new Uint8Array(pages * PS);
  p[PAGE_TYPE] = PageType.Overflow;
  setU32(p, PAGE_UPPER, pages);
  p.set(payload, PAGE_HEADER);
  return p;
}

const corrupt = (fn: () => unknown, message: RegExp, pgno: number) => {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(CorruptionError);
  expect((e as Error).message).toMatch(message);
  expect((e as CorruptionError).pgno).toBe(pgno);
};

describe('read and write', () => {
  it('written pages read back verified, with the txn id stamped; a second read is a cache hit', () => {
    const s = new MemoryStorage();
    const pager = new Pager(s, PS, 64 * PS);
    pager.writePages(new Map([[3, leaf(33)], [1, leaf(11)]]), 2 ** 32 + 9);
    expect(pager.pagesWritten).toBe(2);
    const p = pager.read(3);
    expect(p[PAGE_HEADER]).toBe(33);
    expect(u32(p, PAGE_TXN)).toBe(9); // low 32 bits
    expect(pager.read(1)[PAGE_HEADER]).toBe(11);
    expect(pager.pagesRead).toBe(2);
    expect(pager.read(3)).toBe(p);
    expect(pager.pagesRead).toBe(2);
    expect(pager.cache.hits).toBe(1);
  });

  it('a damaged byte anywhere in a page fails the read, naming the page, and caches nothing', () => {
    const s = new MemoryStorage();
    new Pager(s, PS, 64 * PS).writePages(new Map([[2, leaf(1)]]), 1);
    for (const at of [0, 4, PAGE_HEADER, PS - 1]) {
      const img = s.snapshot();
      img[2 * PS + at] ^= 0x10;
      const pager = new Pager(MemoryStorage.from(img), PS, 64 * PS);
      corrupt(() => pager.read(2), /checksum mismatch/, 2);
      expect(pager.cache.size).toBe(0);
    }
  });

  it('an intact page at the wrong position fails (the checksum is seeded with the page number)', () => {
    const s = new MemoryStorage();
    new Pager(s, PS, 64 * PS).writePages(new Map([[2, leaf(1)]]), 1);
    const img = s.snapshot();
    const moved = new MemoryStorage();
    moved.write(img.subarray(2 * PS, 3 * PS), 5 * PS);
    corrupt(() => new Pager(moved, PS, 64 * PS).read(5), /checksum mismatch/, 5);
  });

  it('a page past the end of the file is a short read', () => {
    const s = new MemoryStorage();
    const pager = new Pager(s, PS, 64 * PS);
    pager.writePages(new Map([[0, leaf(1)]]), 1);
    corrupt(() => pager.read(1), /short read \(0 of 1024 bytes\)/, 1);
    s.truncate(PS + 100);
    corrupt(() => pager.read(1), /short read \(100 of 1024 bytes\)/, 1);
  });
});

describe('writePages coalescing', () => {
  it('neighbouring pages (an overflow run counts as its pages) go out as one write, in ascending order', () => {
    const s = new Counting();
    const pager = new Pager(s, PS, 64 * PS);
    const pages = new Map<number, Uint8Array>([[10, leaf(1)], [5, leaf(2)], [7, run(new Uint8Array(2 * PS + 10).fill(3))], [6, leaf(4)], [12, leaf(5)]]);
    pager.writePages(pages, 1);
    expect(s.writes).toEqual([[5, 6], [12, 1]]); // 5, 6, 7-9, 10 | 12
    expect(pager.pagesWritten).toBe(7);
    expect([5, 6, 10, 12].map((p) => pager.read(p)[PAGE_HEADER])).toEqual([2, 4, 1, 5]);
    expect(pager.readRun(7, 2 * PS + 10, 1).every((b) => b === 3)).toBe(true);
  });

  it('a write holds at most 256 pages; a longer overflow run is written on its own', () => {
    const s = new Counting();
    const pager = new Pager(s, PS, 64 * PS);
    const pages = new Map<number, Uint8Array>();
    for (let p = 0; p < 300; p++) pages.set(p, leaf(p & 0xff));
    pages.set(300, run(new Uint8Array(400 * PS).fill(7))); // 401 pages
    pages.set(701, leaf(9));
    pager.writePages(pages, 1);
    expect(s.writes).toEqual([[0, 256], [256, 44], [300, 401], [701, 1]]);
    expect(pager.read(299)[PAGE_HEADER]).toBe(299 & 0xff);
    expect(pager.read(701)[PAGE_HEADER]).toBe(9);
  });
});

describe('overflow runs', () => {
  it('readRun returns exactly the value bytes, verified, without caching them', () => {
    const s = new MemoryStorage();
    const pager = new Pager(s, PS, 64 * PS);
    const value = Uint8Array.from({ length: 3 * PS }, (_, i) => (i * 7) & 0xff);
    pager.writePages(new Map([[4, run(value)]]), 1);
    expect(Buffer.from(pager.readRun(4, value.length, 1)).equals(Buffer.from(value))).toBe(true);
    expect(pager.cache.size).toBe(0);
  });

  it('a run whose header gives another page count, or a page that is not a run, is corruption', () => {
    const s = new MemoryStorage();
    const pager = new Pager(s, PS, 64 * PS);
    const wrong = run(new Uint8Array(PS)); // 2 pages
    setU32(wrong, PAGE_UPPER, 3);
    pager.writePages(new Map<number, Uint8Array>([[4, wrong], [0, leaf(1)]]), 1);
    corrupt(() => pager.readRun(4, PS, 1), /expected an overflow run of 2 pages/, 4);
    corrupt(() => pager.readRun(0, 10, 1), /expected an overflow run of 1 pages/, 0);
    // asking for fewer pages than were written checks a shorter span: the checksum fails first
    corrupt(() => pager.readRun(4, 10, 1), /checksum mismatch/, 4);
  });

  it('a run written after the version that reads it is a reused page: corruption, not data', () => {
    const s = new MemoryStorage();
    const pager = new Pager(s, PS, 64 * PS);
    pager.writePages(new Map([[4, run(new Uint8Array(PS))]]), 9);
    expect(pager.readRun(4, PS, 9).length).toBe(PS);
    corrupt(() => pager.readRun(4, PS, 8), /written by transaction 9, after version 8/, 4);
    // ids compare modulo 2^32: a writer 2^32 + 9 is read back as the same low word
    expect(pager.readRun(4, PS, 2 ** 32 + 9).length).toBe(PS);
  });
});

describe('newPage', () => {
  it('hands out zeroed, page-sized, non-overlapping buffers', () => {
    const pager = new Pager(new MemoryStorage(), PS, 64 * PS);
    const pages = Array.from({ length: 20 }, () => pager.newPage());
    for (const p of pages) {
      expect(p.length).toBe(PS);
      expect(p.every((b) => b === 0)).toBe(true);
    }
    pages.forEach((p, i) => p.fill(i + 1));
    pages.forEach((p, i) => expect(p.every((b) => b === i + 1)).toBe(true));
  });
});
