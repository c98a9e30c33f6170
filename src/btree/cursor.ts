/**
 * A position in one tree of one version: the path of (page, index) from the root to a leaf cell.
 *
 * Between calls the cursor keeps the page numbers of the branch levels, and the current leaf's
 * page number and buffer. Holding the buffer is safe because a committed page buffer never changes:
 * eviction only drops it from the cache, and a reused page number gets a new buffer, so a held
 * buffer keeps the bytes it was read with (and a registered reader validated them against expiry
 * when it read them). Steps inside one leaf therefore read no page through the PageReader; the
 * caller checks the reader's state per step itself (api/range-iterator.ts calls ReadTxn.check()).
 *
 * The one exception is a write transaction's own dirty pages, which change in place: after any
 * change to the tree the cursor's path and held leaf may be stale, and the caller must re-seek
 * (api/range-iterator.ts does when the transaction's modCount moves).
 *
 * While `valid`, the cursor is a LeafCell on its current cell (`page`, `cell` and the key and
 * value accessors); `value()` reads an overflow value through the cursor's own reader.
 */
import type { PageReader, TreeInfo } from './store.js';
import { branchIndex, branchSearch, leafSearch } from './search.js';
import { branchChild, cellCount, cellOffset } from '../pages/node.js';
import { LeafCell } from './leaf-cell.js';
import { assertNodeType } from '../pages/validate.js';

export class Cursor extends LeafCell {
  /** Page numbers and cell indexes of the branch levels (0 = root); the leaf is `page`/`index`. */
  private readonly pg: number[] = [];
  private readonly ix: number[] = [];
  /** The current cell's index in `page`; `cell` is its offset. */
  private index = 0;
  /** Cells in `page`. */
  private count = 0;
  valid = false;

  constructor(private readonly r: PageReader, private readonly tree: TreeInfo) {
    super();
  }

  /** Positions at the first entry; false when the tree is empty. */
  first(): boolean {
    return this.descend(0, this.tree.root, 'first');
  }

  last(): boolean {
    return this.descend(0, this.tree.root, 'last');
  }

  /** Positions at the first key >= `key`; false when there is none. */
  seek(key: Uint8Array, klen: number): boolean {
    const t = this.tree;
    if (t.root === 0) return (this.valid = false);
    let pgno = t.root;
    for (let level = 0; level < t.depth - 1; level++) {
      const p = this.r.get(pgno);
      assertNodeType(p, pgno, t.depth - level);
      const i = branchIndex(branchSearch(p, key, klen));
      this.pg[level] = pgno;
      this.ix[level] = i;
      pgno = branchChild(p, i);
    }
    const leaf = this.r.get(pgno);
    assertNodeType(leaf, pgno, 1);
    this.setLeaf(leaf, leafSearch(leaf, key, klen) >>> 1);
    this.valid = true;
    if (this.index >= this.count) return this.nextLeaf();
    return true;
  }

  /** Positions at the last key <= `key`; false when there is none. */
  seekLE(key: Uint8Array, klen: number): boolean {
    if (!this.seek(key, klen)) return this.last();
    return this.compareKey(key, klen) <= 0 ? true : this.prev();
  }

  next(): boolean {
    if (!this.valid) return false;
    if (this.index + 1 < this.count) {
      this.at(this.page, cellOffset(this.page, ++this.index));
      return true;
    }
    return this.nextLeaf();
  }

  prev(): boolean {
    if (!this.valid) return false;
    if (this.index > 0) {
      this.at(this.page, cellOffset(this.page, --this.index));
      return true;
    }
    for (let level = this.tree.depth - 2; level >= 0; level--) {
      if (this.ix[level]! > 0) {
        this.ix[level]!--;
        const child = branchChild(this.r.get(this.pg[level]!), this.ix[level]!);
        return this.descend(level + 1, child, 'last');
      }
    }
    return (this.valid = false);
  }

  /** The current value, through the cursor's reader unless told otherwise; a view valid until the cursor or the tree changes. */
  override value(r: PageReader = this.r): Uint8Array {
    return super.value(r);
  }

  /** `i` may be one past the last cell only in seek(), which then moves to the next leaf. */
  private setLeaf(p: Uint8Array, i: number): void {
    this.count = cellCount(p);
    this.index = i;
    if (i < this.count) this.at(p, cellOffset(p, i));
    else this.page = p;
  }

  private nextLeaf(): boolean {
    for (let level = this.tree.depth - 2; level >= 0; level--) {
      const p = this.r.get(this.pg[level]!);
      if (this.ix[level]! + 1 < cellCount(p)) {
        this.ix[level]!++;
        return this.descend(level + 1, branchChild(p, this.ix[level]!), 'first');
      }
    }
    return (this.valid = false);
  }

  /** Fills the path from `level` down, taking the first or last child at each step. */
  private descend(level: number, pgno: number, end: 'first' | 'last'): boolean {
    const t = this.tree;
    if (t.root === 0) return (this.valid = false);
    const leafLevel = t.depth - 1;
    for (; level < leafLevel; level++) {
      const p = this.r.get(pgno);
      assertNodeType(p, pgno, t.depth - level);
      const n = cellCount(p);
      if (n === 0) return (this.valid = false); // cannot happen: only an empty root leaf is empty
      const i = end === 'first' ? 0 : n - 1;
      this.pg[level] = pgno;
      this.ix[level] = i;
      pgno = branchChild(p, i);
    }
    const leaf = this.r.get(pgno);
    assertNodeType(leaf, pgno, 1);
    const n = cellCount(leaf);
    if (n === 0) return (this.valid = false); // only an empty root leaf can be empty
    this.setLeaf(leaf, end === 'first' ? 0 : n - 1);
    return (this.valid = true);
  }
}
