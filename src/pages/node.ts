/**
 * Branch and leaf pages: a slotted layout. After the 16-byte header comes an array of u16 cell
 * offsets in key order; cells are packed at the end of the page, growing down to `upper`.
 *
 * Invariant (checked by check()): cells occupy exactly [upper, pageSize) with no gaps, so the free
 * space is always the single gap between the slot array and `upper`. Removing a cell closes its
 * hole at once; that keeps inserts O(page) and never needs a defragmentation pass.
 */
import {
  BRANCH_CELL_OVERHEAD, BRANCH_CHILD, BRANCH_KEY, BRANCH_KEYLEN, LEAF_CELL_OVERHEAD, LEAF_FLAGS,
  LEAF_FLAG_OVERFLOW, LEAF_KEY, LEAF_KEYLEN, LEAF_VALLEN, PAGE_COUNT, PAGE_HEADER, PAGE_TYPE,
  PAGE_UPPER, PageType, SLOT_ARRAY, SLOT_WIDTH,
} from './layout.js';
import { setU16, setU32, u16, u32 } from './bytes.js';

export function pageType(p: Uint8Array): number {
  return p[PAGE_TYPE]!;
}

export function cellCount(p: Uint8Array): number {
  return u16(p, PAGE_COUNT);
}

export function upperOf(p: Uint8Array): number {
  return u32(p, PAGE_UPPER);
}

export function cellOffset(p: Uint8Array, i: number): number {
  const o = SLOT_ARRAY + i * SLOT_WIDTH;
  return p[o]! | (p[o + 1]! << 8);
}

/** Formats `p` as an empty branch or leaf page. */
export function initNode(p: Uint8Array, type: PageType.Branch | PageType.Leaf): void {
  for (let i = 0; i < PAGE_HEADER; i++) p[i] = 0; // a loop: Buffer#fill's argument checks cost more than 16 stores
  p[PAGE_TYPE] = type;
  setU32(p, PAGE_UPPER, p.length);
}

export function freeSpace(p: Uint8Array): number {
  return upperOf(p) - PAGE_HEADER - cellCount(p) * SLOT_WIDTH;
}

/** Bytes of cells plus their slots. */
export function usedSpace(p: Uint8Array): number {
  return p.length - upperOf(p) + cellCount(p) * SLOT_WIDTH;
}

// ---- leaf cells

export function leafKeyLen(p: Uint8Array, off: number): number {
  return u16(p, off + LEAF_KEYLEN);
}

export function leafIsOverflow(p: Uint8Array, off: number): boolean {
  return (p[off + LEAF_FLAGS]! & LEAF_FLAG_OVERFLOW) !== 0;
}

export function leafValueLen(p: Uint8Array, off: number): number {
  return u32(p, off + LEAF_VALLEN);
}

/** Offset of the inline value, or of the u32 first overflow page. */
export function leafValueStart(p: Uint8Array, off: number): number {
  return off + LEAF_KEY + leafKeyLen(p, off);
}

export function leafCellSize(p: Uint8Array, off: number): number {
  return LEAF_CELL_OVERHEAD + leafKeyLen(p, off) + (leafIsOverflow(p, off) ? 4 : leafValueLen(p, off));
}

/** Size of the leaf cell for a key and value: inline when it fits under `maxCell`, else overflow. */
export function leafCellSizeFor(keyLen: number, valueLen: number, maxCell: number): number {
  const inline = LEAF_CELL_OVERHEAD + keyLen + valueLen;
  return inline <= maxCell ? inline : LEAF_CELL_OVERHEAD + keyLen + 4;
}

/** Writes a leaf cell at `off`. With overflowPgno > 0 the value lives in that run; `value` is ignored. */
export function writeLeafCell(
  p: Uint8Array, off: number, key: Uint8Array, keyLen: number,
  value: Uint8Array, valueLen: number, overflowPgno: number,
): number {
  setU16(p, off + LEAF_KEYLEN, keyLen);
  p[off + LEAF_FLAGS] = overflowPgno ? LEAF_FLAG_OVERFLOW : 0;
  setU32(p, off + LEAF_VALLEN, valueLen);
  copyInto(p, off + LEAF_KEY, key, keyLen);
  const v = off + LEAF_KEY + keyLen;
  if (overflowPgno) {
    setU32(p, v, overflowPgno);
    return LEAF_KEY + keyLen + 4;
  }
  copyInto(p, v, value, valueLen);
  return LEAF_KEY + keyLen + valueLen;
}

/** dst[at, at + len) = src[0, len), without allocating a view for the common short copies. */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array, len: number): void {
  if (len === src.length) dst.set(src, at);
  else if (len <= 32) for (let i = 0; i < len; i++) dst[at + i] = src[i]!;
  else dst.set(src.subarray(0, len), at);
}

// ---- branch cells

export function branchChild(p: Uint8Array, i: number): number {
  return u32(p, cellOffset(p, i) + BRANCH_CHILD);
}

export function setBranchChild(p: Uint8Array, i: number, child: number): void {
  setU32(p, cellOffset(p, i) + BRANCH_CHILD, child);
}

export function branchKeyLen(p: Uint8Array, off: number): number {
  return u16(p, off + BRANCH_KEYLEN);
}

export function branchCellSize(p: Uint8Array, off: number): number {
  return BRANCH_CELL_OVERHEAD + branchKeyLen(p, off);
}

export function writeBranchCell(p: Uint8Array, off: number, child: number, key: Uint8Array, keyStart: number, keyLen: number): number {
  setU32(p, off + BRANCH_CHILD, child);
  setU16(p, off + BRANCH_KEYLEN, keyLen);
  if (keyStart === 0) copyInto(p, off + BRANCH_KEY, key, keyLen);
  else p.set(key.subarray(keyStart, keyStart + keyLen), off + BRANCH_KEY);
  return BRANCH_CELL_OVERHEAD + keyLen;
}

export function cellSize(p: Uint8Array, off: number): number {
  return p[PAGE_TYPE] === PageType.Leaf ? leafCellSize(p, off) : branchCellSize(p, off);
}

// ---- cell insertion and removal

/**
 * Makes room for a cell of `size` bytes at index `i` and returns its offset; the caller writes
 * the cell there. Requires freeSpace(p) >= size + SLOT_WIDTH.
 */
export function reserveCell(p: Uint8Array, i: number, size: number): number {
  const n = cellCount(p);
  const off = upperOf(p) - size;
  const s = SLOT_ARRAY + i * SLOT_WIDTH;
  p.copyWithin(s + SLOT_WIDTH, s, SLOT_ARRAY + n * SLOT_WIDTH);
  setU16(p, s, off);
  setU16(p, PAGE_COUNT, n + 1);
  setU32(p, PAGE_UPPER, off);
  return off;
}

/** Removes cell `i` and closes its hole, keeping cells packed against the end of the page. */
export function removeCell(p: Uint8Array, i: number): void {
  const n = cellCount(p);
  const off = cellOffset(p, i);
  const size = cellSize(p, off);
  const upper = upperOf(p);
  p.copyWithin(upper + size, upper, off);
  const s = SLOT_ARRAY + i * SLOT_WIDTH;
  p.copyWithin(s, s + SLOT_WIDTH, SLOT_ARRAY + n * SLOT_WIDTH);
  for (let j = 0; j < n - 1; j++) {
    const o = cellOffset(p, j);
    if (o < off) setU16(p, SLOT_ARRAY + j * SLOT_WIDTH, o + size);
  }
  setU16(p, PAGE_COUNT, n - 1);
  setU32(p, PAGE_UPPER, upper + size);
}

/** Copies cells [from, to) of `src` to the end of `dst` (same page type), in order. */
export function appendCells(dst: Uint8Array, src: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const off = cellOffset(src, i);
    const size = cellSize(src, off);
    const at = reserveCell(dst, cellCount(dst), size);
    dst.set(src.subarray(off, off + size), at);
  }
}
