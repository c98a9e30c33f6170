/**
 * The environment: one open database file in this thread. It owns the storage, the pager and its
 * cache, the lock table, the current version and the writer's free-space state, and hands out
 * read and write transactions. The public API (database.ts) is a thin layer over it.
 */
import * as fs from 'node:fs';
import * as pathMod from 'node:path';
import type { Storage } from './storage/storage.js';
import { FileStorage } from './storage/file.js';
import { Pager } from './pages/pager.js';
import { decodeMeta, encodeMeta, type Meta } from './pages/meta.js';
import {
  DEFAULT_PAGE_SIZE, DEFAULT_ROOTS, FORMAT_VERSION, MAX_PAGE_SIZE, MAX_ROOTS, MIN_PAGE_SIZE, SLOT_MAGIC,
  SLOT_PAGE_SIZE, SPACEMAP_NEXT, isValidPageSize, MAGIC,
} from './pages/layout.js';
import { u32 } from './pages/bytes.js';
import { FreeSpace, replaySpaceMap } from './pages/spacemap.js';
import { FreeSet } from './pages/freeset.js';
import { emptyTree } from './btree/store.js';
import { LockTable, type ReaderInfo } from './txn/locks.js';
import { ReadTxn } from './txn/read.js';
import { WriteTxn } from './txn/write.js';
import {
  AlreadyOpenError, CorruptionError, DatabaseClosedError, DatabaseFailedError, DatabaseLockedError,
  FormatVersionError, InvalidOptionError, NotADatabaseError, ReadersFullError, ReadTimeoutError,
  RotaError, WouldDeadlockError, WriteTimeoutError,
} from './errors.js';

export interface EnvOptions {
  /** Path of the database file. Either this or `storage`. */
  path?: string;
  /** A Storage backend to use instead of a file (tests, in-memory databases). */
  storage?: Storage;
  /** Page size for a new file (1024 to 65536, a power of two). Checked against an existing file. */
  pageSize?: number;
  /** Root slots for a new file (1 to 255). Checked against an existing file. */
  nRoots?: number;
  /** Bytes of page cache in this thread (default 256 MiB). */
  cacheSize?: number;
  /** Skip fdatasync at commit: a crash may lose recent commits (never corrupt older ones, see README). */
  noSync?: boolean;
  /** How long a synchronous writer waits for readers that pin its slot (default 10 s). */
  writeTimeoutMs?: number;
  /** Entries in the reader table: open read transactions and range iterators (default 126). */
  maxReaders?: number;
}

export const DEFAULT_CACHE_SIZE = 256 * 1024 * 1024;
const openPaths = new Set<string>();

export class Environment {
  readonly storage: Storage;
  readonly pager: Pager;
  readonly locks: LockTable;
  readonly pageSize: number;
  readonly nRoots: number;
  readonly path: string | undefined;
  readonly options: Required<Pick<EnvOptions, 'noSync' | 'writeTimeoutMs' | 'maxReaders' | 'cacheSize'>>;
  current: Meta;
  /** The version held by each slot (index = slot), for readers that pin it. */
  readonly metas: (Meta | undefined)[];
  freeSpace: FreeSpace;
  /** The open write transaction of this thread, if any. */
  writeTxn: WriteTxn | null = null;
  /** Read pins this thread holds, per slot (to tell a deadlock from a wait). */
  readonly localPins: Int32Array;
  failed: DatabaseFailedError | null = null;
  closed = false;
  readonly openedAt = Date.now();
  private readonly releaseLock: () => void;
  /** Milliseconds writers spent waiting for pinned slots, per slot (stats). */
  readonly waitedMs: Float64Array;

  static open(opts: EnvOptions): Environment {
    validate(opts);
    if (opts.storage) return new Environment(opts, opts.storage, undefined, () => {});
    if (!opts.path) throw new InvalidOptionError('open() needs a path or a storage');
    const path = pathMod.resolve(opts.path);
    if (openPaths.has(path)) throw new AlreadyOpenError(path);
    const release = lockFile(path);
    let storage: Storage | undefined;
    try {
      if (!fs.existsSync(path)) createFile(path, opts);
      storage = FileStorage.open(path, { create: false });
      openPaths.add(path);
      return new Environment(opts, storage, path, () => { openPaths.delete(path); release(); });
    } catch (e) {
      storage?.close();
      openPaths.delete(path);
      release();
      throw e;
    }
  }

  private constructor(opts: EnvOptions, storage: Storage, path: string | undefined, releaseLock: () => void) {
    this.storage = storage;
    this.path = path;
    this.releaseLock = releaseLock;
    if (storage.size() === 0 && !path) storage.write(initialImage(opts), 0), storage.sync();
    const meta = readCurrentVersion(storage, opts, path ?? 'storage');
    this.current = meta;
    this.pageSize = meta.pageSize;
    this.nRoots = meta.nRoots;
    this.options = {
      noSync: opts.noSync ?? false,
      writeTimeoutMs: opts.writeTimeoutMs ?? 10_000,
      maxReaders: opts.maxReaders ?? 126,
      cacheSize: opts.cacheSize ?? DEFAULT_CACHE_SIZE,
    };
    this.pager = new Pager(storage, meta.pageSize, this.options.cacheSize);
    this.metas = new Array(meta.nRoots);
    this.metas[meta.slot] = meta;
    this.localPins = new Int32Array(meta.nRoots);
    this.waitedMs = new Float64Array(meta.nRoots);
    this.locks = new LockTable(meta.nRoots, this.options.maxReaders);
    this.locks.publish(meta.txnId, meta.slot);
    const { free } = replaySpaceMap((p) => this.pager.read(p), meta.spaceMapHead, meta.spaceMapPages);
    this.freeSpace = new FreeSpace(free);
  }

  checkOpen(): void {
    if (this.closed) throw new DatabaseClosedError();
  }

  // ---------------------------------------------------------------- readers

  /** Pins the current version. `register`: record it in the reader table (long-lived readers). */
  /** Registered read transactions of this thread, ended by close(). */
  private readonly openReads = new Set<ReadTxn>();

  beginRead(register: boolean): ReadTxn {
    this.checkOpen();
    const slot = this.pin();
    const meta = this.metas[slot]!;
    let entry = -1;
    if (register) {
      entry = this.locks.register(slot, meta.txnId, Date.now());
      if (entry < 0) {
        this.unpin(slot);
        throw new ReadersFullError(this.options.maxReaders);
      }
    }
    const txn = new ReadTxn(this, slot, meta, entry);
    if (register) this.openReads.add(txn);
    return txn;
  }

  releaseRead(txn: ReadTxn, slot: number, entry: number): void {
    if (entry >= 0) {
      this.locks.unregister(entry);
      this.openReads.delete(txn);
    }
    this.unpin(slot);
  }

  private pin(): number {
    let deadline = 0;
    for (;;) {
      const r = this.locks.tryPin();
      if (r >= 0) {
        this.localPins[r]!++;
        return r;
      }
      if (r === -1) continue;
      // Serial mode: the writer holds the only slot. Wait for it, unless it is this thread.
      const slot = -2 - r;
      if (this.writeTxn !== null || this.locks.writerOwner() === this.locks.tid) {
        throw new WouldDeadlockError('a read transaction cannot start while this thread has a write transaction open and nRoots is 1 (serial mode); read inside the write transaction instead');
      }
      const now = Date.now();
      if (deadline === 0) deadline = now + this.options.writeTimeoutMs;
      if (now >= deadline) throw new ReadTimeoutError(`waited ${this.options.writeTimeoutMs} ms for the writer (thread ${this.locks.writerOwner()}) in serial mode (nRoots = 1)`);
      Atomics.wait(this.locks.i32, this.locks.exclIndex(slot), 1, deadline - now);
    }
  }

  private unpin(slot: number): void {
    this.localPins[slot]!--;
    this.locks.unpin(slot);
  }

  readers(): ReaderInfo[] {
    return this.locks.list();
  }

  /**
   * Safety net for iterators abandoned before their end (never finished, never return()ed): when
   * the iterator is garbage collected its snapshot is released. Ending it explicitly is still
   * the way to free the slot promptly.
   */
  private readonly abandoned = new FinalizationRegistry<ReadTxn>((txn) => {
    if (!this.closed) txn.end();
  });

  track(owner: object, txn: ReadTxn): void {
    this.abandoned.register(owner, txn, txn);
  }

  untrack(txn: ReadTxn): void {
    this.abandoned.unregister(txn);
  }

  // ---------------------------------------------------------------- the writer

  /** Begins the write transaction synchronously, waiting up to writeTimeoutMs; never deadlocks silently. */
  beginWriteSync(): WriteTxn {
    this.checkWritable();
    if (this.writeTxn !== null || this.locks.writerOwner() === this.locks.tid) {
      throw new WouldDeadlockError('this thread already has a write transaction open (or an asynchronous one in progress); rotadb allows one writer at a time');
    }
    const start = Date.now();
    const deadline = start + this.options.writeTimeoutMs;
    while (!this.locks.tryLockWriter()) {
      const owner = this.locks.writerOwner();
      const left = deadline - Date.now();
      if (left <= 0) throw new WriteTimeoutError(`waited ${this.options.writeTimeoutMs} ms for the writer lock held by thread ${owner}`);
      if (owner >= 0) Atomics.wait(this.locks.i32, this.locks.writerIndex, owner + 1, left);
    }
    const slot = (this.current.txnId + 1) % this.nRoots;
    this.locks.holdSlot(slot);
    try {
      for (;;) {
        const n = this.locks.readers(slot);
        if (n === 0) break;
        if (this.localPins[slot]! > 0) {
          throw new WouldDeadlockError(`transaction ${this.current.txnId + 1} must write root slot ${slot}, but this thread holds ${this.localPins[slot]} read transaction(s) on it: ${this.describeReaders(slot)}. End them first, or use the async write API, or raise nRoots`);
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new WriteTimeoutError(`transaction ${this.current.txnId + 1} waited ${this.options.writeTimeoutMs} ms for root slot ${slot}; it is pinned by ${n} reader(s): ${this.describeReaders(slot)}`);
        }
        this.locks.setWaitSince(slot, Math.max(1, Math.round((Date.now() - this.openedAt) / 1000)));
        Atomics.wait(this.locks.i32, this.locks.readersIndex(slot), n, left);
      }
    } catch (e) {
      this.locks.setWaitSince(slot, 0);
      this.locks.releaseSlot(slot);
      this.locks.unlockWriter();
      throw e;
    }
    return this.startWrite(slot, Date.now() - start);
  }

  /**
   * Waits without blocking the event loop until this thread can take the writer lock and its slot
   * is free of readers, then begins the write transaction and runs `body` on it in the same tick
   * (no other code of this thread can see the transaction before `body` does). Holds nothing while
   * it waits, so the thread's reads and synchronous writes go on meanwhile. `body` must commit or
   * abort (or hand that duty on, as transaction() does for an async callback).
   */
  async writeAsync<T>(body: (txn: WriteTxn) => T): Promise<T> {
    this.checkWritable();
    const start = Date.now();
    for (;;) {
      const slot = (this.current.txnId + 1) % this.nRoots;
      const n = this.locks.readers(slot);
      if (n > 0) {
        this.locks.setWaitSince(slot, Math.max(1, Math.round((Date.now() - this.openedAt) / 1000)));
        await waitAsync(this.locks.i32, this.locks.readersIndex(slot), n);
        this.checkWritable();
        continue;
      }
      if (this.writeTxn !== null || !this.locks.tryLockWriter()) {
        const owner = Atomics.load(this.locks.i32, this.locks.writerIndex);
        // unlockWriter() notifies; that wakes waitAsync in this thread as well as in others
        if (owner !== 0) await waitAsync(this.locks.i32, this.locks.writerIndex, owner);
        this.checkWritable();
        continue;
      }
      const s = (this.current.txnId + 1) % this.nRoots;
      this.locks.holdSlot(s);
      if (this.locks.readers(s) > 0) {
        this.locks.releaseSlot(s);
        this.locks.unlockWriter();
        continue;
      }
      return body(this.startWrite(s, Date.now() - start));
    }
  }

  private startWrite(slot: number, waited: number): WriteTxn {
    this.locks.setWaitSince(slot, 0);
    this.waitedMs[slot]! += waited;
    // Epoch rule: pages freed by transaction F are reusable once every pinned version is >= F.
    this.freeSpace.promote(this.oldestPinned());
    const txn = new WriteTxn(this, this.current, waited);
    this.writeTxn = txn;
    return txn;
  }

  /** The oldest version any reader (in any thread) pins, or the current one. */
  oldestPinned(): number {
    const cur = this.current.txnId;
    let oldest = cur;
    for (let s = 0; s < this.nRoots; s++) {
      if (this.locks.readers(s) === 0) continue;
      const v = cur - ((cur - this.locks.slotVersionLow(s)) >>> 0) ;
      if (v < oldest) oldest = v;
    }
    return oldest;
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.failed) throw this.failed;
  }

  /** Called by commit step 7. */
  publish(txn: WriteTxn, meta: Meta): void {
    this.current = meta;
    this.metas[meta.slot] = meta;
    this.locks.publish(meta.txnId, meta.slot);
    this.endWrite(txn);
  }

  /** Releases the slot and the writer lock (commit, abort or failure). */
  endWrite(txn: WriteTxn): void {
    if (this.writeTxn === txn) this.writeTxn = null;
    this.locks.releaseSlot(txn.slot);
    this.locks.unlockWriter();
  }

  /** A commit failed during I/O: keep the old version, refuse writes from now on. */
  fail(txn: WriteTxn, cause: unknown): void {
    this.failed = new DatabaseFailedError(`a commit failed (${(cause as Error)?.message ?? cause}); reopen the database to write again`, cause);
    this.metas[txn.slot] = undefined;
    txn.state = 'aborted';
    const free = this.freeSpace.free;
    for (const p of txn.fromFree) free.add(p);
    this.endWrite(txn);
  }

  /** The next page of a space-map chain (for the writer condensing it). */
  spaceMapNext(txn: WriteTxn, pgno: number): number {
    return u32(txn.get(pgno), SPACEMAP_NEXT);
  }

  describeReaders(slot: number): string {
    const now = Date.now();
    const rs = this.locks.list().filter((r) => r.slot === slot);
    const named = rs.map((r) => `thread ${r.threadId} on version ${r.txnId} for ${now - r.startedAt} ms`).join('; ');
    const unnamed = this.locks.readers(slot) - rs.length;
    return named + (unnamed > 0 ? `${named ? '; ' : ''}${unnamed} short read(s) in progress` : '') || 'none';
  }

  close(): void {
    if (this.closed) return;
    if (this.writeTxn) this.writeTxn.abort();
    for (const r of [...this.openReads]) r.end();
    this.closed = true;
    try {
      this.storage.close();
    } finally {
      this.releaseLock();
    }
  }
}

// ---------------------------------------------------------------- open helpers

function validate(o: EnvOptions): void {
  if (o.pageSize !== undefined && !isValidPageSize(o.pageSize)) {
    throw new InvalidOptionError(`pageSize must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}, not ${o.pageSize}`);
  }
  if (o.nRoots !== undefined && (!Number.isInteger(o.nRoots) || o.nRoots < 1 || o.nRoots > MAX_ROOTS)) {
    throw new InvalidOptionError(`nRoots must be an integer from 1 to ${MAX_ROOTS}, not ${o.nRoots}`);
  }
  const positive = (name: keyof EnvOptions, min: number) => {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !(v >= min))) throw new InvalidOptionError(`${name} must be a number >= ${min}, not ${String(v)}`);
  };
  positive('cacheSize', 0);
  positive('writeTimeoutMs', 0);
  positive('maxReaders', 1);
  if (o.path !== undefined && typeof o.path !== 'string') throw new InvalidOptionError('path must be a string');
}

/** The bytes of a new, empty database: slot 0 holds version 0; the other slots are empty. */
function initialImage(o: EnvOptions): Uint8Array {
  const pageSize = o.pageSize ?? DEFAULT_PAGE_SIZE;
  const nRoots = o.nRoots ?? DEFAULT_ROOTS;
  const img = new Uint8Array(pageSize * nRoots);
  img.set(encodeMeta({
    txnId: 0, slot: 0, pageSize, nRoots, highWater: nRoots, spaceMapHead: 0, spaceMapPages: 0,
    spaceMapSnapshot: 0, freePages: 0, main: emptyTree(), catalog: emptyTree(),
  }), 0);
  return img;
}

/** Creates the file atomically: written and synced under a temporary name, then renamed. */
function createFile(path: string, o: EnvOptions): void {
  const tmp = `${path}.${process.pid}.creating`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, initialImage(o), 0);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  try {
    const dfd = fs.openSync(pathMod.dirname(path), 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* directory fsync is not supported everywhere; the rename is still atomic */ }
}

/**
 * Finds the current version: the valid root slot with the highest transaction id. Learns the page
 * size and nRoots from the first valid slot it can find, trying each legal page size.
 */
function readCurrentVersion(storage: Storage, o: EnvOptions, name: string): Meta {
  const size = storage.size();
  if (size === 0) throw new NotADatabaseError(`${name} is empty: not a rotadb database`);
  if (size < MIN_PAGE_SIZE) throw new NotADatabaseError(`${name} is ${size} bytes: too short for a rotadb database`);
  let layout: { pageSize: number; nRoots: number } | undefined;
  let newer: number | undefined;
  const head = new Uint8Array(16);
  storage.read(head, 0);
  const sizes = [u32(head, SLOT_MAGIC) === MAGIC ? u32(head, SLOT_PAGE_SIZE) : 0, ...pageSizes()].filter(isValidPageSize);
  outer: for (const ps of sizes) {
    for (let s = 0; s < MAX_ROOTS && (s + 1) * ps <= size; s++) {
      const v = readSlot(storage, ps, s);
      if (v.ok) { layout = { pageSize: ps, nRoots: v.meta.nRoots }; break outer; }
      if (v.reason === 'format') newer = v.format;
      if (s === 0 && v.reason === 'empty' && ps === sizes[0]) continue;
    }
  }
  if (!layout) {
    if (newer !== undefined) throw new FormatVersionError(`${name} has format version ${newer}; this rotadb reads version ${FORMAT_VERSION}`);
    throw new NotADatabaseError(`${name} is not a rotadb database (no valid root slot)`);
  }
  if (o.pageSize !== undefined && o.pageSize !== layout.pageSize) {
    throw new InvalidOptionError(`${name} has page size ${layout.pageSize}, the options ask for ${o.pageSize}`);
  }
  if (o.nRoots !== undefined && o.nRoots !== layout.nRoots) {
    throw new InvalidOptionError(`${name} has nRoots ${layout.nRoots}, the options ask for ${o.nRoots}`);
  }
  let best: Meta | undefined;
  for (let s = 0; s < layout.nRoots; s++) {
    if ((s + 1) * layout.pageSize > size) break;
    const v = readSlot(storage, layout.pageSize, s);
    if (v.ok) {
      if (v.meta.nRoots !== layout.nRoots) continue;
      if (!best || v.meta.txnId > best.txnId) best = v.meta;
    } else if (v.reason === 'format') {
      throw new FormatVersionError(`${name} has format version ${v.format} in root slot ${s}; this rotadb reads version ${FORMAT_VERSION}`);
    }
  }
  if (!best) throw new NotADatabaseError(`${name} is not a rotadb database (no valid root slot)`);
  if (best.highWater * best.pageSize > size) {
    throw new CorruptionError(`${name} is truncated: version ${best.txnId} needs ${best.highWater * best.pageSize} bytes, the file has ${size}`);
  }
  return best;
}

function pageSizes(): number[] {
  const out: number[] = [];
  for (let ps = MIN_PAGE_SIZE; ps <= MAX_PAGE_SIZE; ps *= 2) out.push(ps);
  return out;
}

function readSlot(storage: Storage, pageSize: number, s: number) {
  const b = new Uint8Array(pageSize);
  const n = storage.read(b, s * pageSize);
  if (n < pageSize) return { ok: false as const, reason: 'layout' as const };
  return decodeMeta(b, s);
}

// ---------------------------------------------------------------- lock file (one process per file)

function lockFile(path: string): () => void {
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
    if (pid === process.pid) throw new AlreadyOpenError(path);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new DatabaseLockedError(path, pid);
    if (attempt >= 2) throw new DatabaseLockedError(path, pid);
    // The owner died without unlinking (a crash): the lock is stale; take it over.
    try { fs.unlinkSync(lockPath); } catch { /* someone else took it over first */ }
  }
}

function lockError(path: string, e: unknown): RotaError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new NotADatabaseError(`${path}: the directory does not exist`);
  return new RotaError('ROTA_IO', `cannot create the lock file ${path}-lock: ${(e as Error).message}`, { cause: e });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function waitAsync(i32: Int32Array, index: number, value: number): Promise<unknown> {
  const r = Atomics.waitAsync(i32, index, value);
  return r.async ? r.value : Promise.resolve(r.value);
}

