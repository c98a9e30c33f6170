/**
 * Shared helpers for the database-level tests.
 *
 * Importing this module registers an afterEach hook in the importing test file: every database
 * opened through these helpers is closed and every temporary directory made by tempPath() or
 * tempDir() is removed after each test, whether the test passed or not.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect } from 'vitest';
import { open, type OpenOptions } from '../../src/api/open.js';
import type { RootDatabase } from '../../src/api/database.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { Cursor } from '../../src/btree/cursor.js';
import { listDescriptors } from '../../src/txn/catalog.js';

const dirs: string[] = [];
const dbs: RootDatabase[] = [];

/** A fresh, empty directory under os.tmpdir(), removed after the current test. */
export function tempDir(prefix = 'rotadb-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A path that does not exist yet, in a fresh temporary directory removed after the current test. */
export function tempPath(name = 'test.rdb'): string {
  return path.join(tempDir(), name);
}

/** Remembers `db` so that it is closed after the current test (if the test did not close it). */
export function track<V>(db: RootDatabase<V>): RootDatabase<V> {
  dbs.push(db as RootDatabase);
  return db;
}

/** Opens a database over a new MemoryStorage; closed after the current test. */
export function openMem<V = any>(options: Omit<OpenOptions, 'path' | 'storage'> = {}): RootDatabase<V> {
  return track(open<V>({ storage: new MemoryStorage(), ...options }));
}

/** Opens (or creates) a database file; closed after the current test. */
export function openFile<V = any>(file: string, options: Omit<OpenOptions, 'path' | 'storage'> = {}): RootDatabase<V> {
  return track(open<V>(file, options));
}

/** Runs the consistency checker and fails the test, printing every problem, unless the file is clean. */
export function expectClean(db: RootDatabase | { check(): { ok: boolean; problems: string[] } }): void {
  const report = db.check();
  expect(report.problems, `check() found problems:\n${report.problems.join('\n')}`).toEqual([]);
  expect(report.ok, `check() found problems:\n${report.problems.join('\n')}`).toBe(true);
}

/**
 * The `code` of what `fn` throws, or of the promise it returns when that rejects. Fails when
 * `fn` neither throws nor returns a rejecting promise.
 */
export async function codeOf(fn: () => unknown): Promise<string> {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    return errorCode(e);
  }
  if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
    try {
      await result;
    } catch (e) {
      return errorCode(e);
    }
  }
  throw new Error(`expected an error, got ${describe(result)}`);
}

/** The `code` of what the synchronous `fn` throws; fails when it does not throw. */
export function syncCodeOf(fn: () => unknown): string {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    return errorCode(e);
  }
  throw new Error(`expected a synchronous throw, got ${describe(result)}`);
}

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return `<no code: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}>`;
}

function describe(v: unknown): string {
  try {
    return typeof v === 'object' && v !== null && typeof (v as Promise<unknown>).then === 'function' ? 'a promise that resolved' : JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

afterEach(async () => {
  for (const db of dbs.splice(0)) {
    if (db.env.closed) continue;
    try {
      // close() waits for queued writes; do not let a test that left a transaction hanging hang this hook
      await Promise.race([db.close(), sleep(2000)]);
    } catch {
      // reported by the test itself
    }
    if (!db.env.closed) {
      try { db.env.close(); } catch { /* already broken: nothing more to do */ }
    }
  }
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Every database of the current version as name -> "hex key:hex value" rows in key order (main is ''). */
export function rawContents(db: RootDatabase): Map<string, string[]> {
  const r = db.env.beginRead(false);
  try {
    const trees = [{ name: '', tree: r.meta.main }, ...listDescriptors(r, r.meta.catalog)];
    const out = new Map<string, string[]>();
    for (const { name, tree } of trees) {
      const rows: string[] = [];
      if (tree.root !== 0) {
        const c = new Cursor(r, tree);
        for (let ok = c.first(); ok; ok = c.next()) rows.push(`${Buffer.from(c.key()).toString('hex')}:${Buffer.from(c.value()).toString('hex')}`);
      }
      out.set(name, rows);
    }
    return out;
  } finally {
    r.end();
  }
}
