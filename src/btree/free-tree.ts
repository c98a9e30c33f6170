/**
 * Frees every page of a tree: its branches, its leaves and the overflow runs of its values, each
 * exactly once, and leaves the descriptor empty. Used to clear or drop a database (api/). Pages
 * the writer allocated are reusable at once; committed ones go pending under the writer's id
 * (PageWriter.freePage), so readers of older versions keep them until the epoch rule allows reuse.
 *
 * The walk is depth-first, each branch read before its children are freed, so no freed page is
 * read again; the depth of each page is checked against the descriptor (assertNodeType) so that a
 * damaged tree fails as ROTA_CORRUPT rather than freeing the wrong pages.
 */
import { overflowPageCount, type PageWriter, type TreeInfo } from './store.js';
import { branchChild, cellCount, cellOffset, leafIsOverflow, leafValueLen, leafValueStart } from '../pages/node.js';
import { u32 } from '../pages/bytes.js';
import { assertNodeType } from '../pages/validate.js';

/** Frees all of `tree`'s pages through `w`, then empties `tree` in place. Returns the pages freed. */
export function freeTree(w: PageWriter, tree: TreeInfo): number {
  let freed = 0;
  const walk = (pgno: number, level: number): void => {
    const p = w.peek(pgno); // read here and not kept
    assertNodeType(p, pgno, level);
    const n = cellCount(p);
    if (level > 1) {
      const children: number[] = [];
      for (let i = 0; i < n; i++) children.push(branchChild(p, i));
      for (const c of children) walk(c, level - 1);
    } else {
      for (let i = 0; i < n; i++) {
        const off = cellOffset(p, i);
        if (!leafIsOverflow(p, off)) continue;
        const len = leafValueLen(p, off);
        const first = u32(p, leafValueStart(p, off));
        w.freeOverflow(first, len);
        freed += overflowPageCount(len, w.pageSize);
      }
    }
    // The page's bytes were fully read above: freeing it may drop an own page's buffer.
    w.freePage(pgno);
    freed++;
  };
  if (tree.root !== 0) walk(tree.root, tree.depth);
  tree.root = 0;
  tree.depth = 0;
  tree.entries = 0;
  tree.branchPages = 0;
  tree.leafPages = 0;
  tree.overflowPages = 0;
  tree.appendLeaf = undefined;
  return freed;
}
