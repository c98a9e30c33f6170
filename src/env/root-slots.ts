/**
 * Finding the current version on open: the valid root slot with the highest transaction id
 * (docs/design.md, "Root slot"). A torn or damaged slot is simply not valid.
 */
import type { Storage } from '../storage/storage.js';
import { decodeMeta, type Meta, type SlotVerdict } from '../pages/meta.js';
import { FORMAT_VERSION, MAGIC, MAX_PAGE_SIZE, MAX_ROOTS, MIN_PAGE_SIZE, SLOT_MAGIC, SLOT_PAGE_SIZE, isValidPageSize } from '../pages/layout.js';
import { u32 } from '../pages/bytes.js';
import { readCommit } from './verify-commit.js';
import { CorruptionError, FormatVersionError, InvalidOptionError, NotADatabaseError } from '../errors.js';

/** The layout a caller expects (undefined: learn it from the file). */
export interface ExpectedLayout {
  pageSize?: number;
  nRoots?: number;
}

/** Every root slot of a file, as found: its layout and each slot's verdict (index = slot). */
export interface SlotScan {
  pageSize: number;
  nRoots: number;
  verdicts: SlotVerdict[];
  /** The file's size in bytes when it was scanned. */
  size: number;
}

/**
 * Learns the page size and nRoots from the first valid slot it can find, trying each legal page
 * size, checks them against `expect`, and reads every slot. (A valid slot may still name another
 * nRoots than the file's: no version of this file's rotation, so callers skip it.)
 */
export function scanSlots(storage: Storage, expect: ExpectedLayout, name: string): SlotScan {
  const size = storage.size();
  if (size === 0) throw new NotADatabaseError(`${name} is empty: not a rotadb database`);
  if (size < MIN_PAGE_SIZE) throw new NotADatabaseError(`${name} is ${size} bytes: too short for a rotadb database`);
  let layout: { pageSize: number; nRoots: number } | undefined;
  let newer: number | undefined;
  const head = new Uint8Array(16);
  storage.read(head, 0);
  const sizes = [u32(head, SLOT_MAGIC) === MAGIC ? u32(head, SLOT_PAGE_SIZE) : 0, ...pageSizes()].filter(isValidPageSize);
  outer: for (const ps of sizes) {
    for (let s = 0; s < MAX_ROOTS && (s + 1) * ps <= size; s++) {
      const v = readSlot(storage, ps, s);
      if (v.ok) { layout = { pageSize: ps, nRoots: v.meta.nRoots }; break outer; }
      if (v.reason === 'format') newer = v.format;
      if (s === 0 && v.reason === 'empty' && ps === sizes[0]) continue;
    }
  }
  if (!layout) {
    if (newer !== undefined) throw new FormatVersionError(`${name} has format version ${newer}; this rotadb reads version ${FORMAT_VERSION}`);
    throw new NotADatabaseError(`${name} is not a rotadb database (no valid root slot)`);
  }
  if (expect.pageSize !== undefined && expect.pageSize !== layout.pageSize) {
    throw new InvalidOptionError(`${name} has page size ${layout.pageSize}, the options ask for ${expect.pageSize}`);
  }
  if (expect.nRoots !== undefined && expect.nRoots !== layout.nRoots) {
    throw new InvalidOptionError(`${name} has nRoots ${layout.nRoots}, the options ask for ${expect.nRoots}`);
  }
  const verdicts: SlotVerdict[] = [];
  for (let s = 0; s < layout.nRoots; s++) {
    const v: SlotVerdict = (s + 1) * layout.pageSize > size ? { ok: false, reason: 'layout' } : readSlot(storage, layout.pageSize, s);
    if (!v.ok && v.reason === 'format') {
      throw new FormatVersionError(`${name} has format version ${v.format} in root slot ${s}; this rotadb reads version ${FORMAT_VERSION}`);
    } else if (!v.ok && v.reason === 'flags') {
      throw new FormatVersionError(`${name} has flags 0x${v.flags.toString(16)} in root slot ${s} that this rotadb does not know (a newer version wrote it)`);
    }
    verdicts.push(v);
  }
  return { ...layout, verdicts, size };
}

/** The current version of `storage` (see findCurrentVersion). */
export function readCurrentVersion(storage: Storage, expect: ExpectedLayout, name: string): Meta {
  return findCurrentVersion(storage, expect, name).meta;
}

/**
 * The current version of `storage`: the valid slot with the highest transaction id, if the
 * fallback rule below allows opening it, and for a one-fsync commit the pages it wrote as they
 * were read (open writes them again before it builds on them: see prepareStorage).
 */
export function findCurrentVersion(storage: Storage, expect: ExpectedLayout, name: string): { meta: Meta; written: Map<number, Uint8Array> } {
  const { nRoots, verdicts, size } = scanSlots(storage, expect, name);
  let best: Meta | undefined;
  for (const v of verdicts) {
    if (v.ok && v.meta.nRoots === nRoots && (!best || v.meta.txnId > best.txnId)) best = v.meta;
  }
  if (!best) throw new NotADatabaseError(`${name} is not a rotadb database (no valid root slot)`);
  let written = readCommit(storage, best);
  if (written === null) {
    // A one-fsync commit whose pages did not all reach the disk: it never completed (its fdatasync
    // did not return), so the version before it is the last committed one, and it was durable
    // before this commit began.
    verdicts[best.slot] = { ok: false, reason: 'checksum' };
    const before = best.txnId - 1;
    best = undefined;
    for (const v of verdicts) if (v.ok && v.meta.txnId === before && v.meta.nRoots === nRoots) best = v.meta;
    if (!best) throw new CorruptionError(`${name}: the newest root slot's commit did not reach the disk whole, and no root slot holds the version before it`);
    written = new Map();
  }
  checkFallback(best, verdicts, name);
  if (best.highWater * best.pageSize > size) {
    throw new CorruptionError(`${name} is truncated: version ${best.txnId} needs ${best.highWater * best.pageSize} bytes, the file has ${size}`);
  }
  return { meta: best, written };
}

/**
 * The newest valid version V is safe to open only if its pages are intact. Writer T never writes a
 * page that version T - 1 reaches (copy-on-write), but it does reuse pages that T - 1 freed, which
 * version T - 2 and older reached. So V is intact if no version newer than V + 1 was committed.
 *
 * V + 2 can only commit after V + 1 did, and the two write different slots (a writer never takes
 * the current version's slot), neither of them V's. So if at most one slot other than V's is
 * damaged, V + 2 was never committed. (A valid slot holds a version older than V; an empty one,
 * all zeros, was never written, as in a new file or a backup.) This holds for both slot policies.
 * Otherwise V's pages may have been reused, and open refuses rather than serve them. (A committed
 * slot zeroed whole by damage would pass as empty; the reused pages are then still refused one by
 * one, since every page read through version V must have been written by V or earlier: see
 * assertBornBy.)
 */
function checkFallback(best: Meta, verdicts: SlotVerdict[], name: string): void {
  const damaged = verdicts.flatMap((v, s) => (s !== best.slot && !v.ok && v.reason !== 'empty' ? [s] : []));
  if (damaged.length <= 1) return;
  const what = verdicts.map((v, s) => `slot ${s}: ${v.ok ? `version ${v.meta.txnId}` : v.reason}`).join(', ');
  throw new CorruptionError(`${name}: the newest intact root slot holds version ${best.txnId}, but root slots ${damaged.join(', ')} are damaged and may have held versions ${best.txnId + 1} and ${best.txnId + 2}, which may have reused the pages of version ${best.txnId}; refusing to open it (${what})`);
}

/** Reads and validates root slot `slot` (another thread published it, or it is being joined). */
export function readSlotMeta(storage: Storage, pageSize: number, slot: number, name: string): Meta {
  const v = readSlot(storage, pageSize, slot);
  if (!v.ok) throw new CorruptionError(`${name}: root slot ${slot} of the published version is not valid (${v.reason})`, slot);
  return v.meta;
}

function readSlot(storage: Storage, pageSize: number, s: number): SlotVerdict {
  const b = new Uint8Array(pageSize);
  const n = storage.read(b, s * pageSize);
  if (n < pageSize) return { ok: false as const, reason: 'layout' as const };
  return decodeMeta(b, s);
}

function pageSizes(): number[] {
  const out: number[] = [];
  for (let ps = MIN_PAGE_SIZE; ps <= MAX_PAGE_SIZE; ps *= 2) out.push(ps);
  return out;
}
