/**
 * Writers across processes (docs/design.md, "Several processes: the writer protocol"): what a
 * writer does beyond the lock table so that it honours every process's pins and tells every
 * process what it published.
 *
 * Holding the writer lock (procs/bakery.ts), a writer
 *   1. reads the commit record, and when another process committed since, takes that version as
 *      this process's and re-reads every root slot's version (refresh);
 *   2. writes its target slot into the commit record, then reads every process record (target,
 *      scan): a pin it misses is one whose reader will see the target or a newer version and pin
 *      again (procs/process-pins.ts); it waits while a live process pins the version its slot
 *      holds;
 *   3. at publish, announces the reuse-ring entries it will overwrite (unless the commit record
 *      reserves them already), writes the pages it reused into the ring, then writes the commit
 *      record with the new version and a reservation for the next commit (publish);
 *   4. releases the lock, clearing its target if it published nothing (unlock).
 * When the lock came by the bakery's fast path (no other process has had the file open since
 * this process last held the lock, and none can open it before the release), step 1 uses the
 * commit record as this thread last read or wrote it, unless a thread of this process published
 * since, and step 2 writes no target: there is no reader of another process to tell, and this
 * process's readers never wait for its own writer's target (docs/design.md, "The fast path").
 */
import type { LockTable } from '../sync/locks.js';
import type { ProcessWriters } from '../sync/writer.js';
import type { ProcPin, CommitRecord } from './records.js';
import type { LockDir, OtherProcess } from './lock-dir.js';
import type { ProcessPins } from './process-pins.js';
import { Bakery } from './bakery.js';
import { liveness } from './identity.js';
import { ignorePins } from './test-hooks.js';
import { InternalError, StorageError } from '../errors.js';

/** How long a process found alive is trusted to be (it can only err towards waiting longer). */
const ALIVE_TRUST_MS = 100;
/**
 * Ring entries past the head that every published commit record reserves for the next commit,
 * so that a commit reusing no more pages needs no reservation write of its own. A reader more
 * than RING_CAPACITY - STANDING_RESERVE entries behind then drops its whole cache, as one more
 * than RING_CAPACITY - (pages the commit reuses) behind does anyway.
 */
const STANDING_RESERVE = 1024;

export class ProcessWriter implements ProcessWriters {
  private readonly bakery: Bakery;
  /** The commit record as read under the lock, then as this writer wrote it. */
  private commit: CommitRecord | null = null;
  /** The commit record as this thread last read or wrote it (kept across locks, for the fast path). */
  private known: CommitRecord | null = null;
  private targetSlot = -1;
  /** The commit record shows this writer's target (or reservation): unlock() must clear it if nothing was published. */
  private shown = false;
  /** The version this writer last found in the commit record: another one means another process committed. */
  private lastTxn = -1;
  /** Per slot: live other processes pinning the version the slot holds (as of the last scan). */
  private readonly counts: Int32Array;
  private seen: { o: OtherProcess; p: ProcPin }[] = [];
  /** Pins expired by maxReaderAgeMs: `${record}:${slot}` -> the slot and the version no longer waited for. */
  private readonly expired = new Map<string, { slot: number; version: number }>();
  private readonly aliveUntil = new Map<string, number>();
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    private readonly locks: LockTable,
    private readonly dir: LockDir,
    private readonly pins: ProcessPins,
    /** Reads every root slot's version into the lock table (another process wrote some), erasing any newer than `published` (a dead writer's). */
    private readonly reloadSlots: (published: number) => void,
  ) {
    this.bakery = new Bakery(dir);
    this.counts = new Int32Array(locks.nRoots);
  }

  lock(deadline: number): boolean {
    return this.bakery.lock(deadline, (ms) => Atomics.wait(this.sleeper, 0, 0, ms));
  }

  tryLock(): boolean {
    return this.bakery.tryLock();
  }

  unlock(): void {
    const c = this.commit;
    try {
      // the reservation stays: entries may have been overwritten up to it (it never goes back)
      if (this.shown && c !== null) this.write({ ...c, target: -1, ringReserved: (this.known ?? c).ringReserved });
    } finally {
      this.shown = false;
      this.targetSlot = -1;
      this.commit = null;
      // what the scan saw holds while the lock does; a later look without it must scan again
      this.counts.fill(0);
      this.seen = [];
      this.bakery.unlock();
    }
  }

  refresh(): void {
    const k = this.known;
    // fast path: nobody else wrote the commit record since this thread's last look at it (only a
    // holder of the lock writes it, and no other process held it since); a thread of this process
    // may have, but its commit moved the lock table's version (an abort leaves the record as it was)
    if (this.bakery.fast && k !== null && k.target < 0 && k.txnId === this.lastTxn && (k.txnId | 0) === this.locks.publishedSeq()) {
      this.commit = k;
      return;
    }
    const c = this.dir.commit.read();
    if (c === null) throw new StorageError(`${this.dir.dir}/state holds no commit record although the file is open (was the lock directory deleted while in use?)`);
    this.commit = c;
    this.known = c;
    if (c.txnId !== this.lastTxn || c.target >= 0) {
      // another process committed since, or a writer died holding the lock (its target is still
      // set): the slots may hold versions this process has not seen, or a dead writer's
      this.pins.adopt(c.txnId, c.slot);
      this.reloadSlots(c.txnId);
      this.lastTxn = c.txnId;
    }
  }

  target(slot: number): void {
    const c = this.current();
    this.targetSlot = slot;
    if (this.bakery.fast) return; // no reader of another process exists, nor can one begin before unlock()
    this.write({ ...c, target: slot });
    this.shown = true;
  }

  /**
   * Reads the records the writer lock's last look at `members` named (held: a process that
   * opened the file since would have needed the lock, so no other record can hold a pin); without
   * the lock (the async path's hint), reads `members` again.
   */
  scan(): void {
    this.counts.fill(0);
    this.seen = [];
    const now = Date.now();
    const holds = (slot: number, version: number) => version === (this.locks.slotVersionLow(slot) >>> 0);
    // an expiry ends when the slot is written again: the next version there is a new pin's
    for (const [k, e] of this.expired) if (!holds(e.slot, e.version)) this.expired.delete(k);
    if (this.aliveUntil.size > 1024) this.aliveUntil.clear();
    if (ignorePins) return;
    for (const o of this.commit !== null ? this.dir.reread() : this.dir.others()) {
      const live = o.record.pins.filter((p) => p.slot < this.locks.nRoots && holds(p.slot, p.version)
        && this.expired.get(`${o.name}:${p.slot}`)?.version !== p.version);
      if (live.length === 0) continue;
      if (!this.alive(o, now)) {
        this.dir.removeDead(o.name);
        continue;
      }
      for (const p of live) {
        this.counts[p.slot]!++;
        this.seen.push({ o, p });
      }
    }
  }

  pinsOn(slot: number): number {
    return this.counts[slot]!;
  }

  expire(slot: number): number {
    let n = 0;
    for (const { o, p } of this.seen) {
      if (p.slot !== slot) continue;
      this.expired.set(`${o.name}:${slot}`, { slot, version: p.version });
      n++;
    }
    this.counts[slot] = 0;
    return n;
  }

  describe(slot: number): string {
    const now = Date.now();
    return this.seen.filter((x) => x.p.slot === slot).map((x) => `process ${x.o.record.id.pid} for ${now - x.p.since} ms`).join('; ');
  }

  holder(): string {
    const b = this.bakery.blocker;
    return b === null ? 'another process' : `process ${b.record.id.pid}`;
  }

  /**
   * Publishes (txnId, slot) to every process: the ring entries it will overwrite first (unless
   * the commit record already reserves them: STANDING_RESERVE), then the pages this commit
   * reused, then the commit record, which reserves STANDING_RESERVE entries for the next commit.
   * Returns the ring's new head.
   */
  publish(txnId: number, slot: number, reused: readonly number[]): number {
    const c = this.current();
    let head = c.ringHead;
    if (reused.length > 0) {
      const upTo = (head + reused.length) >>> 0;
      if ((upTo - (this.known ?? c).ringReserved | 0) > 0) {
        this.write({ ...c, target: this.targetSlot, ringReserved: upTo });
        this.shown = true;
      }
      head = this.dir.commit.appendRing(head, reused);
    }
    // flags 0: a COMPACTING flag left by a holder that died compacting means nothing any more
    const next = { ...c, txnId, slot, target: -1, ringHead: head, ringReserved: (head + STANDING_RESERVE) >>> 0, flags: 0 };
    this.write(next);
    this.commit = next;
    this.shown = false;
    this.targetSlot = -1;
    this.lastTxn = txnId;
    this.pins.adopt(txnId, slot);
    return head;
  }

  /** Writes the commit record and remembers it as the one this thread knows. */
  private write(c: CommitRecord): void {
    this.dir.commit.write(c);
    this.known = c;
  }

  private current(): CommitRecord {
    if (this.commit === null) throw new InternalError('the writer holds no commit record (refresh() first)');
    return this.commit;
  }

  private alive(o: OtherProcess, now: number): boolean {
    if ((this.aliveUntil.get(o.name) ?? 0) > now) return true;
    const l = liveness(o.record.id);
    if (l === 'dead') {
      this.aliveUntil.delete(o.name);
      return false;
    }
    this.aliveUntil.set(o.name, now + ALIVE_TRUST_MS);
    return true;
  }
}
