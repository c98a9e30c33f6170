/**
 * Recycling of page buffers that were never exposed (pages/cache.ts "Exposure", pages/pager.ts
 * "Recycling"): a committed page buffer that only the writer's tree code ever read is reusable as
 * soon as a commit replaces it, even while readers of the thread are open; a buffer handed out by
 * get() (to a lookup, a cursor, a view) waits in quarantine like any other (test/txn/recycle.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { PageCache } from '../../src/pages/cache.js';
import { expectClean, openMem } from '../helpers/db.js';

const PS = 4096;
const page = (fill: number) => Buffer.alloc(PS, fill);

describe('PageCache exposure', () => {
  it('put says whether the buffer it replaced was ever handed out', () => {
    const c = new PageCache(64 * PS, PS);
    const a = page(1);
    expect(c.put(7, a, false)).toBeUndefined();
    expect(c.get(7, false)).toBe(a); // a peek does not expose it
    const b = page(2);
    expect(c.put(7, b, false)).toBe(a);
    expect(c.displacedUnexposed).toBe(true);
    expect(c.get(7)).toBe(b); // a get does
    expect(c.put(7, page(3), false)).toBe(b);
    expect(c.displacedUnexposed).toBe(false);
    c.put(8, page(4)); // put() without the flag means exposed
    expect(c.put(8, page(5), false)).toBeDefined();
    expect(c.displacedUnexposed).toBe(false);
    c.put(9, page(6), true);
    expect(c.put(9, page(7), false)).toBeDefined();
    expect(c.displacedUnexposed).toBe(false);
    // the same buffer put again under its own number displaces nothing, and stays exposed once it was
    const e = page(8);
    c.put(10, e, false);
    expect(c.put(10, e, false)).toBeUndefined();
    c.get(10);
    expect(c.put(10, e, false)).toBeUndefined();
    expect(c.put(10, page(9), false)).toBe(e);
    expect(c.displacedUnexposed).toBe(false);
  });

  it('an evicted buffer never counts as unexposed', () => {
    const c = new PageCache(16 * PS, PS);
    let evicted = 0;
    for (let i = 0; i < 200; i++) {
      if (c.put(i, page(i & 255), false) !== undefined) {
        evicted++;
        expect(c.displacedUnexposed).toBe(false);
      }
    }
    expect(evicted).toBe(200 - 16);
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
      expect(db.env.pager.recycled).toBeGreaterThan(N / 30);
      expectClean(db);
    } finally {
      if (prev === undefined) delete process.env.ROTADB_VERIFY_CACHE;
      else process.env.ROTADB_VERIFY_CACHE = prev;
    }
  });

  it('while a reader of the thread is open, only buffers nobody was handed are recycled', () => {
    // oldest-unpinned with 3 slots: the writer never waits for the long reader below
    const db = openMem({ encoding: 'binary', nRoots: 3, slotPolicy: 'oldest-unpinned' });
    rewrite(db, 0);
    const snap = db.beginRead(); // registered: the quarantine cannot drain while it lives
    const it = db.getRange({ transaction: snap })[Symbol.iterator]();
    // A dirty page handed out by the write transaction's get: published as exposed, so once a
    // later commit replaces it, it waits in quarantine. (A view is promised only until the next
    // call; its bytes staying intact after that shows here that the buffer was not reused.)
    let inside: Buffer | undefined;
    db.transactionSync(() => {
      db.putSync(key(2000), valueOf(2000, 99));
      inside = db.getBinaryFast(key(2000));
    });
    const insideCopy = Buffer.from(inside!);
    const before = db.env.pager.recycled;
    let i = 0;
    const step = () => {
      const r = it.next();
      expect(r.done).toBe(false);
      expect(r.value.key).toBe(key(i));
      expect(r.value.value).toEqual(valueOf(i, 0)); // the reader's snapshot, whatever commits did
      i++;
    };
    for (let round = 1; round < 6; round++) {
      rewrite(db, round);
      for (let j = 0; j < 300; j++) step();
    }
    // the unexposed buffers the rewrites replaced were reused under the open reader
    expect(db.env.pager.recycled).toBeGreaterThan(before + N / 30);
    expect(inside).toEqual(insideCopy);
    while (i < N) step();
    expect(it.next().done).toBe(true);
    snap.end();
    const held = db.env.pager.recycled;
    rewrite(db, 6); // once the reader ended, the quarantine drains at a commit
    expect(db.env.pager.recycled).toBeGreaterThan(held);
    expect(db.get(key(2000))).toEqual(valueOf(2000, 6));
    expectClean(db);
  });
});
