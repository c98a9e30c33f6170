/**
 * pages/validate.ts: a page whose checksum is right but whose fields cannot be is refused when it
 * is read from storage, naming the page, before any reader indexes into it; well-formed pages
 * (every kind the writers produce) pass. Also the two checks that need more than the page: an
 * overflow run against the file (Pager.readRun) and space-map runs against the version
 * (replaySpaceMap).
 */
import { describe, expect, it } from 'vitest';
import { validatePage } from '../../src/pages/validate.js';
import { Pager } from '../../src/pages/pager.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { initNode, reserveCell, writeBranchCell, writeLeafCell } from '../../src/pages/node.js';
import { linkChain, packInto, replaySpaceMap, runsOf, type SpaceRecord } from '../../src/pages/spacemap.js';
import {
  LEAF_FLAGS, LEAF_VALLEN, PAGE_COUNT, PAGE_TYPE, PAGE_UPPER, PageType, SLOT_ARRAY, SM_ALLOC, SM_FREE,
  SPACEMAP_END, SPACEMAP_RECORDS, maxKeySize,
} from '../../src/pages/layout.js';
import { setU16, setU32, u16 } from '../../src/pages/bytes.js';
import { CorruptionError } from '../../src/errors.js';
import { thrown } from '../helpers/thrown.js';

const PS = 1024;
const PG = 7;

function leaf(cells: Array<[string, number | Uint8Array]>): Uint8Array {
  const p = new Uint8Array(PS);
  initNode(p, PageType.Leaf);
  cells.forEach(([k, v], i) => {
    const key = Buffer.from(k);
    const value = typeof v === 'number' ? new Uint8Array(0) : v;
    const size = 7 + key.length + (typeof v === 'number' ? 4 : value.length);
    // a number is an overflow cell: v is its first page, the value is 5000 bytes long
    writeLeafCell(p, reserveCell(p, i, size), key, key.length, value, typeof v === 'number' ? 5000 : value.length, typeof v === 'number' ? v : 0);
  });
  return p;
}

function branch(children: number[]): Uint8Array {
  const p = new Uint8Array(PS);
  initNode(p, PageType.Branch);
  children.forEach((c, i) => {
    const key = Buffer.from(i === 0 ? '' : `sep${i}`);
    writeBranchCell(p, reserveCell(p, i, 6 + key.length), c, key, 0, key.length);
  });
  return p;
}

function spaceMap(): Uint8Array {
  const p = new Uint8Array(PS);
  packInto([{ kind: SM_FREE, txn: 3, runs: runsOf([10, 11, 12, 20]) }, { kind: 2, txn: 0, runs: [[30, 2]] }, { kind: SM_FREE, txn: 0, runs: [] }], [p]);
  linkChain([p], [PG], 0);
  return p;
}

const slot = (p: Uint8Array, i: number) => u16(p, SLOT_ARRAY + 2 * i);

function refused(p: Uint8Array, message: RegExp): void {
  const e = thrown(() => validatePage(p, PG));
  expect(e).toBeInstanceOf(CorruptionError);
  expect((e as CorruptionError).pgno).toBe(PG);
  expect((e as Error).message).toMatch(message);
}

describe('validatePage: well-formed pages pass', () => {
  it('leaves (inline, overflow, empty), branches and space-map pages as the writers lay them out', () => {
    const longKey = 'k'.repeat(maxKeySize(PS));
    for (const p of [leaf([]), leaf([['a', Buffer.alloc(30, 1)], ['b', 12], [longKey, 40]]), branch([9]), branch([9, 10, 11]), spaceMap()]) {
      expect(() => validatePage(p, PG)).not.toThrow();
    }
  });
});

describe('validatePage: impossible branch and leaf pages are ROTA_CORRUPT naming the page', () => {
  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['an unknown page type', () => { const p = leaf([]); p[PAGE_TYPE] = 9; return p; }, /unknown page type 9/],
    ['an overflow run read as a page', () => { const p = leaf([]); p[PAGE_TYPE] = PageType.Overflow; return p; }, /an overflow run where/],
    ['a cell count of 65535 (slot array past the page end)', () => { const p = leaf([['a', Buffer.alloc(4)]]); setU16(p, PAGE_COUNT, 65535); return p; }, /65535 cells: the slot array runs past/],
    ['a count whose slots overlap the cells (upper below the slot array)', () => { const p = leaf([['a', Buffer.alloc(4)]]); setU16(p, PAGE_COUNT, 500); return p; }, /upper \d+ outside \[1016, 1024\]/],
    ['upper past the page end', () => { const p = leaf([]); setU32(p, PAGE_UPPER, PS + 1); return p; }, /upper 1025 outside/],
    ['upper below the header', () => { const p = leaf([]); setU32(p, PAGE_UPPER, 0); return p; }, /upper 0 outside \[16, 1024\]/],
    ['a cell offset past the page end', () => { const p = leaf([['a', Buffer.alloc(4)]]); setU16(p, SLOT_ARRAY, PS + 100); return p; }, /cell 0 offset 1124 outside/],
    ['a cell offset below upper (in the free gap)', () => { const p = leaf([['a', Buffer.alloc(4)]]); setU16(p, SLOT_ARRAY, 100); return p; }, /cell 0 offset 100 outside \[1012, 1024\)/],
    ['a leaf cell whose header crosses the page end', () => { const p = leaf([['a', Buffer.alloc(4)]]); setU16(p, SLOT_ARRAY, PS - 3); return p; }, /header runs past the page end/],
    ['an inline value length of 0xffffffff', () => { const p = leaf([['a', Buffer.alloc(4)]]); setU32(p, slot(p, 0) + LEAF_VALLEN, 0xffffffff); return p; }, /runs past the page end/],
    ['a key length past the limit', () => { const p = leaf([['a', Buffer.alloc(4)]]); setU16(p, slot(p, 0), maxKeySize(PS) + 1); return p; }, /key length 492 exceeds the limit 491/],
    ['unknown leaf flags', () => { const p = leaf([['a', Buffer.alloc(4)]]); p[slot(p, 0) + LEAF_FLAGS] = 2; return p; }, /unknown flags 2/],
    ['an overflow value length of 0xffffffff', () => { const p = leaf([['a', 12]]); setU32(p, slot(p, 0) + LEAF_VALLEN, 0xffffffff); return p; }, /overflow value length 4294967295 exceeds/],
    ['cells that do not fill the cell area (not packed)', () => { const p = leaf([['a', Buffer.alloc(4)], ['b', Buffer.alloc(4)]]); setU16(p, PAGE_COUNT, 1); setU16(p, SLOT_ARRAY, slot(p, 1)); return p; }, /cells use 12 bytes but the cell area/],
    ['an inline cell larger than the cell limit', () => { const p = new Uint8Array(PS); initNode(p, PageType.Leaf); writeLeafCell(p, reserveCell(p, 0, 600), Buffer.from('a'), 1, Buffer.alloc(592), 592, 0); return p; }, /cell 0 of 600 bytes exceeds the cell limit 502/],
    ['leaf keys out of order', () => leaf([['b', Buffer.alloc(4)], ['a', Buffer.alloc(4)]]), /leaf cell 1: key not above the key of cell 0/],
    ['a leaf key twice', () => leaf([['a', Buffer.alloc(4)], ['a', Buffer.alloc(4)]]), /leaf cell 1: key not above/],
    ['branch separators out of order', () => { const p = new Uint8Array(PS); initNode(p, PageType.Branch); ['', 'b', 'a'].forEach((k, i) => writeBranchCell(p, reserveCell(p, i, 6 + k.length), 9 + i, Buffer.from(k), 0, k.length)); return p; }, /branch cell 2: key not above the key of cell 1/],
    ['a branch with no cells', () => branch([]), /branch with no cells/],
    ['a branch whose cell 0 has a key', () => { const p = new Uint8Array(PS); initNode(p, PageType.Branch); writeBranchCell(p, reserveCell(p, 0, 7), 9, Buffer.from('x'), 0, 1); return p; }, /branch cell 0 has a key of 1 bytes/],
    ['a branch child 0', () => branch([9, 0]), /branch cell 1: child page 0/],
    ['a branch that is its own child', () => branch([PG]), /branch cell 0: child page 7/],
    ['a branch cell whose key runs past the page end', () => { const p = branch([9, 10]); setU16(p, slot(p, 1) + 4, 400); return p; }, /branch cell 1 at \d+ of 406 bytes runs past/],
  ];
  for (const [what, make, message] of cases) it(what, () => refused(make(), message));
});

describe('validatePage: impossible space-map pages are ROTA_CORRUPT naming the page', () => {
  const firstRun = SPACEMAP_RECORDS + 12; // the first run of the FREE record: [10, 3]
  const cases: Array<[string, (p: Uint8Array) => void, RegExp]> = [
    ['an end past the page', (p) => setU32(p, SPACEMAP_END, PS + 4), /space-map end 1028 outside/],
    ['an end inside the header', (p) => setU32(p, SPACEMAP_END, 8), /space-map end 8 outside/],
    ['more records than the records area holds', (p) => setU16(p, PAGE_COUNT, 9), /record 3 of 9 starts at/],
    ['fewer records than the area holds', (p) => setU16(p, PAGE_COUNT, 2), /records end at \d+, the page says/],
    ['an unknown record kind', (p) => setU32(p, SPACEMAP_RECORDS, 9 | (1 << 8)), /record 0: unknown kind 9/],
    ['a run count of 2^24 - 1 runs', (p) => setU32(p, SPACEMAP_RECORDS, SM_FREE | (0xffffff << 8)), /16777215 runs overrun/],
    ['a run of 0xffffffff pages', (p) => setU32(p, firstRun + 4, 0xffffffff), /run \[10, \+4294967295\) is empty or past/],
    ['an empty run', (p) => setU32(p, firstRun + 4, 0), /run \[10, \+0\) is empty/],
  ];
  for (const [what, damage, message] of cases) {
    it(what, () => {
      const p = spaceMap();
      damage(p);
      refused(p, message);
    });
  }
});

describe('the Pager validates what it loads, once, and caches only pages that pass', () => {
  it('a bad page is refused on every read and never cached; a good one is validated on its miss only', () => {
    const s = new MemoryStorage();
    const bad = leaf([['a', Buffer.alloc(4)]]);
    setU16(bad, SLOT_ARRAY, PS + 100);
    new Pager(s, PS, 64 * PS).writePages(new Map([[3, bad], [4, leaf([['b', Buffer.alloc(4)]])]]), 1);
    const pager = new Pager(s, PS, 64 * PS);
    for (let i = 0; i < 2; i++) {
      const e = thrown(() => pager.read(3));
      expect(e).toBeInstanceOf(CorruptionError);
      expect((e as Error).message).toMatch(/^page 3: leaf cell 0 offset 1124/);
    }
    expect(pager.cache.size).toBe(0);
    expect(pager.read(4)).toBe(pager.read(4));
    expect(pager.cache.size).toBe(1);
  });
});

describe('overflow runs are checked against the file before their buffer is allocated', () => {
  /** MemoryStorage that records the length of every read. */
  class Reads extends MemoryStorage {
    lengths: number[] = [];
    override read(buf: Uint8Array, position: number): number {
      this.lengths.push(buf.length);
      return super.read(buf, position);
    }
  }

  it('a run that would end past the end of the file, or a length over the limit, is refused without a read', () => {
    const s = new Reads();
    const run = new Uint8Array(2 * PS);
    run[PAGE_TYPE] = PageType.Overflow;
    setU32(run, PAGE_UPPER, 2);
    new Pager(s, PS, 64 * PS).writePages(new Map([[4, run]]), 1); // the file has 6 pages
    const pager = new Pager(s, PS, 64 * PS);
    expect(pager.readRun(4, 2 * PS - 16, 1).length).toBe(2 * PS - 16);
    s.lengths = [];
    for (const [pgno, length, message] of [
      [4, 2 * PS, /overflow run of 3 pages would end past the end of the file \(6144 bytes\)/],
      [5, PS, /overflow run of 2 pages would end past the end of the file/],
      [4, 0x7fffffff, /overflow run of 2097153 pages would end past/],
      [4, 0xffffffff, /overflow value length 4294967295 outside/],
      [4, -1, /overflow value length -1 outside/],
    ] as const) {
      const e = thrown(() => pager.readRun(pgno, length, 1));
      expect(e).toBeInstanceOf(CorruptionError);
      expect((e as CorruptionError).pgno).toBe(pgno);
      expect((e as Error).message).toMatch(message);
    }
    expect(s.lengths).toEqual([]);
  });
});

describe('replaySpaceMap: runs against the version, at a cost bounded by its high-water mark', () => {
  /** A chain of one page per commit (oldest first), head at page 50 + commits - 1. */
  const replay = (commits: SpaceRecord[][], nRoots: number, highWater: number) => {
    const pages = new Map<number, Uint8Array>();
    commits.forEach((records, i) => {
      const p = new Uint8Array(PS);
      packInto(records, [p]);
      linkChain([p], [50 + i], i === 0 ? 0 : 50 + i - 1);
      pages.set(50 + i, p);
    });
    return () => replaySpaceMap((pgno) => pages.get(pgno)!, { spaceMapHead: 50 + commits.length - 1, spaceMapPages: commits.length, nRoots, highWater });
  };
  const FREE = (runs: Array<[number, number]>): SpaceRecord => ({ kind: SM_FREE, txn: 0, runs });
  const ALLOC = (runs: Array<[number, number]>): SpaceRecord => ({ kind: SM_ALLOC, txn: 0, runs });
  const fails = (fn: () => unknown, message: RegExp, pgno: number) => {
    const e = thrown(fn);
    expect(e).toBeInstanceOf(CorruptionError);
    expect((e as CorruptionError).pgno).toBe(pgno);
    expect((e as Error).message).toMatch(message);
  };

  it('a run of 2^32 - 1 - first pages past the high-water mark (once 40 s and 840 MB) fails at once', () => {
    const started = Date.now();
    fails(replay([[FREE([[100, 0xffffffff - 100]])]], 4, 60), /leaves pages \[100, 4294967295\) free, at or above the high-water mark 60/, 50);
    fails(replay([[FREE([[10, 0xffffffff - 10]])]], 4, 60), /leaves pages \[60, 4294967295\) free/, 50);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a tail freed and later trimmed (taken back by ALLOC) replays: pages past the mark in old records are legal', () => {
    const r = replay([[FREE([[40, 30]])], [ALLOC([[60, 10]]), FREE([[20, 2]])]], 4, 60)();
    expect(r.free.runs()).toEqual([[20, 2], [40, 20]]);
    // in two steps, and as adjacent runs freed separately then taken back as one
    expect(replay([[FREE([[60, 5]]), FREE([[65, 5]])], [ALLOC([[62, 3]])], [ALLOC([[60, 2], [65, 5]])]], 4, 60)().free.count).toBe(0);
  });

  it('past the mark: a page freed twice, allocated while not free, or left free is ROTA_CORRUPT', () => {
    fails(replay([[FREE([[60, 10]])], [FREE([[65, 1]])]], 4, 60), /frees page 65 twice/, 51);
    fails(replay([[FREE([[60, 10]])], [ALLOC([[55, 10]])]], 4, 60), /allocates page 55, which is not free/, 51);
    fails(replay([[FREE([[60, 10]])], [ALLOC([[65, 10]])]], 4, 60), /allocates page 70, which is not free/, 51);
    fails(replay([[FREE([[60, 10]])], [ALLOC([[61, 8]])]], 4, 60), /leaves pages \[60, 61\) free/, 51);
  });

  it('a run that includes a root slot fails (a writer would overwrite the slot)', () => {
    fails(replay([[FREE([[3, 2]])]], 4, 60), /run \[3, 5\) includes a root slot \(nRoots 4\)/, 50);
    expect(replay([[FREE([[4, 56]])]], 4, 60)().free.count).toBe(56);
  });
});
