/**
 * compact(): the new file holds exactly the live data of one snapshot (every database, raw bytes),
 * passes check(), is no larger than the source, has (nearly) minimal leaf pages, refuses an
 * existing destination, and stays consistent while a writer goes on.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/api/open.js';
import type { RootDatabase } from '../../src/api/root-database.js';
import { leafCellSizeFor } from '../../src/pages/node.js';
import { PAGE_HEADER, SLOT_WIDTH, maxCellSize } from '../../src/pages/layout.js';
import { compact } from '../../src/tools/compact.js';
import { codeOf, expectClean, openFile, rawContents, tempDir, tempPath, track } from '../helpers/db.js';
import * as path from 'node:path';


function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** A source that has seen churn: random-order inserts, updates, deletes, several named databases, large values. */
function churnedSource(file: string, n = 4000): RootDatabase {
  const db = openFile(file);
  const users = db.openDB('users', { encoding: 'json' });
  const bin = db.openDB('bin', { encoding: 'binary', keyEncoding: 'binary' });
  const gone = db.openDB('gone');
  const rand = rng(42);
  const order = Array.from({ length: n }, (_, i) => i).sort(() => rand() - 0.5);
  for (let start = 0; start < n; start += 500) {
    db.transactionSync(() => {
      for (const i of order.slice(start, start + 500)) {
        db.putSync(['item', i], { i, text: 'x'.repeat(Math.floor(rand() * 120)) });
        if (i % 10 === 0) users.putSync(`user-${i}`, { name: `n${i}`, tags: [i, 'a'] });
        if (i % 7 === 0) bin.putSync(Buffer.from([i & 0xff, 0, 0xff, (i >> 8) & 0xff, 10]), Buffer.alloc(i % 300, i & 0xff));
      }
    });
  }
  db.transactionSync(() => {
    for (let i = 0; i < 12; i++) db.putSync(['big', i], Buffer.alloc(9000 + i * 1000, i)); // overflow runs
    gone.putSync('x', 1);
  });
  db.transactionSync(() => {
    for (let i = 0; i < n; i += 3) db.removeSync(['item', i]);
    for (let i = 1; i < n; i += 5) db.putSync(['item', i], { i, text: 'updated' });
    for (let i = 0; i < 12; i += 2) db.removeSync(['big', i]);
    gone.removeSync('x'); // an emptied named database still exists
  });
  return db;
}

/** The fewest leaf pages that can hold these rows at this page size (cells and slots packed end to end). */
function minimalLeafPages(rows: string[], pageSize: number): number {
  const maxCell = maxCellSize(pageSize);
  const cap = pageSize - PAGE_HEADER;
  let pages = rows.length ? 1 : 0;
  let used = 0;
  for (const row of rows) {
    const [k, v] = row.split(':') as [string, string];
    const size = leafCellSizeFor(k.length / 2, v.length / 2, maxCell) + SLOT_WIDTH;
    if (used + size > cap) { pages++; used = 0; }
    used += size;
  }
  return pages;
}

describe('compact', () => {
  it('copies every database exactly, passes check, is smaller, and has minimal leaf pages', async () => {
    const src = churnedSource(tempPath('src.rdb'));
    const dest = path.join(tempDir(), 'compact.rdb');
    const before = rawContents(src);
    expect([...before.keys()]).toEqual(['', 'bin', 'gone', 'users']);
    expect(before.get('gone')).toEqual([]);
    const result = await compact(src.env, dest);
    expect(result.txnId).toBe(src.env.current.txnId);
    expect(result.entries).toBe([...before.values()].reduce((a, rows) => a + rows.length, 0));
    expect(result.databases).toBe(3);

    // no temporary file left behind
    expect(fs.readdirSync(path.dirname(dest))).toEqual(['compact.rdb']);
    const out = track(open(dest));
    expect(rawContents(out)).toEqual(before);
    expectClean(out);
    expect(out.env.pageSize).toBe(src.env.pageSize);
    expect(out.env.nRoots).toBe(src.env.nRoots);
    // the decoded view agrees too
    expect(out.get(['item', 1])).toEqual({ i: 1, text: 'updated' });
    expect(out.openDB('users', { encoding: 'json' }).get('user-10')).toEqual({ name: 'n10', tags: [10, 'a'] });
    expect(out.get(['big', 1])).toEqual(Buffer.alloc(10000, 1));

    const srcSize = fs.statSync(src.env.path!).size;
    const outSize = fs.statSync(dest).size;
    expect(outSize).toBe(result.size);
    expect(outSize).toBeLessThanOrEqual(srcSize);

    const srcStats = src.stats();
    const outStats = out.stats();
    const minimal = minimalLeafPages(before.get('')!, out.env.pageSize);
    // Full pages: at most one leaf over the packing bound (the last, partly filled, page).
    expect(outStats.leafPages).toBeLessThanOrEqual(minimal + 1);
    expect(outStats.leafPages).toBeLessThan(srcStats.leafPages);
    for (const name of ['users', 'bin']) {
      const s = out.openDB(name).stats();
      expect(s.leafPages, name).toBeLessThanOrEqual(minimalLeafPages(before.get(name)!, out.env.pageSize) + 1);
    }
    // Only a few pages besides the trees: root slots, catalog, space map, what the batch boundaries freed.
    const treePages = outStats.branchPages + outStats.leafPages + outStats.overflowPages
      + ['users', 'bin'].reduce((a, n) => { const s = out.openDB(n).stats(); return a + s.branchPages + s.leafPages; }, 0);
    expect(outStats.totalPages - treePages).toBeLessThanOrEqual(out.env.nRoots + 12);
  });

  it('refuses an existing destination with ROTA_EXISTS and leaves it untouched', async () => {
    const src = churnedSource(tempPath(), 200);
    const dir = tempDir();
    const dest = path.join(dir, 'there.rdb');
    fs.writeFileSync(dest, 'precious');
    expect(await codeOf(() => compact(src.env, dest))).toBe('ROTA_EXISTS');
    expect(fs.readFileSync(dest, 'utf8')).toBe('precious');
    expect(await codeOf(() => compact(src.env, src.env.path!))).toBe('ROTA_EXISTS');
    expect(fs.readdirSync(dir)).toEqual(['there.rdb']);
  });

  it('reports progress in entries, writes bounded transactions, and honours pageSize and nRoots', async () => {
    const src = churnedSource(tempPath(), 2000);
    const total = [...rawContents(src).values()].reduce((a, rows) => a + rows.length, 0);
    const calls: Array<[number, number]> = [];
    const dest = path.join(tempDir(), 'c.rdb');
    await compact(src.env, dest, { onProgress: (d, t) => calls.push([d, t]), batchEntries: 250, pageSize: 8192, nRoots: 2 });
    expect(calls[0]).toEqual([0, total]);
    expect(calls.at(-1)).toEqual([total, total]);
    for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThanOrEqual(calls[i - 1]![0]);
    expect(calls.length).toBeGreaterThanOrEqual(Math.floor(total / 250));
    const out = track(open(dest));
    expect(out.env.pageSize).toBe(8192);
    expect(out.env.nRoots).toBe(2);
    // one commit per batch of 250 entries (plus at most one for the rest)
    expect(out.env.current.txnId).toBe(Math.ceil(total / 250));
    expect(rawContents(out)).toEqual(rawContents(src));
    expectClean(out);
  });

  it('fails cleanly (ROTA_KEY_TOO_LARGE, no file left) when a key does not fit the smaller page size', async () => {
    const src = openFile(tempPath());
    src.putSync('k'.repeat(600), 1); // fits 4 KiB pages, not 1 KiB ones (limit 491)
    const dir = tempDir();
    expect(await codeOf(() => compact(src.env, path.join(dir, 'small.rdb'), { pageSize: 1024 }))).toBe('ROTA_KEY_TOO_LARGE');
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(src.readers()).toEqual([]); // the snapshot was released
  });

  it('copies one consistent snapshot while an async writer and a reader go on', async () => {
    const src = churnedSource(tempPath(), 3000);
    const names = src.openDB('users', { encoding: 'json' });
    const before = rawContents(src);
    const started = src.env.current.txnId;
    const dest = path.join(tempDir(), 'live.rdb');
    let stop = false;
    let commits = 0;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        await src.transaction(() => {
          src.putSync(['item', 100000 + i], { late: true });
          src.removeSync(['item', 3 * i + 1]);
          names.putSync(`late-${i}`, { i });
        });
        commits++;
        await new Promise((r) => setImmediate(r)); // an uncontended commit never leaves the microtask queue
      }
    })();
    const reading = src.beginRead();
    const job = compact(src.env, dest, { batchEntries: 200 }); // pins the current version before returning
    const result = await job;
    // the writer may be waiting for the slot `reading` pins: release it before waiting for the writer
    expect(reading.get(['item', 1])).toEqual({ i: 1, text: 'updated' });
    reading.end();
    stop = true;
    await writer;
    expect(result.txnId).toBe(started);
    expect(commits).toBeGreaterThan(0); // the writer did commit while the copy ran
    expect(src.env.current.txnId).toBeGreaterThan(started);
    const out = track(open(dest));
    expect(rawContents(out)).toEqual(before);
    expectClean(out);
    expectClean(src);
  });
});
