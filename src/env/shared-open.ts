/**
 * Opening a file that other processes may have open (docs/design.md, "Several processes:
 * opening"). The first thread of a process makes the process's record in the lock directory,
 * then takes the writer lock across processes while it creates the file if needed, finds the
 * current version (and repairs after a crash: no writer can be half-way through a commit while
 * the lock is held, so a half-written commit found now is a dead writer's) and makes the commit
 * record agree with it.
 */
import type { Storage } from '../storage/storage.js';
import type { Meta } from '../pages/meta.js';
import { RING_CAPACITY } from '../pages/layout.js';
import { LockDir, OpeningState } from '../procs/lock-dir.js';
import { Bakery } from '../procs/bakery.js';
import { liveness } from '../procs/identity.js';
import { leave } from '../procs/leave.js';
import { CorruptionError, DatabaseLockedError, WriteTimeoutError } from '../errors.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number): void => { Atomics.wait(sleeper, 0, 0, ms); };

/**
 * Runs `open` (which opens the storage and finds the current version) under the writer lock
 * across processes, then publishes that version in the commit record; `build` makes the
 * environment while the lock is still held (it reads the space map). On failure the process's
 * record is removed again.
 */
export function openShared<T>(path: string, timeoutMs: number, open: () => { storage: Storage; meta: Meta }, build: (storage: Storage, meta: Meta, dir: LockDir) => T): T {
  const dir = new LockDir(path, new OpeningState(), true);
  const bakery = new Bakery(dir);
  let storage: Storage | undefined;
  try {
    if (!bakery.lock(Date.now() + timeoutMs, sleep)) {
      throw new WriteTimeoutError(`waited ${timeoutMs} ms to open ${path}: the writer lock is held by process ${bakery.blocker?.record.id.pid}`);
    }
    try {
      dir.attachState();
      const opened = open();
      storage = opened.storage;
      agreeCommit(dir, opened.meta, path);
      dir.compactMembers();
      return build(storage, opened.meta, dir);
    } finally {
      bakery.unlock();
    }
  } catch (e) {
    storage?.close();
    leave(dir, true);
    throw e;
  }
}

/**
 * Takes `path` for this process alone (rotadb recover --apply): the writer lock across processes
 * is held until the returned function is called, so nobody opens the file meanwhile, and a
 * process that has it open already makes this throw DatabaseLockedError.
 */
export function lockAlone(path: string, timeoutMs: number): () => void {
  const dir = new LockDir(path, new OpeningState(), true);
  const bakery = new Bakery(dir);
  try {
    if (!bakery.lock(Date.now() + timeoutMs, sleep)) throw new DatabaseLockedError(path, bakery.blocker?.record.id.pid ?? 0);
    dir.attachState();
    const live = dir.others().find((o) => liveness(o.record.id) !== 'dead');
    if (live !== undefined) {
      bakery.unlock();
      throw new DatabaseLockedError(path, live.record.id.pid);
    }
  } catch (e) {
    leave(dir, true);
    throw e;
  }
  return () => leave(dir, true);
}

/**
 * Makes the commit record name `meta`. When it named another version, some process's commit was
 * never published (its writer died after writing the root slot) or the lock directory is stale:
 * the reuse ring's head then jumps by more than the ring holds, so every process drops its whole
 * page cache before it reads a newer version.
 */
function agreeCommit(dir: LockDir, meta: Meta, path: string): void {
  const c = dir.commit.read();
  if (c !== null && c.txnId === meta.txnId && c.slot === meta.slot) return;
  if (c !== null && c.txnId > meta.txnId) {
    const live = dir.others().find((o) => liveness(o.record.id) !== 'dead');
    if (live !== undefined) {
      throw new CorruptionError(`${path}: process ${live.record.id.pid} has version ${c.txnId} open, but the newest intact version in the file is ${meta.txnId}`);
    }
  }
  const head = c === null ? 0 : (c.ringReserved + RING_CAPACITY + 1) >>> 0;
  dir.commit.write({ txnId: meta.txnId, slot: meta.slot, target: -1, ringHead: head, ringReserved: head });
}
