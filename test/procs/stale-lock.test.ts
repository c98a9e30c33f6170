/**
 * The stale-lock race (issue 14): the writer lock left by a dead holder, and several processes
 * racing to take it at once, with a stall injected between "the holder is dead" and acting on it
 * (ROTADB_TEST_STALL_MS), with holders that were SIGKILLed inside a write transaction and
 * holders whose pid is now a live, unrelated process (a reused pid: only the start time differs).
 * Each racer's transaction is a critical section marked by a file created exclusively, and bumps
 * a counter: two holders at once would show as EEXIST or as a lost update. Then a zombie holder.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { encodeProc, decodeProc, type ProcRecord } from '../../src/procs/records.js';
import { liveness, ownIdentity, recordName, type ProcessIdentity } from '../../src/procs/identity.js';
import { Members } from '../../src/procs/members.js';
import { PROC_RECORD_MAX } from '../../src/pages/layout.js';
import { expectClean, openFile, tempPath, track } from '../helpers/db.js';
import { adopt, childrenDir, Lines, peerPath, startPeer, strays } from './children/drive.js';

const RACERS = 5;
const ROUNDS = 24;
const TXNS = 2; // per racer and round
/** Longer than the spread of the racers' stalls (5..17 ms): two holders at once would overlap. */
const HOLD_MS = 20;
/** What "only milliseconds-to-a-second" means on a loaded 2-core machine. */
const SHORT_MS = 2_000;

function readRecord(p: string): ProcRecord | null {
  const b = new Uint8Array(fs.readFileSync(p)); // a copy at offset 0: the checksum reads whole words
  return decodeProc(b, b.length);
}

function stat(pid: number): { state: string; ppid: number; start: number } {
  const t = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const rest = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0]!, ppid: Number(rest[1]), start: Number(rest[19]) };
}

/** Writes a record for `id` into the lock directory of `file` (at `at`: in place of another), with one pwrite as its owner would. */
function plantRecord(file: string, id: ProcessIdentity, choosing: boolean, ticket: number, at = path.join(`${file}-lock`, recordName(id))): string {
  const buf = new Uint8Array(PROC_RECORD_MAX);
  const n = encodeProc({ id, seq: 1, choosing, ticket, opened: Date.now(), pins: [] }, buf);
  const fresh = !fs.existsSync(at);
  const fd = fs.openSync(at, fs.constants.O_RDWR | fs.constants.O_CREAT);
  try { fs.writeSync(fd, buf, 0, n, 0); } finally { fs.closeSync(fd); }
  if (fresh) new Members(`${file}-lock`).join(path.basename(at), () => false); // as its process would, before taking a ticket
  return at;
}

/** Whether `record` comes first among the records (the order every process visits them in: sorted names). */
function firstInDirectory(file: string, record: string): boolean {
  return fs.readdirSync(`${file}-lock`).find((n) => n.startsWith('p-')) === path.basename(record);
}

/**
 * plantRecord() under a name that every process visits first (LockDir.others() sorts), so that
 * every racer is polling the holder, none queued behind another racer, when it dies: a racer
 * that took over without checking the others would then hold the lock together with them. The
 * name is only a key: the record says whose it is.
 */
function plantFirst(file: string, id: ProcessIdentity, choosing: boolean, ticket: number): string {
  const at = plantRecord(file, id, choosing, ticket, path.join(`${file}-lock`, `p-0-${recordName(id).slice(2)}`));
  expect(firstInDirectory(file, at)).toBe(true);
  return at;
}

function recordOf(file: string, pid: number): string {
  return path.join(`${file}-lock`, fs.readdirSync(`${file}-lock`).find((n) => n.includes(`-${pid}-`))!);
}

/** Waits until each of `pids` has taken its ticket (is queued for the writer lock). */
async function allQueued(file: string, pids: number[]): Promise<void> {
  for (let i = 0; ; i++) {
    const queued = pids.every((pid) => {
      const r = readRecord(recordOf(file, pid));
      return r !== null && !r.choosing && r.ticket > 0;
    });
    if (queued) return;
    if (i > 2_000) throw new Error('the racers never queued for the writer lock');
    await sleep(2);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('the stale-lock race', () => {
  it(`${RACERS} processes race for a dead holder's lock, ${ROUNDS} rounds, stalled, with reused pids: never two holders`, async () => {
    const file = tempPath();
    const marker = path.join(path.dirname(file), 'inside');
    const unrelated = adopt(spawn('sleep', ['30'], { stdio: 'ignore' }));
    const me = ownIdentity();
    const unrelatedId: ProcessIdentity = { pid: unrelated.pid!, start: stat(unrelated.pid!).start, boot: me.boot, pidNs: me.pidNs };
    expect(liveness(unrelatedId)).toBe('alive');


    // Every process lists the directory in name order (libuv sorts it): the holders start before
    // the racers, so their pids and records come first (see plantFirst)
    const holders = await Promise.all(Array.from({ length: ROUNDS / 3 }, () => startPeer()));

    const racers = Array.from({ length: RACERS }, (_, i) => {
      const c = adopt(spawn(process.execPath, [path.join(childrenDir, 'racer.mjs'), file, marker, String(HOLD_MS)], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ROTADB_TEST_STALL_MS: String(5 + 3 * i) }, // 5..17 ms
      }));
      return { c, lines: new Lines(c) };
    });
    for (const r of racers) expect(JSON.parse(await r.lines.next()).ready).toBe(true);

    const firstIn: number[] = [];
    let violations = 0;
    let deadFirst = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // The holder is alive while every racer queues behind it, then dies: so the racers find it
      // dead at about the same moment, and each stalls before it acts on that.
      let holderRecord: string;
      let die: () => Promise<void>;
      if (round % 3 === 0) {
        // a real holder, SIGKILLed inside its write transaction
        const holder = holders[round / 3]!;
        await holder.call('open', { path: file });
        await holder.call('beginWrite', { key: 'counter', value: -1_000_000 });
        holderRecord = recordOf(file, holder.pid);
        expect(readRecord(holderRecord)!.ticket).toBeGreaterThan(0);
        die = () => holder.kill();
      } else {
        // a record naming the live unrelated process, holding a ticket below every racer's (or
        // stuck choosing); rewritten in place with another start time, it names a reused pid:
        // to the racers re-reading it, its holder is gone and its pid is someone else's
        const choosing = round % 3 === 2;
        holderRecord = plantFirst(file, unrelatedId, choosing, choosing ? 0 : 1);
        const reused = { ...unrelatedId, start: unrelatedId.start - 1 - round };
        expect(liveness(reused)).toBe('dead');
        die = async () => { plantRecord(file, reused, choosing, choosing ? 0 : 1, holderRecord); };
      }

      if (firstInDirectory(file, holderRecord)) deadFirst++;
      for (const r of racers) r.c.stdin!.write(`go ${round} ${TXNS}\n`);
      const answers = Promise.all(racers.map(async (r) => JSON.parse(await r.lines.next()) as { error?: string; entered: number; violations: number }));
      await allQueued(file, racers.map((r) => r.c.pid!));
      const died = Date.now();
      await die();
      const got = await answers;
      for (const a of got) expect(a.error).toBeUndefined();
      violations += got.reduce((s, a) => s + a.violations, 0);
      firstIn.push(Math.min(...got.map((a) => a.entered)) - died);
      expect(fs.existsSync(holderRecord)).toBe(false); // a racer removed the dead holder's record
    }
    expect(fs.existsSync(marker)).toBe(false);
    expect(liveness(unrelatedId)).toBe('alive'); // never touched

    for (const r of racers) r.c.stdin!.end();
    await Promise.all(racers.map((r) => new Promise((res) => (r.c.exitCode === null ? r.c.once('exit', res) : res(null)))));
    for (const r of racers) expect(r.c.exitCode).toBe(0);

    const sorted = [...firstIn].sort((a, b) => a - b);
    console.log(`stale-lock race: ${ROUNDS} rounds x ${RACERS} racers x ${TXNS} txns, ${violations} violations; the dead holder listed first in ${deadFirst} rounds; first racer in after ${sorted[0]}..${sorted[sorted.length - 1]} ms (median ${sorted[sorted.length >> 1]})`);
    expect(violations).toBe(0);
    expect(deadFirst).toBeGreaterThanOrEqual(ROUNDS / 2);
    expect(sorted[sorted.length - 1]).toBeLessThan(SHORT_MS);

    const db = track(open(file));
    expect(db.get('counter')).toBe(ROUNDS * RACERS * TXNS); // no lost update: no two holders
    expectClean(db);
    await db.close();
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
  }, 120_000);

  it('a zombie holder (SIGKILLed, never reaped) counts as dead: a writer gets the lock at once', async () => {
    const file = tempPath();
    const db = openFile(file, { writeTimeoutMs: 20_000 });
    db.putSync('k', 0);
    // the node grandchild's parent becomes `sleep`, which never reaps it
    const script = JSON.stringify([{ op: 'open', path: file }, { op: 'beginWrite', key: 'k', value: 'zombie' }]);
    const sh = adopt(spawn('sh', ['-c', '"$2" "$0" "$1" & exec sleep 30', peerPath, script, process.execPath], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const lines = new Lines(sh);
    for (let i = 0; i < 2; i++) expect(JSON.parse(await lines.next()).ok).toBe(true);
    const zombie = JSON.parse(await lines.next()).pid as number;
    strays.push(zombie);
    expect(stat(zombie).ppid).toBe(sh.pid);
    const rec = recordOf(file, zombie);
    expect(readRecord(rec)!.ticket).toBeGreaterThan(0);

    process.kill(zombie, 'SIGKILL');
    for (let i = 0; stat(zombie).state !== 'Z'; i++) {
      expect(i, 'the grandchild never became a zombie').toBeLessThan(500);
      await sleep(10);
    }
    const t0 = Date.now();
    db.putSync('k', 1);
    const took = Date.now() - t0;
    expect(stat(zombie).state).toBe('Z'); // still a zombie, with its record in place until now
    expect(took, `a write past a zombie holder took ${took} ms`).toBeLessThan(SHORT_MS);
    expect(db.get('k')).toBe(1);
    expectClean(db);
    await db.close();
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
  });
});
