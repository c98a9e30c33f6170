/**
 * The writer lock across processes: Lamport's bakery algorithm over the process records of the
 * lock directory (docs/design.md, "The writer lock across processes").
 *
 * Node has no flock and no compare-and-swap across processes; what it has is positioned reads
 * and writes through the shared page cache, and records that each process alone writes. That is
 * exactly what the bakery algorithm needs: to take the lock a process raises `choosing`, reads
 * every record, takes a ticket one above the highest it saw, lowers `choosing`; then for every
 * other process it waits while that one is choosing, and while it holds a ticket that comes
 * first, (ticket, record name) ordered. Release sets the ticket to 0. Reads that race a write
 * may return anything (torn); records are checksummed and read again until whole, which is
 * more than the algorithm needs (it is correct even over registers that return garbage then).
 *
 * A dead process's record reads as "not choosing, no ticket": it runs no code any more, which is
 * what the algorithm assumes of a process that failed and was reset. Death is judged by identity
 * (procs/identity.ts), never by time, and is final, so no judgment can go stale: there is no
 * "break" step that could remove a live holder's lock, and a stall anywhere changes nothing.
 * A process that joins later takes its ticket after reading ours, so it comes after us.
 *
 * The fast path, for a process that has the file to itself (docs/design.md, "The fast path"):
 * once a look at `members` found no other record, the next lock writes its ticket (one pwrite)
 * and then checks that nothing was appended to `members` since (one pread), instead of the
 * doorway and the second look (two record writes, two stats and two reads of `members`). Each
 * side writes before it reads: a process that joins appends to `members` before it reads our
 * record, and we write our ticket before we read `members`; so either we see the append and take
 * the lock the long way, or it sees our ticket and waits for it like any bakery waiter.
 */
import type { LockDir, OtherProcess } from './lock-dir.js';
import type { MembersMark } from './members.js';
import { liveness } from './identity.js';
import { skipJoinCheck, stallMs } from './test-hooks.js';

/** How often, at most, a lock that found other records asks whether all of them have left (an fstat and a read of /proc each). */
const SWEEP_MS = 100;

export class Bakery {
  /** The other process this one last waited for (error messages). */
  blocker: OtherProcess | null = null;
  /**
   * Whether the lock held now was taken by the fast path: then no other process has had the
   * file open since this process last held the lock (ProcessWriter relies on it), and none can
   * open it before unlock().
   */
  fast = false;
  /** `members` as the last granted look found it, when that look found no other record; else null. */
  private alone: MembersMark | null = null;
  private lastSweep = 0;

  constructor(private readonly dir: LockDir) {}

  /**
   * Takes the lock, waiting until `deadline` (ms since epoch); calls `sleep(ms)` between looks.
   * Returns false (holding nothing) when it was not granted by then: `blocker` says who held it.
   */
  lock(deadline: number, sleep: (ms: number) => void): boolean {
    if (this.fastLock()) return true;
    const mine = this.takeTicket();
    const looked = this.dir.others();
    const mark = this.dir.members.mark();
    for (const o of looked) {
      for (let polls = 0; ; polls++) {
        const r = this.dir.read(o.name);
        if (r === null || !this.blocks(mine, o.name, r.choosing, r.ticket)) break;
        // choosing lasts two pwrites; a ticket that comes first lasts a commit: recheck liveness
        // only after the first looks, since it costs a read of /proc
        if (polls > 0 && liveness(r.id) === 'dead') {
          if (stallMs > 0) sleep(stallMs);
          this.dir.removeDead(o.name);
          break;
        }
        if (Date.now() >= deadline) {
          this.blocker = { name: o.name, record: r };
          this.unlock();
          return false;
        }
        // nothing can notify across processes: look often at first (a hand-off between two
        // writers should not leave the lock idle for a millisecond), then less
        sleep(polls < 64 ? 0.05 : polls < 256 ? 0.2 : 1);
      }
    }
    this.granted(looked, mark);
    return true;
  }

  /** One look, for callers that must not block: true if granted, else it withdraws its ticket. */
  tryLock(): boolean {
    if (this.fastLock()) return true;
    const mine = this.takeTicket();
    const looked = this.dir.others();
    const mark = this.dir.members.mark();
    for (const o of looked) {
      const r = this.dir.read(o.name);
      if (r === null || !this.blocks(mine, o.name, r.choosing, r.ticket)) continue;
      if (liveness(r.id) === 'dead') {
        if (stallMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stallMs);
        this.dir.removeDead(o.name);
        continue;
      }
      this.blocker = { name: o.name, record: r };
      this.unlock();
      return false;
    }
    this.granted(looked, mark);
    return true;
  }

  unlock(): void {
    this.fast = false;
    this.setTicket(false, 0);
  }

  /**
   * The fast path: when the last granted look found nobody else, announce a ticket and check
   * that nobody joined `members` since. True: the lock is ours. False: somebody joined (or may
   * have); our record shows a ticket that the doorway, which the caller goes on with, replaces.
   *
   * Why the check suffices: a process that can hold or take the lock is a member. One that was
   * a member when the mark was taken had no record then (it had closed the file; opening again
   * appends again) or was found dead (final). One that joined since appended to the file the
   * mark describes (only a holder of the lock can give the path to another file, and that holder
   * is such a joiner too, the first of them having appended to this file), so the file is longer
   * now, or its append comes after our pread, hence after our ticket write, and it reads our
   * record after its append: it sees our ticket and, its own being higher, waits for us.
   */
  private fastLock(): boolean {
    this.fast = false;
    const mark = this.alone;
    if (mark === null) return false;
    this.setTicket(false, 1);
    if (skipJoinCheck || this.dir.members.unchangedSince(mark)) {
      this.fast = true;
      return true;
    }
    this.alone = null;
    return false;
  }

  /**
   * A lock granted the long way: remembers `mark` for the fast path if the look found no other
   * record, or only records of processes that have left (closed the file, or dead: both final;
   * LockDir.departed). Asking costs an fstat and a read of /proc per record, so that is done at
   * most every SWEEP_MS.
   */
  private granted(looked: OtherProcess[], mark: MembersMark | null): void {
    this.alone = null;
    if (mark === null) return;
    if (looked.length > 0) {
      const now = Date.now();
      if (now - this.lastSweep < SWEEP_MS) return;
      this.lastSweep = now;
      if (!looked.every((o) => this.dir.departed(o))) return;
    }
    this.alone = mark;
  }

  /** The doorway: choosing, read every ticket, take one above the highest, stop choosing. */
  private takeTicket(): number {
    this.setTicket(true, 0);
    let max = 0;
    for (const o of this.dir.others()) max = Math.max(max, o.record.ticket);
    const mine = max + 1;
    this.setTicket(false, mine);
    return mine;
  }

  /** Whether process `name` (choosing, ticket) must go before us with ticket `mine`. */
  private blocks(mine: number, name: string, choosing: boolean, ticket: number): boolean {
    if (choosing) return true;
    if (ticket === 0) return false;
    return ticket < mine || (ticket === mine && name < this.dir.myName);
  }

  private setTicket(choosing: boolean, ticket: number): void {
    this.dir.withRecord(() => {
      this.dir.state.setTicket(choosing, ticket);
      this.dir.writeOwnLocked();
    });
  }
}
