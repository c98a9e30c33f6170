/**
 * Copy-on-write B+tree over slotted pages.
 *
 * Shape invariants (verified by check()):
 *  - every leaf is at depth `tree.depth`; branch cell 0 has an empty key meaning minus infinity;
 *  - keys in child i of a branch lie in [key_i, key_{i+1});
 *  - only the root may be emptier than minFill after an operation completes.
 *
 * Modification is bottom-up: an operation descends read-only, changes the leaf, and each level
 * touches (copies) its page only when a child's page number or a separator changed. A child that
 * split hands its parent a separator and a new right sibling through the operation's `Op`.
 */
import { branchIndex, branchLcp, branchSearch, leafSearch } from './search.js';
import { overflowPageCount, type PageReader, type PageWriter, type TreeInfo } from './store.js';
import type { LeafCell } from './leaf-cell.js';
import {
  BRANCH_CELL_OVERHEAD, BRANCH_CHILD, BRANCH_KEY, BRANCH_KEYLEN, LEAF_CELL_OVERHEAD, LEAF_KEY, LEAF_KEYLEN, PAGE_HEADER, PageType,
  SLOT_WIDTH, maxCellSize, minFill,
} from '../pages/layout.js';
import { compareBytes, copyOf, u16, u32 } from '../pages/bytes.js';
import {
  appendCells, branchChild, cellCount, cellOffset, cellSize, freeSpace, initNode, leafCellSizeFor,
  leafIsOverflow, leafValueLen, leafValueStart, pageType, removeCell, reserveCell,
  setBranchChild, usedSpace, writeBranchCell, writeLeafCell,
} from '../pages/node.js';
import { CorruptionError } from '../errors.js';
import { assertNodeType } from '../pages/validate.js';

// ---------------------------------------------------------------- lookup

/**
 * Finds `key[0, klen)`. When it is there, points `hit` (the caller's, so that a lookup allocates
 * nothing) at its cell and returns true; else returns false and leaves `hit` as it was.
 */
export function lookup(r: PageReader, tree: TreeInfo, key: Uint8Array, klen: number, hit: LeafCell): boolean {
  if (tree.root === 0) return false;
  let pgno = tree.root;
  let known = 0; // bytes the key shares with every key below the current page
  for (let level = tree.depth; level > 1; level--) {
    const p = r.get(pgno);
    assertNodeType(p, pgno, level);
    const b = branchSearch(p, key, klen, known);
    pgno = branchChild(p, branchIndex(b));
    known = branchLcp(b);
  }
  const leaf = r.get(pgno);
  assertNodeType(leaf, pgno, 1);
  const s = leafSearch(leaf, key, klen, known);
  if ((s & 1) === 0) return false;
  hit.at(leaf, cellOffset(leaf, s >>> 1));
  return true;
}

// ---------------------------------------------------------------- insert

interface Split { sep: Uint8Array; right: number }

/**
 * One insert or delete in progress. A page that split leaves its separator and new right sibling
 * here for its parent, which takes it (and clears it) as soon as the child's call returns.
 */
interface Op { split: Split | null }

/**
 * The Op of put(), reused: a put runs to completion before the next one starts (nothing it calls
 * calls back into the tree), and every split it leaves is taken by the parent level at once.
 */
const putOp: Op = { split: null };

/**
 * Scratch buffers of splitNode: the new cell, and the copy of the page being split (its cells are
 * laid out again into that same page). A split uses them only until it returns, and no split is
 * nested in another (a parent splits after its child's split has returned), so one of each per
 * module (per thread) is enough. Sized for the largest page; a smaller page uses a prefix.
 */
let scratchPage = Buffer.alloc(0);
let scratchCell = Buffer.alloc(0);

function pageScratch(pageSize: number): Buffer {
  if (scratchPage.length < pageSize) scratchPage = Buffer.alloc(pageSize);
  return scratchPage;
}

function cellScratch(size: number): Buffer {
  if (scratchCell.length < size) scratchCell = Buffer.alloc(Math.max(size, 2048));
  return scratchCell;
}

/**
 * Append fast path: the rightmost leaf of the tree (`tree.appendLeaf`, set by inserts along the
 * rightmost path, cleared by any delete since a merge could free that leaf), when this transaction
 * owns it so it may be changed in place. A key above that leaf's last key goes straight into it
 * while it has room, with no descent and no ancestor to touch. The hint lives on the write
 * transaction's own TreeInfo objects, which storedTree() strips before a Meta is made, so it never
 * outlives its transaction.
 */
function tryAppend(w: PageWriter, tree: TreeInfo, key: Uint8Array, klen: number, value: Uint8Array, vlen: number): boolean {
  const pgno = tree.appendLeaf;
  if (pgno === undefined || !w.owns(pgno)) return false;
  const p = w.peek(pgno);
  const n = cellCount(p);
  if (n === 0) return false;
  const size = LEAF_CELL_OVERHEAD + klen + vlen;
  if (size > maxCellSize(w.pageSize) || freeSpace(p) < size + SLOT_WIDTH) return false;
  const off = cellOffset(p, n - 1);
  if (compareBytes(key, 0, klen, p, off + LEAF_KEY, off + LEAF_KEY + u16(p, off + LEAF_KEYLEN)) <= 0) return false;
  writeLeafCell(p, reserveCell(p, n, size), key, klen, value, vlen, 0);
  tree.entries++;
  return true;
}

/** Inserts or replaces; returns true when the key was new. */
export function put(
  w: PageWriter, tree: TreeInfo, key: Uint8Array, klen: number, value: Uint8Array, vlen: number,
): boolean {
  if (tryAppend(w, tree, key, klen, value, vlen)) return true;
  if (tree.root === 0) {
    const pgno = w.allocPage();
    initNode(w.peek(pgno), PageType.Leaf);
    tree.root = pgno;
    tree.depth = 1;
    tree.leafPages++;
  }
  const before = tree.entries;
  const op = putOp;
  op.split = null; // a put that threw half-way may have left one behind
  const root = insertAt(w, tree, op, tree.root, tree.depth, key, klen, value, vlen, true);
  growRoot(w, tree, op, root);
  return tree.entries !== before;
}

function insertAt(
  w: PageWriter, tree: TreeInfo, op: Op, pgno: number, level: number,
  key: Uint8Array, klen: number, value: Uint8Array, vlen: number, rightmost: boolean,
): number {
  if (level === 1) return insertLeaf(w, tree, op, pgno, key, klen, value, vlen, rightmost);
  const page = w.peek(pgno);
  const ci = branchIndex(branchSearch(page, key, klen));
  const child = branchChild(page, ci);
  const last = ci === cellCount(page) - 1;
  const newChild = insertAt(w, tree, op, child, level - 1, key, klen, value, vlen, rightmost && last);
  const split = op.split;
  op.split = null;
  if (newChild === child && split === null) return pgno;
  const np = w.touch(pgno);
  const p = w.peek(np);
  setBranchChild(p, ci, newChild);
  if (split !== null) insertBranchCell(w, tree, op, p, ci + 1, split, rightmost && last);
  return np;
}

function insertLeaf(
  w: PageWriter, tree: TreeInfo, op: Op, pgno: number,
  key: Uint8Array, klen: number, value: Uint8Array, vlen: number, rightmost: boolean,
): number {
  const maxCell = maxCellSize(w.pageSize);
  const s = leafSearch(w.peek(pgno), key, klen);
  const i = s >>> 1;
  const np = w.touch(pgno);
  const p = w.peek(np);
  const size = leafCellSizeFor(klen, vlen, maxCell);
  const inline = size === 7 + klen + vlen;
  if (s & 1) {
    const off = cellOffset(p, i);
    const wasOverflow = leafIsOverflow(p, off);
    if (!wasOverflow && inline && leafValueLen(p, off) === vlen) {
      p.set(value.subarray(0, vlen), leafValueStart(p, off)); // same size: overwrite in place
      return np;
    }
    if (wasOverflow) freeValueRun(w, tree, p, off);
    removeCell(p, i);
  } else {
    tree.entries++;
  }
  let ovf = 0;
  if (!inline) {
    ovf = w.writeOverflow(value, vlen);
    tree.overflowPages += overflowPageCount(vlen, w.pageSize);
  }
  if (freeSpace(p) >= size + SLOT_WIDTH) {
    writeLeafCell(p, reserveCell(p, i, size), key, klen, value, vlen, ovf);
    if (rightmost) tree.appendLeaf = np;
    return np;
  }
  let split: Split;
  if (rightmost && i === cellCount(p)) {
    split = appendLeafSplit(w, tree, p, key, klen, value, vlen, ovf, size);
  } else {
    const cell = cellScratch(size);
    writeLeafCell(cell, 0, key, klen, value, vlen, ovf);
    split = splitNode(w, tree, p, i, cell, size, false);
  }
  op.split = split;
  if (rightmost) tree.appendLeaf = split.right;
  return np;
}

function freeValueRun(w: PageWriter, tree: TreeInfo, p: Uint8Array, off: number): void {
  const len = leafValueLen(p, off);
  w.freeOverflow(u32(p, leafValueStart(p, off)), len);
  tree.overflowPages -= overflowPageCount(len, w.pageSize);
}

/** Inserts the separator of a split child into the dirty branch `p`; `p` may split in turn (into `op`). */
function insertBranchCell(w: PageWriter, tree: TreeInfo, op: Op, p: Uint8Array, i: number, split: Split, append: boolean): void {
  const size = BRANCH_CELL_OVERHEAD + split.sep.length;
  if (freeSpace(p) >= size + SLOT_WIDTH) {
    writeBranchCell(p, reserveCell(p, i, size), split.right, split.sep, 0, split.sep.length);
    return;
  }
  if (append && i === cellCount(p) && i >= 2) {
    op.split = appendBranchSplit(w, tree, p, split);
    return;
  }
  const cell = cellScratch(size);
  writeBranchCell(cell, 0, split.right, split.sep, 0, split.sep.length);
  op.split = splitNode(w, tree, p, i, cell, size, false);
}

/** After an operation on the root: a split root gets a new parent. */
function growRoot(w: PageWriter, tree: TreeInfo, op: Op, root: number): void {
  tree.root = root;
  const split = op.split;
  if (split === null) return;
  op.split = null;
  const np = w.allocPage();
  const p = w.peek(np);
  initNode(p, PageType.Branch);
  writeBranchCell(p, reserveCell(p, 0, BRANCH_CELL_OVERHEAD), root, split.sep, 0, 0);
  writeBranchCell(p, reserveCell(p, 1, BRANCH_CELL_OVERHEAD + split.sep.length), split.right, split.sep, 0, split.sep.length);
  tree.root = np;
  tree.depth++;
  tree.branchPages++;
}

// ---------------------------------------------------------------- splitting and rebuilding

/** A run of cells gathered from pages (and loose cells) to be laid out again. */
class CellList {
  bufs: Uint8Array[] = [];
  offs: number[] = [];
  sizes: number[] = [];
  clear(): void {
    this.bufs.length = 0;
    this.offs.length = 0;
    this.sizes.length = 0;
  }
  push(buf: Uint8Array, off: number, size: number): void {
    this.bufs.push(buf);
    this.offs.push(off);
    this.sizes.push(size);
  }
  pushPage(p: Uint8Array, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const off = cellOffset(p, i);
      this.push(p, off, cellSize(p, off));
    }
  }
  get length(): number { return this.sizes.length; }
}

/** splitNode's list, reused (see the scratch buffers above). */
const splitList = new CellList();

/**
 * `p` (dirty) cannot take `cell[0, size)` at index `i`: split its cells and the new one into `p`
 * and a new right sibling, and return the separator and the sibling for the parent. With `append`
 * (the insert is past the last key of the whole tree) the left page stays full, so ascending
 * loads leave full pages (insertLeaf and insertBranchCell take the common append cases before
 * they get here: appendLeafSplit, appendBranchSplit).
 */
function splitNode(w: PageWriter, tree: TreeInfo, p: Uint8Array, i: number, cell: Uint8Array, size: number, append: boolean): Split {
  const type = pageType(p);
  const copy = pageScratch(p.length);
  copy.set(p);
  const list = splitList;
  list.clear();
  const n = cellCount(copy);
  list.pushPage(copy, 0, i);
  list.push(cell, 0, size);
  list.pushPage(copy, i, n);
  const right = w.allocPage();
  if (type === PageType.Leaf) tree.leafPages++;
  else tree.branchPages++;
  // Appending: keep the left page full. A leaf gives the right page just the new cell; a branch
  // gives it two children when they fit (cell k becomes the right page's first child).
  const appendAt = type === PageType.Leaf ? list.length - 1 : list.length - 2;
  const k = append && fits(list, type, appendAt, w.pageSize) ? appendAt : chooseSplit(list, type, w.pageSize);
  return { sep: layoutPair(list, type, k, p, w.peek(right)), right };
}

/**
 * The leaf split of an append (the key is past the last key of the whole tree, and `p` is full):
 * what splitNode would do with `append`, without rebuilding `p`. The left page keeps every cell
 * as it is; the right page gets the new cell alone. The separator is the shortest prefix of the
 * new key that is greater than `p`'s last key (as leafSeparator).
 */
function appendLeafSplit(
  w: PageWriter, tree: TreeInfo, p: Uint8Array,
  key: Uint8Array, klen: number, value: Uint8Array, vlen: number, ovf: number, size: number,
): Split {
  const right = w.allocPage();
  tree.leafPages++;
  const r = w.peek(right);
  initNode(r, PageType.Leaf);
  writeLeafCell(r, reserveCell(r, 0, size), key, klen, value, vlen, ovf);
  const off = cellOffset(p, cellCount(p) - 1);
  const ao = off + LEAF_KEY;
  const alen = u16(p, off + LEAF_KEYLEN);
  let c = 0;
  while (c < alen && c < klen && p[ao + c] === key[c]) c++;
  return { sep: copyOf(key, 0, Math.min(klen, c + 1)), right };
}

/**
 * The branch split of an append (the new child `split.right` goes past the last cell of `p`,
 * which is full and has at least two cells): what splitNode would do with `append`. The last
 * cell of `p` moves up (its key is the separator, its child the right page's cell 0) and the new
 * child follows it in the right page; the rest of `p` stays as it is.
 */
function appendBranchSplit(w: PageWriter, tree: TreeInfo, p: Uint8Array, split: Split): Split {
  const last = cellCount(p) - 1;
  const off = cellOffset(p, last);
  const klen = u16(p, off + BRANCH_KEYLEN);
  const sep = copyOf(p, off + BRANCH_KEY, off + BRANCH_KEY + klen);
  const child = u32(p, off + BRANCH_CHILD);
  const right = w.allocPage();
  tree.branchPages++;
  const r = w.peek(right);
  initNode(r, PageType.Branch);
  writeBranchCell(r, reserveCell(r, 0, BRANCH_CELL_OVERHEAD), child, sep, 0, 0);
  writeBranchCell(r, reserveCell(r, 1, BRANCH_CELL_OVERHEAD + split.sep.length), split.right, split.sep, 0, split.sep.length);
  removeCell(p, last);
  return { sep, right };
}

/** The list points into `p`, which is about to be rewritten: point it at a copy instead. */
function rebindList(list: CellList, p: Uint8Array, copy: Uint8Array): void {
  for (let j = 0; j < list.length; j++) if (list.bufs[j] === p) list.bufs[j] = copy;
}

/**
 * Lays out `list` as left = [0, k) and right = the rest, and returns the separator for the right
 * page. Leaves: the shortest prefix of right's first key that is greater than left's last key.
 * Branches: cell k's key moves up and its child becomes right's cell 0 (key minus infinity).
 */
function layoutPair(list: CellList, type: number, k: number, left: Uint8Array, right: Uint8Array): Uint8Array {
  initNode(left, type as PageType.Leaf);
  initNode(right, type as PageType.Leaf);
  for (let j = 0; j < k; j++) copyCell(left, list, j);
  if (type === PageType.Leaf) {
    for (let j = k; j < list.length; j++) copyCell(right, list, j);
    return leafSeparator(list, k);
  }
  const buf = list.bufs[k]!;
  const off = list.offs[k]!;
  const klen = u16(buf, off + BRANCH_KEYLEN);
  const sep = copyOf(buf, off + BRANCH_KEY, off + BRANCH_KEY + klen);
  writeBranchCell(right, reserveCell(right, 0, BRANCH_CELL_OVERHEAD), u32(buf, off), sep, 0, 0);
  for (let j = k + 1; j < list.length; j++) copyCell(right, list, j);
  return sep;
}

function copyCell(dst: Uint8Array, list: CellList, j: number): void {
  const size = list.sizes[j]!;
  const off = list.offs[j]!;
  dst.set(list.bufs[j]!.subarray(off, off + size), reserveCell(dst, cellCount(dst), size));
}

/**
 * Never empty: right's first key b is greater than left's last key a, so b is not the empty key
 * (the smallest) and c < b's length. Hence the empty key, when present, always lies in the
 * leftmost leaf, reached through cell 0 (minus infinity) of every branch.
 */
function leafSeparator(list: CellList, k: number): Uint8Array {
  const a = list.bufs[k - 1]!;
  const ao = list.offs[k - 1]! + LEAF_KEY;
  const alen = u16(a, list.offs[k - 1]! + LEAF_KEYLEN);
  const b = list.bufs[k]!;
  const bo = list.offs[k]! + LEAF_KEY;
  const blen = u16(b, list.offs[k]! + LEAF_KEYLEN);
  let c = 0;
  while (c < alen && c < blen && a[ao + c] === b[bo + c]) c++;
  return copyOf(b, bo, bo + Math.min(blen, c + 1));
}

/** Bytes (cells and slots) on each side when splitting at k, or false when one side does not fit. */
function fits(list: CellList, type: number, k: number, pageSize: number): boolean {
  if (k < 1 || k >= list.length) return false;
  const cap = pageSize - PAGE_HEADER;
  let left = 0;
  let total = 0;
  for (let j = 0; j < list.length; j++) {
    const s = list.sizes[j]! + SLOT_WIDTH;
    if (j < k) left += s;
    total += s;
  }
  const right = type === PageType.Leaf ? total - left : total - left - list.sizes[k]! + BRANCH_CELL_OVERHEAD;
  return left <= cap && right <= cap;
}

/** The split point that balances bytes best among those where both sides fit. */
function chooseSplit(list: CellList, type: number, pageSize: number): number {
  const cap = pageSize - PAGE_HEADER;
  const n = list.length;
  let total = 0;
  for (let j = 0; j < n; j++) total += list.sizes[j]! + SLOT_WIDTH;
  let best = -1;
  let bestDiff = Infinity;
  let left = 0;
  for (let k = 1; k < n; k++) {
    left += list.sizes[k - 1]! + SLOT_WIDTH;
    const right = type === PageType.Leaf
      ? total - left
      : total - left - list.sizes[k]! + BRANCH_CELL_OVERHEAD;
    if (left > cap) break;
    if (right > cap) continue;
    const diff = Math.abs(left - right);
    if (diff < bestDiff) { bestDiff = diff; best = k; }
  }
  if (best < 0) throw new CorruptionError('no split point fits: cell larger than the page allows');
  return best;
}

// ---------------------------------------------------------------- delete

const NOT_FOUND = -1;

/** Removes `key`; returns false when it was absent (and then changes nothing). */
export function del(w: PageWriter, tree: TreeInfo, key: Uint8Array, klen: number): boolean {
  if (tree.root === 0) return false;
  if (tree.appendLeaf !== undefined) tree.appendLeaf = undefined;
  const op: Op = { split: null };
  const root = deleteAt(w, tree, op, tree.root, tree.depth, key, klen);
  if (root === NOT_FOUND) return false;
  growRoot(w, tree, op, root);
  shrinkRoot(w, tree);
  return true;
}

function deleteAt(w: PageWriter, tree: TreeInfo, op: Op, pgno: number, level: number, key: Uint8Array, klen: number): number {
  if (level === 1) {
    const s = leafSearch(w.peek(pgno), key, klen);
    if ((s & 1) === 0) return NOT_FOUND;
    const np = w.touch(pgno);
    const p = w.peek(np);
    const off = cellOffset(p, s >>> 1);
    if (leafIsOverflow(p, off)) freeValueRun(w, tree, p, off);
    removeCell(p, s >>> 1);
    tree.entries--;
    return np;
  }
  const page = w.peek(pgno);
  const ci = branchIndex(branchSearch(page, key, klen));
  const child = branchChild(page, ci);
  const newChild = deleteAt(w, tree, op, child, level - 1, key, klen);
  if (newChild === NOT_FOUND) return NOT_FOUND;
  const split = op.split;
  op.split = null;
  const np = w.touch(pgno);
  const p = w.peek(np);
  setBranchChild(p, ci, newChild);
  if (split !== null) {
    insertBranchCell(w, tree, op, p, ci + 1, split, false);
  } else if (underfull(w.peek(newChild), w.pageSize)) {
    rebalance(w, tree, op, p, ci);
  }
  return np;
}

function underfull(p: Uint8Array, pageSize: number): boolean {
  const n = cellCount(p);
  return n === 0 || (pageType(p) === PageType.Branch && n < 2) || usedSpace(p) < minFill(pageSize);
}

/**
 * Child `ci` of the dirty branch `p` is underfull: merge it with a sibling when both fit one page,
 * else spread their cells evenly over the two. A longer new separator may split `p` itself
 * (reported through `op`).
 */
function rebalance(w: PageWriter, tree: TreeInfo, op: Op, p: Uint8Array, ci: number): void {
  const n = cellCount(p);
  if (n < 2) return; // no sibling: p itself is underfull and its parent (or shrinkRoot) deals with it
  const li = ci === n - 1 ? ci - 1 : ci;
  const ri = li + 1;
  const lp = w.touch(branchChild(p, li));
  setBranchChild(p, li, lp);
  const rp = w.touch(branchChild(p, ri));
  setBranchChild(p, ri, rp);
  const L = w.peek(lp);
  const R = w.peek(rp);
  const type = pageType(L);
  const sepOff = cellOffset(p, ri);
  const sepLen = u16(p, sepOff + BRANCH_KEYLEN);
  const cap = w.pageSize - PAGE_HEADER;

  if (type === PageType.Leaf) {
    if (usedSpace(L) + usedSpace(R) <= cap) {
      appendCells(L, R, 0, cellCount(R));
      dropRight(w, tree, p, ri, rp, type);
      return;
    }
  } else if (usedSpace(L) + usedSpace(R) + sepLen <= cap) {
    // R's cell 0 has an empty key; in the merged page it needs the separator that bounded R.
    const at = reserveCell(L, cellCount(L), BRANCH_CELL_OVERHEAD + sepLen);
    writeBranchCell(L, at, branchChild(R, 0), p, sepOff + BRANCH_KEY, sepLen);
    appendCells(L, R, 1, cellCount(R));
    dropRight(w, tree, p, ri, rp, type);
    return;
  }

  const list = new CellList();
  list.pushPage(L, 0, cellCount(L));
  if (type === PageType.Leaf) {
    list.pushPage(R, 0, cellCount(R));
  } else {
    const cell = new Uint8Array(BRANCH_CELL_OVERHEAD + sepLen);
    writeBranchCell(cell, 0, branchChild(R, 0), p, sepOff + BRANCH_KEY, sepLen);
    list.push(cell, 0, cell.length);
    list.pushPage(R, 1, cellCount(R));
  }
  const lcopy = copyOf(L);
  const rcopy = copyOf(R);
  rebindList(list, L, lcopy);
  rebindList(list, R, rcopy);
  const sep = layoutPair(list, type, chooseSplit(list, type, w.pageSize), L, R);
  removeCell(p, ri);
  insertBranchCell(w, tree, op, p, ri, { sep, right: rp }, false);
}

function dropRight(w: PageWriter, tree: TreeInfo, p: Uint8Array, ri: number, rp: number, type: number): void {
  removeCell(p, ri);
  w.freePage(rp);
  if (type === PageType.Leaf) tree.leafPages--;
  else tree.branchPages--;
}

/** An empty root leaf empties the tree; a root branch with one child hands the root down. */
function shrinkRoot(w: PageWriter, tree: TreeInfo): void {
  for (;;) {
    const p = w.peek(tree.root);
    const n = cellCount(p);
    if (pageType(p) === PageType.Leaf) {
      if (n > 0) return;
      w.freePage(tree.root);
      tree.leafPages--;
      tree.root = 0;
      tree.depth = 0;
      return;
    }
    if (n > 1) return;
    const child = branchChild(p, 0);
    w.freePage(tree.root);
    tree.branchPages--;
    tree.root = child;
    tree.depth--;
  }
}
