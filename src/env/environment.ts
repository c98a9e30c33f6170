/**
 * The environment: one open database file in one thread. It owns the storage, the pager and its
 * cache, and this thread's view of the versions; it shares the lock table (and through it the
 * writer mutex, the published version, the reader table and the reuse log) with every other
 * thread that has the file open. It hands out read and write transactions; the public API
 * (database.ts) is a thin layer over it.
 */
import * as fs from 'node:fs';
import * as pathMod from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { Storage } from '../storage/storage.js';
import { FileStorage } from '../storage/file.js';
import { Pager } from '../pages/pager.js';
import { decodeMeta, encodeMeta, type Meta } from '../pages/meta.js';
import {
  DEFAULT_PAGE_SIZE, DEFAULT_ROOTS, FORMAT_VERSION, MAX_PAGE_SIZE, MAX_ROOTS, MIN_PAGE_SIZE, SLOT_MAGIC,
  SLOT_PAGE_SIZE, SPACEMAP_NEXT, isValidPageSize, MAGIC,
} from '../pages/layout.js';
import { u32 } from '../pages/bytes.js';
import { FreeSpace, replaySpaceMap } from '../pages/spacemap.js';
import { FreeSet } from '../pages/freeset.js';
import { emptyTree } from '../btree/store.js';
import { KIND_THREAD, KIND_TXN, LockTable, MAX_THREADS, fullTxn, type ReaderInfo } from '../sync/locks.js';
import { ReadTxn } from '../txn/read.js';
import { WriteTxn } from '../txn/write.js';
import {
  AlreadyOpenError, CorruptionError, DatabaseClosedError, DatabaseFailedError, DatabaseLockedError,
  FormatVersionError, InvalidOptionError, NotADatabaseError, ReadersFullError, ReadTimeoutError,
  RotaError, WouldDeadlockError, WriteTimeoutError,
} from '../errors.js';

export interface EnvOptions {
  /** Path of the database file. Either this, `storage`, or a handle from db.handle(). */
  path?: string;
  /** A Storage backend to use instead of a file (tests, in-memory databases). Single-threaded. */
  storage?: Storage;
  /** Page size for a new file (1024 to 65536, a power of two). Checked against an existing file. */
  pageSize?: number;
  /** Root slots for a new file (1 to 255). Checked against an existing file. */
  nRoots?: number;
  /** Bytes of page cache in this thread (default 256 MiB). */
  cacheSize?: number;
  /** Skip fdatasync at commit: a crash of the machine may lose recent commits (see README). */
  noSync?: boolean;
  /** How long a synchronous writer waits for readers that pin its slot (default 10 s). */
  writeTimeoutMs?: number;
  /** Reader table entries, shared by all threads: one per open read transaction or range iterator (default 126). */
  maxReaders?: number;
  /**
   * Off by default. When a writer waits for a slot pinned by a reader older than this, the reader
   * is expired: its pin is dropped, and its next read throws ReaderExpiredError.
   */
  maxReaderAgeMs?: number;
}

/** What a worker thread needs to join an open database: pass it in workerData or postMessage. */
export interface DatabaseHandle {
  readonly rotadbHandle: 1;
  readonly path: string;
  readonly sab: SharedArrayBuffer;
  readonly pageSize: number;
  readonly nRoots: number;
  readonly maxReaders: number;
}

export function isHandle(x: unknown): x is DatabaseHandle {
  return typeof x === 'object' && x !== null && (x as { rotadbHandle?: unknown }).rotadbHandle === 1;
}

export const DEFAULT_CACHE_SIZE = 256 * 1024 * 1024;
/** How long a sync writer leaves a free writer mutex to another thread's waiting async writer. */
const ASYNC_GRACE_MS = 2;
/** Files open in this thread (module state is per thread). */
const openPaths = new Set<string>();

export class Environment {
  readonly storage: Storage;
  readonly pager: Pager;
  readonly locks: LockTable;
  readonly pageSize: number;
  readonly nRoots: number;
  readonly path: string | undefined;
  readonly options: Required<Pick<EnvOptions, 'noSync' | 'writeTimeoutMs' | 'maxReaders' | 'cacheSize' | 'maxReaderAgeMs'>>;
  /** The version held by each slot as this thread last read it (index = slot). */
  readonly metas: (Meta | undefined)[];
  /** The writer's free pages, valid for version `freeSpaceTxn` only (another thread may commit). */
  freeSpace: FreeSpace;
  private freeSpaceTxn: number;
  /** The version found at open: pages it freed stay pending while the lock table's hold is on. */
  private readonly openedVersion: number;
  /** The open write transaction of this thread, if any. */
  writeTxn: WriteTxn | null = null;
  /** Read pins this thread holds, per slot (to tell a deadlock from a wait). */
  readonly localPins: Int32Array;
  failed: DatabaseFailedError | null = null;
  closed = false;
  private readonly releaseLock: () => void;
  /** This thread's reader-table entry for short reads (get, doesExist, stats). */
  private readonly shortEntry: number;
  private shortActive = false;
  /** How far this thread has applied the reuse log to its cache. */
  private logCursor: number;
  private lastSeq: number;
  /** Registered read transactions of this thread, ended by close(). */
  private readonly openReads = new Set<ReadTxn>();
  private readonly onExit = (): void => this.close();

  static open(opts: EnvOptions): Environment {
    validate(opts);
    if (opts.storage) {
      const meta = prepareStorage(opts.storage, opts, 'storage');
      return new Environment(opts, opts.storage, meta, undefined, undefined, () => {});
    }
    if (!opts.path) throw new InvalidOptionError('open() needs a path, a storage, or a handle from db.handle()');
    const path = pathMod.resolve(opts.path);
    if (openPaths.has(path)) throw new AlreadyOpenError(path, 'in this thread; reuse the database object that open() returned');
    const release = lockFile(path);
    let storage: Storage | undefined;
    try {
      if (!fs.existsSync(path)) createFile(path, opts);
      storage = FileStorage.open(path, { create: false });
      const meta = prepareStorage(storage, opts, path);
      return new Environment(opts, storage, meta, path, undefined, release);
    } catch (e) {
      storage?.close();
      release();
      throw e;
    }
  }

  /** Joins a database that another thread of this process has open. */
  static join(handle: DatabaseHandle, opts: EnvOptions): Environment {
    validate(opts);
    if (openPaths.has(handle.path)) throw new AlreadyOpenError(handle.path, 'in this thread; reuse the database object that open() returned');
    const locks = new LockTable({ nRoots: handle.nRoots, maxReaders: handle.maxReaders }, handle.sab);
    if (locks.addOpener() <= 1) {
      locks.removeOpener();
      throw new DatabaseClosedError();
    }
    let storage: Storage | undefined;
    try {
      storage = FileStorage.open(handle.path, { create: false });
      const meta = readSlotMeta(storage, handle.pageSize, locks.publishedSlot(), handle.path);
      return new Environment({ ...opts, pageSize: handle.pageSize, nRoots: handle.nRoots, maxReaders: handle.maxReaders }, storage, meta, handle.path, locks, () => {});
    } catch (e) {
      storage?.close();
      if (locks.removeOpener() === 0) releaseLockFileOf(handle.path);
      throw e;
    }
  }

  private constructor(opts: EnvOptions, storage: Storage, meta: Meta, path: string | undefined, joined: LockTable | undefined, releaseLock: () => void) {
    this.storage = storage;
    this.path = path;
    this.releaseLock = releaseLock;
    this.pageSize = meta.pageSize;
    this.nRoots = meta.nRoots;
    this.options = {
      noSync: opts.noSync ?? false,
      writeTimeoutMs: opts.writeTimeoutMs ?? 10_000,
      maxReaders: opts.maxReaders ?? 126,
      cacheSize: opts.cacheSize ?? DEFAULT_CACHE_SIZE,
      maxReaderAgeMs: opts.maxReaderAgeMs ?? 0,
    };
    this.pager = new Pager(storage, meta.pageSize, this.options.cacheSize);
    this.metas = new Array(meta.nRoots);
    this.metas[meta.slot] = meta;
    this.localPins = new Int32Array(meta.nRoots);
    if (joined) {
      this.locks = joined;
    } else {
      this.locks = new LockTable({ nRoots: meta.nRoots, maxReaders: this.options.maxReaders });
      this.locks.addOpener();
      this.locks.publish(meta.txnId, meta.slot);
      this.locks.setHold(!this.options.noSync); // with noSync no commit is ever known durable
    }
    this.openedVersion = meta.txnId;
    this.logCursor = this.locks.logHead;
    this.lastSeq = this.locks.publishedSeq();
    const shortEntry = this.locks.claim(KIND_THREAD, Date.now());
    if (shortEntry < 0) {
      if (this.locks.removeOpener() === 0) this.releaseLock();
      storage.close();
      throw new RotaError('ROTA_TOO_MANY_THREADS', `at most ${MAX_THREADS} threads can have one database open at once`);
    }
    this.shortEntry = shortEntry;
    if (joined) {
      // Another thread may be committing right now, and nothing pins `meta`: its space-map pages
      // may be reused under us. The first write of this thread loads the free state under the
      // writer lock instead (startWrite).
      this.freeSpace = new FreeSpace(new FreeSet());
      this.freeSpaceTxn = -1;
    } else {
      // Pages the newest version freed come back pending: they hold the version before it, which
      // is the last one known durable until this process makes a commit of its own durable.
      const sm = replaySpaceMap((p) => this.pager.read(p), meta.spaceMapHead, meta.spaceMapPages, meta.txnId);
      this.freeSpace = new FreeSpace(sm.free, sm.pending);
      this.freeSpaceTxn = meta.txnId;
    }
    if (path) openPaths.add(path);
    // A worker that ends normally releases its pins; one that is terminated runs no handlers
    // (see releaseThread and maxReaderAgeMs).
    if (!isMainThread) process.once('exit', this.onExit);
  }

  /** Whether this thread's free state describes version `txnId` (it committed it, or loaded it). */
  freeSpaceIsFor(txnId: number): boolean {
    return this.freeSpaceTxn === txnId;
  }

  /** The handle a worker thread passes to open() to share this database. */
  handle(): DatabaseHandle {
    this.checkOpen();
    if (!this.path) throw new InvalidOptionError('only a database opened from a file path can be shared with other threads');
    return { rotadbHandle: 1, path: this.path, sab: this.locks.sab, pageSize: this.pageSize, nRoots: this.nRoots, maxReaders: this.locks.maxReaders };
  }

  checkOpen(): void {
    if (this.closed) throw new DatabaseClosedError();
  }

  // ---------------------------------------------------------------- versions

  /** The version in `slot`, reading the root slot from storage when another thread wrote it. */
  metaOf(slot: number): Meta {
    const low = this.locks.slotVersionLow(slot);
    const m = this.metas[slot];
    if (m !== undefined && (m.txnId | 0) === low) return m;
    const fresh = readSlotMeta(this.storage, this.pageSize, slot, this.path ?? 'storage');
    this.metas[slot] = fresh;
    return fresh;
  }

  /** The current (published) version. */
  get current(): Meta {
    return this.metaOf(this.locks.publishedSlot());
  }

  /**
   * Drops from this thread's cache every page another thread's commit reused, up to what is
   * published now. Must run before reading pages of a version newer than the last one seen.
   */
  private catchUp(): void {
    const seq = this.locks.publishedSeq();
    if (seq === this.lastSeq) return;
    const cache = this.pager.cache;
    this.logCursor = this.locks.readLog(this.logCursor, (p) => cache.delete(p), () => cache.clear());
    this.lastSeq = seq;
  }

  // ---------------------------------------------------------------- readers

  /**
   * Pins the current version. `register`: a read transaction or iterator with its own reader
   * table entry, checked for expiry on every page read. Otherwise a short read through this
   * thread's entry, validated once when it ends (ReadTxn.end throws if it was expired).
   */
  beginRead(register: boolean): ReadTxn {
    this.checkOpen();
    const short = !register && !this.shortActive;
    let entry = this.shortEntry;
    if (short) {
      this.locks.bumpSeq(entry);
      this.shortActive = true;
    } else {
      entry = this.locks.claim(KIND_TXN, Date.now());
      if (entry < 0) throw new ReadersFullError(this.options.maxReaders);
    }
    let slot: number;
    try {
      slot = this.pin(entry);
    } catch (e) {
      if (short) this.shortActive = false;
      else this.locks.unclaim(entry);
      throw e;
    }
    const meta = this.metaOf(slot);
    if (!short) this.locks.setTxn(entry, meta.txnId);
    const txn = new ReadTxn(this, slot, meta, entry, !short);
    if (!short) this.openReads.add(txn);
    return txn;
  }

  /** Ends a read: false when a writer had expired it (so what it read cannot be trusted). */
  releaseRead(txn: ReadTxn, slot: number, entry: number, registered: boolean): boolean {
    this.localPins[slot]!--;
    const ok = this.locks.release(entry);
    if (registered) {
      this.locks.unclaim(entry);
      this.openReads.delete(txn);
    } else {
      this.shortActive = false;
    }
    return ok;
  }

  readerExpired(entry: number): boolean {
    return this.locks.isExpired(entry);
  }

  private pin(entry: number): number {
    let deadline = 0;
    for (;;) {
      const r = this.locks.tryPin(entry);
      if (r >= 0) {
        this.localPins[r]!++;
        this.catchUp();
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
      Atomics.wait(this.locks.i32, this.locks.exclIndex(slot), 1, Math.min(deadline - now, 50));
    }
  }

  readers(): ReaderInfo[] {
    return this.locks.list();
  }

  /**
   * Releases every pin and reader entry of thread `threadId`: call it from a Worker's 'exit'
   * event, since a terminated worker cannot release its own.
   */
  releaseThread(threadId: number): void {
    if (threadId === this.locks.tid) throw new InvalidOptionError('releaseThread() is for other threads; close() releases this one');
    if (!Number.isInteger(threadId) || threadId < 0) throw new InvalidOptionError(`releaseThread() needs a thread id; a Worker's threadId is -1 once it has exited, so keep it from when it started`);
    // The thread had joined if it owns a short-read entry: it then also counts as an opener.
    if (this.locks.releaseThread(threadId)) this.locks.removeOpener();
  }

  /**
   * Safety net for iterators abandoned before their end (never finished, never return()ed): when
   * the iterator is garbage collected its snapshot is released. Ending it explicitly is still
   * the way to free the slot promptly.
   */
  private readonly abandoned = new FinalizationRegistry<ReadTxn>((txn) => {
    if (!this.closed) txn.end(false);
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
    // Fairness: a sync waiter in another thread wakes the moment the mutex is released, an async
    // one only when its event loop runs, so it would nearly always lose. Leave it a moment.
    if (this.locks.otherAsyncWaiting()) Atomics.wait(this.locks.i32, this.locks.writerIndex, 0, ASYNC_GRACE_MS);
    while (!this.locks.tryLockWriter()) {
      const owner = this.locks.writerOwner();
      const left = deadline - Date.now();
      if (left <= 0) throw new WriteTimeoutError(`waited ${this.options.writeTimeoutMs} ms for the writer lock held by thread ${owner}`);
      if (owner >= 0) Atomics.wait(this.locks.i32, this.locks.writerIndex, owner + 1, left);
    }
    const slot = (this.current.txnId + 1) % this.nRoots;
    this.locks.holdSlot(slot);
    let waitStart = 0;
    let seen: Map<number, number> | undefined;
    try {
      for (;;) {
        const n = this.locks.readers(slot);
        if (n === 0) break;
        if (this.localPins[slot]! > 0) {
          throw new WouldDeadlockError(`transaction ${this.current.txnId + 1} must write root slot ${slot}, but this thread holds ${this.localPins[slot]} read transaction(s) on it: ${this.describeReaders(slot)}. End them first, or use the async write API, or raise nRoots`);
        }
        const now = Date.now();
        if (waitStart === 0) {
          waitStart = now;
          seen = this.locks.snapshotShortReads(slot);
          this.locks.setWaiting(slot, true);
        }
        if (this.expireOld(slot, now - waitStart, seen!)) continue;
        const left = deadline - now;
        if (left <= 0) {
          throw new WriteTimeoutError(`transaction ${this.current.txnId + 1} waited ${this.options.writeTimeoutMs} ms for root slot ${slot}; it is pinned by ${n} reader(s): ${this.describeReaders(slot)}`);
        }
        const max = this.options.maxReaderAgeMs;
        Atomics.wait(this.locks.i32, this.locks.readersIndex(slot), n, max > 0 ? Math.min(left, Math.max(1, max - (now - waitStart))) : left);
      }
    } catch (e) {
      this.locks.setWaiting(slot, false);
      if (waitStart) this.locks.addWaited(slot, Date.now() - waitStart);
      this.locks.releaseSlot(slot);
      this.locks.unlockWriter();
      throw e;
    }
    return this.startWrite(slot, waitStart ? Date.now() - waitStart : 0);
  }

  /**
   * With maxReaderAgeMs set and a writer `waited` ms on `slot`: expires the readers that are at
   * least that old. Returns whether it expired any.
   */
  private expireOld(slot: number, waited: number, seen: Map<number, number>): boolean {
    const max = this.options.maxReaderAgeMs;
    if (max <= 0) return false;
    // Short reads are judged by having stayed the same pin for the whole wait.
    const shortSeen = waited >= max ? seen : new Map<number, number>();
    return this.locks.expire(slot, max, Date.now(), shortSeen).length > 0;
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
    let waitStart = 0;
    let waitSlot = -1;
    let seen = new Map<number, number>();
    try {
      for (;;) {
        const slot = (this.current.txnId + 1) % this.nRoots;
        const n = this.locks.readers(slot);
        if (n > 0) {
          const now = Date.now();
          if (slot !== waitSlot) {
            if (waitSlot >= 0) this.locks.setWaiting(waitSlot, false);
            waitSlot = slot;
            waitStart = now;
            seen = this.locks.snapshotShortReads(slot);
            this.locks.setWaiting(slot, true);
          }
          if (this.expireOld(slot, now - waitStart, seen)) continue;
          const max = this.options.maxReaderAgeMs;
          await waitAsync(this.locks.i32, this.locks.readersIndex(slot), n, max > 0 ? Math.max(1, max - (now - waitStart)) : undefined);
          this.checkWritable();
          continue;
        }
        if (this.writeTxn !== null || !this.locks.tryLockWriter()) {
          const owner = Atomics.load(this.locks.i32, this.locks.writerIndex);
          // unlockWriter() notifies; that wakes waitAsync in this thread as well as in others
          this.locks.setAsyncWaiting(this.shortEntry, true);
          if (owner !== 0) await waitAsync(this.locks.i32, this.locks.writerIndex, owner);
          this.checkWritable();
          continue;
        }
        this.locks.setAsyncWaiting(this.shortEntry, false);
        const s = (this.current.txnId + 1) % this.nRoots;
        this.locks.holdSlot(s);
        if (this.locks.readers(s) > 0) {
          this.locks.releaseSlot(s);
          this.locks.unlockWriter();
          continue;
        }
        return body(this.startWrite(s, Date.now() - start));
      }
    } finally {
      if (!this.closed) this.locks.setAsyncWaiting(this.shortEntry, false);
      if (waitSlot >= 0) {
        this.locks.setWaiting(waitSlot, false);
        this.locks.addWaited(waitSlot, Date.now() - waitStart);
      }
    }
  }

  /** Begins the write transaction once the mutex and `slot` are held; releases both if it fails. */
  private startWrite(slot: number, waited: number): WriteTxn {
    this.locks.setWaiting(slot, false);
    if (waited > 0) this.locks.addWaited(slot, waited);
    const base = this.current;
    this.catchUp();
    if (this.freeSpaceTxn !== base.txnId) {
      // Another thread committed since this thread last wrote: its free state is on disk.
      try {
        this.freeSpace = loadFreeSpace(this, base);
      } catch (e) {
        this.locks.releaseSlot(slot);
        this.locks.unlockWriter();
        throw e;
      }
      this.freeSpaceTxn = base.txnId;
    }
    // Epoch rule: a freed page is reusable once no pinned version can reach it. Until a commit
    // of this process is durable, the version found at open may not be on disk yet (its root
    // slot may live only in the OS cache, or its fsync may have failed before a reopen): the
    // version before it counts as pinned, so the pages the opened version freed stay untouched.
    const pinned = this.pinnedVersions(base.txnId);
    if (this.locks.holding()) pinned.push(this.openedVersion - 1);
    this.freeSpace.promote(pinned);
    const txn = new WriteTxn(this, base, waited);
    this.writeTxn = txn;
    return txn;
  }

  /** The versions readers (in any thread) pin now; `cur` resolves the 32-bit slot versions. */
  pinnedVersions(cur: number): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.nRoots; s++) {
      if (this.locks.readers(s) > 0) out.push(fullTxn(cur, this.locks.slotVersionLow(s)));
    }
    return out;
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.failed) throw this.failed;
  }

  /** Called by commit step 7, after the root slot is durable. */
  publish(txn: WriteTxn, meta: Meta, reused: number[]): void {
    if (!this.options.noSync) this.locks.setHold(false); // a version of ours is durable now
    this.metas[meta.slot] = meta;
    this.freeSpaceTxn = meta.txnId;
    // Other threads' caches may hold the old contents of reused pages: log them before publishing.
    this.catchUp();
    this.locks.appendLog(reused);
    this.logCursor = this.locks.logHead;
    this.locks.publish(meta.txnId, meta.slot);
    this.lastSeq = this.locks.publishedSeq();
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
    // metas stay: the slot's published version is unchanged, and metaOf() re-reads a slot only
    // when the lock table says another version was published there.
    txn.state = 'aborted';
    this.restoreFree(txn);
    this.endWrite(txn);
  }

  /** Gives back to the free set what an aborted or failed transaction took from it. */
  restoreFree(txn: WriteTxn): void {
    const free = this.freeSpace.free;
    for (const p of txn.fromFree) free.add(p);
    for (const p of txn.trimmed) if (!free.has(p)) free.add(p);
  }

  /** The next page of a space-map chain (for the writer condensing it). */
  spaceMapNext(txn: WriteTxn, pgno: number): number {
    return u32(txn.get(pgno), SPACEMAP_NEXT);
  }

  describeReaders(slot: number): string {
    const now = Date.now();
    const rs = this.locks.list().filter((r) => r.slot === slot && r.state === 'active');
    const named = rs.map((r) => r.kind === 'transaction'
      ? `thread ${r.threadId} on version ${r.txnId} for ${now - r.startedAt} ms`
      : `a short read in thread ${r.threadId}`).join('; ');
    const unnamed = this.locks.readers(slot) - rs.length;
    return named + (unnamed > 0 ? `${named ? '; ' : ''}${unnamed} more` : '') || 'none';
  }

  close(): void {
    if (this.closed) return;
    if (this.writeTxn) this.writeTxn.abort();
    for (const r of [...this.openReads]) r.end(false);
    this.closed = true;
    process.removeListener('exit', this.onExit);
    this.locks.releaseThread(this.locks.tid);
    if (this.path) openPaths.delete(this.path);
    try {
      this.storage.close();
    } finally {
      if (this.locks.removeOpener() === 0) this.releaseLock();
    }
  }
}

/** Rebuilds the writer's free state from the space map of `meta` (another thread wrote last). */
function loadFreeSpace(env: Environment, meta: Meta): FreeSpace {
  const { free, pending } = replaySpaceMap((p) => env.pager.read(p), meta.spaceMapHead, meta.spaceMapPages, meta.txnId - env.nRoots + 1);
  const fs = new FreeSpace(free, pending);
  return fs;
}

/** Reads and validates root slot `slot` (another thread published it, or it is being joined). */
function readSlotMeta(storage: Storage, pageSize: number, slot: number, name: string): Meta {
  const v = readSlot(storage, pageSize, slot);
  if (!v.ok) throw new CorruptionError(`${name}: root slot ${slot} of the published version is not valid (${v.reason})`, slot);
  return v.meta;
}

/** A new storage gets the initial image; then the current version is found. */
function prepareStorage(storage: Storage, opts: EnvOptions, name: string): Meta {
  if (storage.size() === 0 && opts.storage) {
    storage.write(initialImage(opts), 0);
    storage.sync();
  }
  const meta = readCurrentVersion(storage, opts, name);
  // After a crash of the process the newest root slot may still be only in the OS cache: make
  // what we are about to build on durable. (Not enough after a failed fsync: see the hold.)
  storage.sync();
  return meta;
}

/** Removes the lock file of `path` if it names this process (the last thread closed it). */
function releaseLockFileOf(path: string): void {
  try {
    if (parseInt(fs.readFileSync(`${path}-lock`, 'utf8'), 10) === process.pid) fs.unlinkSync(`${path}-lock`);
  } catch { /* already gone */ }
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
    if (pid === process.pid) throw new AlreadyOpenError(path, 'in another thread of this process; pass db.handle() to the worker (workerData or postMessage) and open(handle) there');
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

function waitAsync(i32: Int32Array, index: number, value: number, timeoutMs?: number): Promise<unknown> {
  const r = Atomics.waitAsync(i32, index, value, timeoutMs);
  return r.async ? r.value : Promise.resolve(r.value);
}

