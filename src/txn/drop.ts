/**
 * Emptying and dropping a database inside the write transaction: every page of its tree is freed
 * (btree/free-tree.ts), so check() finds each one recorded free or pending exactly once.
 */
import type { WriteTxn } from './write.js';
import { freeTree } from '../btree/free-tree.js';
import { removeDescriptor } from './catalog.js';

/** Removes every entry of database `name` (null: the main database); the database stays. */
export function clearDatabase(txn: WriteTxn, name: string | null): void {
  txn.assertActive();
  txn.modCount++;
  freeTree(txn, txn.tree(name));
}

/**
 * Removes database `name`: its pages and its descriptor. Writing to it again in this transaction
 * creates it anew (the commit writes a descriptor only for a tree that is not empty, since the
 * transaction now records it as absent at begin).
 */
export function dropDatabase(txn: WriteTxn, name: string): void {
  txn.assertActive();
  txn.modCount++;
  const tree = txn.tree(name);
  freeTree(txn, tree);
  removeDescriptor(txn, txn.catalog, name);
  txn.named.set(name, { tree, before: undefined });
}
