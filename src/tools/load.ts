/**
 * load(): reads the dump format that dump.ts writes (docs/cli.md documents it) back into a file.
 * Entries are validated line by line as they come; writes go in transactions of bounded size, so a
 * load is not atomic: one that fails part way leaves the batches it committed.
 */
import * as readline from 'node:readline';
import { Readable } from 'node:stream';
import type { Environment } from '../env/environment.js';
import { MAX_VALUE_SIZE, maxKeySize } from '../pages/layout.js';
import { FormatVersionError, InvalidDumpError, KeyTooLargeError } from '../errors.js';
import type { WriteTxn } from '../txn/write.js';
import { DEFAULT_BATCH_BYTES, DEFAULT_BATCH_ENTRIES, ensureDatabase, putRaw, type ProgressCallback } from './compact.js';
import { DUMP_FORMAT, DUMP_VERSION, type DumpHeader } from './dump.js';

export interface DumpEntry {
  /** The database: null for the main database, else a name listed in the header. */
  db: string | null;
  key: Buffer;
  value: Buffer;
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

/**
 * Runs `body` in one write transaction and commits it (aborts if it throws). RootDatabase.load()
 * passes one that queues behind the writes issued before it, like db.transaction(); the default,
 * writeDirect, waits for the writer lock by itself.
 */
export type WriteRunner = (body: (txn: WriteTxn) => void) => Promise<void>;

/**
 * Each batch in its own write transaction, taken with env.writeAsync: ordered after other writers
 * by the writer lock alone. Not for a thread that holds a write transaction open meanwhile (it
 * would wait for itself); db.transaction(), which RootDatabase.load() uses, joins that one instead.
 */
export function writeDirect(env: Environment): WriteRunner {
  return (body) => env.writeAsync((txn) => {
    try {
      body(txn);
      txn.commit();
    } catch (e) {
      txn.abort();
      throw e;
    }
  });
}

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
    if (first.done) throw new InvalidDumpError('the input is empty: no header line');
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
      throw new InvalidDumpError(`line ${this.line} is not JSON`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InvalidDumpError(`line ${this.line} is not an entry object`);
    const { db, k, v } = o as { db?: unknown; k?: unknown; v?: unknown };
    if (db !== null && typeof db !== 'string') throw new InvalidDumpError(`line ${this.line}: "db" must be null or a database name`);
    if (!this.names.has(db)) throw new InvalidDumpError(`line ${this.line}: database ${JSON.stringify(db)} is not listed in the header`);
    const key = decode64(k, 'k', this.line);
    const value = decode64(v, 'v', this.line);
    if (value.length > MAX_VALUE_SIZE) throw new InvalidDumpError(`line ${this.line}: value of ${value.length} bytes is over the limit`);
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
    throw new InvalidDumpError('line 1 is not JSON: not a rotadb dump');
  }
  if (typeof o !== 'object' || o === null || o.format !== DUMP_FORMAT) throw new InvalidDumpError(`line 1 is not a ${DUMP_FORMAT} header: not a rotadb dump`);
  if (o.version !== DUMP_VERSION) throw new FormatVersionError(`the dump has format version ${String(o.version)}; this rotadb reads version ${DUMP_VERSION}`);
  const int = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;
  if (!int(o.pageSize) || !int(o.nRoots) || !int(o.txnId) || !Array.isArray(o.databases)) throw new InvalidDumpError('the header lacks pageSize, nRoots, txnId or databases');
  const seen = new Set<string | null>();
  for (const d of o.databases) {
    if (typeof d !== 'object' || d === null || (d.name !== null && (typeof d.name !== 'string' || d.name === '')) || !int(d.entries)) {
      throw new InvalidDumpError(`the header lists a bad database: ${JSON.stringify(d)}`);
    }
    if (seen.has(d.name)) throw new InvalidDumpError(`the header lists database ${JSON.stringify(d.name)} twice`);
    seen.add(d.name);
  }
  return o as DumpHeader;
}

function decode64(s: unknown, field: string, line: number): Buffer {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !BASE64.test(s)) throw new InvalidDumpError(`line ${line}: "${field}" is not base64`);
  return Buffer.from(s, 'base64');
}

/**
 * Loads a dump into the file of `env`: every entry is put (replacing an existing key) into the
 * database it names, created if needed; every database listed in the header exists afterwards,
 * even empty.
 * Writes go in transactions of at most `batchEntries` entries, each run by `write`.
 * Fails with ROTA_BAD_DUMP when a line is malformed or the dump holds fewer entries than its
 * header announces (a truncated file); the batches committed before stay.
 */
export async function load(
  env: Environment, input: DumpReader | Readable | NodeJS.ReadableStream | AsyncIterable<string | Buffer>, options: LoadOptions = {},
  write: WriteRunner = writeDirect(env),
): Promise<LoadResult> {
  env.checkOpen();
  const reader = input instanceof DumpReader ? input : await DumpReader.open(input);
  const header = reader.header;
  const batchEntries = options.batchEntries ?? DEFAULT_BATCH_ENTRIES;
  const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
  let total = 0;
  for (const d of header.databases) total += d.entries;
  const maxKey = maxKeySize(env.pageSize);
  const onProgress = options.onProgress;

  let batch: DumpEntry[] = [];
  let bytes = 0;
  let done = 0;
  const counts = new Map<string | null, number>();
  const commit = async (last: boolean): Promise<void> => {
    const entries = batch;
    batch = [];
    bytes = 0;
    await write((txn) => {
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
      throw new KeyTooLargeError(e.key.length, maxKey, `entry ${n} of the dump`);
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
      throw new InvalidDumpError(`the header announces ${d.entries} entries for database ${JSON.stringify(d.name)}, the dump holds ${got}: truncated or edited?`);
    }
  }
  return { entries: done, databases: header.databases.length };
}
