/**
 * Key encodings. The default ('ordered') maps strings, numbers, booleans, null, byte arrays and
 * arrays of those to bytes whose unsigned order is the natural order of the keys:
 *
 *   null < false < true < numbers (numeric) < strings (by code point) < byte arrays (bytewise) < arrays
 *   arrays compare element by element, a prefix first.
 *
 *   top level:  [tag][payload]   payload of a string or byte array is raw (no terminator needed)
 *   in arrays:  strings and byte arrays escape 0x00 as 00 FF and end with 00 01; a nested array
 *               ends with 00. Element tags are never 0x00, so terminators sort first.
 *   numbers:    float64 big-endian; positive: sign bit set; negative: all bits inverted.
 *               -0 is stored as 0; NaN is rejected.
 *
 * Every encoding round-trips exactly (a Buffer key comes back as a Buffer, a string as a string).
 */
import { InvalidKeyError, InvalidOptionError } from '../errors.js';

export type Key = string | number | boolean | null | Uint8Array | Key[];

export interface KeyCodec {
  /** Encodes `key` into `target` from offset 0 and returns the length; throws InvalidKeyError. Lengths past target.length are reported, not written. */
  write(key: unknown, target: Buffer): number;
  read(buf: Uint8Array, start: number, end: number): Key;
}

const NULL = 0x02;
const FALSE = 0x03;
const TRUE = 0x04;
const NUMBER = 0x10;
const STRING = 0x20;
const BINARY = 0x30;
const ARRAY = 0x40;
const MAX_DEPTH = 16;

const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);

/** Thrown inside write() when the target is too small; carries nothing, write() retries bigger. */
class Overflow extends Error {}
const OVERFLOW = new Overflow();

function writeNumber(n: number, t: Buffer, at: number): number {
  if (at + 9 > t.length) throw OVERFLOW;
  if (Number.isNaN(n)) throw new InvalidKeyError('NaN cannot be a key');
  f64[0] = n === 0 ? 0 : n; // -0 becomes 0
  t[at] = NUMBER;
  if (n < 0) for (let i = 0; i < 8; i++) t[at + 1 + i] = ~f64b[7 - i]! & 0xff;
  else {
    for (let i = 0; i < 8; i++) t[at + 1 + i] = f64b[7 - i]!;
    t[at + 1] |= 0x80;
  }
  return at + 9;
}

function readNumber(b: Uint8Array, at: number): number {
  if (b[at]! & 0x80) {
    for (let i = 0; i < 8; i++) f64b[7 - i] = b[at + i]!;
    f64b[7] &= 0x7f;
  } else {
    for (let i = 0; i < 8; i++) f64b[7 - i] = ~b[at + i]! & 0xff;
  }
  return f64[0]!;
}

function writeBytesEscaped(src: Uint8Array, t: Buffer, at: number): number {
  for (let i = 0; i < src.length; i++) {
    if (at + 2 > t.length) throw OVERFLOW;
    const c = src[i]!;
    t[at++] = c;
    if (c === 0) t[at++] = 0xff;
  }
  if (at + 2 > t.length) throw OVERFLOW;
  t[at++] = 0;
  t[at++] = 1;
  return at;
}

function writeElement(key: unknown, t: Buffer, at: number, top: boolean, depth: number): number {
  switch (typeof key) {
    case 'string': {
      if (!key.isWellFormed()) throw loneSurrogate();
      if (at + 1 > t.length) throw OVERFLOW;
      t[at++] = STRING;
      if (top) {
        if (at + key.length * 3 > t.length && at + Buffer.byteLength(key) > t.length) throw OVERFLOW;
        return at + t.write(key, at, 'utf8');
      }
      return writeBytesEscaped(Buffer.from(key, 'utf8'), t, at);
    }
    case 'number':
      return writeNumber(key, t, at);
    case 'boolean':
      if (at + 1 > t.length) throw OVERFLOW;
      t[at] = key ? TRUE : FALSE;
      return at + 1;
    case 'object': {
      if (at + 1 > t.length) throw OVERFLOW;
      if (key === null) {
        t[at] = NULL;
        return at + 1;
      }
      if (key instanceof Uint8Array) {
        t[at++] = BINARY;
        if (top) {
          if (at + key.length > t.length) throw OVERFLOW;
          t.set(key, at);
          return at + key.length;
        }
        return writeBytesEscaped(key, t, at);
      }
      if (Array.isArray(key)) {
        if (depth >= MAX_DEPTH) throw new InvalidKeyError(`arrays nested deeper than ${MAX_DEPTH} cannot be keys`);
        t[at++] = ARRAY;
        for (const e of key) at = writeElement(e, t, at, false, depth + 1);
        if (!top) {
          if (at + 1 > t.length) throw OVERFLOW;
          t[at++] = 0;
        }
        return at;
      }
      throw new InvalidKeyError(`an object (${key.constructor?.name ?? 'no prototype'}) cannot be a key (use a string, number, boolean, null, Uint8Array or an array of those)`);
    }
    default:
      throw new InvalidKeyError(`a ${typeof key} cannot be a key (use a string, number, boolean, null, Uint8Array or an array of those)`);
  }
}

/** UTF-8 cannot hold a lone surrogate; encoding would merge distinct keys into U+FFFD. */
function loneSurrogate(): InvalidKeyError {
  return new InvalidKeyError('a string key with a lone surrogate (not well-formed UTF-16) cannot be stored exactly');
}

function readEscaped(b: Uint8Array, at: number): [Uint8Array, number] {
  const out: number[] = [];
  for (;;) {
    const c = b[at++]!;
    if (c !== 0) { out.push(c); continue; }
    const d = b[at++]!;
    if (d === 0xff) out.push(0);
    else return [Uint8Array.from(out), at];
  }
}

function readElement(b: Uint8Array, at: number, end: number, top: boolean): [Key, number] {
  const tag = b[at++];
  switch (tag) {
    case NULL: return [null, at];
    case FALSE: return [false, at];
    case TRUE: return [true, at];
    case NUMBER: return [readNumber(b, at), at + 8];
    case STRING:
      if (top) return [readString(b, at, end), end];
      {
        const [bytes, next] = readEscaped(b, at);
        return [Buffer.from(bytes).toString('utf8'), next];
      }
    case BINARY:
      if (top) return [Buffer.from(b.subarray(at, end)), end];
      {
        const [bytes, next] = readEscaped(b, at);
        return [Buffer.from(bytes), next];
      }
    case ARRAY: {
      const out: Key[] = [];
      while (top ? at < end : b[at] !== 0) {
        const [e, next] = readElement(b, at, end, false);
        out.push(e);
        at = next;
      }
      return [out, top ? at : at + 1];
    }
    default:
      throw new InvalidKeyError(`stored key has unknown type tag ${tag}: was it written with keyEncoding 'binary'?`);
  }
}

export const orderedKeys: KeyCodec = {
  write(key, target) {
    if (typeof key === 'string') {
      // the hot case, without the generic dispatch: short ASCII strings byte by byte
      const n = key.length;
      if (n <= 64 && n < target.length) {
        target[0] = STRING;
        let i = 0;
        for (; i < n; i++) {
          const c = key.charCodeAt(i);
          if (c >= 0x80) break;
          target[i + 1] = c;
        }
        if (i === n) return n + 1;
      }
      if (!key.isWellFormed()) throw loneSurrogate();
      if (1 + n * 3 <= target.length) {
        target[0] = STRING;
        return 1 + target.write(key, 1, 'utf8');
      }
    }
    try {
      return writeElement(key, target, 0, true, 0);
    } catch (e) {
      if (e !== OVERFLOW) throw e;
      return encodedLength(key);
    }
  },
  read(buf, start, end) {
    // the hot cases without the generic path: a top-level string or number
    const tag = buf[start];
    if (tag === STRING) return readString(buf, start + 1, end);
    if (tag === NUMBER && end - start === 9) return readNumber(buf, start + 1);
    return readElement(buf.subarray(0, end), start, end, true)[0];
  },
};

/** The UTF-8 bytes b[start, end) as a string, with no intermediate view when `b` is a Buffer (pages are). */
function readString(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 16) {
    const s = shortAscii(b, start, end);
    if (s !== null) return s;
  }
  if (b instanceof Buffer) return b.toString('utf8', start, end);
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

const chr = String.fromCharCode;

/**
 * b[s, e) as a string when it is at most 16 bytes of ASCII, else null. Short keys are the common
 * case, and String.fromCharCode with the bytes as arguments is much cheaper for them than a call
 * into the native UTF-8 decoder.
 */
function shortAscii(b: Uint8Array, s: number, e: number): string | null {
  let or = 0;
  for (let i = s; i < e; i++) or |= b[i]!;
  if (or >= 0x80) return null;
  switch (e - s) {
    case 0: return '';
    case 1: return chr(b[s]!);
    case 2: return chr(b[s]!, b[s + 1]!);
    case 3: return chr(b[s]!, b[s + 1]!, b[s + 2]!);
    case 4: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
    case 5: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
    case 6: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    case 8: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!);
    case 9: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!);
    case 10: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!);
    case 11: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!);
    case 12: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!);
    case 13: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!);
    case 14: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!);
    case 15: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!, b[s + 14]!);
    case 16: return chr(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!, b[s + 13]!, b[s + 14]!, b[s + 15]!);
    default: return null;
  }
}

/** Exact length of an oversized key, so the caller can report it. */
function encodedLength(key: unknown): number {
  let size = 1 << 16;
  for (;;) {
    const t = Buffer.allocUnsafe(size);
    try {
      return writeElement(key, t, 0, true, 0);
    } catch (e) {
      if (e !== OVERFLOW) throw e;
      size *= 4;
    }
  }
}

/**
 * Keys as their own bytes, in unsigned byte order. The empty key is a key like any other and
 * sorts before every other (the ordered encoding never produces it: every key there has a tag).
 */
export const binaryKeys: KeyCodec = {
  write(key, target) {
    if (!(key instanceof Uint8Array)) throw new InvalidKeyError(`keyEncoding 'binary' takes Uint8Array or Buffer keys, not ${key === null ? 'null' : typeof key}`);
    if (key.length <= target.length) target.set(key, 0);
    return key.length;
  },
  read(buf, start, end) {
    return Buffer.from(buf.subarray(start, end));
  },
};

export function keyCodec(name: string | undefined): KeyCodec {
  if (name === undefined || name === 'ordered') return orderedKeys;
  if (name === 'binary') return binaryKeys;
  throw new InvalidOptionError(`unknown keyEncoding '${name}' (use 'ordered' or 'binary')`);
}
