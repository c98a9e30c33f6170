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

/** Index of the first of `sorted` (hex) that is >= `k`, as the cursor's seek must find it. */
const lowerBound = (sorted: string[], k: string): number => {
  let i = 0;
  while (i < sorted.length && sorted[i]! < k) i++;
  return i;
};

describe('B+tree with the empty key', () => {
  // Keys of 0 to 5 bytes over {00, 01, ff}, a third of them with a 300-byte tail: the empty key,
  // keys that are prefixes of one another and keys of zero bytes are frequent, and the tails make
  // long separators, so branch pages hold few cells and the tree gets three or four levels deep.
  const keyArb = fc
    .tuple(fc.array(fc.constantFrom(0, 1, 255), { maxLength: 5 }), fc.constantFrom(0, 0, 300), fc.constantFrom(0, 1))
    .map(([head, tail, fill]) => Uint8Array.from([...head, ...new Array<number>(tail).fill(fill)]));
  const op = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyArb, vlen: fc.oneof(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 2500 })) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('del' as const), key: keyArb, vlen: fc.constant(0) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('commit' as const), key: keyArb, vlen: fc.constant(0) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('seek' as const), key: keyArb, vlen: fc.constant(0) }) },
  );

  it('matches a Map; seek and seekLE land where the model says (page 1024)', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 50, maxLength: 600, size: 'max' }), fc.boolean(), (ops, withEmpty) => {
        const store = new ToyStore(1024);
        const tree = emptyTree();
        const model = new Map<string, Uint8Array>();
        const empty = new Uint8Array(0);
        if (withEmpty) ops.unshift({ op: 'put', key: empty, vlen: 3 });
        for (const { op, key, vlen } of ops) {
          const h = hex(key);
          if (op === 'put') {
            const v = new Uint8Array(vlen).fill(key.length * 7 + 1);
            expect(put(store, tree, key, key.length, v, v.length)).toBe(!model.has(h));
            model.set(h, v);
          } else if (op === 'del') {
            expect(del(store, tree, key, key.length)).toBe(model.delete(h));
          } else if (op === 'commit') {
            store.commit();
          } else {
            const sorted = [...model.keys()].sort();
            const i = lowerBound(sorted, h);
            const c = new Cursor(store, tree);
            expect(c.seek(key, key.length)).toBe(i < sorted.length);
            if (i < sorted.length) expect(hex(c.key())).toBe(sorted[i]);
            const j = sorted[i] === h ? i : i - 1; // the last key <= key
            expect(c.seekLE(key, key.length)).toBe(j >= 0);
            if (j >= 0) expect(hex(c.key())).toBe(sorted[j]);
          }
        }
        store.assertFrozenUnchanged();
        verify(store, tree, model);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps the empty key first in a deep tree while the leftmost leaves merge away', () => {
    const store = new ToyStore(1024);
    const tree = emptyTree();
    const model = new Map<string, Uint8Array>();
    const keys: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) keys.push(enc(`k${String(i).padStart(5, '0')}`.padEnd(40, 'x')));
    const value = new Uint8Array(30).fill(7);
    for (const k of keys) {
      put(store, tree, k, k.length, value, value.length);
      model.set(hex(k), value);
    }
    store.commit();
    expect(tree.depth).toBeGreaterThan(2);
    // inserted last, it descends through cell 0 (minus infinity) of every branch; an overflow value too
    const empty = new Uint8Array(0);
    const big = new Uint8Array(5000).fill(3);
    expect(put(store, tree, empty, 0, big, big.length)).toBe(true);
    model.set('', big);
    verify(store, tree, model);
    const c = new Cursor(store, tree);
    expect(c.first() && c.key().length).toBe(0);
    expect(c.seekLE(empty, 0) && c.key().length).toBe(0);
    expect(c.seekLE(keys[0]!, keys[0]!.length) && hex(c.key())).toBe(hex(keys[0]!));
    // deleting from the left end merges the leaf that holds the empty key again and again
    for (const k of keys.slice(0, 2500)) {
      expect(del(store, tree, k, k.length)).toBe(true);
      model.delete(hex(k));
    }
    store.commit();
    verify(store, tree, model);
    expect(del(store, tree, empty, 0)).toBe(true);
    model.delete('');
    expect(c.seekLE(empty, 0)).toBe(false);
    expect(c.seek(empty, 0) && hex(c.key())).toBe(hex(keys[2500]!));
    verify(store, tree, model);
    for (const k of keys.slice(2500)) expect(del(store, tree, k, k.length)).toBe(true);
    expect(tree).toEqual(emptyTree());
  });

  it('a tree holding only the empty key', () => {
    const store = new ToyStore(1024);
    const tree = emptyTree();
    const empty = new Uint8Array(0);
    const c = new Cursor(store, tree);
    expect(c.seek(empty, 0)).toBe(false);
    expect(c.seekLE(empty, 0)).toBe(false);
    expect(put(store, tree, empty, 0, empty, 0)).toBe(true);
    expect(put(store, tree, empty, 0, enc('v'), 1)).toBe(false);
    verify(store, tree, new Map([['', enc('v')]]));
    expect(c.seek(enc('a'), 1)).toBe(false);
    expect(c.seekLE(enc('a'), 1) && c.key().length).toBe(0);
    expect(del(store, tree, empty, 0)).toBe(true);
    expect(del(store, tree, empty, 0)).toBe(false);
    expect(tree).toEqual(emptyTree());
  });
});
