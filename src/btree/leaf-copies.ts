/**
 * Inline values of a scan over committed (immutable) leaves, as Buffers that never alias a page.
 * The first value taken from a leaf is copied on its own; from the second one on, the leaf's cell
 * area is copied once and values are views of that copy: one allocation and one copy per leaf
 * instead of per value. The views of one copy never overlap. Like a Buffer from
 * Buffer.allocUnsafe's pool, a value keeps the whole copy alive.
 *
 * Only for committed pages: a write transaction's own pages change in place, and a copy taken
 * before a change would hand out stale values after it.
 */
import type { LeafCell } from './leaf-cell.js';
import { upperOf } from '../pages/node.js';

const NO_PAGE = Buffer.alloc(0);

export class LeafCopies {
  private seen: Uint8Array = NO_PAGE;
  private from: Uint8Array = NO_PAGE;
  private start = 0;
  private copy: Buffer = NO_PAGE;

  /** A copy of the inline value of `at` (not an overflow value), a cell of a committed leaf. */
  take(at: LeafCell): Buffer {
    const page = at.page as Buffer; // pages of a file are Buffers (pages/pager.ts)
    const start = at.valueStart;
    const end = at.valueEnd;
    if (page !== this.from) {
      const upper = upperOf(page);
      if (page !== this.seen || start < upper) {
        this.seen = page;
        const out = Buffer.allocUnsafe(end - start);
        page.copy(out, 0, start, end);
        return out;
      }
      this.from = page;
      this.start = upper;
      this.copy = Buffer.allocUnsafe(page.length - upper);
      page.copy(this.copy, 0, upper);
    }
    return this.copy.subarray(start - this.start, end - this.start);
  }
}
