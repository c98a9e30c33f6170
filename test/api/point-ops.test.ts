/**
 * The public API as documented in src/api/ (and like lmdb-js where it says so): point reads and
 * writes in every value encoding, binary values, and large values. The other concerns of the API
 * have their own files next to this one: keys and value validation, asynchronous writes, ranges,
 * transactions as callbacks and as objects, named databases, close, and stats().
 */
import * as fs from 'node:fs';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { expectClean, openFile, openMem, tempPath } from '../helpers/db.js';

type Codec = 'msgpack' | 'binary' | 'string' | 'json';

const unpackr = new Packr({ useRecords: false, moreTypes: true });

describe('point operations with the default encodings (msgpack values, ordered keys)', () => {
  it('get/put/putSync/remove/removeSync/doesExist/getBinary', async () => {
    const db = openMem();
    expect(db.get('missing')).toBeUndefined();
    expect(db.doesExist('missing')).toBe(false);
    expect(db.getBinary('missing')).toBeUndefined();

    const value = { a: 1, b: [1, 2, 'three'], c: null, d: { e: true }, f: -1.5 };
    expect(db.putSync('obj', value)).toBe(true);
    expect(db.putSync('obj', { ...value, a: 2 })).toBe(false);
    expect(db.get('obj')).toEqual({ ...value, a: 2 });
    expect(db.doesExist('obj')).toBe(true);
    expect(unpackr.unpack(db.getBinary('obj')!)).toEqual({ ...value, a: 2 });

    await expect(db.put('p', 'async')).resolves.toBe(true);
    expect(db.get('p')).toBe('async');
    await expect(db.put('p', 'again')).resolves.toBe(true);
    expect(db.get('p')).toBe('again');

    await expect(db.remove('p')).resolves.toBe(true);
    await expect(db.remove('p')).resolves.toBe(false);
    expect(db.get('p')).toBeUndefined();
    expect(db.removeSync('obj')).toBe(true);
    expect(db.removeSync('obj')).toBe(false);
    expect(db.doesExist('obj')).toBe(false);
    expect(db.stats().entries).toBe(0);
    expectClean(db);
  });

  it('stores every msgpack value kind', () => {
    const db = openMem();
    const values: unknown[] = [0, 1, -1, 2 ** 53 - 1, 1.25, 'text', '', 'ünïcødé 🎉', true, false, null, [], [1, [2, [3]]], {}, { nested: { deep: ['x'] } }, new Date(1_700_000_000_000), 'x'.repeat(50_000)];
    values.forEach((v, i) => expect(db.putSync(i, v)).toBe(true));
    values.forEach((v, i) => expect(db.get(i)).toEqual(v));
    expectClean(db);
  });
});

const cases: Array<{ encoding: Codec; values: unknown[]; bytes: (v: any) => Buffer }> = [
  {
    encoding: 'msgpack',
    values: [{ a: 1, list: [1, 'two'] }, 'str', 42, null, 'y'.repeat(9000)],
    bytes: (v) => Buffer.from(new Packr({ useRecords: false, moreTypes: true }).pack(v)),
  },
  {
    encoding: 'json',
    values: [{ a: 1, list: [1, 'two', true, null] }, 'str', 3.5, null, [], { big: 'z'.repeat(9000) }],
    bytes: (v) => Buffer.from(JSON.stringify(v), 'utf8'),
  },
  {
    encoding: 'string',
    values: ['hello', '', 'ünïcødé 🎉', 'w'.repeat(20_000)],
    bytes: (v: string) => Buffer.from(v, 'utf8'),
  },
  {
    encoding: 'binary',
    values: [Buffer.from([1, 2, 3]), new Uint8Array([0, 255, 0]), Buffer.alloc(0), Buffer.alloc(20_000, 9)],
    bytes: (v: Uint8Array) => Buffer.from(v),
  },
];

describe.each(cases)('encoding $encoding', ({ encoding, values, bytes }) => {
  const expected = (v: unknown): unknown => (encoding === 'binary' ? Buffer.from(v as Uint8Array) : v);

  for (const keyEncoding of ['ordered', 'binary'] as const) {
    const key = (i: number): unknown => (keyEncoding === 'binary' ? Buffer.from(`key-${i}`) : `key-${i}`);

    it(`round-trips values with keyEncoding '${keyEncoding}' (sync and async)`, async () => {
      const db = openMem({ encoding, keyEncoding });
      for (let i = 0; i < values.length; i++) {
        expect(db.putSync(key(i), values[i])).toBe(true);
        expect(db.get(key(i))).toEqual(expected(values[i]));
        expect(db.getBinary(key(i))).toEqual(bytes(values[i]));
        expect(db.doesExist(key(i))).toBe(true);
      }
      // updates: putSync reports false, the new value wins
      for (let i = 0; i < values.length; i++) {
        const next = values[(i + 1) % values.length];
        expect(db.putSync(key(i), next)).toBe(false);
        expect(db.get(key(i))).toEqual(expected(next));
      }
      // the same through the asynchronous API
      const puts = values.map((v, i) => db.put(key(100 + i), v));
      await expect(Promise.all(puts)).resolves.toEqual(values.map(() => true));
      for (let i = 0; i < values.length; i++) expect(db.get(key(100 + i))).toEqual(expected(values[i]));
      expect(db.stats().entries).toBe(2 * values.length);

      await expect(db.remove(key(100))).resolves.toBe(true);
      await expect(db.remove(key(100))).resolves.toBe(false);
      expect(db.removeSync(key(0))).toBe(true);
      expect(db.removeSync(key(0))).toBe(false);
      expect(db.get(key(0))).toBeUndefined();
      expect(db.getBinary(key(0))).toBeUndefined();
      expect(db.doesExist(key(100))).toBe(false);
      expect(db.stats().entries).toBe(2 * values.length - 2);
      const keys = db.getKeys().asArray;
      expect(keys.length).toBe(2 * values.length - 2);
      if (keyEncoding === 'binary') for (const k of keys) expect(Buffer.isBuffer(k)).toBe(true);
      expectClean(db);
    });
  }

  it('getRange decodes values with the encoding', () => {
    const db = openMem({ encoding });
    values.forEach((v, i) => db.putSync(i, v));
    expect(db.getRange().asArray).toEqual(values.map((v, i) => ({ key: i, value: expected(v) })));
    expectClean(db);
  });
});

describe('binary values', () => {
  it('get returns a copy: changing it does not change the stored value', () => {
    const db = openMem({ encoding: 'binary' });
    const src = Buffer.from([1, 2, 3]);
    db.putSync('k', src);
    src[0] = 99; // the caller's buffer was copied at put time
    const a = db.get('k') as Buffer;
    expect([...a]).toEqual([1, 2, 3]);
    a[1] = 77;
    expect([...(db.get('k') as Buffer)]).toEqual([1, 2, 3]);
    const b = db.getBinary('k')!;
    b[2] = 55;
    expect([...(db.get('k') as Buffer)]).toEqual([1, 2, 3]);
    expectClean(db);
  });

  it('an async put copies a Uint8Array value when issued, not when the batch runs', async () => {
    const db = openMem({ encoding: 'binary' });
    const src = new Uint8Array([1, 2, 3]);
    const p = db.put('k', src);
    src.fill(0);
    await p;
    expect([...(db.get('k') as Buffer)]).toEqual([1, 2, 3]);
    expectClean(db);
  });
  // The binary encoder returns the caller's own object: put() must copy it when issued, or a Buffer
  // changed before the batch commits would be stored with its new contents.
  it('an async put copies a Buffer value when issued, not when the batch runs', async () => {
    const db = openMem({ encoding: 'binary' });
    const src = Buffer.from([1, 2, 3]);
    const p = db.put('k', src);
    src.fill(0);
    await p;
    expect([...(db.get('k') as Buffer)]).toEqual([1, 2, 3]);
    expectClean(db);
  });
});

describe('getBinaryFast', () => {
  it('returns the stored bytes without a copy: inline, overflow, inside a write transaction, with versions', () => {
    const db = openMem({ encoding: 'binary' });
    db.putSync('small', Buffer.from('abc'));
    const big = Buffer.alloc(20_000, 7);
    db.putSync('big', big);
    expect(db.getBinaryFast('small')).toEqual(Buffer.from('abc'));
    expect(db.getBinaryFast('big')).toEqual(big);
    expect(db.getBinaryFast('none')).toBeUndefined();
    db.transactionSync(() => {
      db.putSync('small', Buffer.from('xyz'));
      expect(db.getBinaryFast('small')).toEqual(Buffer.from('xyz')); // the open transaction's view
    });
    expect(db.getBinaryFast('small')).toEqual(Buffer.from('xyz'));
    const v = openMem({ encoding: 'binary', useVersions: true });
    v.putSync('k', Buffer.from('val'), 3);
    expect(v.getBinaryFast('k')).toEqual(Buffer.from('val')); // without the 8-byte version
    expect(v.getBinaryFast('k')).toEqual(v.getBinary('k'));
    expectClean(db);
    expectClean(v);
  });
});

describe('large values', () => {
  it('a 64 MiB value round-trips, and its pages are reused once freed', async () => {
    const file = tempPath();
    const db = openFile(file, { encoding: 'binary', nRoots: 2 });
    const size = 64 * 1024 * 1024;
    const big = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) big.writeUInt32LE(i, i); // distinct content per page
    big[size - 1] = 0xab;
    expect(db.putSync('big', big)).toBe(true);
    const back = db.get('big') as Buffer;
    expect(back.length).toBe(size);
    expect(back.equals(big)).toBe(true);
    const st0 = db.stats();
    expect(st0.overflowPages).toBeGreaterThanOrEqual(size / st0.pageSize);
    const freed0 = st0.freePages + st0.pendingPages;
    const fileAfterFirst = fs.statSync(file).size;
    expect(fileAfterFirst).toBeGreaterThan(size);

    // overwrite with a small value: the overflow run is freed
    expect(db.putSync('big', Buffer.from('small'))).toBe(false);
    expect(db.get('big')).toEqual(Buffer.from('small'));
    const st1 = db.stats();
    expect(st1.freePages + st1.pendingPages).toBeGreaterThanOrEqual(freed0 + size / st1.pageSize);
    expect(st1.overflowPages).toBe(0);
    expectClean(db);

    // a few more commits so the freed run passes the epoch rule (nRoots = 2)
    for (let i = 0; i < 4; i++) db.putSync(`tick${i}`, Buffer.from([i]));
    expect(db.stats().pendingPages).toBeLessThan(size / st1.pageSize);
    const fileBefore = fs.statSync(file).size;
    // the overwrite and the ticks needed only a few pages more (nothing was reusable yet at first)
    expect(fileBefore - fileAfterFirst).toBeLessThanOrEqual(8 * st1.pageSize);

    // Slightly smaller than the first value: the commits needed before the run is reusable take
    // their own pages (copied leaf, space-map page) from the lowest free run, i.e. from this one.
    const big2 = Buffer.alloc(size - 64 * st1.pageSize, 0x5a);
    expect(db.putSync('big2', big2)).toBe(true);
    expect((db.get('big2') as Buffer).equals(big2)).toBe(true);
    expect(fs.statSync(file).size).toBe(fileBefore);
    expectClean(db);
    await db.close();

    const db2 = openFile(file, { encoding: 'binary' });
    expect((db2.get('big2') as Buffer).equals(big2)).toBe(true);
    expect(db2.get('big')).toEqual(Buffer.from('small'));
    expectClean(db2);
  });
});
