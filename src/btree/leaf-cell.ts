/**
 * One cell of a leaf page, as lookup() finds it or a Cursor stands on it: the page's buffer and
 * the cell's offset in it, with the accessors for its key and value. Callers above the tree read
 * cells only through this class, so they never depend on the cell layout (pages/layout.ts).
 *
 * Offsets refer to `page`: a committed page never changes, so they stay valid as long as the
 * caller holds it; a write transaction's own (dirty) pages change in place, so there they are
 * valid only until the next change to the tree. `page`, `cell` and `keyEnd` are set together,
 * by at() only.
 */
import type { PageReader } from './store.js';
import { LEAF_KEY } from '../pages/layout.js';
import { compareBytes, copyOf, u32 } from '../pages/bytes.js';
import { leafIsOverflow, leafKeyLen, leafValueLen } from '../pages/node.js';

const NO_PAGE = new Uint8Array(0);

export class LeafCell {
  /** The leaf page's buffer (a Buffer for pages of a real file: pages/pager.ts, txn/write.ts). */
  page: Uint8Array = NO_PAGE;
  /** Offset of the cell in `page`. */
  cell = 0;
  /** End offset of the key in `page` (read once per position: every accessor below needs it). */
  keyEnd = 0;

  /** Positions on the cell at offset `cell` of the leaf `page`. */
  at(page: Uint8Array, cell: number): void {
    this.page = page;
    this.cell = cell;
    this.keyEnd = cell + LEAF_KEY + leafKeyLen(page, cell);
  }

  /** Offset of the key in `page`. */
  get keyStart(): number {
    return this.cell + LEAF_KEY;
  }

  /** The key; a view of the page (see the class comment for how long it stays valid). */
  key(): Uint8Array {
    return this.page.subarray(this.keyStart, this.keyEnd);
  }

  /** A copy of the key. */
  copyKey(): Uint8Array {
    return copyOf(this.page, this.keyStart, this.keyEnd);
  }

  /** Unsigned byte order of this cell's key against key[0, klen): negative, zero or positive. */
  compareKey(key: Uint8Array, klen = key.length): number {
    return compareBytes(this.page, this.keyStart, this.keyEnd, key, 0, klen);
  }

  /** Whether the value lives in an overflow run (then valueStart/valueEnd do not delimit it). */
  get isOverflow(): boolean {
    return leafIsOverflow(this.page, this.cell);
  }

  /** Length of the value in bytes, inline or not. */
  get valueLength(): number {
    return leafValueLen(this.page, this.cell);
  }

  /** Offset in `page` of the inline value (it follows the key; for an overflow value, its first page number). */
  get valueStart(): number {
    return this.keyEnd;
  }

  /** End offset in `page` of the inline value. */
  get valueEnd(): number {
    return this.keyEnd + leafValueLen(this.page, this.cell);
  }

  /**
   * The value: a view of the page when inline, else read from its overflow run through `r` (the
   * reader the page was read with).
   */
  value(r: PageReader): Uint8Array {
    const start = this.keyEnd;
    const len = leafValueLen(this.page, this.cell);
    if (leafIsOverflow(this.page, this.cell)) return r.readOverflow(u32(this.page, start), len);
    return this.page.subarray(start, start + len);
  }
}
