/**
 * The records of the lock directory (src/procs/records.ts): encode/decode round trips, any single
 * flipped bit rejected, a record rewritten by another process in a hot loop read in a hot loop
 * (torn reads rejected, never misread), and records of another pid namespace, whose owner cannot
 * be judged from here (liveness 'unknown') and so is never taken for dead.
 */
import * as fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { decodeCommit, decodeProc, encodeCommit, encodeProc, type CommitRecord, type ProcRecord } from '../../src/procs/records.js';
import { liveness, ownIdentity, recordName, type ProcessIdentity } from '../../src/procs/identity.js';
import { Members } from '../../src/procs/members.js';
import { CR_SIZE, PROC_MAX_PINS, PROC_RECORD_MAX } from '../../src/pages/layout.js';
import { expectClean, openFile, tempDir, tempPath, track } from '../helpers/db.js';
import { adopt, childrenDir, Lines, Peer, peerPath, startPeer } from './children/drive.js';

const me = ownIdentity();
const OPENED = 1_700_000_000_000; // children/record-writer.mjs
const HOT_MS = 2_000;
/** Whether this process may make a pid namespace (root, util-linux's unshare). */
const canUnshare = spawnSync('unshare', ['--pid', '--fork', '--kill-child', 'true']).status === 0;
/** A pid no process has here (above pid_max), in a namespace that is not ours. */
const FOREIGN: ProcessIdentity = { pid: 77_777, start: 12_345, boot: me.boot, pidNs: me.pidNs + 1 };

function sample(pins: number, over: Partial<ProcRecord> = {}): ProcRecord {
  return {
    id: { pid: 4_000_000_000, start: 987_654_321_012, boot: me.boot, pidNs: 4_026_531_836 },
    seq: 0xfffffffe, choosing: true, ticket: 2 ** 40 + 3, opened: Date.now(),
    pins: Array.from({ length: pins }, (_, k) => ({ slot: k, version: (0x9e3779b1 * (k + 1)) >>> 0, since: Date.now() - k })),
    ...over,
  };
}

function flips(bytes: Uint8Array, n: number, decode: (b: Uint8Array, n: number) => unknown): number {
  let accepted = 0;
  for (let at = 0; at < n; at++) {
    for (const mask of [1, 2, 4, 8, 16, 32, 64, 128, 0xff]) {
      const b = bytes.slice();
      b[at]! ^= mask;
      if (decode(b, n) !== null) accepted++;
    }
  }
  return accepted;
}

describe('record codec', () => {
  it.each([0, 1, 7, PROC_MAX_PINS])('a process record with %i pins round-trips', (pins) => {
    const buf = new Uint8Array(PROC_RECORD_MAX);
    const r = sample(pins, { choosing: pins % 2 === 0, ticket: pins === 0 ? 0 : 2 ** 40 + 3 });
    const n = encodeProc(r, buf);
    expect(n).toBeLessThanOrEqual(PROC_RECORD_MAX);
    expect(decodeProc(buf, n)).toEqual(r);
    expect(decodeProc(buf, n - 4)).toBeNull(); // a short read
    expect(decodeProc(new Uint8Array(PROC_RECORD_MAX), n)).toBeNull(); // a file created, never written
  });

  it('every single flipped bit or byte of a process record or commit record is rejected', () => {
    const buf = new Uint8Array(PROC_RECORD_MAX);
    const n = encodeProc(sample(5), buf);
    expect(flips(buf, n, decodeProc)).toBe(0);
    const c: CommitRecord = { seq: 9, txnId: 2 ** 33 + 17, slot: 3, target: 1, ringHead: 0xffffff00, ringReserved: 0xffffff40, writerPid: 31_999, writerStart: 5_555_555, flags: 1 };
    const cb = new Uint8Array(CR_SIZE);
    encodeCommit(c, cb);
    expect(decodeCommit(cb, CR_SIZE)).toEqual(c);
    expect(flips(cb, CR_SIZE, decodeCommit)).toBe(0);
    encodeCommit({ ...c, target: -1 }, cb);
    expect(decodeCommit(cb, CR_SIZE)!.target).toBe(-1);
  });
});

describe('a record rewritten by another process in a hot loop', () => {
  it(`is read for ${HOT_MS} ms: torn reads are rejected, every accepted read is one whole record`, async () => {
    const file = path.join(tempDir(), 'p-record');
    fs.writeFileSync(file, '');
    const child = adopt(spawn(process.execPath, [path.join(childrenDir, 'record-writer.mjs'), file], { stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(await new Lines(child).next()).toBe('ready');

    const fd = fs.openSync(file, 'r');
    const buf = new Uint8Array(PROC_RECORD_MAX);
    let reads = 0;
    let rejected = 0;
    const misreads: string[] = [];
    const seqs = new Set<number>();
    const sizes = new Set<number>();
    // HOT_MS, and longer while the writer (on a loaded machine) has not got far
    const end = Date.now() + HOT_MS;
    const limit = end + 20_000;
    while ((Date.now() < end || seqs.size < 2_000) && Date.now() < limit) {
      for (let i = 0; i < 100; i++) {
        reads++;
        const r = decodeProc(buf, fs.readSync(fd, buf, 0, PROC_RECORD_MAX, 0));
        if (r === null) { rejected++; continue; }
        const s = r.seq;
        const whole = r.id.pid === child.pid && r.id.boot === me.boot && r.opened === OPENED && r.ticket === s
          && r.choosing === (s % 2 === 1) && r.pins.length === 1 + (s % 64)
          && r.pins.every((p, k) => p.slot === k && p.version === s && p.since === 2 * s);
        if (!whole && misreads.length < 5) misreads.push(JSON.stringify(r));
        seqs.add(s);
        sizes.add(r.pins.length);
      }
    }
    fs.closeSync(fd);
    child.kill('SIGKILL');
    console.log(`torn-record hot loop: ${reads} reads, ${rejected} rejected (torn), ${reads - rejected} accepted, ${seqs.size} distinct records, ${misreads.length} misread`);
    expect(misreads).toEqual([]);
    expect(reads - rejected).toBeGreaterThan(1_000);
    expect(seqs.size, 'the writer did not run alongside the reads').toBeGreaterThanOrEqual(2_000);
    expect(sizes.size).toBeGreaterThan(10); // records of many lengths, each over the tail of longer ones
  });
});

describe('a record of another pid namespace', () => {
  function plant(file: string, id: ProcessIdentity, ticket: number, pins: ProcRecord['pins'] = []): string {
    const buf = new Uint8Array(PROC_RECORD_MAX);
    const n = encodeProc({ id, seq: 1, choosing: false, ticket, opened: Date.now(), pins }, buf);
    fs.mkdirSync(`${file}-lock`, { recursive: true });
    const p = path.join(`${file}-lock`, recordName(id));
    fs.writeFileSync(p, buf.subarray(0, n));
    new Members(`${file}-lock`).join(recordName(id), () => false); // as its process would, before taking a ticket
    return p;
  }

  function timedCode(fn: () => unknown): { code?: string; message: string; ms: number } {
    const t0 = Date.now();
    try { fn(); } catch (e) { return { code: (e as { code?: string }).code, message: String((e as Error).message), ms: Date.now() - t0 }; }
    throw new Error('expected an error');
  }

  it('is judged unknown, whatever its pid (never dead, never alive)', () => {
    expect(liveness(me)).toBe('alive');
    expect(liveness({ ...me, pidNs: me.pidNs + 1 })).toBe('unknown'); // our own pid, seen from elsewhere
    expect(liveness(FOREIGN)).toBe('unknown'); // a pid that does not exist here
    expect(liveness({ ...FOREIGN, pidNs: me.pidNs })).toBe('dead');
  });

  it('holding a ticket, it blocks open() until ROTA_WRITE_TIMEOUT naming its pid', () => {
    const file = tempPath();
    const rec = plant(file, FOREIGN, 1);
    const e = timedCode(() => open(file, { writeTimeoutMs: 300 }));
    expect(e.code).toBe('ROTA_WRITE_TIMEOUT');
    expect(e.message).toContain(`process ${FOREIGN.pid}`);
    expect(e.ms).toBeGreaterThanOrEqual(295);
    expect(e.ms).toBeLessThan(3_000);
    expect(fs.readdirSync(`${file}-lock`).sort()).toEqual(['members', path.basename(rec)]); // ours withdrawn, its kept
    fs.unlinkSync(rec);
    const db = openFile(file);
    db.putSync('k', 1);
    expectClean(db);
  });

  it('holding a ticket, it blocks a write until ROTA_WRITE_TIMEOUT naming its pid; the file stays usable', async () => {
    const file = tempPath();
    const db = track(open(file, { writeTimeoutMs: 300 }));
    db.putSync('k', 1);
    const rec = plant(file, FOREIGN, 1);
    const e = timedCode(() => db.putSync('k', 2));
    expect(e.code).toBe('ROTA_WRITE_TIMEOUT');
    expect(e.message).toContain(`process ${FOREIGN.pid}`);
    expect(e.ms).toBeGreaterThanOrEqual(295);
    expect(e.ms).toBeLessThan(3_000);
    expect(fs.existsSync(rec)).toBe(true);
    expect(db.get('k')).toBe(1);

    fs.unlinkSync(rec);
    db.putSync('k', 3);
    expect(db.get('k')).toBe(3);
    // without a ticket it blocks nobody, but it is not taken for dead: close leaves it, and the directory
    plant(file, FOREIGN, 0);
    db.putSync('k', 4);
    expectClean(db);
    await db.close();
    expect(fs.readdirSync(`${file}-lock`).sort()).toEqual(['members', recordName(FOREIGN), 'state']);
  });

  it('pinning the version a writer must replace, it holds that writer until ROTA_WRITE_TIMEOUT naming its pid', async () => {
    const file = tempPath();
    const db = track(open(file, { nRoots: 2, writeTimeoutMs: 300 }));
    db.putSync('k', 1);
    const cb = new Uint8Array(CR_SIZE);
    const fd = fs.openSync(`${file}-lock/state`, 'r');
    const c = decodeCommit(cb, fs.readSync(fd, cb, 0, CR_SIZE, 0))!;
    fs.closeSync(fd);
    const rec = plant(file, FOREIGN, 0, [{ slot: c.slot, version: c.txnId >>> 0, since: Date.now() }]);
    db.putSync('k', 2); // the other slot: nobody pins it
    const e = timedCode(() => db.putSync('k', 3)); // the slot of version c.txnId, pinned
    expect(e.code).toBe('ROTA_WRITE_TIMEOUT');
    expect(e.message).toContain(`process ${FOREIGN.pid}`);
    expect(e.ms).toBeGreaterThanOrEqual(295);
    expect(e.ms).toBeLessThan(3_000);
    fs.unlinkSync(rec);
    db.putSync('k', 3);
    expect(db.get('k')).toBe(3);
    expectClean(db);
  });

  it.skipIf(!canUnshare)('of a real process (unshare --pid): shared as any; its writer lock is never broken, even once it is dead', async () => {
    const file = tempPath();
    const db = track(open(file, { writeTimeoutMs: 300 }));
    db.putSync('ours', 1);
    const ns = adopt(spawn('unshare', ['--pid', '--fork', '--kill-child', process.execPath, peerPath], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const peer = new Peer(ns);
    expect((await peer.answer()).pid).toBe(1); // pid 1 of its own namespace
    await peer.call('open', { path: file });
    expect(await peer.call('get', { key: 'ours' })).toBe(1);
    await peer.call('put', { key: 'theirs', value: 2 });
    await new Promise((r) => setImmediate(r));
    expect(db.get('theirs')).toBe(2);
    const name = fs.readdirSync(`${file}-lock`).find((n) => n.startsWith('p-') && n !== recordName(me))!;
    const b = new Uint8Array(fs.readFileSync(path.join(`${file}-lock`, name)));
    const theirs = decodeProc(b, b.length)!;
    expect(theirs.id.pidNs).not.toBe(me.pidNs);
    expect(liveness(theirs.id)).toBe('unknown');

    await peer.call('beginWrite', { key: 'theirs', value: 3 });
    const hostPid = Number(fs.readFileSync(`/proc/${ns.pid}/task/${ns.pid}/children`, 'latin1').trim());
    expect(timedCode(() => db.putSync('ours', 2)).message).toContain('process 1');
    await peer.kill(); // --kill-child: its child goes too
    for (let i = 0; fs.existsSync(`/proc/${hostPid}`); i++) {
      expect(i, 'the namespaced child outlived its parent').toBeLessThan(500);
      await new Promise((r) => setTimeout(r, 10));
    }
    // dead now, but nothing here can tell: its ticket stands until its record is removed by hand
    const e = timedCode(() => db.putSync('ours', 2));
    expect(e.code).toBe('ROTA_WRITE_TIMEOUT');
    expect(e.message).toContain('process 1');
    fs.unlinkSync(path.join(`${file}-lock`, name));
    db.putSync('ours', 2);
    expect(db.get('theirs')).toBe(2);
    expectClean(db);
  });

  // Serial mode (nRoots 1): a writer targets the slot readers use, and a reader that finds it
  // targeted waits while the writer lives; its liveness is judged by its record.
  async function serialRead(peer: Peer): Promise<{ code?: string; ms: number; file: string }> {
    const file = tempPath();
    const db = track(open(file, { nRoots: 1, writeTimeoutMs: 300 }));
    db.putSync('a', 1);
    await peer.call('open', { path: file, options: { nRoots: 1 } });
    await peer.call('beginWrite', { key: 'a', value: 2 });
    const t0 = Date.now();
    try {
      db.beginRead().end();
      return { ms: Date.now() - t0, file };
    } catch (e) {
      return { code: (e as { code?: string }).code, ms: Date.now() - t0, file };
    } finally {
      await peer.kill();
    }
  }

  it.skipIf(!canUnshare)('serial mode: a writer of another namespace holding the only slot makes a reader wait, as one of ours does', async () => {
    const local = await serialRead(await startPeer());
    expect(local.code).toBe('ROTA_READ_TIMEOUT');
    const ns = new Peer(adopt(spawn('unshare', ['--pid', '--fork', '--kill-child', process.execPath, peerPath], { stdio: ['pipe', 'pipe', 'pipe'] })));
    await ns.answer();
    const foreign = await serialRead(ns);
    expect(foreign.code, 'its pid was looked up in our namespace, where it names another process').toBe('ROTA_READ_TIMEOUT');
    expect(foreign.ms).toBeGreaterThanOrEqual(295);
    // its record stands (it cannot be judged from here) until removed by hand; then readers go on
    for (const n of fs.readdirSync(`${foreign.file}-lock`)) if (n.startsWith('p-') && n !== recordName(me)) fs.unlinkSync(path.join(`${foreign.file}-lock`, n));
  });
});
