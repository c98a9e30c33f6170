/**
 * backup(): a consistent physical copy of one committed version, taken while writers go on.
 *
 * A read transaction pins version V for the whole copy. Pages [nRoots, highWater(V)) are copied
 * from the source storage in chunks, as they are on disk:
 *  - a page reachable from V cannot change while V is pinned (copy-on-write, and the epoch rule
 *    keeps every page freed after V from being reused);
 *  - a page that is free in V may be reused and rewritten by a writer underneath the copy, or
 *    cut off when a writer trims the file's free tail (the copy then holds zeros there). That is
 *    harmless: V's space map lists it as free, so the copy never reads it as data.
 * Then the root slots are written: V's slot (V.txnId mod nRoots) encoded afresh, every other slot
 * zeroed, so V is the only version the copy has. Pages are read from storage, not through the
 * read transaction, so the pin is validated once the copy is done: a writer with maxReaderAgeMs
 * expires a reader before it reuses any page the reader can reach, so an unexpired pin at the end
 * proves the copy intact (an expired one fails the backup with ROTA_READER_EXPIRED). The copy is written under a temporary name,
 * synced, and moved to its final name atomically; an existing destination is never overwritten.
 */
import * as fs from 'node:fs';
import * as pathMod from 'node:path';
import type { Environment } from '../env/environment.js';
import { encodeMeta } from '../pages/meta.js';
import { InvalidOptionError, StorageError } from '../errors.js';
import {
  publishFile, refuseExisting, removeQuietly, temporaryName, wrapIo, yieldTurn, type ProgressCallback,
} from './compact.js';

export interface BackupOptions {
  /** Called with (pages copied, pages to copy) after each chunk, and at start and end. */
  onProgress?: ProgressCallback;
  /** Pages per read/write chunk (default 256); the event loop gets a turn between chunks. */
  chunkPages?: number;
}

export interface BackupResult {
  /** The version the backup holds. */
  txnId: number;
  /** Pages in the backup file (root slots included), and its size in bytes. */
  pages: number;
  size: number;
  /** Absolute path of the backup file. */
  path: string;
}

export const DEFAULT_CHUNK_PAGES = 256;

/**
 * Copies the current version of `env` to a new file at `destPath`. Asynchronous writers of this
 * thread go on between chunks until they need the root slot the backup pins (then they wait for
 * it); readers are never blocked.
 */
export async function backup(env: Environment, destPath: string, options: BackupOptions = {}): Promise<BackupResult> {
  env.checkOpen();
  const dest = pathMod.resolve(destPath);
  refuseExisting(dest, 'backup');
  const chunkPages = options.chunkPages ?? DEFAULT_CHUNK_PAGES;
  if (!Number.isInteger(chunkPages) || chunkPages < 1) throw new InvalidOptionError(`chunkPages must be a positive integer, not ${chunkPages}`);
  const onProgress = options.onProgress;

  const r = env.beginRead(true);
  const tmp = temporaryName(dest, 'backup');
  let fd: number | null = null;
  try {
    const meta = r.meta;
    const { pageSize, nRoots, highWater } = meta;
    const total = highWater - nRoots;
    onProgress?.(0, total);
    fd = fs.openSync(tmp, 'wx');
    const buf = Buffer.allocUnsafe(Math.min(chunkPages, Math.max(total, 1)) * pageSize);
    for (let p = nRoots; p < highWater; ) {
      const n = Math.min(chunkPages, highWater - p);
      const chunk = buf.subarray(0, n * pageSize);
      const got = env.storage.read(chunk, p * pageSize);
      // A writer may have trimmed the file below V's high-water mark meanwhile: it only gives
      // back pages no pinned version can reach, so what is missing was free in V. Zeros stand in.
      if (got < chunk.length) chunk.fill(0, got);
      writeAll(fd, chunk, p * pageSize);
      p += n;
      onProgress?.(p - nRoots, total);
      if (p < highWater) await yieldTurn();
    }
    // With maxReaderAgeMs a waiting writer may expire our pin, and only then reuse pages of V.
    // Ending the read validates it: if it was not expired, every page copied above was intact.
    // (Pages were read from storage, not through the transaction, so no read has checked it yet.)
    r.end(true);
    // Root slots last: V in its own slot, the others empty (they would point at versions the copy does not hold).
    const slot = meta.txnId % nRoots;
    const slots = Buffer.alloc(nRoots * pageSize);
    slots.set(encodeMeta({ ...meta, slot }), slot * pageSize);
    writeAll(fd, slots, 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    publishFile(tmp, dest, 'backup');
    return { txnId: meta.txnId, pages: highWater, size: highWater * pageSize, path: dest };
  } catch (e) {
    if (fd !== null) {
      try { fs.closeSync(fd); } catch { /* failing already */ }
    }
    removeQuietly(tmp);
    throw wrapIo(e);
  } finally {
    r.end(false); // no-op when already ended; after a failure, whether it expired does not matter
  }
}

function writeAll(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.writeSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new StorageError(`write at ${position + done} made no progress`);
    done += n;
  }
}
