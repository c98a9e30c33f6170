/** The file gives its free tail back after mass deletes, once no reader can need those pages. */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open } from '../../src/index.js';

describe('shrinking the file', () => {
  it('mass deletes shrink the file; a pinned reader keeps what it can reach until it ends', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-shrink-'));
    try {
      const file = path.join(dir, 'db.rdb');
      const db = open(file, { encoding: 'binary', nRoots: 4 });
      const v = Buffer.alloc(200, 1);
      db.transactionSync(() => { for (let i = 0; i < 20_000; i++) db.putSync(i, v); });
      db.putSync('small', Buffer.from('x')); // low pages stay in use
      const full = fs.statSync(file).size;
      const reader = db.beginRead();
      db.transactionSync(() => { for (let i = 0; i < 20_000; i++) db.removeSync(i); });
      db.putSync('after', Buffer.from('y'));
      // pages freed while the reader is pinned stay pending: nothing of its version is given back
      expect(fs.statSync(file).size).toBeGreaterThanOrEqual(full);
      expect(reader.get(19_999)).toEqual(v);
      reader.end();
      // The freed pages become reusable, the tail is trimmed once the space-map log (whose page the
      // mass delete had to put at the top) rolls over, and the commit after that truncates.
      for (let i = 0; i < 10; i++) db.putSync('tick', Buffer.from([i]));
      const small = fs.statSync(file).size;
      expect(small).toBeLessThan(full / 10);
      expect(db.stats().totalPages * db.stats().pageSize).toBeLessThanOrEqual(small);
      expect(db.check().problems).toEqual([]);
      // the file grows again into the given-back page numbers, and reopens clean
      db.transactionSync(() => { for (let i = 0; i < 5_000; i++) db.putSync(i, v); });
      await db.close();
      const again = open(file, { encoding: 'binary' });
      expect(again.get(4_999)).toEqual(v);
      expect(again.get('small')).toEqual(Buffer.from('x'));
      expect(again.check().problems).toEqual([]);
      await again.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stats(): space that compaction would give back', () => {
  it('counts every page that holds no live tree data, across named databases', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-savings-'));
    try {
      const db = open(path.join(dir, 'db.rdb'), { encoding: 'binary', nRoots: 2 });
      const other = db.openDB('other', { encoding: 'binary' });
      const v = Buffer.alloc(300, 2);
      db.transactionSync(() => {
        for (let i = 0; i < 3000; i++) { db.putSync(i, v); other.putSync(i, v); }
      });
      db.putSync('keep', v);
      const before = db.stats();
      expect(before.livePages).toBeGreaterThan(2 * 3000 * 300 / 4096);
      db.transactionSync(() => { for (let i = 0; i < 3000; i += 2) db.removeSync(i); });
      db.putSync('tick', v);
      const after = db.stats();
      // the checker walks every tree and the space map on its own: its counts must agree
      const report = db.check();
      expect(report.problems).toEqual([]);
      expect(after.livePages).toBe(report.pages.used - after.nRoots);
      expect(after.compactSavingsBytes / after.pageSize).toBe(report.pages.free + report.pages.spaceMap);
      expect(after.compactSavingsBytes).toBeGreaterThan(before.compactSavingsBytes);
      await db.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
