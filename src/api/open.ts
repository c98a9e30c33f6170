/**
 * open(): the entry point. Validates what it can before touching the file (every option is one
 * rotadb implements or is refused, see api/lmdb-options.ts; the encodings), then opens the
 * environment (or joins another thread's) and returns its root database.
 */
import * as fs from 'node:fs';
import { Environment, isHandle, type DatabaseHandle, type EnvOptions } from '../env/environment.js';
import { keyCodec } from '../encoding/keys.js';
import { valueCodec } from '../encoding/values.js';
import { RootDatabase } from './root-database.js';
import type { DatabaseOptions } from './types.js';
import { WriteQueue } from './write-queue.js';
import { checkEncodingNames, checkOpenOptions } from './lmdb-options.js';
import { FileNotFoundError, InvalidOptionError } from '../errors.js';

export interface OpenOptions extends EnvOptions, DatabaseOptions {
  /**
   * Open for reading only: no write transaction can begin, and every write throws ReadOnlyError
   * (ROTA_READ_ONLY). The file must exist. The file is still locked as for writing: in the lock directory where processes share files, else the lock file (one process per file).
   */
  readOnly?: boolean;
  /**
   * true: asynchronous writes (put, remove) are applied and committed by a worker thread of the
   * database's own once they queue up (api/writer-thread.ts), so that neither the B-tree work nor
   * the commit runs on the event loop. Default false: they are applied on this thread, in slices,
   * with the commit's I/O on the thread pool. Needs a file path (not `storage`). Measured
   * (docs/benchmarks.md): faster for sustained writes, slower for a burst right after open.
   */
  writerThread?: boolean;
}

/**
 * Opens (or creates) a database file: `open(path, options)` or `open({ path, ...options })`.
 * In a worker thread, `open(handle, options)` with a handle from db.handle() joins the file that
 * another thread has open.
 */
export function open<V = any>(pathOrOptions: string | OpenOptions | DatabaseHandle, options: OpenOptions = {}): RootDatabase<V> {
  if (isHandle(pathOrOptions)) {
    if (options.path !== undefined || options.storage !== undefined) throw new InvalidOptionError('open(handle, options): the handle names the file; options may not');
    validate(options);
    const env = Environment.join(pathOrOptions, options);
    return new RootDatabase<V>(env, new WriteQueue(env, options.writerThread === true), null, options, options.readOnly === true);
  }
  const opts: OpenOptions = typeof pathOrOptions === 'string' ? { ...options, path: pathOrOptions } : { ...pathOrOptions };
  validate(opts);
  const readOnly = opts.readOnly === true;
  // A read-only open must not create the file (Environment.open would).
  if (readOnly && opts.storage === undefined && typeof opts.path === 'string' && !fs.existsSync(opts.path)) {
    throw new FileNotFoundError(`${opts.path} (readOnly: true does not create a database)`);
  }
  const env = Environment.open(opts);
  return new RootDatabase<V>(env, new WriteQueue(env, opts.writerThread === true), null, opts, readOnly);
}

/** Every option is known; the codec constructors throw InvalidOptionError for an unknown encoding. */
function validate(o: OpenOptions): void {
  checkOpenOptions(o);
  if (o.readOnly !== undefined && typeof o.readOnly !== 'boolean') throw new InvalidOptionError('readOnly must be a boolean');
  if (o.writerThread !== undefined && typeof o.writerThread !== 'boolean') throw new InvalidOptionError('writerThread must be a boolean');
  if (o.writerThread === true && o.storage !== undefined) throw new InvalidOptionError('writerThread: true needs a database opened from a file path; a Storage given to open() belongs to this thread');
  checkEncodingNames(o);
  if (o.encoding !== undefined) valueCodec(o.encoding);
  if (o.keyEncoding !== undefined) keyCodec(o.keyEncoding);
}
