/** stats(): sizes, free space, and what pins versions (readers per slot, oldest reader, waits). */
import type { Environment } from '../env/environment.js';
import { listDescriptors, readDescriptor } from '../txn/catalog.js';
import type { TreeInfo } from '../btree/store.js';

export interface SlotStats {
  slot: number;
  /** Version held in the slot (undefined: none since open). */
  txnId: number | undefined;
  readers: number;
  /** Total ms writers (of every thread) waited for this slot since the file was opened. */
  writerWaitedMs: number;
  /** Whether a writer is waiting on this slot right now. */
  writerWaiting: boolean;
}

export interface Stats {
  /** Entries, depth and pages of this database's tree. */
  entries: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  /** The whole file. */
  txnId: number;
  pageSize: number;
  nRoots: number;
  fileSize: number;
  /** Pages in use or free (the file's high-water mark). */
  totalPages: number;
  /** Free pages reusable now, and pages freed by recent transactions that readers may still reach. */
  freePages: number;
  pendingPages: number;
  /** Pages of every tree in the file (all databases and the catalog), branch, leaf and overflow. */
  livePages: number;
  /**
   * A lower bound of what compact() would save: the bytes of every page that holds no live tree
   * data (free, pending and space-map pages). Compaction also refills half-empty pages, which this
   * does not count.
   */
  compactSavingsBytes: number;
  slots: SlotStats[];
  /** Open read transactions and iterators in the reader table, and the age of the oldest (ms, 0 if none). */
  readers: number;
  oldestReaderAgeMs: number;
  oldestReaderTxnId: number | undefined;
  /** This thread's page cache, and the pages it read from and wrote to the file since open. */
  cache: { pages: number; capacity: number; hits: number; misses: number; pagesRead: number; pagesWritten: number };
}

export function databaseStats(env: Environment, name: string | null): Stats {
  const r = env.beginRead(false);
  let tree: TreeInfo | undefined;
  let livePages = 0;
  try {
    tree = name === null ? r.meta.main : readDescriptor(r, r.meta.catalog, name);
    const count = (t: TreeInfo): void => { livePages += t.branchPages + t.leafPages + t.overflowPages; };
    count(r.meta.main);
    count(r.meta.catalog);
    for (const d of listDescriptors(r, r.meta.catalog)) count(d.tree);
  } finally {
    r.end();
  }
  const now = Date.now();
  const readers = env.readers().filter((r) => r.kind === 'transaction');
  const oldest = readers.reduce<(typeof readers)[number] | undefined>((a, b) => (a === undefined || b.startedAt < a.startedAt ? b : a), undefined);
  const m = env.current;
  const slots: SlotStats[] = [];
  for (let s = 0; s < env.nRoots; s++) {
    slots.push({
      slot: s,
      txnId: env.metas[s]?.txnId,
      readers: env.locks.readers(s),
      writerWaitedMs: env.locks.waitedMs(s),
      writerWaiting: env.locks.isWaiting(s),
    });
  }
  const cache = env.pager.cache;
  return {
    entries: tree?.entries ?? 0,
    depth: tree?.depth ?? 0,
    branchPages: tree?.branchPages ?? 0,
    leafPages: tree?.leafPages ?? 0,
    overflowPages: tree?.overflowPages ?? 0,
    txnId: m.txnId,
    pageSize: env.pageSize,
    nRoots: env.nRoots,
    fileSize: env.storage.size(),
    totalPages: m.highWater,
    freePages: env.free.space.free.count,
    pendingPages: env.free.space.pendingCount,
    livePages,
    compactSavingsBytes: Math.max(0, m.highWater - m.nRoots - livePages) * env.pageSize,
    slots,
    readers: readers.length,
    oldestReaderAgeMs: oldest ? now - oldest.startedAt : 0,
    oldestReaderTxnId: oldest?.txnId,
    cache: { pages: cache.size, capacity: cache.capacity, hits: cache.hits, misses: cache.misses, pagesRead: env.pager.pagesRead, pagesWritten: env.pager.pagesWritten },
  };
}
