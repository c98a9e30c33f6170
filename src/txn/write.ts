/**
 * The write transaction: the only PageWriter. Pages it allocates are "own": they live in `dirty`
 * (not in the shared cache) and may change in place until commit. Every other page is committed
 * and immutable; touching one copies it and frees the original under this transaction's id.
 *
 * Page accounting (what commit turns into space-map records):
 *   fromFree  pages taken from the reusable free set        -> ALLOC, unless freed again
 *   localFree own pages freed again in this transaction     -> reusable at once, by this txn too
 *   freed     committed pages this transaction unlinked     -> pending under this txn id
 * Abort gives `fromFree` back to the free set and forgets the rest; nothing was written.
 */
import type { PageWriter, TreeInfo } from '../btree/store.js';
import { emptyTree, overflowPageCount, storedTree } from '../btree/store.js';
import type { Meta } from '../pages/meta.js';
import { readDescriptor } from './catalog.js';
import { MAX_PAGES, PAGE_HEADER, PAGE_TXN, PAGE_TYPE, PAGE_UPPER, PageType } from '../pages/layout.js';
import { setU32, u32 } from '../pages/bytes.js';
import { CorruptionError, DatabaseFullError, TransactionEndedError } from '../errors.js';
import { fullTxn } from '../sync/locks.js';
import { assertBornBy, type Pager } from '../pages/pager.js';
import type { CommitDigest } from '../pages/checksum.js';
import type { Storage } from '../storage/storage.js';
import type { FreeState } from './free-state.js';

/**
 * A commit between its preparation (steps 1-2, and step 3's stamping) and its publication: the
 * pages to write, the root slot, and how far it got. A commit made asynchronously stays in this
 * state while its writes and fdatasync run on the thread pool; a synchronous writer of the same
 * thread that needs the writer lock meanwhile finishes it itself (finishCommit).
 */
export interface PreparedCommit {
  readonly txn: WriteTxn;
  readonly meta: Meta;
  readonly oldChain: number[];
  /** The transaction that wrote each page of `oldChain` (the epoch rule). */
  readonly oldBirths: number[];
  /** 'durable-pending': steps 3-6 not known done; 'published': step 7 done; 'failed': fail() ran. */
  state: 'durable-pending' | 'published' | 'failed';
  /** Dirty pages not stamped yet (an asynchronous commit stamps them in slices), and the digest so far. */
  readonly unstamped: number[];
  readonly digest: CommitDigest;
}

/** What the write transaction and its commit need from the environment (env/ implements it). */
export interface WriteHost {
  readonly pager: Pager;
  readonly storage: Storage;
  /** Skip the fdatasyncs of commit (the `noSync` option). */
  readonly noSync: boolean;
  /** Make a commit durable with one fdatasync, pages and root slot together (`fsyncsPerCommit: 1`). */
  readonly oneFsync: boolean;
  readonly free: FreeState;
  /** Runs the commit steps (txn/commit.ts) on `txn`. */
  commit(txn: WriteTxn): void;
  /** The same, with the writes and the fdatasync off the event loop (txn/commit.ts). */
  commitAsync(txn: WriteTxn): Promise<void>;
  /** The asynchronous commit of this thread whose writes are in flight, if any (txn/commit.ts). */
  inFlight: PreparedCommit | null;
  /** Commit step 7, once the root slot is durable: make `meta` current everywhere, then release. */
  publish(txn: WriteTxn, meta: Meta, reused: number[]): void;
  /** Releases the writer lock and the slot of `txn` (abort). */
  endWrite(txn: WriteTxn): void;
  /** A commit failed during I/O: keep the previous version, refuse writes from now on. */
  fail(txn: WriteTxn, cause: unknown): void;
}

export class WriteTxn implements PageWriter {
  readonly pageSize: number;
  readonly txnId: number;
  readonly slot: number;
  highWater: number;
  readonly dirty = new Map<number, Uint8Array>();
  readonly own = new Set<number>();
  readonly localFree: number[] = [];
  readonly fromFree: number[] = [];
  readonly freed: number[] = [];
  /** The transaction that wrote each page of `freed` (0: unknown), for the epoch rule. */
  readonly freedBirth: number[] = [];
  /** Free pages at the top of the file that commit gave back by lowering the high-water mark. */
  readonly trimmed: number[] = [];
  readonly main: TreeInfo;
  catalog: TreeInfo;
  /** Named databases this transaction opened, with their descriptor as it was at begin (undefined: did not exist). */
  readonly named = new Map<string, { tree: TreeInfo; before: TreeInfo | undefined }>();
  /**
   * A transaction the write queue runs for put()/remove() across event-loop turns: reads and
   * writes of this thread do not go into it (api/write-queue.ts).
   */
  background = false;
  /**
   * Whether get() handed out one of this transaction's own (dirty) pages: a cursor or a view
   * may then hold it after commit, so its buffers are published as exposed (pages/cache.ts) and
   * never recycled. The tree's own writes read through peek() and leave it false.
   */
  exposed = false;
  /** Bumped by every change, so cursors can tell that their path may be stale. */
  modCount = 0;
  /** 'committing': prepared, being made durable (txn/commit.ts); no longer readable or writable through. */
  state: 'active' | 'committing' | 'committed' | 'aborted' = 'active';

  /** Counted in `pager.holders` until it ends: its descents hold cached buffers (pages/pager.ts, "Recycling"). */
  private holding = true;

  /** `slot`: the root slot the writer lock chose and holds (sync/writer.ts). */
  constructor(readonly host: WriteHost, readonly base: Meta, slot: number) {
    host.pager.holders++;
    this.pageSize = base.pageSize;
    this.txnId = base.txnId + 1;
    this.slot = slot;
    this.highWater = base.highWater;
    this.main = { ...base.main };
    this.catalog = { ...base.catalog };
  }

  // ---- PageReader

  get(pgno: number): Uint8Array {
    const d = this.dirty.get(pgno);
    if (d !== undefined) {
      this.exposed = true;
      return d;
    }
    return this.committed(pgno, true);
  }

  peek(pgno: number): Uint8Array {
    const d = this.dirty.get(pgno);
    if (d !== undefined) return d;
    return this.committed(pgno, false);
  }

  /** A committed page of the base version; `expose` as for Pager.read / Pager.peek. */
  private committed(pgno: number, expose: boolean): Uint8Array {
    if (this.state !== 'active') throw new TransactionEndedError('write');
    if (pgno >= this.base.highWater || pgno < this.base.nRoots) {
      throw new CorruptionError(`page number out of range [${this.base.nRoots}, ${this.base.highWater})`, pgno);
    }
    const p = expose ? this.host.pager.read(pgno) : this.host.pager.peek(pgno);
    assertBornBy(p, pgno, this.base.txnId);
    return p;
  }

  readOverflow(pgno: number, length: number): Uint8Array {
    const run = this.dirty.get(pgno);
    if (run !== undefined) return run.subarray(PAGE_HEADER, PAGE_HEADER + length);
    return this.host.pager.readRun(pgno, length, this.base.txnId);
  }

  // ---- PageWriter

  touch(pgno: number): number {
    if (this.own.has(pgno)) return pgno;
    const src = this.committed(pgno, false); // copied here and not kept
    const np = this.takePage();
    this.dirty.set(np, this.host.pager.copyPage(src));
    this.freeCommitted(pgno, src);
    return np;
  }

  owns(pgno: number): boolean {
    return this.own.has(pgno);
  }

  allocPage(): number {
    const pgno = this.takePage();
    this.dirty.set(pgno, this.host.pager.newPage());
    return pgno;
  }

  /** A page number for a new own page (its buffer is the caller's to set in `dirty`). */
  private takePage(): number {
    let pgno = this.localFree.pop();
    if (pgno === undefined) pgno = this.takeFree(1);
    this.own.add(pgno);
    return pgno;
  }

  freePage(pgno: number): void {
    if (this.own.delete(pgno)) {
      this.dirty.delete(pgno);
      this.localFree.push(pgno);
    } else {
      this.freeCommitted(pgno, this.committed(pgno, false)); // only its header is read
    }
  }

  /** Frees a committed page under this transaction's id, with its birth for the epoch rule. */
  private freeCommitted(pgno: number, page: Uint8Array): void {
    this.freed.push(pgno);
    // the header names the transaction that wrote the page (committed pages are never rewritten)
    this.freedBirth.push(fullTxn(this.base.txnId, u32(page, PAGE_TXN)));
  }

  /**
   * Page numbers this transaction took from the free set (still its own at commit) or trimmed
   * off the file: ALLOC records in the space map, and the reuse log for other threads' caches.
   */
  reusedPages(): number[] {
    // Once: a page taken from the free set, freed again and trimmed off the top, can be taken
    // again when the high-water mark grows back over it (a space-map page, say): it is then both
    // trimmed and own, and a second ALLOC of it would make the space map unreadable.
    if (this.trimmed.length === 0) return this.fromFree.filter((p) => this.own.has(p)); // fromFree never repeats a page
    const out = new Set(this.trimmed);
    for (const p of this.fromFree) if (this.own.has(p)) out.add(p);
    return [...out];
  }

  writeOverflow(value: Uint8Array, length: number): number {
    const n = overflowPageCount(length, this.pageSize);
    const first = this.takeFree(n);
    const run = Buffer.alloc(n * this.pageSize);
    run[PAGE_TYPE] = PageType.Overflow;
    setU32(run, PAGE_UPPER, n);
    run.set(value.subarray(0, length), PAGE_HEADER);
    for (let i = 0; i < n; i++) this.own.add(first + i);
    this.dirty.set(first, run);
    return first;
  }

  freeOverflow(pgno: number, length: number): void {
    const n = overflowPageCount(length, this.pageSize);
    if (this.own.has(pgno)) this.dirty.delete(pgno);
    for (let i = 0; i < n; i++) {
      if (this.own.delete(pgno + i)) this.localFree.push(pgno + i);
      else {
        this.freed.push(pgno + i);
        this.freedBirth.push(0); // reading the run's header would verify the whole run: stay conservative
      }
    }
  }

  /** `n` contiguous pages from the lowest free run, else from the end of the file. */
  private takeFree(n: number): number {
    const free = this.host.free.space.free;
    const p = free.takeRun(n);
    if (p >= 0) {
      for (let i = 0; i < n; i++) this.fromFree.push(p + i);
      return p;
    }
    if (this.highWater + n > MAX_PAGES) throw new DatabaseFullError(MAX_PAGES);
    const first = this.highWater;
    this.highWater += n;
    return first;
  }

  // ---- trees

  /** The tree of database `name` (null: main) as this transaction sees it; created empty if absent. */
  tree(name: string | null): TreeInfo {
    if (name === null) return this.main;
    let e = this.named.get(name);
    if (e === undefined) {
      const t = readDescriptor(this, this.catalog, name);
      const tree = t ?? emptyTree();
      e = { tree, before: t ? storedTree(t) : undefined };
      this.named.set(name, e);
    }
    return e.tree;
  }

  /** Whether database `name` exists in this transaction's view. */
  hasTree(name: string): boolean {
    const e = this.named.get(name);
    if (e === undefined) return readDescriptor(this, this.catalog, name) !== undefined;
    return e.before !== undefined || e.tree.root !== 0;
  }

  // ---- end

  assertActive(): void {
    if (this.state !== 'active') throw new TransactionEndedError('write');
  }

  commit(): void {
    this.assertActive();
    this.host.commit(this);
  }

  /** Commits with the writes and the fdatasync off the event loop; resolves once durable and published. */
  commitAsync(): Promise<void> {
    this.assertActive();
    return this.host.commitAsync(this);
  }

  abort(): void {
    if (this.state !== 'active') return;
    this.state = 'aborted';
    this.host.free.restore(this.fromFree, this.trimmed);
    this.dirty.clear();
    this.unhold();
    this.host.endWrite(this);
  }

  /** The transaction reads no more pages (it committed, aborted or failed): no longer a holder. */
  unhold(): void {
    if (!this.holding) return;
    this.holding = false;
    this.host.pager.holders--;
  }
}
