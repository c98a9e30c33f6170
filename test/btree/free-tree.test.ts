/**
 * freeTree (btree/free-tree.ts) on the toy store: every page of a tree (branches, leaves,
 * overflow runs) is freed exactly once, committed pages through the copy-on-write path (the
 * store records them as freed, and throws on a double free), own pages at once.
 */
import { describe, expect, it } from 'vitest';
import { ToyStore } from '../helpers/toy-store.js';
import { put } from '../../src/btree/tree.js';
import { emptyTree, type TreeInfo } from '../../src/btree/store.js';
import { freeTree } from '../../src/btree/free-tree.js';
import { checkTree } from '../../src/btree/check.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** A tree of `n` entries, every 7th with a value large enough for an overflow run. */
function build(store: ToyStore, n: number): TreeInfo {
  const tree = emptyTree();
  for (let i = 0; i < n; i++) {
    const k = enc(`key-${String(i).padStart(6, '0')}`);
    const v = i % 7 === 0 ? new Uint8Array(3000).fill(i & 0xff) : enc(`value-${i}`);
    put(store, tree, k, k.length, v, v.length);
  }
  return tree;
}

/** Every page `tree` owns, by the checker's walk. */
function pagesOf(store: ToyStore, tree: TreeInfo): Set<number> {
  const seen = new Set<number>();
  const problems: string[] = [];
  checkTree(store, tree, 'test', (pgno, n) => {
    for (let i = 0; i < n; i++) seen.add(pgno + i);
  }, problems);
  expect(problems).toEqual([]);
  return seen;
}

describe('freeTree', () => {
  it('frees every page of a committed multi-level tree with overflow values, each once', () => {
    const store = new ToyStore(1024);
    const tree = build(store, 2000);
    expect(tree.depth).toBeGreaterThanOrEqual(3);
    expect(tree.overflowPages).toBeGreaterThan(0);
    store.commit();
    const owned = pagesOf(store, tree);
    expect(owned.size).toBe(tree.branchPages + tree.leafPages + tree.overflowPages);
    const n = freeTree(store, tree);
    expect(n).toBe(owned.size);
    expect([...store.freedFrozen].sort((a, b) => a - b)).toEqual([...owned].sort((a, b) => a - b));
    expect(tree).toMatchObject({ root: 0, depth: 0, entries: 0, branchPages: 0, leafPages: 0, overflowPages: 0 });
    store.assertFrozenUnchanged();
  });

  it('frees the pages a transaction allocated at once (nothing left behind)', () => {
    const store = new ToyStore(1024);
    const tree = build(store, 500);
    expect(store.pages.size).toBeGreaterThan(0);
    freeTree(store, tree);
    expect(store.pages.size).toBe(0);
    expect(store.freedFrozen.size).toBe(0);
  });

  it('frees a mix: a committed tree partly rewritten since', () => {
    const store = new ToyStore(1024);
    const tree = build(store, 800);
    store.commit();
    for (let i = 0; i < 800; i += 50) {
      const k = enc(`key-${String(i).padStart(6, '0')}`);
      const v = enc('changed');
      put(store, tree, k, k.length, v, v.length);
    }
    const committedLive = [...pagesOf(store, tree)].filter((p) => store.frozen.has(p) && !store.pages.has(p));
    const alreadyFreed = store.freedFrozen.size;
    freeTree(store, tree);
    expect(store.pages.size).toBe(0);
    expect(store.freedFrozen.size).toBe(alreadyFreed + committedLive.length);
  });

  it('an empty tree frees nothing', () => {
    const store = new ToyStore(1024);
    const tree = emptyTree();
    expect(freeTree(store, tree)).toBe(0);
  });
});
