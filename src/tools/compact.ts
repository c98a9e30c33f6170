/**
 * compact(): a new database file holding only the live data of one consistent snapshot.
 *
 * One read transaction is pinned for the whole copy, so the result is exactly one committed
 * version of the source even while its writers go on. Every tree (the main database, then each
 * named database in catalog order) is walked with a Cursor and its raw key and value bytes are
 * put into the destination in key order: the tree's append path keeps every left page full when
 * keys arrive in ascending order, so leaves and branches come out (nearly) full. The destination
 * is written in write transactions of bounded size, under a temporary name, and only moved to
 * its final name once complete and synced; an existing destination is never overwritten.
 *
 * This module also holds the helpers the other tools share (listing a snapshot's databases,
 * putting raw bytes, creating an empty named database, the temporary-file dance).
 */
import * as fs from 'node:fs';
import * as pathMod from 'node:path';
import { randomBytes } from 'node:crypto';
import { open } from '../api/open.js';
import type { RootDatabase } from '../api/database.js';
import { Cursor } from '../btree/cursor.js';
import { put } from '../btree/tree.js';
import { emptyTree, type TreeInfo } from '../btree/store.js';
import { maxKeySize } from '../pages/layout.js';
import { KeyTooLargeError, RotaError } from '../errors.js';
import { listDescriptors, writeDescriptor } from '../txn/catalog.js';
import type { ReadTxn } from '../txn/read.js';
import type { WriteTxn } from '../txn/write.js';

/** Progress in units of work done out of a known total (entries, or pages for backup). */
export type ProgressCallback = (done: number, total: number) => void;

export interface CompactOptions {
  /** Called with (entries copied, total entries) after each destination transaction, and at start and end. */
  onProgress?: ProgressCallback;
  /** Page size of the new file (default: the source's). Keys must still fit (see maxKeySize). */
  pageSize?: number;
  /** Root slots of the new file (default: the source's). */
  nRoots?: number;
  /** Entries per destination write transaction (default 10,000). */
  batchEntries?: number;
  /** Key and value bytes per destination write transaction, whichever limit comes first (default 32 MiB). */
  batchBytes?: number;
}

export interface CompactResult {
  /** The source version that was copied. */
  txnId: number;
  /** Entries copied, over all databases. */
  entries: number;
  /** Named databases copied (the main database is not counted). */
  databases: number;
  /** Size of the source file and of the new file, in bytes. */
  sourceSize: number;
  size: number;
  /** Absolute path of the new file. */
  path: string;
}

/** One tree of a snapshot: name null is the main database. */
export interface SnapshotDatabase {
  name: string | null;
  tree: TreeInfo;
}

export const DEFAULT_BATCH_ENTRIES = 10_000;
export const DEFAULT_BATCH_BYTES = 32 * 1024 * 1024;

/** The main database, then every named database of the snapshot in catalog (name byte) order. */
export function listDatabases(r: ReadTxn): SnapshotDatabase[] {
  return [{ name: null, tree: r.meta.main }, ...listDescriptors(r, r.meta.catalog)];
}

/** Puts raw key and value bytes into database `name` (null: main) of the write transaction. */
export function putRaw(txn: WriteTxn, name: string | null, key: Uint8Array, value: Uint8Array): void {
  put(txn, txn.tree(name), key, key.length, value, value.length);
}

/**
 * Makes sure named database `name` exists in the transaction's catalog, even empty. (A named
 * database is otherwise only recorded once an entry is written to it.)
 */
export function ensureDatabase(txn: WriteTxn, name: string): void {
  if (!txn.hasTree(name)) writeDescriptor(txn, txn.catalog, name, emptyTree());
}

/** Resolves on the next turn of the event loop, so writers (and everything else) can go on. */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Throws ROTA_EXISTS when `path` exists (a file, a directory, anything). */
export function refuseExisting(path: string, what: string): void {
  if (fs.existsSync(path)) {
    throw new RotaError('ROTA_EXISTS', `${path} already exists; ${what} writes a new file and never overwrites one`);
  }
}

/** A temporary name next to `dest`, unique to this process and call. */
export function temporaryName(dest: string, tag: string): string {
  return `${dest}.${process.pid}.${randomBytes(4).toString('hex')}.${tag}`;
}

/**
 * Moves the complete, synced file `tmp` to `dest` without ever replacing an existing `dest`:
 * a hard link fails with EEXIST if `dest` appeared meanwhile. Where hard links are not
 * supported, falls back to rename after one more existence check. Then syncs the directory.
 */
export function publishFile(tmp: string, dest: string, what: string): void {
  try {
    fs.linkSync(tmp, dest);
    fs.unlinkSync(tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new RotaError('ROTA_EXISTS', `${dest} already exists (it appeared while ${what} ran); it was left untouched`);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV' && code !== 'EMLINK') {
      throw new RotaError('ROTA_IO', `cannot move ${tmp} to ${dest}: ${(e as Error).message}`, { cause: e });
    }
    refuseExisting(dest, what);
    fs.renameSync(tmp, dest);
  }
  syncDirectory(pathMod.dirname(dest));
}

export function syncFile(path: string): void {
  const fd = fs.openSync(path, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function syncDirectory(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch { /* directory fsync is not supported everywhere; the link or rename is still atomic */ }
}

/** An operating-system error (it has a `syscall`) becomes a RotaError ROTA_IO; anything else is returned as is. */
export function wrapIo(e: unknown): unknown {
  if (e instanceof RotaError) return e;
  if (typeof (e as { syscall?: unknown } | null)?.syscall !== 'string') return e;
  return new RotaError('ROTA_IO', (e as Error).message, { cause: e });
}

/** Removes a file if it exists, ignoring errors (cleanup after a failure). */
export function removeQuietly(path: string): void {
  try { fs.unlinkSync(path); } catch { /* not there, or not ours to worry about */ }
}

function positiveInt(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new RotaError('ROTA_BAD_OPTION', `${name} must be a positive integer, not ${v}`);
  return v;
}

/**
 * Writes a new database file at `destPath` holding the live data of the source's current version.
 * The source stays fully usable meanwhile: readers go on, and asynchronous writers go on until
 * they need the root slot this copy pins (then they wait for it). A synchronous writer of this
 * thread that needs that slot gets ROTA_WOULD_DEADLOCK, as with any read transaction it holds.
 */
export async function compact(db: RootDatabase, destPath: string, options: CompactOptions = {}): Promise<CompactResult> {
  const env = db.env;
  env.checkOpen();
  const dest = pathMod.resolve(destPath);
  refuseExisting(dest, 'compact');
  const batchEntries = positiveInt(options.batchEntries, DEFAULT_BATCH_ENTRIES, 'batchEntries');
  const batchBytes = positiveInt(options.batchBytes, DEFAULT_BATCH_BYTES, 'batchBytes');
  const pageSize = options.pageSize ?? env.pageSize;
  const nRoots = options.nRoots ?? env.nRoots;
  const onProgress = options.onProgress;

  const r = env.beginRead(true);
  const tmp = temporaryName(dest, 'compacting');
  let out: RootDatabase | null = null;
  try {
    const dbs = listDatabases(r);
    let total = 0;
    for (const d of dbs) total += d.tree.entries;
    onProgress?.(0, total);
    // The destination is private until it is renamed: no fsync per commit, one at the end.
    out = open(tmp, { pageSize, nRoots, noSync: true, cacheSize: 16 * 1024 * 1024 });
    const maxKey = maxKeySize(out.env.pageSize);
    let txn: WriteTxn | null = null;
    let inTxn = 0;
    let bytes = 0;
    let done = 0;
    const begin = (): WriteTxn => (txn ??= out!.env.beginWriteSync());
    for (const d of dbs) {
      if (d.tree.root === 0) {
        if (d.name !== null) ensureDatabase(begin(), d.name); // keep empty named databases
        continue;
      }
      const c = new Cursor(r, d.tree);
      for (let ok = c.first(); ok; ok = c.next()) {
        const k = c.key();
        if (k.length > maxKey) throw new KeyTooLargeError(k.length, maxKey);
        const v = c.value();
        putRaw(begin(), d.name, k, v);
        done++;
        inTxn++;
        bytes += k.length + v.length;
        if (inTxn >= batchEntries || bytes >= batchBytes) {
          txn!.commit();
          txn = null;
          inTxn = 0;
          bytes = 0;
          onProgress?.(done, total);
          await yieldTurn(); // the cursor holds pages of the pinned version, which never change: safe across turns
        }
      }
    }
    if (txn !== null) (txn as WriteTxn).commit();
    out.closeSync();
    out = null;
    syncFile(tmp);
    publishFile(tmp, dest, 'compact');
    onProgress?.(done, total);
    return {
      txnId: r.txnId,
      entries: done,
      databases: dbs.length - 1,
      sourceSize: env.storage.size(),
      size: fs.statSync(dest).size,
      path: dest,
    };
  } catch (e) {
    if (out !== null) {
      try { out.closeSync(); } catch { /* failing already */ }
    }
    removeQuietly(tmp);
    throw wrapIo(e);
  } finally {
    r.end(false); // every page was validated as it was read (a registered reader checks expiry per page)
  }
}
