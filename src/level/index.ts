/**
 * rotadb/level: an abstract-level database on rotadb, built on rotadb's public API only.
 *
 *   new RotaLevel(location, options)   location: the database file (as for rotadb's open())
 *
 * The file is opened with keyEncoding and encoding 'binary': Level's encodings (utf8, json, view,
 * ...) are transcoded to Buffers by abstract-level, and Buffers sort bytewise, as Level requires.
 * Mapping:
 *   get, getSync, has                one rotadb read (its own short snapshot)
 *   getMany, hasMany                 one read transaction for all keys
 *   put, del                         db.put / db.remove: batched, one durable commit per turn
 *   batch, chained batch             one db.transaction()
 *   clear (ranges, limit)            one db.transaction() that walks the range and removes as it
 *                                    goes (nothing collected first)
 *   iterator, keys, values           a read transaction begun when the iterator is created
 *                                    (implicit snapshot), ended when it closes
 *   snapshot()                       a read transaction (explicit snapshot), ended by close()
 *
 * A snapshot or an open iterator is a reader: it pins its root slot, and under rotadb's slot rule a
 * writer that reaches that slot (nRoots commits later) waits until it is closed. An application
 * that holds a snapshot across many awaited writes needs nRoots above that number of commits.
 */
import * as fs from 'node:fs';
import { AbstractLevel, AbstractSnapshot, type AbstractDatabaseOptions } from 'abstract-level';
import { DatabaseClosedError, FileExistsError, FileNotFoundError, InvalidOptionError, open, type EnvOptions, type ReadTransaction, type RootDatabase } from '../index.js';
import { RotaIterator, RotaKeyIterator, RotaValueIterator, Scan, type IteratorOptions, type LevelRange, type Opener, type Source } from './iterator.js';

/** Level's database options, and rotadb's (pageSize, nRoots, noSync, writeTimeoutMs, ...) for open. */
export interface RotaLevelOptions<K, V> extends AbstractDatabaseOptions<K, V>, Omit<EnvOptions, 'path' | 'storage'> {}

/** What the private API receives: encoded (Buffer) keys and values, normalized options. */
interface ReadOptions { snapshot?: unknown }
interface BatchOp { type: 'put' | 'del'; key: Buffer; value?: Buffer }
interface ClearOptions extends LevelRange, ReadOptions { limit: number }
interface OpenOptions { createIfMissing: boolean; errorIfExists: boolean; [option: string]: unknown }

/**
 * What works, and only that. Not claimed: signals (an iterator's read runs synchronously, so an
 * abort can never interrupt one in progress; abstract-level still rejects calls after an abort).
 */
const manifest = {
  encodings: { buffer: true },
  implicitSnapshots: true,
  explicitSnapshots: true,
  has: true,
  getSync: true,
  seek: true,
  permanence: true,
  createIfMissing: true,
  errorIfExists: true,
};

/**
 * rotadb's options, kept out of the options abstract-level sees (they are not Level's: its
 * postopen hook and open() get only Level's). tsc fails here when EnvOptions gains an option
 * that this list lacks.
 */
const ROTA_OPTIONS = ['pageSize', 'nRoots', 'cacheSize', 'noSync', 'fsyncsPerCommit', 'writeTimeoutMs', 'slotPolicy', 'maxReaders', 'maxReaderAgeMs'] as const;
type RotaOption = (typeof ROTA_OPTIONS)[number];
type Unlisted = Exclude<keyof EnvOptions, RotaOption | 'path' | 'storage'>;
const everyOptionListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyOptionListed;

/** Splits `options` into rotadb's and the rest. */
/**
 * Options of rotadb's open() (or lmdb-js's) that the adapter does not apply: abstract-level would
 * ignore them, so they are refused rather than silently dropped.
 */
const NOT_FOR_LEVEL: Record<string, string> = {
  path: 'the location is the first argument', storage: 'RotaLevel opens a file', encoding: 'use valueEncoding',
  readOnly: 'RotaLevel always opens for writing', useVersions: 'Level has no versions', encryptionKey: 'rotadb does not encrypt: the file would be written in the clear',
  compression: 'rotadb does not compress', dupSort: 'Level has no duplicate keys', cache: 'rotadb has no object cache (see cacheSize)',
  mapSize: 'rotadb does not memory-map the file', maxDbs: 'use sublevels', useWritemap: 'rotadb does not memory-map the file',
  sharedStructuresKey: 'msgpackr shared structures are not stored', overlappingSync: 'a write resolves once durable', commitDelay: 'writes commit per event-loop turn',
};

function splitOptions(options: Record<string, unknown>): [Partial<EnvOptions>, Record<string, unknown>] {
  const rota: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (v !== undefined && k in NOT_FOR_LEVEL) throw new InvalidOptionError(`RotaLevel does not take the option ${k}: ${NOT_FOR_LEVEL[k]}`);
    if ((ROTA_OPTIONS as readonly string[]).includes(k)) rota[k] = v;
    else rest[k] = v;
  }
  return [rota as Partial<EnvOptions>, rest];
}

// The published types declare no constructor for AbstractSnapshot; it takes { owner }.
const SnapshotBase = AbstractSnapshot as unknown as new (options: object) => AbstractSnapshot;

/** A Level snapshot: one rotadb read transaction, ended when the snapshot closes. */
class RotaSnapshot extends SnapshotBase {
  constructor(options: object, readonly txn: ReadTransaction) {
    super(options);
  }

  async _close(): Promise<void> {
    this.txn.end();
  }
}

export class RotaLevel<KDefault = string, VDefault = string> extends AbstractLevel<Buffer, KDefault, VDefault> {
  /** The database file. */
  readonly location: string;
  #db: RootDatabase<Buffer> | null = null;
  readonly #rotaOptions: Partial<EnvOptions>;

  constructor(location: string, options: RotaLevelOptions<KDefault, VDefault> = {}) {
    if (typeof location !== 'string' || location === '') throw new TypeError("The first argument 'location' must be a non-empty string");
    const [rota, level] = splitOptions(options as Record<string, unknown>);
    super(manifest, level as AbstractDatabaseOptions<KDefault, VDefault>);
    this.location = location;
    this.#rotaOptions = rota;
  }

  /** The rotadb database underneath, while open: for stats(), check(), readers(), backup(), compact(). */
  get rotadb(): RootDatabase<Buffer> {
    if (this.#db === null) throw new DatabaseClosedError();
    return this.#db;
  }

  /** rotadb's options come from the constructor, and from open(options) (which win). */
  async _open(options: OpenOptions): Promise<void> {
    const exists = fs.existsSync(this.location);
    if (!exists && !options.createIfMissing) throw new FileNotFoundError(`${this.location} (createIfMissing is false)`);
    if (exists && options.errorIfExists) throw new FileExistsError(`${this.location} exists (errorIfExists is true)`);
    const [rota] = splitOptions(options);
    this.#db = open<Buffer>(this.location, { ...this.#rotaOptions, ...rota, keyEncoding: 'binary', encoding: 'binary' });
  }

  async _close(): Promise<void> {
    const db = this.#db;
    this.#db = null;
    await db?.close();
  }

  async _get(key: Buffer, options: ReadOptions): Promise<Buffer | undefined> {
    return this._getSync(key, options);
  }

  _getSync(key: Buffer, options: ReadOptions): Buffer | undefined {
    const snapshot = options.snapshot as RotaSnapshot | undefined;
    return snapshot ? snapshot.txn.get<Buffer>(key) : this.rotadb.get(key);
  }

  async _getMany(keys: Buffer[], options: ReadOptions): Promise<Array<Buffer | undefined>> {
    return this.inSnapshot(options, (txn) => keys.map((k) => txn.get<Buffer>(k)));
  }

  async _has(key: Buffer, options: ReadOptions): Promise<boolean> {
    const snapshot = options.snapshot as RotaSnapshot | undefined;
    return snapshot ? snapshot.txn.doesExist(key) : this.rotadb.doesExist(key);
  }

  async _hasMany(keys: Buffer[], options: ReadOptions): Promise<boolean[]> {
    return this.inSnapshot(options, (txn) => keys.map((k) => txn.doesExist(k)));
  }

  async _put(key: Buffer, value: Buffer): Promise<void> {
    await this.rotadb.put(key, value);
  }

  async _del(key: Buffer): Promise<void> {
    await this.rotadb.remove(key);
  }

  async _batch(operations: BatchOp[]): Promise<void> {
    const db = this.rotadb;
    await db.transaction(() => {
      for (const op of operations) {
        if (op.type === 'put') db.putSync(op.key, op.value!);
        else db.removeSync(op.key);
      }
    });
  }

  /**
   * One write transaction walks the range and removes each key as it reaches it: a range iterator
   * over the open write transaction finds its place again after each change, so no key list is
   * built. With an explicit snapshot, the keys come from the snapshot instead.
   */
  async _clear(options: ClearOptions): Promise<void> {
    const db = this.rotadb;
    const snapshot = options.snapshot as RotaSnapshot | undefined;
    await db.transaction(() => {
      const open: Opener<Buffer> = snapshot
        ? (start, reverse) => snapshot.txn.getRange<Buffer>({ start, reverse }).map((e) => e.key as Buffer)[Symbol.iterator]()
        : (start, reverse) => db.getKeys({ start, reverse })[Symbol.iterator]() as Iterator<Buffer>;
      const scan = new Scan(open, (k) => k, options, db.maxKeySize);
      try {
        for (let left = options.limit < 0 ? Infinity : options.limit; left > 0; left--) {
          const key = scan.next();
          if (key === undefined) break;
          db.removeSync(key);
        }
      } finally {
        scan.close();
      }
    });
  }

  _iterator(options: IteratorOptions & ReadOptions): RotaIterator<this> {
    return new RotaIterator(this, options, this.source(options), this.rotadb.maxKeySize);
  }

  _keys(options: IteratorOptions & ReadOptions): RotaKeyIterator<this> {
    return new RotaKeyIterator(this, options, this.source(options), this.rotadb.maxKeySize);
  }

  _values(options: IteratorOptions & ReadOptions): RotaValueIterator<this> {
    return new RotaValueIterator(this, options, this.source(options), this.rotadb.maxKeySize);
  }

  _snapshot(options: object): AbstractSnapshot {
    return new RotaSnapshot(options, this.rotadb.beginRead());
  }

  /** An iterator's snapshot: the explicit one, or a read transaction of its own begun now. */
  private source(options: ReadOptions): Source {
    const snapshot = options.snapshot as RotaSnapshot | undefined;
    return snapshot ? { txn: snapshot.txn, own: false } : { txn: this.rotadb.beginRead(), own: true };
  }

  /** Runs `fn` on the explicit snapshot, or on one read transaction of its own. */
  private inSnapshot<T>(options: ReadOptions, fn: (txn: ReadTransaction) => T): T {
    const snapshot = options.snapshot as RotaSnapshot | undefined;
    if (snapshot) return fn(snapshot.txn);
    const txn = this.rotadb.beginRead();
    try {
      return fn(txn);
    } finally {
      txn.end();
    }
  }
}
