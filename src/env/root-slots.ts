/**
 * Finding the current version on open: the valid root slot with the highest transaction id
 * (docs/design.md, "Root slot"). A torn or damaged slot is simply not valid.
 */
import type { Storage } from '../storage/storage.js';
import { decodeMeta, type Meta } from '../pages/meta.js';
import { FORMAT_VERSION, MAGIC, MAX_PAGE_SIZE, MAX_ROOTS, MIN_PAGE_SIZE, SLOT_MAGIC, SLOT_PAGE_SIZE, isValidPageSize } from '../pages/layout.js';
import { u32 } from '../pages/bytes.js';
import { CorruptionError, FormatVersionError, InvalidOptionError, NotADatabaseError } from '../errors.js';

/** The layout a caller expects (undefined: learn it from the file). */
export interface ExpectedLayout {
  pageSize?: number;
  nRoots?: number;
}

/**
 * The current version of `storage`. Learns the page size and nRoots from the first valid slot
 * it can find, trying each legal page size, and checks them against `expect`.
 */
export function readCurrentVersion(storage: Storage, expect: ExpectedLayout, name: string): Meta {
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
  let best: Meta | undefined;
  for (let s = 0; s < layout.nRoots; s++) {
    if ((s + 1) * layout.pageSize > size) break;
    const v = readSlot(storage, layout.pageSize, s);
    if (v.ok) {
      if (v.meta.nRoots !== layout.nRoots) continue;
      if (!best || v.meta.txnId > best.txnId) best = v.meta;
    } else if (v.reason === 'format') {
      throw new FormatVersionError(`${name} has format version ${v.format} in root slot ${s}; this rotadb reads version ${FORMAT_VERSION}`);
    }
  }
  if (!best) throw new NotADatabaseError(`${name} is not a rotadb database (no valid root slot)`);
  if (best.highWater * best.pageSize > size) {
    throw new CorruptionError(`${name} is truncated: version ${best.txnId} needs ${best.highWater * best.pageSize} bytes, the file has ${size}`);
  }
  return best;
}

/** Reads and validates root slot `slot` (another thread published it, or it is being joined). */
export function readSlotMeta(storage: Storage, pageSize: number, slot: number, name: string): Meta {
  const v = readSlot(storage, pageSize, slot);
  if (!v.ok) throw new CorruptionError(`${name}: root slot ${slot} of the published version is not valid (${v.reason})`, slot);
  return v.meta;
}

function readSlot(storage: Storage, pageSize: number, s: number) {
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
