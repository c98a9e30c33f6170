/**
 * Model-based test of the whole store: random sequences of put, remove, range, commit, abort,
 * reopen, and a long-lived reader, against a Map. Across page sizes and nRoots, and both slot
 * policies. Checks: contents and ranges equal the model, the reader sees its snapshot only, the
 * writer blocks exactly when it reaches the reader's slot ('rotate': writer reader + nRoots;
 * 'oldest-unpinned' with nRoots >= 3: never, one reader pins one slot of the nRoots - 1 it may
 * take), and check() passes after every reopen and at the end.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { open, type RootDatabase, type ReadTransaction, type WriteTransaction } from '../src/index.js';
import type { SlotPolicy } from '../src/sync/writer.js';
import { MemoryStorage } from '../src/storage/memory.js';

type Cmd =
  | { t: 'put'; k: number; size: number }
  | { t: 'remove'; k: number }
  | { t: 'begin' }
  | { t: 'commit' }
  | { t: 'abort' }
  | { t: 'range'; a: number; b: number; reverse: boolean; limit: number }
  | { t: 'reopen' }
  | { t: 'reader' }
  | { t: 'endReader' };

const key = (k: number) => `k${String(k).padStart(4, '0')}`;
const valueOf = (k: number, size: number, salt: number) => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 97) b[i] = (k + salt + i) & 255;
  return b;
};

function sortedEntries(m: Map<string, Buffer>, a: string, b: string, reverse: boolean, limit: number) {
  let keys = [...m.keys()].sort();
  keys = reverse ? keys.filter((k) => k <= a && k > b).reverse() : keys.filter((k) => k >= a && k < b);
  return keys.slice(0, limit).map((k) => [k, m.get(k)!.toString('hex')]);
}

function run(pageSize: number, nRoots: number, cmds: Cmd[], slotPolicy: SlotPolicy = 'rotate'): void {
  let storage = new MemoryStorage();
  const opts = { pageSize, nRoots, slotPolicy, encoding: 'binary' as const, cacheSize: 64 * pageSize };
  /** Whether writer `next` must wait for the one reader (pinned on version `pinned`). */
  const blockedAt = (next: number, pinned: number) => (slotPolicy === 'rotate' || nRoots <= 2) && next === pinned + nRoots;
  let db: RootDatabase<Buffer> = open({ storage, ...opts });
  let committed = new Map<string, Buffer>();
  let working = new Map<string, Buffer>();
  let txn = null as WriteTransaction | null; // (cast: assigned in a closure, so no narrowing to null)
  let reader = null as { r: ReadTransaction; model: Map<string, Buffer> } | null;
  let salt = 0;
  const content = (r: { getRange(o?: object): Iterable<{ key: unknown; value: Buffer }> }) =>
    [...r.getRange()].map((e) => [e.key as string, e.value.toString('hex')]);
  const expectModel = (m: Map<string, Buffer>, actual: unknown) => expect(actual).toEqual(sortedEntries(m, '', '~', false, Infinity));
  const clean = () => {
    const rep = db.check();
    expect(rep.problems).toEqual([]);
  };
  /** Begins a write; returns false when the blocking rule says it must not start. */
  const tryBegin = (): boolean => {
    const next = db.stats().txnId + 1;
    const mustBlock = reader !== null && blockedAt(next, reader.r.txnId);
    if (mustBlock) {
      expect(() => db.beginWrite()).toThrow(expect.objectContaining({ code: 'ROTA_WOULD_DEADLOCK' }));
      return false;
    }
    txn = db.beginWrite();
    return true;
  };

  for (const c of cmds) {
    switch (c.t) {
      case 'begin':
        if (txn === null) tryBegin();
        break;
      case 'put':
      case 'remove': {
        const k = key(c.k);
        if (txn === null) {
          // an autocommitted single write: blocked exactly like a transaction
          const next = db.stats().txnId + 1;
          if (reader !== null && blockedAt(next, reader.r.txnId)) {
            expect(() => (c.t === 'put' ? db.putSync(k, Buffer.alloc(1)) : db.removeSync(k))).toThrow(expect.objectContaining({ code: 'ROTA_WOULD_DEADLOCK' }));
            break;
          }
          if (c.t === 'put') {
            const v = valueOf(c.k, c.size, salt++);
            expect(db.putSync(k, v)).toBe(!committed.has(k));
            committed.set(k, v);
          } else {
            expect(db.removeSync(k)).toBe(committed.delete(k));
          }
          working = new Map(committed);
        } else if (c.t === 'put') {
          const v = valueOf(c.k, c.size, salt++);
          expect(txn.put(k, v)).toBe(!working.has(k));
          working.set(k, v);
        } else {
          expect(txn.remove(k)).toBe(working.delete(k));
        }
        break;
      }
      case 'commit':
        if (txn) {
          txn.commit();
          txn = null;
          committed = new Map(working);
        }
        break;
      case 'abort':
        if (txn) {
          txn.abort();
          txn = null;
          working = new Map(committed);
        }
        break;
      case 'range': {
        const [a, b] = c.reverse ? [key(Math.max(c.a, c.b)), key(Math.min(c.a, c.b))] : [key(Math.min(c.a, c.b)), key(Math.max(c.a, c.b))];
        const src = txn ?? db;
        const got = [...src.getRange({ start: a, end: b, reverse: c.reverse, limit: c.limit })].map((e) => [e.key, e.value.toString('hex')]);
        expect(got).toEqual(sortedEntries(txn ? working : committed, a, b, c.reverse, c.limit));
        break;
      }
      case 'reader':
        if (reader === null && !(nRoots === 1 && txn)) reader = { r: db.beginRead(), model: new Map(committed) };
        break;
      case 'endReader':
        if (reader) {
          expectModel(reader.model, content(reader.r));
          reader.r.end();
          reader = null;
        }
        break;
      case 'reopen': {
        if (txn) { txn.abort(); txn = null; working = new Map(committed); }
        if (reader) { reader.r.end(); reader = null; }
        clean();
        const image = storage.snapshot();
        db.closeSync();
        storage = MemoryStorage.from(image);
        db = open({ storage, ...opts });
        expectModel(committed, content(db));
        break;
      }
    }
    if (reader && c.t !== 'reader') {
      // the reader's snapshot never moves (spot check: one key)
      const probe = key((c as { k?: number }).k ?? 0);
      expect(reader.r.get(probe)?.toString('hex')).toBe(reader.model.get(probe)?.toString('hex'));
    }
  }
  if (txn) (txn as WriteTransaction).commit(), (committed = working);
  if (reader) { expectModel(reader.model, content(reader.r)); reader.r.end(); }
  expectModel(committed, content(db));
  clean();
  db.closeSync();
}

const cmd = (pageSize: number): fc.Arbitrary<Cmd> =>
  fc.oneof(
    { weight: 30, arbitrary: fc.record({ t: fc.constant('put' as const), k: fc.integer({ min: 0, max: 500 }), size: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 200 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * pageSize }) }) }) },
    { weight: 12, arbitrary: fc.record({ t: fc.constant('remove' as const), k: fc.integer({ min: 0, max: 500 }) }) },
    { weight: 4, arbitrary: fc.constant({ t: 'begin' as const }) },
    { weight: 4, arbitrary: fc.constant({ t: 'commit' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'abort' as const }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('range' as const), a: fc.integer({ min: 0, max: 500 }), b: fc.integer({ min: 0, max: 500 }), reverse: fc.boolean(), limit: fc.integer({ min: 0, max: 50 }) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'reader' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'endReader' as const }) },
  );

describe('store against a Map model', () => {
  for (const pageSize of [1024, 4096]) {
    for (const nRoots of [1, 2, 4, 8]) {
      it(`page ${pageSize}, nRoots ${nRoots}`, () => {
        fc.assert(fc.property(fc.array(cmd(pageSize), { minLength: 50, maxLength: 400, size: 'max' }), (cmds) => run(pageSize, nRoots, cmds)), { numRuns: 25 });
      });
    }
  }
  // the other policy, on a few layouts (nRoots 3: the fewest slots with which it differs from 'rotate')
  for (const [pageSize, nRoots] of [[1024, 3], [4096, 4]] as const) {
    it(`page ${pageSize}, nRoots ${nRoots}, slotPolicy 'oldest-unpinned'`, () => {
      fc.assert(fc.property(fc.array(cmd(pageSize), { minLength: 50, maxLength: 400, size: 'max' }), (cmds) => run(pageSize, nRoots, cmds, 'oldest-unpinned')), { numRuns: 25 });
    });
  }
});
