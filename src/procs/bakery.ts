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
 */
import type { LockDir, OtherProcess } from './lock-dir.js';
import { liveness } from './identity.js';
import { stallMs } from './test-hooks.js';

export class Bakery {
  /** The other process this one last waited for (error messages). */
  blocker: OtherProcess | null = null;

  constructor(private readonly dir: LockDir) {}

  /**
   * Takes the lock, waiting until `deadline` (ms since epoch); calls `sleep(ms)` between looks.
   * Returns false (holding nothing) when it was not granted by then: `blocker` says who held it.
   */
  lock(deadline: number, sleep: (ms: number) => void): boolean {
    const mine = this.takeTicket();
    for (const o of this.dir.others()) {
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
    return true;
  }

  /** One look, for callers that must not block: true if granted, else it withdraws its ticket. */
  tryLock(): boolean {
    const mine = this.takeTicket();
    for (const o of this.dir.others()) {
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
    return true;
  }

  unlock(): void {
    this.setTicket(false, 0);
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
