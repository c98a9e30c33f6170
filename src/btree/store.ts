import type { DbInfo } from '../pages/meta.js';

/**
 * What the B+tree needs from the layer below. The tree never does I/O and never decides where a
 * page lives; a transaction implements these.
 */

/** Read access to one consistent version (a read transaction, or a write transaction's view). */
export interface PageReader {
  readonly pageSize: number;
  /** The page's bytes. For a committed page the caller must not modify them. */
  get(pgno: number): Uint8Array;
  /** The `length` bytes of a value stored in the overflow run starting at `pgno`. */
  readOverflow(pgno: number, length: number): Uint8Array;
}

/** Copy-on-write access for the one write transaction. */
export interface PageWriter extends PageReader {
  /**
   * get() for the tree's own modifications: the caller keeps no reference to the buffer once the
   * operation (one put or delete) is over, so once a commit has replaced a committed page buffer
   * that only peek() ever returned, the writer may reuse it (pages/cache.ts, "Exposure").
   * Cursors, lookups and everything else that may hand bytes out or keep them use get().
   */
  peek(pgno: number): Uint8Array;
  /**
   * Returns the number of a page with the same contents that this transaction may modify in place:
   * `pgno` itself if this transaction allocated it, else a fresh copy (and `pgno` is freed).
   */
  touch(pgno: number): number;
  /** Whether this transaction allocated `pgno` (and so may change it in place). */
  owns(pgno: number): boolean;
  /** A new zeroed page owned by this transaction. */
  allocPage(): number;
  /** Gives back a page; reusable at once if this transaction allocated it, else after the epoch rule. */
  freePage(pgno: number): void;
  /** Stores `value` in a new overflow run and returns its first page. */
  writeOverflow(value: Uint8Array, length: number): number;
  /** Frees the overflow run of a value of `length` bytes starting at `pgno`. */
  freeOverflow(pgno: number, length: number): void;
}

/** The descriptor of one tree, as stored (pages/meta.ts). Mutated only by the write transaction. */
export interface TreeInfo extends DbInfo {
  /**
   * Transient, never stored: the write transaction's hint for the append fast path (its page
   * number of the tree's rightmost leaf; undefined: none). Only a write transaction's own
   * TreeInfo objects carry it; copy a descriptor into anything that outlives the transaction
   * (a Meta) with storedTree(), and compare descriptors with sameTree().
   */
  appendLeaf?: number | undefined;
}

export function emptyTree(): TreeInfo {
  return { root: 0, depth: 0, entries: 0, branchPages: 0, leafPages: 0, overflowPages: 0 };
}

/** A copy of the stored fields of `t` (no transient hint). */
export function storedTree(t: TreeInfo): TreeInfo {
  return {
    root: t.root, depth: t.depth, entries: t.entries,
    branchPages: t.branchPages, leafPages: t.leafPages, overflowPages: t.overflowPages,
  };
}

/** Whether `a` and `b` have the same stored fields (what DbInfo on disk would hold). */
export function sameTree(a: TreeInfo, b: TreeInfo): boolean {
  return a.root === b.root && a.depth === b.depth && a.entries === b.entries
    && a.branchPages === b.branchPages && a.leafPages === b.leafPages && a.overflowPages === b.overflowPages;
}

/** The limits of keys and values that a tree with pages of a given size can store (pages/layout.ts). */
export { MAX_VALUE_SIZE, maxKeySize } from '../pages/layout.js';

export function overflowPageCount(length: number, pageSize: number): number {
  return Math.ceil((16 + length) / pageSize);
}
