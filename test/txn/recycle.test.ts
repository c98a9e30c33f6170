/**
 * Recycling of page buffers (src/pages/pager.ts, "Recycling"): a buffer the cache displaced gets
 * new contents only once nothing of this thread can still read it. Each case would read the new
 * contents through a buffer it still holds if recycling came too early: a registered reader's
 * cursor (with a cache small enough that short reads evict its leaf), an iterator without a
 * snapshot whose value copies recognise a leaf by its buffer, the writer's own descent.
 */
import { describe, expect, it } from 'vitest';
import { expectClean, openMem } from '../helpers/db.js';
import { rng } from '../helpers/rng.mjs';
import type { Pager } from '../../src/pages/pager.js';
import type { RootDatabase } from '../../src/index.js';

const pagerOf = (db: RootDatabase<any>): Pager => (db as any).env.pager as Pager;
const value = (i: number, round: number): Buffer => {
  const b = Buffer.alloc(100, (i * 7 + round) & 0xff);
  b.writeUInt32LE(i, 0);
  b.writeUInt32LE(round, 4);
  return b;
};
const key = (i: number): string => `key${String(i).padStart(6, '0')}`;

function load(db: RootDatabase<Buffer>, n: number, round = 0): void {
  db.transactionSync(() => { for (let i = 0; i < n; i++) db.putSync(key(i), value(i, round)); });
}

describe('page buffer recycling', () => {
  it('commits reuse the buffers of the pages they replace, and every value stays right', () => {
    const db = openMem<Buffer>({ encoding: 'binary' });
    const n = 3000;
    load(db, n);
    const model = new Map<number, number>();
    const rand = rng(11);
    const before = pagerOf(db).recycled;
    for (let c = 0; c < 60; c++) {
      db.transactionSync(() => {
        for (let j = 0; j < 30; j++) {
          const i = rand(n);
          model.set(i, c + 1);
          db.putSync(key(i), value(i, c + 1));
        }
      });
    }
    expect(pagerOf(db).recycled).toBeGreaterThan(before);
    for (let i = 0; i < n; i++) expect(db.get(key(i))).toEqual(value(i, model.get(i) ?? 0));
    expectClean(db);
  });

  it('a registered reader holds off recycling: its cursor keeps reading its leaf while short reads evict it', () => {
    const db = openMem<Buffer>({ encoding: 'binary', cacheSize: 16 * 4096 }); // 16 pages, a tree of about 100 leaves
    const n = 1500;
    load(db, n);
    const snap = db.beginRead();
    const rand = rng(5);
    const recycled = pagerOf(db).recycled;
    let i = 0;
    for (const { key: k, value: v } of db.getRange({ transaction: snap })) {
      expect(k).toBe(key(i));
      expect(v).toEqual(value(i, 0));
      i++;
      // short reads in between: their misses evict pages, the iterator's leaf among them
      for (let j = 0; j < 6; j++) {
        const r = rand(n);
        expect(db.get(key(r))).toEqual(value(r, 0));
      }
    }
    expect(i).toBe(n);
    expect(pagerOf(db).recycled).toBe(recycled);
    snap.end();
    // once it ended, short reads recycle the buffers they evict
    for (let j = 0; j < 200; j++) db.get(key(rand(n)));
    expect(pagerOf(db).recycled).toBeGreaterThan(recycled);
    expectClean(db);
  });

  it('an iterator stepped after the transaction it was given has ended throws, whatever recycling did to its leaf', () => {
    const db = openMem<Buffer>({ encoding: 'binary', cacheSize: 16 * 4096 });
    const n = 1500;
    load(db, n);
    const rand = rng(9);
    for (let round = 0; round < 5; round++) {
      const snap = db.beginRead();
      const it = db.getRange({ transaction: snap, start: key(rand(n - 50)) })[Symbol.iterator]();
      expect(it.next().done).toBe(false);
      snap.end();
      // short reads evict and recycle, the iterator's leaf among them
      for (let j = 0; j < 100; j++) db.get(key(rand(n)));
      expect(() => it.next()).toThrow(); // never a value read from recycled memory
      expect(it.next().done).toBe(true); // a step that threw finished the iterator
    }
    expectClean(db);
  });

  it('an iterator without a snapshot sees the commits made between its steps, never a recycled leaf taken for the one it copied', () => {
    const db = openMem<Buffer>({ encoding: 'binary' });
    const n = 200; // about six leaves: the buffers commits free come back as those leaves
    load(db, n);
    const it = db.getRange({ snapshot: false })[Symbol.iterator]();
    const recycled = pagerOf(db).recycled;
    let round = 0;
    for (let i = 0; i < n; i++) {
      // Two steps from a leaf make the iterator copy that leaf once, for its later values (it
      // knows the leaf by its buffer); then enough commits rewrite every leaf that the buffer's
      // page number is reused and its memory holds another leaf, maybe the next step's.
      if ((i & 1) === 0) for (let c = 0; c < 6; c++) load(db, n, ++round);
      const r = it.next();
      expect(r.done).toBe(false);
      expect(r.value.key).toBe(key(i));
      expect(r.value.value).toEqual(value(i, round));
    }
    expect(it.next().done).toBe(true);
    expect(pagerOf(db).recycled).toBeGreaterThan(recycled);
    expectClean(db);
  });

  it('a write transaction reading pages through a small cache keeps every page it descended through intact', () => {
    const db = openMem<Buffer>({ encoding: 'binary', cacheSize: 16 * 4096 });
    const n = 4000;
    load(db, n);
    const rand = rng(3);
    const model = new Map<number, number>();
    for (let c = 0; c < 20; c++) {
      db.transactionSync(() => {
        for (let j = 0; j < 200; j++) {
          const i = rand(n);
          // reads and writes in the transaction miss the cache and evict what the descent holds
          expect(db.get(key(i))).toEqual(value(i, model.get(i) ?? 0));
          model.set(i, c + 1);
          db.putSync(key(i), value(i, c + 1));
        }
      });
      for (let j = 0; j < 50; j++) {
        const i = rand(n);
        expect(db.get(key(i))).toEqual(value(i, model.get(i) ?? 0));
      }
    }
    for (let i = 0; i < n; i++) expect(db.get(key(i))).toEqual(value(i, model.get(i) ?? 0));
    expectClean(db);
  });
});
