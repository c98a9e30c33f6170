/** close() and closeSync(): later calls throw ROTA_CLOSED, queued writes finish or are rejected, transactions end. */
import { describe, expect, it } from 'vitest';
import { codeOf, expectClean, openFile, openMem, sleep, syncCodeOf, tempPath } from '../helpers/db.js';

describe('close()', () => {
  it('after close every method throws ROTA_CLOSED', async () => {
    const db = openMem();
    const a = db.openDB('a');
    db.putSync('k', 1);
    a.putSync('k', 2);
    expectClean(db);
    await db.close();
    const calls: Array<[string, () => unknown]> = [
      ['get', () => db.get('k')],
      ['getBinary', () => db.getBinary('k')],
      ['doesExist', () => db.doesExist('k')],
      ['getRange', () => db.getRange().asArray],
      ['getKeys', () => db.getKeys().asArray],
      ['put', () => db.put('k', 2)],
      ['putSync', () => db.putSync('k', 2)],
      ['remove', () => db.remove('k')],
      ['removeSync', () => db.removeSync('k')],
      ['transactionSync', () => db.transactionSync(() => 1)],
      ['transaction', () => db.transaction(() => 1)],
      ['beginRead', () => db.beginRead()],
      ['beginWrite', () => db.beginWrite()],
      ['stats', () => db.stats()],
      ['check', () => db.check()],
      ['readers', () => db.readers()],
      ['openDB', () => db.openDB('b')],
      ['named get', () => a.get('k')],
      ['named putSync', () => a.putSync('k', 3)],
      ['named put', () => a.put('k', 3)],
      ['named getRange', () => a.getRange().asArray],
    ];
    for (const [name, call] of calls) expect(syncCodeOf(call), name).toBe('ROTA_CLOSED');
    await expect(db.close()).resolves.toBeUndefined(); // a second close does nothing
    expect(() => db.closeSync()).not.toThrow();
  });

  it('close() waits for queued puts', async () => {
    const file = tempPath();
    const db = openFile(file);
    const ps: Promise<boolean>[] = [];
    for (let i = 0; i < 50; i++) ps.push(db.put(i, `v${i}`));
    const t = db.transaction(async () => {
      await sleep(10);
      db.putSync('txn', 1);
    });
    const later = db.put('later', 1);
    await db.close();
    await expect(Promise.all(ps)).resolves.toHaveLength(50);
    await expect(t).resolves.toBeUndefined();
    await expect(later).resolves.toBe(true);
    const db2 = openFile(file);
    expect(db2.stats().entries).toBe(52);
    expect(db2.get(49)).toBe('v49');
    expect(db2.get('txn')).toBe(1);
    expectClean(db2);
  });

  it('closeSync() rejects queued writes that have not started', async () => {
    const db = openMem();
    db.putSync('committed', 1);
    const p = db.put('k', 1);
    expectClean(db);
    db.closeSync();
    expect(await codeOf(() => p)).toBe('ROTA_CLOSED');
  });

  it('close() ends an open write transaction', async () => {
    const db = openMem();
    db.putSync('committed', 1);
    const w = db.beginWrite();
    w.put('k', 1);
    expectClean(db);
    await db.close();
    expect(w.isActive).toBe(false);
    expect(syncCodeOf(() => w.put('k', 2))).toBe('ROTA_TXN_ENDED');
  });
  // close() is documented as "Open transactions end; later calls throw": a read transaction must
  // not go on answering from the page cache after it.
  it('close() ends an open read transaction', async () => {
    const db = openMem();
    db.putSync('k', 1);
    const r = db.beginRead();
    expect(r.get('k')).toBe(1);
    expectClean(db);
    await db.close();
    expect(r.isActive).toBe(false);
    expect(['ROTA_TXN_ENDED', 'ROTA_CLOSED']).toContain(syncCodeOf(() => r.get('k')));
  });
});
