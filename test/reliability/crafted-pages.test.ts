/**
 * Pages with a valid checksum but impossible contents (issue 9, section 2), through the public
 * API on a real file: each one is reported as ROTA_CORRUPT naming the page by open, get, getRange
 * and check(), never as a RangeError, a wrong or absurd value, or a hang. Before the structural
 * checks of pages/validate.ts these gave: a leaf cell offset past the page end, a wrong `undefined`
 * from get and ROTA_BAD_KEY from a range; a count of 65535, a value from get and ROTA_BAD_KEY; an
 * inline value length of 0xffffffff, a 4 GiB Buffer from get; the same length on an overflow cell,
 * a RangeError from the buffer allocation; a space-map run of 2^32 pages, 40 s and 840 MB in open.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { checksum } from '../../src/pages/checksum.js';
import { DBINFO_DEPTH, LEAF_FLAGS, LEAF_VALLEN, PAGE_COUNT, SLOT_ARRAY, SLOT_MAIN_DB, SM_FREE, SPACEMAP_RECORDS } from '../../src/pages/layout.js';
import { setU16, setU32, u16, u32 } from '../../src/pages/bytes.js';
import type { Meta } from '../../src/pages/meta.js';
import { RotaError } from '../../src/errors.js';
import { openFile, tempPath } from '../helpers/db.js';

const PS = 1024;
// Two-fsync commits: a page changed in the newest one-fsync commit would not match its digest,
// and open would fall back to the version before it (test/env/verify-commit.test.ts) before any
// structural check could run.
const OPTS = { pageSize: PS, encoding: 'binary' as const, fsyncsPerCommit: 2 as const };

/** A file of five 20-byte values, each written twice (so the space map has FREE records); its version. */
function build(file: string): Meta {
  const db = open(file, OPTS);
  for (let round = 0; round < 2; round++) for (let i = 0; i < 5; i++) db.putSync(`k${i}`, Buffer.alloc(20, i + round));
  const meta = db.env.current;
  db.closeSync();
  expect(meta.main.depth).toBe(1); // the main tree's root is its only leaf
  return meta;
}

/** Changes page `pgno` of `file` with `edit`, then gives it a correct checksum again (a root slot's seed is its index, its page number). */
function craft(file: string, pgno: number, edit: (page: Buffer) => void): void {
  const img = fs.readFileSync(file);
  const page = img.subarray(pgno * PS, (pgno + 1) * PS);
  edit(page);
  setU32(page, 0, checksum(page, 4, PS, pgno));
  fs.writeFileSync(file, img);
}

/** What `fn` throws must be ROTA_CORRUPT naming page `pgno`; it must throw. */
function expectCorrupt(fn: () => unknown, pgno: number): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, 'expected ROTA_CORRUPT, nothing was thrown').toBeDefined();
  expect(error instanceof RotaError ? error.code : `${(error as Error).name}: ${(error as Error).message}`).toBe('ROTA_CORRUPT');
  expect((error as Error).message).toContain(`page ${pgno}`);
}

const firstCell = (p: Buffer) => u16(p, SLOT_ARRAY);

describe('a leaf with a valid checksum and impossible fields is ROTA_CORRUPT naming it, in every read path', () => {
  const cases: Array<[string, (p: Buffer) => void]> = [
    ['a cell offset past the page end', (p) => setU16(p, SLOT_ARRAY, PS + 100)],
    ['a cell count of 65535', (p) => setU16(p, PAGE_COUNT, 65535)],
    ['an inline value length of 0xffffffff', (p) => setU32(p, firstCell(p) + LEAF_VALLEN, 0xffffffff)],
    ['an overflow value length of 0xffffffff', (p) => { p[firstCell(p) + LEAF_FLAGS] = 1; setU32(p, firstCell(p) + LEAF_VALLEN, 0xffffffff); }],
  ];
  for (const [what, edit] of cases) {
    it(what, () => {
      const file = tempPath();
      const leaf = build(file).main.root;
      craft(file, leaf, edit);
      const db = openFile(file, OPTS);
      expectCorrupt(() => db.get('k0'), leaf);
      expectCorrupt(() => db.getRange({}).asArray, leaf);
      expectCorrupt(() => db.getRange({ reverse: true }).asArray, leaf);
      const report = db.check();
      expect(report.ok).toBe(false);
      expect(report.problems.join('\n')).toMatch(new RegExp(`page ${leaf}: unreadable: page ${leaf}: `));
      db.closeSync();
    });
  }
});

describe('a space-map page with a valid checksum and impossible records fails open with ROTA_CORRUPT naming it', () => {
  /** Patches the first run of the first FREE record of `p` with `run(first, count)`. */
  const patchFreeRun = (p: Buffer, run: (first: number, count: number) => [number, number]): void => {
    let at = SPACEMAP_RECORDS;
    for (let r = 0; r < u16(p, PAGE_COUNT); r++) {
      const head = u32(p, at);
      const runs = head >>> 8;
      if ((head & 0xff) === SM_FREE && runs > 0) {
        const [first, count] = run(u32(p, at + 12), u32(p, at + 16));
        setU32(p, at + 12, first);
        setU32(p, at + 16, count);
        return;
      }
      at += ((head & 0xff) === SM_FREE ? 12 : 4) + 8 * runs;
    }
    throw new Error('test: no FREE record with a run');
  };

  it('a run of 2^32 - 1 - highWater pages from the high-water mark: at once, not after 40 s and 840 MB', () => {
    const file = tempPath();
    const meta = build(file);
    craft(file, meta.spaceMapHead, (p) => patchFreeRun(p, () => [meta.highWater, 0xffffffff - meta.highWater]));
    const started = Date.now();
    expectCorrupt(() => open(file, OPTS), meta.spaceMapHead);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a run that lists a root slot as free (a writer would overwrite it)', () => {
    const file = tempPath();
    const meta = build(file);
    craft(file, meta.spaceMapHead, (p) => patchFreeRun(p, () => [1, 1]));
    expectCorrupt(() => open(file, OPTS), meta.spaceMapHead);
  });

  it('an unknown record kind and a record count past the records', () => {
    for (const edit of [(p: Buffer) => { p[SPACEMAP_RECORDS] = 7; }, (p: Buffer) => setU16(p, PAGE_COUNT, 400)]) {
      const file = tempPath();
      const meta = build(file);
      craft(file, meta.spaceMapHead, edit);
      expectCorrupt(() => open(file, OPTS), meta.spaceMapHead);
    }
  });
});

describe('a descriptor whose depth disagrees with its tree is ROTA_CORRUPT naming the root page', () => {
  // Found by the fuzz test (a resealed root slot): a leaf read as a branch, or the reverse, read
  // cells past the end of the page (RangeError from a Buffer copy).
  for (const depth of [2, 7]) {
    it(`a leaf root under depth ${depth}`, () => {
      const file = tempPath();
      const meta = build(file);
      craft(file, meta.slot, (p) => setU32(p, SLOT_MAIN_DB + DBINFO_DEPTH, depth));
      const db = openFile(file, OPTS);
      expect(db.env.current.txnId).toBe(meta.txnId); // the resealed slot is still the newest valid one
      expectCorrupt(() => db.get('k0'), meta.main.root);
      expectCorrupt(() => db.getRange({}).asArray, meta.main.root);
      expectCorrupt(() => db.getRange({ reverse: true }).asArray, meta.main.root);
      expect(db.check().ok).toBe(false);
      db.closeSync();
    });
  }
});

describe('the intact file the cases start from', () => {
  it('opens, reads and checks clean (so every failure above is the crafted page)', () => {
    const file = tempPath();
    build(file);
    const db = openFile(file, OPTS);
    expect(db.getRange({}).asArray.map((e) => [e.key, e.value.length])).toEqual([0, 1, 2, 3, 4].map((i) => [`k${i}`, 20]));
    expect(db.check().ok).toBe(true);
  });
});
