/**
 * Writes side by side with lmdb-js 3.5.6: clearSync/clearAsync, drop/dropSync of a named
 * database (its pages freed), openDB({ name }), committed and flushed, ABORT, childTransaction,
 * nested transactionSync, ifNoExists, beforecommit/aftercommit.
 */
import { describe, expect, it } from 'vitest';
import { ABORT as LMDB_ABORT } from 'lmdb';
import { ABORT } from '../../src/index.js';
import { both, pair, type AnyDb } from '../helpers/lmdb-pair.js';
import { expectClean } from '../helpers/db.js';

/** Every key of both, as arrays, to compare. */
const keys = (db: { getKeys(): Iterable<unknown> }) => [...db.getKeys()];

describe('clear and drop side by side', () => {
  it('clearSync and clearAsync empty a database and leave its siblings; agree with lmdb-js', async () => {
    const p = pair();
    for (const db of both(p)) {
      const a = db.openDB('a', {});
      const b = db.openDB({ name: 'b' });
      for (let i = 0; i < 50; i++) {
        a.putSync(i, i);
        b.putSync(i, i);
      }
      a.clearSync();
      expect(keys(a)).toEqual([]);
      expect(b.getCount()).toBe(50);
      await b.clearAsync();
      expect(keys(b)).toEqual([]);
      b.putSync('again', 1);
      expect(keys(b)).toEqual(['again']);
    }
    p.rota.putSync('root', 1);
    p.rota.clearSync();
    expect(keys(p.rota)).toEqual([]);
    expect(p.rota.openDB('b').get('again')).toBe(1);
    expectClean(p.rota);
  });

  it('drop and dropSync remove the database and free its pages; a later write recreates it empty', async () => {
    const p = pair();
    const big = 'x'.repeat(5000); // overflow values too
    for (const db of both(p)) {
      const d = db.openDB('d', {});
      const e = db.openDB('e', {});
      db.transactionSync(() => {
        for (let i = 0; i < 2000; i++) d.putSync(i, i % 100 === 0 ? big : `v${i}`);
        e.putSync('keep', 1);
      });
      await d.drop();
      // lmdb-js's handle of a dropped database is unusable: open it again
      const again = db.openDB('d', {});
      expect(keys(again)).toEqual([]);
      expect(e.get('keep')).toBe(1);
      again.putSync('new', 1);
      expect(keys(again)).toEqual(['new']);
      again.dropSync();
      expect(db.openDB('d', {}).get('new')).toBe(undefined);
    }
    const s = p.rota.stats();
    expect(p.rota.openDB('d').stats().entries).toBe(0);
    // the dropped tree's pages are free or pending now, not live: a compacted copy would save them
    expect(s.freePages + s.pendingPages).toBeGreaterThan(2000 / 50);
    expect(s.livePages).toBeLessThan(10);
    expectClean(p.rota);
    // reusable: writing as much again does not grow the file beyond a few pages
    const before = s.totalPages;
    const d = p.rota.openDB('d');
    for (let round = 0; round < 3; round++) {
      p.rota.transactionSync(() => {
        for (let i = 0; i < 2000; i++) d.putSync(i, i % 100 === 0 ? big : `v${i}`);
      });
      d.dropSync();
    }
    expect(p.rota.stats().totalPages).toBeLessThan(before * 1.5);
    expectClean(p.rota);
  });

  it('the root database cannot be dropped', () => {
    const { rota } = pair();
    expect(() => rota.dropSync()).toThrow(expect.objectContaining({ code: 'ROTA_BAD_OPTION' }));
  });
});

describe('transactions side by side', () => {
  it('ABORT from transactionSync aborts and is returned; a nested transactionSync is a child transaction', () => {
    const p = pair();
    const results: unknown[] = [];
    for (const [db, abort] of [[p.rota, ABORT], [p.lm, LMDB_ABORT]] as [AnyDb, unknown][]) {
      const r = db.transactionSync(() => {
        db.putSync('a', 1);
        return abort;
      });
      results.push(r === abort, db.get('a'));
      db.transactionSync(() => {
        db.putSync('outer', 1);
        const inner = db.transactionSync(() => {
          db.putSync('inner', 1);
          return abort;
        });
        results.push(inner === abort);
        try {
          db.transactionSync(() => {
            db.putSync('thrown', 1);
            throw new Error('inner');
          });
        } catch (e) {
          results.push((e as Error).message);
        }
        db.transactionSync(() => db.putSync('kept', 1));
      });
      results.push(db.get('outer'), db.get('inner'), db.get('thrown'), db.get('kept'));
    }
    expect(results.slice(0, 8)).toEqual(results.slice(8));
    expect(results.slice(0, 8)).toEqual([true, undefined, true, 'inner', 1, undefined, undefined, 1]);
    expectClean(p.rota);
  });

  it('childTransaction inside transaction: ABORT or a throw undoes only the child', async () => {
    const p = pair();
    const seen: unknown[] = [];
    for (const [db, abort] of [[p.rota, ABORT], [p.lm, LMDB_ABORT]] as [AnyDb, unknown][]) {
      const r = await db.transaction(async () => {
        db.put('c', 1);
        await db.childTransaction(() => {
          db.put('d', 1);
          return abort;
        });
        await db.childTransaction(() => db.put('e', 1));
        try {
          // lmdb-js throws at once inside a transaction; rotadb rejects
          await db.childTransaction(() => {
            db.put('f', 1);
            throw new Error('child');
          });
        } catch (e) {
          seen.push((e as Error).message);
        }
        return 7;
      });
      seen.push(r, db.get('c'), db.get('d'), db.get('e'), db.get('f'));
    }
    expect(seen.slice(0, 6)).toEqual(seen.slice(6));
    expect(seen.slice(0, 6)).toEqual(['child', 7, 1, undefined, 1, undefined]);
    expectClean(p.rota);
  });

  it('a child transaction that rolls back restores a large parent exactly (pages, free set, trees)', () => {
    const { rota } = pair();
    const n = rota.openDB('n');
    rota.transactionSync(() => {
      for (let i = 0; i < 3000; i++) rota.putSync(i, `v${i}`);
    });
    rota.transactionSync(() => {
      for (let i = 0; i < 3000; i += 3) rota.removeSync(i);
      const before = rota.getRange().asArray;
      const r = rota.transactionSync(() => {
        for (let i = 0; i < 3000; i++) rota.putSync(i, 'x'.repeat(i % 7 === 0 ? 3000 : 10));
        for (let i = 0; i < 500; i++) n.putSync(i, i);
        return ABORT;
      });
      expect(r).toBe(ABORT);
      expect(rota.getRange().asArray).toEqual(before);
      expect(n.getCount()).toBe(0);
      rota.putSync('after', 1);
    });
    expect(rota.getCount()).toBe(2001);
    expectClean(rota);
  });

  it('ABORT from an async transaction() aborts in rotadb (lmdb-js 3.5.6 commits it: see docs/from-lmdb.md)', async () => {
    const p = pair();
    expect(await p.rota.transaction(() => {
      p.rota.put('a', 1);
      return ABORT;
    })).toBe(ABORT);
    expect(p.rota.get('a')).toBe(undefined);
    await p.lm.transaction(() => {
      p.lm.put('a', 1);
      return LMDB_ABORT;
    });
    expect(p.lm.get('a')).toBe(1);
  });

  it('ifNoExists writes only when the key is absent, as lmdb-js', async () => {
    const p = pair();
    const out: unknown[] = [];
    for (const db of both(p)) {
      db.putSync('there', 1);
      out.push(await db.ifNoExists('there', () => db.put('x', 1)), db.get('x'));
      out.push(await db.ifNoExists('absent', () => db.put('y', 1)), db.get('y'));
    }
    expect(out.slice(0, 4)).toEqual(out.slice(4));
    expect(out.slice(0, 4)).toEqual([false, undefined, true, 1]);
  });
});

describe('committed, flushed, events side by side', () => {
  it('await db.committed and await db.flushed wait for the writes issued before; db.flushed() still works', async () => {
    const p = pair();
    for (const db of both(p)) {
      db.put('a', 1);
      expect(await db.committed).toBe(true);
      db.put('b', 2);
      await db.flushed;
      expect([db.get('a'), db.get('b')]).toEqual([1, 2]);
    }
    p.rota.put('c', 3);
    await p.rota.flushed();
    expect(p.rota.get('c')).toBe(3);
  });

  it('beforecommit runs with the transaction open (its writes join the commit); aftercommit gets the txnId', async () => {
    const p = pair();
    for (const db of both(p)) {
      const events: string[] = [];
      let txnIds = 0;
      const stamp = () => {
        events.push('before');
        db.put('stamp', (db.get('stamp') ?? 0) + 1);
      };
      db.on('beforecommit', stamp);
      db.on('aftercommit', (e: { txnId: number }) => {
        events.push('after');
        if (typeof e.txnId === 'number') txnIds++;
      });
      await db.put('warm-up', 0); // lmdb-js reports two commits for its first batch
      events.length = txnIds = 0;
      await Promise.all([db.put('a', 1), db.put('b', 2)]);
      expect(events).toEqual(['before', 'after']);
      expect(db.get('stamp')).toBe(2);
      expect(txnIds).toBe(1);
    }
    // rotadb also fires them for synchronous commits (lmdb-js does not)
    const events: string[] = [];
    p.rota.on('aftercommit', () => events.push('sync'));
    p.rota.putSync('c', 1);
    expect(events).toEqual(['sync']);
    expect(p.rota.get('stamp')).toBe(3);
    expect(() => p.rota.on('commited' as never, () => {})).toThrow(/unknown event/);
  });

  it('a throwing beforecommit listener stops the commit (the writes fail with it); an aftercommit error does not', async () => {
    const { rota } = pair();
    const boom = () => {
      throw new Error('no commit');
    };
    rota.on('beforecommit', boom);
    await expect(rota.put('a', 1)).rejects.toThrow('no commit');
    expect(() => rota.putSync('b', 1)).toThrow('no commit');
    expect([rota.get('a'), rota.get('b')]).toEqual([undefined, undefined]);
    rota.off('beforecommit', boom);
    const logged: unknown[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => logged.push(args);
    try {
      rota.on('aftercommit', boom);
      expect(rota.putSync('c', 1)).toBe(true);
    } finally {
      console.error = error;
      rota.off('aftercommit', boom);
    }
    expect(rota.get('c')).toBe(1);
    expect(logged).toHaveLength(1);
    expect(await rota.batch(() => { rota.put('d', 1); rota.put('e', 2); })).toBe(true);
    expect([rota.get('d'), rota.get('e')]).toEqual([1, 2]);
  });
});
