/**
 * The catalog: a B+tree whose keys are database names (UTF-8) and whose values are the DbInfo
 * descriptors of the named databases (docs/design.md, "DbInfo"). Every read and write of a
 * descriptor goes through this module.
 */
import type { PageReader, PageWriter, TreeInfo } from '../btree/store.js';
import { del, lookup, put } from '../btree/tree.js';
import { Cursor } from '../btree/cursor.js';
import { LeafCell } from '../btree/leaf-cell.js';
import { readDbInfo, writeDbInfo } from '../pages/meta.js';
import { DBINFO_SIZE } from '../pages/layout.js';

const utf8 = new TextEncoder();

/** A named database of one version: its name and its tree's descriptor. */
export interface NamedTree {
  name: string;
  tree: TreeInfo;
}

/** The descriptor of database `name` in `catalog`, or undefined when it does not exist. */
export function readDescriptor(r: PageReader, catalog: TreeInfo, name: string): TreeInfo | undefined {
  const k = utf8.encode(name);
  const hit = new LeafCell();
  if (!lookup(r, catalog, k, k.length, hit)) return undefined;
  return readDbInfo(hit.value(r), 0);
}

/** Every named database in `catalog`, in name (byte) order. */
export function listDescriptors(r: PageReader, catalog: TreeInfo): NamedTree[] {
  const out: NamedTree[] = [];
  if (catalog.root === 0) return out;
  const c = new Cursor(r, catalog);
  for (let ok = c.first(); ok; ok = c.next()) {
    out.push({ name: Buffer.from(c.key()).toString('utf8'), tree: readDbInfo(c.value(), 0) });
  }
  return out;
}

/** Stores `tree` as the descriptor of database `name` in `catalog` (created or replaced). */
export function writeDescriptor(w: PageWriter, catalog: TreeInfo, name: string, tree: TreeInfo): void {
  const info = new Uint8Array(DBINFO_SIZE);
  writeDbInfo(info, 0, tree);
  const k = utf8.encode(name);
  put(w, catalog, k, k.length, info, DBINFO_SIZE);
}

/** Removes the descriptor of database `name` from `catalog`; false when there was none. */
export function removeDescriptor(w: PageWriter, catalog: TreeInfo, name: string): boolean {
  const k = utf8.encode(name);
  return del(w, catalog, k, k.length);
}
