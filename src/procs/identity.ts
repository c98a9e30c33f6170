/**
 * Who a process is, and whether it is still alive (docs/design.md, "Several processes").
 *
 * A pid alone names a process only while it lives: pid_max is 32768 here, so a dead holder's pid
 * is soon someone else's. A process is (pid, start time, boot id): the start time is field 22 of
 * /proc/<pid>/stat, in clock ticks since boot, fixed for the life of the process; the boot id
 * tells this boot from an earlier one. Pids mean something only inside one pid namespace, so a
 * record also carries the namespace's inode, and a record of another namespace is never judged.
 *
 * "Dead" is final: a process found dead stays dead (its identity is never reused), so a decision
 * taken on it cannot go stale, however long the decider stalls before acting on it. Nothing is
 * ever judged on time alone: a live process that stopped making progress stays alive.
 */
import * as fs from 'node:fs';
import { UnsupportedPlatformError } from '../errors.js';

export interface ProcessIdentity {
  pid: number;
  /** Clock ticks since boot when the process started. */
  start: number;
  /** /proc/sys/kernel/random/boot_id, 32 hex digits. */
  boot: string;
  /** Inode of the process's pid namespace. */
  pidNs: number;
}

export type Liveness = 'alive' | 'dead' | 'unknown';

let own: ProcessIdentity | undefined;

/** Whether this system has what the multi-process protocol needs (Linux with /proc mounted). */
export function canShareAcrossProcesses(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    ownIdentity();
    return true;
  } catch {
    return false;
  }
}

/** This process's identity (read once: it does not change while the process lives). */
export function ownIdentity(): ProcessIdentity {
  if (own !== undefined) return own;
  const stat = readStat('self');
  if (stat === null) throw new UnsupportedPlatformError('/proc/self/stat cannot be read: several processes on one file need Linux with /proc mounted');
  own = { pid: process.pid, start: stat.start, boot: bootId(), pidNs: pidNamespace('self') };
  return own;
}

/**
 * Whether the process `id` names is alive: 'unknown' when it lives in another pid namespace (its
 * pid cannot be looked up from here); a process of an earlier boot is dead. A zombie (killed, not
 * yet reaped by its parent) is dead: it runs no code and holds nothing.
 */
export function liveness(id: ProcessIdentity): Liveness {
  const me = ownIdentity();
  if (id.boot !== me.boot) return 'dead';
  if (id.pidNs !== me.pidNs) return 'unknown';
  const stat = readStat(String(id.pid));
  if (stat === null || stat.start !== id.start) return 'dead';
  return stat.state === 'Z' || stat.state === 'X' ? 'dead' : 'alive';
}

/** A record's file name: unique per process for ever (boot, pid, start). */
export function recordName(id: ProcessIdentity): string {
  return `p-${id.boot.slice(0, 12)}-${id.pid}-${id.start}`;
}

/** The state letter and the start time of /proc/<pid>/stat, or null when there is no such process. */
function readStat(pid: string): { state: string; start: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = Number(rest[19]); // field 22; rest[0] is field 3
  if (!Number.isSafeInteger(start)) return null;
  return { state: rest[0]!, start };
}

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim().replace(/-/g, '');
  } catch {
    throw new UnsupportedPlatformError('/proc/sys/kernel/random/boot_id cannot be read: several processes on one file need Linux with /proc mounted');
  }
}

function pidNamespace(pid: string): number {
  try {
    const m = /\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${pid}/ns/pid`));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // no namespaces in this kernel: every process is in the one there is
  }
}
