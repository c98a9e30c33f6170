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
export interface TreeInfo extends DbInfo {}

export function emptyTree(): TreeInfo {
  return { root: 0, depth: 0, entries: 0, branchPages: 0, leafPages: 0, overflowPages: 0 };
}

export function overflowPageCount(length: number, pageSize: number): number {
  return Math.ceil((16 + length) / pageSize);
}
