/**
 * Option checks for users coming from lmdb-js: every option of open(), openDB() and getRange() is
 * either one rotadb implements, or refused with InvalidOptionError naming it (and, for an lmdb-js
 * option, saying why rotadb has no such thing). Nothing is accepted and ignored: an option that
 * silently did nothing (encryptionKey above all) would leave a user believing something false.
 *
 * An lmdb-js option is accepted only with the value that describes what rotadb does anyway
 * (`compression: false`, `overlappingSync: false`, `commitDelay: 0`, ...). An option whose value
 * is `undefined` counts as absent (the spread-of-defaults idiom).
 */
import { InvalidOptionError } from '../errors.js';

/** Returns why `value` cannot be honoured, or null when rotadb does what it asks. */
type Rule = (value: unknown) => string | null;

/** rotadb's own options of open(): validated where they are used (env/options.ts, the codecs). */
const ROTA_OPEN = ['path', 'storage', 'pageSize', 'nRoots', 'cacheSize', 'noSync', 'fsyncsPerCommit', 'writeTimeoutMs', 'slotPolicy', 'maxReaders', 'maxReaderAgeMs', 'encoding', 'keyEncoding', 'useVersions', 'readOnly', 'writerThread'] as const;
const ROTA_DB = ['name', 'encoding', 'keyEncoding', 'useVersions'] as const;
const ROTA_RANGE = ['start', 'end', 'reverse', 'limit', 'offset', 'inclusiveEnd', 'exclusiveStart', 'snapshot', 'transaction'] as const;

const only = (ok: unknown, why: string): Rule => (v) => (v === ok ? null : why);
const never = (why: string): Rule => () => why;
const anyBoolean = (why: string): Rule => (v) => (typeof v === 'boolean' ? null : why);

/** lmdb-js options of a database (open() and openDB()) that rotadb does not have as options. */
const LMDB_DB: Record<string, Rule> = {
  compression: only(false, 'values are stored uncompressed; rotadb has no compression'),
  dupSort: only(false, 'rotadb stores one value per key (no duplicate-key databases); keep the values in an array, or put the value in the key'),
  cache: only(false, 'rotadb has no object cache (its page cache is set with cacheSize, in bytes)'),
  sharedStructuresKey: never('msgpackr shared structures are not stored; each value carries its own structure'),
  encoder: never('custom value encoders are not supported: choose encoding (msgpack, json, string, binary)'),
  decoder: never('custom value decoders are not supported: choose encoding (msgpack, json, string, binary)'),
  keyEncoder: never("custom key encoders are not supported: choose keyEncoding ('ordered' or 'binary')"),
  strictAsyncOrder: anyBoolean('must be a boolean (asynchronous writes and transaction() callbacks always run in the order they were issued)'),
};

/** lmdb-js options of the file (open() only). */
const LMDB_ENV: Record<string, Rule> = {
  encryptionKey: never('rotadb does not encrypt: the file would be written in the clear. Encrypt the values yourself, or the disk'),
  mapSize: never('rotadb does not memory-map the file: it grows as needed, and its memory is bounded by cacheSize'),
  maxDbs: never('named databases are entries of a catalog tree, with no limit to set'),
  useWritemap: only(false, 'rotadb does not memory-map the file; pages are written with positioned writes'),
  remapChunks: only(false, 'rotadb does not memory-map the file'),
  noMemInit: only(false, 'rotadb always zeroes the unused parts of the pages it writes'),
  noMetaSync: only(false, "rotadb's root slots have no separate sync to skip: see fsyncsPerCommit and noSync"),
  noReadAhead: only(false, 'rotadb reads pages with positioned reads (no mmap read-ahead to turn off)'),
  mapAsync: only(false, 'rotadb does not memory-map the file'),
  noSubdir: only(true, "rotadb's path is always the database file itself, never a directory"),
  overlappingSync: only(false, 'a rotadb write resolves only once its commit is durable; commits do not overlap their sync with later transactions'),
  separateFlushed: only(false, "a rotadb write resolves only once its commit is durable, so there is no separate 'flushed' promise per write"),
  eventTurnBatching: only(true, 'asynchronous writes are always batched per event-loop turn'),
  txnStartThreshold: never('asynchronous writes are always batched per event-loop turn (no threshold)'),
  commitDelay: only(0, 'asynchronous writes commit at the end of the event-loop turn, with no delay to set'),
  safeRestore: anyBoolean('must be a boolean (rotadb always opens the newest version that verifies on disk)'),
};

const OPEN_NAMES = [...ROTA_OPEN, ...Object.keys(LMDB_DB), ...Object.keys(LMDB_ENV)];
const DB_NAMES = [...ROTA_DB, ...Object.keys(LMDB_DB)];

/** open(path, options) / open({ path, ...options }). */
export function checkOpenOptions(o: object): void {
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || (ROTA_OPEN as readonly string[]).includes(k)) continue;
    if (k === 'name') throw new InvalidOptionError('open() does not take name: it opens the root database; use db.openDB(name) for a named one');
    const rule = LMDB_DB[k] ?? LMDB_ENV[k];
    if (rule !== undefined) refuseIf(k, v, rule);
    else throw unknown(k, 'open()', OPEN_NAMES);
  }
}

/** openDB(name, options) / openDB({ name, ...options }). */
export function checkDbOptions(o: object): void {
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || (ROTA_DB as readonly string[]).includes(k)) continue;
    const rule = LMDB_DB[k];
    if (rule !== undefined) refuseIf(k, v, rule);
    else if ((ROTA_OPEN as readonly string[]).includes(k) || k in LMDB_ENV) {
      throw new InvalidOptionError(`openDB() does not take ${k}: it is an option of the file, given to open()`);
    } else throw unknown(k, 'openDB()', DB_NAMES);
  }
}

/** getRange(), getKeys(), getCount(), getKeysCount(). */
export function checkRangeOptions(o: object, versioned = false): void {
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || (ROTA_RANGE as readonly string[]).includes(k)) continue;
    if (k === 'versions') {
      if (v === false || (v === true && versioned)) continue;
      throw new InvalidOptionError('getRange() option versions: this database has no entry versions (open it with useVersions: true)');
    }
    throw unknown(k, 'getRange()', [...ROTA_RANGE, 'versions']);
  }
}

function refuseIf(k: string, v: unknown, rule: Rule): void {
  const why = rule(v);
  if (why !== null) throw new InvalidOptionError(`option ${k} (${describe(v)}) is not supported: ${why}`);
}

function unknown(k: string, where: string, known: readonly string[]): InvalidOptionError {
  const near = closest(k, known);
  return new InvalidOptionError(`unknown option ${k} for ${where}${near === null ? '' : `; did you mean ${near}?`}`);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return 'a string';
  if (v instanceof Uint8Array) return 'a buffer';
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

/** The known name nearest to `k` by edit distance (case ignored), if near enough to be a slip. */
export function closest(k: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Math.max(2, Math.floor(k.length / 3)) + 1;
  for (const name of known) {
    const d = distance(k.toLowerCase(), name.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = name;
    }
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** lmdb-js encodings rotadb does not have, with what to use instead (the codecs reject any other unknown name). */
export function checkEncodingNames(o: { encoding?: unknown; keyEncoding?: unknown }): void {
  if (o.encoding === 'ordered-binary') throw new InvalidOptionError("encoding 'ordered-binary' is not supported: values are not ordered; use 'binary', 'string', 'json' or 'msgpack'");
  if (o.encoding === 'cbor') throw new InvalidOptionError("encoding 'cbor' is not supported; use 'msgpack' (the default) or 'json'");
  if (o.keyEncoding === 'ordered-binary') throw new InvalidOptionError("keyEncoding 'ordered-binary' is lmdb-js's; rotadb's own ordered encoding is 'ordered' (the default; its bytes and some orderings differ, see docs/from-lmdb.md)");
  if (o.keyEncoding === 'uint32') throw new InvalidOptionError("keyEncoding 'uint32' is not supported; use the default 'ordered' (numbers sort numerically)");
}
