/**
 * A rotadb database and an lmdb-js one (node_modules/lmdb, a devDependency) side by side, on
 * temporary files, for the tests that compare their behaviour (test/api/lmdb-compat*.test.ts).
 * Both are closed after the current test (the rotadb one checked first, see db.ts).
 */
import * as path from 'node:path';
import { afterEach } from 'vitest';
import { open as openLmdb, type RootDatabase as LmdbRoot } from 'lmdb';
import type { RootDatabase } from '../../src/index.js';
import { openFile, tempDir } from './db.js';

const opened: LmdbRoot[] = [];

afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

export interface Pair {
  rota: RootDatabase;
  lm: LmdbRoot;
}

/**
 * Either database, for code run on both: their types differ in details (key types, overloads)
 * that the comparisons do not depend on.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDb = any;

/** The two, to run the same code on each. */
export function both(p: Pair): AnyDb[] {
  return [p.rota, p.lm];
}

/** Both databases, opened with the same options (ones both libraries have). */
export function pair(options: Record<string, unknown> = {}): Pair {
  const dir = tempDir('rotadb-lmdb-');
  const rota = openFile(path.join(dir, 'r.rdb'), options);
  const lm = openLmdb(path.join(dir, 'l.mdb'), options);
  opened.push(lm);
  return { rota, lm };
}

/** Puts keys 0..n-1 with values `v<i>` into both, each in one synchronous transaction. */
export function fillBoth(p: Pair, n: number): void {
  p.rota.transactionSync(() => {
    for (let i = 0; i < n; i++) p.rota.putSync(i, `v${i}`);
  });
  p.lm.transactionSync(() => {
    for (let i = 0; i < n; i++) p.lm.putSync(i, `v${i}`);
  });
}
