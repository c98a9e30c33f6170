/**
 * A position in one tree of one version: the path of (page, index) from the root to a leaf cell.
 * Only page numbers are kept between calls, never page buffers, so a cursor stays valid however
 * the page cache evicts; every move re-fetches what it needs through the PageReader.
 */
import type { PageReader, TreeInfo } from './store.js';
import { branchSearch, leafSearch } from './search.js';
import { LEAF_KEY } from '../pages/layout.js';
import { branchChild, cellCount, cellOffset, leafKeyLen } from '../pages/node.js';
import { cellValue } from './tree.js';

export class Cursor {
  private readonly pg: number[] = [];
  private readonly ix: number[] = [];
  valid = false;

  constructor(private readonly r: PageReader, private readonly tree: TreeInfo) {}

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
      const i = branchSearch(p, key, klen);
      this.pg[level] = pgno;
      this.ix[level] = i;
      pgno = branchChild(p, i);
    }
    const leaf = this.r.get(pgno);
    const d = t.depth - 1;
    this.pg[d] = pgno;
    this.ix[d] = leafSearch(leaf, key, klen) >>> 1;
    this.valid = true;
    if (this.ix[d]! >= cellCount(leaf)) return this.nextLeaf();
    return true;
  }

  /** Positions at the last key <= `key`; false when there is none. */
  seekLE(key: Uint8Array, klen: number): boolean {
    if (!this.seek(key, klen)) return this.last();
    const k = this.key();
    let c = 0;
    const n = Math.min(klen, k.length);
    for (let i = 0; i < n && c === 0; i++) c = k[i]! - key[i]!;
    if (c === 0) c = k.length - klen;
    return c <= 0 ? true : this.prev();
  }

  next(): boolean {
    if (!this.valid) return false;
    const d = this.tree.depth - 1;
    const leaf = this.r.get(this.pg[d]!);
    if (this.ix[d]! + 1 < cellCount(leaf)) {
      this.ix[d]!++;
      return true;
    }
    return this.nextLeaf();
  }

  prev(): boolean {
    if (!this.valid) return false;
    const d = this.tree.depth - 1;
    if (this.ix[d]! > 0) {
      this.ix[d]!--;
      return true;
    }
    for (let level = d - 1; level >= 0; level--) {
      if (this.ix[level]! > 0) {
        this.ix[level]!--;
        const child = branchChild(this.r.get(this.pg[level]!), this.ix[level]!);
        return this.descend(level + 1, child, 'last');
      }
    }
    return (this.valid = false);
  }

  /** The current key; a view that is valid until the cursor or the tree changes. */
  key(): Uint8Array {
    const d = this.tree.depth - 1;
    const p = this.r.get(this.pg[d]!);
    const off = cellOffset(p, this.ix[d]!);
    return p.subarray(off + LEAF_KEY, off + LEAF_KEY + leafKeyLen(p, off));
  }

  /** The current value; a view that is valid until the cursor or the tree changes. */
  value(): Uint8Array {
    const d = this.tree.depth - 1;
    const p = this.r.get(this.pg[d]!);
    return cellValue(this.r, p, cellOffset(p, this.ix[d]!));
  }

  private nextLeaf(): boolean {
    const d = this.tree.depth - 1;
    for (let level = d - 1; level >= 0; level--) {
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
    for (; level < t.depth; level++) {
      const p = this.r.get(pgno);
      const n = cellCount(p);
      if (n === 0) return (this.valid = false); // only an empty root leaf can be empty
      const i = end === 'first' ? 0 : n - 1;
      this.pg[level] = pgno;
      this.ix[level] = i;
      if (level < t.depth - 1) pgno = branchChild(p, i);
    }
    return (this.valid = true);
  }
}
