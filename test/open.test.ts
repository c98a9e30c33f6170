/**
 * Opening files: creation with a layout, option validation, files that are not (or no longer)
 * databases, newer formats, a damaged newest root slot. (The lock directory and other processes:
 * test/procs/.) Everything here uses real files in temporary directories; a failed open must
 * leave the file byte-identical and must not leave a lock directory behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, type OpenOptions } from '../src/api/open.js';
import { checksum } from '../src/pages/checksum.js';
import { FORMAT_VERSION, SLOT_CHECKSUM, SLOT_FORMAT } from '../src/pages/layout.js';
import { expectClean, openFile, syncCodeOf, tempDir, tempPath, track } from './helpers/db.js';

const lockOf = (file: string): string => `${file}-lock`;

/** Creates a populated database file and closes it; returns its bytes. */
async function makeDb(file: string, options: OpenOptions = {}, commits = 5): Promise<Buffer> {
  const db = open(file, options);
  for (let c = 0; c < commits; c++) {
    db.transactionSync(() => {
      for (let i = 0; i < 40; i++) db.putSync(`c${c}-k${String(i).padStart(3, '0')}`, `value ${c}/${i} `.repeat(20));
    });
  }
  expectClean(db);
  await db.close();
  return fs.readFileSync(file);
}

/** Asserts that opening `file` with `options` fails with `code`, leaving the file and the lock as they were. */
function expectOpenFails(file: string, options: OpenOptions, code: string): void {
  const before = fs.existsSync(file) && fs.statSync(file).isFile() ? fs.readFileSync(file) : undefined;
  const lockBefore = fs.existsSync(lockOf(file)) ? fs.readdirSync(lockOf(file)).sort().join() : undefined;
  let db: ReturnType<typeof open> | undefined;
  const got = syncCodeOf(() => { db = open(file, options); });
  if (db) track(db);
  expect(got).toBe(code);
  if (before === undefined) {
    if (!fs.existsSync(file) || !fs.statSync(file).isDirectory()) expect(fs.existsSync(file)).toBe(false);
  } else {
    expect(fs.readFileSync(file).equals(before), 'the file changed').toBe(true);
  }
  if (lockBefore === undefined) expect(fs.existsSync(lockOf(file)), 'a lock directory was left behind').toBe(false);
  else expect(fs.readdirSync(lockOf(file)).sort().join(), 'the lock directory changed').toBe(lockBefore);
}

function u16At(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

// ---------------------------------------------------------------- creation and layout

describe('creating and reopening', () => {
  it.each([
    { pageSize: undefined, nRoots: undefined, ps: 4096, n: 4 },
    { pageSize: 1024, nRoots: 1, ps: 1024, n: 1 },
    { pageSize: 8192, nRoots: 3, ps: 8192, n: 3 },
    { pageSize: 65536, nRoots: 2, ps: 65536, n: 2 },
    { pageSize: 2048, nRoots: 255, ps: 2048, n: 255 },
  ])('a new file gets pageSize $ps and nRoots $n', async ({ pageSize, nRoots, ps, n }) => {
    const file = tempPath();
    const db = openFile(file, { pageSize, nRoots });
    expect(fs.statSync(file).size).toBe(ps * n);
    const head = fs.readFileSync(file);
    expect(head.toString('latin1', 4, 8)).toBe('RTDB');
    expect(u16At(head, SLOT_FORMAT)).toBe(FORMAT_VERSION);
    expect(head[10]).toBe(n % 256);
    expect(head.readUInt32LE(12)).toBe(ps);
    expect(db.stats()).toMatchObject({ pageSize: ps, nRoots: n, txnId: 0, entries: 0 });
    expect(db.stats().slots).toHaveLength(n);
    db.putSync('k', 'v');
    expectClean(db);
    await db.close();
    expect(fs.existsSync(lockOf(file))).toBe(false);

    const again = openFile(file); // the layout comes from the file
    expect(again.stats()).toMatchObject({ pageSize: ps, nRoots: n, txnId: 1 });
    expect(again.get('k')).toBe('v');
    await again.close();
    const same = openFile(file, { pageSize: ps, nRoots: n });
    expect(same.get('k')).toBe('v');
    expectClean(same);
  });

  it('no temporary file is left next to a new database', async () => {
    const dir = tempDir();
    const db = openFile(path.join(dir, 'x.rdb'));
    expect(fs.readdirSync(dir).sort()).toEqual(['x.rdb', 'x.rdb-lock']);
    expectClean(db);
    await db.close();
    expect(fs.readdirSync(dir)).toEqual(['x.rdb']);
  });

  it('reopening with a different pageSize or nRoots throws ROTA_BAD_OPTION and leaves the file byte-identical', async () => {
    const file = tempPath();
    await makeDb(file, { pageSize: 4096, nRoots: 4 });
    for (const options of [{ pageSize: 8192 }, { pageSize: 1024 }, { nRoots: 3 }, { nRoots: 5 }, { nRoots: 1 }, { pageSize: 8192, nRoots: 2 }]) {
      expectOpenFails(file, options, 'ROTA_BAD_OPTION');
    }
    const db = openFile(file, { pageSize: 4096, nRoots: 4 }); // the lock was released each time
    expect(db.stats().txnId).toBe(5);
    expectClean(db);
  });

  it.each([
    ['pageSize 3000', { pageSize: 3000 }],
    ['pageSize 512', { pageSize: 512 }],
    ['pageSize 131072', { pageSize: 131072 }],
    ['pageSize 0', { pageSize: 0 }],
    ['pageSize NaN', { pageSize: NaN }],
    ['pageSize 4096.5', { pageSize: 4096.5 }],
    ['nRoots 0', { nRoots: 0 }],
    ['nRoots 256', { nRoots: 256 }],
    ['nRoots 1.5', { nRoots: 1.5 }],
    ['nRoots -1', { nRoots: -1 }],
    ['cacheSize -1', { cacheSize: -1 }],
    ['cacheSize NaN', { cacheSize: NaN }],
    ['writeTimeoutMs -1', { writeTimeoutMs: -1 }],
    ['maxReaders 0', { maxReaders: 0 }],
    ['encoding', { encoding: 'yaml' as never }],
    ['keyEncoding', { keyEncoding: 'reverse' as never }],
  ])('invalid option %s throws ROTA_BAD_OPTION and creates nothing', async (_name, options) => {
    const dir = tempDir();
    const file = path.join(dir, 'new.rdb');
    expectOpenFails(file, options as OpenOptions, 'ROTA_BAD_OPTION');
    expect(fs.readdirSync(dir)).toEqual([]);
    // and an existing file is left as it was
    const existing = path.join(dir, 'existing.rdb');
    await makeDb(existing, {}, 1);
    expectOpenFails(existing, options as OpenOptions, 'ROTA_BAD_OPTION');
  });

  it('open() needs a path or a storage', () => {
    expect(syncCodeOf(() => open({}))).toBe('ROTA_BAD_OPTION');
  });

  it('a path in a missing directory is refused without creating anything', () => {
    const dir = tempDir();
    const file = path.join(dir, 'missing', 'db.rdb');
    expect(syncCodeOf(() => track(open(file)))).toMatch(/^ROTA_/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

// ---------------------------------------------------------------- not a database

describe('files that are not databases', () => {
  it.each([
    ['a short text file', Buffer.from('hello, this is not a database\n')],
    ['a long text file', Buffer.from('lorem ipsum dolor sit amet\n'.repeat(4000))],
    ['an empty file', Buffer.alloc(0)],
    ['a file of zeros', Buffer.alloc(256 * 1024)],
    ['a file of 0xff', Buffer.alloc(64 * 1024, 0xff)],
    ['random bytes', Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 2654435761) >>> 24))],
    ['a text file that starts like a root slot', Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.from('RTDB'), Buffer.alloc(8192, 0x41)])],
  ])('%s → ROTA_NOT_A_DATABASE, file untouched', (_name, content) => {
    const file = tempPath('not.rdb');
    fs.writeFileSync(file, content);
    expectOpenFails(file, {}, 'ROTA_NOT_A_DATABASE');
    expectOpenFails(file, { pageSize: 4096, nRoots: 4 }, 'ROTA_NOT_A_DATABASE');
    expect(fs.statSync(file).size).toBe(content.length);
  });

  it('a directory → ROTA_NOT_A_DATABASE, directory untouched', () => {
    const parent = tempDir();
    const dir = path.join(parent, 'adir');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'inside.txt'), 'x');
    expectOpenFails(dir, {}, 'ROTA_NOT_A_DATABASE');
    expect(fs.statSync(dir).isDirectory()).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['inside.txt']);
    expect(fs.readdirSync(parent)).toEqual(['adir']);
  });

  it('a truncated file (cut in half) → ROTA_CORRUPT, file untouched', async () => {
    const file = tempPath();
    const full = await makeDb(file, { pageSize: 4096, nRoots: 4 }, 8);
    expect(full.length).toBeGreaterThan(16 * 4096);
    const half = full.subarray(0, Math.floor(full.length / 2 / 4096) * 4096 + 100);
    fs.writeFileSync(file, half);
    expectOpenFails(file, {}, 'ROTA_CORRUPT');
    // cut to the root slots alone
    fs.writeFileSync(file, full.subarray(0, 4 * 4096));
    expectOpenFails(file, {}, 'ROTA_CORRUPT');
    // shorter than the smallest page: nothing to recognise at all
    fs.writeFileSync(file, full.subarray(0, 1000));
    expectOpenFails(file, {}, 'ROTA_NOT_A_DATABASE');
  });
});

// ---------------------------------------------------------------- format version

describe('a file of a newer format', () => {
  const pageSize = 4096;
  const nRoots = 4;

  /** Sets the format version of slot `s` in `img`, re-sealing it with a correct checksum unless told not to. */
  function patchVersion(img: Buffer, s: number, version: number, reseal = true): void {
    const page = new Uint8Array(pageSize); // a fresh, aligned copy for the word-wise checksum
    page.set(img.subarray(s * pageSize, (s + 1) * pageSize));
    page[SLOT_FORMAT] = version & 0xff;
    page[SLOT_FORMAT + 1] = version >>> 8;
    if (reseal) new DataView(page.buffer).setUint32(SLOT_CHECKSUM, checksum(page, 4, pageSize, s), true);
    img.set(page, s * pageSize);
  }

  const usedSlots = (img: Buffer): number[] =>
    Array.from({ length: nRoots }, (_, s) => s).filter((s) => img.subarray(s * pageSize, (s + 1) * pageSize).some((x) => x !== 0));

  it('the format version in every slot, correctly sealed → ROTA_FORMAT_VERSION, file untouched', async () => {
    const file = tempPath();
    const img = await makeDb(file, { pageSize, nRoots }, 6);
    expect(usedSlots(img)).toEqual([0, 1, 2, 3]);
    for (const s of usedSlots(img)) {
      expect(u16At(img, s * pageSize + SLOT_FORMAT)).toBe(FORMAT_VERSION);
      patchVersion(img, s, FORMAT_VERSION + 1);
    }
    fs.writeFileSync(file, img);
    expectOpenFails(file, {}, 'ROTA_FORMAT_VERSION');
    expectOpenFails(file, { pageSize, nRoots }, 'ROTA_FORMAT_VERSION');
  });

  it('a newer format in the newest slot alone is refused too (a newer library wrote the file)', async () => {
    const file = tempPath();
    const img = await makeDb(file, { pageSize, nRoots }, 6);
    patchVersion(img, 6 % nRoots, 0x0102);
    fs.writeFileSync(file, img);
    expectOpenFails(file, {}, 'ROTA_FORMAT_VERSION');
  });

  it('the same patch without a valid checksum is damage, not a version → ROTA_NOT_A_DATABASE', async () => {
    const file = tempPath();
    const img = await makeDb(file, { pageSize, nRoots }, 6);
    for (const s of usedSlots(img)) patchVersion(img, s, FORMAT_VERSION + 1, false);
    fs.writeFileSync(file, img);
    expectOpenFails(file, {}, 'ROTA_NOT_A_DATABASE');
  });

  it('the checksum check really covers the slot: re-sealing an unchanged slot is accepted', async () => {
    const file = tempPath();
    const img = await makeDb(file, { pageSize, nRoots }, 6);
    for (const s of usedSlots(img)) patchVersion(img, s, FORMAT_VERSION);
    expect(img.equals(fs.readFileSync(file))).toBe(true);
    const db = openFile(file);
    expect(db.stats().txnId).toBe(6);
    expectClean(db);
  });
});

// ---------------------------------------------------------------- damaged newest root slot

describe('a damaged newest root slot', () => {
  it('reopen falls back to the previous version, which is whole', async () => {
    const file = tempPath();
    const pageSize = 4096;
    const nRoots = 4;
    const db = openFile(file, { pageSize, nRoots });
    db.transactionSync(() => {
      for (let i = 0; i < 200; i++) db.putSync(`base${i}`, 'x'.repeat(100));
    });
    db.putSync('a', 1); // txn 2
    db.putSync('b', 2); // txn 3
    db.transactionSync(() => { // txn 4, slot 0
      db.putSync('c', 3);
      db.removeSync('base7');
      db.putSync('base8', 'changed');
    });
    expect(db.stats().txnId).toBe(4);
    expectClean(db);
    await db.close();

    const img = fs.readFileSync(file);
    const newest = 4 % nRoots;
    img[newest * pageSize + 300] ^= 0x01; // inside the checksummed area, past the used fields
    fs.writeFileSync(file, img);

    const back = openFile(file);
    expect(back.stats().txnId).toBe(3);
    expect(back.get('c')).toBeUndefined(); // the last commit is gone
    expect(back.get('b')).toBe(2); // the one before is there
    expect(back.get('a')).toBe(1);
    expect(back.get('base7')).toBe('x'.repeat(100));
    expect(back.get('base8')).toBe('x'.repeat(100));
    expect(back.stats().entries).toBe(202);
    expectClean(back);

    // writing goes on from there, over the damaged slot, and survives another reopen
    for (let i = 0; i < 2 * nRoots; i++) back.putSync(`after${i}`, i);
    expect(back.stats().txnId).toBe(3 + 2 * nRoots);
    expectClean(back);
    await back.close();
    const again = openFile(file);
    expect(again.get(`after${2 * nRoots - 1}`)).toBe(2 * nRoots - 1);
    expect(again.get('c')).toBeUndefined();
    expect(again.stats().entries).toBe(202 + 2 * nRoots);
    expectClean(again);
  });

  it('a damaged slot 0 (where the page size is first looked for) still opens from the others', async () => {
    const file = tempPath();
    const pageSize = 8192;
    const db = openFile(file, { pageSize, nRoots: 4 });
    for (let i = 1; i <= 4; i++) db.putSync(`k${i}`, i); // txn 4 is in slot 0
    await db.close();
    const img = fs.readFileSync(file);
    img.fill(0x55, 0, 64); // magic, page size and txn id of slot 0 are gone
    fs.writeFileSync(file, img);
    const back = openFile(file);
    expect(back.stats()).toMatchObject({ pageSize, nRoots: 4, txnId: 3 });
    expect(back.get('k3')).toBe(3);
    expect(back.get('k4')).toBeUndefined();
    expectClean(back);
    back.putSync('k4', 'again'); // rewrites slot 0
    await back.close();
    const again = openFile(file, { pageSize, nRoots: 4 });
    expect(again.get('k4')).toBe('again');
    expectClean(again);
  });

  it('bytes after the last page in use are ignored', async () => {
    const file = tempPath();
    await makeDb(file, { pageSize: 4096, nRoots: 4 }, 2);
    fs.appendFileSync(file, Buffer.alloc(10_000, 0x77));
    const db = openFile(file);
    expect(db.stats().txnId).toBe(2);
    expectClean(db);
    db.putSync('more', 'x'.repeat(50_000));
    expectClean(db);
    await db.close();
    const again = openFile(file);
    expect(again.get('more')).toBe('x'.repeat(50_000));
    expectClean(again);
  });

  it('damage to a field of the newest slot (its txn id) falls back the same way', async () => {
    const file = tempPath();
    const db = openFile(file, { nRoots: 2, pageSize: 1024 });
    db.putSync('one', 1);
    db.putSync('two', 2);
    await db.close();
    const img = fs.readFileSync(file);
    img[0 * 1024 + 16] ^= 0x80; // txn 2 lives in slot 0: flip a bit of its txn id
    fs.writeFileSync(file, img);
    const back = openFile(file);
    expect(back.stats().txnId).toBe(1);
    expect(back.get('one')).toBe(1);
    expect(back.get('two')).toBeUndefined();
    expectClean(back);
  });
});
