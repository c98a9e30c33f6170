/**
 * Commit of write transaction T, in the order the design fixes (docs/design.md, "Commit"): steps
 * 1-2 prepare (prepareCommit), 3-6 make it durable (makeDurable, or makeDurableAsync off the event
 * loop), 7 publishes (publishCommit). A failure before step 3 aborts cleanly (nothing was written).
 * A failure in steps 3-6 leaves the previous version current on disk and in memory, and puts the
 * database in the failed state: reads go on, writes are refused until reopen, because a failed
 * write or fsync cannot be retried safely.
 */
import { writeDescriptor } from './catalog.js';
import { sameTree, storedTree } from '../btree/store.js';
import { encodeMeta, type Meta } from '../pages/meta.js';
import { PAGE_TXN, SM_ALLOC, SM_FREE, SPACEMAP_NEXT } from '../pages/layout.js';
import { fullTxn } from '../sync/locks.js';
import { u32 } from '../pages/bytes.js';
import { CommitDigest } from '../pages/checksum.js';
import { linkChain, packInto, pagesNeeded, runsOf, type SpaceRecord } from '../pages/spacemap.js';
import { DatabaseFailedError } from '../errors.js';
import type { PreparedCommit, WriteTxn } from './write.js';

export type { PreparedCommit } from './write.js';

/** An asynchronous commit stamps its pages for about this long per event-loop turn. */
const STAMP_SLICE_MS = 1;

/** Rewrite the space map as a snapshot once the log is this many times longer than the last one. */
const CONDENSE_FACTOR = 2;
const CONDENSE_MIN_PAGES = 8;

/** The seven steps, synchronously. */
export function commit(txn: WriteTxn): void {
  const c = prepareCommit(txn);
  makeDurable(c);
  publishCommit(c);
}

/**
 * The seven steps with steps 3-6 (the writes and the fdatasync) off the event loop. Resolves once
 * the commit is durable and published; rejects, with the previous version current, if it failed.
 */
export async function commitAsync(txn: WriteTxn): Promise<void> {
  const c = prepareCommit(txn, false);
  txn.host.inFlight = c;
  try {
    // the stamping of step 3 in slices of about 1 ms, the event loop running between them
    while (c.state === 'durable-pending' && !stampUntil(c, performance.now() + STAMP_SLICE_MS)) await new Promise((r) => setImmediate(r));
    if (c.state === 'durable-pending') await makeDurableAsync(c);
  } catch (e) {
    if (c.state === 'durable-pending') throw failCommit(c, e);
  } finally {
    if (txn.host.inFlight === c) txn.host.inFlight = null;
  }
  // A synchronous writer may have finished it meanwhile (finishCommit); then only `failed` matters.
  if (c.state === 'failed') throw new DatabaseFailedError(`commit of transaction ${txn.txnId} failed; the database keeps version ${txn.base.txnId} and refuses writes until reopened`);
  if (c.state === 'durable-pending') publishCommit(c);
}

/**
 * Makes an asynchronous commit still in flight durable and published now, synchronously: writes
 * all its pages and its root slot again (the same bytes) and fdatasyncs. Its own writes may still
 * be running on the thread pool; they write the same bytes, so the order does not matter.
 */
export function finishCommit(c: PreparedCommit): void {
  if (c.state !== 'durable-pending') return;
  c.txn.host.inFlight = null;
  stampUntil(c, Infinity);
  makeDurable(c);
  publishCommit(c);
}

/**
 * Stamps dirty pages (writer id and checksum) until none is left or `deadline` has passed; returns
 * whether all are stamped. The last one sets the one-fsync commit record from their digest.
 */
function stampUntil(c: PreparedCommit, deadline: number): boolean {
  const { txn, unstamped, digest } = c;
  const host = txn.host;
  while (unstamped.length > 0) {
    const pgno = unstamped.pop()!;
    digest.add(pgno, host.pager.stampPage(pgno, txn.dirty.get(pgno)!, txn.txnId));
    if ((unstamped.length & 31) === 0 && performance.now() >= deadline) break;
  }
  if (unstamped.length > 0) return false;
  if (host.oneFsync) c.meta.commit = { pages: digest.pages, a: digest.a, b: digest.b };
  return true;
}

/**
 * Steps 1-2, and (with `stamp`) the stamping of step 3; without it stampUntil does that part. A
 * failure here aborts cleanly: nothing was written.
 */
function prepareCommit(txn: WriteTxn, stamp = true): PreparedCommit {
  try {
    // 1. Catalog: store the descriptor of every named database this transaction changed; give
    //    the file's free tail back.
    writeCatalog(txn);
    trimHighWater(txn);
    // 2. Free space: turn the page accounting into space-map records and their pages.
    const spaceMap = writeSpaceMap(txn);
    const { commit: _previous, ...base } = txn.base;
    const meta: Meta = {
      ...base,
      txnId: txn.txnId,
      slot: txn.slot,
      highWater: txn.highWater,
      spaceMapHead: spaceMap.pages[0]!,
      spaceMapPages: spaceMap.snapshot ? spaceMap.pages.length : txn.base.spaceMapPages + spaceMap.pages.length,
      spaceMapSnapshot: spaceMap.snapshot ? spaceMap.pages.length : txn.base.spaceMapSnapshot,
      freePages: freeAfter(txn, spaceMap.oldChain),
      // storedTree: the transaction's trees carry its append hint, which must not outlive it
      main: storedTree(txn.main),
      catalog: storedTree(txn.catalog),
    };
    // (3.) Every dirty page is stamped with this transaction's id and its checksum (stampUntil). A
    //    one-fsync commit records their digest in its root slot: open trusts the slot only once
    //    those pages verify (env/verify-commit.ts), so step 6 can make pages and slot durable together.
    txn.state = 'committing';
    const c: PreparedCommit = {
      txn, meta, oldChain: spaceMap.oldChain, oldBirths: spaceMap.oldBirths, state: 'durable-pending',
      unstamped: [...txn.dirty.keys()], digest: new CommitDigest(),
    };
    if (stamp) stampUntil(c, Infinity);
    return c;
  } catch (e) {
    txn.abort();
    throw e;
  }
}

/**
 * Steps 3-6, synchronously. A failure leaves the previous version current on disk and in memory
 * and puts the database in the failed state (a failed write or fsync cannot be retried safely).
 */
function makeDurable(c: PreparedCommit): void {
  const { txn, meta } = c;
  const host = txn.host;
  try {
    // 3. Write every dirty page, ascending, neighbours coalesced.
    host.pager.writeStamped(txn.dirty);
    sizeFile(txn);
    // 4. Make them durable before any root can point at them (not in a one-fsync commit, above).
    if (!host.oneFsync && !host.noSync) host.storage.sync();
    // 5. Write the root slot the writer lock chose (it holds an old version that nobody pins).
    host.storage.write(encodeMeta(meta), txn.slot * txn.pageSize);
    // 6. Make the new version durable.
    if (!host.noSync) host.storage.sync();
  } catch (e) {
    throw failCommit(c, e);
  }
}

/** Steps 3-6 as makeDurable, with the writes and the fdatasyncs on the thread pool. */
async function makeDurableAsync(c: PreparedCommit): Promise<void> {
  const { txn, meta } = c;
  const host = txn.host;
  const s = host.storage;
  const sync = (): Promise<void> | void => (s.syncAsync ? s.syncAsync() : s.sync());
  const writeSlot = (): Promise<void> | void => {
    const slot = encodeMeta(meta);
    return s.writeAsync ? s.writeAsync(slot, txn.slot * txn.pageSize) : s.write(slot, txn.slot * txn.pageSize);
  };
  if (host.oneFsync) {
    // 3 and 5 together: nothing orders pages and slot before the one fdatasync (step 6), so the
    // slot write need not wait for the page writes' round trip to the thread pool.
    const done = await Promise.allSettled([writeSlot(), host.pager.writeStampedAsync(txn.dirty)]);
    for (const r of done) if (r.status === 'rejected') throw r.reason;
    if (c.state !== 'durable-pending') return;
    sizeFile(txn);
  } else {
    // 3.
    await host.pager.writeStampedAsync(txn.dirty);
    if (c.state !== 'durable-pending') return;
    sizeFile(txn);
    // 4.
    if (!host.noSync) await sync();
    if (c.state !== 'durable-pending') return;
    // 5.
    await writeSlot();
  }
  if (c.state !== 'durable-pending') return;
  // 6.
  if (!host.noSync) await sync();
}

/**
 * Sizes the file for step 3: up to the high-water mark (its last pages may be free and unwritten),
 * and down to it when the previous commit gave the tail back; never below the previous version's
 * mark, which must stay openable until this commit is durable.
 */
function sizeFile(txn: WriteTxn): void {
  const end = Math.max(txn.highWater, txn.base.highWater) * txn.pageSize;
  if (txn.host.storage.size() !== end) txn.host.storage.truncate(end);
}

function failCommit(c: PreparedCommit, e: unknown): DatabaseFailedError {
  c.state = 'failed';
  c.txn.unhold();
  c.txn.host.fail(c.txn, e);
  return new DatabaseFailedError(`commit of transaction ${c.txn.txnId} failed; the database keeps version ${c.txn.base.txnId} and refuses writes until reopened`, e);
}

/** 7. Publish: committed pages into the cache, free space, the new current version; then release. */
function publishCommit(c: PreparedCommit): void {
  const { txn, meta } = c;
  const host = txn.host;
  c.state = 'published';
  // The buffers these displace (reused page numbers' old contents) are recycled: at once those
  // only the tree code saw (unless this transaction handed its own pages out: `exposed`), the
  // others once settled below (pages/pager.ts, "Recycling").
  for (const [pgno, page] of txn.dirty) {
    if (page.length === txn.pageSize) host.pager.cachePut(pgno, page, txn.exposed);
  }
  // Trimmed pages leave the file; when it grows back over them they get new contents, and this
  // thread (which skips its own entries in the reuse log) must not still hold the old ones.
  for (const p of txn.trimmed) host.pager.cache.delete(p);
  const fs = host.free.space;
  for (const p of txn.localFree) fs.free.add(p);
  const pending = txn.freed.concat(c.oldChain);
  const births = txn.freedBirth.concat(c.oldBirths);
  if (pending.length > 0) fs.pending.push({ txn: txn.txnId, pages: pending, births });
  txn.state = 'committed';
  txn.unhold();
  // Page numbers this commit took from the free set now hold new contents, and trimmed ones may
  // come back with new contents later; other threads may have cached the old ones.
  host.publish(txn, meta, txn.reusedPages());
  host.pager.settle();
}

/**
 * Gives the free tail of the file back: the high-water mark drops below every free page at the
 * top (the next commit truncates the file, once this one is durable). Free pages there are the reusable ones
 * (pending pages may still be read, so the tail stops at them) and this transaction's own freed
 * pages. Pages the previous version listed as free get an ALLOC record (`trimmed`) so that the
 * space map no longer lists them; pages this transaction took past the old mark were never
 * written and need none.
 */
function trimHighWater(txn: WriteTxn): void {
  const free = txn.host.free.space.free;
  const local = new Set(txn.localFree);
  let hw = txn.highWater;
  for (;;) {
    const p = hw - 1;
    if (p < txn.base.nRoots) break;
    if (local.delete(p)) {
      if (p < txn.base.highWater) txn.trimmed.push(p);
    } else if (free.has(p)) {
      free.delete(p);
      txn.trimmed.push(p);
    } else {
      break;
    }
    hw = p;
  }
  if (hw === txn.highWater) return;
  txn.highWater = hw;
  txn.localFree.length = 0;
  txn.localFree.push(...local);
}

function writeCatalog(txn: WriteTxn): void {
  for (const [name, e] of txn.named) {
    if (e.before === undefined ? e.tree.root === 0 : sameTree(e.tree, e.before)) continue; // unchanged (or looked at, never written: do not create it)
    writeDescriptor(txn, txn.catalog, name, e.tree);
  }
}

function writeSpaceMap(txn: WriteTxn): { pages: number[]; snapshot: boolean; oldChain: number[]; oldBirths: number[] } {
  const base = txn.base;
  const snapshot = base.spaceMapPages + 1 > CONDENSE_FACTOR * Math.max(base.spaceMapSnapshot, CONDENSE_MIN_PAGES / CONDENSE_FACTOR);
  const { pages: oldChain, births: oldBirths } = snapshot ? chainPages(txn) : { pages: [], births: [] };
  const pages: number[] = [];
  for (;;) {
    const records = snapshot ? snapshotRecords(txn, oldChain) : deltaRecords(txn);
    const need = pagesNeeded(records, txn.pageSize);
    if (need <= pages.length) {
      const bufs = pages.map((p) => txn.dirty.get(p)!);
      packInto(records, bufs);
      linkChain(bufs, pages, snapshot ? 0 : base.spaceMapHead);
      return { pages, snapshot, oldChain, oldBirths };
    }
    // Allocating space-map pages changes the records (an ALLOC more, a free run shorter), so
    // allocate and measure again; each round adds at most one run per page, so this converges.
    while (pages.length < need) pages.push(txn.allocPage());
  }
}

/**
 * The pages of the current space-map chain (they become free when a snapshot replaces them), and
 * the transaction that wrote each (its header says so): only versions from then on reach it, so
 * a long reader of an older version does not keep it pending. (Unknown births would keep every
 * replaced chain pending while that reader lives: the file grew a page per commit under one.)
 */
function chainPages(txn: WriteTxn): { pages: number[]; births: number[] } {
  const pages: number[] = [];
  const births: number[] = [];
  for (let pgno = txn.base.spaceMapHead; pgno !== 0; ) {
    const page = txn.get(pgno);
    pages.push(pgno);
    births.push(fullTxn(txn.base.txnId, u32(page, PAGE_TXN)));
    pgno = u32(page, SPACEMAP_NEXT);
  }
  return { pages, births };
}

function deltaRecords(txn: WriteTxn): SpaceRecord[] {
  const allocs = txn.reusedPages();
  let freeNow = txn.localFree;
  if (freeNow.length > 0) {
    const fromFree = new Set(txn.fromFree);
    freeNow = freeNow.filter((p) => !fromFree.has(p));
  }
  const out: SpaceRecord[] = [];
  if (allocs.length) out.push({ kind: SM_ALLOC, txn: 0, runs: runsOf(allocs) });
  if (freeNow.length) out.push({ kind: SM_FREE, txn: 0, runs: runsOf(freeNow) });
  if (txn.freed.length) out.push({ kind: SM_FREE, txn: txn.txnId, runs: runsOf(txn.freed) });
  return out;
}

function snapshotRecords(txn: WriteTxn, oldChain: number[]): SpaceRecord[] {
  const fs = txn.host.free.space;
  const reusable = fs.free.runs();
  const extra = runsOf(txn.localFree);
  const out: SpaceRecord[] = [{ kind: SM_FREE, txn: 0, runs: mergeRuns(reusable, extra) }];
  for (const g of fs.pending) out.push({ kind: SM_FREE, txn: g.txn, runs: runsOf(g.pages) });
  const mine = txn.freed.concat(oldChain);
  if (mine.length) out.push({ kind: SM_FREE, txn: txn.txnId, runs: runsOf(mine) });
  return out;
}

function mergeRuns(a: Array<[number, number]>, b: Array<[number, number]>): Array<[number, number]> {
  if (b.length === 0) return a;
  const pages: number[] = [];
  for (const [f, n] of a.concat(b)) for (let i = 0; i < n; i++) pages.push(f + i);
  return runsOf(pages);
}

function freeAfter(txn: WriteTxn, oldChain: number[]): number {
  const fs = txn.host.free.space;
  return fs.free.count + fs.pendingCount + txn.localFree.length + txn.freed.length + oldChain.length;
}
