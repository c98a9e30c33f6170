import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, InvalidValueError, ValueDecodeError } from '../../src/errors.js';
import { valueCodec, type ValueCodec } from '../../src/encoding/values.js';

/** encode() may return a view of a shared buffer: take a private copy before anything else encodes. */
function encodeCopy(codec: ValueCodec, v: unknown): Uint8Array {
  return codec.encode(v).slice();
}

function roundTrip(codec: ValueCodec, v: unknown): unknown {
  return codec.decode(encodeCopy(codec, v));
}

/** Places `bytes` in the middle of a larger "page" and returns the view, like a read from a page would. */
/** A view into the middle of a page, as the store passes it (pages are Buffers: see src/pages/pager.ts). */
function pageView(bytes: Uint8Array, fill = 0xa5): Uint8Array {
  const page = Buffer.alloc(bytes.length + 20, fill);
  page.set(bytes, 7);
  return page.subarray(7, 7 + bytes.length);
}

function expectBadValue(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected InvalidValueError to be thrown').toBeInstanceOf(InvalidValueError);
  expect((caught as InvalidValueError).code).toBe('ROTA_BAD_VALUE');
}

// msgpackr renames an own '__proto__' key (prototype-pollution guard), so keep it out of generated objects
const objectKey = fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__');
const textArb = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }));
const finiteDouble = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0));

const msgpackLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
  finiteDouble,
  fc.constantFrom(Infinity, -Infinity, NaN, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 32, -(2 ** 31) - 1),
  textArb,
  fc.date({ noInvalidDate: true }),
  fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b)),
);

const msgpackValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    msgpackLeaf,
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(objectKey, tie('v'), { maxKeys: 5, noNullPrototype: true }),
    fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 5 }).map((xs) => new Set(xs)),
  ),
})).v;

describe('msgpack', () => {
  const codec = valueCodec('msgpack');

  it('is the default and is named msgpack', () => {
    expect(valueCodec(undefined)).toBe(codec);
    expect(codec.name).toBe('msgpack');
  });

  it('round-trips nested objects, arrays, strings, numbers, Dates, Sets and Buffers', () => {
    fc.assert(
      fc.property(msgpackValue, (v) => {
        expect(roundTrip(codec, v)).toStrictEqual(v);
      }),
      { numRuns: 1500 },
    );
  });

  it('decodes from a view in the middle of a page', () => {
    fc.assert(
      fc.property(msgpackValue, (v) => {
        expect(codec.decode(pageView(encodeCopy(codec, v)))).toStrictEqual(v);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips hand-picked values with their types', () => {
    const date = new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789));
    const v = {
      s: 'héllo \u{1f600} \u0000',
      n: [0, 1, -1, 255, 256, 65535, 65536, 2 ** 32, -(2 ** 31), 1.5, -1e300, 2 ** 53 - 1],
      nested: { a: [{ b: [[], {}] }], empty: '' },
      date,
      old: new Date(-8.64e15),
      buf: Buffer.from([0, 1, 0xff]),
      set: new Set([1, 'a', 3]),
      t: true,
      f: false,
      nil: null,
    };
    const back = roundTrip(codec, v) as typeof v;
    expect(back).toStrictEqual(v);
    expect(back.date).toBeInstanceOf(Date);
    expect(back.date.getTime()).toBe(date.getTime());
    expect(Buffer.isBuffer(back.buf)).toBe(true);
    expect(back.set).toBeInstanceOf(Set);
    expect(roundTrip(codec, 'top-level string')).toBe('top-level string');
    expect(roundTrip(codec, 42)).toBe(42);
    expect(roundTrip(codec, null)).toBe(null);
    expect(roundTrip(codec, [])).toStrictEqual([]);
    expect(roundTrip(codec, new Set())).toStrictEqual(new Set());
  });

  it('keeps earlier results intact when the shared encode buffer is reused', () => {
    const a = encodeCopy(codec, { a: 'first value' });
    codec.encode({ b: 'second value, written over the shared buffer' });
    expect(codec.decode(a)).toStrictEqual({ a: 'first value' });
  });

  it('decoded Buffers do not alias the input bytes (decode must copy what it keeps)', () => {
    // ValueCodec.decode's contract: "Decodes bytes that may be a view of a page: must copy anything it keeps."
    for (const v of [Buffer.from([1, 2, 3]), { buf: Buffer.from([4, 5, 6]) }, [Buffer.from([7, 8])]]) {
      const bytes = encodeCopy(codec, v);
      const decoded = codec.decode(bytes);
      bytes.fill(0x99); // the page gets reused
      expect(decoded).toStrictEqual(v);
    }
  });

  it('rejects undefined with InvalidValueError', () => {
    expectBadValue(() => codec.encode(undefined));
  });
});

describe('binary', () => {
  const codec = valueCodec('binary');

  it('is named binary', () => {
    expect(codec.name).toBe('binary');
  });

  it('round-trips any Uint8Array or Buffer as a Buffer with the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, asBuffer) => {
        const v = asBuffer ? Buffer.from(bytes) : bytes;
        const back = roundTrip(codec, v);
        expect(Buffer.isBuffer(back)).toBe(true);
        expect([...(back as Buffer)]).toEqual([...bytes]);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes exactly the bytes of a view into a page, and keeps no reference to it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const view = pageView(bytes);
        const back = codec.decode(view) as Buffer;
        expect(Buffer.isBuffer(back)).toBe(true);
        expect([...back]).toEqual([...bytes]);
        view.fill(0x11);
        expect([...back]).toEqual([...bytes]);
      }),
      { numRuns: 300 },
    );
  });

  it('decode copies even when the input is already a Buffer', () => {
    const input = Buffer.from([0, 1, 2, 0xff]);
    const back = codec.decode(input) as Buffer;
    input.fill(0);
    expect([...back]).toEqual([0, 1, 2, 0xff]);
  });

  it('encodes an empty value', () => {
    expect(encodeCopy(codec, new Uint8Array(0)).length).toBe(0);
    expect((roundTrip(codec, Buffer.alloc(0)) as Buffer).length).toBe(0);
  });

  for (const [name, v] of [
    ['a string', 'abc'], ['a number', 1], ['null', null], ['undefined', undefined], ['an array of bytes', [1, 2]],
    ['an ArrayBuffer', new ArrayBuffer(3)], ['a plain object', { 0: 1 }], ['a boolean', false],
  ] as [string, unknown][]) {
    it(`rejects ${name} with InvalidValueError`, () => {
      expectBadValue(() => codec.encode(v));
    });
  }
});

describe('string', () => {
  const codec = valueCodec('string');

  it('is named string', () => {
    expect(codec.name).toBe('string');
  });

  it('round-trips any well-formed string, unicode included', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string()), (s) => {
        expect(roundTrip(codec, s)).toBe(s);
      }),
      { numRuns: 1000 },
    );
  });

  it('stores strings as UTF-8 and decodes from a view into a page', () => {
    const s = 'aé\u20ac\u{1f600}\u0000z';
    const bytes = encodeCopy(codec, s);
    expect(Buffer.from(bytes).equals(Buffer.from(s, 'utf8'))).toBe(true);
    expect(codec.decode(pageView(bytes, 0x41))).toBe(s);
    expect(roundTrip(codec, '')).toBe('');
  });

  it('round-trips a string that starts with U+FEFF (a BOM-like character is data, not a BOM)', () => {
    for (const s of ['\ufeff', '\ufeffabc', '\ufeff\ufeff', 'a\ufeff']) {
      expect(JSON.stringify(roundTrip(codec, s))).toBe(JSON.stringify(s));
    }
  });

  for (const [name, v] of [
    ['a number', 42], ['null', null], ['undefined', undefined], ['a Buffer', Buffer.from('abc')],
    ['a String object', new String('abc')], ['an array', ['a']], ['a boolean', true],
  ] as [string, unknown][]) {
    it(`rejects ${name} with InvalidValueError`, () => {
      expectBadValue(() => codec.encode(v));
    });
  }
});

describe('json', () => {
  const codec = valueCodec('json');

  it('is named json', () => {
    expect(codec.name).toBe('json');
  });

  it('round-trips any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        // JSON has no -0: compare against what JSON itself keeps
        expect(roundTrip(codec, v)).toStrictEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 800 },
    );
  });

  it('round-trips hand-picked values exactly', () => {
    const v = { s: 'héllo \u{1f600} \u0000 "q" \\', n: [0, -1, 1.5, 1e300, Number.MAX_SAFE_INTEGER], a: [[], {}, null, true, false], o: { x: { y: [] } } };
    expect(roundTrip(codec, v)).toStrictEqual(v);
    expect(roundTrip(codec, 'plain')).toBe('plain');
    expect(roundTrip(codec, '\ufeffbom')).toBe('\ufeffbom');
    expect(roundTrip(codec, null)).toBe(null);
    expect(roundTrip(codec, 0)).toBe(0);
    expect(codec.decode(pageView(encodeCopy(codec, v)))).toStrictEqual(v);
  });

  it('stores JSON text as UTF-8', () => {
    expect(Buffer.from(encodeCopy(codec, { a: [1, 'é'] })).toString('utf8')).toBe('{"a":[1,"é"]}');
  });

  for (const [name, v] of [['undefined', undefined], ['a function', () => 1], ['a symbol', Symbol('x')]] as [string, unknown][]) {
    it(`rejects ${name} with InvalidValueError`, () => {
      expectBadValue(() => codec.encode(v));
    });
  }
});

describe('decoding bytes of another encoding', () => {
  function expectDecodeError(fn: () => unknown): void {
    let caught: unknown;
    try {
      fn();
    } catch (e) {
      caught = e;
    }
    expect(caught, 'expected ValueDecodeError to be thrown').toBeInstanceOf(ValueDecodeError);
    expect((caught as ValueDecodeError).code).toBe('ROTA_DECODE');
    expect((caught as ValueDecodeError).cause).toBeDefined();
  }

  it('json: text that is not JSON throws ValueDecodeError', () => {
    const json = valueCodec('json');
    expectDecodeError(() => json.decode(Buffer.from('{"a":')));
    expectDecodeError(() => json.decode(Buffer.from('plain text')));
    expectDecodeError(() => json.decode(new Uint8Array(0)));
    expectDecodeError(() => json.decode(encodeCopy(valueCodec('msgpack'), { a: 1 })));
  });

  it('msgpack: truncated data throws ValueDecodeError', () => {
    const msgpack = valueCodec('msgpack');
    const full = encodeCopy(msgpack, { key: 'a longer string value', list: [1, 2, 3] });
    expectDecodeError(() => msgpack.decode(full.subarray(0, full.length - 3)));
    expectDecodeError(() => msgpack.decode(Uint8Array.from([0x92, 0x01]))); // array of 2 holding 1
    expectDecodeError(() => msgpack.decode(Uint8Array.from([0xdb, 0xff, 0xff]))); // str32 cut short
  });
});

describe('valueCodec', () => {
  it('returns one codec per name', () => {
    for (const name of ['msgpack', 'binary', 'string', 'json']) {
      expect(valueCodec(name).name).toBe(name);
      expect(valueCodec(name)).toBe(valueCodec(name));
    }
  });

  for (const name of ['nope', '', 'JSON', 'utf8', 'ordered']) {
    it(`rejects the unknown encoding '${name}' with InvalidOptionError`, () => {
      let caught: unknown;
      try {
        valueCodec(name);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InvalidOptionError);
      expect((caught as InvalidOptionError).code).toBe('ROTA_BAD_OPTION');
    });
  }
});
