/**
 * recover(): after a crash of the machine under `noSync`, find the newest version whose whole tree
 * verifies, report what it found and what would be lost, and (only with `apply`) make that version
 * current. docs/design.md, "Recovery", states the rules; this comment says why they are enough.
 *
 * A noSync crash can leave any subset of the recent writes on disk, in any order: the newest root
 * slot may point at pages that never arrived, and where a page did not arrive, the page number may
 * still hold an older page with a valid checksum. So each candidate (every valid root slot, newest
 * first) is verified whole, through a fresh pager (no cached copy of another version's page):
 *  - checksums, and page births no newer than the version (assertBornBy), for every page it reaches;
 *  - structure and ownership, as check() does: key order, separators, depth, descriptor counts,
 *    every page below the high-water mark owned exactly once, the space map replayed;
 *  - the pages the version itself wrote must carry its own id, which catches an older page left in
 *    place of a newer one. Every commit prepends at least one space-map page, so the chain's head
 *    was written by the version; and a page the version reaches that was free in the version
 *    before it (its chain minus the pages it prepended, or after a snapshot that version's own
 *    chain) or above that version's high-water mark (when its root slot is still there) was
 *    written by the version too.
 *
 * Applying writes no page the chosen version V reaches, so a crash at any point of it leaves V
 * intact and recover can simply run again: first the file is extended to V's high-water mark if it
 * is shorter (the missing tail is free in V); then every page with a valid checksum born after V
 * is zeroed (those are free in V; left alone, a later commit reusing the same transaction id and
 * page number could, if its own write were lost, find such a page and take it for its own); then
 * the root slots holding newer versions (newest first) and the damaged ones are zeroed, each made
 * durable before the next, so open finds V as the newest valid slot, and an all-zero slot after it
 * satisfies the fallback rule (env/root-slots.ts).
 */
import * as fs from 'node:fs';
import * as pathMod from 'node:path';
import type { Storage } from '../storage/storage.js';
import { FileStorage } from '../storage/file.js';
import { scanSlots } from '../env/root-slots.js';
import { readCommit } from '../env/verify-commit.js';
import { lockExclusive } from '../env/lockfile.js';
import { assertBornBy, Pager } from '../pages/pager.js';
import type { Meta } from '../pages/meta.js';
import type { FreeSet } from '../pages/freeset.js';
import { replaySpaceMap } from '../pages/spacemap.js';
import { checksum } from '../pages/checksum.js';
import { u32 } from '../pages/bytes.js';
import { PAGE_CHECKSUM, PAGE_HEADER, PAGE_TXN, PAGE_TYPE, PAGE_UPPER, PageType } from '../pages/layout.js';
import type { PageReader } from '../btree/store.js';
import { overflowPageCount } from '../btree/store.js';
import { listDescriptors } from '../txn/catalog.js';
import { CorruptionError, FileNotFoundError, NotADatabaseError } from '../errors.js';
import { checkVersion } from './check.js';
import type { ProgressCallback } from './compact.js';

export interface RecoverOptions {
  /** Make the version found current (default false: the file is not written at all). */
  apply?: boolean;
  /** Called with (pages checked, pages of the version being checked) while each candidate is verified. */
  onProgress?: ProgressCallback;
}

/** What one root slot holds. */
export type SlotFinding =
  | { slot: number; state: 'empty' }
  | { slot: number; state: 'damaged'; reason: string }
  | {
    slot: number; state: 'version'; txnId: number;
    /** 'unchecked': an older version than the one recovered (not needed). */
    verdict: 'verified' | 'failed' | 'unchecked';
    /** Why it failed (the first problems, each naming the page). */
    problems: string[];
  };

export interface DatabaseEntries {
  /** null: the main database. */
  name: string | null;
  entries: number;
}

/** A valid root slot newer than the version recovered: what making that version current discards. */
export interface LostVersion {
  txnId: number;
  slot: number;
  /** The first problem that failed it. */
  problem: string;
  /** Entries per database as this version's descriptors record them (they may be wrong: it failed). */
  databases: DatabaseEntries[];
  /** Whether its catalog could be read; if not, `databases` has only the main database. */
  catalogRead: boolean;
}

export interface RecoverReport {
  /** Absolute path of the file (undefined for a Storage). */
  path: string | undefined;
  pageSize: number;
  nRoots: number;
  slots: SlotFinding[];
  /** The newest valid root slot's version (undefined: none). */
  newest: number | undefined;
  /** The newest version that verifies (undefined: none does). */
  recovered: number | undefined;
  /**
   * 'ok': the newest version verifies and nothing is damaged (nothing to do); 'recoverable': apply
   * would make `recovered` current; 'recovered': apply did; 'unrecoverable': no version verifies.
   */
  status: 'ok' | 'recoverable' | 'recovered' | 'unrecoverable';
  /** Newer valid versions than `recovered`, newest first. */
  lost: LostVersion[];
  /** Damaged root slots (their versions, if any, are unknown). */
  damagedSlots: number[];
  /** Slots apply zeroes (or zeroed): the lost versions' and the damaged ones. */
  clearSlots: number[];
  /** Entries per database of the recovered version. */
  databases: DatabaseEntries[];
  /** The file is shorter than the recovered version's high-water mark: apply extends it (free pages). */
  extendTo: number | undefined;
  applied: boolean;
  /** Pages born after the recovered version that apply zeroed. */
  scrubbedPages: number;
}

/** Page cache of each candidate's pager: verification reads every page once, so it only smooths re-reads. */
const VERIFY_CACHE = 16 * 1024 * 1024;
/** Problems kept per failed candidate. */
const MAX_PROBLEMS = 20;
/** The longest overflow run a value (at most 2^31 - 1 bytes) can need. */
const MAX_RUN_PAGES = (pageSize: number): number => overflowPageCount(0x7fffffff, pageSize);
/** Pages per read while scanning the file for pages born after the recovered version. */
const SCAN_CHUNK = 256;

/**
 * Finds the newest version of `target` (a path, or a Storage the caller owns) whose whole tree
 * verifies, and with `apply` makes it current. A path is opened exclusively (its lock file), so no
 * writer runs meanwhile; without `apply` nothing is written to the file.
 */
export function recover(target: string | Storage, options: RecoverOptions = {}): RecoverReport {
  if (typeof target !== 'string') return recoverStorage(target, undefined, options);
  const path = pathMod.resolve(target);
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw new FileNotFoundError(path);
  }
  if (st.isDirectory()) throw new NotADatabaseError(`${path} is a directory, not a rotadb database file`);
  const release = lockExclusive(path);
  let storage: Storage | undefined;
  try {
    storage = FileStorage.open(path, { create: false });
    return recoverStorage(storage, path, options);
  } finally {
    try { storage?.close(); } finally { release(); }
  }
}

function recoverStorage(storage: Storage, path: string | undefined, options: RecoverOptions): RecoverReport {
  const name = path ?? 'storage';
  const scan = scanSlots(storage, {}, name);
  const { pageSize, nRoots, verdicts } = scan;
  const versions: Meta[] = [];
  const slots: SlotFinding[] = [];
  const damagedSlots: number[] = [];
  verdicts.forEach((v, slot) => {
    if (v.ok && v.meta.nRoots === nRoots) versions.push(v.meta);
    else if (v.ok) { slots[slot] = { slot, state: 'damaged', reason: `names nRoots ${v.meta.nRoots}, the file has ${nRoots}` }; damagedSlots.push(slot); }
    else if (v.reason === 'empty') slots[slot] = { slot, state: 'empty' };
    else { slots[slot] = { slot, state: 'damaged', reason: v.reason }; damagedSlots.push(slot); }
  });
  versions.sort((a, b) => b.txnId - a.txnId);
  const byTxn = new Map(versions.map((m) => [m.txnId, m]));

  let chosen: Meta | undefined;
  let databases: DatabaseEntries[] = [];
  const lost: LostVersion[] = [];
  for (const meta of versions) {
    if (chosen) {
      slots[meta.slot] = { slot: meta.slot, state: 'version', txnId: meta.txnId, verdict: 'unchecked', problems: [] };
      continue;
    }
    const r = verifyVersion(storage, meta, byTxn, options.onProgress);
    slots[meta.slot] = { slot: meta.slot, state: 'version', txnId: meta.txnId, verdict: r.ok ? 'verified' : 'failed', problems: r.problems.slice(0, MAX_PROBLEMS) };
    if (r.ok) {
      chosen = meta;
      databases = r.databases;
    } else {
      const counts = entriesOf(storage, meta);
      lost.push({ txnId: meta.txnId, slot: meta.slot, problem: r.problems[0]!, databases: counts.databases, catalogRead: counts.catalogRead });
    }
  }

  const report: RecoverReport = {
    path, pageSize, nRoots, slots,
    newest: versions[0]?.txnId,
    recovered: chosen?.txnId,
    status: 'unrecoverable',
    lost: chosen ? lost : [],
    damagedSlots,
    clearSlots: [],
    databases,
    extendTo: undefined,
    applied: false,
    scrubbedPages: 0,
  };
  if (!chosen) return report;
  report.clearSlots = [...lost.map((l) => l.slot), ...damagedSlots];
  const needBytes = chosen.highWater * pageSize;
  if (scan.size < needBytes) report.extendTo = needBytes;
  // With no slot to clear every other slot is valid or empty, so open's fallback rule accepts it.
  const opens = report.clearSlots.length === 0 && report.extendTo === undefined;
  report.status = opens ? 'ok' : 'recoverable';
  if (!opens && options.apply) {
    applyRecovery(storage, chosen, report);
    report.applied = true;
    report.status = 'recovered';
  }
  return report;
}

// ---------------------------------------------------------------- verifying one version

/**
 * A reader of one version straight from storage: pages outside the version or born after it are
 * refused, and the birth of every page read is kept (the pages read are the ones it reaches).
 */
class VersionReader implements PageReader {
  readonly pageSize: number;
  readonly births = new Map<number, number>();
  /**
   * The first failure of storage itself. The tree checker turns every failed read into a problem
   * of the tree, but a failed read proves nothing about the version, and rejecting it could make
   * apply discard good data: the caller rethrows it instead.
   */
  failure: unknown;

  constructor(private readonly pager: Pager, private readonly meta: Meta) {
    this.pageSize = meta.pageSize;
  }

  private io<T>(read: () => T): T {
    try {
      return read();
    } catch (e) {
      if (!(e instanceof CorruptionError)) this.failure ??= e;
      throw e;
    }
  }

  /** Rethrows a failure of storage seen by any read so far. */
  rethrow(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  get(pgno: number): Uint8Array {
    if (pgno >= this.meta.highWater || pgno < this.meta.nRoots) {
      throw new CorruptionError(`page number out of range [${this.meta.nRoots}, ${this.meta.highWater})`, pgno);
    }
    const p = this.io(() => this.pager.read(pgno));
    assertBornBy(p, pgno, this.meta.txnId);
    this.births.set(pgno, u32(p, PAGE_TXN));
    return p;
  }

  readOverflow(pgno: number, length: number): Uint8Array {
    // Bounded before anything is allocated: a damaged length must not make us read gigabytes.
    const pages = overflowPageCount(length, this.pageSize);
    if (pgno < this.meta.nRoots || pgno + pages > this.meta.highWater) {
      throw new CorruptionError(`an overflow run of ${pages} pages does not fit below the high-water mark ${this.meta.highWater}`, pgno);
    }
    const value = this.io(() => this.pager.readRun(pgno, length, this.meta.txnId));
    // The run was loaded into its own buffer, header first: the value is a view just after it.
    this.births.set(pgno, u32(new Uint8Array(value.buffer, value.byteOffset - PAGE_HEADER, PAGE_HEADER), PAGE_TXN));
    return value;
  }
}

interface Verdict {
  ok: boolean;
  problems: string[];
  databases: DatabaseEntries[];
}

function verifyVersion(storage: Storage, meta: Meta, byTxn: Map<number, Meta>, onProgress?: ProgressCallback): Verdict {
  const v = meta.txnId;
  const fail = (problems: string[]): Verdict => ({ ok: false, problems, databases: [] });
  if (meta.highWater < meta.nRoots) return fail([`root slot ${meta.slot}: high-water mark ${meta.highWater} is below the root slots`]);
  if (v > 0 && meta.spaceMapHead === 0) return fail([`root slot ${meta.slot}: version ${v} has no space map (every commit writes one)`]);
  // A one-fsync commit records the digest of the pages it wrote: they must all be there.
  if (readCommit(storage, meta) === null) return fail([`root slot ${meta.slot}: the pages version ${v} wrote do not match the digest its one-fsync commit recorded`]);
  const r = new VersionReader(new Pager(storage, meta.pageSize, VERIFY_CACHE), meta);
  try {
    const c = checkVersion(r, meta, onProgress);
    r.rethrow();
    if (!c.ok) return fail(c.problems);
    const problems = v > 0 ? ownPages(storage, r, meta, c.chain, byTxn.get(v - 1)) : [];
    r.rethrow();
    if (problems.length > 0) return fail(problems);
    return { ok: true, problems: [], databases: [{ name: null, entries: meta.main.entries }, ...c.named.map((d) => ({ name: d.name, entries: d.tree.entries }))] };
  } catch (e) {
    r.rethrow();
    // Pages that passed their checksums but decode to impossible contents fail the version.
    return fail([`verification failed: ${(e as Error).message}`]);
  }
}

/**
 * The pages version `meta` wrote must carry its id (see the file comment). `chain` is its
 * space-map chain, head first; `prev` the root slot of the version before it, if still there.
 * (When the version wrote a space-map snapshot and the version before it is gone, only the head
 * rule and the structure checks remain for the pages it reused.)
 */
function ownPages(storage: Storage, r: VersionReader, meta: Meta, chain: number[], prev: Meta | undefined): string[] {
  const v = meta.txnId;
  const own = v >>> 0;
  const problems: string[] = [];
  const head = chain[0]!;
  const headBirth = r.births.get(head);
  if (headBirth !== own) {
    return [`page ${head}: the space-map head of version ${v} was written by transaction ${headBirth}: the version's own pages did not all reach the disk`];
  }
  // The pages it prepended come first (committed pages are never rewritten, so older chain pages
  // carry older ids); when they are the whole chain it wrote a snapshot and the rest is unknown.
  let k = 0;
  while (k < chain.length && r.births.get(chain[k]!) === own) k++;
  let prevFree: FreeSet | undefined;
  if (k < chain.length) {
    try {
      // the chain below what version v prepended is version v - 1's, with its own high-water mark
      const highWater = Math.max(meta.highWater, prev?.highWater ?? 0);
      prevFree = replaySpaceMap((p) => r.get(p), { ...meta, highWater, spaceMapHead: chain[k]!, spaceMapPages: chain.length - k }).free;
    } catch (e) {
      return [`the space map of version ${v - 1} (below the pages version ${v} prepended) is unreadable: ${(e as Error).message}`];
    }
  } else if (prev !== undefined && prev.spaceMapHead !== 0) {
    // A snapshot: the version before it says what was free then, if its own chain is still intact
    // (pages born after it are refused, so a chain page that was reused is not taken for it).
    const pr = new VersionReader(new Pager(storage, meta.pageSize, VERIFY_CACHE), prev);
    try {
      prevFree = replaySpaceMap((p) => pr.get(p), prev).free;
    } catch {
      pr.rethrow(); // otherwise its chain is gone: the rule is not available
    }
  }
  for (const [pgno, birth] of r.births) {
    if (birth === own) continue;
    const why = prevFree?.has(pgno) ? `free in version ${v - 1}`
      : prev !== undefined && pgno >= prev.highWater ? `above the high-water mark ${prev.highWater} of version ${v - 1}`
        : undefined;
    if (why !== undefined) problems.push(`page ${pgno}: holds a page of transaction ${birth}, but version ${v} wrote it (it was ${why}): an older page in place of the version's own`);
  }
  return problems;
}

/** The entry counts a (failed) version's descriptors record, as far as its catalog can be read. */
function entriesOf(storage: Storage, meta: Meta): { databases: DatabaseEntries[]; catalogRead: boolean } {
  const main: DatabaseEntries = { name: null, entries: meta.main.entries };
  const r = new VersionReader(new Pager(storage, meta.pageSize, VERIFY_CACHE), meta);
  try {
    const named = listDescriptors(r, meta.catalog).map((d) => ({ name: d.name, entries: d.tree.entries }));
    return { databases: [main, ...named], catalogRead: true };
  } catch {
    r.rethrow();
    return { databases: [main], catalogRead: false };
  }
}

// ---------------------------------------------------------------- applying

function applyRecovery(storage: Storage, meta: Meta, report: RecoverReport): void {
  const { pageSize } = meta;
  if (report.extendTo !== undefined) {
    storage.truncate(report.extendTo);
    storage.sync();
  }
  report.scrubbedPages = scrubNewer(storage, meta);
  if (report.scrubbedPages > 0) storage.sync();
  const zero = new Uint8Array(pageSize);
  for (const slot of report.clearSlots) {
    storage.write(zero, slot * pageSize);
    storage.sync();
  }
}

/**
 * Zeroes every page (or overflow run's first page) with a valid checksum born after version
 * `meta`. None of them is reachable from it (it verified: every page it reaches is born by it),
 * so this writes only pages that are free in it.
 */
function scrubNewer(storage: Storage, meta: Meta): number {
  const { pageSize, nRoots } = meta;
  const total = Math.floor(storage.size() / pageSize);
  const chunk = Buffer.allocUnsafeSlow(SCAN_CHUNK * pageSize);
  const zero = new Uint8Array(pageSize);
  const newer = (b: Uint8Array): boolean => ((u32(b, PAGE_TXN) - meta.txnId) | 0) > 0;
  let scrubbed = 0;
  let next = nRoots; // pages below it are known: read, or inside a valid overflow run
  for (let at = nRoots; at < total; at += SCAN_CHUNK) {
    const n = Math.min(SCAN_CHUNK, total - at);
    const got = storage.read(chunk.subarray(0, n * pageSize), at * pageSize);
    for (let i = 0; i < n && (i + 1) * pageSize <= got; i++) {
      const p = at + i;
      if (p < next) continue;
      const page = chunk.subarray(i * pageSize, (i + 1) * pageSize);
      const type = page[PAGE_TYPE];
      if (type === PageType.Branch || type === PageType.Leaf || type === PageType.SpaceMap) {
        if (checksum(page, 4, pageSize, p) === u32(page, PAGE_CHECKSUM) && newer(page)) {
          storage.write(zero, p * pageSize);
          scrubbed++;
        }
      } else if (type === PageType.Overflow) {
        const len = u32(page, PAGE_UPPER);
        if (len < 1 || len > MAX_RUN_PAGES(pageSize) || p + len > total) continue;
        const run = len === 1 ? page : Buffer.allocUnsafeSlow(len * pageSize);
        if (len > 1 && storage.read(run, p * pageSize) !== run.length) continue;
        if (checksum(run, 4, run.length, p) !== u32(run, PAGE_CHECKSUM)) continue;
        next = p + len;
        if (newer(run)) {
          storage.write(zero, p * pageSize);
          scrubbed++;
        }
      }
    }
  }
  return scrubbed;
}
