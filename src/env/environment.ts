/**
 * The environment: one open database file in one thread. It owns the storage, the pager and its
 * cache, and this thread's view of the versions; it shares the lock table (and through it the
 * writer mutex, the published version, the reader table and the reuse log) with every other
 * thread that has the file open. It hands out read and write transactions, and implements the
 * host interfaces that txn/ declares.
 *
 * The protocols live beside the lock table (sync/readers.ts, sync/writer.ts); the writer's free
 * pages in txn/free-state.ts; opening in options.ts, create.ts, root-slots.ts and lockfile.ts.
 */
import * as fs from 'node:fs';
import * as pathMod from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { Storage } from '../storage/storage.js';
import { FileStorage } from '../storage/file.js';
import { Pager } from '../pages/pager.js';
import type { Meta } from '../pages/meta.js';
import { LockTable, fullTxn, type ReaderInfo } from '../sync/locks.js';
import { ReaderPins, type Pin } from '../sync/readers.js';
import { WriterLock, type SlotPolicy } from '../sync/writer.js';
import { FreeState } from '../txn/free-state.js';
import { ReadTxn, type ReadHost } from '../txn/read.js';
import { WriteTxn, type WriteHost } from '../txn/write.js';
import { commit, commitAsync, finishCommit, type PreparedCommit } from '../txn/commit.js';
import { AlreadyOpenError, DatabaseClosedError, DatabaseFailedError, InvalidOptionError } from '../errors.js';
import { DEFAULT_WRITE_TIMEOUT_MS, runOptions, validateOptions, type EnvOptions, type RunOptions } from './options.js';
import { createFile, prepareStorage } from './create.js';
import { readSlotMeta } from './root-slots.js';
import { lockFile, releaseLockFileOf } from './lockfile.js';
import { openShared } from './shared-open.js';
import { LockDir } from '../procs/lock-dir.js';
import { ProcessPins } from '../procs/process-pins.js';
import { ProcessWriter } from '../procs/process-writer.js';
import { canShareAcrossProcesses, liveness } from '../procs/identity.js';
import { leave } from '../procs/leave.js';
import { dieBeforePublish } from '../procs/test-hooks.js';

export type { EnvOptions } from './options.js';
export { DEFAULT_CACHE_SIZE } from './options.js';

/** What a worker thread needs to join an open database: pass it in workerData or postMessage. */
export interface DatabaseHandle {
  readonly rotadbHandle: 1;
  readonly path: string;
  readonly sab: SharedArrayBuffer;
  readonly pageSize: number;
  readonly nRoots: number;
  readonly maxReaders: number;
  /** The opener's policy: the default of a joining thread, so that every writer of the file follows it unless told otherwise. */
  readonly slotPolicy: SlotPolicy;
  /** The file is shared with other processes through its lock directory (procs/). */
  readonly shared: boolean;
}

export function isHandle(x: unknown): x is DatabaseHandle {
  return typeof x === 'object' && x !== null && (x as { rotadbHandle?: unknown }).rotadbHandle === 1;
}

/** Files open in this thread (module state is per thread). */
const openPaths = new Set<string>();

export class Environment implements ReadHost, WriteHost {
  readonly storage: Storage;
  readonly pager: Pager;
  readonly locks: LockTable;
  readonly pageSize: number;
  readonly nRoots: number;
  readonly path: string | undefined;
  readonly options: RunOptions;
  /** The version held by each slot as this thread last read it (index = slot). */
  readonly metas: (Meta | undefined)[];
  /** The writer's free pages (valid for one version; reloaded when another thread wrote). */
  readonly free: FreeState;
  /** The version found at open: pages it freed stay pending while the lock table's hold is on. */
  private readonly openedVersion: number;
  /** The write transaction this thread began, until it ends (also while it commits). */
  private openWrite: WriteTxn | null = null;
  /** This thread's asynchronous commit whose writes are in flight (txn/commit.ts), if any. */
  inFlight: PreparedCommit | null = null;
  /** The write queue's batch being applied across event-loop turns, if any (api/write-queue.ts). */
  background: { finish(): void } | null = null;
  failed: DatabaseFailedError | null = null;
  closed = false;
  private readonly pins: ReaderPins;
  private readonly writer: WriterLock;
  private readonly releaseLock: () => void;
  /** With other processes: this thread's view of the lock directory, and the two protocols over it. */
  private readonly dir: LockDir | null;
  private readonly procPins: ProcessPins | null = null;
  private readonly procWriter: ProcessWriter | null = null;
  /** How far this thread has applied the reuse log (or, shared with other processes, the reuse ring) to its cache. */
  private logCursor: number;
  private lastSeq: number;
  /** Registered read transactions of this thread, ended by close(). */
  private readonly openReads = new Set<ReadTxn>();
  /** The last short read, renewed while its pin lingers (ReadTxn.renew). */
  private lastShort: ReadTxn | null = null;
  private readonly onExit = (): void => this.close();

  static open(opts: EnvOptions): Environment {
    validateOptions(opts);
    if (opts.storage) {
      const meta = prepareStorage(opts.storage, opts, 'storage');
      return new Environment(opts, opts.storage, meta, undefined, undefined, () => {}, null);
    }
    if (!opts.path) throw new InvalidOptionError('open() needs a path, a storage, or a handle from db.handle()');
    const path = pathMod.resolve(opts.path);
    if (openPaths.has(path)) throw new AlreadyOpenError(path, 'in this thread; reuse the database object that open() returned');
    if (canShareAcrossProcesses()) {
      return openShared(path, opts.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS, () => {
        if (!fs.existsSync(path)) createFile(path, opts);
        const storage = FileStorage.open(path, { create: false });
        try {
          return { storage, meta: prepareStorage(storage, opts, path) };
        } catch (e) {
          storage.close();
          throw e;
        }
      }, (storage, meta, dir) => new Environment(opts, storage, meta, path, undefined, () => {}, dir));
    }
    const release = lockFile(path);
    let storage: Storage | undefined;
    try {
      if (!fs.existsSync(path)) createFile(path, opts);
      storage = FileStorage.open(path, { create: false });
      const meta = prepareStorage(storage, opts, path);
      return new Environment(opts, storage, meta, path, undefined, release, null);
    } catch (e) {
      storage?.close();
      release();
      throw e;
    }
  }

  /** Joins a database that another thread of this process has open. */
  static join(handle: DatabaseHandle, opts: EnvOptions): Environment {
    validateOptions(opts);
    if (openPaths.has(handle.path)) throw new AlreadyOpenError(handle.path, 'in this thread; reuse the database object that open() returned');
    const locks = new LockTable({ nRoots: handle.nRoots, maxReaders: handle.maxReaders }, handle.sab);
    if (locks.addOpener() <= 1) {
      locks.removeOpener();
      throw new DatabaseClosedError();
    }
    let storage: Storage | undefined;
    let dir: LockDir | null = null;
    try {
      if (handle.shared) dir = new LockDir(handle.path, locks, false);
      storage = FileStorage.open(handle.path, { create: false });
      const meta = readSlotMeta(storage, handle.pageSize, locks.publishedSlot(), handle.path);
      return new Environment({ ...opts, slotPolicy: opts.slotPolicy ?? handle.slotPolicy, pageSize: handle.pageSize, nRoots: handle.nRoots, maxReaders: handle.maxReaders }, storage, meta, handle.path, locks, () => {}, dir);
    } catch (e) {
      storage?.close();
      const last = locks.removeOpener() === 0;
      if (dir !== null) leave(dir, last);
      else if (last) releaseLockFileOf(handle.path);
      throw e;
    }
  }

  private constructor(opts: EnvOptions, storage: Storage, meta: Meta, path: string | undefined, joined: LockTable | undefined, releaseLock: () => void, dir: LockDir | null) {
    this.storage = storage;
    this.path = path;
    this.releaseLock = releaseLock;
    this.dir = dir;
    this.pageSize = meta.pageSize;
    this.nRoots = meta.nRoots;
    this.options = runOptions(opts, meta.nRoots);
    this.pager = new Pager(storage, meta.pageSize, this.options.cacheSize);
    this.metas = new Array(meta.nRoots);
    this.metas[meta.slot] = meta;
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
    if (dir !== null) {
      dir.state = this.locks;
      this.procPins = new ProcessPins(this.locks, dir);
      this.procWriter = new ProcessWriter(this.locks, dir, this.procPins, (published) => this.reloadSlots(published));
      this.logCursor = dir.commit.read()?.ringHead ?? 0;
    }
    try {
      this.pins = new ReaderPins(this.locks, this.options.writeTimeoutMs, this.procPins);
    } catch (e) {
      storage.close();
      this.leaveFile();
      throw e;
    }
    this.writer = new WriterLock(this.locks, this.pins, this.options, () => this.current.txnId + 1, this.procWriter);
    // A joining thread must not read the space map now: another thread may be committing, and
    // nothing pins `meta`. Its first write loads the free state under the writer lock. So does the
    // first thread of a process on a shared file, which still replays it here (open checks the
    // space map): that state counts every page freed before `meta` as reusable, but readers of
    // other processes may pin older versions that reach them; the first write's reload keeps
    // those pending (FreeState.prepare, pinned versions).
    this.free = joined ? FreeState.unloaded(this.pager) : FreeState.replayed(meta, this.pager);
    if (dir !== null && !joined) this.free.forget();
    if (path) openPaths.add(path);
    // A worker that ends normally releases its pins; one that is terminated runs no handlers
    // (see releaseThread and maxReaderAgeMs).
    if (!isMainThread) process.once('exit', this.onExit);
  }

  /**
   * The open write transaction of this thread, if any: reads and writes of this thread go into it.
   * Not one that is committing: its version is visible only once durable.
   */
  get writeTxn(): WriteTxn | null {
    const t = this.openWrite;
    return t !== null && t.state === 'active' && !t.background ? t : null;
  }

  /**
   * Finishes, synchronously, what this thread's write queue holds the writer lock for: a batch
   * still being applied (it is applied and committed now), then a commit in flight (finishCommit).
   */
  private finishInFlight(): void {
    const b = this.background;
    if (b !== null) {
      this.background = null;
      b.finish();
    }
    if (this.inFlight !== null) finishCommit(this.inFlight);
  }

  get noSync(): boolean {
    return this.options.noSync;
  }

  get oneFsync(): boolean {
    return this.options.fsyncsPerCommit === 1;
  }

  /** The handle a worker thread passes to open() to share this database. */
  handle(): DatabaseHandle {
    this.checkOpen();
    if (!this.path) throw new InvalidOptionError('only a database opened from a file path can be shared with other threads');
    return { rotadbHandle: 1, path: this.path, sab: this.locks.sab, pageSize: this.pageSize, nRoots: this.nRoots, maxReaders: this.locks.maxReaders, slotPolicy: this.options.slotPolicy, shared: this.dir !== null };
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
    if (this.dir !== null) {
      // the ring's head as of a commit record at least as new as `seq` (this thread's last read, or a fresh one)
      const last = this.procPins!.last;
      const c = last !== null && (last.txnId | 0) === seq ? last : this.dir.commit.read();
      if (c !== null) {
        this.dir.commit.readRing(this.logCursor, c.ringHead, (p) => cache.delete(p), () => cache.clear());
        this.logCursor = c.ringHead;
      }
    } else {
      this.logCursor = this.locks.readLog(this.logCursor, (p) => cache.delete(p), () => cache.clear());
    }
    this.lastSeq = seq;
  }

  /**
   * Reads every root slot's version into the lock table: another process wrote some (its writer
   * calls this holding the writer lock, with the version the commit record publishes).
   *
   * A slot holding a version newer than `published` was written by a writer that died before it
   * published (the lock is ours, so nobody is writing one now). It is erased, durably, before this
   * writer writes any page: this writer builds on `published` and may reuse pages that version
   * reaches, and a later open must not take it for the newest version (with two fsyncs per
   * commit nothing would verify it). It was never acknowledged, so nothing is lost. (Serial mode
   * has one slot, which the dead writer overwrote whole after its pages were durable, with no
   * reader in any process: that version is kept, and this writer builds on it.)
   */
  private reloadSlots(published: number): void {
    let erased = false;
    for (let s = 0; s < this.nRoots; s++) {
      let m: Meta;
      try {
        m = readSlotMeta(this.storage, this.pageSize, s, this.path ?? 'storage');
      } catch {
        continue; // empty or torn: holds no version anyone can pin
      }
      if (m.txnId > published && this.nRoots > 1) {
        this.storage.write(new Uint8Array(this.pageSize), s * this.pageSize);
        this.metas[s] = undefined;
        this.locks.setSlotVersion(s, 0);
        erased = true;
        continue;
      }
      this.metas[s] = m;
      this.locks.setSlotVersion(s, m.txnId);
    }
    if (erased && !this.options.noSync) this.storage.sync();
  }

  // ---------------------------------------------------------------- readers

  /**
   * Pins the current version. `register`: a read transaction or iterator with its own reader
   * table entry, checked for expiry on every page read. Otherwise a short read through this
   * thread's entry, validated once when it ends (ReadTxn.end throws if it was expired).
   */
  beginRead(register: boolean): ReadTxn {
    this.checkOpen();
    // Serial mode: the only slot is held by this thread's commit in flight; a reader would wait for it forever.
    if (this.nRoots === 1) this.finishInFlight();
    const pin = this.pins.pin(register);
    const last = this.lastShort;
    if (last !== null && last.renew(pin)) return last; // the lingering pin: same version, nothing to catch up
    this.catchUp();
    const meta = this.metaOf(pin.slot);
    this.pins.setVersion(pin, meta.txnId);
    const txn = new ReadTxn(this, pin, meta);
    if (pin.registered) this.openReads.add(txn);
    else this.lastShort = txn;
    return txn;
  }

  releaseRead(txn: ReadTxn, pin: Pin): boolean {
    if (pin.registered) this.openReads.delete(txn);
    return this.pins.release(pin);
  }

  readerExpired(entry: number): boolean {
    return this.pins.expired(entry);
  }

  outlived(meta: Meta): boolean {
    if (this.dir === null) return false; // in one process a writer flags the reader's entry instead
    try {
      return readSlotMeta(this.storage, this.pageSize, meta.slot, this.path ?? 'storage').txnId !== meta.txnId;
    } catch {
      return true; // the slot is being written right now
    }
  }

  /** The readers of every thread; this thread's lingering short-read pin is dropped first (it is no read in progress). */
  readers(): ReaderInfo[] {
    this.pins.dropLinger();
    const out = this.pins.list();
    if (this.dir === null) return out;
    // other processes: one entry per process and slot (a record does not list threads)
    this.procPins!.refresh();
    const cur = this.current.txnId;
    for (const o of this.dir.others()) {
      if (o.record.pins.length === 0 || liveness(o.record.id) === 'dead') continue;
      for (const p of o.record.pins) {
        if (p.slot >= this.nRoots) continue;
        const held = (this.locks.slotVersionLow(p.slot) >>> 0) === p.version;
        out.push({ threadId: -1, processId: o.record.id.pid, slot: p.slot, txnId: fullTxn(cur, p.version), startedAt: p.since, kind: 'process', state: held ? 'active' : 'expired' });
      }
    }
    return out;
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
    // An asynchronous commit of this thread holds the writer lock while its writes are in flight:
    // a synchronous writer of the same thread cannot wait for it, so it finishes it.
    this.finishInFlight();
    this.checkWritable();
    return this.startWrite(this.writer.acquireSync().slot);
  }

  /**
   * Waits without blocking the event loop until this thread can take the writer lock and its
   * slot is free of readers, then begins the write transaction and runs `body` on it in the same
   * tick (see WriterLock.acquireAsync). `body` must commit or abort (or hand that duty on, as
   * transaction() does for an async callback).
   */
  async writeAsync<T>(body: (txn: WriteTxn) => T): Promise<T> {
    this.checkWritable();
    return this.writer.acquireAsync(
      { busy: () => this.writeTxn !== null, checkWritable: () => this.checkWritable(), closed: () => this.closed },
      ({ slot }) => body(this.startWrite(slot)),
    );
  }

  /** Begins the write transaction once the mutex and `slot` are held; releases both if it fails. */
  private startWrite(slot: number): WriteTxn {
    const base = this.current;
    this.catchUp();
    // Epoch rule: a freed page is reusable once no pinned version can reach it. Until a commit
    // of this process is durable, the version found at open may not be on disk yet (its root
    // slot may live only in the OS cache, or its fsync may have failed before a reopen): the
    // version before it counts as pinned, so the pages the opened version freed stay untouched.
    const pinned = this.pinnedVersions(base.txnId);
    if (this.locks.holding()) pinned.push(this.openedVersion - 1);
    try {
      this.free.prepare(base, pinned);
    } catch (e) {
      this.writer.release(slot);
      throw e;
    }
    const txn = new WriteTxn(this, base, slot);
    this.openWrite = txn;
    return txn;
  }

  /** The versions readers (in any thread) pin now; `cur` resolves the 32-bit slot versions. */
  pinnedVersions(cur: number): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.nRoots; s++) {
      if (this.locks.readers(s) > 0 || (this.procWriter?.pinsOn(s) ?? 0) > 0) out.push(fullTxn(cur, this.locks.slotVersionLow(s)));
    }
    return out;
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.failed) throw this.failed;
  }

  /**
   * Called around every commit of this thread (api/ sets it for on('beforecommit'/'aftercommit')):
   * `before` with the transaction still open (what it writes joins the commit; what it throws
   * stops the commit), `after` once the commit is durable and published.
   */
  commitHooks: { before(txn: WriteTxn): void; after(txnId: number): void } | null = null;

  commit(txn: WriteTxn): void {
    this.beforeCommit(txn);
    commit(txn);
    this.commitHooks?.after(txn.txnId);
  }

  async commitAsync(txn: WriteTxn): Promise<void> {
    this.beforeCommit(txn);
    await commitAsync(txn);
    this.commitHooks?.after(txn.txnId);
  }

  /**
   * The beforecommit hook, with `txn` as this thread's write transaction (a background batch too),
   * so that what the hook writes joins the commit. If it throws, the transaction is aborted.
   */
  private beforeCommit(txn: WriteTxn): void {
    const hooks = this.commitHooks;
    if (hooks === null) return;
    const background = txn.background;
    txn.background = false;
    try {
      hooks.before(txn);
    } catch (e) {
      txn.abort();
      throw e;
    } finally {
      txn.background = background;
    }
  }

  publish(txn: WriteTxn, meta: Meta, reused: number[]): void {
    if (dieBeforePublish && this.dir !== null) process.kill(process.pid, 'SIGKILL');
    if (!this.options.noSync) this.locks.setHold(false); // a version of ours is durable now
    this.metas[meta.slot] = meta;
    this.free.committed(meta.txnId);
    // Other threads' caches may hold the old contents of reused pages: log them before publishing.
    this.catchUp();
    if (this.procWriter !== null) {
      this.logCursor = this.procWriter.publish(meta.txnId, meta.slot, reused);
    } else {
      this.locks.appendLog(reused);
      this.logCursor = this.locks.logHead;
      this.locks.publish(meta.txnId, meta.slot);
    }
    this.lastSeq = this.locks.publishedSeq();
    this.endWrite(txn);
  }

  endWrite(txn: WriteTxn): void {
    if (this.openWrite === txn) this.openWrite = null;
    this.writer.release(txn.slot);
    this.procPins?.sweep(); // a pin this writer expired may have been its process's last on a slot
  }

  fail(txn: WriteTxn, cause: unknown): void {
    this.failed = new DatabaseFailedError(`a commit failed (${(cause as Error)?.message ?? cause}); reopen the database to write again`, cause);
    // metas stay: the slot's published version is unchanged, and metaOf() re-reads a slot only
    // when the lock table says another version was published there.
    txn.state = 'aborted';
    this.free.restore(txn.fromFree, txn.trimmed);
    this.endWrite(txn);
  }

  /** The readers pinning `slot`, for error messages. */
  describeReaders(slot: number): string {
    return this.writer.describeReaders(slot);
  }

  close(): void {
    if (this.closed) return;
    this.finishInFlight(); // it was acknowledged to nobody yet, but it may be durable already: finish it
    if (this.writeTxn) this.writeTxn.abort();
    for (const r of [...this.openReads]) r.end(false);
    this.closed = true;
    process.removeListener('exit', this.onExit);
    this.pins.close();
    this.procPins?.close();
    this.locks.releaseThread(this.locks.tid);
    if (this.path) openPaths.delete(this.path);
    try {
      this.storage.close();
    } finally {
      this.leaveFile();
    }
  }

  /** This thread no longer has the file open: the last one out releases the lock file, or leaves the lock directory. */
  private leaveFile(): void {
    const last = this.locks.removeOpener() === 0;
    if (this.dir !== null) leave(this.dir, last);
    else if (last) this.releaseLock();
  }
}
