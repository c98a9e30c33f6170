/**
 * open(): the entry point. Validates what it can before touching the file (the encodings), then
 * opens the environment (or joins another thread's) and returns its root database.
 */
import { Environment, isHandle, type DatabaseHandle, type EnvOptions } from '../env/environment.js';
import { keyCodec } from '../encoding/keys.js';
import { valueCodec } from '../encoding/values.js';
import { RootDatabase, type DatabaseOptions } from './database.js';
import { WriteQueue } from './write-queue.js';
import { InvalidOptionError } from '../errors.js';

export interface OpenOptions extends EnvOptions, DatabaseOptions {}

/**
 * Opens (or creates) a database file: `open(path, options)` or `open({ path, ...options })`.
 * In a worker thread, `open(handle, options)` with a handle from db.handle() joins the file that
 * another thread has open.
 */
export function open<V = any>(pathOrOptions: string | OpenOptions | DatabaseHandle, options: OpenOptions = {}): RootDatabase<V> {
  if (isHandle(pathOrOptions)) {
    if (options.path !== undefined || options.storage !== undefined) throw new InvalidOptionError('open(handle, options): the handle names the file; options may not');
    validateEncodings(options);
    const env = Environment.join(pathOrOptions, options);
    return new RootDatabase<V>(env, new WriteQueue(env), null, options);
  }
  const opts: OpenOptions = typeof pathOrOptions === 'string' ? { ...options, path: pathOrOptions } : { ...pathOrOptions };
  validateEncodings(opts);
  const env = Environment.open(opts);
  return new RootDatabase<V>(env, new WriteQueue(env), null, opts);
}

/** The codec constructors throw InvalidOptionError for an unknown encoding. */
function validateEncodings(o: DatabaseOptions): void {
  if (o.encoding !== undefined) valueCodec(o.encoding);
  if (o.keyEncoding !== undefined) keyCodec(o.keyEncoding);
}
