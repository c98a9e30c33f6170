import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { NotADatabaseError, StorageError } from '../errors.js';
import type { Storage } from './storage.js';

/**
 * A `Storage` backed by one file, accessed only through positioned synchronous syscalls
 * (pread/pwrite), so no file-position state is shared between calls.
 *
 * Error contract: failures reported by the OS become `StorageError` (code ROTA_IO) with the
 * original error as `cause`; a path that is a directory or (without `create`) missing becomes
 * `NotADatabaseError`. Argument errors raised by Node itself (bad types, out-of-range
 * positions) are programming errors and propagate unchanged.
 */
export class FileStorage implements Storage {
  readonly path: string;
  /** `null` once closed; never reused after that. */
  #fd: number | null;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Opens `path` for reading and writing. With `create`, a missing file is created empty;
   * an existing file is never truncated.
   */
  static open(path: string, opts: { create: boolean }): FileStorage {
    const fd = openFd(path, opts.create);
    let isDir: boolean;
    try {
      isDir = fs.fstatSync(fd).isDirectory();
    } catch (err) {
      closeQuietly(fd);
      throw mapError(err, `cannot stat ${path}`);
    }
    // Some platforms let a directory be opened; it is never a database either way.
    if (isDir) {
      closeQuietly(fd);
      throw notADatabaseDir(path);
    }
    return new FileStorage(path, fd);
  }

  read(buf: Uint8Array, position: number): number {
    const fd = this.#handle();
    let done = 0;
    try {
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, position + done);
        if (n === 0) break; // end of file: the caller gets a short count
        done += n;
      }
    } catch (err) {
      throw mapError(err, `cannot read ${buf.length} bytes at ${position} from ${this.path}`);
    }
    return done;
  }

  write(buf: Uint8Array, position: number): void {
    const fd = this.#handle();
    let done = 0;
    try {
      while (done < buf.length) {
        const n = fs.writeSync(fd, buf, done, buf.length - done, position + done);
        // A zero count without an error would loop forever; the OS means "no progress".
        if (n === 0) throw new StorageError(`write to ${this.path} at ${position + done} made no progress`);
        done += n;
      }
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw mapError(err, `cannot write ${buf.length} bytes at ${position} to ${this.path}`);
    }
  }

  sync(): void {
    const fd = this.#handle();
    try {
      fs.fdatasyncSync(fd);
    } catch (err) {
      throw mapError(err, `cannot sync ${this.path}`);
    }
  }

  size(): number {
    const fd = this.#handle();
    try {
      return fs.fstatSync(fd).size;
    } catch (err) {
      throw mapError(err, `cannot stat ${this.path}`);
    }
  }

  truncate(size: number): void {
    const fd = this.#handle();
    try {
      fs.ftruncateSync(fd, size);
    } catch (err) {
      throw mapError(err, `cannot truncate ${this.path} to ${size} bytes`);
    }
  }

  /** As write(), on the libuv thread pool. */
  async writeAsync(buf: Uint8Array, position: number): Promise<void> {
    const fd = this.#begin();
    let done = 0;
    try {
      while (done < buf.length) {
        const { bytesWritten } = await writeP(fd, buf, done, buf.length - done, position + done);
        if (bytesWritten === 0) throw new StorageError(`write to ${this.path} at ${position + done} made no progress`);
        done += bytesWritten;
      }
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw mapError(err, `cannot write ${buf.length} bytes at ${position} to ${this.path}`);
    } finally {
      this.#end();
    }
  }

  /** As writeAsync() of `bufs` one after the other, in one gathered write (pwritev). */
  async writevAsync(bufs: Uint8Array[], position: number): Promise<void> {
    const fd = this.#begin();
    const total = bufs.reduce((n, b) => n + b.length, 0);
    try {
      let done = (await writevP(fd, bufs, position)).bytesWritten;
      // A short gathered write (rare: a signal, a full disk): the rest as plain writes, still
      // inside this call, so that close() keeps the descriptor open for them too.
      const rest = done < total ? Buffer.concat(bufs).subarray(done) : undefined;
      while (rest !== undefined && done < total) {
        const { bytesWritten } = await writeP(fd, rest, done - (total - rest.length), total - done, position + done);
        if (bytesWritten === 0) throw new StorageError(`write to ${this.path} at ${position + done} made no progress`);
        done += bytesWritten;
      }
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw mapError(err, `cannot write ${total} bytes at ${position} to ${this.path}`);
    } finally {
      this.#end();
    }
  }

  /** As sync(), on the libuv thread pool. */
  async syncAsync(): Promise<void> {
    const fd = this.#begin();
    try {
      await fdatasyncP(fd);
    } catch (err) {
      throw mapError(err, `cannot sync ${this.path}`);
    } finally {
      this.#end();
    }
  }

  /**
   * Idempotent. The descriptor is forgotten before closing so a failed close is not retried. While
   * asynchronous calls are still running on the thread pool the descriptor stays open until the
   * last of them ends: closed earlier, its number could be reused by another file and a late
   * write would land there.
   */
  close(): void {
    const fd = this.#fd;
    if (fd === null) return;
    this.#fd = null;
    if (this.#running > 0) {
      this.#closeWhenIdle = fd;
      return;
    }
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw mapError(err, `cannot close ${this.path}`);
    }
  }

  #running = 0;
  #closeWhenIdle: number | null = null;

  #begin(): number {
    const fd = this.#handle();
    this.#running++;
    return fd;
  }

  #end(): void {
    if (--this.#running === 0 && this.#closeWhenIdle !== null) {
      closeQuietly(this.#closeWhenIdle);
      this.#closeWhenIdle = null;
    }
  }

  #handle(): number {
    if (this.#fd === null) throw new StorageError(`storage is closed (${this.path})`);
    return this.#fd;
  }
}

function openFd(path: string, create: boolean): number {
  try {
    return fs.openSync(path, 'r+');
  } catch (err) {
    const code = errCode(err);
    if (code === 'EISDIR') throw notADatabaseDir(path);
    if (code !== 'ENOENT') throw mapError(err, `cannot open ${path}`);
    if (!create) throw new NotADatabaseError(`${path} does not exist`);
  }
  try {
    // O_EXCL: we create the file only if nobody else did; never clobber someone's file.
    return fs.openSync(path, 'wx+');
  } catch (err) {
    // ENOENT here means a missing parent directory: an I/O error, not "not a database".
    if (errCode(err) !== 'EEXIST') throw mapError(err, `cannot create ${path}`);
  }
  // The file appeared between our two attempts (another opener created it): use it.
  try {
    return fs.openSync(path, 'r+');
  } catch (err) {
    if (errCode(err) === 'EISDIR') throw notADatabaseDir(path);
    throw mapError(err, `cannot open ${path}`);
  }
}

function notADatabaseDir(path: string): NotADatabaseError {
  return new NotADatabaseError(`${path} is a directory, not a rotadb database file`);
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * OS errors (those carrying a `syscall`) become StorageError; anything else is a bug in the
 * caller or in this module and is rethrown as is so it is not mistaken for a disk problem.
 */
function mapError(err: unknown, what: string): unknown {
  const syscall = (err as { syscall?: unknown } | null)?.syscall;
  if (typeof syscall !== 'string') return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new StorageError(`${what}: ${detail}`, err);
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already failing with a more useful error; a close failure adds nothing.
  }
}

const writeP = promisify(fs.write) as (fd: number, buf: Uint8Array, offset: number, length: number, position: number) => Promise<{ bytesWritten: number }>;
const fdatasyncP = promisify(fs.fdatasync);
const writevP = promisify(fs.writev) as (fd: number, bufs: Uint8Array[], position: number) => Promise<{ bytesWritten: number }>;
