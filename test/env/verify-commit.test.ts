/**
 * The one-fsync commit's verification on open (src/env/verify-commit.ts): the newest root slot is
 * trusted only if every page its commit wrote is on disk as written; otherwise open falls back to
 * the version before it, exactly.
 */
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { readCommit } from '../../src/env/verify-commit.js';
import { findCurrentVersion } from '../../src/env/root-slots.js';
import { PAGE_TXN } from '../../src/pages/layout.js';
import { u32 } from '../../src/pages/bytes.js';

const PS = 1024;

/** A file image after `commits` one-fsync commits of a few keys each, and the image before the last. */
function images(commits: number, nRoots = 4): { before: Uint8Array; after: Uint8Array } {
  const storage = new MemoryStorage();
  const db = open({ storage, pageSize: PS, nRoots, encoding: 'json' });
  let before = storage.snapshot();
  for (let c = 1; c <= commits; c++) {
    before = storage.snapshot();
    db.transactionSync(() => {
      for (let i = 0; i < 40; i++) db.putSync(`k${(c * 7 + i * 13) % 300}`, { c, i, pad: 'x'.repeat(50) });
    });
  }
  const after = storage.snapshot();
  db.closeSync();
  return { before, after };
}

const contentsOf = (img: Uint8Array): { txnId: number; rows: unknown[] } => {
  const db = open({ storage: MemoryStorage.from(img), encoding: 'json' });
  try {
    const r = db.check();
    expect(r.ok, r.problems.join('; ')).toBe(true);
    return { txnId: db.stats().txnId, rows: db.getRange().asArray };
  } finally {
    db.closeSync();
  }
};

/** Page numbers of the pages the newest commit wrote (birth = its id). */
function writtenBy(img: Uint8Array): number[] {
  const { meta } = findCurrentVersion(MemoryStorage.from(img), {}, 'test');
  const out: number[] = [];
  for (let p = meta.nRoots; p < meta.highWater; p++) if (u32(img, p * PS + PAGE_TXN) === meta.txnId) out.push(p);
  return out;
}

describe('one-fsync commit verification', () => {
  it('a whole commit verifies, and records the pages it wrote', () => {
    const { after } = images(5);
    const s = MemoryStorage.from(after);
    const { meta, written } = findCurrentVersion(s, {}, 'test');
    expect(meta.commit).toBeDefined();
    expect(written.size).toBe(meta.commit!.pages);
    expect(readCommit(s, meta)?.size).toBe(meta.commit!.pages);
  });

  it('a page of the last commit that holds what was there before: open falls back to the version before, exactly', () => {
    const { before, after } = images(6);
    const expected = contentsOf(before);
    const pages = writtenBy(after);
    expect(pages.length).toBeGreaterThan(2);
    const reused = pages.filter((p) => (p + 1) * PS <= before.length); // the rest were past the old end of the file: the zeros case
    expect(reused.length).toBeGreaterThan(2);
    for (const p of reused) {
      const img = after.slice();
      img.set(before.subarray(p * PS, (p + 1) * PS), p * PS); // this write never reached the disk
      const got = contentsOf(img);
      expect(got.txnId, `page ${p}`).toBe(expected.txnId);
      expect(got.rows, `page ${p}`).toEqual(expected.rows);
    }
  });

  it('a page of the last commit that is zeros (never written): the same', () => {
    const { before, after } = images(3);
    const expected = contentsOf(before);
    for (const p of writtenBy(after)) {
      const img = after.slice();
      img.fill(0, p * PS, (p + 1) * PS);
      expect(contentsOf(img).rows, `page ${p}`).toEqual(expected.rows);
    }
  });

  it('a two-fsync commit is not verified (its pages were durable before its slot)', () => {
    const storage = new MemoryStorage();
    const db = open({ storage, pageSize: PS, nRoots: 4, fsyncsPerCommit: 2 });
    db.putSync('a', 1);
    const img = storage.snapshot();
    db.closeSync();
    const { meta, written } = findCurrentVersion(MemoryStorage.from(img), {}, 'test');
    expect(meta.commit).toBeUndefined();
    expect(written.size).toBe(0);
  });

  it('nRoots 1 allows only the two-fsync commit, and says why', () => {
    expect(() => open({ storage: new MemoryStorage(), nRoots: 1, fsyncsPerCommit: 1 })).toThrow(/needs nRoots >= 2/);
    const db = open({ storage: new MemoryStorage(), nRoots: 1 });
    db.putSync('a', 1);
    expect(db.get('a')).toBe(1);
    db.closeSync();
  });
});
