/**
 * The lock directory's `state` file (layout in pages/layout.ts, docs/design.md "Several
 * processes"): the commit record at offset 0, which the holder of the writer lock alone writes,
 * and the reuse ring from RING_OFFSET. Read by every thread of every process that has the file
 * open, each through its own descriptor.
 */
import * as fs from 'node:fs';
import { pwriteAll, storageError } from './io.js';
import { CR_FLAG_COMPACTING, CR_SIZE, RING_CAPACITY, RING_OFFSET } from '../pages/layout.js';
import { decodeCommit, encodeCommit, type CommitRecord } from './records.js';
import type { ProcessIdentity } from './identity.js';
import { CorruptionError } from '../errors.js';

/** How often a torn commit record is read again before the directory is declared damaged. */
const TORN_RETRIES = 1000;

export class StateFile {
  private readonly fd: number;
  private readonly crBuf = new Uint8Array(CR_SIZE);
  private commitSeq = 0;

  /** Opens `<dir>/state`, creating it if there is none (see LockDir.attachState for when that is safe). */
  constructor(private readonly dir: string, private readonly me: ProcessIdentity) {
    this.fd = openState(dir);
  }

  /** The commit record; null when none was ever written (a new lock directory). */
  read(): CommitRecord | null {
    for (let i = 0; i < TORN_RETRIES; i++) {
      const n = fs.readSync(this.fd, this.crBuf, 0, CR_SIZE, 0);
      if (n === 0) return null;
      const c = decodeCommit(this.crBuf, n);
      if (c !== null) return c;
      if (this.crBuf.every((b) => b === 0)) return null; // a new state file: nothing published yet
    }
    throw new CorruptionError(`${this.dir}/state never reads back whole: the lock directory is damaged (delete ${this.dir} once no process has the database open)`);
  }

  /** Writes the commit record (the writer lock's holder only). */
  write(c: Omit<CommitRecord, 'seq' | 'writerPid' | 'writerStart' | 'flags'> & { flags?: number }): void {
    encodeCommit({ flags: 0, ...c, seq: ++this.commitSeq, writerPid: this.me.pid, writerStart: this.me.start }, this.crBuf);
    pwriteAll(this.fd, this.crBuf, 0);
  }

  /**
   * Appends page numbers to the reuse ring from `head` (the writer lock's holder only, after
   * announcing the entries it is about to overwrite: `reserve`); returns the new head.
   */
  appendRing(head: number, pages: readonly number[]): number {
    const words = new Uint32Array(Math.min(pages.length, RING_CAPACITY));
    // entries past the ring's size would overwrite each other: only the last RING_CAPACITY count,
    // and a reader that is that far behind drops its whole cache anyway
    const skip = pages.length - words.length;
    for (let k = 0; k < words.length; k++) words[k] = pages[skip + k]!;
    let at = (head + skip) >>> 0;
    let k = 0;
    while (k < words.length) {
      const pos = at & (RING_CAPACITY - 1);
      const run = Math.min(words.length - k, RING_CAPACITY - pos);
      pwriteAll(this.fd, new Uint8Array(words.buffer, k * 4, run * 4), RING_OFFSET + pos * 4);
      k += run;
      at = (at + run) >>> 0;
    }
    return (head + pages.length) >>> 0;
  }

  /**
   * Calls `drop` for each page appended to the ring in [cursor, head), or `dropAll` when more was
   * appended than the ring holds (also when a writer overran the entries while they were read).
   */
  readRing(cursor: number, head: number, drop: (pgno: number) => void, dropAll: () => void): void {
    const n = (head - cursor) >>> 0;
    if (n === 0) return;
    if (n > RING_CAPACITY) { dropAll(); return; }
    const words = new Uint32Array(n);
    let k = 0;
    let at = cursor;
    while (k < n) {
      const pos = at & (RING_CAPACITY - 1);
      const run = Math.min(n - k, RING_CAPACITY - pos);
      fs.readSync(this.fd, new Uint8Array(words.buffer, k * 4, run * 4), 0, run * 4, RING_OFFSET + pos * 4);
      k += run;
      at = (at + run) >>> 0;
    }
    // A writer announces the entries it will overwrite before it writes them (ringReserved, which
    // never goes back): if that reaches back to `cursor`, some of what was read may be another
    // commit's entries.
    const now = this.read();
    if (now !== null && ((now.ringReserved - cursor) >>> 0) > RING_CAPACITY) { dropAll(); return; }
    for (let j = 0; j < n; j++) drop(words[j]!);
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  /**
   * Whether a holder of the writer lock is compacting `members` now (procs/members.ts), read by
   * path: a process that is joining has no descriptor of its own yet.
   */
  static compacting(dir: string, writerAlive: (pid: number, start: number) => boolean): boolean {
    let fd: number;
    try {
      fd = fs.openSync(`${dir}/state`, 'r');
    } catch {
      return false; // no state file: nobody holds the lock over this directory
    }
    const buf = new Uint8Array(CR_SIZE);
    try {
      for (let i = 0; i < TORN_RETRIES; i++) {
        const n = fs.readSync(fd, buf, 0, CR_SIZE, 0);
        const c = decodeCommit(buf, n);
        // a holder killed while compacting leaves the flag set: then it means nothing
        if (c !== null) return (c.flags & CR_FLAG_COMPACTING) !== 0 && writerAlive(c.writerPid, c.writerStart);
        if (n < CR_SIZE || buf.every((b) => b === 0)) return false;
      }
      return true; // never whole: wait and look again
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Opens `state`, creating it whole (zeroed ring, no commit record) under a temporary name first. */
function openState(dir: string): number {
  const p = `${dir}/state`;
  try {
    return fs.openSync(p, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError(`cannot open ${p}`, e);
  }
  const tmp = `${dir}/state.${process.pid}.${Math.random().toString(36).slice(2)}`;
  const fd = fs.openSync(tmp, 'wx+');
  try {
    fs.ftruncateSync(fd, RING_OFFSET + RING_CAPACITY * 4);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, p); // appears whole, or not at all; EEXIST: another process made it first
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw storageError(`cannot create ${p}`, e);
  } finally {
    fs.unlinkSync(tmp);
  }
  return fs.openSync(p, 'r+');
}

