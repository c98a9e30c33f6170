import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidKeyError, InvalidOptionError } from '../../src/errors.js';
import { binaryKeys, keyCodec, orderedKeys, type Key } from '../../src/encoding/keys.js';

// ---------------------------------------------------------------------------------------------
// helpers

/** One shared, generously sized scratch buffer; every test copies out what it keeps. */
const scratch = Buffer.alloc(1 << 16);

/** Encodes `k` with orderedKeys into a fresh buffer of exactly the encoded length. */
function enc(k: unknown): Buffer {
  const n = orderedKeys.write(k, scratch);
  expect(n).toBeLessThanOrEqual(scratch.length);
  return Buffer.from(scratch.subarray(0, n));
}

function dec(b: Uint8Array): Key {
  return orderedKeys.read(b, 0, b.length);
}

/**
 * A type-tagged, JSON-comparable picture of a key, so that a failure says exactly what differs:
 * -0 vs 0, Buffer vs plain Uint8Array, and the bytes, all become visible.
 */
type Shape = ['null'] | ['bool', boolean] | ['num', string] | ['str', string] | ['buf' | 'u8', string] | ['arr', ...Shape[]] | ['other', string];

function shape(k: unknown): Shape {
  if (k === null) return ['null'];
  if (typeof k === 'boolean') return ['bool', k];
  if (typeof k === 'number') return ['num', Object.is(k, -0) ? '-0' : String(k)];
  if (typeof k === 'string') return ['str', k];
  if (k instanceof Uint8Array) return [Buffer.isBuffer(k) ? 'buf' : 'u8', Buffer.from(k).toString('hex')];
  if (Array.isArray(k)) return ['arr', ...k.map(shape)];
  return ['other', String(k)];
}

/** What a key should look like after a round trip: -0 becomes 0 and every Uint8Array a Buffer. */
function expectedShape(k: Key): Shape {
  if (typeof k === 'number' && Object.is(k, -0)) return ['num', '0'];
  if (k instanceof Uint8Array) return ['buf', Buffer.from(k).toString('hex')];
  if (Array.isArray(k)) return ['arr', ...k.map(expectedShape)];
  return shape(k);
}

// --- the reference order, written from the header comment of src/encoding/keys.ts -------------

function rank(k: Key): number {
  if (k === null) return 0;
  if (k === false) return 1;
  if (k === true) return 2;
  if (typeof k === 'number') return 3;
  if (typeof k === 'string') return 4;
  if (k instanceof Uint8Array) return 5;
  if (Array.isArray(k)) return 6;
  throw new Error(`not a key: ${String(k)}`);
}

/** Compares by Unicode code point (not by UTF-16 code unit as JS `<` does). */
function cmpCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x < y ? -1 : 1;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return (i < a.length ? 1 : 0) - (j < b.length ? 1 : 0);
}

function cmpBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function ref(a: Key, b: Key): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0; // -0 == 0
  if (typeof a === 'string' && typeof b === 'string') return cmpCodePoints(a, b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return cmpBytes(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = ref(a[i]!, b[i]!);
      if (c !== 0) return c;
    }
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
  }
  return 0; // null/false/true: same rank means equal
}

// --- arbitraries -------------------------------------------------------------------------------

/**
 * Code points chosen around the UTF-8 length boundaries and the place where UTF-16 order and
 * code point order disagree (U+E000..U+FFFF sort after U+10000.. in UTF-16 order, before it by code point).
 */
const trickyChar = fc.constantFrom(
  '\u0000', '\u0001', 'a', 'b', '\u007f', '\u0080', '\u00ff', '\u07ff', '\u0800',
  '\ud7ff', '\ue000', '\ufeff', '\uffff', '\u{10000}', '\u{1f600}', '\u{10ffff}',
);

const stringArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: trickyChar, maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }), // any code point, astral included, no lone surrogates
  fc.string({ maxLength: 6 }),
  fc.constantFrom('', '\u0000', '\u0000\u0000', '\u0000\u0001', 'a\u0000', '\u{10000}', '\uffff'),
);

const specialNumbers = [
  0, -0, 1, -1, 0.5, -0.5, 1e-300, -1e-300,
  Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE,
  Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53 + 2, -(2 ** 60), 2 ** 64, 1e21, -1e21,
  Infinity, -Infinity,
];

const numberArb: fc.Arbitrary<number> = fc.oneof(
  fc.double({ noNaN: true }), // includes -0, ±Infinity, MIN_VALUE, MAX_VALUE among its biases
  fc.integer({ min: -1000, max: 1000 }),
  fc.integer(),
  fc.constantFrom(...specialNumbers),
);

const byteListArb = fc.oneof(
  fc.array(fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff), { maxLength: 6 }),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }),
);

const bytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  byteListArb.map((b) => Uint8Array.from(b)),
  byteListArb.map((b) => Buffer.from(b)),
  // a Uint8Array that is a view into the middle of a larger ArrayBuffer
  byteListArb.map((b) => {
    const backing = new Uint8Array(b.length + 4).fill(0xaa);
    backing.set(b, 2);
    return backing.subarray(2, 2 + b.length);
  }),
);

const scalarArb: fc.Arbitrary<Key> = fc.oneof(
  { arbitrary: fc.constantFrom<Key>(null, false, true), weight: 1 },
  { arbitrary: numberArb, weight: 2 },
  { arbitrary: stringArb, weight: 3 },
  { arbitrary: bytesArb, weight: 2 },
);

const arr1: fc.Arbitrary<Key[]> = fc.array(scalarArb, { maxLength: 4 });
const arr2: fc.Arbitrary<Key[]> = fc.array(fc.oneof(scalarArb, arr1), { maxLength: 4 });
const arr3: fc.Arbitrary<Key[]> = fc.array(fc.oneof(scalarArb, arr1, arr2), { maxLength: 3 });

/** Scalars and arrays of them, nested up to 3 levels, empty arrays included. */
const keyArb: fc.Arbitrary<Key> = fc.oneof(
  { arbitrary: scalarArb, weight: 3 },
  { arbitrary: arr1, weight: 2 },
  { arbitrary: arr2, weight: 2 },
  { arbitrary: arr3, weight: 1 },
);

function insertAt<T>(xs: readonly T[], i: number, ys: readonly T[]): T[] {
  return [...xs.slice(0, i), ...ys, ...xs.slice(i)];
}

/**
 * A key derived from `a` by a small edit (append, insert, truncate, replace one element, recursing
 * into arrays), so that pairs share long prefixes and differ right where escaping and terminators matter.
 */
function derive(a: Key, depth = 0): fc.Arbitrary<Key> {
  const opts: fc.Arbitrary<Key>[] = [fc.constant(a), scalarArb];
  if (typeof a === 'string') {
    const cps = [...a];
    const n = cps.length;
    opts.push(
      fc.tuple(fc.nat(n), fc.string({ unit: trickyChar, minLength: 1, maxLength: 2 })).map(([i, s]) => insertAt(cps, i, [...s]).join('')),
      fc.nat(n).map((i) => cps.slice(0, i).join('')),
      fc.constantFrom(a + '\u0000', a + '\u0001', a + '\uffff', a + '\u{10000}'),
    );
    if (n > 0) opts.push(fc.tuple(fc.nat(n - 1), trickyChar).map(([i, c]) => cps.map((x, j) => (j === i ? c : x)).join('')));
  } else if (typeof a === 'number') {
    opts.push(fc.constantFrom(-a, a + 1, a - 1, a * 2, a / 2, -0, 0));
  } else if (a instanceof Uint8Array) {
    const bs = [...a];
    const n = bs.length;
    const byte = fc.constantFrom(0x00, 0x01, 0xfe, 0xff);
    opts.push(
      fc.tuple(fc.nat(n), fc.array(byte, { minLength: 1, maxLength: 2 })).map(([i, ys]) => Uint8Array.from(insertAt(bs, i, ys))),
      fc.nat(n).map((i) => Buffer.from(bs.slice(0, i))),
    );
    if (n > 0) opts.push(fc.tuple(fc.nat(n - 1), byte).map(([i, y]) => Buffer.from(bs.map((x, j) => (j === i ? y : x)))));
  } else if (Array.isArray(a)) {
    const n = a.length;
    opts.push(
      fc.tuple(fc.nat(n), fc.oneof(scalarArb, arr1)).map(([i, e]) => insertAt(a, i, [e])),
      fc.nat(n).map((i) => a.slice(0, i)),
      fc.constant([a]), // wrapped one level deeper
    );
    if (n > 0 && depth < 4) {
      opts.push(fc.nat(n - 1).chain((i) => derive(a[i]!, depth + 1).map((e) => a.map((x, j) => (j === i ? e : x)))));
    }
  }
  return fc.oneof(...opts);
}

/** Pairs of keys: half unrelated, half derived from one another (shared prefixes). */
const pairArb: fc.Arbitrary<[Key, Key]> = fc.oneof(
  fc.tuple(keyArb, keyArb),
  keyArb.chain((a) => derive(a).map((b): [Key, Key] => [a, b])),
  keyArb.chain((a) => derive(a).chain((b) => derive(b).map((c): [Key, Key] => [a, c]))),
);

function nest(levels: number, inner: Key = 1): Key {
  let k: Key = inner;
  for (let i = 0; i < levels; i++) k = [k];
  return k;
}

function expectBadKey(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected InvalidKeyError to be thrown').toBeInstanceOf(InvalidKeyError);
  expect((caught as InvalidKeyError).code).toBe('ROTA_BAD_KEY');
}

// ---------------------------------------------------------------------------------------------

describe('reference comparator (sanity of the test oracle)', () => {
  it('orders by code point, not by UTF-16 code unit', () => {
    expect('\u{10000}' < '\uffff').toBe(true); // JS order
    expect(cmpCodePoints('\u{10000}', '\uffff')).toBe(1); // code point order
    expect(cmpCodePoints('a', 'a\u0000')).toBe(-1);
    expect(cmpCodePoints('', '')).toBe(0);
    expect(ref([1, 'a'], [1, 'a', null])).toBe(-1);
    expect(ref(-0, 0)).toBe(0);
    expect(ref(true, -Infinity)).toBe(-1);
  });
});

describe('orderedKeys: round trip', () => {
  it('read(write(k)) reproduces every generated key (-0 as 0, byte arrays as Buffers)', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const n = orderedKeys.write(k, scratch);
        expect(n).toBeLessThanOrEqual(scratch.length);
        const back = orderedKeys.read(scratch, 0, n);
        expect(shape(back)).toEqual(expectedShape(k));
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a key stored at an offset inside a larger buffer, ignoring bytes around it', () => {
    fc.assert(
      fc.property(keyArb, fc.nat(40), fc.nat(40), fc.constantFrom(0x00, 0x01, 0xff), (k, before, after, fill) => {
        const e = enc(k);
        const page = new Uint8Array(before + e.length + after).fill(fill);
        page.set(e, before);
        const back = orderedKeys.read(page, before, before + e.length);
        expect(shape(back)).toEqual(expectedShape(k));
      }),
      { numRuns: 1500 },
    );
  });

  it('writes into a target of exactly the encoded length, with the same bytes', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const e = enc(k);
        const exact = Buffer.alloc(e.length, 0xee);
        expect(orderedKeys.write(k, exact)).toBe(e.length);
        expect(exact.equals(e)).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  it('round-trips hand-picked edge cases', () => {
    const cases: Key[] = [
      '', '\u0000', '\u0000\u0000', 'a\u0000b', '\u{10ffff}', '\uffff\u{10000}',
      0, 1, -1, 0.1, -0.1, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE,
      Infinity, -Infinity, 2 ** 53 + 2, -(2 ** 62),
      null, false, true,
      new Uint8Array(0), Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 0, 0xff, 0]), Buffer.from([0xff, 0xff]),
      [], [[]], [[], []], [[[]]], [''], ['', ''], [new Uint8Array(0)], [Buffer.from([0, 0xff, 1])],
      ['\u0000', ['\u0000\u0001'], [[Buffer.from([0, 1])]]], [null, false, true, 0, 'x', Buffer.from([9])],
      nest(16), nest(16, 'deep\u0000'),
    ];
    for (const k of cases) expect(shape(dec(enc(k))), `key ${JSON.stringify(shape(k))}`).toEqual(expectedShape(k));
  });

  it('top-level strings of every length around the short-ASCII fast path, ASCII or not, in a Buffer or a Uint8Array', () => {
    const tails = ['', '\u007f', '\u0080', '\u00e9', '\u20ac', '\u{1f600}'];
    for (let n = 0; n <= 40; n++) {
      for (const tail of tails) {
        const k = 'k0123456789abcdefghijklmnopqrstuvwxyzABCD'.slice(0, n) + tail;
        const e = enc(k);
        for (const before of [0, 3]) {
          const buf = Buffer.alloc(before + e.length + 2, 0x80);
          e.copy(buf, before);
          const u8 = new Uint8Array(buf);
          expect(orderedKeys.read(buf, before, before + e.length)).toBe(k);
          expect(orderedKeys.read(u8, before, before + e.length)).toBe(k);
        }
      }
    }
    // bytes that are not UTF-8 decode as before (U+FFFD), short or long
    for (const n of [1, 5, 16, 17, 30]) {
      const b = Buffer.alloc(n + 1, 0x61);
      b[0] = 0x20;
      b[n] = 0xff;
      expect(orderedKeys.read(b, 0, b.length)).toBe('a'.repeat(n - 1) + '\ufffd');
    }
  });

  it('top-level numbers read at an offset inside a larger buffer', () => {
    for (const x of [0, 1, -1, 0.5, -1e300, 2 ** 53, -Infinity, Infinity, Number.MIN_VALUE]) {
      const e = enc(x);
      const buf = Buffer.concat([Buffer.from([0x10, 0xff]), e, Buffer.from([0x7f])]);
      expect(orderedKeys.read(buf, 2, 2 + e.length)).toBe(x);
      expect(orderedKeys.read(new Uint8Array(buf), 2, 2 + e.length)).toBe(x);
    }
  });

  it('returns -0 as +0 and a Uint8Array as a Buffer, at top level and inside arrays', () => {
    expect(Object.is(dec(enc(-0)), 0)).toBe(true);
    const arr = dec(enc([-0, [-0]])) as Key[];
    expect(Object.is(arr[0], 0)).toBe(true);
    expect(Object.is((arr[1] as Key[])[0], 0)).toBe(true);
    const top = dec(enc(new Uint8Array([1, 0, 255])));
    expect(Buffer.isBuffer(top)).toBe(true);
    expect([...(top as Buffer)]).toEqual([1, 0, 255]);
    const inner = (dec(enc([new Uint8Array([0, 255])])) as Key[])[0];
    expect(Buffer.isBuffer(inner)).toBe(true);
    expect([...(inner as Buffer)]).toEqual([0, 255]);
  });

  it('decoded byte arrays do not alias the encoded input', () => {
    for (const k of [Buffer.from([1, 2, 3]), [Buffer.from([1, 0, 3])], ['s', [Buffer.from([7])]]] as Key[]) {
      const e = enc(k);
      const back = dec(e);
      const before = shape(back);
      e.fill(0x42);
      expect(shape(back)).toEqual(before);
    }
  });

  it('never maps two distinct strings to one encoding (lone surrogates must round-trip or be rejected)', () => {
    // A string with an unpaired surrogate has no UTF-8 form. Either encode it losslessly or throw
    // InvalidKeyError — silently replacing it by U+FFFD makes distinct keys collide.
    for (const k of ['\ud800', '\udfff', 'a\ud800b', ['\udc00']] as Key[]) {
      let e: Buffer | undefined;
      try {
        e = enc(k);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidKeyError);
        continue;
      }
      const units = (x: Key): string => JSON.stringify(x); // JSON.stringify escapes lone surrogates as \udXXX
      expect(units(dec(e)), `key ${units(k)} came back changed`).toBe(units(k));
    }
  });
});

describe('orderedKeys: order', () => {
  it('unsigned byte order of encodings equals the documented key order', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        const c = Math.sign(Buffer.compare(enc(a), enc(b)));
        expect(c, `${JSON.stringify(shape(a))} vs ${JSON.stringify(shape(b))}`).toBe(Math.sign(ref(a, b)));
      }),
      { numRuns: 8000 },
    );
  });

  it('equal keys encode identically, different keys differently', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        expect(enc(a).equals(enc(b))).toBe(ref(a, b) === 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('sorting by encoding sorts a list of keys like the reference comparator', () => {
    fc.assert(
      fc.property(fc.array(keyArb, { maxLength: 30 }), (keys) => {
        const byEnc = keys.map((k) => ({ k, e: enc(k) })).sort((x, y) => Buffer.compare(x.e, y.e)).map((x) => x.k);
        for (let i = 1; i < byEnc.length; i++) expect(ref(byEnc[i - 1]!, byEnc[i]!)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 300 },
    );
  });

  function expectStrictlyAscending(keys: Key[]): void {
    for (let i = 1; i < keys.length; i++) {
      const a = keys[i - 1]!;
      const b = keys[i]!;
      expect(Buffer.compare(enc(a), enc(b)), `${JSON.stringify(shape(a))} < ${JSON.stringify(shape(b))}`).toBe(-1);
    }
  }

  it('orders type ranks: null < false < true < number < string < bytes < array', () => {
    expectStrictlyAscending([null, false, true, -Infinity, Infinity, '', '\u{10ffff}', new Uint8Array(0), Buffer.from([0xff, 0xff]), []]);
    expectStrictlyAscending([[null], [false], [true], [-Infinity], [Infinity], [''], ['\u{10ffff}'], [new Uint8Array(0)], [Buffer.from([0xff])], [[]]]);
  });

  it('orders numbers numerically across sign, magnitude and infinities', () => {
    expectStrictlyAscending([
      -Infinity, -Number.MAX_VALUE, -1e21, -(2 ** 60), -(2 ** 53) - 2, -(2 ** 53), -1, -0.5, -1e-300, -Number.MIN_VALUE,
      0, Number.MIN_VALUE, 1e-300, 0.5, 1, 2, 2 ** 53, 2 ** 53 + 2, 2 ** 60, 1e21, Number.MAX_VALUE, Infinity,
    ]);
  });

  it('orders strings by code point, including U+FFFF before U+10000', () => {
    expectStrictlyAscending(['', '\u0000', '\u0000\u0000', '\u0001', 'a', 'a\u0000', 'a\u0001', 'ab', '\u00ff', '\u0800', '\ue000', '\uffff', '\u{10000}', '\u{10ffff}']);
    expectStrictlyAscending([['\uffff'], ['\u{10000}']]);
  });

  it('orders strings and bytes inside arrays with a prefix first, despite 0x00 escaping', () => {
    expectStrictlyAscending([[''], ['', ''], ['', '\u0000'], ['\u0000'], ['\u0000', ''], ['\u0000\u0000'], ['\u0000\u0001'], ['\u0001'], ['a'], ['a', null], ['a\u0000'], ['a\u00ff'], ['b']]);
    const B = (...x: number[]) => Buffer.from(x);
    expectStrictlyAscending([[B()], [B(), B()], [B(0)], [B(0), B()], [B(0, 0)], [B(0, 1)], [B(0, 0xff)], [B(1)], [B(0xff)], [B(0xff, 0)], [B(0xff, 0xff)]]);
  });

  it('orders nested arrays elementwise with a prefix first', () => {
    expectStrictlyAscending([[], [null], [[]], [[], null], [[], []], [[null]], [[null], null], [[1]], [[1, 2]], [[1, 2], 0], [[2]], [[[]]], [[['a']]]]);
  });

  it('encodes 0 and -0 identically, alone and inside arrays', () => {
    expect(enc(-0).equals(enc(0))).toBe(true);
    expect(enc([-0]).equals(enc([0]))).toBe(true);
    expect(enc([1, [-0, 'x']]).equals(enc([1, [0, 'x']]))).toBe(true);
    expect(enc(Buffer.from([1, 2])).equals(enc(new Uint8Array([1, 2])))).toBe(true);
  });
});

describe('orderedKeys: invalid keys', () => {
  const fn = () => 1;
  const bad: [string, unknown][] = [
    ['NaN', NaN],
    ['undefined', undefined],
    ['a plain object', { a: 1 }],
    ['a null-prototype object', Object.create(null)],
    ['a symbol', Symbol('k')],
    ['a bigint', 10n],
    ['a function', fn],
    ['a Map', new Map([[1, 2]])],
    ['a Set', new Set([1])],
    ['a Date', new Date(0)],
    ['an ArrayBuffer', new ArrayBuffer(2)],
    ['[NaN]', [NaN]],
    ['[1, undefined]', [1, undefined]],
    ['[[{}]]', [[{}]]],
    ['["a", symbol]', ['a', Symbol('k')]],
    ['[bigint]', [1n]],
    ['[function]', [fn]],
    ['[Map]', [new Map()]],
    ['a sparse array', [, 1]], // eslint-disable-line no-sparse-arrays
    ['arrays nested 17 deep', nest(17)],
    ['arrays nested 17 deep around a string', nest(17, 'x')],
    ['arrays nested 30 deep', nest(30)],
    ['a long key with NaN at the end', ['x'.repeat(100_000), NaN]],
  ];

  for (const [name, k] of bad) {
    it(`rejects ${name} with InvalidKeyError (big and zero-size targets)`, () => {
      expectBadKey(() => orderedKeys.write(k, Buffer.alloc(1 << 16)));
      expectBadKey(() => orderedKeys.write(k, Buffer.alloc(0)));
      expectBadKey(() => orderedKeys.write(k, Buffer.alloc(5)));
    });
  }

  it('accepts arrays nested exactly 16 deep', () => {
    expect(shape(dec(enc(nest(16))))).toEqual(expectedShape(nest(16)));
  });

  it('rejects any key that contains NaN or undefined somewhere inside, whatever else it holds', () => {
    fc.assert(
      fc.property(arr2, fc.constantFrom<unknown>(NaN, undefined, {}, 1n), fc.nat(), (arr, poison, pos) => {
        const k: unknown[] = [...arr];
        k.splice(pos % (k.length + 1), 0, poison);
        expectBadKey(() => orderedKeys.write(k, scratch));
        expectBadKey(() => orderedKeys.write([k], Buffer.alloc(2)));
      }),
      { numRuns: 300 },
    );
  });

  it('reports an unknown type tag when reading bytes it did not write', () => {
    expectBadKey(() => orderedKeys.read(Buffer.from([0x99, 1, 2]), 0, 3));
  });
});

describe('orderedKeys: target too small', () => {
  const astral = '\u{1f600}';
  const bigTargets: [string, unknown][] = [
    ['a long ASCII string', 'x'.repeat(100_000)],
    ['a long astral string', astral.repeat(30_000)],
    ['a long string just over the worst-case fast path', 'é'.repeat(500)],
    ['a long Buffer with 0x00 and 0xff', Buffer.alloc(300_000, 0).fill(0xff, 100_000, 200_000)],
    ['a long Uint8Array', new Uint8Array(70_000).fill(7)],
    ['a long array of strings with NULs', Array.from({ length: 20_000 }, (_, i) => `k\u0000${i}`)],
    ['a long array of buffers of zeros', Array.from({ length: 5_000 }, () => Buffer.alloc(20))],
    ['a long array of numbers', Array.from({ length: 10_000 }, (_, i) => i - 5000.5)],
    ['a deep long array', [[['y'.repeat(80_000)]], [Buffer.alloc(10_000)]]],
  ];

  for (const [name, k] of bigTargets) {
    it(`returns the exact needed length for ${name} without throwing`, () => {
      const small = Buffer.alloc(100);
      const needed = orderedKeys.write(k, small);
      expect(needed).toBeGreaterThan(small.length);
      const big = Buffer.alloc(needed + 64);
      expect(orderedKeys.write(k, big)).toBe(needed);
      const exact = Buffer.alloc(needed);
      expect(orderedKeys.write(k, exact)).toBe(needed);
      expect(exact.equals(big.subarray(0, needed))).toBe(true);
      expect(shape(orderedKeys.read(exact, 0, needed))).toEqual(expectedShape(k as Key));
      expect(orderedKeys.write(k, Buffer.alloc(needed - 1))).toBe(needed);
      expect(orderedKeys.write(k, Buffer.alloc(0))).toBe(needed);
    });
  }

  it('for every key and every smaller target, write returns the full encoded length', () => {
    fc.assert(
      fc.property(keyArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (k, frac) => {
        const needed = enc(k).length;
        const size = Math.floor(frac * needed);
        const t = Buffer.alloc(size);
        expect(orderedKeys.write(k, t)).toBe(needed);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('binaryKeys', () => {
  it('round-trips any byte array as a Buffer with the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, asBuffer) => {
        const k = asBuffer ? Buffer.from(bytes) : bytes;
        const t = Buffer.alloc(64);
        const n = binaryKeys.write(k, t);
        expect(n).toBe(bytes.length);
        const back = binaryKeys.read(t, 0, n);
        expect(Buffer.isBuffer(back)).toBe(true);
        expect((back as Buffer).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('reads a key between start and end only, and copies it', () => {
    const page = Buffer.from([9, 9, 0, 0xff, 1, 9, 9]);
    const back = binaryKeys.read(page, 2, 5) as Buffer;
    expect([...back]).toEqual([0, 0xff, 1]);
    page.fill(0);
    expect([...back]).toEqual([0, 0xff, 1]);
  });

  it('keeps byte order as the key order', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
        const ta = Buffer.alloc(8);
        const tb = Buffer.alloc(8);
        const ea = ta.subarray(0, binaryKeys.write(a, ta));
        const eb = tb.subarray(0, binaryKeys.write(b, tb));
        expect(Math.sign(Buffer.compare(ea, eb))).toBe(Math.sign(cmpBytes(a, b)));
      }),
      { numRuns: 300 },
    );
  });

  it('returns the needed length for a target too small, without throwing or writing', () => {
    const t = Buffer.alloc(4, 0xee);
    expect(binaryKeys.write(Buffer.alloc(10, 1), t)).toBe(10);
    expect([...t]).toEqual([0xee, 0xee, 0xee, 0xee]);
  });

  for (const [name, k] of [
    ['a string', 'abc'], ['a number', 1], ['null', null], ['undefined', undefined], ['an array', [1, 2]],
    ['an ArrayBuffer', new ArrayBuffer(3)], ['a DataView', new DataView(new ArrayBuffer(3))], ['an object', {}], ['a boolean', true],
  ] as [string, unknown][]) {
    it(`rejects ${name} with InvalidKeyError`, () => {
      expectBadKey(() => binaryKeys.write(k, Buffer.alloc(16)));
    });
  }
});

describe('keyCodec', () => {
  it('maps names to codecs', () => {
    expect(keyCodec(undefined)).toBe(orderedKeys);
    expect(keyCodec('ordered')).toBe(orderedKeys);
    expect(keyCodec('binary')).toBe(binaryKeys);
  });

  for (const name of ['nope', '', 'Ordered', 'msgpack']) {
    it(`rejects the unknown name '${name}' with InvalidOptionError`, () => {
      let caught: unknown;
      try {
        keyCodec(name);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidOptionError);
      expect((caught as InvalidOptionError).code).toBe('ROTA_BAD_OPTION');
    });
  }
});
