/**
 * Keys and values at the public API: the order and round trip of each key encoding, and the keys,
 * values and options that are refused, each with its stable error code.
 */
import { describe, expect, it } from 'vitest';
import type { Key } from '../../src/index.js';
import { keysOf } from '../helpers/api.js';
import { expectClean, openMem, syncCodeOf } from '../helpers/db.js';

/** Byte arrays as tagged plain arrays, so Buffer and Uint8Array compare equal. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return ['bytes', ...v];
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

describe('key encodings', () => {
  it("'ordered': null < false < true < numbers < strings < byte arrays < arrays, each round-tripping", () => {
    const db = openMem();
    const ordered: Key[] = [
      null, false, true, -Infinity, -1e300, -2, -1.5, -Number.MIN_VALUE, 0, Number.MIN_VALUE, 1, 1.5, 2, 1e10, Infinity,
      '', '\u0000', 'a', 'ab', 'b', 'é', '\u{1F600}',
      Buffer.from([]), Buffer.from([0]), Buffer.from([0, 0]), Buffer.from([1, 2]), Buffer.from([255]),
      [], [null], ['a'], ['a', 1], ['a', 2], ['a\u0000'], ['b'], [Buffer.from([0])], [['nested']], [['nested'], 1],
    ];
    const shuffled = ordered.map((k, i) => ({ k, r: (i * 7919) % ordered.length })).sort((a, b) => a.r - b.r);
    db.transactionSync(() => {
      for (const { k } of shuffled) expect(db.putSync(k, k)).toBe(true);
    });
    expect(db.stats().entries).toBe(ordered.length);
    expect(keysOf(db)).toEqual(ordered);
    expect(db.getRange().asArray.map((e) => plain(e.value))).toEqual(ordered.map(plain));
    for (const k of ordered) expect(db.doesExist(k)).toBe(true);
    // -0 is the same key as 0
    expect(db.get(-0)).toBe(0);
    expect(db.putSync(-0, 'zero')).toBe(false);
    expectClean(db);
  });
  // UTF-8 encoding would turn every lone surrogate into U+FFFD and merge distinct keys; the key
  // encoding promises an exact round trip, so it refuses them (ROTA_BAD_KEY).
  it('string keys with lone surrogates round-trip or are refused, never merged', () => {
    const db = openMem();
    let code: string | null = null;
    try {
      db.putSync('\uD800', 'high');
      db.putSync('\uDC00', 'low');
    } catch (e) {
      code = (e as { code?: string }).code ?? String(e);
    }
    if (code !== null) {
      expect(code).toBe('ROTA_BAD_KEY');
    } else {
      expect(db.get('\uD800')).toBe('high');
      expect(db.getKeys().asArray).toEqual(['\uD800', '\uDC00']);
    }
    expectClean(db);
  });

  it("'binary': keys are byte arrays in bytewise order and come back as Buffers", () => {
    const db = openMem({ keyEncoding: 'binary' });
    const keys = [Buffer.from([2]), new Uint8Array([1, 255]), Buffer.from([1]), Buffer.from([0, 0]), Buffer.from([0])];
    for (const k of keys) expect(db.putSync(k, [...k])).toBe(true);
    const got = keysOf(db) as Buffer[];
    expect(got.map((b) => [...b])).toEqual([[0], [0, 0], [1], [1, 255], [2]]);
    for (const b of got) expect(Buffer.isBuffer(b)).toBe(true);
    expect(db.get(new Uint8Array([1, 255]))).toEqual([1, 255]);
    expect(db.getRange({ start: Buffer.from([1]), end: Buffer.from([2]) }).asArray.map((e) => e.value)).toEqual([[1], [1, 255]]);
    expectClean(db);
  });

  it('unknown encodings are rejected at open and openDB', async () => {
    expect(syncCodeOf(() => openMem({ encoding: 'cbor' as never }))).toBe('ROTA_BAD_OPTION');
    expect(syncCodeOf(() => openMem({ keyEncoding: 'utf8' as never }))).toBe('ROTA_BAD_OPTION');
    const db = openMem();
    expect(syncCodeOf(() => db.openDB('x', { encoding: 'cbor' as never }))).toBe('ROTA_BAD_OPTION');
    expect(syncCodeOf(() => db.openDB(''))).toBe('ROTA_BAD_OPTION');
    expect(syncCodeOf(() => db.openDB('n'.repeat(db.maxKeySize + 1)))).toBe('ROTA_BAD_OPTION');
  });
});

describe('keys and values that are refused', () => {
  it('a key of exactly maxKeySize bytes works; one byte more throws ROTA_KEY_TOO_LARGE', async () => {
    const db = openMem({ keyEncoding: 'binary', pageSize: 4096 });
    const max = db.maxKeySize;
    expect(max).toBeGreaterThan(1000);
    const k = Buffer.alloc(max, 7);
    expect(db.putSync(k, 'at the limit')).toBe(true);
    expect(db.get(k)).toBe('at the limit');
    expect((db.getKeys().asArray[0] as Buffer).equals(k)).toBe(true);
    await expect(db.put(Buffer.alloc(max, 8), 'async')).resolves.toBe(true);
    // many maximal keys force splits
    db.transactionSync(() => {
      for (let i = 0; i < 50; i++) db.putSync(Buffer.alloc(max, i + 10), i);
    });
    expect(db.stats().entries).toBe(52);
    const tooBig = Buffer.alloc(max + 1, 7);
    for (const call of [() => db.putSync(tooBig, 1), () => db.put(tooBig, 1), () => db.get(tooBig), () => db.removeSync(tooBig), () => db.remove(tooBig), () => db.doesExist(tooBig), () => db.getRange({ start: tooBig }).asArray]) {
      expect(syncCodeOf(call)).toBe('ROTA_KEY_TOO_LARGE');
    }
    expectClean(db);
  });

  it('the same limit applies to encoded ordered keys', () => {
    const db = openMem({ pageSize: 1024 });
    const max = db.maxKeySize;
    const s = 'x'.repeat(max - 1); // one tag byte + the UTF-8 bytes
    expect(db.putSync(s, 1)).toBe(true);
    expect(db.get(s)).toBe(1);
    expect(syncCodeOf(() => db.putSync(s + 'x', 1))).toBe('ROTA_KEY_TOO_LARGE');
    expect(syncCodeOf(() => db.putSync('é'.repeat(Math.ceil(max / 2)), 1))).toBe('ROTA_KEY_TOO_LARGE');
    expect(db.putSync('é'.repeat(Math.floor((max - 1) / 2)), 2)).toBe(true);
    expectClean(db);
  });

  it('bad keys throw ROTA_BAD_KEY', () => {
    const db = openMem();
    const bad: unknown[] = [undefined, {}, { a: 1 }, NaN, [NaN], Symbol('s'), () => 1, 10n, new Map(), new Date(0), [{}]];
    for (const k of bad) {
      expect(syncCodeOf(() => db.putSync(k, 1)), String(typeof k)).toBe('ROTA_BAD_KEY');
      expect(syncCodeOf(() => db.put(k, 1))).toBe('ROTA_BAD_KEY');
      expect(syncCodeOf(() => db.get(k))).toBe('ROTA_BAD_KEY');
      expect(syncCodeOf(() => db.remove(k))).toBe('ROTA_BAD_KEY');
      expect(syncCodeOf(() => db.removeSync(k))).toBe('ROTA_BAD_KEY');
      expect(syncCodeOf(() => db.doesExist(k))).toBe('ROTA_BAD_KEY');
    }
    expect(syncCodeOf(() => db.getRange({ start: {} }).asArray)).toBe('ROTA_BAD_KEY');
    const bin = openMem({ keyEncoding: 'binary' });
    for (const k of ['string', 1, null, undefined]) {
      expect(syncCodeOf(() => bin.putSync(k, 1))).toBe('ROTA_BAD_KEY');
      expect(syncCodeOf(() => bin.get(k))).toBe('ROTA_BAD_KEY');
    }
    expect(db.stats().entries).toBe(0);
    expectClean(db);
    expectClean(bin);
  });

  it('bad values throw ROTA_BAD_VALUE', () => {
    const msgpack = openMem();
    expect(syncCodeOf(() => msgpack.putSync('k', undefined))).toBe('ROTA_BAD_VALUE');
    expect(syncCodeOf(() => msgpack.put('k', undefined))).toBe('ROTA_BAD_VALUE');
    const json = openMem({ encoding: 'json' });
    expect(syncCodeOf(() => json.putSync('k', undefined))).toBe('ROTA_BAD_VALUE');
    expect(syncCodeOf(() => json.putSync('k', () => 1))).toBe('ROTA_BAD_VALUE');
    const binary = openMem({ encoding: 'binary' });
    for (const v of ['text', 1, null, undefined, [1, 2], { length: 1 }]) {
      expect(syncCodeOf(() => binary.putSync('k', v))).toBe('ROTA_BAD_VALUE');
      expect(syncCodeOf(() => binary.put('k', v))).toBe('ROTA_BAD_VALUE');
    }
    const string = openMem({ encoding: 'string' });
    for (const v of [1, null, undefined, Buffer.from('x'), { s: 'x' }]) {
      expect(syncCodeOf(() => string.putSync('k', v))).toBe('ROTA_BAD_VALUE');
    }
    // a refused value inside a transaction leaves the transaction usable
    string.transactionSync(() => {
      expect(syncCodeOf(() => string.putSync('k', 5))).toBe('ROTA_BAD_VALUE');
      string.putSync('k', 'ok');
    });
    expect(string.get('k')).toBe('ok');
    for (const d of [msgpack, json, binary, string]) expectClean(d);
  });

  it('a value written as json and read with msgpack throws ROTA_DECODE', () => {
    const db = openMem({ encoding: 'json' });
    db.putSync('k', { a: 1, b: 'two' });
    const asMsgpack = db.openDB('other'); // default encoding is msgpack
    const jsonNamed = db.openDB('shared', { encoding: 'json' });
    const msgpackNamed = db.openDB('shared', { encoding: 'msgpack' });
    jsonNamed.putSync('k', { a: 1, b: 'two' });
    expect(syncCodeOf(() => msgpackNamed.get('k'))).toBe('ROTA_DECODE');
    expect(syncCodeOf(() => msgpackNamed.getRange().asArray)).toBe('ROTA_DECODE');
    expect(msgpackNamed.getKeys().asArray).toEqual(['k']); // keys alone still read
    expect(asMsgpack.get('k')).toBeUndefined();
    // msgpack bytes read as json
    msgpackNamed.putSync('m', { a: 1 });
    expect(syncCodeOf(() => jsonNamed.get('m'))).toBe('ROTA_DECODE');
    expectClean(db);
  });
  // for-of and spread do not call return() after next() throws: the iterator must release its
  // snapshot itself, or its pin would block a synchronous writer nRoots - 1 commits later.
  it('a decode error inside getRange releases the snapshot', () => {
    const db = openMem({ encoding: 'json' });
    const msgpackView = db.openDB('d', { encoding: 'msgpack' });
    db.openDB('d', { encoding: 'json' }).putSync('k', { a: 1 });
    expect(syncCodeOf(() => msgpackView.getRange().asArray)).toBe('ROTA_DECODE');
    expect(db.stats().readers).toBe(0);
    expectClean(db);
  });
});
