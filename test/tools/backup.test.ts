/**
 * backup(): a physical copy of one pinned version, taken while an async writer commits in a loop.
 * The copy must open, pass check(), and hold exactly the contents of the version it names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/api/open.js';
import type { RootDatabase } from '../../src/api/root-database.js';
import { backup } from '../../src/tools/backup.js';
import { replaySpaceMap } from '../../src/pages/spacemap.js';
import { codeOf, expectClean, openFile, tempDir, tempPath, track } from '../helpers/db.js';

type Contents = Map<string, string>;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** All entries of the main database and of 'side', as "db/key" -> hex value. */
function contentsOf(db: RootDatabase): Contents {
  const out: Contents = new Map();
  for (const { key, value } of db.getRange()) out.set(`main/${key as string}`, (value as Buffer).toString('hex'));
  for (const { key, value } of db.openDB('side', { encoding: 'binary' }).getRange()) out.set(`side/${key as string}`, (value as Buffer).toString('hex'));
  return out;
}

describe('backup', () => {
  it('equals exactly the committed version it names, taken while an async writer commits in a loop', async () => {
    const file = tempPath('live.rdb');
    const db = openFile(file, { encoding: 'binary' });
    const side = db.openDB('side', { encoding: 'binary' });
    const rand = rng(7);
    const model: Contents = new Map();
    const value = (n: number): Buffer => Buffer.alloc(n, Math.floor(rand() * 256));
    db.transactionSync(() => {
      for (let i = 0; i < 3000; i++) {
        const v = value(50 + Math.floor(rand() * 250));
        db.putSync(`k${i}`, v);
        model.set(`main/k${i}`, v.toString('hex'));
      }
      const big = value(20000);
      side.putSync('big', big);
      model.set('side/big', big.toString('hex'));
    });
    const versions = new Map<number, Contents>();
    versions.set(db.env.current.txnId, new Map(model));
    expect(contentsOf(db)).toEqual(model);

    let stop = false;
    let commits = 0;
    const writer = (async () => {
      while (!stop) {
        await db.transaction(() => {
          for (let j = 0; j < 40; j++) {
            const i = Math.floor(rand() * 3500);
            if (rand() < 0.25) {
              db.removeSync(`k${i}`);
              model.delete(`main/k${i}`);
            } else {
              const v = value(20 + Math.floor(rand() * 400));
              db.putSync(`k${i}`, v);
              model.set(`main/k${i}`, v.toString('hex'));
            }
          }
          const s = value(rand() < 0.5 ? 30 : 9000);
          side.putSync(`s${commits % 7}`, s);
          model.set(`side/s${commits % 7}`, s.toString('hex'));
        });
        versions.set(db.env.current.txnId, new Map(model));
        commits++;
        // An uncontended async commit resolves through microtasks alone: yield a turn, or this
        // loop would starve every setImmediate (the backup's chunks included).
        await new Promise((r) => setImmediate(r));
      }
    })();
    // let the writer run a little before the backup starts
    while (commits < 5) await new Promise((r) => setImmediate(r));

    // The writer's commits are made durable off the event loop, so a backup can end between two
    // of them: take backups until one overlapped a commit (the property under test).
    let dest = '';
    let progress: Array<[number, number]> = [];
    let result: Awaited<ReturnType<typeof backup>> | undefined;
    let during = 0;
    for (let attempt = 0; attempt < 20 && during === 0; attempt++) {
      dest = path.join(tempDir(), 'copy.rdb');
      progress = [];
      const startedAt = commits;
      result = await backup(db.env, dest, { chunkPages: 2, onProgress: (d, t) => progress.push([d, t]) });
      during = commits - startedAt;
    }
    // keep writing a little after the backup, then stop
    const target = commits + 3;
    while (commits < target) await new Promise((r) => setImmediate(r));
    stop = true;
    await writer;

    expect(during).toBeGreaterThan(0); // the writer committed while the pages were being copied
    if (result === undefined) throw new Error('no backup was taken');
    expect(versions.has(result.txnId)).toBe(true);
    expect(result.txnId).toBeLessThan(db.env.current.txnId);
    expect(progress.at(-1)).toEqual([result.pages - db.env.nRoots, result.pages - db.env.nRoots]);
    expect(progress.length).toBeGreaterThan(10);

    expect(fs.readdirSync(path.dirname(dest))).toEqual(['copy.rdb']); // no temporary file left
    expect(fs.statSync(dest).size).toBe(result.size);
    const copy = track(open(dest, { encoding: 'binary' }));
    expect(copy.env.current.txnId).toBe(result.txnId);
    expectClean(copy);
    expect(contentsOf(copy)).toEqual(versions.get(result.txnId));
    expect(contentsOf(copy)).not.toEqual(contentsOf(db)); // the source moved on
    expectClean(db);

    // the copy is a normal database: it takes writes and reopens
    copy.putSync('after', Buffer.from('x'));
    await copy.close();
    const again = track(open(dest, { encoding: 'binary' }));
    expect(again.get('after')).toEqual(Buffer.from('x'));
    expectClean(again);
  });

  it('refuses an existing destination with ROTA_EXISTS', async () => {
    const db = openFile(tempPath());
    db.putSync('a', 1);
    const dir = tempDir();
    const dest = path.join(dir, 'x.rdb');
    fs.writeFileSync(dest, 'keep');
    expect(await codeOf(() => backup(db.env, dest))).toBe('ROTA_EXISTS');
    expect(fs.readFileSync(dest, 'utf8')).toBe('keep');
    expect(fs.readdirSync(dir)).toEqual(['x.rdb']);
    expect(db.readers()).toEqual([]);
  });

  it('works in serial mode (nRoots 1): the queued writer waits for the copy, then goes on', async () => {
    const db = openFile(tempPath(), { nRoots: 1 });
    db.transactionSync(() => { for (let i = 0; i < 2000; i++) db.putSync(i, { i }); });
    const v = db.env.current.txnId;
    const dest = path.join(tempDir(), 'serial.rdb');
    const job = backup(db.env, dest, { chunkPages: 2 });
    const put = db.put('late', true);
    const result = await job;
    await put;
    expect(result.txnId).toBe(v);
    expect(db.get('late')).toBe(true);
    const copy = track(open(dest));
    expect(copy.env.nRoots).toBe(1);
    expectClean(copy);
    expect(copy.get('late')).toBeUndefined();
    expect(copy.getRange().asArray.length).toBe(2000);
  });

  it('fails with ROTA_READER_EXPIRED, leaving no file, when a writer expires its pin (maxReaderAgeMs)', async () => {
    const db = openFile(tempPath(), { maxReaderAgeMs: 30 });
    db.transactionSync(() => { for (let i = 0; i < 3000; i++) db.putSync(i, 'v'.repeat(100)); });
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        await db.put(i % 3000, `w${i}`);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const dir = tempDir();
    const slow = (): void => { const until = Date.now() + 3; while (Date.now() < until); };
    const code = await codeOf(() => backup(db.env, path.join(dir, 'b.rdb'), { chunkPages: 1, onProgress: slow }));
    stop = true;
    await writer;
    expect(code).toBe('ROTA_READER_EXPIRED');
    expect(fs.readdirSync(dir)).toEqual([]);
    expectClean(db);
  });

  it('writes zeros for pages free in its version that vanish under the copy (a writer trimming the file)', async () => {
    const file = tempPath();
    const first = openFile(file);
    first.transactionSync(() => { for (let i = 0; i < 2000; i++) first.putSync(['keep', i], 'k'.repeat(100)); });
    first.transactionSync(() => { for (let i = 500; i < 2000; i++) first.removeSync(['keep', i]); });
    first.putSync('after', 1);
    await first.close();
    const db = track(open(file));
    const env = db.env;
    // the pages V's space map lists as free, as check() reads them
    const { free } = replaySpaceMap((p) => env.pager.read(p), env.current);
    expect(free.count).toBeGreaterThan(20);
    // A trimming writer only cuts pages no pinned version reaches; reading them then hits the end
    // of the file. Simulate exactly that: a read of a page free in V returns nothing.
    const storage = env.storage;
    const read = storage.read.bind(storage);
    let vanished = 0;
    storage.read = (buf: Uint8Array, position: number): number => {
      const pgno = position / env.pageSize;
      if (buf.length === env.pageSize && Number.isInteger(pgno) && free.has(pgno)) { vanished++; return 0; }
      return read(buf, position);
    };
    const dest = path.join(tempDir(), 'cut.rdb');
    let r;
    try {
      r = await backup(db.env, dest, { chunkPages: 1 });
    } finally {
      storage.read = read;
    }
    expect(vanished).toBe(free.count);
    expect(fs.statSync(dest).size).toBe(r.pages * env.pageSize);
    const copy = track(open(dest));
    expectClean(copy);
    expect(copy.getRange().asArray).toEqual(db.getRange().asArray);
    expect(copy.getRange().asArray).toHaveLength(501);
    const zeros = Buffer.alloc(env.pageSize);
    const raw = fs.readFileSync(dest);
    for (const [first, n] of free.runs()) {
      for (let p = first; p < first + n; p++) expect(raw.subarray(p * env.pageSize, (p + 1) * env.pageSize).equals(zeros)).toBe(true);
    }
  });

  it('copies a database that has only its initial version', async () => {
    const db = openFile(tempPath(), { pageSize: 1024, nRoots: 3 });
    const dest = path.join(tempDir(), 'empty.rdb');
    const r = await backup(db.env, dest);
    expect(r.txnId).toBe(0);
    const copy = track(open(dest));
    expect(copy.env.pageSize).toBe(1024);
    expect(copy.env.nRoots).toBe(3);
    expectClean(copy);
    expect(copy.getRange().asArray).toEqual([]);
  });
});
