/**
 * The space map: record packing, the chain of pages, replay into a free set plus pending groups,
 * and FreeSpace.promote (the epoch rule). Chains are built here the way a commit builds them:
 * each commit's pages are linked in front of the previous head; a snapshot starts a new chain.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FreeSet } from '../../src/pages/freeset.js';
import { FreeSpace, linkChain, packInto, pagesNeeded, replaySpaceMap, runsOf, type PendingGroup, type SpaceRecord } from '../../src/pages/spacemap.js';
import { PAGE_TYPE, PageType, SM_ALLOC, SM_FREE, SPACEMAP_END, SPACEMAP_NEXT, SPACEMAP_RECORDS } from '../../src/pages/layout.js';
import { setU32, u32 } from '../../src/pages/bytes.js';
import { CorruptionError } from '../../src/errors.js';
import { thrown } from '../helpers/thrown.js';

const PS = 1024;
const FREE = (txn: number, pages: number[]): SpaceRecord => ({ kind: SM_FREE, txn, runs: runsOf(pages) });
const ALLOC = (pages: number[]): SpaceRecord => ({ kind: SM_ALLOC, txn: 0, runs: runsOf(pages) });
const range = (from: number, n: number, step = 1) => Array.from({ length: n }, (_, i) => from + i * step);

/** Space-map pages by number; chain pages live far above the data pages the records describe. */
class Chain {
  readonly pages = new Map<number, Uint8Array>();
  head = 0;
  length = 0;
  private next = 1_000_000;

  commit(records: SpaceRecord[], snapshot = false): number[] {
    const n = pagesNeeded(records, PS);
    const bufs = Array.from({ length: n }, () => new Uint8Array(PS));
    const pgnos = bufs.map(() => this.next++);
    expect(packInto(records, bufs)).toBe(n);
    linkChain(bufs, pgnos, snapshot ? 0 : this.head);
    bufs.forEach((b, i) => this.pages.set(pgnos[i]!, b));
    this.head = pgnos[0]!;
    this.length = snapshot ? n : this.length + n;
    return pgnos;
  }

  /** Replays as a version with pages [nRoots, highWater); the records describe pages below 100,000. */
  replay(pendingFrom?: number, length = this.length, nRoots = 0, highWater = 100_000) {
    return replaySpaceMap((p) => {
      const b = this.pages.get(p);
      if (!b) throw new Error(`test: read of page ${p}, which is not a chain page`);
      return b;
    }, { spaceMapHead: this.head, spaceMapPages: length, nRoots, highWater }, pendingFrom);
  }
}

const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
const groups = (pending: PendingGroup[]) => pending.map((g) => ({ txn: g.txn, pages: sorted(g.pages) }));
const members = (s: FreeSet) => s.runs().flatMap(([f, n]) => range(f, n));

describe('runsOf', () => {
  it('sorts and merges adjacent pages into [first, count] runs, without touching its input', () => {
    const input = [9, 3, 4, 10, 5, 20];
    expect(runsOf(input)).toEqual([[3, 3], [9, 2], [20, 1]]);
    expect(input).toEqual([9, 3, 4, 10, 5, 20]);
    expect(runsOf([])).toEqual([]);
  });
});

describe('packing', () => {
  it('one page for small (or no) records; more as the runs outgrow a page; packInto agrees', () => {
    expect(pagesNeeded([], PS)).toBe(1);
    expect(pagesNeeded([FREE(0, [1, 2, 3]), ALLOC([7])], PS)).toBe(1);
    const perPage = Math.floor((PS - SPACEMAP_RECORDS - 12) / 8); // runs of one FREE record on an empty page
    expect(pagesNeeded([FREE(4, range(0, perPage, 2))], PS)).toBe(1);
    expect(pagesNeeded([FREE(4, range(0, perPage + 1, 2))], PS)).toBe(2);
    expect(pagesNeeded([FREE(4, range(0, 10 * perPage, 2))], PS)).toBe(10);
    expect(pagesNeeded([FREE(4, range(0, 10 * perPage, 2))], 4 * PS)).toBe(3);
  });

  it('every packed page is a space-map page whose records end within it', () => {
    const records = [ALLOC(range(0, 300, 3)), FREE(0, range(1, 200, 3)), FREE(9, range(2, 100, 3))];
    const n = pagesNeeded(records, PS);
    const bufs = Array.from({ length: n }, () => new Uint8Array(PS));
    expect(packInto(records, bufs)).toBe(n);
    for (const b of bufs) {
      expect(b[PAGE_TYPE]).toBe(PageType.SpaceMap);
      expect(u32(b, SPACEMAP_END)).toBeGreaterThan(SPACEMAP_RECORDS);
      expect(u32(b, SPACEMAP_END)).toBeLessThanOrEqual(PS);
    }
  });

  it('linkChain points each page at the next and the last at the older chain', () => {
    const bufs = [new Uint8Array(PS), new Uint8Array(PS), new Uint8Array(PS)];
    linkChain(bufs, [40, 41, 42], 7);
    expect(bufs.map((b) => u32(b, SPACEMAP_NEXT))).toEqual([41, 42, 7]);
    expect(bufs.every((b) => b[PAGE_TYPE] === PageType.SpaceMap)).toBe(true);
  });
});

describe('replaySpaceMap', () => {
  it('FREE adds, ALLOC removes, oldest commit first, across a chain of several pages', () => {
    const c = new Chain();
    c.commit([FREE(0, range(0, 500, 2))]); // 500 single-page runs: several pages
    expect(c.length).toBeGreaterThan(1);
    c.commit([ALLOC(range(0, 250, 2)), FREE(3, [1, 3, 5])]);
    c.commit([ALLOC([1]), FREE(0, [7])]);
    const { free, chain, pending } = c.replay();
    expect(chain).toHaveLength(c.length);
    expect(new Set(chain)).toEqual(new Set(c.pages.keys()));
    expect(chain[0]).toBe(c.head);
    expect(members(free)).toEqual(sorted([...range(500, 250, 2), 3, 5, 7]));
    expect(free.count).toBe(253);
    expect(pending).toEqual([]);
  });

  it('a snapshot ends the chain: older pages are not read', () => {
    const c = new Chain();
    const old = c.commit([FREE(0, [1, 2, 3])]);
    c.commit([FREE(0, [10]), FREE(5, [11])], true);
    for (const p of old) c.pages.delete(p); // unreachable now; reading one would throw
    const { free, chain } = c.replay();
    expect(members(free)).toEqual([10, 11]);
    expect(chain).toHaveLength(1);
  });

  it('pages freed by transactions at or above pendingFrom come back as pending groups, by txn', () => {
    const c = new Chain();
    c.commit([FREE(0, [1, 2])]);
    c.commit([FREE(5, [10, 11])]);
    c.commit([FREE(7, [20, 22, 24])]);
    c.commit([ALLOC([22, 1]), FREE(8, [30])]);
    const at = (from?: number) => {
      const r = c.replay(from);
      return { free: members(r.free), pending: groups(r.pending) };
    };
    expect(at()).toEqual({ free: [2, 10, 11, 20, 24, 30], pending: [] });
    expect(at(7)).toEqual({ free: [2, 10, 11], pending: [{ txn: 7, pages: [20, 24] }, { txn: 8, pages: [30] }] });
    expect(at(9)).toEqual({ free: [2, 10, 11, 20, 24, 30], pending: [] });
    expect(at(0)).toEqual({ free: [], pending: [{ txn: 0, pages: [2] }, { txn: 5, pages: [10, 11] }, { txn: 7, pages: [20, 24] }, { txn: 8, pages: [30] }] });
  });

  it('an empty chain (head 0, length 0) is an empty free set', () => {
    const r = replaySpaceMap(() => { throw new Error('no read expected'); }, { spaceMapHead: 0, spaceMapPages: 0, nRoots: 4, highWater: 4 });
    expect(r.free.count).toBe(0);
    expect(r.chain).toEqual([]);
  });

  describe('rejects a damaged chain with ROTA_CORRUPT', () => {
    const corrupt = (fn: () => unknown, message: RegExp) => {
      const e = thrown(fn);
      expect(e).toBeInstanceOf(CorruptionError);
      expect((e as Error).message).toMatch(message);
      return e as CorruptionError;
    };
    const two = () => {
      const c = new Chain();
      c.commit([FREE(0, [5, 6])]);
      c.commit([ALLOC([5])]);
      return c;
    };

    it('a chain longer or shorter than the root slot says', () => {
      const c = two();
      corrupt(() => c.replay(undefined, 1), /longer than the 1 pages/);
      corrupt(() => c.replay(undefined, 3), /has 2 pages, the root slot says 3/);
    });

    it('a page that is not a space-map page, naming it', () => {
      const c = two();
      c.pages.get(c.head)![PAGE_TYPE] = PageType.Leaf;
      expect(corrupt(() => c.replay(), /expected a space-map page/).pgno).toBe(c.head);
    });

    it('a page freed twice, or allocated while not free', () => {
      const c = new Chain();
      c.commit([FREE(0, [5])]);
      c.commit([FREE(3, [5])]);
      corrupt(() => c.replay(), /frees page 5 twice/);
      const d = new Chain();
      d.commit([FREE(0, [5])]);
      d.commit([ALLOC([6])]);
      corrupt(() => d.replay(), /allocates page 6, which is not free/);
    });

    it('an unknown record kind, and a record that runs past the end of its records', () => {
      const c = two();
      const head = c.pages.get(c.head)!;
      setU32(head, SPACEMAP_RECORDS, 9 | (1 << 8));
      expect(corrupt(() => c.replay(), /bad space-map record kind 9/).pgno).toBe(c.head);
      const d = two();
      setU32(d.pages.get(d.head)!, SPACEMAP_END, SPACEMAP_RECORDS + 8); // ALLOC header + 1 run is 12 bytes
      corrupt(() => d.replay(), /overruns its page/);
    });
  });

  it('model: any history of commits and snapshots replays to the model, for any pendingFrom', () => {
    const U = 2000;
    const commit = fc.record({
      alloc: fc.array(fc.nat(), { maxLength: 150 }),
      free: fc.array(fc.record({ i: fc.nat(), now: fc.boolean() }), { maxLength: 300 }),
      snapshot: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(commit, { minLength: 1, maxLength: 8 }), fc.nat(10), (commits, from) => {
      const freedBy = new Map<number, number>(); // free page -> freeing txn (0: reusable)
      const c = new Chain();
      commits.forEach((spec, k) => {
        const txn = k + 1;
        const freeList = sorted([...freedBy.keys()]);
        const used = range(0, U).filter((p) => !freedBy.has(p));
        const allocs = new Set(freeList.length ? spec.alloc.map((i) => freeList[i % freeList.length]!) : []);
        const frees = new Map<number, number>();
        for (const { i, now } of spec.free) frees.set(used[i % used.length]!, now ? 0 : txn);
        for (const p of allocs) freedBy.delete(p);
        for (const [p, t] of frees) freedBy.set(p, t);
        const byTxn = (t: number) => [...frees].filter(([, x]) => x === t).map(([p]) => p);
        const records: SpaceRecord[] = spec.snapshot
          ? [...new Set([0, ...freedBy.values()])].map((t) => FREE(t, [...freedBy].filter(([, x]) => x === t).map(([p]) => p)))
          : [ALLOC([...allocs]), FREE(0, byTxn(0)), FREE(txn, byTxn(txn))].filter((r) => r.runs.length > 0);
        c.commit(records, spec.snapshot);
      });
      const pendingFrom = from === 10 ? Infinity : from;
      const r = c.replay(pendingFrom);
      const wantFree = [...freedBy].filter(([, t]) => t < pendingFrom).map(([p]) => p);
      const wantTxns = [...new Set([...freedBy.values()].filter((t) => t >= pendingFrom))].sort((a, b) => a - b);
      expect(members(r.free)).toEqual(sorted(wantFree));
      expect(groups(r.pending)).toEqual(wantTxns.map((t) => ({ txn: t, pages: sorted([...freedBy].filter(([, x]) => x === t).map(([p]) => p)) })));
      expect(r.chain).toHaveLength(c.length);
    }), { numRuns: 60 });
  });
});

describe('FreeSpace', () => {
  const space = (pending: PendingGroup[], free: number[] = []) => {
    const s = new FreeSet();
    for (const p of free) s.add(p);
    return new FreeSpace(s, pending);
  };

  it('promote with no pinned version makes everything pending reusable', () => {
    const fs = space([{ txn: 4, pages: [10, 11] }, { txn: 6, pages: [12], births: [5] }], [1]);
    expect(fs.pendingCount).toBe(3);
    fs.promote([]);
    expect(members(fs.free)).toEqual([1, 10, 11, 12]);
    expect(fs.pending).toEqual([]);
    expect(fs.pendingCount).toBe(0);
  });

  it('a group goes whole once its freeing txn is at or below every pinned version', () => {
    const fs = space([{ txn: 4, pages: [10] }, { txn: 6, pages: [20, 21] }, { txn: 9, pages: [30] }]);
    fs.promote([6, 8]);
    expect(members(fs.free)).toEqual([10, 20, 21]);
    expect(groups(fs.pending)).toEqual([{ txn: 9, pages: [30] }]);
    fs.promote([8]);
    expect(groups(fs.pending)).toEqual([{ txn: 9, pages: [30] }]);
    fs.promote([9]);
    expect(members(fs.free)).toEqual([10, 20, 21, 30]);
    expect(fs.pending).toEqual([]);
  });

  it('page by page, a page born after every pinned version that is below its death is reusable', () => {
    // death 10; a reader pinned at 5 can reach pages born at or before 5, not those born 6..9
    const fs = space([{ txn: 10, pages: [1, 2, 3, 4], births: [3, 5, 6, 0] }]);
    fs.promote([5]);
    expect(members(fs.free)).toEqual([3]);
    expect(fs.pending).toEqual([{ txn: 10, pages: [1, 2, 4], births: [3, 5, 0] }]); // 0: birth unknown, kept
    fs.promote([2, 12]); // 2 predates births 3 and 5; 12 is past the death
    expect(members(fs.free)).toEqual([1, 2, 3]);
    expect(fs.pending).toEqual([{ txn: 10, pages: [4], births: [0] }]);
    fs.promote([10]);
    expect(members(fs.free)).toEqual([1, 2, 3, 4]);
  });

  it('model: a pending page becomes free exactly when no pinned version lies in [birth, death)', () => {
    const group = fc.record({
      txn: fc.integer({ min: 1, max: 20 }),
      births: fc.option(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 6 }), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(group, { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 25 }), { maxLength: 4 }), (gs, pinned) => {
      let next = 0;
      const life = new Map<number, [number, number]>(); // page -> [birth (0: unknown), death]
      const pending: PendingGroup[] = gs.map(({ txn, births }) => {
        const bs = (births ?? [0, 0]).map((b) => Math.min(b, txn)); // born at or before its death
        const pages = bs.map((b) => { life.set(next, [b, txn]); return next++; });
        return births === undefined ? { txn, pages } : { txn, pages, births: bs };
      });
      const fs = space(pending);
      fs.promote(pinned);
      const reusable = (p: number) => pinned.every((v) => v < life.get(p)![0] || v >= life.get(p)![1]);
      const all = [...life.keys()];
      expect(members(fs.free)).toEqual(all.filter(reusable));
      expect(sorted(fs.pending.flatMap((g) => g.pages))).toEqual(all.filter((p) => !reusable(p)));
      for (const g of fs.pending) for (const p of g.pages) expect(life.get(p)![1]).toBe(g.txn);
      expect(fs.pendingCount).toBe(all.filter((p) => !reusable(p)).length);
    }));
  });
});
