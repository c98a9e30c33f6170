/**
 * The writer lock's fast path (procs/bakery.ts, docs/design.md "The fast path"): a process that
 * found nobody else in the lock directory takes the lock with one record write and one pread of
 * `members`, and goes the long way (the bakery's doorway) as soon as anybody joined since. Here:
 * that the fast path is taken when alone; that a process joining after it (choosing, or holding
 * a ticket) is waited for, not run over, both on the Bakery and between real processes whose
 * transactions are critical sections; the control, a fast path that skips its check
 * (ROTADB_TEST_SKIP_JOIN_CHECK), which must let two holders in; and that the records of dead
 * processes do not keep a survivor on the long way. Last, the reuse ring's standing reservation
 * (procs/process-writer.ts), which spares most commits their reservation write.
 */
import * as fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { Bakery } from '../../src/procs/bakery.js';
import { LockDir, OpeningState } from '../../src/procs/lock-dir.js';
import { Members } from '../../src/procs/members.js';
import { decodeCommit, encodeProc } from '../../src/procs/records.js';
import { StateFile } from '../../src/procs/state-file.js';
import { liveness, ownIdentity, recordName, type ProcessIdentity } from '../../src/procs/identity.js';
import { CR_SIZE, PROC_RECORD_MAX, RING_CAPACITY } from '../../src/pages/layout.js';
import { expectClean, tempPath, track } from '../helpers/db.js';
import { adopt, childrenDir, Lines } from './children/drive.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number): void => { Atomics.wait(sleeper, 0, 0, ms); };

/** The identity of a live process (a `sleep` child) or of a dead one (a child that has exited). */
function identityOf(pid: number): ProcessIdentity {
  const t = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const start = Number(t.slice(t.lastIndexOf(')') + 2).split(' ')[19]);
  const me = ownIdentity();
  return { pid, start, boot: me.boot, pidNs: me.pidNs };
}

/** Makes a record for `id` and joins it to `members`, as a process that opens the file does first. */
function join(dir: string, id: ProcessIdentity, choosing: boolean, ticket: number): string {
  const buf = new Uint8Array(PROC_RECORD_MAX);
  const n = encodeProc({ id, seq: 1, choosing, ticket, opened: Date.now(), pins: [] }, buf);
  const name = recordName(id);
  fs.writeFileSync(path.join(dir, name), buf.subarray(0, n));
  new Members(dir).join(name, () => false);
  return name;
}

/** A lock directory with this process's record, as open() makes it, and a bakery over it. */
function lockDir(file: string): { dir: LockDir; bakery: Bakery } {
  const dir = new LockDir(file, new OpeningState(), true);
  dir.attachState();
  return { dir, bakery: new Bakery(dir) };
}

describe('the writer lock\'s fast path', () => {
  it('is taken once a look found nobody else, and a process that joins then is waited for (choosing, or with a ticket)', () => {
    const file = tempPath();
    const { dir, bakery } = lockDir(file);
    try {
      expect(bakery.lock(Date.now() + 1000, sleep)).toBe(true);
      expect(bakery.fast).toBe(false); // the first lock goes the long way: it had not looked yet
      bakery.unlock();
      expect(bakery.lock(Date.now() + 1000, sleep)).toBe(true);
      expect(bakery.fast).toBe(true);
      bakery.unlock();

      // a live process joins and raises `choosing`: whatever ticket it then takes, it may come first
      const live = adopt(spawn('sleep', ['30'], { stdio: 'ignore' }));
      const id = identityOf(live.pid!);
      expect(liveness(id)).toBe('alive');
      const name = join(dir.dir, id, true, 0);
      expect(bakery.lock(Date.now() + 200, sleep)).toBe(false);
      expect(bakery.fast).toBe(false);
      expect(bakery.blocker?.record.id.pid).toBe(live.pid);

      // the same process holding ticket 1 (it read ours as 0): it comes first; the fast path, which
      // also announces ticket 1, would let both in by name order if it did not look
      const buf = new Uint8Array(PROC_RECORD_MAX);
      fs.writeFileSync(path.join(dir.dir, name), buf.subarray(0, encodeProc({ id, seq: 2, choosing: false, ticket: 1, opened: Date.now(), pins: [] }, buf)));
      expect(bakery.lock(Date.now() + 200, sleep)).toBe(false);
      expect(bakery.blocker?.record.id.pid).toBe(live.pid);

      // it releases: granted the long way, and not alone (it is alive), so the next lock is long too
      fs.writeFileSync(path.join(dir.dir, name), buf.subarray(0, encodeProc({ id, seq: 3, choosing: false, ticket: 0, opened: Date.now(), pins: [] }, buf)));
      expect(bakery.lock(Date.now() + 1000, sleep)).toBe(true);
      expect(bakery.fast).toBe(false);
      bakery.unlock();
      expect(bakery.lock(Date.now() + 1000, sleep)).toBe(true);
      expect(bakery.fast).toBe(false);
      bakery.unlock();

      // it closes the file (its record goes; this process still has it open): a look finds it
      // gone (not more often than every 100 ms), and the lock after that one is fast
      fs.unlinkSync(path.join(dir.dir, name));
      sleep(150);
      for (let i = 0; i < 2; i++) {
        expect(bakery.tryLock()).toBe(true);
        expect(bakery.fast).toBe(i === 1);
        bakery.unlock();
      }
    } finally {
      dir.removeDirectory();
    }
  });

  it('a dead process\'s record is removed by a look, which then counts as alone', () => {
    const file = tempPath();
    const { dir, bakery } = lockDir(file);
    try {
      const child = spawnSync(process.execPath, ['-e', 'console.log(require("fs").readFileSync("/proc/self/stat", "latin1"))'], { encoding: 'latin1' });
      const t = child.stdout;
      const me = ownIdentity();
      const dead: ProcessIdentity = { pid: child.pid!, start: Number(t.slice(t.lastIndexOf(')') + 2).split(' ')[19]), boot: me.boot, pidNs: me.pidNs };
      expect(liveness(dead)).toBe('dead');
      const name = join(dir.dir, dead, false, 0);
      expect(bakery.lock(Date.now() + 1000, sleep)).toBe(true);
      expect(bakery.fast).toBe(false);
      bakery.unlock();
      expect(fs.existsSync(path.join(dir.dir, name))).toBe(false);
      expect(bakery.lock(Date.now() + 1000, sleep)).toBe(true);
      expect(bakery.fast).toBe(true);
      bakery.unlock();
    } finally {
      dir.removeDirectory();
    }
  });
});

interface Round { round: number; violations: number; error?: string }

/**
 * Racer A opens the file alone and commits a few times (so its lock is on the fast path); racer B
 * opens it while A is idle and begins a long transaction; while B is inside it, A runs short
 * ones (each transaction of either is a critical section: children/racer.mjs). A must wait for
 * B. Returns the violations (two holders at once) that both saw, and the file.
 */
async function race(mode: 'sync' | 'async', envA: NodeJS.ProcessEnv): Promise<{ violations: number; file: string }> {
  const file = tempPath();
  const marker = path.join(path.dirname(file), 'inside');
  const start = (hold: number, m: string, env: NodeJS.ProcessEnv) => {
    const c = adopt(spawn(process.execPath, [path.join(childrenDir, 'racer.mjs'), file, marker, String(hold), m], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
    return { c, lines: new Lines(c) };
  };
  const answer = async (r: ReturnType<typeof start>) => JSON.parse(await r.lines.next()) as Round;
  const a = start(2, mode, envA);
  expect(JSON.parse(await a.lines.next()).ready).toBe(true);
  a.c.stdin!.write('go 0 5\n');
  expect(await answer(a)).toMatchObject({ violations: 0 });
  const b = start(300, 'sync', {});
  expect(JSON.parse(await b.lines.next()).ready).toBe(true);
  b.c.stdin!.write(`go 1 ${B_TXNS}\n`);
  for (let i = 0; !fs.existsSync(marker); i++) {
    expect(i, 'B never got into its transaction').toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 2));
  }
  a.c.stdin!.write(`go 1 ${A_TXNS}\n`); // B is inside its first transaction now, for 300 ms
  const got = await Promise.all([answer(a), answer(b)]);
  for (const g of got) expect(g.error).toBeUndefined();
  for (const r of [a, b]) r.c.stdin!.end();
  await Promise.all([a, b].map((r) => new Promise((res) => (r.c.exitCode === null ? r.c.once('exit', res) : res(null)))));
  return { violations: got[0]!.violations + got[1]!.violations, file };
}

const A_TXNS = 20;
const B_TXNS = 2;

describe('two processes, one of which had the file alone', () => {
  for (const mode of ['sync', 'async'] as const) {
    it(`${mode}: the one that was alone waits for the newcomer's transaction; no two holders, no lost update`, async () => {
      const r = await race(mode, {});
      expect(r.violations).toBe(0);
      const db = track(open(r.file));
      expect(db.get('counter')).toBe(5 + A_TXNS + B_TXNS);
      expectClean(db);
    }, 60_000);
  }

  it('control: a fast path that does not look at members lets both in', async () => {
    const r = await race('sync', { ROTADB_TEST_SKIP_JOIN_CHECK: '1' });
    // two writers at once may have broken the file, so it is not opened again
    expect(r.violations, 'the control found no two holders: this file could not catch a fast path without its check').toBeGreaterThan(0);
  }, 60_000);
});

describe('the reuse ring\'s standing reservation', () => {
  it('every published commit record reserves 1024 entries past its head, never less; a reader further behind than the rest drops its whole cache', async () => {
    const file = tempPath();
    const db = track(open(file));
    const commitRecord = () => {
      const b = new Uint8Array(fs.readFileSync(`${file}-lock/state`).subarray(0, CR_SIZE));
      return decodeCommit(b, b.length)!;
    };
    let last = commitRecord().ringReserved;
    for (let i = 0; i < 200; i++) {
      db.putSync(`k${i % 40}`, 'v'.repeat(1 + (i % 7) * 300)); // rewrites leaves: pages are reused
      const c = commitRecord();
      expect(c.target).toBe(-1);
      expect((c.ringReserved - c.ringHead) >>> 0).toBe(1024);
      expect((c.ringReserved - last) | 0).toBeGreaterThanOrEqual(0);
      last = c.ringReserved;
    }
    const c = commitRecord();
    expect(c.ringHead).toBeGreaterThan(0);
    // a reader whose cursor is so far behind that the reserved entries wrap onto its own may have
    // read entries a writer is overwriting: it drops all; one a little closer drops entry by entry
    const state = new StateFile(`${file}-lock`, ownIdentity());
    try {
      const seen = (behind: number) => {
        let dropped = 0;
        let all = false;
        state.readRing((c.ringHead - behind) >>> 0, c.ringHead, () => { dropped++; }, () => { all = true; });
        return { dropped, all };
      };
      expect(seen(RING_CAPACITY - 1000)).toEqual({ dropped: 0, all: true });
      expect(seen(RING_CAPACITY - 1024)).toEqual({ dropped: RING_CAPACITY - 1024, all: false });
      expect(seen(3)).toEqual({ dropped: 3, all: false });
    } finally {
      state.close();
    }
    expectClean(db);
  });
});
