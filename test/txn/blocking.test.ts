/**
 * The blocking rule of the root slots, exactly: with one reader pinned on version v, writers
 * v+1 .. v+nRoots-1 commit, and writer v+nRoots waits until the reader ends (async), or throws
 * at once on the sync path because the pin belongs to its own thread.
 */
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('writer blocking on a pinned root slot', () => {
  for (const nRoots of [1, 2, 4, 8]) {
    it(`nRoots ${nRoots}: writers v+1..v+${nRoots - 1} commit, writer v+${nRoots} waits for the reader`, async () => {
      const db = open({ storage: new MemoryStorage(), nRoots });
      db.putSync('x', 0);
      const reader = db.beginRead();
      const v = reader.txnId;
      expect(db.stats().slots[v % nRoots]!.readers).toBe(1);
      for (let i = 1; i < nRoots; i++) {
        db.putSync('x', i);
        expect(db.stats().txnId).toBe(v + i);
      }
      // Writer v+nRoots needs the reader's slot. Sync: refused at once, since only this thread could release it.
      const t0 = Date.now();
      expect(() => db.putSync('x', 'blocked')).toThrow(expect.objectContaining({ code: 'ROTA_WOULD_DEADLOCK' }));
      expect(Date.now() - t0).toBeLessThan(1000);
      // Async: waits, holding nothing, until the reader ends.
      let done = false;
      const p = db.put('x', 'after').then(() => (done = true));
      await settle();
      expect(done).toBe(false);
      expect(db.stats().txnId).toBe(v + nRoots - 1);
      expect(db.stats().slots[v % nRoots]!.writerWaiting).toBe(true);
      expect(reader.get('x')).toBe(0); // the reader still sees its version
      if (nRoots > 1) expect(db.get('x')).toBe(nRoots - 1); // other readers go on meanwhile
      reader.end();
      await p;
      expect(done).toBe(true);
      expect(db.stats().txnId).toBe(v + nRoots);
      expect(db.get('x')).toBe('after');
      expect(db.check().problems).toEqual([]);
      await db.close();
    });
  }

  it('pages a pinned version can reach are not reused while it is pinned', async () => {
    const db = open({ storage: new MemoryStorage(), nRoots: 8, pageSize: 1024, encoding: 'binary' });
    const value = (i: number, r: number) => Buffer.alloc(200, (i * 7 + r) & 255);
    db.transactionSync(() => { for (let i = 0; i < 300; i++) db.putSync(i, value(i, 0)); });
    const reader = db.beginRead();
    for (let round = 1; round < 8; round++) {
      db.transactionSync(() => { for (let i = 0; i < 300; i++) db.putSync(i, value(i, round)); });
      expect(db.stats().pendingPages).toBeGreaterThan(0);
    }
    // every page of the reader's version is intact after 7 rewrites of everything
    for (const { key, value: v } of reader.getRange()) expect(v).toEqual(value(key as number, 0));
    reader.end();
    db.putSync('done', Buffer.from('x'));
    expect(db.stats().pendingPages).toBeLessThan(50);
    expect(db.check().problems).toEqual([]);
    await db.close();
  });

  it('reports the oldest reader and what pins each slot', async () => {
    const db = open({ storage: new MemoryStorage(), nRoots: 2 });
    db.putSync('a', 1);
    const r = db.beginRead();
    await settle();
    const s = db.stats();
    expect(s.readers).toBe(1);
    expect(s.oldestReaderTxnId).toBe(r.txnId);
    expect(s.oldestReaderAgeMs).toBeGreaterThanOrEqual(15);
    expect(db.readers()[0]).toMatchObject({ txnId: r.txnId, slot: r.txnId % 2 });
    db.putSync('a', 2);
    try {
      db.putSync('a', 3);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(new RegExp(`version ${r.txnId} for \\d+ ms`));
    }
    r.end();
    await db.close();
  });
});
