/**
 * FreeSet: a bitmap of page numbers with lowest-first allocation and lowest-run allocation,
 * checked by hand at word boundaries and against a plain Set model.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FreeSet } from '../../src/pages/freeset.js';

const setOf = (pages: number[]): FreeSet => {
  const s = new FreeSet();
  for (const p of pages) s.add(p);
  return s;
};

/** Ascending [first, count] runs of a set of numbers: the model of runs(). */
function modelRuns(pages: Iterable<number>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const p of [...pages].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === p) last[1]++;
    else out.push([p, 1]);
  }
  return out;
}

/** The model of takeRun: first page of the lowest run of n consecutive members, or -1. */
function modelTakeRun(m: Set<number>, n: number): number {
  for (const [first, count] of modelRuns(m)) {
    if (count >= n) {
      for (let q = first; q < first + n; q++) m.delete(q);
      return first;
    }
  }
  return -1;
}

describe('add / delete / has / count', () => {
  it('tracks membership and count, across word boundaries and far beyond the initial size', () => {
    const pages = [0, 1, 31, 32, 33, 63, 64, 2047, 2048, 100_000, 1_000_003];
    const s = setOf(pages);
    expect(s.count).toBe(pages.length);
    for (const p of pages) expect(s.has(p)).toBe(true);
    for (const p of [2, 30, 34, 65, 2049, 99_999, 5_000_000]) expect(s.has(p)).toBe(false);
    s.delete(32);
    s.delete(1_000_003);
    expect(s.has(32)).toBe(false);
    expect(s.has(1_000_003)).toBe(false);
    expect(s.count).toBe(pages.length - 2);
  });

  it('refuses to add a page twice or delete a page that is not there, and changes nothing', () => {
    const s = setOf([5, 40]);
    expect(() => s.add(5)).toThrow(/already free/);
    expect(() => s.delete(6)).toThrow(/not free/);
    expect(() => s.delete(10_000_000)).toThrow(/not free/); // beyond the bitmap
    expect(s.count).toBe(2);
    expect(s.runs()).toEqual([[5, 1], [40, 1]]);
  });
});

describe('takeLowest', () => {
  it('hands out pages lowest first, and -1 when empty', () => {
    const s = setOf([70, 3, 33, 1000]);
    expect([s.takeLowest(), s.takeLowest()]).toEqual([3, 33]);
    s.add(0); // below the point where the last take found a page
    expect([s.takeLowest(), s.takeLowest(), s.takeLowest(), s.takeLowest()]).toEqual([0, 70, 1000, -1]);
    expect(s.count).toBe(0);
  });
});

describe('takeRun', () => {
  it('takes the lowest run of n, skipping shorter runs, and leaves the rest of a longer run', () => {
    const s = setOf([1, 2, 10, 11, 12, 13, 20, 21, 22]);
    expect(s.takeRun(3)).toBe(10);
    expect(s.runs()).toEqual([[1, 2], [13, 1], [20, 3]]);
    expect(s.takeRun(3)).toBe(20);
    expect(s.takeRun(2)).toBe(1);
    expect(s.runs()).toEqual([[13, 1]]);
    expect(s.count).toBe(1);
  });

  it('takes an exact fit, and runs that cross 32-bit words', () => {
    const s = setOf([30, 31, 32, 33, 34]);
    expect(s.takeRun(5)).toBe(30);
    expect(s.count).toBe(0);
    const t = setOf(Array.from({ length: 100 }, (_, i) => 60 + i)); // 60..159: four words
    expect(t.takeRun(100)).toBe(60);
    expect(t.count).toBe(0);
  });

  it('returns -1 and changes nothing when no run is long enough, even if enough pages are free', () => {
    const s = setOf([0, 1, 3, 4, 6, 7, 64, 65]);
    expect(s.takeRun(3)).toBe(-1);
    expect(s.takeRun(9)).toBe(-1); // more than are free at all
    expect(s.count).toBe(8);
    expect(s.runs()).toEqual([[0, 2], [3, 2], [6, 2], [64, 2]]);
    expect(new FreeSet().takeRun(2)).toBe(-1);
  });

  it('takeRun(1) is takeLowest', () => {
    const s = setOf([9, 4]);
    expect(s.takeRun(1)).toBe(4);
    expect(s.takeRun(1)).toBe(9);
    expect(s.takeRun(1)).toBe(-1);
  });
});

describe('runs and clone', () => {
  it('runs() lists ascending maximal runs, including full words and a run at the end of the bitmap', () => {
    const pages = [...Array.from({ length: 64 }, (_, i) => 32 + i), 200, 2047, 2046];
    expect(setOf(pages).runs()).toEqual([[32, 64], [200, 1], [2046, 2]]);
    expect(new FreeSet().runs()).toEqual([]);
  });

  it('runs() round trip: adding every page of every run rebuilds an equal set', () => {
    const s = setOf([0, 1, 2, 31, 32, 500, 501, 4095]);
    const t = new FreeSet();
    for (const [first, n] of s.runs()) for (let p = first; p < first + n; p++) t.add(p);
    expect(t.runs()).toEqual(s.runs());
    expect(t.count).toBe(s.count);
  });

  it('a clone is independent of the original', () => {
    const s = setOf([1, 2, 3]);
    const c = s.clone();
    c.add(100_000); // grows the clone's bitmap only
    c.delete(2);
    s.add(4);
    expect(s.runs()).toEqual([[1, 4]]);
    expect(c.runs()).toEqual([[1, 1], [3, 1], [100_000, 1]]);
    expect(c.takeLowest()).toBe(1);
    expect(s.takeLowest()).toBe(1);
    expect(s.takeLowest()).toBe(2);
  });
});

describe('model', () => {
  const page = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 5000 }));
  const op = fc.oneof(
    { weight: 5, arbitrary: page.map((p) => ({ k: 'add' as const, n: p })) },
    { weight: 3, arbitrary: page.map((p) => ({ k: 'delete' as const, n: p })) },
    { weight: 2, arbitrary: fc.constant({ k: 'lowest' as const, n: 0 }) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 40 }).map((n) => ({ k: 'run' as const, n })) },
    { weight: 1, arbitrary: fc.constant({ k: 'clone' as const, n: 0 }) },
  );

  it('agrees with a Set on every operation, and runs() matches the model after each', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      let s = new FreeSet();
      const m = new Set<number>();
      for (const { k, n } of ops) {
        if (k === 'add') {
          if (m.has(n)) expect(() => s.add(n)).toThrow();
          else { s.add(n); m.add(n); }
        } else if (k === 'delete') {
          if (!m.has(n)) expect(() => s.delete(n)).toThrow();
          else { s.delete(n); m.delete(n); }
        } else if (k === 'lowest') {
          const want = m.size === 0 ? -1 : Math.min(...m);
          expect(s.takeLowest()).toBe(want);
          m.delete(want);
        } else if (k === 'run') {
          expect(s.takeRun(n)).toBe(modelTakeRun(m, n));
        } else {
          s = s.clone();
        }
        expect(s.count).toBe(m.size);
      }
      expect(s.runs()).toEqual(modelRuns(m));
      for (const p of m) expect(s.has(p)).toBe(true);
    }));
  });

  it('a dense set: runs() and takeRun agree with the model', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { minLength: 150, maxLength: 290 }), fc.integer({ min: 2, max: 12 }), (pages, n) => {
      const s = setOf(pages);
      const m = new Set(pages);
      expect(s.runs()).toEqual(modelRuns(m));
      for (;;) {
        const got = s.takeRun(n);
        expect(got).toBe(modelTakeRun(m, n));
        if (got < 0) break;
      }
      expect(s.runs()).toEqual(modelRuns(m));
    }));
  });
});
