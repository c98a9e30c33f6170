/**
 * The lock file `<path>-lock` of platforms where several processes cannot share a file (no
 * /proc: see procs/identity.ts): one process per database file. It holds the owner's pid; a second
 * process gets DatabaseLockedError, and a lock left by a dead process is taken over.
 */
import * as fs from 'node:fs';
import { AlreadyOpenError, DatabaseLockedError, NotADatabaseError, StorageError } from '../errors.js';
import { canShareAcrossProcesses } from '../procs/identity.js';
import { pidExists } from '../procs/io.js';
import { lockAlone } from './shared-open.js';
import { DEFAULT_WRITE_TIMEOUT_MS } from './options.js';

/**
 * Takes `path` for this process alone (recover --apply): with the lock directory where the
 * platform allows sharing (refused while another process has the file open), else the lock file.
 */
export function lockExclusive(path: string): () => void {
  return canShareAcrossProcesses() ? lockAlone(path, DEFAULT_WRITE_TIMEOUT_MS) : lockFile(path);
}

/** Takes the lock file of `path` for this process; returns the function that removes it. */
export function lockFile(path: string): () => void {
  const lockPath = `${path}-lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' });
      return () => {
        try { fs.unlinkSync(lockPath); } catch { /* already gone */ }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(path, e);
    }
    let pid = NaN;
    try {
      pid = parseInt(fs.readFileSync(lockPath, 'utf8'), 10);
    } catch { /* vanished between our create and read: retry */ }
    if (pid === process.pid) throw new AlreadyOpenError(path, 'in another thread of this process; pass db.handle() to the worker (workerData or postMessage) and open(handle) there');
    if (Number.isInteger(pid) && pid > 0 && pidExists(pid)) throw new DatabaseLockedError(path, pid);
    if (attempt >= 2) throw new DatabaseLockedError(path, pid);
    // The owner died without unlinking (a crash): the lock is stale; take it over.
    try { fs.unlinkSync(lockPath); } catch { /* someone else took it over first */ }
  }
}

/** Removes the lock file of `path` if it names this process (the last thread closed it). */
export function releaseLockFileOf(path: string): void {
  try {
    if (parseInt(fs.readFileSync(`${path}-lock`, 'utf8'), 10) === process.pid) fs.unlinkSync(`${path}-lock`);
  } catch { /* already gone */ }
}

function lockError(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new NotADatabaseError(`${path}: the directory does not exist`);
  return new StorageError(`cannot create the lock file ${path}-lock: ${(e as Error).message}`, e);
}
