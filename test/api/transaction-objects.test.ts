/** Transactions as objects: beginRead() snapshots and beginWrite() commit/abort, `using`, use after end. */
import { describe, expect, it } from 'vitest';
import { fill, keysOf } from '../helpers/api.js';
import { expectClean, openMem, syncCodeOf } from '../helpers/db.js';

describe('beginRead()', () => {
  it('getKeys() lists the snapshot keys without reading values (also on a write transaction)', () => {
    const db = openMem();
    db.putSync('a', 1);
    db.putSync('b', 'x'.repeat(20_000)); // an overflow value, never read by getKeys
    const r = db.beginRead();
    db.putSync('c', 3);
    expect([...r.getKeys()]).toEqual(['a', 'b']);
    expect([...r.getKeys({ start: 'b' })]).toEqual(['b']);
    r.end();
    const w = db.beginWrite();
    w.put('d', 4);
    expect([...w.getKeys({ reverse: true, limit: 2 })]).toEqual(['d', 'c']);
    w.abort();
    expectClean(db);
  });

  it('sees one snapshot for its whole life', () => {
    const db = openMem();
    fill(db, 5);
    const r = db.beginRead();
    const at = db.stats().txnId;
    expect(r.txnId).toBe(at);
    expect(r.isActive).toBe(true);
    db.putSync(2, 'changed');
    db.removeSync(3);
    db.putSync('new', 1);
    expect(db.get(2)).toBe('changed');
    expect(r.get(2)).toBe('v2');
    expect(r.get(3)).toBe('v3');
    expect(r.doesExist(3)).toBe(true);
    expect(r.doesExist('new')).toBe(false);
    expect(r.getRange().asArray.map((e) => e.key)).toEqual([0, 1, 2, 3, 4]);
    expect(r.getRange({ start: 1, end: 4, reverse: false }).asArray.map((e) => e.value)).toEqual(['v1', 'v2', 'v3']);
    r.end();
    expect(r.isActive).toBe(false);
    r.end(); // idempotent
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });

  it('works with `using`', () => {
    const db = openMem();
    fill(db, 2);
    let seen: ReturnType<typeof db.beginRead> | undefined;
    {
      using r = db.beginRead();
      seen = r;
      expect(r.isActive).toBe(true);
      expect(db.stats().readers).toBe(1);
      expect(r.get(1)).toBe('v1');
    }
    expect(seen!.isActive).toBe(false);
    expect(db.stats().readers).toBe(0);
    expect(() => {
      using r = db.beginRead();
      seen = r;
      throw new Error('leave the block by throwing');
    }).toThrow('leave the block');
    expect(seen!.isActive).toBe(false);
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });

  it('use after end throws ROTA_TXN_ENDED', async () => {
    const db = openMem();
    fill(db, 2);
    const r = db.beginRead();
    r[Symbol.dispose]();
    expect(syncCodeOf(() => r.get(1))).toBe('ROTA_TXN_ENDED');
    expect(syncCodeOf(() => r.doesExist(1))).toBe('ROTA_TXN_ENDED');
    expect(syncCodeOf(() => r.getRange().asArray)).toBe('ROTA_TXN_ENDED');
    expectClean(db);
  });

  it('a range iterator of a read transaction stops with ROTA_TXN_ENDED once the transaction ends', () => {
    const db = openMem();
    fill(db, 5);
    const r = db.beginRead();
    const it = r.getRange()[Symbol.iterator]();
    expect(it.next().value).toEqual({ key: 0, value: 'v0' });
    r.end();
    expect(syncCodeOf(() => it.next())).toBe('ROTA_TXN_ENDED');
    expectClean(db);
  });
});

describe('beginWrite()', () => {
  it('commit makes the writes visible in one commit', () => {
    const db = openMem();
    fill(db, 3);
    const before = db.stats().txnId;
    const w = db.beginWrite();
    expect(w.isActive).toBe(true);
    expect(w.txnId).toBe(before + 1);
    expect(w.put('a', 1)).toBe(true);
    expect(w.put('a', 2)).toBe(false);
    expect(w.remove(0)).toBe(true);
    expect(w.remove(0)).toBe(false);
    expect(w.get('a')).toBe(2);
    expect(w.doesExist(0)).toBe(false);
    expect(w.getRange().asArray.map((e) => e.key)).toEqual([1, 2, 'a']);
    // routing rule: this thread's reads through the database go into the open transaction
    expect(db.get('a')).toBe(2);
    // a snapshot does not see it
    const r = db.beginRead();
    expect(r.get('a')).toBeUndefined();
    expect(r.get(0)).toBe('v0');
    r.end();
    w.commit();
    expect(w.isActive).toBe(false);
    expect(db.stats().txnId).toBe(before + 1);
    expect(db.get('a')).toBe(2);
    expect(db.get(0)).toBeUndefined();
    w.abort(); // safe after commit
    expect(db.get('a')).toBe(2);
    expectClean(db);
  });

  it('abort discards every change', () => {
    const db = openMem();
    fill(db, 3);
    const before = db.stats().txnId;
    const w = db.beginWrite();
    w.put('a', 1);
    w.remove(1);
    w.abort();
    expect(w.isActive).toBe(false);
    expect(db.stats().txnId).toBe(before);
    expect(keysOf(db)).toEqual([0, 1, 2]);
    w.abort(); // idempotent
    expect(db.putSync('b', 1)).toBe(true);
    expectClean(db);
  });

  it('`using` aborts a transaction that was not committed', () => {
    const db = openMem();
    let seen: ReturnType<typeof db.beginWrite> | undefined;
    {
      using w = db.beginWrite();
      seen = w;
      w.put('discarded', 1);
    }
    expect(seen!.isActive).toBe(false);
    expect(db.get('discarded')).toBeUndefined();
    {
      using w = db.beginWrite();
      w.put('kept', 1);
      w.commit();
    }
    expect(db.get('kept')).toBe(1);
    expectClean(db);
  });

  it('use after end throws ROTA_TXN_ENDED', () => {
    const db = openMem();
    const w = db.beginWrite();
    w.put('a', 1);
    w.commit();
    expect(syncCodeOf(() => w.put('b', 1))).toBe('ROTA_TXN_ENDED');
    expect(syncCodeOf(() => w.remove('a'))).toBe('ROTA_TXN_ENDED');
    expect(syncCodeOf(() => w.get('a'))).toBe('ROTA_TXN_ENDED');
    expect(syncCodeOf(() => w.doesExist('a'))).toBe('ROTA_TXN_ENDED');
    expect(syncCodeOf(() => w.getRange().asArray)).toBe('ROTA_TXN_ENDED');
    expect(syncCodeOf(() => w.commit())).toBe('ROTA_TXN_ENDED');
    const w2 = db.beginWrite();
    w2[Symbol.dispose]();
    expect(syncCodeOf(() => w2.put('b', 1))).toBe('ROTA_TXN_ENDED');
    expect(syncCodeOf(() => w2.commit())).toBe('ROTA_TXN_ENDED');
    expect(db.get('b')).toBeUndefined();
    expectClean(db);
  });

  it('a range iterator of a write transaction stops with ROTA_TXN_ENDED once the transaction ends', () => {
    for (const end of ['commit', 'abort'] as const) {
      const db = openMem();
      fill(db, 5);
      const w = db.beginWrite();
      w.put(2, 'changed');
      const it = w.getRange()[Symbol.iterator]();
      expect(it.next().value).toEqual({ key: 0, value: 'v0' });
      w[end]();
      expect(syncCodeOf(() => it.next())).toBe('ROTA_TXN_ENDED');
      expect(it.next().done).toBe(true);
      expectClean(db);
    }
  });

  it('a second beginWrite in the same thread throws ROTA_WOULD_DEADLOCK instead of hanging', () => {
    const db = openMem();
    const w = db.beginWrite();
    expect(syncCodeOf(() => db.beginWrite())).toBe('ROTA_WOULD_DEADLOCK');
    w.abort();
    expectClean(db);
  });

  it('writes to named databases through the transaction object', () => {
    const db = openMem();
    const a = db.openDB('a', { encoding: 'string' });
    const w = db.beginWrite();
    w.put('k', 'text', a);
    w.put('k', { root: true });
    expect(w.get('k', a)).toBe('text');
    w.commit();
    expect(a.get('k')).toBe('text');
    expect(db.get('k')).toEqual({ root: true });
    expectClean(db);
  });
});
