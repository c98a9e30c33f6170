/**
 * The lock directory `<path>-lock/` beside a database file that several processes share
 * (docs/design.md, "Several processes"): one record file per process, `p-<boot>-<pid>-<start>`,
 * written only by its owner; `members` (procs/members.ts), who they are; and `state`
 * (procs/state-file.ts), the commit record and the reuse ring.
 * All of it is read and written with positioned I/O, which goes through the page cache that
 * every process on this machine shares: a pwrite that returned is seen by every pread that
 * starts after it. Nothing here is made durable: the directory describes live processes only.
 *
 * One LockDir per thread (each has its own descriptors); the threads of a process share one
 * record, whose contents live in the lock table (sync/locks.ts) and are written under its
 * record mutex, so the record always shows what the lock table says when it is written.
 */
import * as fs from 'node:fs';
import { threadId } from 'node:worker_threads';
import { pwriteAll, pidExists, storageError } from './io.js';
import { PUB_SHOWN } from '../sync/locks.js';
import { CR_FLAG_COMPACTING, PROC_MAX_PINS, PROC_RECORD_MAX } from '../pages/layout.js';
import { decodeProc, encodeProc, type ProcPin, type ProcRecord } from './records.js';
import { StateFile } from './state-file.js';
import { liveness, ownIdentity, recordName, type ProcessIdentity } from './identity.js';
import { Members } from './members.js';
import { dieInRecord } from './test-hooks.js';
import { AlreadyOpenError, CorruptionError, DatabaseLockedError, InternalError, ReadersFullError, RotaError, StorageError } from '../errors.js';

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
  private stateFile: StateFile | null = null;
  readonly members: Members;
  private ownFd = -1;
  private readonly opened: number;
  /** Descriptors of other processes' records, by file name (kept open between scans). */
  private readonly fds = new Map<string, number>();
  /** Per record name, the `members` entry (Members.entryOf) that others() last checked its descriptor against. */
  private readonly fdEntry = new Map<string, number>();
  private readonly buf = new Uint8Array(PROC_RECORD_MAX);
  private ownSeq = 0;
  private closed = false;

  /** Whether close() ran: the record is no longer this process's to write. */
  get isClosed(): boolean {
    return this.closed;
  }

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
    this.members = new Members(this.dir);
    if (first) {
      this.opened = Date.now();
      this.ownFd = createRecord(this.dir, own, path, (fd) => {
        this.ownFd = fd;
        this.writeOwn();
      });
      try {
        this.members.join(this.myName, () => this.compactingNow());
      } catch (e) {
        fs.closeSync(this.ownFd);
        try { fs.unlinkSync(own); } catch { /* gone */ }
        throw e;
      }
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
    this.stateFile ??= new StateFile(this.dir, this.me);
  }

  /** Removes the state file and the directory (procs/leave.ts: the last process, under the writer lock, alone). */
  removeDirectory(): void {
    try { fs.unlinkSync(`${this.dir}/state`); } catch { /* already gone */ }
    try { fs.unlinkSync(this.members.path); } catch { /* already gone */ }
    // temporary files (`state.<pid>.*`, `members.<pid>.*`, `record.<pid>.*`) of processes killed while making them
    for (const name of safeList(this.dir)) {
      const m = /^(?:state|members|record)\.(\d+)\./.exec(name);
      if (m !== null && !pidExists(Number(m[1]))) {
        try { fs.unlinkSync(`${this.dir}/${name}`); } catch { /* gone */ }
      }
    }
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
    // Closed: its descriptor's number may already name another file. (An open that fails inside
    // the Environment leaves the directory there, and openShared's cleanup then unlocks and
    // leaves again: those writes must go nowhere.)
    if (this.closed) return;
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
   * Every other member's record, read now (`members` is read again each time: a process that
   * joined since the last call must be seen). Records that are gone belong to processes that
   * closed the file.
   */
  others(): OtherProcess[] {
    const names = this.members.names().sort();
    // A record's name is its process's for ever, but not its file: a process that closes the file
    // removes its record, and if it opens the file again it makes a new one under the same name,
    // then appends the name to `members` again. A descriptor kept on the old file would go on
    // reading what the process wrote last before it closed (no ticket, no pins) and miss its
    // ticket and pins for good; so a descriptor opened under an older entry is given up, and
    // the record is opened again by its name. Before its new entry is read here, the process
    // holds no ticket (it takes one only after appending) and no pin (that needs the lock).
    for (const name of names) {
      const at = this.members.entryOf(name);
      if (this.fdEntry.get(name) === at) continue;
      const fd = this.fds.get(name);
      if (fd !== undefined) {
        fs.closeSync(fd);
        this.fds.delete(name);
      }
      if (at === undefined) this.fdEntry.delete(name);
      else this.fdEntry.set(name, at);
    }
    return this.readAll(names);
  }

  /**
   * Every other record in the directory, members or not yet (a process between making its record
   * and joining `members`): for closing, which must not miss one (procs/leave.ts).
   */
  othersListed(): OtherProcess[] {
    try {
      return this.readAll(fs.readdirSync(this.dir));
    } catch (e) {
      throw storageError(`cannot list ${this.dir}`, e);
    }
  }

  private readAll(names: string[]): OtherProcess[] {
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
    for (const name of this.fdEntry.keys()) if (!seen.has(name)) this.fdEntry.delete(name);
    // A name without a record is a process that closed the file (members make their record
    // before they join), or one that has not opened it yet (listed): neither pins anything
    // before it holds the writer lock, so reread() need not look for it.
    this.listed = out.map((o) => o.name);
    return out;
  }

  /** Names of the other records that the last others() or othersListed() found (not listed again). */
  listed: string[] = [];

  /** The records named by the last others(), read again without reading `members`. */
  reread(): OtherProcess[] {
    const out: OtherProcess[] = [];
    for (const name of this.listed) {
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
      if (r === null) continue;
      // A record removed (by its process at close, or as a dead one's) may still be open here; it
      // holds nothing then. Checked only when it would hold something, to save the fstat.
      if ((r.choosing || r.ticket !== 0 || r.pins.length > 0) && fs.fstatSync(fd).nlink === 0) {
        fs.closeSync(fd);
        this.fds.delete(name);
        return null;
      }
      return r;
    }
    throw new CorruptionError(`${this.dir}/${name} never reads back whole: the lock directory is damaged (delete ${this.dir} once no process has the database open)`);
  }

  /**
   * Whether the process of `o` (a record others() returned) has left for good: its record was
   * removed (it closed the file; a descriptor kept open here still reads it) or it is dead, and
   * then its record is removed now. One fstat, and a read of /proc for a record still linked.
   */
  departed(o: OtherProcess): boolean {
    const fd = this.fds.get(o.name);
    if (fd === undefined || fs.fstatSync(fd).nlink === 0) {
      if (fd !== undefined) fs.closeSync(fd);
      this.fds.delete(o.name);
      const i = this.listed.indexOf(o.name);
      if (i >= 0) this.listed.splice(i, 1);
      return true;
    }
    if (liveness(o.record.id) !== 'dead') return false;
    this.removeDead(o.name);
    return true;
  }

  /** Removes the record of a process found dead (its name is unique to it, so this removes nothing else). */
  removeDead(name: string): void {
    const i = this.listed.indexOf(name);
    if (i >= 0) this.listed.splice(i, 1); // reread() need not look for it again
    const fd = this.fds.get(name);
    if (fd !== undefined) {
      fs.closeSync(fd);
      this.fds.delete(name);
    }
    try { fs.unlinkSync(`${this.dir}/${name}`); } catch { /* another process removed it first */ }
  }

  // ---------------------------------------------------------------- the state file

  /** The commit record and the reuse ring; attachState() first. */
  get commit(): StateFile {
    if (this.stateFile === null) throw new InternalError('the lock directory\'s state file is not open yet (attachState)');
    return this.stateFile;
  }

  /**
   * Whether the process a commit record names as its writer (`pid`, `start`) is alive, judged
   * from that process's record, which names its pid namespace (the commit record does not: a pid
   * of another namespace looked up here would name some other process, or none). No record (or
   * none readable yet) means it closed the file or was found dead. The record is read afresh by
   * name: a descriptor kept from before may be on a record that process has since replaced.
   */
  writerAlive(pid: number, start: number): boolean {
    if (pid === this.me.pid && start === this.me.start) return true;
    const name = recordName({ pid, start, boot: this.me.boot, pidNs: this.me.pidNs });
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(`${this.dir}/${name}`);
    } catch {
      return false;
    }
    const r = decodeProc(bytes, bytes.length);
    // torn (being rewritten): its process is writing it, so it is alive
    return r === null ? bytes.length > 0 : liveness(r.id) !== 'dead';
  }

  private compactingNow(): boolean {
    return StateFile.compacting(this.dir, (pid, start) => this.writerAlive(pid, start));
  }

  /** Holding the writer lock: rewrites `members` without the processes that closed the file, if it has grown large. */
  compactMembers(): void {
    if (!this.members.oversized()) return;
    const c = this.commit.read();
    if (c === null) return;
    this.commit.write({ ...c, flags: c.flags | CR_FLAG_COMPACTING });
    try {
      this.members.compact((name) => name === this.myName || fs.existsSync(`${this.dir}/${name}`));
    } finally {
      this.commit.write({ ...c, flags: c.flags & ~CR_FLAG_COMPACTING });
    }
  }

  /** Closes this thread's descriptors; `last`: the process's last thread, which removes its record. */
  close(last: boolean): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
    this.members.close();
    fs.closeSync(this.ownFd);
    this.stateFile?.close();
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
 * Creates this process's record file with its first contents already in it (`fill` writes them):
 * they go into a temporary file, which is then linked under the record's name, so that no other
 * process ever finds the name with nothing behind it. (A record file created empty and killed
 * before its first write could be judged by nobody: its name says which process, not which pid
 * namespace, so it would have kept the directory for good.) A process killed between the two
 * steps leaves only its temporary file, which the last one out removes (removeDirectory). The
 * directory is made first if needed, again if the last process removed it meanwhile.
 */
function createRecord(dir: string, own: string, path: string, fill: (fd: number) => void): number {
  const tmp = `${dir}/record.${process.pid}.${threadId}.tmp`;
  for (let attempt = 0; ; attempt++) {
    makeDirectory(dir, path);
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 100) continue;
      throw storageError(`cannot create ${tmp}`, e);
    }
    try {
      if (dieInRecord) process.kill(process.pid, 'SIGKILL');
      fill(fd);
      fs.linkSync(tmp, own);
      return fd; // the record's own file now
    } catch (e) {
      fs.closeSync(fd);
      if (e instanceof RotaError) throw e; // from fill
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new AlreadyOpenError(path, 'in another thread of this process; pass db.handle() to the worker (workerData or postMessage) and open(handle) there');
      if (code === 'ENOENT' && attempt < 100) continue;
      throw storageError(`cannot create ${own}`, e);
    } finally {
      try { fs.unlinkSync(tmp); } catch { /* gone with the directory */ }
    }
  }
}

function safeList(dir: string): string[] {
  try { return fs.readdirSync(dir); } catch { return []; }
}

function safeRead(p: string): string {
  try { return fs.readFileSync(p, 'utf8'); } catch { return ''; }
}
