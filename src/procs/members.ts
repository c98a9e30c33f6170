/**
 * `members`: who takes part in the writer lock (docs/design.md, "Several processes: members").
 *
 * The bakery lock must read the record of every process that may hold a ticket, at each of its
 * two steps; listing the directory for that costs about 18 us here, twice per commit. Instead a
 * process, once it has made its record and before it takes any ticket, appends its name to
 * `members` with O_APPEND: appends to one file are atomic with respect to each other on a local
 * file system, so no two joiners overwrite each other and no lock is needed. A reader reads the
 * whole file (one pread); names whose record file is gone are processes that closed the file.
 *
 * The file only grows, so the holder of the writer lock rewrites it from time to time with the
 * names whose records still exist (compact), replacing it by rename. An append that lands in the
 * old file after the rewrite read it would be lost, so a joiner checks, after appending, that the
 * commit record's COMPACTING flag is clear and then that the path still names the file it
 * appended to; otherwise it appends again (a duplicate name is harmless). Why that suffices: if
 * the flag was clear when the joiner looked, either the rewrite had not begun (the append, before,
 * was read by it) or it had ended (then the path names the new file, and an append to the old
 * one fails the check).
 *
 * mark() and unchangedSince() let the writer lock see cheaply that nobody joined since it last
 * read the file (procs/bakery.ts, the fast path): the file only grows while the path names it,
 * so a one-byte pread at the size it had returns nothing until someone appends.
 */
import * as fs from 'node:fs';
import { MEMBER_MAGIC, MEMBER_NAME, MEMBER_SEED, MEMBER_SIZE, MEMBERS_COMPACT_AT } from '../pages/layout.js';
import { checksum } from '../pages/checksum.js';
import { StorageError } from '../errors.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Where the file stood at a names(): which descriptor (generation) and the size that was read. */
export interface MembersMark {
  readonly gen: number;
  readonly size: number;
}

export class Members {
  readonly path: string;
  private fd = -1;
  private ino = -1;
  private buf = new Uint8Array(MEMBER_SIZE * 64);
  /** Counts the descriptors opened on the file: a mark of another generation says nothing about this one. */
  private gen = 0;
  private last: MembersMark | null = null;
  /** Per name, where its last entry was at the last names() (a name appended again has a new one). */
  private entries = new Map<string, number>();
  private readonly probe = new Uint8Array(1);

  constructor(dir: string) {
    this.path = `${dir}/members`;
  }

  /** Appends `name` so that every later reader sees it (see the file comment). `compacting()` reads the flag. */
  join(name: string, compacting: () => boolean): void {
    const entry = encodeMember(name);
    for (let attempt = 0; ; attempt++) {
      if (attempt > 10_000) throw new StorageError(`${this.path}: could not join (the lock directory keeps changing)`);
      let fd: number;
      try {
        fd = fs.openSync(this.path, fs.constants.O_WRONLY | fs.constants.O_APPEND);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new StorageError(`cannot open ${this.path}: ${(e as Error).message}`, e);
        if (this.create(entry)) return; // the first member: the file appeared with our entry in it
        continue;
      }
      try {
        if (fs.writeSync(fd, entry) !== entry.length) throw new StorageError(`${this.path}: a short append (is the disk full?)`);
        if (compacting()) {
          Atomics.wait(sleeper, 0, 0, 1);
          continue;
        }
        if (inode(this.path) === fs.fstatSync(fd).ino) return;
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  /** The names of every member, as the file says now (duplicates removed). */
  names(): string[] {
    const size = this.reopen();
    this.last = null;
    if (size < 0) {
      this.entries = new Map();
      return [];
    }
    if (this.buf.length < size) this.buf = new Uint8Array(size * 2);
    const n = fs.readSync(this.fd, this.buf, 0, size, 0);
    const out = new Set<string>();
    const entries = new Map<string, number>();
    let whole = n === size;
    for (let o = 0; o + MEMBER_SIZE <= n;) {
      const name = decodeMember(this.buf.subarray(o, o + MEMBER_SIZE));
      if (name !== null) {
        out.add(name);
        entries.set(name, this.gen * 2 ** 32 + o);
        o += MEMBER_SIZE;
      } else {
        // an append still being written (a joiner not yet in), or a short one (a full disk):
        // the next whole entry starts at some later multiple of 4
        o += 4;
        whole = false;
      }
    }
    // what was read is [0, size) of this descriptor's file, so any later append ends past it; a
    // read with a piece it could not decode gives no mark (that piece may become a joiner's entry
    // without the file growing again)
    if (whole && n % MEMBER_SIZE === 0) this.last = { gen: this.gen, size };
    this.entries = entries;
    return [...out];
  }

  /**
   * Where the last entry of `name` was at the last names() (undefined: none): another value
   * than before means the name was appended again (or the file rewritten), which is what a
   * process does each time it opens the file, after making its record file anew.
   */
  entryOf(name: string): number | undefined {
    return this.entries.get(name);
  }

  /** Where the file stood at the last names() (null: no file then). */
  mark(): MembersMark | null {
    return this.last;
  }

  /**
   * Whether nothing was appended to the file since `mark` was taken: the same descriptor, and a
   * pread at the size it had then finds no byte. One pread, no stat; what it cannot see is the
   * path being given to another file (compact, or the directory removed and made again), which
   * only a holder of the writer lock does, and that holder joined by appending to this file
   * first, or was listed when the mark was taken (procs/bakery.ts).
   */
  unchangedSince(mark: MembersMark): boolean {
    return mark.gen === this.gen && this.fd >= 0 && fs.readSync(this.fd, this.probe, 0, 1, mark.size) === 0;
  }

  /** Whether the file holds so many entries that the lock's holder should compact it. */
  oversized(): boolean {
    return this.reopen() >= MEMBERS_COMPACT_AT * MEMBER_SIZE;
  }

  /**
   * Rewrites the file with the members `keep` says still exist. The writer lock's holder only,
   * with the COMPACTING flag set around the call.
   */
  compact(keep: (name: string) => boolean): void {
    const live = this.names().filter(keep);
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const name of live) fs.writeSync(fd, encodeMember(name));
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.path);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  /** Makes the file with `entry` as its first entry, unless it exists (then false: append to it). */
  private create(entry: Uint8Array): boolean {
    const tmp = `${this.path}.${process.pid}.new`;
    fs.writeFileSync(tmp, entry);
    try {
      fs.linkSync(tmp, this.path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new StorageError(`cannot create ${this.path}: ${(e as Error).message}`, e);
    } finally {
      fs.unlinkSync(tmp);
    }
  }

  /** Keeps `fd` on the file the path names now; returns its size, or -1 when there is none yet. */
  private reopen(): number {
    const st = fs.statSync(this.path, { throwIfNoEntry: false });
    if (st === undefined) {
      this.close();
      return -1;
    }
    if (st.ino !== this.ino || this.fd < 0) {
      this.close();
      try {
        this.fd = fs.openSync(this.path, 'r');
      } catch {
        return -1;
      }
      this.gen++;
      this.ino = fs.fstatSync(this.fd).ino;
      if (this.ino !== st.ino) return this.reopen(); // replaced between the two calls
    }
    return st.size;
  }
}

function inode(path: string): number {
  return fs.statSync(path, { throwIfNoEntry: false })?.ino ?? -1;
}

function encodeMember(name: string): Uint8Array {
  const b = new Uint8Array(MEMBER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(4, MEMBER_MAGIC, true);
  b.set(Buffer.from(name, 'latin1').subarray(0, MEMBER_SIZE - MEMBER_NAME), MEMBER_NAME);
  v.setUint32(0, checksum(b, 4, MEMBER_SIZE, MEMBER_SEED), true);
  return b;
}

function decodeMember(b: Uint8Array): string | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(4, true) !== MEMBER_MAGIC || v.getUint32(0, true) !== checksum(b, 4, MEMBER_SIZE, MEMBER_SEED)) return null;
  const raw = b.subarray(MEMBER_NAME);
  const end = raw.indexOf(0);
  return Buffer.from(end < 0 ? raw : raw.subarray(0, end)).toString('latin1');
}
