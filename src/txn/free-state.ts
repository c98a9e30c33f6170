/**
 * The writer's free-page state in one thread (docs/design.md, "Copy-on-write and free pages" and
 * "Threads"): the reusable pages and the pending groups, and which version they describe.
 *
 * The state is valid for the version this thread last committed or loaded. When another thread
 * committed since, the writer reloads it from the space map of the current version, under the
 * writer lock (which is what keeps that version's space-map pages from being reused meanwhile).
 */
import type { Meta } from '../pages/meta.js';
import { FreeSet } from '../pages/freeset.js';
import { FreeSpace, replaySpaceMap } from '../pages/spacemap.js';
import { assertBornBy, type Pager } from '../pages/pager.js';

export class FreeState {
  /** Reusable pages and pending groups, valid for version `txnId` only. */
  space: FreeSpace;
  private txnId: number;

  private constructor(space: FreeSpace, txnId: number, private readonly pager: Pager) {
    this.space = space;
    this.txnId = txnId;
  }

  /**
   * The state of version `meta`, replayed from its space map at open. Pages the newest version
   * freed come back pending: they hold the version before it, which stays the last one known
   * durable until this process makes a commit of its own durable (see the hold in env/).
   */
  static replayed(meta: Meta, pager: Pager): FreeState {
    const sm = replaySpaceMap(reader(pager, meta), meta, meta.txnId);
    return new FreeState(new FreeSpace(sm.free, sm.pending), meta.txnId, pager);
  }

  /**
   * An empty state that describes no version: a thread that joins reads nothing at join (nothing
   * pins the version it sees, so its space-map pages may be reused under it); its first write
   * loads the state under the writer lock.
   */
  static unloaded(pager: Pager): FreeState {
    return new FreeState(new FreeSpace(new FreeSet()), -1, pager);
  }

  /**
   * Makes the next prepare() load the state again, under the writer lock, whatever version it is
   * for (what it holds now stays readable for stats). For the first thread of a process on a
   * shared file: the state replayed at open treats pages older versions reach as reusable, but
   * other processes may have such versions pinned.
   */
  forget(): void {
    this.txnId = -1;
  }

  /** Whether the state describes version `txnId` (this thread committed or loaded it). */
  isFor(txnId: number): boolean {
    return this.txnId === txnId;
  }

  /**
   * Makes the state describe `base` for writer `base.txnId + 1`, then promotes what no pinned
   * version can reach (the epoch rule). Runs under the writer lock.
   */
  prepare(base: Meta, pinned: number[]): void {
    if (this.txnId !== base.txnId) {
      // Another thread committed since this thread last wrote: its free state is on disk. Pages
      // freed after the oldest pinned version (with the rotating slot policy: by the last
      // nRoots - 1 versions) may still be reached by its readers: they stay pending.
      const oldest = Math.min(base.txnId - base.nRoots + 1, ...pinned.map((v) => v + 1));
      const sm = replaySpaceMap(reader(this.pager, base), base, oldest);
      this.space = new FreeSpace(sm.free, sm.pending);
      this.txnId = base.txnId;
    }
    this.space.promote(pinned);
  }

  /** Commit step 7: the state now describes version `txnId`. */
  committed(txnId: number): void {
    this.txnId = txnId;
  }

  /** Gives back what an aborted or failed transaction took from the free set. */
  restore(fromFree: readonly number[], trimmed: readonly number[]): void {
    const free = this.space.free;
    for (const p of fromFree) free.add(p);
    for (const p of trimmed) if (!free.has(p)) free.add(p);
  }
}

/** Reads the pages of version `meta`, each checked to be no newer than it. */
function reader(pager: Pager, meta: Meta): (pgno: number) => Uint8Array {
  return (pgno) => {
    const p = pager.read(pgno);
    assertBornBy(p, pgno, meta.txnId);
    return p;
  };
}
