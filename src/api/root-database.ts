/**
 * The root database of a file: what open() returns. Adds named databases (openDB), the tools
 * (compact, backup, dump, load) and close.
 */
import type { Readable, Writable } from 'node:stream';
import { Database } from './database.js';
import type { DatabaseOptions } from './types.js';
import { checkDbOptions, checkEncodingNames } from './lmdb-options.js';
import { keyCodec } from '../encoding/keys.js';
import { valueCodec } from '../encoding/values.js';
import { compact, type CompactOptions, type CompactResult } from '../tools/compact.js';
import { backup, type BackupOptions, type BackupResult } from '../tools/backup.js';
import { dump, type DumpOptions, type DumpResult } from '../tools/dump.js';
import { load, type DumpReader, type LoadOptions, type LoadResult } from '../tools/load.js';
import { InvalidOptionError } from '../errors.js';

export class RootDatabase<V = any> extends Database<V> {
  private readonly dbs = new Map<string, Database>();

  /**
   * A named database in the same file; writes to all of them share transactions.
   * `openDB(name, options)` or `openDB({ name, ...options })`.
   */
  openDB<W = any>(name: string, options?: DatabaseOptions): Database<W>;
  openDB<W = any>(options: DatabaseOptions & { name: string }): Database<W>;
  openDB<W = any>(nameOrOptions: string | (DatabaseOptions & { name: string }), options: DatabaseOptions = {}): Database<W> {
    this.env.checkOpen();
    let name: unknown = nameOrOptions;
    if (typeof nameOrOptions === 'object' && nameOrOptions !== null) {
      if (arguments.length > 1) throw new InvalidOptionError('openDB({ name, ...options }) takes one argument');
      ({ name, ...options } = nameOrOptions);
    } else if ((options as { name?: unknown }).name !== undefined && (options as { name?: unknown }).name !== name) {
      throw new InvalidOptionError(`openDB(name, options): options.name differs from name (${String(name)})`);
    }
    checkDbOptions(options);
    checkEncodingNames(options);
    if (options.encoding !== undefined) valueCodec(options.encoding);
    if (options.keyEncoding !== undefined) keyCodec(options.keyEncoding);
    if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionError('a database name must be a non-empty string');
    if (Buffer.byteLength(name) > this.maxKeySize) throw new InvalidOptionError(`database name longer than ${this.maxKeySize} bytes`);
    const db = new Database<W>(this.env, this.queue, name, options, this.readOnly);
    this.dbs.set(name, db);
    return db;
  }

  /** Writes a new file with only the live data of one snapshot, pages full and in key order. */
  compact(dest: string, options?: CompactOptions): Promise<CompactResult> {
    return compact(this.env, dest, options);
  }

  /** Copies one consistent snapshot, page for page, while writers go on. */
  backup(dest: string, options?: BackupOptions): Promise<BackupResult>;
  /** lmdb-js's form: `compact` true writes a compacted copy (compact()), false a page copy. */
  backup(dest: string, compact: boolean): Promise<BackupResult | CompactResult>;
  backup(dest: string, options?: BackupOptions | boolean): Promise<BackupResult | CompactResult> {
    // lmdb-js's backup(path, compact): true makes a compacted copy.
    if (typeof options === 'boolean') return options ? compact(this.env, dest) : backup(this.env, dest);
    return backup(this.env, dest, options);
  }

  /** Writes every entry of one snapshot as line-delimited JSON (docs/cli.md). */
  dump(out: Writable | NodeJS.WritableStream, options?: DumpOptions): Promise<DumpResult> {
    return dump(this.env, out, options);
  }

  /** Reads a dump into this database, in bounded transactions. */
  load(input: DumpReader | Readable | NodeJS.ReadableStream | AsyncIterable<string | Buffer>, options?: LoadOptions): Promise<LoadResult> {
    this.writable('load');
    return load(this.env, input, options, (body) => this.transaction(() => body(this.env.writeTxn!)));
  }

  /** Waits for queued writes, then closes the file. Open transactions end; later calls throw. */
  async close(): Promise<void> {
    if (this.env.closed) return;
    await this.queue.flushed();
    this.env.close();
    this.queue.closeSync();
  }

  /**
   * Closes at once: an open write transaction is aborted, queued asynchronous writes are rejected,
   * except those the writer thread already has: it finishes them (this waits for that).
   */
  closeSync(): void {
    this.env.close();
    this.queue.closeSync();
  }
}
