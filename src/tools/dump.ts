/**
 * dump(): a line-delimited JSON text form of a database (docs/cli.md documents it; load.ts reads it).
 *
 *   {"format":"rotadb-dump","version":1,"pageSize":4096,"nRoots":4,"txnId":42,
 *    "databases":[{"name":null,"entries":2},{"name":"users","entries":1}]}
 *   {"db":null,"k":"<base64 key bytes>","v":"<base64 value bytes>"}
 *   ...
 *
 * Keys and values are the raw stored bytes (the encoded key, the encoded value), so the round
 * trip is exact and binary-safe whatever encodings the databases were written with (no codec is
 * involved). dump() reads one pinned snapshot.
 */
import type { Writable } from 'node:stream';
import type { Environment } from '../env/environment.js';
import { Cursor } from '../btree/cursor.js';
import { NoSuchDatabaseError, StorageError } from '../errors.js';
import { listDatabases, yieldTurn, type ProgressCallback, type SnapshotDatabase } from './compact.js';

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

/** Bytes of text gathered before one write to the output stream. */
const WRITE_CHUNK = 256 * 1024;

/**
 * Writes the file of `env` (all of its databases, or the one `options.database` names) to `out` in
 * the dump format, from one pinned snapshot. Waits for `out` to drain when it asks to; does not end it.
 */
export async function dump(env: Environment, out: Writable | NodeJS.WritableStream, options: DumpOptions = {}): Promise<DumpResult> {
  env.checkOpen();
  const r = env.beginRead(true);
  let sink: ChunkWriter | undefined;
  try {
    let dbs: SnapshotDatabase[] = listDatabases(r);
    if (options.database !== undefined) {
      const want = options.database;
      dbs = dbs.filter((d) => d.name === want);
      if (dbs.length === 0) throw new NoSuchDatabaseError(want, r.txnId);
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
        const onClose = (): void => done(new StorageError('the output was closed before the dump was complete'));
        out.on('drain', onDrain);
        out.on('error', onError);
        out.on('close', onClose);
      });
    }
    if (this.failed) throw this.failed;
  }
}
