/**
 * Verifying a one-fsync commit on open (docs/design.md, "One fsync per commit"). Its root slot was
 * made durable by the same fdatasync as its pages, so after a crash the slot may be on disk while
 * some of its pages are not. The slot records how many page writes the commit made and their
 * digest; this walks exactly the pages of that version that the commit wrote and compares.
 *
 * Copy-on-write makes the walk cheap: a page written by commit T is reached only through pages
 * that T also wrote (T rewrote the whole path above it), so the walk descends only into pages
 * whose birth is T, and reads each of their children once to see its birth. A page T wrote that
 * never reached the disk shows older contents there (another birth, or a bad checksum): it is not
 * counted, and the digest differs.
 */
import type { Storage } from '../storage/storage.js';
import { Pager } from '../pages/pager.js';
import type { Meta } from '../pages/meta.js';
import { readDbInfo } from '../pages/meta.js';
import { CommitDigest } from '../pages/checksum.js';
import { u32 } from '../pages/bytes.js';
import { PAGE_CHECKSUM, PAGE_TXN, PageType, SPACEMAP_NEXT } from '../pages/layout.js';
import { branchChild, cellCount, cellOffset, leafIsOverflow, leafValueLen, leafValueStart, pageType } from '../pages/node.js';
import { RotaError } from '../errors.js';

/**
 * The pages that commit `meta` wrote (page number -> bytes as read), or null when some of them
 * are not there as it wrote them. Empty for a two-fsync commit: its pages were durable before its
 * slot was written, so there is nothing to verify.
 */
export function readCommit(storage: Storage, meta: Meta): Map<number, Uint8Array> | null {
  const want = meta.commit;
  const pages = new Map<number, Uint8Array>();
  if (want === undefined) return pages;
  const pager = new Pager(storage, meta.pageSize, 0);
  const birth = meta.txnId >>> 0;
  const digest = new CommitDigest();
  const seen = new Set<number>();
  /** Reads `pgno` and counts it if T wrote it; undefined when T did not write what is there. */
  const take = (pgno: number): Uint8Array | undefined => {
    if (pgno < meta.nRoots || pgno >= meta.highWater) throw new Mismatch();
    let p: Uint8Array;
    try {
      p = pager.read(pgno);
    } catch (e) {
      if (e instanceof RotaError) return undefined; // damaged or never written: not counted
      throw e;
    }
    pager.cache.delete(pgno); // every page is read once: caching would only hold memory
    if (u32(p, PAGE_TXN) !== birth) return undefined;
    if (seen.has(pgno) || digest.pages >= want.pages) throw new Mismatch();
    seen.add(pgno);
    pages.set(pgno, p);
    digest.add(pgno, u32(p, PAGE_CHECKSUM));
    return p;
  };
  const run = (pgno: number, length: number): void => {
    if (pgno < meta.nRoots || pgno >= meta.highWater) throw new Mismatch();
    let r: Uint8Array;
    try {
      r = pager.loadRun(pgno, length);
    } catch (e) {
      if (e instanceof RotaError) return;
      throw e;
    }
    if (u32(r, PAGE_TXN) !== birth) return;
    if (seen.has(pgno) || digest.pages >= want.pages) throw new Mismatch();
    seen.add(pgno);
    pages.set(pgno, r);
    digest.add(pgno, u32(r, PAGE_CHECKSUM));
  };
  /** The pages T wrote in the tree rooted at `root`; calls `onLeaf` for each such leaf. */
  const tree = (root: number, onLeaf?: (leaf: Uint8Array) => void): void => {
    if (root === 0) return;
    const stack = [root];
    while (stack.length > 0) {
      const p = take(stack.pop()!);
      if (p === undefined) continue;
      const n = cellCount(p);
      if (pageType(p) === PageType.Branch) {
        for (let i = 0; i < n; i++) stack.push(branchChild(p, i));
      } else if (pageType(p) === PageType.Leaf) {
        for (let i = 0; i < n; i++) {
          const off = cellOffset(p, i);
          if (leafIsOverflow(p, off)) run(u32(p, leafValueStart(p, off)), leafValueLen(p, off));
        }
        onLeaf?.(p);
      } else {
        throw new Mismatch();
      }
    }
  };
  try {
    tree(meta.main.root);
    // A named database that T changed has a new descriptor, so it is listed in a catalog leaf T wrote.
    tree(meta.catalog.root, (leaf) => {
      for (let i = 0; i < cellCount(leaf); i++) {
        const off = cellOffset(leaf, i);
        const v = leafValueStart(leaf, off);
        if (!leafIsOverflow(leaf, off) && leafValueLen(leaf, off) >= 4) tree(readDbInfo(leaf.subarray(v), 0).root);
      }
    });
    // T prepended its space-map pages to the chain (or wrote a new chain: a snapshot).
    for (let pgno = meta.spaceMapHead; pgno !== 0;) {
      const p = take(pgno);
      if (p === undefined || pageType(p) !== PageType.SpaceMap) break;
      pgno = u32(p, SPACEMAP_NEXT);
    }
  } catch (e) {
    if (e instanceof Mismatch) return null;
    throw e;
  }
  return digest.equals(want) ? pages : null;
}

/** The walk met something no whole commit can produce (a loop, a page out of range, too many pages). */
class Mismatch extends Error {}
