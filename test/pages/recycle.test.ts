/**
 * Recycling of page buffers (pages/cache.ts "Exposure", Pager.publish): a committed page buffer
 * that only the writer's tree code ever read is reused for a new dirty page once a commit
 * replaces it; a buffer handed out by get() (to a lookup, a cursor, a view) never is.
 */
import { describe, expect, it } from 'vitest';
import { PageCache } from '../../src/pages/cache.js';
import { expectClean, openMem } from '../helpers/db.js';

const PS = 4096;
const page = (fill: number) => Buffer.alloc(PS, fill);

describe('PageCache exposure', () => {
  it('publish returns the replaced buffer only when nothing was handed it', () => {
    const c = new PageCache(64 * PS, PS);
    const a = page(1);
    c.publish(7, a, false);
    expect(c.get(7, false)).toBe(a); // a peek does not expose it
    const b = page(2);
    expect(c.publish(7, b, false)).toBe(a);
    expect(c.get(7)).toBe(b); // a get does
    expect(c.publish(7, page(3), false)).toBeUndefined();
    c.put(8, page(4)); // put() means exposed
    expect(c.publish(8, page(5), false)).toBeUndefined();
    const d = page(6);
    c.publish(9, d, true);
    expect(c.publish(9, page(7), false)).toBeUndefined();
    // the same buffer published again under its own number is not handed back
    const e = page(8);
    c.publish(10, e, false);
    expect(c.publish(10, e, false)).toBeUndefined();
  });

  it('eviction never hands a buffer back', () => {
    const c = new PageCache(16 * PS, PS);
    for (let i = 0; i < 200; i++) expect(c.publish(i, page(i & 255), false)).toBeUndefined();
    expect(c.size).toBe(16);
  });
});

describe('recycling in a database', () => {
  const N = 4000;
  const key = (i: number) => `k${String(i).padStart(8, '0')}`;
  /** A value that names its key and round, so a page rewritten under a view shows. */
  const valueOf = (i: number, round: number) => {
    const v = Buffer.alloc(100, round & 255);
    v.write(`${i}:${round}`);
    return v;
  };
  /** Rounds of random-order rewrites of every key, 400 puts per transaction. */
  function rewrite(db: ReturnType<typeof openMem>, round: number): void {
    const order = Array.from({ length: N }, (_, i) => (i * 7919 + round * 104729) % N);
    for (let at = 0; at < N; at += 400) {
      db.transactionSync(() => {
        for (let j = at; j < at + 400; j++) db.putSync(key(order[j]!), valueOf(order[j]!, round));
      });
    }
  }

  it('a random-order rewrite load recycles buffers and every read stays right', () => {
    const prev = process.env.ROTADB_VERIFY_CACHE;
    process.env.ROTADB_VERIFY_CACHE = '1'; // every cache hit is compared with the page in storage
    try {
      const db = openMem({ encoding: 'binary', nRoots: 2 });
      for (let round = 0; round < 5; round++) {
        rewrite(db, round);
        for (let i = 0; i < N; i += 37) expect(db.get(key(i))).toEqual(valueOf(i, round));
        let n = 0;
        for (const { key: k, value } of db.getRange({ start: key(1000), end: key(1100) })) {
          expect(value).toEqual(valueOf(1000 + n, round));
          expect(k).toBe(key(1000 + n));
          n++;
        }
        expect(n).toBe(100);
      }
      expect(db.env.pager.pagesRecycled).toBeGreaterThan(N / 30);
      expectClean(db);
    } finally {
      if (prev === undefined) delete process.env.ROTADB_VERIFY_CACHE;
      else process.env.ROTADB_VERIFY_CACHE = prev;
    }
  });

  it('the page under a getBinaryFast view is never recycled, in or out of a write transaction', () => {
    const db = openMem({ encoding: 'binary', nRoots: 2 });
    rewrite(db, 0);
    // Committed page, read outside a transaction. (Only valid until the next call, as promised;
    // the bytes staying intact after that is what shows that the buffer was not reused.)
    const outside = db.getBinaryFast(key(10))!;
    const outsideCopy = Buffer.from(outside);
    // A dirty page, read inside the write transaction that wrote it.
    let inside: Buffer | undefined;
    db.transactionSync(() => {
      db.putSync(key(2000), valueOf(2000, 99));
      inside = db.getBinaryFast(key(2000));
    });
    const insideCopy = Buffer.from(inside!);
    const before = db.env.pager.pagesRecycled;
    for (let round = 1; round < 6; round++) rewrite(db, round);
    expect(db.env.pager.pagesRecycled).toBeGreaterThan(before); // the rewrites did recycle
    expect(outside).toEqual(outsideCopy);
    expect(inside).toEqual(insideCopy);
    expect(db.get(key(10))).toEqual(valueOf(10, 5));
    expectClean(db);
  });
});
