/**
 * Types the API modules share. `DatabaseRef` is what a transaction object or a range iterator
 * needs of a database handle; `Database` implements it, so transactions.ts and
 * range-iterator.ts depend on this file only, not on database.ts.
 */
import type { Environment } from '../env/environment.js';
import type { Key, KeyCodec } from '../encoding/keys.js';
import type { ValueCodec } from '../encoding/values.js';
import type { PageReader, TreeInfo } from '../btree/store.js';
import type { ReadTxn } from '../txn/read.js';
import type { WriteTxn } from '../txn/write.js';

export type ValueEncoding = 'msgpack' | 'binary' | 'string' | 'json';
export type KeyEncoding = 'ordered' | 'binary';

export interface DatabaseOptions {
  /** How values are stored: msgpack (default, any structured value), binary (Uint8Array), string, json. */
  encoding?: ValueEncoding;
  /** How keys are ordered: 'ordered' (default; strings, numbers, booleans, null, byte arrays, arrays) or 'binary'. */
  keyEncoding?: KeyEncoding;
  /**
   * Store a version (a number) with every entry, as lmdb-js: put(key, value, version, ifVersion),
   * getEntry(), ifVersion(), getRange({ versions: true }). Open a database with the same setting
   * every time: the version is stored in front of each value (api/versions.ts).
   */
  useVersions?: boolean;
}

export interface RangeOptions {
  /** Inclusive (unless `exclusiveStart`). With `reverse`, iteration starts at the last key <= start. */
  start?: unknown;
  /** Exclusive (unless `inclusiveEnd`). */
  end?: unknown;
  reverse?: boolean;
  limit?: number;
  offset?: number;
  /** Include the entry at `end` too. */
  inclusiveEnd?: boolean;
  /** Leave out the entry at `start`. */
  exclusiveStart?: boolean;
  /**
   * true (default): the whole iteration reads the version current when it started (pinning it).
   * false: each step reads the newest committed version and pins nothing between steps, so a
   * slow iteration never holds up writers; it may then see writes made after it started.
   */
  snapshot?: boolean;
  /** Include each entry's version (a database with useVersions only). */
  versions?: boolean;
  /** Iterate in this transaction (from useReadTransaction(), beginRead() or beginWrite()). */
  transaction?: unknown;
}

/** The options of get() and doesExist(): read in an explicit transaction. */
export interface GetOptions {
  transaction?: unknown;
}

export interface Entry<V = unknown> {
  key: Key;
  value: V;
  /** With getRange({ versions: true }) on a database with useVersions. */
  version?: number;
}

/** A database handle (the root database or a named one) as transactions and iterators use it. */
export interface DatabaseRef<V = any> {
  readonly name: string | null;
  readonly useVersions: boolean;
  /** @internal */ readonly env: Environment;
  /** @internal */ readonly keyCodec: KeyCodec;
  /** @internal */ readonly valueCodec: ValueCodec;
  /** @internal */ readonly keyBuf: Buffer;
  /** @internal */ encodeKey(key: unknown): number;
  /** @internal */ encodeKeyCopy(key: unknown): Buffer;
  /** @internal */ encodeValue(value: unknown): Uint8Array;
  /** @internal */ getIn(r: PageReader, tree: TreeInfo | undefined, klen: number): V | undefined;
  /** @internal */ existsIn(r: PageReader, tree: TreeInfo | undefined, klen: number): boolean;
  /** @internal */ iterate(options: RangeOptions, withValues: boolean, given?: ReadTxn | WriteTxn): Iterator<Entry<V> | Key>;
  /** @internal */ putIn(txn: WriteTxn, key: Uint8Array, klen: number, value: Uint8Array): boolean;
  /** @internal */ removeIn(txn: WriteTxn, key: Uint8Array, klen: number): boolean;
}
