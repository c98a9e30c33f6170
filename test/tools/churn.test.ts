/**
 * Space over time: under steady churn (random updates, deletes and re-inserts of a fixed key set)
 * the file must reach a steady size instead of growing. Small-scale version of bench/churn.mjs:
 * 5,000 keys with 100-byte values, 50 rounds; per round one transaction that updates 20% of the
 * keys, deletes 5%, and re-inserts the keys deleted in the previous round.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RootDatabase } from '../../src/api/root-database.js';
import { expectClean, openFile, tempPath } from '../helpers/db.js';

const KEYS = 5000;
const ROUNDS = 50;
const VALUE = 100;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

const keyOf = (i: number): string => `k${String(i).padStart(8, '0')}`;

/**
 * Runs the workload and returns the file size after each round (index 0: after the load).
 * `readerRounds` > 0: a read transaction is begun, kept for that many rounds (commits), then
 * ended and a new one begun.
 */
function churn(db: RootDatabase, readerRounds: number): number[] {
  const rand = rng(1234);
  const value = (): Buffer => {
    const b = Buffer.allocUnsafe(VALUE);
    for (let j = 0; j < VALUE; j++) b[j] = Math.floor(rand() * 256);
    return b;
  };
  for (let start = 0; start < KEYS; start += 1000) {
    db.transactionSync(() => { for (let i = start; i < start + 1000; i++) db.putSync(keyOf(i), value()); });
  }
  const size = (): number => fs.statSync(db.env.path!).size;
  const sizes = [size()];
  let deleted: number[] = [];
  let reader: ReturnType<RootDatabase['beginRead']> | null = null;
  for (let round = 1; round <= ROUNDS; round++) {
    if (readerRounds > 0 && (round - 1) % readerRounds === 0) {
      reader?.end();
      reader = db.beginRead();
    }
    const present = new Set<number>();
    for (let i = 0; i < KEYS; i++) present.add(i);
    for (const i of deleted) present.delete(i);
    const live = [...present];
    db.transactionSync(() => {
      for (let n = 0; n < KEYS * 0.2; n++) db.putSync(keyOf(live[Math.floor(rand() * live.length)]!), value());
      for (const i of deleted) db.putSync(keyOf(i), value());
      const next: number[] = [];
      for (let n = 0; n < KEYS * 0.05; n++) {
        const i = live[Math.floor(rand() * live.length)]!;
        if (db.removeSync(keyOf(i))) next.push(i);
      }
      deleted = next;
    });
    sizes.push(size());
  }
  reader?.end();
  return sizes;
}

describe('churn steady state (5,000 keys, 50 rounds)', () => {
  it('without long readers: size after round 50 is within 1.2x of the size after round 1', () => {
    const db = openFile(tempPath());
    const sizes = churn(db, 0);
    console.log(`churn sizes (KiB), no reader: ${sizes.filter((_, i) => i % 5 === 0 || i === 1).map((s) => Math.round(s / 1024)).join(' ')}`);
    expect(sizes[ROUNDS]!).toBeLessThanOrEqual(1.2 * sizes[1]!);
    expectClean(db);
  });

  // With a reader that lives across 3 commits while every round rewrites nearly every leaf, the
  // file must hold the reader's version, the current one and the one being written: about 1.5x
  // its size after round 1 (which holds two), so the 1.2x is out of reach for any
  // copy-on-write store on this workload. The epoch rule frees pages whose lifetime holds no
  // pinned version (docs/design.md), so it stays at that floor; before that refinement it kept
  // every rewrite made during the reader's life and settled at about 2x.
  it('with a reader that lives across 3 commits: the size stays near the copy-on-write floor (1.6x of round 1)', () => {
    const db = openFile(tempPath(), { nRoots: 4 });
    const sizes = churn(db, 3);
    expect(sizes[ROUNDS]!).toBeLessThanOrEqual(1.6 * sizes[1]!);
    expectClean(db);
  });

  it('with a reader that lives across 3 commits: the size reaches a steady state (bounded, no leak)', () => {
    const db = openFile(tempPath(), { nRoots: 4 });
    const sizes = churn(db, 3);
    console.log(`churn sizes (KiB), reader over 3 commits: ${sizes.filter((_, i) => i % 5 === 0 || i === 1).map((s) => Math.round(s / 1024)).join(' ')}`);
    expect(sizes[ROUNDS]!).toBeLessThanOrEqual(1.05 * sizes[10]!); // nothing grows after the first few reader lifetimes
    expect(sizes[ROUNDS]!).toBeLessThanOrEqual(1.6 * sizes[1]!); // about 3 trees, against 2 after round 1
    expectClean(db);
  });
});
