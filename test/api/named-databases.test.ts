/** Named databases: isolation from each other and the root, lazy creation, persistence across reopen. */
import { describe, expect, it } from 'vitest';
import { keysOf } from '../helpers/api.js';
import { expectClean, openFile, openMem, tempPath } from '../helpers/db.js';

describe('named databases', () => {
  it('are isolated from each other and from the root database', () => {
    const db = openMem();
    const a = db.openDB('a');
    const b = db.openDB('b', { encoding: 'string' });
    db.putSync('k', 'root');
    a.putSync('k', 'a');
    b.putSync('k', 'b');
    a.putSync('only-a', 1);
    expect([db.get('k'), a.get('k'), b.get('k')]).toEqual(['root', 'a', 'b']);
    expect(keysOf(db)).toEqual(['k']);
    expect(a.getKeys().asArray).toEqual(['k', 'only-a']);
    expect(b.getKeys().asArray).toEqual(['k']);
    expect(db.doesExist('only-a')).toBe(false);
    expect(b.get('only-a')).toBeUndefined();
    expect(a.removeSync('k')).toBe(true);
    expect([db.get('k'), a.get('k'), b.get('k')]).toEqual(['root', undefined, 'b']);
    expect(db.stats().entries).toBe(1);
    expect(a.stats().entries).toBe(1);
    expect(b.stats().entries).toBe(1);
    expect(db.check().databases).toBe(2);
    expectClean(db);
  });

  it('a database only read is not created', () => {
    const db = openMem();
    const ghost = db.openDB('ghost');
    expect(ghost.get('x')).toBeUndefined();
    expect(ghost.getRange().asArray).toEqual([]);
    expect(ghost.doesExist('x')).toBe(false);
    db.transactionSync(() => {
      expect(ghost.get('x')).toBeUndefined();
      expect(ghost.getKeys().asArray).toEqual([]);
      db.putSync('root', 1);
    });
    expect(ghost.stats().entries).toBe(0);
    expect(db.check().databases).toBe(0);
    expectClean(db);
  });

  it('persist across close and reopen', async () => {
    const file = tempPath();
    const db = openFile(file);
    const a = db.openDB('alpha');
    const b = db.openDB('beta', { encoding: 'json' });
    db.putSync('root-key', 'root-value');
    await Promise.all([a.put('x', 1), b.put('x', { json: true }), a.put('y', 2)]);
    expect(db.check().databases).toBe(2);
    expectClean(db);
    await db.close();

    const db2 = openFile(file);
    const a2 = db2.openDB('alpha');
    const b2 = db2.openDB('beta', { encoding: 'json' });
    expect(db2.get('root-key')).toBe('root-value');
    expect(a2.getRange().asArray).toEqual([{ key: 'x', value: 1 }, { key: 'y', value: 2 }]);
    expect(b2.get('x')).toEqual({ json: true });
    expect(db2.check().databases).toBe(2);
    // a third database, emptied again, still counts (it exists in the catalog)
    const c2 = db2.openDB('gamma');
    c2.putSync('z', 1);
    expect(db2.check().databases).toBe(3);
    expect(a2.stats().entries).toBe(2);
    expectClean(db2);
    await db2.close();

    const db3 = openFile(file);
    expect(db3.check().databases).toBe(3);
    expect(db3.openDB('gamma').get('z')).toBe(1);
    expect(db3.getKeys().asArray).toEqual(['root-key']);
    expectClean(db3);
  });
});
