/**
 * Structural check of one tree: page types per level, packed cells, keys strictly ascending
 * within and across pages, separators bounding their children, and the counts in TreeInfo.
 * Every page the tree owns is reported to `claim` so the caller can find leaks and double use.
 */
import type { PageReader, TreeInfo } from './store.js';
import { overflowPageCount } from './store.js';
import { BRANCH_KEY, BRANCH_KEYLEN, LEAF_KEY, LEAF_KEYLEN, PAGE_HEADER, PageType, SLOT_WIDTH } from '../pages/layout.js';
import { compareBytes, copyOf, u16, u32 } from '../pages/bytes.js';
import { branchChild, cellCount, cellOffset, cellSize, leafIsOverflow, leafValueLen, leafValueStart, pageType, upperOf } from '../pages/node.js';

export type Claim = (pgno: number, pages: number, owner: string) => void;

export function checkTree(r: PageReader, tree: TreeInfo, name: string, claim: Claim, problems: string[]): void {
  const counted = { entries: 0, branch: 0, leaf: 0, overflow: 0 };
  const say = (pgno: number, msg: string): void => { problems.push(`${name}: page ${pgno}: ${msg}`); };
  if (tree.root === 0) {
    if (tree.depth !== 0 || tree.entries !== 0) problems.push(`${name}: empty tree with depth ${tree.depth}, entries ${tree.entries}`);
    return;
  }
  // lo: inclusive lower bound; hi: exclusive upper bound (null = unbounded)
  const walk = (pgno: number, level: number, lo: Uint8Array | null, hi: Uint8Array | null, isRoot: boolean): void => {
    claim(pgno, 1, name);
    let p: Uint8Array;
    try {
      p = r.get(pgno);
    } catch (e) {
      say(pgno, `unreadable: ${(e as Error).message}`);
      return;
    }
    const type = pageType(p);
    const want = level > 1 ? PageType.Branch : PageType.Leaf;
    if (type !== want) return say(pgno, `type ${type}, expected ${want} at level ${level}`);
    const n = cellCount(p);
    const upper = upperOf(p);
    if (upper > p.length || upper < PAGE_HEADER + n * SLOT_WIDTH) return say(pgno, `upper ${upper} out of range for ${n} cells`);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const off = cellOffset(p, i);
      if (off < upper || off >= p.length) return say(pgno, `cell ${i} offset ${off} outside [${upper}, ${p.length})`);
      bytes += cellSize(p, off);
    }
    if (bytes !== p.length - upper) say(pgno, `cells use ${bytes} bytes but the cell area is ${p.length - upper} (not packed)`);
    if (n === 0 && !isRoot) say(pgno, 'empty non-root page');
    let prev: Uint8Array | null = null;
    const keyAt = (i: number): Uint8Array => {
      const off = cellOffset(p, i);
      return type === PageType.Leaf
        ? p.subarray(off + LEAF_KEY, off + LEAF_KEY + u16(p, off + LEAF_KEYLEN))
        : p.subarray(off + BRANCH_KEY, off + BRANCH_KEY + u16(p, off + BRANCH_KEYLEN));
    };
    for (let i = 0; i < n; i++) {
      const k = keyAt(i);
      if (type === PageType.Branch && i === 0) {
        if (k.length !== 0) say(pgno, 'branch cell 0 has a key');
        continue;
      }
      // An empty separator would leave child i-1 an empty range: the empty key belongs in child 0.
      if (type === PageType.Branch && k.length === 0) say(pgno, `branch cell ${i} has an empty separator`);
      if (prev && compareBytes(prev, 0, prev.length, k, 0, k.length) >= 0) say(pgno, `keys out of order at cell ${i}`);
      if (lo && compareBytes(k, 0, k.length, lo, 0, lo.length) < 0) say(pgno, `cell ${i} key below its separator`);
      if (hi && compareBytes(k, 0, k.length, hi, 0, hi.length) >= 0) say(pgno, `cell ${i} key not below the next separator`);
      prev = k;
    }
    if (type === PageType.Leaf) {
      counted.leaf++;
      counted.entries += n;
      for (let i = 0; i < n; i++) {
        const off = cellOffset(p, i);
        if (!leafIsOverflow(p, off)) continue;
        const first = u32(p, leafValueStart(p, off));
        const len = leafValueLen(p, off);
        const pages = overflowPageCount(len, p.length);
        claim(first, pages, `${name} overflow`);
        counted.overflow += pages;
        try {
          r.readOverflow(first, len); // verifies the run's header and its checksum
        } catch (e) {
          say(first, `overflow run unreadable: ${(e as Error).message}`);
        }
      }
      return;
    }
    counted.branch++;
    // A non-root branch with one child is legal (three cells near half a page each cannot split
    // two and two); it is merged away when its sibling shrinks.
    for (let i = 0; i < n; i++) {
      const clo = i === 0 ? lo : copyOf(keyAt(i));
      const chi = i === n - 1 ? hi : copyOf(keyAt(i + 1));
      walk(branchChild(p, i), level - 1, clo, chi, false);
    }
  };
  walk(tree.root, tree.depth, null, null, true);
  if (counted.entries !== tree.entries) problems.push(`${name}: ${counted.entries} entries in leaves, descriptor says ${tree.entries}`);
  if (counted.leaf !== tree.leafPages) problems.push(`${name}: ${counted.leaf} leaf pages, descriptor says ${tree.leafPages}`);
  if (counted.branch !== tree.branchPages) problems.push(`${name}: ${counted.branch} branch pages, descriptor says ${tree.branchPages}`);
  if (counted.overflow !== tree.overflowPages) problems.push(`${name}: ${counted.overflow} overflow pages, descriptor says ${tree.overflowPages}`);
}
