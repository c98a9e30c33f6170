/**
 * Savepoints of the write transaction, for child transactions (api/ childTransaction): a copy of
 * everything a change can touch, so that rolling back leaves the transaction exactly as it was
 * when the savepoint was taken.
 *
 * What changes in place: the transaction's own (dirty) pages, its page accounting lists, its
 * high-water mark, its tree descriptors, and the shared free set (pages taken from it since).
 * Committed pages never change, so they need no copy. The cost is one copy of every dirty page
 * per savepoint: a child transaction inside a transaction that has written a lot is not free.
 */
import type { TreeInfo } from '../btree/store.js';
import type { WriteTxn } from './write.js';

export interface Savepoint {
  readonly txn: WriteTxn;
  readonly dirty: Map<number, Uint8Array>;
  readonly own: number[];
  readonly localFree: number[];
  readonly fromFree: number;
  readonly freed: number;
  readonly highWater: number;
  readonly main: TreeInfo;
  readonly catalog: TreeInfo;
  readonly named: [string, { tree: TreeInfo; before: TreeInfo | undefined }][];
}

export function savepoint(txn: WriteTxn): Savepoint {
  txn.assertActive();
  const dirty = new Map<number, Uint8Array>();
  for (const [p, b] of txn.dirty) dirty.set(p, Buffer.from(b)); // pages are Buffers (pages/pager.ts)
  return {
    txn,
    dirty,
    own: [...txn.own],
    localFree: [...txn.localFree],
    fromFree: txn.fromFree.length,
    freed: txn.freed.length,
    highWater: txn.highWater,
    main: { ...txn.main },
    catalog: { ...txn.catalog },
    named: [...txn.named].map(([n, e]) => [n, { tree: { ...e.tree }, before: e.before }]),
  };
}

/** Puts `txn` back as it was at `sp`. `sp` is consumed: its copies become the live pages. */
export function rollbackTo(sp: Savepoint): void {
  const txn = sp.txn;
  txn.assertActive();
  // Pages taken from the free set since the savepoint go back to it (as an abort would).
  txn.host.free.restore(txn.fromFree.slice(sp.fromFree), []);
  txn.fromFree.length = sp.fromFree;
  txn.freed.length = sp.freed;
  txn.freedBirth.length = sp.freed;
  txn.dirty.clear();
  for (const [p, b] of sp.dirty) txn.dirty.set(p, b);
  txn.own.clear();
  for (const p of sp.own) txn.own.add(p);
  txn.localFree.length = 0;
  txn.localFree.push(...sp.localFree);
  txn.highWater = sp.highWater;
  Object.assign(txn.main, sp.main);
  if (!('appendLeaf' in sp.main)) txn.main.appendLeaf = undefined;
  txn.catalog = sp.catalog;
  txn.named.clear();
  for (const [n, e] of sp.named) txn.named.set(n, e);
  txn.modCount++; // cursors over the transaction re-seek
}
