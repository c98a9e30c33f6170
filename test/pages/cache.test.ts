/**
 * PageCache: a per-thread cache of committed pages, bounded in pages (the byte budget divided by
 * the page size), evicting by CLOCK, looked up through a page table (a Map for page numbers
 * from 2^26 on) that must never serve a buffer the cache no longer holds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PageCache } from '../../src/pages/cache.js';

const PS = 1024;
/** A distinct buffer per call, tagged so a wrong one is easy to spot in a failure. */
let made = 0;
const page = (): Uint8Array => {
  const b = new Uint8Array(PS);
  b[0] = ++made & 0xff;
  return b;
};
const FRONT = 4096; // pages p and p + FRONT share a front-table entry

describe('capacity', () => {
  it('is the byte budget in whole pages, at least 16', () => {
    expect(new PageCache(100 * 4096, 4096).capacity).toBe(100);
    expect(new PageCache(10 * 4096 + 4095, 4096).capacity).toBe(16); // 10 pages is below the minimum
    expect(new PageCache(40 * 4096 + 4095, 4096).capacity).toBe(40);
    expect(new PageCache(0, 4096).capacity).toBe(16);
    expect(new PageCache(1 << 20, 65536).capacity).toBe(16);
  });

  it('never holds more pages than its capacity, whatever is put', () => {
    const c = new PageCache(20 * PS, PS);
    for (let p = 0; p < 500; p++) {
      c.put(p * 7, page());
      expect(c.size).toBeLessThanOrEqual(20);
    }
    expect(c.size).toBe(20);
  });
});

describe('get / put / delete / clear', () => {
  it('returns exactly the buffer put, and undefined for a page never put', () => {
    const c = new PageCache(16 * PS, PS);
    const a = page();
    c.put(3, a);
    expect(c.get(3)).toBe(a);
    expect(c.get(3)).toBe(a); // second read comes from the front table: same buffer
    expect(c.get(4)).toBeUndefined();
    expect(c.size).toBe(1);
  });

  it('put over a cached page replaces it, in the map and in the front table', () => {
    const c = new PageCache(16 * PS, PS);
    const a = page();
    const b = page();
    c.put(9, a);
    expect(c.get(9)).toBe(a); // now in the front table too
    c.put(9, b);
    expect(c.get(9)).toBe(b);
    expect(c.get(9)).toBe(b);
    expect(c.size).toBe(1);
  });

  it('delete drops the page from the map and the front table; deleting an absent page is a no-op', () => {
    const c = new PageCache(16 * PS, PS);
    c.put(5, page());
    c.get(5);
    c.delete(5);
    expect(c.get(5)).toBeUndefined();
    expect(c.size).toBe(0);
    c.delete(5);
    c.delete(123);
    expect(c.size).toBe(0);
    const again = page();
    c.put(5, again); // a reused page number: the new buffer, never the old one
    expect(c.get(5)).toBe(again);
  });

  it('clear drops everything, including front-table entries, and the cache fills again afterwards', () => {
    const c = new PageCache(16 * PS, PS);
    for (let p = 0; p < 16; p++) { c.put(p, page()); c.get(p); }
    c.clear();
    expect(c.size).toBe(0);
    for (let p = 0; p < 16; p++) expect(c.get(p)).toBeUndefined();
    const fresh = Array.from({ length: 16 }, () => page());
    fresh.forEach((b, p) => c.put(p, b));
    expect(c.size).toBe(16);
    fresh.forEach((b, p) => expect(c.get(p)).toBe(b));
  });

  it('pages that share a front-table entry do not serve each other', () => {
    const c = new PageCache(16 * PS, PS);
    const a = page();
    const b = page();
    c.put(7, a);
    c.put(7 + FRONT, b);
    expect(c.get(7)).toBe(a);
    expect(c.get(7 + FRONT)).toBe(b);
    expect(c.get(7)).toBe(a);
    c.delete(7 + FRONT);
    expect(c.get(7)).toBe(a);
    expect(c.get(7 + FRONT)).toBeUndefined();
  });

  it('an evicted page is gone from the front table too, and its reuse serves the new buffer', () => {
    const c = new PageCache(16 * PS, PS);
    const old = page();
    c.put(0, old);
    c.get(0);
    for (let p = 1; p < 100; p++) c.put(p, page()); // far past capacity: page 0 is evicted
    expect(c.get(0)).toBeUndefined();
    const fresh = page();
    c.put(0, fresh);
    expect(c.get(0)).toBe(fresh);
  });

  it('page numbers up to 2^32 - 1 work (u32 on disk)', () => {
    const c = new PageCache(16 * PS, PS);
    const a = page();
    const b = page();
    c.put(0xffffffff, a);
    c.put(0xffffffff - FRONT, b);
    expect(c.get(0xffffffff)).toBe(a);
    expect(c.get(0xffffffff - FRONT)).toBe(b);
    expect(c.get(0xffffffff)).toBe(a);
  });
});

describe('hit and miss counters', () => {
  it('count every get, whether it is served by the front table or the map', () => {
    const c = new PageCache(16 * PS, PS);
    c.get(1);
    c.put(1, page());
    c.put(1 + FRONT, page());
    c.get(1); // map
    c.get(1); // front
    c.get(1 + FRONT); // map (evicts 1 from the front entry)
    c.get(1); // map again
    c.get(2);
    expect({ hits: c.hits, misses: c.misses }).toEqual({ hits: 4, misses: 2 });
    c.put(3, page()); // puts and deletes are not lookups
    c.delete(3);
    expect({ hits: c.hits, misses: c.misses }).toEqual({ hits: 4, misses: 2 });
  });
});

describe('CLOCK eviction', () => {
  it('gives a page read since it was cached a second chance over pages never read', () => {
    const c = new PageCache(16 * PS, PS);
    for (let p = 0; p < 16; p++) c.put(p, page());
    c.get(0);
    c.get(5);
    c.put(100, page());
    c.put(101, page());
    expect(c.get(0)).toBeDefined();
    expect(c.get(5)).toBeDefined();
    // the two victims were among the pages nobody read
    const gone = [1, 2, 3, 4, 6, 7].filter((p) => c.get(p) === undefined);
    expect(gone).toHaveLength(2);
  });

  it('a page overwritten by put counts as recently used', () => {
    const c = new PageCache(16 * PS, PS);
    for (let p = 0; p < 16; p++) c.put(p, page());
    const b = page();
    c.put(0, b);
    c.put(100, page());
    expect(c.get(0)).toBe(b);
  });

  // A hot page is read between every two puts, as the root of every tree is. Each read after the
  // first is served by the front table, and a front-table hit does not set the page's reference
  // bit: the first sweep of the hand clears the bit, the second evicts the page. So the hottest
  // pages of the cache are evicted (and re-read from storage) once every two sweeps.
  it('keeps a page that is read between every two puts (front-table hits count as use)', () => {
    const c = new PageCache(16 * PS, PS);
    const hot = page();
    c.put(0, hot);
    for (let p = 1; p < 200; p++) {
      expect(c.get(0)).toBe(hot);
      c.put(p, page());
    }
    expect(c.get(0)).toBe(hot);
  });
});

describe('model', () => {
  // The one property readers rely on: get(p) is undefined or the buffer of the latest put of p
  // since p was last deleted or the cache cleared, never an older buffer. And the size bound.
  it('never serves a stale buffer under random put/get/delete/clear', () => {
    const pgno = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }).map((p) => p + FRONT));
    const op = fc.oneof(
      { weight: 4, arbitrary: fc.record({ k: fc.constant('put' as const), p: pgno }) },
      { weight: 6, arbitrary: fc.record({ k: fc.constant('get' as const), p: pgno }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('del' as const), p: pgno }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('clear' as const), p: fc.constant(0) }) },
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const c = new PageCache(16 * PS, PS);
      const latest = new Map<number, Uint8Array>();
      let hits = 0;
      let misses = 0;
      for (const { k, p } of ops) {
        if (k === 'put') {
          const b = page();
          c.put(p, b);
          latest.set(p, b);
          expect(c.get(p)).toBe(b); // just put: always served
          hits++;
        } else if (k === 'get') {
          const got = c.get(p);
          if (got === undefined) misses++;
          else { hits++; expect(got).toBe(latest.get(p)); }
        } else if (k === 'del') {
          c.delete(p);
          latest.delete(p);
          expect(c.get(p)).toBeUndefined();
          misses++;
        } else {
          c.clear();
          latest.clear();
        }
        expect(c.size).toBeLessThanOrEqual(Math.min(16, latest.size));
      }
      expect({ hits: c.hits, misses: c.misses }).toEqual({ hits, misses });
    }));
  });
  it('page numbers past the page table (2^26 and up) are cached, evicted and dropped like the rest', () => {
    const c = new PageCache(4 * PS, PS); // 16 pages (the minimum)
    const far = (k: number): number => 2 ** 26 + k * 1000;
    const bufs = new Map<number, Uint8Array>();
    for (let k = 0; k < 8; k++) {
      for (const pgno of [k + 2, far(k)]) {
        const b = new Uint8Array(PS).fill(k + 1);
        bufs.set(pgno, b);
        c.put(pgno, b);
      }
    }
    expect(c.size).toBe(16);
    for (const [pgno, b] of bufs) expect(c.get(pgno)).toBe(b);
    c.delete(far(3));
    expect(c.get(far(3))).toBeUndefined();
    expect(c.size).toBe(15);
    // two rounds of the clock hand: every old page is evicted, near or far, and none is served afterwards
    for (let k = 0; k < 32; k++) c.put(far(100 + k), new Uint8Array(PS));
    expect(c.size).toBe(16);
    for (const pgno of bufs.keys()) expect(c.get(pgno)).toBeUndefined();
    c.clear();
    expect(c.get(far(100))).toBeUndefined();
    expect(c.size).toBe(0);
  });
});

describe('displaced buffers', () => {
  it('put returns the buffer it replaced or evicted, and nothing when it displaced none', () => {
    const c = new PageCache(16 * PS, PS);
    const first = page();
    expect(c.put(5, first)).toBeUndefined();
    expect(c.put(5, first)).toBeUndefined(); // the same buffer again displaces nothing
    const second = page();
    expect(c.put(5, second)).toBe(first);
    for (let p = 100; p < 115; p++) expect(c.put(p, page())).toBeUndefined(); // 16 pages fit
    const evicting = c.put(200, page());
    expect(evicting).toBeDefined();
    // the displaced buffer is no longer reachable through the cache
    const held = new Set<Uint8Array>();
    for (const p of [5, ...Array.from({ length: 15 }, (_, i) => 100 + i), 200]) {
      const b = c.get(p);
      if (b !== undefined) held.add(b);
    }
    expect(held.has(evicting!)).toBe(false);
    expect(c.size).toBe(16);
  });
});
