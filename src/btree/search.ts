/**
 * Binary search inside one branch or leaf page, directly on its bytes.
 *
 * Both searches track how many leading bytes the search key shares with the keys at the two
 * ends of the remaining interval; every key between them shares at least the smaller of the two,
 * so comparisons start there. Keys with a long common prefix (counters, timestamps, paths) are
 * the usual case, and this skips re-reading that prefix at every step.
 *
 * The same holds across levels: the key shares at least `branchLcp(r)` bytes with both separators
 * that bound the chosen child, hence with every key in that child, so the child's search may start
 * with that (pass it as `lcp0`; 0 at the root).
 */
import { BRANCH_KEY, BRANCH_KEYLEN, LEAF_KEY, LEAF_KEYLEN, SLOT_ARRAY } from '../pages/layout.js';

/**
 * Lower bound in a leaf: the index of the first key >= `key`, times two, plus one when that key
 * equals `key` (packed into one number so the hot path allocates nothing).
 */
export function leafSearch(p: Uint8Array, key: Uint8Array, klen: number, lcp0 = 0): number {
  let lo = 0;
  let hi = p[6]! | (p[7]! << 8);
  let loLcp = lcp0; // prefix shared with the key just below the interval
  let hiLcp = lcp0; // prefix shared with the key just above it
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const so = SLOT_ARRAY + 2 * mid;
    const off = p[so]! | (p[so + 1]! << 8);
    const plen = p[off + LEAF_KEYLEN]! | (p[off + LEAF_KEYLEN + 1]! << 8);
    const start = off + LEAF_KEY;
    const n = klen < plen ? klen : plen;
    let i = loLcp < hiLcp ? loLcp : hiLcp;
    while (i < n && key[i] === p[start + i]) i++;
    const c = i < n ? key[i]! - p[start + i]! : klen - plen;
    if (c === 0) return (mid << 1) | 1;
    if (c > 0) {
      lo = mid + 1;
      loLcp = i;
    } else {
      hi = mid;
      hiLcp = i;
    }
  }
  return lo << 1;
}

/**
 * The child whose range holds `key` (the last cell whose key is <= `key`; cell 0 is minus
 * infinity) and the prefix the key shares with every key of that child, packed into one number so
 * the hot path allocates nothing: read them with branchIndex() and branchLcp(). Both fit: a page
 * has fewer than 2^16 cells, and a key is shorter than 2^15 bytes (maxKeySize at 64 KiB pages).
 */
export function branchSearch(p: Uint8Array, key: Uint8Array, klen: number, lcp0 = 0): number {
  let lo = 1;
  let hi = p[6]! | (p[7]! << 8);
  let loLcp = lcp0;
  let hiLcp = lcp0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const so = SLOT_ARRAY + 2 * mid;
    const off = p[so]! | (p[so + 1]! << 8);
    const plen = p[off + BRANCH_KEYLEN]! | (p[off + BRANCH_KEYLEN + 1]! << 8);
    const start = off + BRANCH_KEY;
    const n = klen < plen ? klen : plen;
    let i = loLcp < hiLcp ? loLcp : hiLcp;
    while (i < n && key[i] === p[start + i]) i++;
    const c = i < n ? key[i]! - p[start + i]! : klen - plen;
    if (c >= 0) {
      lo = mid + 1;
      loLcp = i;
    } else {
      hi = mid;
      hiLcp = i;
    }
  }
  return ((loLcp < hiLcp ? loLcp : hiLcp) << 16) | (lo - 1);
}

/** The child index of a branchSearch() result. */
export function branchIndex(r: number): number {
  return r & 0xffff;
}

/** The common-prefix length of a branchSearch() result. */
export function branchLcp(r: number): number {
  return r >>> 16;
}
