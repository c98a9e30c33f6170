/**
 * Root slots: the committed versions. Slot s = page s holds the version whose transaction id is
 * congruent to s modulo nRoots. A slot is valid when its magic, format, slot index and checksum
 * are right; the current version is the valid slot with the highest transaction id.
 */
import {
  DBINFO_BRANCH_PAGES, DBINFO_DEPTH, DBINFO_ENTRIES_LO, DBINFO_LEAF_PAGES, DBINFO_OVERFLOW_PAGES,
  DBINFO_ROOT, FORMAT_VERSION, MAGIC, SLOT_CATALOG_DB, SLOT_CHECKSUM, SLOT_FORMAT, SLOT_FREE_PAGES,
  SLOT_HIGH_WATER, SLOT_INDEX, SLOT_MAGIC, SLOT_MAIN_DB, SLOT_NROOTS, SLOT_PAGE_SIZE,
  SLOT_SPACEMAP_HEAD, SLOT_SPACEMAP_PAGES, SLOT_SPACEMAP_SNAPSHOT, SLOT_TXN_LO, SLOT_FLAGS, SLOT_FLAG_ONE_FSYNC,
  SLOT_COMMIT_PAGES, SLOT_COMMIT_DIGEST_A, SLOT_COMMIT_DIGEST_B,
} from './layout.js';
import { setU16, setU32, setU64, u16, u32, u64 } from './bytes.js';
import { checksum } from './checksum.js';

/** The descriptor of one B+tree as stored (DbInfo, 32 bytes; docs/design.md). */
export interface DbInfo {
  root: number;
  depth: number;
  entries: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
}

export interface Meta {
  txnId: number;
  slot: number;
  pageSize: number;
  nRoots: number;
  highWater: number;
  spaceMapHead: number;
  spaceMapPages: number;
  spaceMapSnapshot: number;
  freePages: number;
  main: DbInfo;
  catalog: DbInfo;
  /**
   * Present when the slot was made durable by the same fdatasync as its pages (a one-fsync
   * commit): how many page writes the commit made and their digest (pages/checksum.ts).
   */
  commit?: { pages: number; a: number; b: number };
}

export function readDbInfo(b: Uint8Array, o: number): DbInfo {
  return {
    root: u32(b, o + DBINFO_ROOT),
    depth: u32(b, o + DBINFO_DEPTH),
    entries: u64(b, o + DBINFO_ENTRIES_LO),
    branchPages: u32(b, o + DBINFO_BRANCH_PAGES),
    leafPages: u32(b, o + DBINFO_LEAF_PAGES),
    overflowPages: u32(b, o + DBINFO_OVERFLOW_PAGES),
  };
}

export function writeDbInfo(b: Uint8Array, o: number, t: DbInfo): void {
  setU32(b, o + DBINFO_ROOT, t.root);
  setU32(b, o + DBINFO_DEPTH, t.depth);
  setU64(b, o + DBINFO_ENTRIES_LO, t.entries);
  setU32(b, o + DBINFO_BRANCH_PAGES, t.branchPages);
  setU32(b, o + DBINFO_LEAF_PAGES, t.leafPages);
  setU32(b, o + DBINFO_OVERFLOW_PAGES, t.overflowPages);
}

/** Serialises `m` into a full page for slot m.slot, checksum last. */
export function encodeMeta(m: Meta): Uint8Array {
  const b = new Uint8Array(m.pageSize);
  setU32(b, SLOT_MAGIC, MAGIC);
  setU16(b, SLOT_FORMAT, FORMAT_VERSION);
  b[SLOT_NROOTS] = m.nRoots;
  b[SLOT_INDEX] = m.slot;
  setU32(b, SLOT_PAGE_SIZE, m.pageSize);
  setU64(b, SLOT_TXN_LO, m.txnId);
  setU32(b, SLOT_HIGH_WATER, m.highWater);
  setU32(b, SLOT_SPACEMAP_HEAD, m.spaceMapHead);
  setU32(b, SLOT_SPACEMAP_PAGES, m.spaceMapPages);
  setU32(b, SLOT_SPACEMAP_SNAPSHOT, m.spaceMapSnapshot);
  setU32(b, SLOT_FREE_PAGES, m.freePages);
  writeDbInfo(b, SLOT_MAIN_DB, m.main);
  writeDbInfo(b, SLOT_CATALOG_DB, m.catalog);
  if (m.commit) {
    setU32(b, SLOT_FLAGS, SLOT_FLAG_ONE_FSYNC);
    setU32(b, SLOT_COMMIT_PAGES, m.commit.pages);
    setU32(b, SLOT_COMMIT_DIGEST_A, m.commit.a >>> 0);
    setU32(b, SLOT_COMMIT_DIGEST_B, m.commit.b >>> 0);
  }
  setU32(b, SLOT_CHECKSUM, checksum(b, 4, b.length, m.slot));
  return b;
}

export type SlotVerdict =
  | { ok: true; meta: Meta }
  | { ok: false; reason: 'empty' | 'magic' | 'checksum' | 'layout' }
  | { ok: false; reason: 'format'; format: number }
  | { ok: false; reason: 'flags'; flags: number };

/** Decodes slot `slot` from `b`, which must hold at least the whole page. */
export function decodeMeta(b: Uint8Array, slot: number): SlotVerdict {
  if (b.every((x) => x === 0)) return { ok: false, reason: 'empty' };
  if (u32(b, SLOT_MAGIC) !== MAGIC) return { ok: false, reason: 'magic' };
  const pageSize = u32(b, SLOT_PAGE_SIZE);
  if (pageSize !== b.length || b[SLOT_INDEX] !== slot) return { ok: false, reason: 'layout' };
  if (checksum(b, 4, b.length, slot) !== u32(b, SLOT_CHECKSUM)) return { ok: false, reason: 'checksum' };
  const format = u16(b, SLOT_FORMAT);
  if (format !== FORMAT_VERSION) return { ok: false, reason: 'format', format };
  const flags = u32(b, SLOT_FLAGS);
  if ((flags & ~SLOT_FLAG_ONE_FSYNC) !== 0) return { ok: false, reason: 'flags', flags };
  const commit = (flags & SLOT_FLAG_ONE_FSYNC) !== 0
    ? { pages: u32(b, SLOT_COMMIT_PAGES), a: u32(b, SLOT_COMMIT_DIGEST_A), b: u32(b, SLOT_COMMIT_DIGEST_B) }
    : undefined;
  return {
    ok: true,
    meta: {
      txnId: u64(b, SLOT_TXN_LO),
      slot,
      pageSize,
      nRoots: b[SLOT_NROOTS]!,
      highWater: u32(b, SLOT_HIGH_WATER),
      spaceMapHead: u32(b, SLOT_SPACEMAP_HEAD),
      spaceMapPages: u32(b, SLOT_SPACEMAP_PAGES),
      spaceMapSnapshot: u32(b, SLOT_SPACEMAP_SNAPSHOT),
      freePages: u32(b, SLOT_FREE_PAGES),
      main: readDbInfo(b, SLOT_MAIN_DB),
      catalog: readDbInfo(b, SLOT_CATALOG_DB),
      ...(commit ? { commit } : {}),
    },
  };
}
