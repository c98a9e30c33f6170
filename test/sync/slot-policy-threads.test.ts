/**
 * The 'oldest-unpinned' slot policy across threads: bank transfers written from the main thread
 * (awaited transactions) and a worker (synchronous ones) while long snapshots in two workers each
 * live through many commits. Every sum of every snapshot is the bank's total, each snapshot keeps
 * its exact version, writers never wait for the long readers (at most two of the three slots a
 * writer may take are pinned by them), and check() is clean at the end. Workers run on dist/
 * (built by test/global-setup.ts); every cache hit in every thread is checked against the disk.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectClean, openFile, tempPath } from '../helpers/db.js';

process.env.ROTADB_VERIFY_CACHE = '1'; // read by each thread's pager when it opens the file; workers inherit it

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** Runs `body` in a worker on the shared file; `db`, `args`, `stopped()` and `post()` are in scope. */
function worker(handle: unknown, args: Record<string, unknown>, body: string): { result: Promise<any>; exited: Promise<number>; w: Worker } {
  const src = `
    const { workerData, parentPort } = await import('node:worker_threads');
    const { open } = await import(${JSON.stringify(dist)});
    const { handle, args } = workerData;
    const db = open(handle, { encoding: 'json' });
    const stop = new Int32Array(args.stop);
    const stopped = () => Atomics.load(stop, 0) !== 0;
    const nap = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    const post = (m) => parentPort.postMessage(m);
    ${body}
    db.closeSync();`;
  const w = new Worker(src, { eval: true, workerData: { handle, args } });
  const result = new Promise<any>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  const exited = new Promise<number>((resolve) => w.on('exit', resolve));
  return { w, result, exited };
}

/** A reader that holds each snapshot for `holdMs`, summing it again and again meanwhile. */
const longReader = `
  let snapshots = 0, sums = 0, wrong = 0, moved = 0, lived = 0;
  while (!stopped()) {
    const txn = db.beginRead();
    try {
      const first = JSON.stringify(txn.getRange({ start: ['acct'], end: ['acct', Infinity] }).asArray);
      const until = Date.now() + args.holdMs;
      do {
        let total = 0, n = 0;
        const rows = txn.getRange({ start: ['acct'], end: ['acct', Infinity] }).asArray;
        for (const { value } of rows) { total += value; n++; }
        if (total !== args.total || n !== args.accounts) wrong++;
        if (JSON.stringify(rows) !== first) moved++; // the snapshot never moves
        sums++;
        nap(5);
      } while (Date.now() < until && !stopped());
      lived = Math.max(lived, db.stats().txnId - txn.txnId);
    } finally {
      txn.end();
    }
    snapshots++;
  }
  post({ snapshots, sums, wrong, moved, lived });`;

/** A synchronous writer of transfers. */
const syncWriter = `
  let commits = 0, s = args.seed;
  const rand = (n) => { s = (s * 1103515245 + 12345) >>> 0; return s % n; };
  while (!stopped()) {
    db.transactionSync(() => {
      const a = rand(args.accounts), b = (a + 1 + rand(args.accounts - 1)) % args.accounts, amount = rand(50);
      db.putSync(['acct', a], db.get(['acct', a]) - amount);
      db.putSync(['acct', b], db.get(['acct', b]) + amount);
    });
    commits++;
    nap(1);
  }
  post({ commits });`;

describe("slotPolicy 'oldest-unpinned' across threads", () => {
  it('bank transfers under long snapshots in workers: every total right, writers never wait for them', async () => {
    const nRoots = 4;
    const accounts = 40;
    const total = accounts * 1000;
    const db = openFile(tempPath(), { encoding: 'json', nRoots, noSync: true, slotPolicy: 'oldest-unpinned', writeTimeoutMs: 10_000 });
    db.transactionSync(() => { for (let i = 0; i < accounts; i++) db.putSync(['acct', i], 1000); });
    const stop = new SharedArrayBuffer(4);
    const args = { accounts, total, stop };
    const readers = [150, 230].map((holdMs) => worker(db.handle(), { ...args, holdMs }, longReader));
    const writer = worker(db.handle(), { ...args, seed: 7 }, syncWriter);
    const tids = [...readers, writer].map((x) => x.w.threadId);
    let mainCommits = 0;
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      await db.transaction(() => {
        const a = mainCommits % accounts;
        const b = (a + 11) % accounts;
        db.putSync(['acct', a], db.get(['acct', a]) - 3);
        db.putSync(['acct', b], db.get(['acct', b]) + 3);
      });
      mainCommits++;
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const r = await Promise.all(readers.map((x) => x.result));
    const w = await writer.result;
    for (const x of [...readers, writer]) expect(await x.exited).toBe(0);
    for (const t of tids) db.releaseThread(t);
    const waited = db.stats().slots.reduce((a, s) => a + s.writerWaitedMs, 0);
    console.log(`[slot-policy threads] ${mainCommits}+${w.commits} commits, ${r.map((x) => `${x.snapshots} snapshots / ${x.sums} sums, lived through up to ${x.lived} commits`).join('; ')}; writers waited ${waited} ms in all`);
    expect(r.map((x) => x.wrong)).toEqual([0, 0]);
    expect(r.map((x) => x.moved)).toEqual([0, 0]);
    expect(r.every((x) => x.snapshots >= 3 && x.sums > 10)).toBe(true);
    // the point of the policy: snapshots outlived nRoots commits (under 'rotate' that writer would have waited)
    expect(Math.max(...r.map((x) => x.lived))).toBeGreaterThan(nRoots);
    expect(mainCommits).toBeGreaterThan(20);
    expect(w.commits).toBeGreaterThan(20);
    // waits for the long readers would last until one ends (150 ms or more); short reads are brief
    expect(waited).toBeLessThan(300);
    let sum = 0;
    for (const { value } of db.getRange({ start: ['acct'], end: ['acct', Infinity] })) sum += value as number;
    expect(sum).toBe(total);
    expectClean(db);
  }, 30_000);
});
