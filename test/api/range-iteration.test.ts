/**
 * Iterating ranges: the RangeIterable methods, the snapshot an iteration holds and when it is
 * released (break, throw, end, expiry), values as separate copies, and writes made while a write
 * transaction iterates. The bounds of a range are in range.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Key } from '../../src/index.js';
import { fill, keysOf } from '../helpers/api.js';
import { expectClean, openMem, syncCodeOf } from '../helpers/db.js';

describe('getRange', () => {
  it('asArray, map, filter, forEach and getKeys', () => {
    const db = openMem();
    fill(db);
    const r = db.getRange({ start: 2, end: 8 });
    expect(r.asArray).toHaveLength(6);
    expect(r.asArray).toEqual(r.asArray); // re-iterable: each iteration starts afresh
    expect(r.map((e) => `${e.key}=${e.value}`).asArray).toEqual(['2=v2', '3=v3', '4=v4', '5=v5', '6=v6', '7=v7']);
    expect(r.filter((e) => (e.key as number) % 2 === 1).asArray.map((e) => e.key)).toEqual([3, 5, 7]);
    expect(r.filter((e) => (e.key as number) > 3).map((e) => e.value).asArray).toEqual(['v4', 'v5', 'v6', 'v7']);
    expect(r.map((e) => e.key as number).filter((k) => k < 4).asArray).toEqual([2, 3]);
    const collected: Key[] = [];
    r.forEach((e) => collected.push(e.key));
    expect(collected).toEqual([2, 3, 4, 5, 6, 7]);
    expect(db.getKeys().asArray).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(db.getKeys({ reverse: true, limit: 3 }).map((k) => (k as number) * 10).asArray).toEqual([90, 80, 70]);
    expect([...db.getKeys({ start: 8 })]).toEqual([8, 9]);
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });

  it('breaking out of a for-of releases the snapshot', () => {
    const db = openMem();
    fill(db, 100);
    let n = 0;
    for (const e of db.getRange()) {
      expect(db.stats().readers).toBe(1);
      if (++n === 5) break;
      expect(e.value).toBe(`v${e.key}`);
    }
    expect(db.stats().readers).toBe(0);
    for (const k of db.getKeys({ reverse: true })) if (k === 50) break;
    expect(db.stats().readers).toBe(0);
    for (const v of db.getRange().map((e) => e.value).filter((v) => v === 'v10')) { expect(v).toBe('v10'); break; }
    expect(db.stats().readers).toBe(0);
    expect(() => {
      for (const e of db.getRange()) if (e.key === 3) throw new Error('stop');
    }).toThrow('stop');
    expect(db.stats().readers).toBe(0);
    // a completed iteration releases too
    expect(db.getRange().asArray).toHaveLength(100);
    expect(db.stats().readers).toBe(0);
    // and a write can now take every slot again
    for (let i = 0; i < 2 * db.stats().nRoots; i++) db.putSync('after', i);
    expectClean(db);
  });
  // for-of and spread do not call return() after next() throws, so a callback that throws must
  // close the inner iterator itself, or its snapshot would stay pinned.
  it('an exception in a map() or filter() callback releases the snapshot', () => {
    const db = openMem();
    fill(db, 5);
    expect(() => db.getRange().map((e) => {
      if (e.key === 2) throw new Error('mapper fails');
      return e;
    }).asArray).toThrow('mapper fails');
    expect(() => db.getKeys().filter((k) => {
      if (k === 3) throw new Error('predicate fails');
      return true;
    }).asArray).toThrow('predicate fails');
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });

  it('a range started before a commit keeps seeing its snapshot', () => {
    const db = openMem();
    fill(db);
    const it = db.getRange()[Symbol.iterator]();
    expect(it.next().value).toEqual({ key: 0, value: 'v0' });
    // nRoots (4) - 1 commits: the next one would need the slot the iterator pins
    db.putSync(5, 'changed');
    db.removeSync(7);
    db.transactionSync(() => {
      db.putSync(4.5, 'inserted');
      db.putSync(100, 'appended');
      db.removeSync(9);
      db.putSync(9, 'rewritten');
    });
    const rest: unknown[] = [];
    for (let r = it.next(); !r.done; r = it.next()) rest.push(r.value);
    expect(rest).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => ({ key: i, value: `v${i}` })));
    expect(db.stats().readers).toBe(0);
    expect(keysOf(db)).toEqual([0, 1, 2, 3, 4, 4.5, 5, 6, 8, 9, 100]);
    expect(db.get(9)).toBe('rewritten');
    expectClean(db);
  });

  it('an expired iterator throws ROTA_READER_EXPIRED at its next step, even inside the leaf it holds', async () => {
    const db = openMem({ nRoots: 2, maxReaderAgeMs: 20 });
    fill(db); // ten entries: one leaf, so the next steps read no page
    expect(db.stats().depth).toBe(1);
    const ownIt = db.getRange()[Symbol.iterator]();
    const txn = db.beginRead();
    const txnIt = txn.getRange()[Symbol.iterator]();
    const keysIt = db.getKeys()[Symbol.iterator]();
    expect(ownIt.next().value).toEqual({ key: 0, value: 'v0' });
    expect(txnIt.next().value).toEqual({ key: 0, value: 'v0' });
    expect(keysIt.next().value).toBe(0);
    // two commits: the second needs the pinned slot and expires the three readers after 20 ms
    await db.put(5, 'changed');
    await db.put(6, 'changed');
    for (const it of [ownIt, txnIt, keysIt]) {
      expect(syncCodeOf(() => it.next())).toBe('ROTA_READER_EXPIRED');
      expect(it.next().done).toBe(true); // the failed step ended the iteration
    }
    txn.end();
    expect(db.stats().readers).toBe(0);
    // an iterator that is at its last entry fails too, instead of reporting the end
    const last = db.getKeys({ start: 9 })[Symbol.iterator]();
    expect(last.next().value).toBe(9);
    await db.put(5, 'again');
    await db.put(6, 'again');
    expect(syncCodeOf(() => last.next())).toBe('ROTA_READER_EXPIRED');
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });

  it('binary values from a scan are exact, separate copies (forward, reverse, ranges, overflow)', () => {
    const db = openMem<Buffer>({ encoding: 'binary', pageSize: 1024 });
    const valueOf = (i: number): Buffer => Buffer.alloc(i % 97 === 0 ? 1500 : i % 40, i & 0xff);
    db.transactionSync(() => {
      for (let i = 0; i < 3000; i++) db.putSync(i, valueOf(i));
    });
    for (const reverse of [false, true]) {
      const got = db.getRange({ reverse }).asArray;
      expect(got.map((e) => e.key)).toEqual(Array.from({ length: 3000 }, (_, i) => (reverse ? 2999 - i : i)));
      for (const { key, value } of got) {
        expect(Buffer.isBuffer(value)).toBe(true);
        expect(value.equals(valueOf(key as number))).toBe(true);
      }
      // writing into one value changes no other value and nothing stored
      for (const { value } of got) value.fill(0xee);
      for (const { key, value } of db.getRange({ reverse })) expect(value.equals(valueOf(key as number))).toBe(true);
    }
    const some = db.getRange({ start: 1000, end: 1300, offset: 7, limit: 100 }).asArray;
    expect(some.map((e) => e.key)).toEqual(Array.from({ length: 100 }, (_, i) => 1007 + i));
    for (const { key, value } of some) expect(value.equals(valueOf(key as number))).toBe(true);
    // in a write transaction, values read before a change keep their bytes
    db.transactionSync(() => {
      const seen: Buffer[] = [];
      for (const { key, value } of db.getRange({ start: 500, end: 560 })) {
        seen.push(value);
        db.putSync(key, Buffer.alloc(3, 0xab));
      }
      seen.forEach((v, i) => expect(v.equals(valueOf(500 + i))).toBe(true));
    });
    expect(db.get(530)).toEqual(Buffer.alloc(3, 0xab));
    expectClean(db);
  });

  it('the snapshot is taken when iteration starts, not when getRange() is called', () => {
    const db = openMem();
    fill(db, 3);
    const r = db.getKeys();
    db.putSync(3, 'v3');
    expect(r.asArray).toEqual([0, 1, 2, 3]);
    expectClean(db);
  });
});

describe('writing while iterating in one write transaction', () => {
  it('removing every key during a forward or reverse iteration visits each key once', () => {
    for (const reverse of [false, true]) {
      const db = openMem();
      fill(db, 300);
      const visited: Key[] = [];
      db.transactionSync(() => {
        for (const { key } of db.getRange({ reverse })) {
          visited.push(key);
          expect(db.removeSync(key)).toBe(true);
        }
      });
      const all = Array.from({ length: 300 }, (_, i) => i);
      expect(visited).toEqual(reverse ? all.reverse() : all);
      expect(db.stats().entries).toBe(0);
      expectClean(db);
    }
  });

  it('keys inserted ahead of the iteration are visited, keys behind it are not', () => {
    const db = openMem();
    db.transactionSync(() => {
      for (let i = 0; i < 10; i += 2) db.putSync(i, i);
    });
    const visited: Key[] = [];
    db.transactionSync(() => {
      for (const { key } of db.getRange()) {
        visited.push(key);
        if (key === 4) {
          db.putSync(5, 'ahead');
          db.putSync(1, 'behind');
        }
      }
    });
    expect(visited).toEqual([0, 2, 4, 5, 6, 8]);
    expect(keysOf(db)).toEqual([0, 1, 2, 4, 5, 6, 8]);
    expectClean(db);
  });
});
