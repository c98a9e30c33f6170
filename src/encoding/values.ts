/** Value encodings, named as in lmdb-js: msgpack (default, via msgpackr), binary, string, json. */
import { Packr } from 'msgpackr';
import { InvalidOptionError, InvalidValueError, ValueDecodeError } from '../errors.js';

export interface ValueCodec {
  readonly name: string;
  /** Encodes; the result may be a view of a shared buffer, valid until the next encode. */
  encode(value: unknown): Uint8Array;
  /** Decodes bytes that may be a view of a page: must copy anything it keeps. */
  decode(bytes: Uint8Array): unknown;
  /** Decodes page[start, end) (the read path: saves creating a view first). */
  decodeAt(page: Buffer, start: number, end: number): unknown;
}

/** decodeAt for codecs that need a view anyway. */
function viaView(this: ValueCodec, page: Buffer, start: number, end: number): unknown {
  return this.decode(page.subarray(start, end));
}

// copyBuffers: binary fields must not alias the page they were read from (dirty pages change in place)
const packr = new Packr({ useRecords: false, moreTypes: true, copyBuffers: true });
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

function rejectUndefined(value: unknown): void {
  if (value === undefined) throw new InvalidValueError('undefined cannot be stored (remove the key instead)');
}

const msgpack: ValueCodec = {
  name: 'msgpack',
  decodeAt: viaView,
  encode(value) {
    rejectUndefined(value);
    return packr.pack(value);
  },
  decode(bytes) {
    try {
      return packr.unpack(bytes);
    } catch (e) {
      throw new ValueDecodeError('msgpack', e);
    }
  },
};

const binary: ValueCodec = {
  name: 'binary',
  decodeAt(page, start, end) {
    const out = Buffer.allocUnsafe(end - start);
    page.copy(out, 0, start, end);
    return out;
  },
  encode(value) {
    if (!(value instanceof Uint8Array)) throw new InvalidValueError(`encoding 'binary' stores Uint8Array or Buffer values, not ${value === null ? 'null' : typeof value}`);
    return value;
  },
  decode(bytes) {
    const out = Buffer.allocUnsafe(bytes.length); // small values come from Node's pool: cheaper than Buffer.from
    out.set(bytes);
    return out;
  },
};

const string: ValueCodec = {
  name: 'string',
  decodeAt: viaView,
  encode(value) {
    if (typeof value !== 'string') throw new InvalidValueError(`encoding 'string' stores strings, not ${value === null ? 'null' : typeof value}`);
    return Buffer.from(value, 'utf8');
  },
  decode(bytes) {
    return utf8.decode(bytes);
  },
};

const json: ValueCodec = {
  name: 'json',
  decodeAt: viaView,
  encode(value) {
    rejectUndefined(value);
    const s = JSON.stringify(value);
    if (s === undefined) throw new InvalidValueError(`a ${typeof value} has no JSON form`);
    return Buffer.from(s, 'utf8');
  },
  decode(bytes) {
    try {
      return JSON.parse(utf8.decode(bytes));
    } catch (e) {
      throw new ValueDecodeError('json', e);
    }
  },
};

export function valueCodec(name: string | undefined): ValueCodec {
  switch (name ?? 'msgpack') {
    case 'msgpack': return msgpack;
    case 'binary': return binary;
    case 'string': return string;
    case 'json': return json;
    default: throw new InvalidOptionError(`unknown encoding '${name}' (use 'msgpack', 'binary', 'string' or 'json')`);
  }
}
