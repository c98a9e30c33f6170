/**
 * dump() and load(): a line-delimited JSON text form of a database (docs/cli.md documents it).
 *
 *   {"format":"rotadb-dump","version":1,"pageSize":4096,"nRoots":4,"txnId":42,
 *    "databases":[{"name":null,"entries":2},{"name":"users","entries":1}]}
 *   {"db":null,"k":"<base64 key bytes>","v":"<base64 value bytes>"}
 *   ...
 *
 * Keys and values are the raw stored bytes (the encoded key, the encoded value), so the round
 * trip is exact and binary-safe whatever encodings the databases were written with. dump() reads
 * one pinned snapshot; load() writes in transactions of bounded size, so it is not atomic: a
 * load that fails part way leaves the batches it committed.
 */
import * as readline from 'node:readline';
import { Readable, type Writable } from 'node:stream';
import type { RootDatabase } from '../api/database.js';
import { Cursor } from '../btree/cursor.js';
import { MAX_VALUE_SIZE } from '../pages/layout.js';
import { FormatVersionError, RotaError } from '../errors.js';
import {
  DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ENTRIES, ensureDatabase, listDatabases, putRaw, yieldTurn,
  type ProgressCallback, type SnapshotDatabase,
} from './compact.js';

export const DUMP_FORMAT = 'rotadb-dump';
export const DUMP_VERSION = 1;

export interface DumpHeader {
  format: typeof DUMP_FORMAT;
  version: number;
  /** Page size and root slots of the source file (load() uses them only to create a new file from the CLI). */
  pageSize: number;
  nRoots: number;
  /** The version the dump was taken from. */
  txnId: number;
  /** The databases in the dump, in the order their entries follow; null is the main database. */
  databases: Array<{ name: string | null; entries: number }>;
}

export interface DumpEntry {
  /** The database: null for the main database, else a name listed in the header. */
  db: string | null;
  key: Buffer;
  value: Buffer;
}

export interface DumpOptions {
  /** Dump only this database: a name, or null for the main database. Default: all of them. */
  database?: string | null;
  /** Called with (entries written, entries to write). */
  onProgress?: ProgressCallback;
}

export interface DumpResult {
  txnId: number;
  entries: number;
  databases: number;
}

export interface LoadOptions {
  /** Called with (entries loaded, entries the header announces). */
  onProgress?: ProgressCallback;
  /** Entries per write transaction (default 10,000). */
  batchEntries?: number;
  /** Key and value bytes per write transaction, whichever limit comes first (default 32 MiB). */
  batchBytes?: number;
}

export interface LoadResult {
  entries: number;
  databases: number;
}

/** Bytes of text gathered before one write to the output stream. */
const WRITE_CHUNK = 256 * 1024;

/**
 * Writes database `db` (all of its databases, or the one `options.database` names) to `out` in the
 * dump format, from one pinned snapshot. Waits for `out` to drain when it asks to; does not end it.
 */
export async function dump(db: RootDatabase, out: Writable | NodeJS.WritableStream, options: DumpOptions = {}): Promise<DumpResult> {
  const env = db.env;
  env.checkOpen();
  const r = env.beginRead(true);
  let sink: ChunkWriter | undefined;
  try {
    let dbs: SnapshotDatabase[] = listDatabases(r);
    if (options.database !== undefined) {
      const want = options.database;
      dbs = dbs.filter((d) => d.name === want);
      if (dbs.length === 0) throw new RotaError('ROTA_NO_DATABASE', `there is no database named ${JSON.stringify(want)} in version ${r.txnId}`);
    }
    let total = 0;
    for (const d of dbs) total += d.tree.entries;
    const header: DumpHeader = {
      format: DUMP_FORMAT,
      version: DUMP_VERSION,
      pageSize: r.meta.pageSize,
      nRoots: r.meta.nRoots,
      txnId: r.txnId,
      databases: dbs.map((d) => ({ name: d.name, entries: d.tree.entries })),
    };
    sink = new ChunkWriter(out);
    options.onProgress?.(0, total);
    await sink.write(JSON.stringify(header) + '\n');
    let done = 0;
    for (const d of dbs) {
      if (d.tree.root === 0) continue;
      const prefix = `{"db":${JSON.stringify(d.name)},"k":"`;
      const c = new Cursor(r, d.tree);
      for (let ok = c.first(); ok; ok = c.next()) {
        const k = c.key();
        const v = c.value();
        sink.add(prefix + base64(k) + '","v":"' + base64(v) + '"}\n');
        done++;
        if (sink.pending >= WRITE_CHUNK) {
          await sink.flush(); // the cursor holds pages of the pinned version, which never change: safe across turns
          options.onProgress?.(done, total);
        }
      }
    }
    await sink.flush();
    options.onProgress?.(done, total);
    return { txnId: r.txnId, entries: done, databases: dbs.length };
  } finally {
    sink?.detach();
    r.end(false); // every page was validated as it was read (a registered reader checks expiry per page)
  }
}

function base64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
}

/** Gathers text and writes it in large pieces, honouring back-pressure and stream errors. */
class ChunkWriter {
  private parts: string[] = [];
  pending = 0;
  private failed: unknown = null;

  private readonly onError = (e: unknown): void => { this.failed ??= e; };

  constructor(private readonly out: Writable | NodeJS.WritableStream) {
    out.on('error', this.onError);
  }

  /** Stops listening to the stream. */
  detach(): void {
    this.out.off('error', this.onError);
  }

  add(s: string): void {
    this.parts.push(s);
    this.pending += s.length;
  }

  async write(s: string): Promise<void> {
    this.add(s);
    await this.flush();
  }

  async flush(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.pending = 0;
    const out = this.out;
    if (out.write(text)) {
      await yieldTurn(); // let writers of the source and the stream itself run
    } else {
      await new Promise<void>((resolve, reject) => {
        const done = (e?: unknown): void => {
          out.off('drain', onDrain);
          out.off('error', onError);
          out.off('close', onClose);
          if (e) reject(e); else resolve();
        };
        const onDrain = (): void => done();
        const onError = (e: unknown): void => done(e);
        const onClose = (): void => done(new RotaError('ROTA_IO', 'the output was closed before the dump was complete'));
        out.on('drain', onDrain);
        out.on('error', onError);
        out.on('close', onClose);
      });
    }
    if (this.failed) throw this.failed;
  }
}

// ---------------------------------------------------------------- reading a dump

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Reads a dump line by line: the header first (open()), then the entries, validated as they come. */
export class DumpReader {
  private line = 1;
  private constructor(
    readonly header: DumpHeader,
    private readonly lines: AsyncIterator<string>,
    private readonly names: Set<string | null>,
  ) {}

  /** Reads and validates the header line of `input`. */
  static async open(input: Readable | NodeJS.ReadableStream | AsyncIterable<string | Buffer>): Promise<DumpReader> {
    const stream = isReadable(input) ? input : Readable.from(input);
    const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
    const lines = rl[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw badDump('the input is empty: no header line');
    const header = parseHeader(first.value);
    return new DumpReader(header, lines, new Set(header.databases.map((d) => d.name)));
  }

  /** The entries, in the order of the dump. Views are fresh Buffers, owned by the caller. */
  async *entries(): AsyncGenerator<DumpEntry> {
    for (;;) {
      const next = await this.lines.next();
      if (next.done) return;
      this.line++;
      const text = next.value;
      if (text.length === 0) continue; // a trailing blank line is tolerated
      yield this.parseEntry(text);
    }
  }

  private parseEntry(text: string): DumpEntry {
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch {
      throw badDump(`line ${this.line} is not JSON`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw badDump(`line ${this.line} is not an entry object`);
    const { db, k, v } = o as { db?: unknown; k?: unknown; v?: unknown };
    if (db !== null && typeof db !== 'string') throw badDump(`line ${this.line}: "db" must be null or a database name`);
    if (!this.names.has(db)) throw badDump(`line ${this.line}: database ${JSON.stringify(db)} is not listed in the header`);
    const key = decode64(k, 'k', this.line);
    const value = decode64(v, 'v', this.line);
    if (value.length > MAX_VALUE_SIZE) throw badDump(`line ${this.line}: value of ${value.length} bytes is over the limit`);
    return { db, key, value };
  }
}

function isReadable(x: unknown): x is Readable | NodeJS.ReadableStream {
  return typeof (x as { on?: unknown }).on === 'function' && typeof (x as { read?: unknown }).read === 'function';
}

function parseHeader(text: string): DumpHeader {
  let o: Partial<DumpHeader> & Record<string, unknown>;
  try {
    o = JSON.parse(text);
  } catch {
    throw badDump('line 1 is not JSON: not a rotadb dump');
  }
  if (typeof o !== 'object' || o === null || o.format !== DUMP_FORMAT) throw badDump(`line 1 is not a ${DUMP_FORMAT} header: not a rotadb dump`);
  if (o.version !== DUMP_VERSION) throw new FormatVersionError(`the dump has format version ${String(o.version)}; this rotadb reads version ${DUMP_VERSION}`);
  const int = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;
  if (!int(o.pageSize) || !int(o.nRoots) || !int(o.txnId) || !Array.isArray(o.databases)) throw badDump('the header lacks pageSize, nRoots, txnId or databases');
  const seen = new Set<string | null>();
  for (const d of o.databases) {
    if (typeof d !== 'object' || d === null || (d.name !== null && (typeof d.name !== 'string' || d.name === '')) || !int(d.entries)) {
      throw badDump(`the header lists a bad database: ${JSON.stringify(d)}`);
    }
    if (seen.has(d.name)) throw badDump(`the header lists database ${JSON.stringify(d.name)} twice`);
    seen.add(d.name);
  }
  return o as DumpHeader;
}

function decode64(s: unknown, field: string, line: number): Buffer {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !BASE64.test(s)) throw badDump(`line ${line}: "${field}" is not base64`);
  return Buffer.from(s, 'base64');
}

function badDump(message: string): RotaError {
  return new RotaError('ROTA_BAD_DUMP', message);
}

// ---------------------------------------------------------------- load

/**
 * Loads a dump into `db`: every entry is put (replacing an existing key) into the database it
 * names, created if needed; every database listed in the header exists afterwards, even empty.
 * Writes go in transactions of at most `batchEntries` entries, queued like db.transaction().
 * Fails with ROTA_BAD_DUMP when a line is malformed or the dump holds fewer entries than its
 * header announces (a truncated file); the batches committed before stay.
 */
export async function load(
  db: RootDatabase, input: DumpReader | Readable | NodeJS.ReadableStream | AsyncIterable<string | Buffer>, options: LoadOptions = {},
): Promise<LoadResult> {
  const env = db.env;
  env.checkOpen();
  const reader = input instanceof DumpReader ? input : await DumpReader.open(input);
  const header = reader.header;
  const batchEntries = options.batchEntries ?? DEFAULT_BATCH_ENTRIES;
  const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
  let total = 0;
  for (const d of header.databases) total += d.entries;
  const maxKey = db.maxKeySize;
  const onProgress = options.onProgress;

  let batch: DumpEntry[] = [];
  let bytes = 0;
  let done = 0;
  const counts = new Map<string | null, number>();
  const commit = async (last: boolean): Promise<void> => {
    const entries = batch;
    batch = [];
    bytes = 0;
    await db.transaction(() => {
      const txn = env.writeTxn!;
      for (const e of entries) putRaw(txn, e.db, e.key, e.value);
      if (last) for (const d of header.databases) if (d.name !== null) ensureDatabase(txn, d.name);
    });
    done += entries.length;
    onProgress?.(done, total);
  };

  onProgress?.(0, total);
  let n = 0;
  for await (const e of reader.entries()) {
    n++;
    if (e.key.length > maxKey) {
      throw new RotaError('ROTA_KEY_TOO_LARGE', `entry ${n} of the dump: a key of ${e.key.length} bytes; the limit at this page size is ${maxKey}`);
    }
    counts.set(e.db, (counts.get(e.db) ?? 0) + 1);
    batch.push(e);
    bytes += e.key.length + e.value.length;
    if (batch.length >= batchEntries || bytes >= batchBytes) await commit(false);
  }
  await commit(true);
  for (const d of header.databases) {
    const got = counts.get(d.name) ?? 0;
    if (got !== d.entries) {
      throw badDump(`the header announces ${d.entries} entries for database ${JSON.stringify(d.name)}, the dump holds ${got}: truncated or edited?`);
    }
  }
  return { entries: done, databases: header.databases.length };
}
