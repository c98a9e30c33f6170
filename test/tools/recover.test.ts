/**
 * recover(): power cuts in noSync mode at many crash points (FaultyStorage, three ways of keeping
 * unsynced writes), then recover, apply, open and check(); an older page in place of the newest
 * version's own; crashes in the middle of apply; a clean file; a file with nothing to recover.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, recover, type RecoverReport } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { FaultyStorage, type CrashMode } from '../../src/storage/faulty.js';
import type { Storage } from '../../src/storage/storage.js';
import { valueOf, type Model } from '../crash/harness.js';
import { tempDir } from '../helpers/db.js';
import { contents, damagedEverywhereImage, intact, optsOf, runNoSync, sameModel, slotVersions, stalePageImage } from './recover-fixtures.js';

const MODES: CrashMode[] = ['lose-unsynced', 'random-subset', 'reorder-prefix'];

/** Counts the calls that could change the file. */
class CountingStorage implements Storage {
  changes = 0;
  constructor(readonly inner: Storage) {}
  read(b: Uint8Array, p: number): number { return this.inner.read(b, p); }
  write(b: Uint8Array, p: number): void { this.changes++; this.inner.write(b, p); }
  sync(): void { this.changes++; this.inner.sync(); }
  size(): number { return this.inner.size(); }
  truncate(n: number): void { this.changes++; this.inner.truncate(n); }
  close(): void { this.inner.close(); }
}

/** Recovers `image` without apply: the bytes must be untouched and no write, sync or truncate issued. */
function dryRun(image: Uint8Array): RecoverReport {
  const s = new CountingStorage(MemoryStorage.from(image));
  const report = recover(s);
  expect(s.changes).toBe(0);
  expect(Buffer.compare((s.inner as MemoryStorage).snapshot(), image)).toBe(0);
  return report;
}

/** Opens `image` and requires exactly `want`, a clean check(), and a further commit that checks clean after a reopen. */
function expectVersion(image: Uint8Array, nRoots: number, want: Model, what: string): void {
  const storage = MemoryStorage.from(image);
  const db = open<Buffer>({ storage, ...optsOf(nRoots) });
  try {
    expect(sameModel(contents(db), want), `${what}: contents`).toBe(true);
    expect(db.check().problems, what).toEqual([]);
    db.putSync('zz-after', valueOf(1, 50, 77));
    image = storage.snapshot();
  } finally {
    db.closeSync();
  }
  const again = open<Buffer>({ storage: MemoryStorage.from(image), ...optsOf(nRoots) });
  try {
    expect(sameModel(contents(again), new Map(want).set('zz-after', valueOf(1, 50, 77).toString('hex'))), `${what}: after a further commit`).toBe(true);
    expect(again.check().problems, what).toEqual([]);
  } finally {
    again.closeSync();
  }
}

describe('recover after power cuts in noSync mode', () => {
  for (const nRoots of [2, 4]) {
    it(`finds the newest intact version, applies it, and the data is exactly that version (nRoots ${nRoots})`, () => {
      const outcomes = { ok: 0, recovered: 0, unrecoverable: 0 };
      const lostVersions: number[] = [];
      for (const seed of [1, 2, 3]) {
        const total = runNoSync(seed, nRoots, 24).storage.ops;
        for (let at = 1; at <= total; at += 3) {
          const { storage, versions } = runNoSync(seed, nRoots, 24, at);
          for (const mode of MODES) {
            const image = storage.afterCrash(mode).snapshot();
            const what = `seed ${seed}, crash at op ${at}, ${mode}`;
            const report = dryRun(image);
            // The newest version that is really intact, judged by reading it alone.
            let want: number | undefined;
            for (const [slot, txn] of slotVersions(image, nRoots)) {
              const m = versions.get(txn);
              expect(m, `${what}: slot ${slot} holds version ${txn}, never committed`).toBeDefined();
              if ((want === undefined || txn > want) && intact(image, nRoots, slot, m!)) want = txn;
            }
            expect(report.recovered, what).toBe(want);
            if (want === undefined) {
              expect(report.status, what).toBe('unrecoverable');
              const s = MemoryStorage.from(image);
              expect(recover(s, { apply: true }).applied).toBe(false);
              expect(Buffer.compare(s.snapshot(), image), what).toBe(0);
              outcomes.unrecoverable++;
              continue;
            }
            if (report.status === 'ok') {
              expectVersion(image, nRoots, versions.get(want)!, what);
              outcomes.ok++;
              continue;
            }
            expect(report.status, what).toBe('recoverable');
            lostVersions.push(report.lost.length);
            const s = MemoryStorage.from(image);
            const applied = recover(s, { apply: true });
            expect(applied).toMatchObject({ status: 'recovered', applied: true, recovered: want });
            const after = s.snapshot();
            expect(dryRun(after)).toMatchObject({ status: 'ok', recovered: want, lost: [], damagedSlots: [] });
            expectVersion(after, nRoots, versions.get(want)!, what);
            outcomes.recovered++;
          }
        }
      }
      // every class of outcome occurred, and some recoveries really rolled back over newer versions
      expect(outcomes.ok, JSON.stringify(outcomes)).toBeGreaterThan(0);
      expect(outcomes.recovered, JSON.stringify(outcomes)).toBeGreaterThan(0);
      expect(lostVersions.some((n) => n > 0)).toBe(true);
    }, 240_000);
  }
});

describe('recover: what it verifies', () => {
  it('refuses an older page (valid checksum and birth) in place of one the newest version wrote', () => {
    const f = stalePageImage();
    // open and check() cannot tell: the older leaf has the same shape, and the data is wrong
    const db = open<Buffer>({ storage: MemoryStorage.from(f.image), ...optsOf(4) });
    try {
      expect(db.check().ok).toBe(true);
      expect(sameModel(contents(db), f.previous)).toBe(false);
    } finally {
      db.closeSync();
    }
    const report = dryRun(f.image);
    expect(report).toMatchObject({ status: 'recoverable', newest: f.newest, recovered: f.previousTxn });
    expect(report.lost).toHaveLength(1);
    expect(report.lost[0]!.problem).toContain(`page ${f.leaf}: holds a page of transaction`);
    expect(report.lost[0]!.databases[0]).toEqual({ name: null, entries: 8 });
    const s = MemoryStorage.from(f.image);
    expect(recover(s, { apply: true }).status).toBe('recovered');
    expectVersion(s.snapshot(), 4, f.previous, 'after apply');
  });

  it('a crash at any point of apply leaves a file that recover --apply finishes', () => {
    const f = stalePageImage();
    const probe = new FaultyStorage(f.image);
    recover(probe, { apply: true });
    const total = probe.ops;
    expect(total).toBeGreaterThan(3);
    for (let at = 1; at <= total; at++) {
      for (const mode of MODES) {
        const faulty = new FaultyStorage(f.image, { seed: at });
        faulty.crashAtOp(at);
        expect(() => recover(faulty, { apply: true })).toThrow(/simulated crash/);
        const s = faulty.afterCrash(mode);
        const again = recover(s, { apply: true });
        expect(again.recovered, `crash at op ${at}, ${mode}`).toBe(f.previousTxn);
        expectVersion(s.snapshot(), 4, f.previous, `crash at op ${at}, ${mode}`);
      }
    }
  });

  it('a file whose newest version verifies: says so and changes nothing, even with apply', () => {
    const file = path.join(tempDir(), 'clean.rdb');
    const db = open(file, { nRoots: 3 });
    for (let i = 0; i < 20; i++) db.putSync(`k${i}`, { i });
    const txn = db.env.current.txnId;
    db.closeSync();
    const bytes = fs.readFileSync(file);
    const mtime = fs.statSync(file).mtimeMs;
    for (const apply of [false, true]) {
      const r = recover(file, { apply });
      expect(r).toMatchObject({ status: 'ok', newest: txn, recovered: txn, lost: [], clearSlots: [], applied: false, path: file });
      expect(r.databases).toEqual([{ name: null, entries: 20 }]);
      expect(r.slots.filter((s) => s.state === 'version' && s.verdict === 'verified')).toHaveLength(1);
    }
    expect(Buffer.compare(fs.readFileSync(file), bytes)).toBe(0);
    expect(fs.statSync(file).mtimeMs).toBe(mtime);
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
    const again = open(file);
    expect(again.check().ok).toBe(true);
    again.closeSync();
  });

  it('a file with nothing to recover: every version reaches a damaged page; apply changes nothing', () => {
    const image = damagedEverywhereImage();
    const report = dryRun(image);
    expect(report).toMatchObject({ status: 'unrecoverable', recovered: undefined, lost: [] });
    expect(report.slots.every((s) => s.state !== 'version' || s.verdict === 'failed')).toBe(true);
    const s = MemoryStorage.from(image);
    expect(recover(s, { apply: true }).applied).toBe(false);
    expect(Buffer.compare(s.snapshot(), image)).toBe(0);
  });

  it('refuses a file another process or thread has open, and a missing file', () => {
    const file = path.join(tempDir(), 'held.rdb');
    const db = open(file);
    try {
      expect(() => recover(file)).toThrow(expect.objectContaining({ code: 'ROTA_ALREADY_OPEN' }));
    } finally {
      db.closeSync();
    }
    expect(() => recover(path.join(tempDir(), 'none.rdb'))).toThrow(expect.objectContaining({ code: 'ROTA_NOT_FOUND' }));
  });
});
