/**
 * Asynchronous writes: put/remove batching into one commit per turn, their order and visibility,
 * and transaction(fn) with asynchronous and synchronous callbacks. Every case runs twice: batches
 * applied on this thread (a Storage given to open: MemoryStorage) and in the writer thread (a file).
 */
import { describe, expect, it } from 'vitest';
import { fill, keysOf } from '../helpers/api.js';
import { expectClean, openFile, openMem as memDb, sleep, syncCodeOf, tempPath } from '../helpers/db.js';
import type { RootDatabase } from '../../src/index.js';

/** A file database whose writer thread has started, so that its batches go there. */
async function threadDb(): Promise<RootDatabase> {
  const db = openFile(tempPath(), { writerThread: true });
  expect(await db.queue.writerThreadStarted()).toBe(true);
  return db;
}

describe.each([
  ['on this thread', async (): Promise<RootDatabase> => memDb()],
  ['in the writer thread', threadDb],
])('batches %s', (_where, openMem) => {
describe('asynchronous writes', () => {
  it('100 puts issued in one turn share one commit', async () => {
    const db = await openMem();
    db.putSync('warm', 1);
    const before = db.stats().txnId;
    const ps: Promise<boolean>[] = [];
    for (let i = 0; i < 100; i++) ps.push(db.put(i, { i }));
    expect(db.stats().txnId).toBe(before); // nothing committed synchronously
    const results = await Promise.all(ps);
    expect(results).toEqual(new Array(100).fill(true));
    expect(db.stats().txnId).toBe(before + 1);
    expect(db.stats().entries).toBe(101);
    for (let i = 0; i < 100; i++) expect(db.get(i)).toEqual({ i });
    expectClean(db);
  });

  it('puts and removes of one turn share a commit; the next turn makes another', async () => {
    const db = await openMem();
    fill(db, 10);
    const before = db.stats().txnId;
    const first = [db.put('a', 1), db.remove(3), db.remove('nope'), db.put('b', 2)];
    await Promise.all(first);
    expect(await Promise.all(first)).toEqual([true, true, false, true]);
    expect(db.stats().txnId).toBe(before + 1);
    await Promise.all([db.put('c', 3), db.remove(4)]);
    expect(db.stats().txnId).toBe(before + 2);
    expect(keysOf(db)).toEqual([0, 1, 2, 5, 6, 7, 8, 9, 'a', 'b', 'c']);
    expectClean(db);
  });

  it('a put resolves only after its data is visible to get', async () => {
    const db = await openMem();
    const seen: unknown[] = [];
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      ps.push(db.put(`k${i}`, i).then(() => { seen.push(db.get(`k${i}`)); }));
    }
    expect(db.get('k0')).toBeUndefined(); // not yet committed
    await Promise.all(ps);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const r = db.remove('k5').then((existed) => [existed, db.get('k5'), db.doesExist('k5')]);
    expect(db.get('k5')).toBe(5);
    await expect(r).resolves.toEqual([true, undefined, false]);
    expectClean(db);
  });

  it('writes to one key in one turn apply in the order issued', async () => {
    const db = await openMem();
    db.putSync('k', 'old');
    const a = [db.remove('k'), db.put('k', 'new')];
    await expect(Promise.all(a)).resolves.toEqual([true, true]);
    expect(db.get('k')).toBe('new');

    const b = [db.put('k', 'newer'), db.remove('k')];
    await expect(Promise.all(b)).resolves.toEqual([true, true]);
    expect(db.get('k')).toBeUndefined();

    const c = [db.put('k', 1), db.put('k', 2), db.remove('k'), db.remove('k'), db.put('k', 3)];
    await expect(Promise.all(c)).resolves.toEqual([true, true, true, false, true]);
    expect(db.get('k')).toBe(3);
    expectClean(db);
  });

  it('flushed() resolves after every write issued so far', async () => {
    const db = await openMem();
    for (let i = 0; i < 10; i++) void db.put(i, i);
    await db.flushed();
    expect(db.stats().entries).toBe(10);
    expectClean(db);
  });

  it('a bad key or value throws synchronously and does not disturb the batch', async () => {
    const db = await openMem();
    const ok = db.put('good', 1);
    expect(syncCodeOf(() => db.put(undefined, 1))).toBe('ROTA_BAD_KEY');
    expect(syncCodeOf(() => db.put('bad', undefined))).toBe('ROTA_BAD_VALUE');
    await expect(ok).resolves.toBe(true);
    expect(keysOf(db)).toEqual(['good']);
    expectClean(db);
  });
});

describe('transaction(async fn)', () => {
  it('writes inside are visible after it resolves, and it resolves to the callback result', async () => {
    const db = await openMem();
    const before = db.stats().txnId;
    const result = await db.transaction(async () => {
      await db.put('a', 1); // resolves at once: it writes into the open transaction
      db.putSync('b', 2);
      await sleep(5);
      expect(db.get('a')).toBe(1);
      expect(keysOf(db)).toEqual(['a', 'b']);
      await expect(db.remove('b')).resolves.toBe(true);
      return 'done';
    });
    expect(result).toBe('done');
    expect(db.stats().txnId).toBe(before + 1);
    expect(db.get('a')).toBe(1);
    expect(db.get('b')).toBeUndefined();
    expectClean(db);
  });

  it('a synchronous callback works too', async () => {
    const db = await openMem();
    await expect(db.transaction(() => db.putSync('s', 1))).resolves.toBe(true);
    expect(db.get('s')).toBe(1);
    expectClean(db);
  });

  it('throwing inside rejects and discards the writes', async () => {
    const db = await openMem();
    fill(db, 2);
    const before = db.stats().txnId;
    await expect(db.transaction(async () => {
      db.putSync('x', 1);
      await sleep(1);
      db.removeSync(0);
      throw new Error('async failure');
    })).rejects.toThrow('async failure');
    await expect(db.transaction(() => {
      db.putSync('y', 1);
      throw new Error('sync failure');
    })).rejects.toThrow('sync failure');
    expect(db.stats().txnId).toBe(before);
    expect(keysOf(db)).toEqual([0, 1]);
    // later writes still work
    await db.put('z', 1);
    expect(keysOf(db)).toEqual([0, 1, 'z']);
    expectClean(db);
  });

  it('runs after the writes issued before it, and before the ones issued after it', async () => {
    const db = await openMem();
    const order: string[] = [];
    const p1 = db.put('k', 'batch 1').then(() => order.push('put 1'));
    const t = db.transaction(() => {
      order.push(`txn sees ${db.get('k')}`);
      db.putSync('k', 'txn');
    });
    const p2 = db.put('k', 'batch 2').then(() => order.push('put 2'));
    await Promise.all([p1, t, p2]);
    expect(order).toEqual(['put 1', 'txn sees batch 1', 'put 2']);
    expect(db.get('k')).toBe('batch 2');
    expectClean(db);
  });
});
});
