/**
 * The lock directory `<path>-lock/` beside a database file that several processes share
 * (docs/design.md, "Several processes"): the file `state` (the commit record and the reuse
 * ring) and one record file per process, `p-<boot>-<pid>-<start>`, written only by its owner.
 * All of it is read and written with positioned I/O, which goes through the page cache that
 * every process on this machine shares: a pwrite that returned is seen by every pread that
 * starts after it. Nothing here is made durable: the directory describes live processes only.
 *
 * One LockDir per thread (each has its own descriptors); the threads of a process share one
 * record, whose contents live in the lock table (sync/locks.ts) and are written under its
 * record mutex, so the record always shows what the lock table says when it is written.
 */
import * as fs from 'node:fs';
import { PUB_SHOWN } from '../sync/locks.js';
import { CR_SIZE, PROC_MAX_PINS, PROC_RECORD_MAX, RING_CAPACITY, RING_OFFSET } from '../pages/layout.js';
import { decodeCommit, decodeProc, encodeCommit, encodeProc, type CommitRecord, type ProcPin, type ProcRecord } from './records.js';
import { ownIdentity, recordName, type ProcessIdentity } from './identity.js';
import { AlreadyOpenError, CorruptionError, DatabaseLockedError, ReadersFullError, StorageError } from '../errors.js';

/** How often a torn record is read again before the directory is declared damaged. */
const TORN_RETRIES = 1000;
/** How long a thread waits for its process's record mutex (held for one pwrite) before giving up. */
const RECORD_MUTEX_MS = 5000;

/**
 * What this process's record shows, and the mutex its threads write it under: the lock table
 * (sync/locks.ts) once the file is open; OpeningState while open() still decides the layout.
 */
export interface RecordState {
  readonly nRoots: number;
  lockRecord(ms: number): boolean;
  unlockRecord(): void;
  pubState(slot: number): number;
  pubVersion(slot: number): number;
  pubSince(slot: number): number;
  choosing(): boolean;
  ticket(): number;
  setTicket(choosing: boolean, ticket: number): void;
}

/** The record state of a process that is opening the file: no pins yet, one thread. */
export class OpeningState implements RecordState {
  readonly nRoots = 0;
  private c = false;
  private t = 0;
  lockRecord(): boolean { return true; }
  unlockRecord(): void {}
  pubState(): number { return 0; }
  pubVersion(): number { return 0; }
  pubSince(): number { return 0; }
  choosing(): boolean { return this.c; }
  ticket(): number { return this.t; }
  setTicket(choosing: boolean, ticket: number): void { this.c = choosing; this.t = ticket; }
}

/** Another process's record, as last read. */
export interface OtherProcess {
  name: string;
  record: ProcRecord;
}

export class LockDir {
  readonly dir: string;
  readonly me: ProcessIdentity;
  readonly myName: string;
  private stateFd = -1;
  private readonly ownFd: number;
  private readonly opened: number;
  /** Descriptors of other processes' records, by file name (kept open between scans). */
  private readonly fds = new Map<string, number>();
  private readonly buf = new Uint8Array(PROC_RECORD_MAX);
  private readonly crBuf = new Uint8Array(CR_SIZE);
  private ownSeq = 0;
  private commitSeq = 0;
  private closed = false;

  /**
   * Opens the lock directory of `path` for this thread. `first`: the first thread of this
   * process to open the file, which creates the process's record (and the directory and state
   * file if they do not exist); a thread that joins opens the record its process made.
   */
  constructor(path: string, public state: RecordState, first: boolean) {
    this.dir = `${path}-lock`;
    this.me = ownIdentity();
    this.myName = recordName(this.me);
    const own = `${this.dir}/${this.myName}`;
    if (first) {
      this.ownFd = createRecord(this.dir, own, path);
      this.opened = Date.now();
      this.writeOwn();
    } else {
      this.ownFd = fs.openSync(own, 'r+');
      this.opened = this.readOwn()?.opened ?? Date.now();
      this.attachState();
    }
  }

  /**
   * Opens `state`, creating it if there is none. The first thread of a process calls it once it
   * holds the writer lock across processes: the last process to close removes the directory
   * under that lock (procs/leave.ts), so a state file opened under it is the one everybody uses.
   */
  attachState(): void {
    if (this.stateFd < 0) this.stateFd = openState(this.dir);
  }

  /** Removes the state file and the directory (procs/leave.ts: the last process, under the writer lock, alone). */
  removeDirectory(): void {
    try { fs.unlinkSync(`${this.dir}/state`); } catch { /* already gone */ }
    this.close(true);
    try { fs.rmdirSync(this.dir); } catch { /* a process made its record meanwhile: it keeps the directory */ }
  }

  // ---------------------------------------------------------------- this process's record

  /** Rewrites this process's record from the lock table (takes the record mutex). */
  writeOwn(): void {
    this.withRecord(() => this.writeOwnLocked());
  }

  /** Runs `fn` under the record mutex of this process. */
  withRecord<T>(fn: () => T): T {
    if (!this.state.lockRecord(RECORD_MUTEX_MS)) {
      throw new StorageError(`${this.dir}: another thread of this process held the record mutex for ${RECORD_MUTEX_MS} ms (a thread terminated while writing it?)`);
    }
    try {
      return fn();
    } finally {
      this.state.unlockRecord();
    }
  }

  /** Under the record mutex: writes the record that the lock table describes now. */
  writeOwnLocked(): void {
    const pins: ProcPin[] = [];
    for (let s = 0; s < this.state.nRoots; s++) {
      if (this.state.pubState(s) === PUB_SHOWN) pins.push({ slot: s, version: this.state.pubVersion(s), since: this.state.pubSince(s) });
    }
    if (pins.length > PROC_MAX_PINS) throw new ReadersFullError(PROC_MAX_PINS);
    const n = encodeProc({ id: this.me, seq: ++this.ownSeq, choosing: this.state.choosing(), ticket: this.state.ticket(), opened: this.opened, pins }, this.buf);
    pwriteAll(this.ownFd, this.buf.subarray(0, n), 0);
  }

  private readOwn(): ProcRecord | null {
    return decodeProc(this.buf, fs.readSync(this.ownFd, this.buf, 0, PROC_RECORD_MAX, 0));
  }

  // ---------------------------------------------------------------- other processes' records

  /**
   * Every other process's record, read now (the directory is listed again each time: a process
   * that opened the file since the last call must be seen). Records that vanish while being read
   * belong to processes that closed the file.
   */
  others(): OtherProcess[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      throw storageError(`cannot list ${this.dir}`, e);
    }
    const out: OtherProcess[] = [];
    const seen = new Set<string>();
    for (const name of names) {
      if (!name.startsWith('p-') || name === this.myName) continue;
      seen.add(name);
      const record = this.read(name);
      if (record !== null) out.push({ name, record });
    }
    for (const [name, fd] of this.fds) {
      if (!seen.has(name)) {
        fs.closeSync(fd);
        this.fds.delete(name);
      }
    }
    return out;
  }

  /**
   * The records of the processes that the last others() of this thread listed, read again
   * without listing the directory (a listing costs five system calls). A record unlinked since
   * (its process closed the file) is left out: its last contents may still show pins.
   */
  othersListed(): OtherProcess[] {
    const out: OtherProcess[] = [];
    for (const [name, fd] of this.fds) {
      if (fs.fstatSync(fd).nlink === 0) continue;
      const record = this.read(name);
      if (record !== null) out.push({ name, record });
    }
    return out;
  }

  /** Reads the record `name` again; null when it is gone (its process closed the file). */
  read(name: string): ProcRecord | null {
    let fd = this.fds.get(name);
    if (fd === undefined) {
      try {
        fd = fs.openSync(`${this.dir}/${name}`, 'r');
      } catch {
        return null;
      }
      this.fds.set(name, fd);
    }
    for (let i = 0; i < TORN_RETRIES; i++) {
      const n = fs.readSync(fd, this.buf, 0, PROC_RECORD_MAX, 0);
      if (n === 0) return null; // created, not yet written: it shows nothing yet
      const r = decodeProc(this.buf, n);
      if (r !== null) return r;
    }
    throw new CorruptionError(`${this.dir}/${name} never reads back whole: the lock directory is damaged (delete ${this.dir} once no process has the database open)`);
  }

  /** Removes the record of a process found dead (its name is unique to it, so this removes nothing else). */
  removeDead(name: string): void {
    const fd = this.fds.get(name);
    if (fd !== undefined) {
      fs.closeSync(fd);
      this.fds.delete(name);
    }
    try { fs.unlinkSync(`${this.dir}/${name}`); } catch { /* another process removed it first */ }
  }

  // ---------------------------------------------------------------- the commit record and the reuse ring

  /** The commit record; null when none was ever written (a new lock directory). */
  readCommit(): CommitRecord | null {
    for (let i = 0; i < TORN_RETRIES; i++) {
      const n = fs.readSync(this.stateFd, this.crBuf, 0, CR_SIZE, 0);
      if (n === 0) return null;
      const c = decodeCommit(this.crBuf, n);
      if (c !== null) return c;
      if (this.crBuf.every((b) => b === 0)) return null; // a new state file: nothing published yet
    }
    throw new CorruptionError(`${this.dir}/state never reads back whole: the lock directory is damaged (delete ${this.dir} once no process has the database open)`);
  }

  /** Writes the commit record (the writer lock's holder only). */
  writeCommit(c: Omit<CommitRecord, 'seq' | 'writerPid' | 'writerStart'>): void {
    encodeCommit({ ...c, seq: ++this.commitSeq, writerPid: this.me.pid, writerStart: this.me.start }, this.crBuf);
    pwriteAll(this.stateFd, this.crBuf, 0);
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
      pwriteAll(this.stateFd, new Uint8Array(words.buffer, k * 4, run * 4), RING_OFFSET + pos * 4);
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
      fs.readSync(this.stateFd, new Uint8Array(words.buffer, k * 4, run * 4), 0, run * 4, RING_OFFSET + pos * 4);
      k += run;
      at = (at + run) >>> 0;
    }
    // A writer announces the entries it will overwrite before it writes them (ringReserved): if
    // that reaches back to `cursor`, some of what was read may be another commit's entries.
    const now = this.readCommit();
    if (now !== null && ((now.ringReserved - cursor) >>> 0) > RING_CAPACITY) { dropAll(); return; }
    for (let j = 0; j < n; j++) drop(words[j]!);
  }

  /** Closes this thread's descriptors; `last`: the process's last thread, which removes its record. */
  close(last: boolean): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
    fs.closeSync(this.ownFd);
    if (this.stateFd >= 0) fs.closeSync(this.stateFd);
    if (last) {
      try { fs.unlinkSync(`${this.dir}/${this.myName}`); } catch { /* already gone */ }
    }
  }
}

/**
 * Makes `<path>-lock/` if it does not exist. A plain file of that name is the lock of a rotadb
 * that allowed one process only: refused while its pid lives, removed once it is dead.
 */
function makeDirectory(dir: string, path: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.mkdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw storageError(`cannot create ${dir}: the directory of ${path} does not exist`, e);
      if (code !== 'EEXIST') throw storageError(`cannot create ${dir}`, e);
    }
    let st: fs.Stats;
    try { st = fs.statSync(dir); } catch { continue; }
    if (st.isDirectory()) return;
    const pid = Number.parseInt(safeRead(dir), 10);
    if (Number.isInteger(pid) && pid > 0 && pidExists(pid)) throw new DatabaseLockedError(path, pid);
    try { fs.unlinkSync(dir); } catch { /* someone else removed it */ }
  }
  throw new StorageError(`cannot create the lock directory ${dir}`);
}

/**
 * Creates this process's record file, making the directory first if needed (again, if the last
 * process removed it between the two steps).
 */
function createRecord(dir: string, own: string, path: string): number {
  for (let attempt = 0; ; attempt++) {
    makeDirectory(dir, path);
    try {
      return fs.openSync(own, 'wx+');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new AlreadyOpenError(path, 'in another thread of this process; pass db.handle() to the worker (workerData or postMessage) and open(handle) there');
      if (code !== 'ENOENT' || attempt >= 100) throw storageError(`cannot create ${own}`, e);
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

function pwriteAll(fd: number, b: Uint8Array, pos: number): void {
  let done = 0;
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, pos + done);
}

function safeRead(p: string): string {
  try { return fs.readFileSync(p, 'utf8'); } catch { return ''; }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function storageError(what: string, e: unknown): StorageError {
  return new StorageError(`${what}: ${(e as Error).message}`, e);
}
