/** Small helpers of the lock directory's files and of the one-process lock file (env/lockfile.ts). */
import * as fs from 'node:fs';
import { StorageError } from '../errors.js';

/** Writes all of `b` at `pos` (a short pwrite is continued). */
export function pwriteAll(fd: number, b: Uint8Array, pos: number): void {
  let done = 0;
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, pos + done);
}

/**
 * Whether some process has pid `pid` (it may not be the one that wrote it: see identity.ts for
 * telling them apart). EPERM: it exists, owned by another user.
 */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function storageError(what: string, e: unknown): StorageError {
  return new StorageError(`${what}: ${(e as Error).message}`, e);
}
