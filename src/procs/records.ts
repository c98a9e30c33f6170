/**
 * The two records of the lock directory (byte layout in pages/layout.ts and docs/design.md):
 * a process's record (its identity, its writer-lock ticket, the slots it pins) and the commit
 * record (the published version, the writer's target slot, the reuse ring's head).
 *
 * Both are read while another process may be writing them, and a pread racing a pwrite can return
 * any mix of old and new bytes (measured: 0.02-0.11% of 64-byte reads under a hot writer). So both
 * carry a checksum, and a record that fails it is read again; it is never taken for another.
 */
import * as L from '../pages/layout.js';
import { checksum } from '../pages/checksum.js';
import type { ProcessIdentity } from './identity.js';

export interface ProcPin {
  slot: number;
  /** Low 32 bits of the version the slot held when the process pinned it. */
  version: number;
  /** ms since epoch when the process began pinning it. */
  since: number;
}

export interface ProcRecord {
  id: ProcessIdentity;
  seq: number;
  /** Taking a ticket for the writer lock right now (bakery doorway). */
  choosing: boolean;
  /** 0, or its ticket for the writer lock (waiting for it, or holding it). */
  ticket: number;
  /** ms since epoch when it opened the file. */
  opened: number;
  pins: ProcPin[];
}

export interface CommitRecord {
  seq: number;
  txnId: number;
  slot: number;
  /** The slot the writer holding the lock will write, or -1. */
  target: number;
  ringHead: number;
  /**
   * Entries in [ringHead, ringReserved) may be being written by the writer: announced before it
   * writes them, and never lowered (a published record reserves some for the next commit).
   */
  ringReserved: number;
  /** CR_FLAG_*. */
  flags: number;
  /** The process that wrote the record (for `target`: the writer). */
  writerPid: number;
  writerStart: number;
}

/** Encodes `r` into `buf` (at least PROC_RECORD_MAX bytes); returns the bytes to write. */
export function encodeProc(r: ProcRecord, buf: Uint8Array): number {
  const v = view(buf);
  const end = L.PR_HEADER + L.PR_PIN * r.pins.length;
  buf.fill(0, 0, end);
  v.setUint32(L.PR_MAGIC, L.PROC_MAGIC, true);
  v.setUint32(L.PR_SEQ, r.seq >>> 0, true);
  v.setUint32(L.PR_PID, r.id.pid, true);
  v.setFloat64(L.PR_START, r.id.start, true);
  buf.set(bootBytes(r.id.boot), L.PR_BOOT);
  v.setUint32(L.PR_CHOOSING, r.choosing ? 1 : 0, true);
  v.setUint32(L.PR_COUNT, r.pins.length, true);
  v.setFloat64(L.PR_TICKET, r.ticket, true);
  v.setFloat64(L.PR_OPENED, r.opened, true);
  v.setFloat64(L.PR_PID_NS, r.id.pidNs, true);
  let o = L.PR_HEADER;
  for (const p of r.pins) {
    v.setUint32(o + L.PR_PIN_SLOT, p.slot, true);
    v.setUint32(o + L.PR_PIN_VERSION, p.version >>> 0, true);
    v.setFloat64(o + L.PR_PIN_SINCE, p.since, true);
    o += L.PR_PIN;
  }
  v.setUint32(L.PR_CHECKSUM, checksum(buf, 4, end, L.PROC_SEED), true);
  return end;
}

/** Decodes the first `n` bytes read from a record file; null when they are not a whole record. */
export function decodeProc(buf: Uint8Array, n: number): ProcRecord | null {
  if (n < L.PR_HEADER) return null;
  const v = view(buf);
  if (v.getUint32(L.PR_MAGIC, true) !== L.PROC_MAGIC) return null;
  const count = v.getUint32(L.PR_COUNT, true);
  if (count > L.PROC_MAX_PINS) return null;
  const end = L.PR_HEADER + L.PR_PIN * count;
  if (end > n || v.getUint32(L.PR_CHECKSUM, true) !== checksum(buf, 4, end, L.PROC_SEED)) return null;
  const pins: ProcPin[] = [];
  for (let o = L.PR_HEADER; o < end; o += L.PR_PIN) {
    pins.push({ slot: v.getUint32(o + L.PR_PIN_SLOT, true), version: v.getUint32(o + L.PR_PIN_VERSION, true), since: v.getFloat64(o + L.PR_PIN_SINCE, true) });
  }
  return {
    id: {
      pid: v.getUint32(L.PR_PID, true),
      start: v.getFloat64(L.PR_START, true),
      boot: Buffer.from(buf.subarray(L.PR_BOOT, L.PR_BOOT + 16)).toString('hex'),
      pidNs: v.getFloat64(L.PR_PID_NS, true),
    },
    seq: v.getUint32(L.PR_SEQ, true),
    choosing: v.getUint32(L.PR_CHOOSING, true) !== 0,
    ticket: v.getFloat64(L.PR_TICKET, true),
    opened: v.getFloat64(L.PR_OPENED, true),
    pins,
  };
}

export function encodeCommit(c: CommitRecord, buf: Uint8Array): void {
  const v = view(buf);
  buf.fill(0, 0, L.CR_SIZE);
  v.setUint32(L.CR_MAGIC, L.LOCK_STATE_MAGIC, true);
  v.setUint32(L.CR_SEQ, c.seq >>> 0, true);
  v.setUint32(L.CR_TXN_LO, c.txnId >>> 0, true);
  v.setUint32(L.CR_TXN_HI, Math.floor(c.txnId / 0x100000000), true);
  v.setUint32(L.CR_SLOT, c.slot, true);
  v.setUint32(L.CR_TARGET, c.target < 0 ? L.CR_NO_TARGET : c.target, true);
  v.setUint32(L.CR_RING_HEAD, c.ringHead >>> 0, true);
  v.setUint32(L.CR_RING_RESERVED, c.ringReserved >>> 0, true);
  v.setUint32(L.CR_FLAGS, c.flags, true);
  v.setUint32(L.CR_WRITER_PID, c.writerPid, true);
  v.setFloat64(L.CR_WRITER_START, c.writerStart, true);
  v.setUint32(L.CR_CHECKSUM, checksum(buf, 4, L.CR_SIZE, L.LOCK_STATE_SEED), true);
}

/** null: not a whole commit record (torn by a concurrent write, or never written). */
export function decodeCommit(buf: Uint8Array, n: number): CommitRecord | null {
  if (n < L.CR_SIZE) return null;
  const v = view(buf);
  if (v.getUint32(L.CR_MAGIC, true) !== L.LOCK_STATE_MAGIC) return null;
  if (v.getUint32(L.CR_CHECKSUM, true) !== checksum(buf, 4, L.CR_SIZE, L.LOCK_STATE_SEED)) return null;
  const target = v.getUint32(L.CR_TARGET, true);
  return {
    seq: v.getUint32(L.CR_SEQ, true),
    txnId: v.getUint32(L.CR_TXN_LO, true) + v.getUint32(L.CR_TXN_HI, true) * 0x100000000,
    slot: v.getUint32(L.CR_SLOT, true),
    target: target === L.CR_NO_TARGET ? -1 : target,
    ringHead: v.getUint32(L.CR_RING_HEAD, true),
    ringReserved: v.getUint32(L.CR_RING_RESERVED, true),
    flags: v.getUint32(L.CR_FLAGS, true),
    writerPid: v.getUint32(L.CR_WRITER_PID, true),
    writerStart: v.getFloat64(L.CR_WRITER_START, true),
  };
}

let lastBoot = '';
let lastBootBytes = new Uint8Array(16);

/** The 16 bytes of a boot id (one per machine boot: parsed once). */
function bootBytes(boot: string): Uint8Array {
  if (boot !== lastBoot) {
    lastBootBytes = Buffer.from(boot.padEnd(32, '0').slice(0, 32), 'hex');
    lastBoot = boot;
  }
  return lastBootBytes;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}
