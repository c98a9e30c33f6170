/**
 * transactionSync(fn): commit, abort, nesting, reads inside, named databases; and what a writer or
 * reader does when root slots or reader entries are taken (ROTA_READERS_FULL, ROTA_WOULD_DEADLOCK).
 */
import { describe, expect, it } from 'vitest';
import { fill, keysOf } from '../helpers/api.js';
import { expectClean, openMem, sleep, syncCodeOf } from '../helpers/db.js';

describe('transactionSync', () => {
  it('commits when the callback returns, with one commit, and returns its result', () => {
    const db = openMem();
    const before = db.stats().txnId;
    const out = db.transactionSync(() => {
      for (let i = 0; i < 10; i++) db.putSync(i, i);
      expect(db.putSync(0, 'zero')).toBe(false);
      expect(db.removeSync(9)).toBe(true);
      return 'result';
    });
    expect(out).toBe('result');
    expect(db.stats().txnId).toBe(before + 1);
    expect(keysOf(db)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(db.get(0)).toBe('zero');
    expectClean(db);
  });

  it('aborts when the callback throws: nothing is visible, the error propagates', () => {
    const db = openMem();
    fill(db, 3);
    const before = db.stats().txnId;
    const boom = new Error('boom');
    expect(() => db.transactionSync(() => {
      db.putSync('x', 1);
      db.removeSync(0);
      db.putSync(1, 'changed');
      throw boom;
    })).toThrow(boom);
    expect(db.stats().txnId).toBe(before);
    expect(db.get('x')).toBeUndefined();
    expect(db.get(0)).toBe('v0');
    expect(db.get(1)).toBe('v1');
    expect(db.stats().entries).toBe(3);
    // the writer is free again
    expect(db.putSync('y', 2)).toBe(true);
    expectClean(db);
  });

  it('nested calls join the outer transaction', () => {
    const db = openMem();
    const before = db.stats().txnId;
    db.transactionSync(() => {
      db.putSync('outer', 1);
      const inner = db.transactionSync(() => {
        db.putSync('inner', 2);
        expect(db.get('outer')).toBe(1);
        return 'inner result';
      });
      expect(inner).toBe('inner result');
      expect(db.get('inner')).toBe(2);
    });
    expect(db.stats().txnId).toBe(before + 1);
    expect(keysOf(db)).toEqual(['inner', 'outer']);

    // an outer throw discards what the inner call wrote
    expect(() => db.transactionSync(() => {
      db.transactionSync(() => db.putSync('lost', 1));
      throw new Error('outer fails');
    })).toThrow('outer fails');
    expect(db.get('lost')).toBeUndefined();
    expect(db.stats().txnId).toBe(before + 1);
    expectClean(db);
  });

  it('reads inside see the uncommitted writes; outside snapshots do not', () => {
    const db = openMem();
    fill(db, 3);
    const r = db.beginRead();
    db.transactionSync(() => {
      db.putSync('new', 'n');
      db.removeSync(1);
      expect(db.get('new')).toBe('n');
      expect(db.doesExist(1)).toBe(false);
      expect(db.getBinary('new')).toBeDefined();
      expect(keysOf(db)).toEqual([0, 2, 'new']);
      expect(db.getRange({ reverse: true }).asArray.map((e) => e.key)).toEqual(['new', 2, 0]);
      expect(db.stats().entries).toBe(3); // stats() reads the committed version
      expect(r.get('new')).toBeUndefined();
      expect(r.get(1)).toBe('v1');
    });
    r.end();
    expect(keysOf(db)).toEqual([0, 2, 'new']);
    expectClean(db);
  });

  it('a callback returning a promise throws ROTA_BAD_OPTION and writes nothing', async () => {
    const db = openMem();
    const before = db.stats().txnId;
    expect(syncCodeOf(() => db.transactionSync(() => {
      db.putSync('k', 1);
      return Promise.resolve(1);
    }))).toBe('ROTA_BAD_OPTION');
    expect(syncCodeOf(() => db.transactionSync(async () => {
      db.putSync('k2', 1);
    }))).toBe('ROTA_BAD_OPTION');
    expect(db.get('k')).toBeUndefined();
    expect(db.get('k2')).toBeUndefined();
    expect(db.stats().txnId).toBe(before);
    expect(db.putSync('k', 2)).toBe(true);
    expectClean(db);
  });

  it('spans named databases atomically', () => {
    const db = openMem();
    const a = db.openDB('a');
    const b = db.openDB('b');
    const before = db.stats().txnId;
    db.transactionSync(() => {
      a.putSync('k', 'in a');
      b.putSync('k', 'in b');
      db.putSync('k', 'in root');
    });
    expect(db.stats().txnId).toBe(before + 1);
    expect(() => db.transactionSync(() => {
      a.putSync('k', 'changed');
      b.removeSync('k');
      throw new Error('no');
    })).toThrow('no');
    expect([db.get('k'), a.get('k'), b.get('k')]).toEqual(['in root', 'in a', 'in b']);
    expectClean(db);
  });
});

describe('waiting for pinned root slots', () => {
  it('maxReaders bounds the open read transactions and iterators (ROTA_READERS_FULL)', () => {
    const db = openMem({ maxReaders: 2 });
    fill(db, 3);
    const r1 = db.beginRead();
    const it1 = db.getKeys()[Symbol.iterator]();
    expect(it1.next().value).toBe(0);
    expect(syncCodeOf(() => db.beginRead())).toBe('ROTA_READERS_FULL');
    expect(syncCodeOf(() => db.getRange().asArray)).toBe('ROTA_READERS_FULL');
    expect(db.get(1)).toBe('v1'); // point reads do not take a reader entry
    expect(db.stats().readers).toBe(2);
    expect(db.stats().slots.reduce((n, s) => n + s.readers, 0)).toBe(2); // the refused ones hold no pin
    it1.return!();
    r1.end();
    expect(db.getRange().asArray).toHaveLength(3);
    for (let i = 0; i < 8; i++) db.putSync('w', i);
    expectClean(db);
  });


  it('a synchronous write that needs a slot this thread pins throws ROTA_WOULD_DEADLOCK at once', async () => {
    const db = openMem({ nRoots: 3, writeTimeoutMs: 500 });
    fill(db, 3);
    const r = db.beginRead();
    db.putSync('a', 1); // slots are free while the commits rotate away from the pinned one
    db.putSync('b', 1);
    const t0 = Date.now();
    expect(syncCodeOf(() => db.putSync('c', 1))).toBe('ROTA_WOULD_DEADLOCK');
    expect(Date.now() - t0).toBeLessThan(250);
    expect(db.get('c')).toBeUndefined();
    // an asynchronous write waits for the reader instead
    const p = db.put('c', 2);
    await sleep(20);
    expect(db.get('c')).toBeUndefined();
    expect(r.get(0)).toBe('v0');
    r.end();
    await expect(p).resolves.toBe(true);
    expect(db.get('c')).toBe(2);
    expectClean(db);
  });

  it('serial mode (nRoots 1): a read transaction cannot start while this thread writes', () => {
    const db = openMem({ nRoots: 1 });
    fill(db, 2);
    const w = db.beginWrite();
    expect(syncCodeOf(() => db.beginRead())).toBe('ROTA_WOULD_DEADLOCK');
    w.put('x', 1);
    w.commit();
    using r = db.beginRead();
    expect(r.get('x')).toBe(1);
    expect(db.get(1)).toBe('v1');
    r.end();
    db.putSync('y', 1);
    expectClean(db);
  });
});
