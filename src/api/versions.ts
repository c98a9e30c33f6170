/**
 * Entry versions (the `useVersions` option, as lmdb-js has them): a database opened with it stores
 * every value as an 8-byte version (a float64, little-endian) followed by the value's encoding.
 * The version is part of the stored value, so it is written, copied, dumped and checked with it;
 * a database must therefore be opened with the same useVersions setting every time (as in lmdb-js,
 * where changing the flag on a database with entries makes them unreadable).
 */
import type { ValueCodec } from '../encoding/values.js';
import { InvalidOptionError, ValueDecodeError } from '../errors.js';

export const VERSION_BYTES = 8;

/**
 * As a condition (`ifVersion`), "the entry exists, whatever its version". The same number as
 * lmdb-js's IF_EXISTS, so that code passing either works.
 */
export const IF_EXISTS = 3.542694326329068e-103;

/** The value codec of a versioned database: decoding skips the version. */
export class VersionedCodec implements ValueCodec {
  readonly name: string;

  constructor(readonly inner: ValueCodec) {
    this.name = `versioned ${inner.name}`;
  }

  /** A value with version 0 (lmdb-js's version of a put that gives none). */
  encode(value: unknown): Uint8Array {
    return this.encodeVersioned(value, 0);
  }

  encodeVersioned(value: unknown, version: number): Uint8Array {
    const v = this.inner.encode(value);
    const out = Buffer.allocUnsafe(VERSION_BYTES + v.length);
    out.writeDoubleLE(version, 0);
    out.set(v, VERSION_BYTES);
    return out;
  }

  decode(bytes: Uint8Array): unknown {
    if (bytes.length < VERSION_BYTES) throw short(this.name);
    return this.inner.decode(bytes.subarray(VERSION_BYTES));
  }

  decodeAt(page: Buffer, start: number, end: number): unknown {
    if (end - start < VERSION_BYTES) throw short(this.name);
    return this.inner.decodeAt(page, start + VERSION_BYTES, end);
  }
}

/** The version at the start of a stored value of a versioned database. */
export function versionOf(stored: Uint8Array): number {
  if (stored.length < VERSION_BYTES) throw short('versioned');
  return Buffer.from(stored.buffer, stored.byteOffset, VERSION_BYTES).readDoubleLE(0);
}

/** Whether the stored value (undefined: no entry) satisfies lmdb-js's `ifVersion` condition. */
export function satisfies(stored: Uint8Array | undefined, ifVersion: number | null): boolean {
  if (ifVersion === null) return stored === undefined;
  if (stored === undefined) return false;
  return ifVersion === IF_EXISTS || versionOf(stored) === ifVersion;
}

export function checkVersion(what: string, v: unknown, nullable: boolean): void {
  if (typeof v === 'number' && !Number.isNaN(v)) return;
  if (nullable && v === null) return;
  throw new InvalidOptionError(`${what} must be a number${nullable ? ' or null' : ''}, not ${String(v)}`);
}

function short(encoding: string): ValueDecodeError {
  return new ValueDecodeError(encoding, new Error('a stored value is shorter than its version: was the database written without useVersions?'));
}
