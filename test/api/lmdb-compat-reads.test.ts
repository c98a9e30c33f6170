/**
 * Reads side by side with lmdb-js 3.5.6: the same calls on the same data give the same results
 * (getRange's inclusiveEnd/exclusiveStart, getCount/getKeysCount, getMany, getEntry, doesExist
 * with null, the iterable's slice/flatMap/mapError/SKIP, useReadTransaction and
 * get(key, { transaction })), and snapshot: false.
 */
import { describe, expect, it } from 'vitest';
import { SKIP as LMDB_SKIP } from 'lmdb';
import { SKIP } from '../../src/index.js';
import { both, fillBoth, pair } from '../helpers/lmdb-pair.js';
import { expectClean } from '../helpers/db.js';

const RANGES: Record<string, unknown>[] = [
  {},
  { start: 3, end: 9 },
  { start: 3, end: 9, inclusiveEnd: true },
  { start: 3, end: 9, exclusiveStart: true },
  { start: 3, end: 9, exclusiveStart: true, inclusiveEnd: true },
  { start: 3.5, end: 8.5, exclusiveStart: true, inclusiveEnd: true },
  { start: 9, end: 3, reverse: true },
  { start: 9, end: 3, reverse: true, inclusiveEnd: true },
  { start: 9, end: 3, reverse: true, exclusiveStart: true },
  { start: 9, end: 3, reverse: true, exclusiveStart: true, inclusiveEnd: true, offset: 1, limit: 3 },
  { start: 0, exclusiveStart: true, limit: 4 },
  { end: 19, inclusiveEnd: true, reverse: true },
  { start: 5, end: 5, inclusiveEnd: true },
  { start: 5, end: 5, exclusiveStart: true, inclusiveEnd: true },
  { start: 100 },
];

describe('range options side by side with lmdb-js', () => {
  it.each(RANGES.map((r) => [JSON.stringify(r), r]))('%s: getRange, getKeys, getCount and getKeysCount agree', (_name, range) => {
    const p = pair();
    fillBoth(p, 20);
    // lmdb-js writes into the options object it is given (a `values` flag): give it copies
    expect(p.rota.getRange(range).asArray).toEqual([...p.lm.getRange({ ...range })]);
    expect(p.rota.getKeys(range).asArray).toEqual([...p.lm.getKeys({ ...range })]);
    if (range.limit === undefined) {
      expect(p.rota.getCount(range)).toBe(p.lm.getCount({ ...range }));
      expect(p.rota.getKeysCount(range)).toBe(p.lm.getKeysCount({ ...range }));
    } else {
      // lmdb-js ignores limit when counting: refused rather than given either meaning
      expect(p.lm.getCount({ ...range })).toBeGreaterThan(range.limit as number);
      expect(() => p.rota.getCount(range)).toThrow(expect.objectContaining({ code: 'ROTA_BAD_OPTION' }));
    }
  });

  it('the iterable helpers agree: slice, flatMap, map with SKIP, mapError after a throwing map', () => {
    const p = pair();
    fillBoth(p, 12);
    for (const [from, to] of [[2, 4], [0, 1], [8, 100], [5, 5]] as const) {
      expect(p.rota.getKeys().slice(from, to).asArray).toEqual(p.lm.getKeys().slice(from, to).asArray);
    }
    expect(p.rota.getKeys().slice(9).asArray).toEqual(p.lm.getKeys().slice(9, undefined as never).asArray);
    expect(p.rota.getKeys({ end: 4 }).flatMap((k) => [k, -(k as number)]).asArray).toEqual(p.lm.getKeys({ end: 4 }).flatMap((k) => [k, -(k as number)] as never).asArray);
    expect(p.rota.getKeys({ end: 4 }).flatMap((k) => (k as number) * 10).asArray).toEqual(p.lm.getKeys({ end: 4 }).flatMap((k) => (k as number) * 10 as never).asArray);
    expect(p.rota.getKeys().map((k) => ((k as number) % 3 === 0 ? SKIP : k)).asArray).toEqual(p.lm.getKeys().map((k) => ((k as number) % 3 === 0 ? LMDB_SKIP : k)).asArray);
    const failAt = (k: unknown) => {
      if (k === 2 || k === 5) throw new Error(`bad ${String(k)}`);
      return k;
    };
    const mine = p.rota.getKeys({ end: 7 }).map(failAt).mapError((e) => `E:${(e as Error).message}`).asArray;
    expect(mine).toEqual(p.lm.getKeys({ end: 7 }).map(failAt).mapError((e) => `E:${e.message}`).asArray);
    expect(mine).toEqual([0, 1, 'E:bad 2', 3, 4, 'E:bad 5', 6]);
  });

  it('getMany, getEntry, doesExist with null agree', async () => {
    const p = pair();
    fillBoth(p, 5);
    expect(await p.rota.getMany([1, 99, 4, 1])).toEqual(await p.lm.getMany([1, 99, 4, 1]));
    expect(p.rota.getEntry(2)).toEqual(p.lm.getEntry(2));
    expect(p.rota.getEntry(99)).toEqual(p.lm.getEntry(99));
    for (const k of [1, 99]) {
      expect(p.rota.doesExist(k)).toBe(p.lm.doesExist(k));
      expect(p.rota.doesExist(k, null)).toBe(p.lm.doesExist(k, null as never));
    }
    const got: unknown[] = [];
    await p.rota.getMany([0, 3], (err, values) => got.push(err, values));
    expect(got).toEqual([null, ['v0', 'v3']]);
  });

  it('useReadTransaction and get(key, { transaction }) read one snapshot, as lmdb-js; done() ends it', async () => {
    const p = pair();
    fillBoth(p, 3);
    const results: unknown[][] = [];
    for (const db of both(p)) {
      const transaction = db.useReadTransaction();
      await db.put(1, 'changed');
      await db.put(7, 'new');
      results.push([
        db.get(1, { transaction } as never), db.get(7, { transaction } as never), db.get(1),
        [...db.getRange({ transaction } as never)].length, db.getCount({ transaction } as never),
      ]);
      transaction.done();
    }
    expect(results[0]).toEqual(results[1]);
    expect(results[0]).toEqual(['v1', undefined, 'changed', 3, 3]);
  });
});

describe('rotadb beside lmdb-js', () => {
  it('doesExist(key, value) compares the stored value (lmdb-js refuses it outside dupSort databases)', () => {
    const p = pair();
    fillBoth(p, 3);
    expect(p.rota.doesExist(1, 'v1')).toBe(true);
    expect(p.rota.doesExist(1, 'v2')).toBe(false);
    expect(p.rota.doesExist(99, 'v1')).toBe(false);
    expect(() => p.lm.doesExist(1, 'v1')).toThrow(/INCOMPATIBLE/);
  });

  it('a read in an ended transaction throws ROTA_TXN_ENDED', () => {
    const { rota } = pair();
    rota.putSync(1, 1);
    const transaction = rota.useReadTransaction();
    transaction.done();
    expect(() => rota.get(1, { transaction })).toThrow(expect.objectContaining({ code: 'ROTA_TXN_ENDED' }));
  });

  it('get(key, { transaction }) with a write transaction reads its uncommitted writes', () => {
    const { rota } = pair();
    const w = rota.beginWrite();
    w.put('x', 1);
    expect(rota.get('x', { transaction: w })).toBe(1);
    w.abort();
    expect(rota.get('x')).toBe(undefined);
  });

  it('snapshot: false pins nothing between steps: a writer on its slot does not wait, and later writes are seen', () => {
    const { rota } = pair({ nRoots: 2, writeTimeoutMs: 200 } as never);
    rota.transactionSync(() => {
      for (let i = 0; i < 10; i++) rota.putSync(i, i);
    });
    const it = rota.getKeys({ snapshot: false })[Symbol.iterator]();
    expect(it.next().value).toBe(0);
    expect(rota.readers()).toEqual([]);
    // with a pinned snapshot, the second of these commits would wait for the reader (nRoots 2)
    rota.putSync(5, 'changed');
    rota.putSync(100, 'appended');
    rota.removeSync(1);
    const rest: unknown[] = [];
    for (let r = it.next(); !r.done; r = it.next()) rest.push(r.value);
    expect(rest).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 100]);
    const rev = rota.getRange({ snapshot: false, reverse: true, start: 6, end: 2, inclusiveEnd: true }).map((e) => e.key).asArray;
    expect(rev).toEqual([6, 5, 4, 3, 2]);
    expectClean(rota);
  });

  it('a throwing map without mapError ends the iteration and releases its snapshot', () => {
    const { rota } = pair();
    rota.putSync(1, 1);
    rota.putSync(2, 2);
    expect(() => rota.getKeys().map(() => { throw new Error('boom'); }).asArray).toThrow('boom');
    expect(rota.readers()).toEqual([]);
  });
});
