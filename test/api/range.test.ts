/**
 * getRange and getKeys bounds: start/end, reverse, limit and offset (also against a sorted-array
 * model on a deep tree), empty ranges and mixed key types. Iteration itself (snapshots, release,
 * copies, writes during iteration) is in range-iteration.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RootDatabase } from '../../src/index.js';
import { fill, keysOf } from '../helpers/api.js';
import { codeOf, expectClean, openMem } from '../helpers/db.js';

describe('getRange', () => {
  const range = (db: RootDatabase, o: Parameters<RootDatabase['getRange']>[0]) => db.getRange(o).asArray.map((e) => e.key);

  it('start is inclusive, end exclusive', () => {
    const db = openMem();
    fill(db);
    expect(range(db, {})).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(range(db, { start: 3 })).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(range(db, { end: 7 })).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(range(db, { start: 3, end: 7 })).toEqual([3, 4, 5, 6]);
    expect(range(db, { start: 2.5, end: 6.5 })).toEqual([3, 4, 5, 6]);
    expect(range(db, { start: -100, end: 100 })).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(range(db, { start: 9 })).toEqual([9]);
    expect(db.getRange({ start: 3, end: 5 }).asArray).toEqual([{ key: 3, value: 'v3' }, { key: 4, value: 'v4' }]);
    expectClean(db);
  });

  it('reverse runs from start (inclusive) down to end (exclusive)', () => {
    const db = openMem();
    fill(db);
    expect(range(db, { reverse: true })).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(range(db, { reverse: true, start: 7 })).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    expect(range(db, { reverse: true, end: 3 })).toEqual([9, 8, 7, 6, 5, 4]);
    expect(range(db, { reverse: true, start: 7, end: 3 })).toEqual([7, 6, 5, 4]);
    expect(range(db, { reverse: true, start: 6.5, end: 2.5 })).toEqual([6, 5, 4, 3]);
    expect(range(db, { reverse: true, start: 100 })).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(range(db, { reverse: true, start: 0 })).toEqual([0]);
    expect(range(db, { reverse: true, start: -1 })).toEqual([]);
    expectClean(db);
  });

  it('limit and offset, alone and combined with start, end and reverse', () => {
    const db = openMem();
    fill(db);
    expect(range(db, { limit: 3 })).toEqual([0, 1, 2]);
    expect(range(db, { offset: 7 })).toEqual([7, 8, 9]);
    expect(range(db, { offset: 2, limit: 3 })).toEqual([2, 3, 4]);
    expect(range(db, { start: 4, offset: 2, limit: 2 })).toEqual([6, 7]);
    expect(range(db, { start: 4, end: 8, offset: 2, limit: 10 })).toEqual([6, 7]);
    expect(range(db, { start: 4, end: 8, offset: 4 })).toEqual([]);
    expect(range(db, { reverse: true, limit: 2 })).toEqual([9, 8]);
    expect(range(db, { reverse: true, offset: 1, limit: 2 })).toEqual([8, 7]);
    expect(range(db, { reverse: true, start: 6, end: 1, offset: 2, limit: 2 })).toEqual([4, 3]);
    expect(range(db, { limit: 0 })).toEqual([]);
    expect(range(db, { offset: 10 })).toEqual([]);
    expect(range(db, { offset: 1000, limit: 1000 })).toEqual([]);
    expect(range(db, { limit: 1000 })).toHaveLength(10);
    expect(db.getKeys({ start: 2, end: 8, offset: 1, limit: 3 }).asArray).toEqual([3, 4, 5]);
    expect(db.getKeys({ reverse: true, start: 8, end: 2, offset: 1, limit: 3 }).asArray).toEqual([7, 6, 5]);
    expectClean(db);
  });

  it('agrees with a sorted-array model for random start/end/reverse/offset/limit on a deep tree', () => {
    const db = openMem({ pageSize: 1024 });
    const keys = Array.from({ length: 25_000 }, (_, i) => i * 2); // even keys: odd bounds fall between
    db.transactionSync(() => {
      for (const k of keys) db.putSync(k, `value-${k}`.repeat(3));
    });
    expect(db.stats().depth).toBeGreaterThanOrEqual(3);
    const bound = fc.option(fc.integer({ min: -5, max: 50_005 }), { nil: undefined });
    fc.assert(
      fc.property(bound, bound, fc.boolean(), fc.option(fc.nat(40), { nil: undefined }), fc.option(fc.nat(60), { nil: undefined, freq: 20 }), (start, end, reverse, offset, limit) => {
        let model = reverse
          ? keys.filter((k) => (start === undefined || k <= start) && (end === undefined || k > end)).reverse()
          : keys.filter((k) => (start === undefined || k >= start) && (end === undefined || k < end));
        model = model.slice(offset ?? 0, limit === undefined ? undefined : (offset ?? 0) + limit);
        const got = db.getRange({ start, end, reverse, offset, limit }).asArray;
        expect(got.map((e) => e.key)).toEqual(model);
        expect(got.every((e) => e.value === `value-${e.key}`.repeat(3))).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });

  it('rejects a negative or fractional limit or offset', async () => {
    const db = openMem();
    fill(db);
    for (const o of [{ limit: -1 }, { limit: 1.5 }, { offset: -1 }, { offset: 0.5 }, { limit: NaN }]) {
      expect(await codeOf(() => db.getRange(o).asArray)).toBe('ROTA_BAD_OPTION');
    }
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });

  it('empty ranges', () => {
    const db = openMem();
    expect(range(db, {})).toEqual([]);
    expect(range(db, { reverse: true })).toEqual([]);
    expect(range(db, { start: 1, end: 5 })).toEqual([]);
    fill(db);
    expect(range(db, { start: 5, end: 5 })).toEqual([]);
    expect(range(db, { start: 6, end: 5 })).toEqual([]);
    expect(range(db, { start: 3, end: 7, reverse: true })).toEqual([]);
    expect(range(db, { start: 5, end: 5, reverse: true })).toEqual([]);
    expect(range(db, { start: 100 })).toEqual([]);
    expect(range(db, { end: 0 })).toEqual([]);
    expect(range(db, { start: 4.5, end: 4.7 })).toEqual([]);
    expect(range(db, { start: 'a' })).toEqual([]);
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });

  it('mixed key types: numbers sort before strings', () => {
    const db = openMem();
    for (const k of ['b', 10, 'a', -1, 2, 'aa', true, null]) db.putSync(k, String(k));
    expect(keysOf(db)).toEqual([null, true, -1, 2, 10, 'a', 'aa', 'b']);
    expect(range(db, { start: 5, end: 'b' })).toEqual([10, 'a', 'aa']);
    expect(range(db, { start: 0 })).toEqual([2, 10, 'a', 'aa', 'b']);
    expect(range(db, { start: '' })).toEqual(['a', 'aa', 'b']);
    expect(range(db, { end: '' })).toEqual([null, true, -1, 2, 10]);
    expect(range(db, { reverse: true, start: 'a', end: 2 })).toEqual(['a', 10]);
    expect(range(db, { reverse: true, start: 'zzz', end: 'a' })).toEqual(['b', 'aa']);
    expectClean(db);
  });
});
