/**
 * The 'oldest-unpinned' slot policy (src/sync/writer.ts), exactly: the writer takes the slot of
 * the oldest version nobody pins and waits only when every slot but the current one is pinned.
 * So with nRoots >= 3 one long reader never blocks writers, k readers on k distinct versions
 * block them exactly when k = nRoots - 1, the pages a pinned version reaches are never reused,
 * growth under a long reader stays bounded, and reopening finds the newest version (and falls
 * back exactly from a damaged one) although slot indexes no longer follow T mod nRoots.
 */
import { describe, expect, it } from 'vitest';
import { open, type ReadTransaction, type RootDatabase } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { codeOf, expectClean, openMem, sleep, syncCodeOf } from '../helpers/db.js';

const policy = 'oldest-unpinned' as const;
const KEYS = 300;
const value = (i: number, round: number) => Buffer.alloc(200, (i * 7 + round) & 255);

/** Rewrites every key in one transaction (round r), so that each commit frees most pages of the last. */
function rewrite(db: RootDatabase<Buffer>, round: number): void {
  db.transactionSync(() => { for (let i = 0; i < KEYS; i++) db.putSync(i, value(i, round)); });
}

/** Asserts that `r` (a snapshot or a database) sees round `round` of every key 0 .. KEYS - 1, and no other of them. */
function expectRound(r: ReadTransaction | RootDatabase<Buffer>, round: number): void {
  let n = 0;
  for (const { key, value: v } of r.getRange({ start: 0, end: KEYS })) {
    expect(v).toEqual(value(key as number, round));
    n++;
  }
  expect(n).toBe(KEYS);
}

/** The slot holding the current version, from stats(). */
const currentSlot = (db: RootDatabase<unknown>): number => {
  const s = db.stats();
  return s.slots.find((x) => x.txnId === s.txnId)!.slot;
};

describe("slotPolicy 'oldest-unpinned': one long reader", () => {
  for (const nRoots of [3, 4, 8]) {
    it(`nRoots ${nRoots}: never blocks sync or async writers over 3·nRoots + 20 commits; the reader's version stays exact`, async () => {
      const db = openMem<Buffer>({ nRoots, slotPolicy: policy, pageSize: 1024, encoding: 'binary', writeTimeoutMs: 2000 });
      rewrite(db, 0);
      const reader = db.beginRead();
      const v = reader.txnId;
      const commits = 3 * nRoots + 20;
      for (let c = 1; c <= commits; c++) {
        if (c % 2 === 1) {
          rewrite(db, c); // sync: would be ROTA_WOULD_DEADLOCK at c = nRoots under 'rotate'
        } else {
          await db.transaction(() => { for (let i = 0; i < KEYS; i++) db.putSync(i, value(i, c)); });
        }
        expect(db.stats().txnId).toBe(v + c);
        if (c % 7 === 0) expect(reader.get(c % KEYS)).toEqual(value(c % KEYS, 0));
      }
      // no writer waited (a sync wait would have thrown ROTA_WOULD_DEADLOCK, an async one timed out)
      expect(db.stats().slots.reduce((a, s) => a + s.writerWaitedMs, 0)).toBe(0);
      // the reader kept its slot and version; the writers rotated over the others
      expect(db.stats().slots.find((s) => s.readers === 1)!.txnId).toBe(v);
      expectRound(reader, 0); // every page it reaches is intact after all the rewrites
      reader.end();
      expectRound(db, commits);
      expectClean(db);
    });
  }

  it('with nRoots 2 the policy is the rotating rule: the second commit after the reader waits', async () => {
    const db = openMem({ nRoots: 2, slotPolicy: policy, writeTimeoutMs: 150 });
    db.putSync('x', 0);
    const reader = db.beginRead();
    db.putSync('x', 1);
    expect(syncCodeOf(() => db.putSync('x', 2))).toBe('ROTA_WOULD_DEADLOCK');
    expect(await codeOf(() => db.put('x', 2))).toBe('ROTA_WRITE_TIMEOUT');
    reader.end();
    await db.put('x', 2);
    expect(db.get('x')).toBe(2);
    expectClean(db);
  });
});

describe("slotPolicy 'oldest-unpinned': k readers on k distinct versions", () => {
  for (let nRoots = 3; nRoots <= 8; nRoots++) {
    it(`nRoots ${nRoots}: writers go on while k <= ${nRoots - 2}; at k = ${nRoots - 1} they wait, time out naming the readers, or refuse (own pins), and go on once one reader ends`, async () => {
      const db = openMem({ nRoots, slotPolicy: policy, writeTimeoutMs: 400, encoding: 'json' });
      db.putSync('x', 0);
      const readers: Array<{ r: ReadTransaction; x: unknown }> = [];
      const pin = () => readers.push({ r: db.beginRead(), x: db.get('x') });
      // k readers, each on the version the previous commits made: k distinct versions in k slots
      for (let k = 1; k <= nRoots - 2; k++) {
        pin();
        for (let c = 0; c < 2 * nRoots; c++) db.putSync('x', `${k}/${c}`); // many commits, none blocked
      }
      // one more reader: now every slot but the next current one is pinned
      pin();
      expect(new Set(readers.map(({ r }) => r.txnId)).size).toBe(nRoots - 1);
      const last = db.stats().txnId;
      db.putSync('x', 'free slot'); // the last unpinned slot other than the current one
      const cur = currentSlot(db);
      expect(db.stats().slots.every((s) => s.slot === cur || s.readers === 1)).toBe(true);
      // sync: every candidate slot holds a pin of this thread, so the wait could never end
      expect(syncCodeOf(() => db.putSync('x', 'blocked'))).toBe('ROTA_WOULD_DEADLOCK');
      // async: waits writeTimeoutMs, then names what pins the slot it waited for
      const t0 = Date.now();
      let err: any;
      try { await db.put('x', 'blocked'); } catch (e) { err = e; }
      expect(err?.code).toBe('ROTA_WRITE_TIMEOUT');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
      expect(err.message).toContain('every slot but the current one is pinned');
      expect(err.message).toMatch(new RegExp(`on version ${readers[0]!.r.txnId} for \\d+ ms`)); // the oldest pinned
      // async again: waits, and proceeds once any one reader (here a middle one) ends
      let done = false;
      const p = db.put('x', 'after').then(() => (done = true));
      await sleep(60);
      expect(done).toBe(false);
      expect(db.stats().slots.some((s) => s.writerWaiting)).toBe(true);
      const middle = readers.splice(readers.length >> 1, 1)[0]!.r;
      const freed = db.stats().slots.find((s) => s.txnId === middle.txnId)!.slot;
      middle.end();
      await p;
      expect(db.stats().txnId).toBe(last + 2);
      expect(currentSlot(db)).toBe(freed); // it took the slot that became free
      for (const { r, x } of readers) expect(r.get('x')).toBe(x); // every other snapshot is where it was
      for (const { r } of readers) r.end();
      expect(db.get('x')).toBe('after');
      expectClean(db);
    });
  }
});

describe("slotPolicy 'oldest-unpinned': growth under a long reader", () => {
  /** File size and pending pages after each of `rounds` rewrites of everything while one reader lives. */
  function grow(options: { nRoots: number; slotPolicy: 'rotate' | 'oldest-unpinned' }, rounds: number) {
    const db = openMem<Buffer>({ ...options, pageSize: 1024, encoding: 'binary' });
    rewrite(db, 0);
    const steady = db.stats().totalPages;
    const reader = db.beginRead();
    const sizes: number[] = [];
    const pending: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      rewrite(db, r);
      sizes.push(db.stats().totalPages);
      pending.push(db.stats().pendingPages);
    }
    expectRound(reader, 0);
    reader.end();
    expectClean(db);
    return { steady, sizes, pending };
  }

  it('60 rewrites under one reader: the file stops growing after a few, as with rotate given slots enough', () => {
    const rounds = 60;
    const oup = grow({ nRoots: 3, slotPolicy: policy }, rounds);
    // 'rotate' needs nRoots > rounds for the same reader to live through the same commits
    const rot = grow({ nRoots: rounds + 1, slotPolicy: 'rotate' }, rounds);
    console.log(`[slot-policy] ${rounds} rewrites under one reader: pages ${oup.steady} -> ${oup.sizes.at(-1)} (oldest-unpinned, nRoots 3), ${rot.steady} -> ${rot.sizes.at(-1)} (rotate, nRoots ${rounds + 1}); pending max ${Math.max(...oup.pending)} vs ${Math.max(...rot.pending)}`);
    for (const g of [oup, rot]) {
      // the reader's version, the current one and the one being written: about 3x a steady file
      expect(g.sizes.at(-1)!).toBeLessThan(3.5 * g.steady);
      // no growth from round 10 on (before the space map's replaced chains kept their births, it
      // grew a page per commit: every replaced chain stayed pending while the reader lived)
      expect(Math.max(...g.sizes.slice(9))).toBeLessThanOrEqual(g.sizes[9]! + 2);
      expect(Math.max(...g.pending.slice(9))).toBeLessThanOrEqual(g.pending[9]! + 10);
    }
    // (rotate's file has 38 more root-slot pages: compare what each grew by)
    expect(oup.sizes.at(-1)! - oup.steady).toBeLessThanOrEqual(rot.sizes.at(-1)! - rot.steady + 10);
  });
});

describe("slotPolicy 'oldest-unpinned': reopen", () => {
  it('after many commits with long readers (slots out of T mod nRoots order) the newest version opens, and a damaged newest slot falls back exactly', async () => {
    const nRoots = 4;
    const pageSize = 1024;
    const opts = { nRoots, pageSize, encoding: 'binary' as const, slotPolicy: policy };
    let storage = new MemoryStorage();
    const db = open<Buffer>({ storage, ...opts });
    rewrite(db, 0);
    const long = db.beginRead();
    for (let r = 1; r <= 30; r++) {
      rewrite(db, r);
      if (r === 11) db.beginRead().end(); // a short reader too
    }
    const second = db.beginRead(); // pins round 30 while rounds 31 .. 49 are written
    for (let r = 31; r < 50; r++) rewrite(db, r);
    long.end();
    second.end();
    db.putSync(KEYS, Buffer.from('last')); // version V: round 49 plus one key
    const s = db.stats();
    const newest = s.slots.find((x) => x.txnId === s.txnId)!.slot;
    expect(s.slots.some((x) => x.txnId !== undefined && x.txnId % nRoots !== x.slot)).toBe(true);
    const before = s.slots.find((x) => x.txnId === s.txnId - 1)!.slot;
    expectClean(db);
    const image = storage.snapshot();
    db.closeSync();

    storage = MemoryStorage.from(image);
    const back = open<Buffer>({ storage, ...opts });
    expect(back.stats().txnId).toBe(s.txnId);
    expect(back.get(KEYS)).toEqual(Buffer.from('last'));
    expectRound(back, 49);
    expectClean(back);
    back.closeSync();

    const damaged = image.slice();
    damaged[newest * pageSize + 300] ^= 0x01; // inside the checksummed area
    storage = MemoryStorage.from(damaged);
    const fell = open<Buffer>({ storage, ...opts });
    expect(fell.stats().txnId).toBe(s.txnId - 1);
    expect(fell.stats().slots.find((x) => x.txnId === s.txnId - 1)!.slot).toBe(before);
    expect(fell.get(KEYS)).toBeUndefined();
    expectRound(fell, 49); // exactly the version before, whole
    expectClean(fell);
    // writing goes on from there and survives another reopen
    for (let r = 50; r < 50 + 2 * nRoots; r++) rewrite(fell, r);
    expectClean(fell);
    const again = storage.snapshot();
    fell.closeSync();
    const last = open<Buffer>({ storage: MemoryStorage.from(again), ...opts });
    expectRound(last, 49 + 2 * nRoots);
    expectClean(last);
    last.closeSync();

    // two damaged slots besides the newest valid one: its pages may have been reused, so open refuses
    const twice = damaged.slice();
    twice[before * pageSize + 300] ^= 0x01;
    expect(syncCodeOf(() => open({ storage: MemoryStorage.from(twice), ...opts }))).toBe('ROTA_CORRUPT');
  });
});
