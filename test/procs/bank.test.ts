/**
 * Bank transfers across processes (issue 14, "Tests"): writer processes (transactionSync and the
 * async transaction() path) move amounts between accounts of one file while reader processes,
 * each with a small page cache so that their pages come from the file, check in every snapshot
 * that the total is exact and that no writer's counter is below what their previous snapshot
 * saw. Any anomaly inside a snapshot is a violation: a wrong total, a counter going back, a
 * counter moving within one snapshot, or ROTA_CORRUPT / ROTA_READER_EXPIRED (pages of the
 * snapshot's version reused under it). The parent then checks the file against the acks.
 *
 * With the default slot policy ('rotate', nRoots 4): a reader holding a snapshot for a few ms
 * makes the writer 4 commits later wait for it, so writers do wait on live readers of other
 * processes here. chaos.test.ts covers kills and the controls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeBank, newTotals, sleep, spawnChild, verifyBank, type Spawned } from './bank-harness.js';
import { expectClean, openFile, tempPath } from '../helpers/db.js';

const RUN_MS = 12_000;
const children: Spawned[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
});

describe('bank transfers across processes', () => {
  it('keeps every snapshot exact and every counter monotone, with 3 writers and 3 readers', async () => {
    const file = tempPath('bank.rdb');
    const bank = makeBank(file, 1500, 3, 120, { pageSize: 4096 });
    const t = newTotals();
    const seed = Math.floor(Math.random() * 2 ** 31);
    const until = Date.now() + RUN_MS;
    const roles = ['sync', 'async', 'sync', 'reader', 'reader', 'reader'] as const;
    let writer = 0;
    for (const [i, role] of roles.entries()) {
      const isWriter = role === 'sync' || role === 'async';
      children.push(spawnChild(bank, role, isWriter ? writer++ : i, {
        until,
        seed: seed + i,
        // readers: 64 KiB-1 MiB of cache for a file of about 300 pages, so snapshots read from disk
        open: isWriter ? { noSync: i === 2 } : { cacheSize: [64 << 10, 256 << 10, 1 << 20][i % 3] },
        holdMs: isWriter ? 0 : 4,
        pauseMs: isWriter ? 2 : 0,
      }, t));
    }
    const started = Date.now();
    const ends = await Promise.all(children.map((c) => c.exited));
    console.log(`bank: ${t.commits} commits, ${t.snapshots} snapshots (${t.checks} checks), ${t.violations.length} violations, longest commit ${t.maxCommitMs.toFixed(1)} ms, ${Date.now() - started} ms`);
    expect(t.errors, t.errors.join('\n')).toEqual([]);
    expect(t.violations, t.violations.slice(0, 20).join('\n')).toEqual([]);
    expect(ends.map((e) => e.code)).toEqual(roles.map(() => 0));
    expect(t.commits).toBeGreaterThan(50);
    expect(t.snapshots).toBeGreaterThan(50);
    for (let w = 0; w < 3; w++) expect(t.acked.get(w)?.length ?? 0, `writer ${w} committed nothing`).toBeGreaterThan(0);
    await sleep(0);
    verifyBank(bank, t);
  }, 90_000);

  // Found by chaos.test.ts: the first thread of a process used to start from the free state of
  // the version it opened, in which every page freed before that version is reusable, although
  // another process may still read an older version that reaches them.
  it('a process that opens while another holds an old snapshot does not reuse its pages', async () => {
    const file = tempPath('late.rdb');
    const opts = { nRoots: 4, slotPolicy: 'oldest-unpinned' as const };
    const bank = makeBank(file, 1500, 2, 120, { ...opts, pageSize: 4096 });
    // this process holds version 1 throughout, with a cache too small to keep its pages
    const db = openFile(file, { ...opts, cacheSize: 16 << 10 });
    const txn = db.useReadTransaction();
    const sum = () => {
      let s = 0;
      for (const { value } of db.getRange({ start: ['acct'], end: ['acct', Infinity], transaction: txn })) s += (value as { b: number }).b;
      return s;
    };
    expect(sum()).toBe(bank.total);
    const t = newTotals();
    // writer 0 frees pages that version 1 reaches (they stay pending: version 1 is pinned) and ends;
    // writer 1 opens the newer version and writes at once, before anybody else commits
    for (const id of [0, 1]) {
      const c = spawnChild(bank, 'sync', id, { until: Date.now() + 500, open: { ...opts, noSync: true }, seed: id }, t);
      children.push(c);
      expect((await c.exited).code, t.errors.join('\n')).toBe(0);
    }
    expect(t.acked.get(1)?.length ?? 0).toBeGreaterThan(0);
    expect(sum()).toBe(bank.total);
    expect(db.get(['ctr', 0], { transaction: txn })).toBeUndefined();
    txn.done();
    expectClean(db);
  }, 60_000);
});

