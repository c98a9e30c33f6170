/**
 * The tree's read API without module state: branchSearch's packed result, lookup() into a
 * caller-owned LeafCell, the Cursor's cell accessors, and the append hint, which lives on the
 * write transaction's TreeInfo and must never reach a committed version.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ToyStore } from '../helpers/toy-store.js';
import { expectClean, openMem } from '../helpers/db.js';
import { lookup, put } from '../../src/btree/tree.js';
import { LeafCell } from '../../src/btree/leaf-cell.js';
import { Cursor } from '../../src/btree/cursor.js';
import { branchIndex, branchLcp, branchSearch } from '../../src/btree/search.js';
import { emptyTree, sameTree, storedTree, type TreeInfo } from '../../src/btree/store.js';
import { branchChild, branchKeyLen, cellCount, cellOffset, leafKeyLen } from '../../src/pages/node.js';
import { BRANCH_KEY, LEAF_KEY, maxCellSize } from '../../src/pages/layout.js';

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Every key under page `pgno` (a subtree of `levels` levels), in order. */
function keysUnder(store: ToyStore, pgno: number, levels: number): Uint8Array[] {
  const p = store.get(pgno);
  const out: Uint8Array[] = [];
  for (let i = 0; i < cellCount(p); i++) {
    if (levels > 1) out.push(...keysUnder(store, branchChild(p, i), levels - 1));
    else {
      const off = cellOffset(p, i);
      out.push(p.slice(off + LEAF_KEY, off + LEAF_KEY + leafKeyLen(p, off)));
    }
  }
  return out;
}

/** A tree of keys with long shared prefixes (the case the prefix skipping is for), and its keys. */
function prefixTree(n: number, pageSize = 1024): { store: ToyStore; tree: TreeInfo; keys: Uint8Array[] } {
  const store = new ToyStore(pageSize);
  const tree = emptyTree();
  const keys: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const k = enc(`user/${String((i * 7919) % n).padStart(8, '0')}/profile/${i % 7}`);
    keys.push(k);
    put(store, tree, k, k.length, k, k.length);
  }
  return { store, tree, keys };
}

describe('branchSearch', () => {
  const { store, tree } = prefixTree(3000);
  const root = store.get(tree.root);
  const children = Array.from({ length: cellCount(root) }, (_, i) => keysUnder(store, branchChild(root, i), tree.depth - 1));
  const seps = Array.from({ length: cellCount(root) }, (_, i) => {
    const off = cellOffset(root, i);
    return root.subarray(off + BRANCH_KEY, off + BRANCH_KEY + branchKeyLen(root, off));
  });

  it('returns the child holding the key and a prefix every key of that child shares', () => {
    expect(tree.depth).toBeGreaterThan(2);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3100 }), fc.string({ maxLength: 12 }), (i, tail) => {
        const key = enc(`user/${String(i).padStart(8, '0')}${tail}`);
        const r = branchSearch(root, key, key.length);
        const ci = branchIndex(r);
        expect(ci).toBeLessThan(children.length);
        const below = children[ci]!;
        // child i holds [separator i, separator i + 1); separator 0 is minus infinity
        if (ci > 0) expect(Buffer.compare(seps[ci]!, key)).toBeLessThanOrEqual(0);
        if (ci + 1 < seps.length) expect(Buffer.compare(key, seps[ci + 1]!)).toBeLessThan(0);
        for (const k of below) expect(commonPrefix(key, k)).toBeGreaterThanOrEqual(branchLcp(r));
      }),
      { numRuns: 300 },
    );
  });

  it('packs the prefix of the longest keys without touching the index', () => {
    // 32747 bytes is the longest key at 64 KiB pages: the packed prefix must survive it
    const r = (32747 << 16) | 65535;
    expect(branchIndex(r)).toBe(65535);
    expect(branchLcp(r)).toBe(32747);
  });
});

describe('lookup into a LeafCell', () => {
  it('points the hit at the cell, inline or overflow, and leaves it alone on a miss', () => {
    const store = new ToyStore(1024);
    const tree = emptyTree();
    const big = new Uint8Array(5000).map((_, i) => i & 255);
    const small = enc('a small value');
    put(store, tree, enc('big'), 3, big, big.length);
    put(store, tree, enc('small'), 5, small, small.length);
    const hit = new LeafCell();

    expect(lookup(store, tree, enc('big'), 3, hit)).toBe(true);
    expect(hit.isOverflow).toBe(true);
    expect(hit.valueLength).toBe(5000);
    expect(hex(hit.value(store))).toBe(hex(big));

    expect(lookup(store, tree, enc('small'), 5, hit)).toBe(true);
    expect(hit.isOverflow).toBe(false);
    expect(hex(hit.page.subarray(hit.valueStart, hit.valueEnd))).toBe(hex(small));
    expect(hex(hit.value(store))).toBe(hex(small));
    expect(hex(hit.page.subarray(hit.keyStart, hit.keyEnd))).toBe(hex(enc('small')));

    const { page, cell } = hit;
    expect(lookup(store, tree, enc('smal'), 4, hit)).toBe(false);
    expect(lookup(store, emptyTree(), enc('small'), 5, hit)).toBe(false);
    expect(hit.page).toBe(page);
    expect(hit.cell).toBe(cell);
  });

  it('compares and copies the key', () => {
    const store = new ToyStore(1024);
    const tree = emptyTree();
    put(store, tree, enc('mango'), 5, enc('v'), 1);
    const hit = new LeafCell();
    expect(lookup(store, tree, enc('mango'), 5, hit)).toBe(true);
    expect(hit.compareKey(enc('mango'))).toBe(0);
    expect(hit.compareKey(enc('mangoes'))).toBeLessThan(0);
    expect(hit.compareKey(enc('mangoes'), 5)).toBe(0);
    expect(hit.compareKey(enc('man'))).toBeGreaterThan(0);
    expect(hit.compareKey(enc('apple'))).toBeGreaterThan(0);
    expect(hit.compareKey(enc('melon'))).toBeLessThan(0);
    const copy = hit.copyKey();
    hit.page[hit.keyStart] = 0x5a; // the copy must not see a change to the page
    expect(Buffer.from(copy).toString()).toBe('mango');
    expect(Buffer.from(hit.key()).toString()).toBe('Zango');
  });
});

describe('Cursor cell accessors', () => {
  it('agree with lookup on every entry, both directions, inline and overflow', () => {
    const store = new ToyStore(1024);
    const tree = emptyTree();
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < 400; i++) {
      const k = enc(`k${String((i * 31) % 400).padStart(4, '0')}`);
      const v = new Uint8Array(i % 9 === 0 ? 1500 : i % 40).fill(i & 255);
      put(store, tree, k, k.length, v, v.length);
      model.set(hex(k), v);
    }
    const c = new Cursor(store, tree);
    const hit = new LeafCell();
    let n = 0;
    for (let ok = c.first(); ok; ok = c.next(), n++) {
      const k = c.key();
      expect(hex(c.page.subarray(c.keyStart, c.keyEnd))).toBe(hex(k));
      expect(lookup(store, tree, k, k.length, hit)).toBe(true);
      expect(hit.page).toBe(c.page);
      expect(hit.cell).toBe(c.cell);
      const v = model.get(hex(k))!;
      expect(c.isOverflow).toBe(v.length > maxCellSize(1024) - 7 - k.length);
      if (!c.isOverflow) expect(hex(c.page.subarray(c.valueStart, c.valueEnd))).toBe(hex(v));
      expect(hex(c.value())).toBe(hex(v));
      expect(hex(c.value(store))).toBe(hex(v));
    }
    expect(n).toBe(400);
    const back: string[] = [];
    for (let ok = c.last(); ok; ok = c.prev()) back.push(hex(c.copyKey()));
    expect(back).toEqual([...model.keys()].sort().reverse());
  });

  it('seekLE lands on the last key <= the probe', () => {
    const { store, tree, keys } = prefixTree(500);
    const sorted = keys.map((k) => Buffer.from(k)).sort(Buffer.compare);
    const c = new Cursor(store, tree);
    for (const probe of [sorted[0]!, sorted[250]!, Buffer.concat([sorted[250]!, Buffer.from([0])]), sorted[499]!, Buffer.from('zzz')]) {
      expect(c.seekLE(probe, probe.length)).toBe(true);
      expect(c.compareKey(probe)).toBeLessThanOrEqual(0);
      const at = sorted.findIndex((k) => Buffer.compare(k, Buffer.from(c.key())) === 0);
      if (at + 1 < sorted.length) expect(Buffer.compare(sorted[at + 1]!, probe)).toBeGreaterThan(0);
    }
    expect(c.seekLE(Buffer.from('a'), 1)).toBe(false);
  });
});

describe('the append hint', () => {
  it('is not a stored field: storedTree drops it, sameTree ignores it', () => {
    const t: TreeInfo = { root: 7, depth: 2, entries: 90, branchPages: 1, leafPages: 3, overflowPages: 4, appendLeaf: 12 };
    const s = storedTree(t);
    expect(Object.keys(s).sort()).toEqual(['branchPages', 'depth', 'entries', 'leafPages', 'overflowPages', 'root']);
    expect(s).toEqual({ root: 7, depth: 2, entries: 90, branchPages: 1, leafPages: 3, overflowPages: 4 });
    expect(sameTree(t, s)).toBe(true);
    for (const f of ['root', 'depth', 'entries', 'branchPages', 'leafPages', 'overflowPages'] as const) {
      expect(sameTree(t, { ...s, [f]: s[f] + 1 })).toBe(false);
    }
  });

  it('stays on the write transaction and never reaches a committed version', () => {
    const db = openMem({ pageSize: 1024 });
    const users = db.openDB('users');
    const stored = ['branchPages', 'depth', 'entries', 'leafPages', 'overflowPages', 'root'];
    for (let round = 0; round < 3; round++) {
      const txn = db.beginWrite();
      for (let i = 0; i < 300; i++) {
        txn.put(`k${round}-${String(i).padStart(5, '0')}`, i);
        txn.put(`u${round}-${String(i).padStart(5, '0')}`, i, users);
      }
      expect(txn.txn.main.appendLeaf).toBeGreaterThan(0);
      expect(txn.txn.tree('users').appendLeaf).toBeGreaterThan(0);
      txn.commit();
      const meta = db.env.current;
      expect(Object.keys(meta.main).sort()).toEqual(stored);
      expect(Object.keys(meta.catalog).sort()).toEqual(stored);
      // the next transaction starts from the committed descriptors: no hint of the last one
      const next = db.beginWrite();
      expect(next.txn.main.appendLeaf).toBeUndefined();
      expect(next.txn.tree('users').appendLeaf).toBeUndefined();
      next.abort();
    }
    expect(users.getRange().asArray.length).toBe(900);
    expect(db.getKeys().asArray.length).toBe(900);
    expectClean(db);
  });

  it('a named database only read in a write transaction is not written back', () => {
    const db = openMem();
    const a = db.openDB('a');
    a.putSync('x', 1);
    const before = db.env.current.catalog;
    const txn = db.beginWrite();
    expect(txn.get('x', a)).toBe(1);
    txn.put('y', 2); // the main database changes, 'a' does not
    txn.commit();
    expect(db.env.current.catalog).toEqual(before);
    expectClean(db);
  });
});
