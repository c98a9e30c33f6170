/**
 * Readers across processes (docs/design.md, "Several processes: the reader protocol"): what a
 * thread does, beyond its pin in the lock table, so that writers of other processes see the pin.
 *
 * A process's record lists the slots its threads pin, with the version each held then. Only the
 * first pin of a slot in the process writes the record, and the last one's release writes it
 * again; the pins in between cost nothing here. The protocol against a writer of another
 * process is LMDB's, over pread/pwrite: the reader writes its record, then reads the commit
 * record again and pins anew if the version moved; the writer writes its target slot into the
 * commit record, then reads every record. Each does its write before its read, so at least one
 * of them sees the other (the page cache orders them): the writer sees the pin and waits, or the
 * reader sees the newer version and retries.
 *
 * Between threads of one process, the record's entry for a slot (S_PUB in the lock table) is
 * set under the record mutex, and a thread withdrawing it marks it CLEARING before it re-checks
 * the slot's reader count, while a pinning thread counts itself before it reads S_PUB: so a pin
 * that found the entry SHOWN is always seen by the withdrawing thread, which then keeps it.
 */
import { PUB_CLEARING, PUB_NONE, PUB_SHOWN, type LockTable } from '../sync/locks.js';
import type { ProcessReaders } from '../sync/readers.js';
import type { CommitRecord } from './records.js';
import type { LockDir } from './lock-dir.js';
import { pinStallMs, skipRecheck } from './test-hooks.js';

export class ProcessPins implements ProcessReaders {
  /** The commit record as this thread last read it. */
  last: CommitRecord | null = null;

  constructor(private readonly locks: LockTable, private readonly dir: LockDir) {}

  refresh(): void {
    const c = this.dir.commit.read();
    if (c === null) return;
    this.last = c;
    this.adopt(c.txnId, c.slot);
  }

  /**
   * Makes (txnId, slot) this process's published version if it is newer than the lock table's.
   * Under the record mutex, as every publish of a shared file is: two threads publishing
   * different versions at once could otherwise leave the slot of one with the id of the other.
   */
  adopt(txnId: number, slot: number): void {
    if (((txnId | 0) - this.locks.publishedSeq() | 0) <= 0) return;
    this.dir.withRecord(() => {
      if (((txnId | 0) - this.locks.publishedSeq() | 0) > 0) this.locks.publish(txnId, slot);
    });
  }

  announce(slot: number, versionLow: number): 'ok' | 'retry' | 'wait' {
    const locks = this.locks;
    if (locks.pubState(slot) === PUB_SHOWN && locks.pubVersion(slot) === (versionLow | 0)) return 'ok';
    if (pinStallMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pinStallMs);
    this.dir.withRecord(() => {
      if (locks.pubState(slot) === PUB_SHOWN && locks.pubVersion(slot) === (versionLow | 0)) return;
      for (let s = 0; s < locks.nRoots; s++) if (s !== slot) this.clearLocked(s); // lazily withdrawn ones go with this write
      locks.setPub(slot, PUB_SHOWN, versionLow, Date.now());
      this.dir.writeOwnLocked();
    });
    if (skipRecheck) return 'ok';
    const c = this.dir.commit.read();
    if (c === null) return 'ok'; // no process ever published: nothing can have moved
    this.last = c;
    // The version must still be the newest one. That its slot still holds it is not enough: a
    // writer that read the records before this pin was announced may have committed since, and
    // the next one may reuse pages this version reaches, which that commit freed (the epoch rule
    // counts only the pins it saw). A writer that commits after this read sees the pin.
    if ((c.txnId | 0) !== (versionLow | 0)) return 'retry';
    // a writer never takes the current version's slot, but in serial mode (nRoots 1)
    const me = this.dir.me;
    if (c.target === slot && !(c.writerPid === me.pid && c.writerStart === me.start) && this.dir.writerAlive(c.writerPid, c.writerStart)) return 'wait';
    return 'ok';
  }

  /**
   * Withdraws lazily: the record keeps showing the slot until this thread's event loop turns (or
   * a later pin of another version calls sweep()), so that a loop of read transactions on one
   * version writes the record once, not twice per transaction. Meanwhile the pin is on the
   * version that was current, which writers do not target (but in serial mode, where they then
   * wait for this thread's synchronous code to end, as for a lingering short read).
   */
  withdraw(slot: number, atOnce = false): void {
    const locks = this.locks;
    if (locks.readers(slot) !== 0 || locks.pubState(slot) !== PUB_SHOWN) return;
    if (atOnce) return this.withdrawNow(slot);
    if (this.sweepScheduled) return;
    this.sweepScheduled = true;
    setImmediate(this.deferred).unref();
  }

  private sweepScheduled = false;
  private closed = false;
  private readonly deferred = (): void => {
    this.sweepScheduled = false;
    if (!this.closed) this.sweep();
  };

  /** Stops the deferred sweep (the thread closes the file: its record goes anyway). */
  close(): void {
    this.closed = true;
  }

  /** Withdraws `slot` now if no pin of this process is left on it. */
  withdrawNow(slot: number): void {
    const locks = this.locks;
    if (locks.readers(slot) !== 0 || locks.pubState(slot) !== PUB_SHOWN) return;
    this.dir.withRecord(() => {
      if (this.clearLocked(slot)) this.dir.writeOwnLocked();
    });
  }

  /**
   * Under the record mutex: stops showing `slot` if no thread pins it (true if it did). CLEARING
   * first, then the count: a thread that counted itself before reading SHOWN is seen here.
   */
  private clearLocked(slot: number): boolean {
    const locks = this.locks;
    if (locks.pubState(slot) !== PUB_SHOWN) return false;
    locks.setPub(slot, PUB_CLEARING);
    if (locks.readers(slot) !== 0) {
      locks.setPub(slot, PUB_SHOWN, locks.pubVersion(slot), locks.pubSince(slot));
      return false;
    }
    locks.setPub(slot, PUB_NONE);
    return true;
  }

  /** Withdraws every slot no thread pins any more (a writer of this process expired the last pin). */
  sweep(): void {
    for (let s = 0; s < this.locks.nRoots; s++) this.withdrawNow(s);
  }
}
