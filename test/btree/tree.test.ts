import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ToyStore } from '../helpers/toy-store.js';
import { del, lookup, put } from '../../src/btree/tree.js';
import { LeafCell } from '../../src/btree/leaf-cell.js';
import { emptyTree, type TreeInfo } from '../../src/btree/store.js';
import { checkTree } from '../../src/btree/check.js';
import { maxKeySize } from '../../src/pages/layout.js';
import { Cursor } from '../../src/btree/cursor.js';

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function verify(store: ToyStore, tree: TreeInfo, model: Map<string, Uint8Array>): void {
  const problems: string[] = [];
  const seen = new Map<number, string>();
  checkTree(store, tree, 'test', (pgno, n, owner) => {
    for (let i = 0; i < n; i++) {
      if (seen.has(pgno + i)) problems.push(`page ${pgno + i} claimed twice`);
      seen.set(pgno + i, owner);
    }
  }, problems);
  expect(problems).toEqual([]);
  expect(seen.size).toBe(store.pages.size + store.frozen.size - store.freedFrozen.size);
  expect(tree.entries).toBe(model.size);
  // full scan in both directions equals the sorted model
  const sorted = [...model.keys()].sort();
  const c = new Cursor(store, tree);
  const fwd: string[] = [];
  for (let ok = c.first(); ok; ok = c.next()) fwd.push(hex(c.key()));
  expect(fwd).toEqual(sorted);
  const back: string[] = [];
  for (let ok = c.last(); ok; ok = c.prev()) back.push(hex(c.key()));
  expect(back).toEqual([...sorted].reverse());
  for (const [k, v] of model) {
    const kb = Buffer.from(k, 'hex');
    const hit = new LeafCell();
    expect(lookup(store, tree, kb, kb.length, hit)).toBe(true);
    expect(hex(hit.key())).toBe(k);
    expect(hex(hit.value(store))).toBe(hex(v));
  }
}

describe('B+tree', () => {
  for (const pageSize of [1024, 4096]) {
    it(`matches a Map under random put/delete/commit (page ${pageSize})`, () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.oneof(
              fc.record({ op: fc.constant('put' as const), k: fc.integer({ min: 0, max: 400 }), vlen: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 3 * pageSize })), klen: fc.integer({ min: 1, max: 40 }) }),
              fc.record({ op: fc.constant('del' as const), k: fc.integer({ min: 0, max: 400 }), vlen: fc.constant(0), klen: fc.integer({ min: 1, max: 40 }) }),
              fc.record({ op: fc.constant('commit' as const), k: fc.constant(0), vlen: fc.constant(0), klen: fc.constant(1) }),
            ),
            { minLength: 100, maxLength: 800, size: 'max' },
          ),
          (ops) => {
            const store = new ToyStore(pageSize);
            const tree = emptyTree();
            const model = new Map<string, Uint8Array>();
            for (const { op, k, vlen, klen } of ops) {
              const key = enc(String(k).padStart(klen, '0'));
              if (op === 'put') {
                const v = new Uint8Array(vlen).fill(k & 255);
                const isNew = put(store, tree, key, key.length, v, v.length);
                expect(isNew).toBe(!model.has(hex(key)));
                model.set(hex(key), v);
              } else if (op === 'del') {
                expect(del(store, tree, key, key.length)).toBe(model.delete(hex(key)));
              } else {
                store.commit();
              }
            }
            store.assertFrozenUnchanged();
            verify(store, tree, model);
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('ascending inserts leave leaves full (append split)', () => {
    const store = new ToyStore(4096);
    const tree = emptyTree();
    const model = new Map<string, Uint8Array>();
    const v = new Uint8Array(100);
    for (let i = 0; i < 20000; i++) {
      const key = enc(String(i).padStart(16, '0'));
      put(store, tree, key, key.length, v, v.length);
      model.set(hex(key), v);
    }
    verify(store, tree, model);
    const perLeaf = Math.floor((4096 - 16) / (7 + 16 + 100 + 2));
    expect(tree.leafPages).toBe(Math.ceil(20000 / perLeaf));
  });

  it('deleting everything shrinks the tree to nothing and frees every page', () => {
    const store = new ToyStore(1024);
    const tree = emptyTree();
    const keys: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) {
      const key = enc(`k${(i * 7919) % 3000}`.padEnd(30, 'x'));
      keys.push(key);
      put(store, tree, key, key.length, key, key.length);
    }
    store.commit();
    expect(tree.depth).toBeGreaterThan(2);
    for (const k of keys) expect(del(store, tree, k, k.length)).toBe(true);
    expect(tree).toEqual(emptyTree());
    expect(store.pages.size).toBe(0);
    expect(store.freedFrozen.size).toBe(store.frozen.size);
  });

  it('handles keys at the size limit in branch pages', () => {
    for (const pageSize of [1024, 4096]) {
      const store = new ToyStore(pageSize);
      const tree = emptyTree();
      const model = new Map<string, Uint8Array>();
      const max = maxKeySize(pageSize);
      for (let i = 0; i < 300; i++) {
        const key = new Uint8Array(i % 3 === 0 ? max : 1 + (i % 50)).fill(65 + (i % 26));
        key[key.length - 1] = i & 255;
        key[0] = (i * 37) & 255;
        const v = new Uint8Array(i % 5 === 0 ? pageSize * 2 : 10).fill(i & 255);
        put(store, tree, key, key.length, v, v.length);
        model.set(hex(key), v);
      }
      verify(store, tree, model);
      let n = 0;
      for (const k of [...model.keys()]) {
        if (n++ % 2) continue;
        const kb = Buffer.from(k, 'hex');
        expect(del(store, tree, kb, kb.length)).toBe(true);
        model.delete(k);
      }
      verify(store, tree, model);
    }
  });
});
