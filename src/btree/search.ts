/** Binary search inside one branch or leaf page, directly on its bytes. */
import { BRANCH_KEY, BRANCH_KEYLEN, LEAF_KEY, LEAF_KEYLEN, SLOT_ARRAY } from '../pages/layout.js';

/**
 * Lower bound in a leaf: the index of the first key >= `key`, times two, plus one when that key
 * equals `key` (packed into one number so the hot path allocates nothing).
 */
export function leafSearch(p: Uint8Array, key: Uint8Array, klen: number): number {
  let lo = 0;
  let hi = p[6]! | (p[7]! << 8);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const so = SLOT_ARRAY + 2 * mid;
    const off = p[so]! | (p[so + 1]! << 8);
    const plen = p[off + LEAF_KEYLEN]! | (p[off + LEAF_KEYLEN + 1]! << 8);
    const c = cmp(key, klen, p, off + LEAF_KEY, plen);
    if (c === 0) return (mid << 1) | 1;
    if (c > 0) lo = mid + 1;
    else hi = mid;
  }
  return lo << 1;
}

/** The index of the child whose range holds `key`: the last cell whose key is <= `key` (cell 0 is minus infinity). */
export function branchSearch(p: Uint8Array, key: Uint8Array, klen: number): number {
  let lo = 1;
  let hi = p[6]! | (p[7]! << 8);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const so = SLOT_ARRAY + 2 * mid;
    const off = p[so]! | (p[so + 1]! << 8);
    const plen = p[off + BRANCH_KEYLEN]! | (p[off + BRANCH_KEYLEN + 1]! << 8);
    if (cmp(key, klen, p, off + BRANCH_KEY, plen) >= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Compares key[0, klen) with p[start, start + plen), unsigned bytewise. */
function cmp(key: Uint8Array, klen: number, p: Uint8Array, start: number, plen: number): number {
  const n = klen < plen ? klen : plen;
  for (let i = 0; i < n; i++) {
    const d = key[i]! - p[start + i]!;
    if (d !== 0) return d;
  }
  return klen - plen;
}
