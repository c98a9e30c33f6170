/**
 * Structural validation of a page read from storage, after its checksum passed and before anyone
 * decodes it. A checksum proves the page is what some writer wrote, not that what it wrote can be:
 * a page a bug produced (or one crafted) may have a valid checksum and impossible fields. The
 * readers of pages (btree/, the space-map replay) index into them without bounds checks, so every
 * field they trust is checked here once, when the page enters the cache: the cost is per disk
 * read, not per use.
 *
 * What a page that passes guarantees (docs/design.md, "Branch and leaf pages" and "Space-map page"):
 *  - branch, leaf: the slot array lies inside [16, upper) and upper inside [16 + 2n, pageSize];
 *    every cell starts in [upper, pageSize) and ends inside the page; the cells' sizes add up to
 *    the cell area (the packing invariant); no cell is larger than maxCellSize; keys are at most
 *    maxKeySize; a leaf cell's flags are 0 or overflow, and an overflow value is at most
 *    MAX_VALUE_SIZE; keys are strictly ascending (the binary searches depend on it: out of order,
 *    get misses a key that a range returns); a branch has at least one cell, cell 0 has no key,
 *    and no child is 0 or the page itself. (Children against the version's range are checked by
 *    the readers, per version; separators against their children by check().)
 *  - space map: `end` inside [24, pageSize], `count` records of a known kind filling [24, end)
 *    exactly, every run of at least one page and not past page 2^32 - 1. (Runs against the
 *    version's high-water mark are checked by replaySpaceMap, which knows the version.)
 * Any other page type is refused: overflow runs are read only through Pager.readRun.
 * Every violation is a CorruptionError naming the page.
 */
import { CorruptionError } from '../errors.js';
import {
  BRANCH_CELL_OVERHEAD, BRANCH_CHILD, BRANCH_KEY, BRANCH_KEYLEN, LEAF_CELL_OVERHEAD, LEAF_FLAGS, LEAF_FLAG_OVERFLOW,
  LEAF_KEY, LEAF_KEYLEN, LEAF_VALLEN, MAX_PAGES, MAX_VALUE_SIZE, PAGE_COUNT, PAGE_TYPE, PAGE_UPPER,
  PageType, SLOT_ARRAY, SLOT_WIDTH, SM_ALLOC, SM_FREE, SPACEMAP_END, SPACEMAP_RECORDS, maxCellSize, maxKeySize,
} from './layout.js';
import { compareBytes, u16, u32 } from './bytes.js';

/** Throws CorruptionError unless `p` (page `pgno`, one page long) is a well-formed branch, leaf or space-map page. */
export function validatePage(p: Uint8Array, pgno: number): void {
  const type = p[PAGE_TYPE];
  if (type === PageType.Leaf || type === PageType.Branch) validateNode(p, pgno, type);
  else if (type === PageType.SpaceMap) validateSpaceMapPage(p, pgno);
  else if (type === PageType.Overflow) throw new CorruptionError('an overflow run where a branch, leaf or space-map page was expected', pgno);
  else throw new CorruptionError(`unknown page type ${type}`, pgno);
}

function validateNode(p: Uint8Array, pgno: number, type: PageType.Leaf | PageType.Branch): void {
  const size = p.length;
  const n = u16(p, PAGE_COUNT);
  const upper = u32(p, PAGE_UPPER);
  const slotsEnd = SLOT_ARRAY + n * SLOT_WIDTH;
  const what = type === PageType.Leaf ? 'leaf' : 'branch';
  if (slotsEnd > size) throw new CorruptionError(`${what} with ${n} cells: the slot array runs past the page end`, pgno);
  if (upper < slotsEnd || upper > size) throw new CorruptionError(`${what} upper ${upper} outside [${slotsEnd}, ${size}] for ${n} cells`, pgno);
  if (type === PageType.Branch && n === 0) throw new CorruptionError('branch with no cells', pgno);
  const maxCell = maxCellSize(size);
  const maxKey = maxKeySize(size);
  let bytes = 0;
  let prevKey = -1; // offset of the previous cell's key (branch cell 0 has none)
  let prevLen = 0;
  for (let i = 0; i < n; i++) {
    const so = SLOT_ARRAY + i * SLOT_WIDTH;
    const off = p[so]! | (p[so + 1]! << 8);
    if (off < upper || off >= size) throw new CorruptionError(`${what} cell ${i} offset ${off} outside [${upper}, ${size})`, pgno);
    let cell: number;
    let key: number;
    let klen: number;
    if (type === PageType.Leaf) {
      if (off + LEAF_CELL_OVERHEAD > size) throw new CorruptionError(`leaf cell ${i} at ${off}: its header runs past the page end`, pgno);
      klen = u16(p, off + LEAF_KEYLEN);
      key = off + LEAF_KEY;
      const flags = p[off + LEAF_FLAGS]!;
      const vlen = u32(p, off + LEAF_VALLEN);
      if (klen > maxKey) throw new CorruptionError(`leaf cell ${i}: key length ${klen} exceeds the limit ${maxKey}`, pgno);
      if ((flags & ~LEAF_FLAG_OVERFLOW) !== 0) throw new CorruptionError(`leaf cell ${i}: unknown flags ${flags}`, pgno);
      if (flags & LEAF_FLAG_OVERFLOW) {
        if (vlen > MAX_VALUE_SIZE) throw new CorruptionError(`leaf cell ${i}: overflow value length ${vlen} exceeds the limit ${MAX_VALUE_SIZE}`, pgno);
        cell = LEAF_CELL_OVERHEAD + klen + 4;
      } else {
        cell = LEAF_CELL_OVERHEAD + klen + vlen; // a double: vlen may be up to 2^32 - 1
      }
    } else {
      if (off + BRANCH_CELL_OVERHEAD > size) throw new CorruptionError(`branch cell ${i} at ${off}: its header runs past the page end`, pgno);
      klen = u16(p, off + BRANCH_KEYLEN);
      key = off + BRANCH_KEY;
      if (klen > maxKey) throw new CorruptionError(`branch cell ${i}: key length ${klen} exceeds the limit ${maxKey}`, pgno);
      if (i === 0 && klen !== 0) throw new CorruptionError(`branch cell 0 has a key of ${klen} bytes (it must be empty: minus infinity)`, pgno);
      const child = u32(p, off + BRANCH_CHILD);
      if (child === 0 || child === pgno) throw new CorruptionError(`branch cell ${i}: child page ${child}`, pgno);
      cell = BRANCH_CELL_OVERHEAD + klen;
    }
    if (off + cell > size) throw new CorruptionError(`${what} cell ${i} at ${off} of ${cell} bytes runs past the page end`, pgno);
    if (cell > maxCell) throw new CorruptionError(`${what} cell ${i} of ${cell} bytes exceeds the cell limit ${maxCell}`, pgno);
    if (prevKey >= 0 && compareBytes(p, prevKey, prevKey + prevLen, p, key, key + klen) >= 0) {
      throw new CorruptionError(`${what} cell ${i}: key not above the key of cell ${i - 1}`, pgno);
    }
    if (type === PageType.Leaf || i > 0) { prevKey = key; prevLen = klen; }
    bytes += cell;
  }
  if (bytes !== size - upper) throw new CorruptionError(`${what} cells use ${bytes} bytes but the cell area [${upper}, ${size}) has ${size - upper}`, pgno);
}

function validateSpaceMapPage(p: Uint8Array, pgno: number): void {
  const size = p.length;
  const n = u16(p, PAGE_COUNT);
  const end = u32(p, SPACEMAP_END);
  if (end < SPACEMAP_RECORDS || end > size) throw new CorruptionError(`space-map end ${end} outside [${SPACEMAP_RECORDS}, ${size}]`, pgno);
  let at = SPACEMAP_RECORDS;
  for (let r = 0; r < n; r++) {
    if (at + 4 > end) throw new CorruptionError(`space-map record ${r} of ${n} starts at ${at}, past the end of the records ${end}`, pgno);
    const head = u32(p, at);
    const kind = head & 0xff;
    const runs = head >>> 8;
    if (kind !== SM_FREE && kind !== SM_ALLOC) throw new CorruptionError(`space-map record ${r}: unknown kind ${kind}`, pgno);
    at += kind === SM_FREE ? 12 : 4;
    if (at + runs * 8 > end) throw new CorruptionError(`space-map record ${r}: ${runs} runs overrun the records' end ${end}`, pgno);
    for (let j = 0; j < runs; j++, at += 8) {
      const first = u32(p, at);
      const count = u32(p, at + 4);
      if (count === 0 || first + count > MAX_PAGES) throw new CorruptionError(`space-map record ${r}: run [${first}, +${count}) is empty or past the largest page number`, pgno);
    }
  }
  if (at !== end) throw new CorruptionError(`space-map records end at ${at}, the page says ${end}`, pgno);
}

/**
 * Throws CorruptionError unless page `pgno` has the type a tree walk expects at its level: a tree
 * of depth d has branches at levels d .. 2 and leaves at level 1. Each page is well formed on its
 * own (validatePage), but a wrong depth in a descriptor or a child pointer to a page of the other
 * kind makes a walker read one kind's cells as the other's, past the end of the page.
 */
export function assertNodeType(p: Uint8Array, pgno: number, level: number): void {
  const want = level > 1 ? PageType.Branch : PageType.Leaf;
  if (p[PAGE_TYPE] !== want) {
    throw new CorruptionError(`page type ${p[PAGE_TYPE]} at tree level ${level}, expected ${want === PageType.Leaf ? 'a leaf' : 'a branch'}: the tree's depth or a child pointer is wrong`, pgno);
  }
}
