/**
 * Real crashes: a child process (kill-writer.mjs) commits transactions on one database file and
 * is killed with SIGKILL at a random moment, again and again on the same file, which grows and is
 * reopened after every kill. After each kill this process opens the file (taking over the stale
 * lock of the dead writer) and checks, against a model built from the writer's acknowledgements:
 *
 *  - every acknowledged transaction is fully present, key for key and byte for byte, unless an
 *    acknowledged later transaction removed it (and then none of its keys is left);
 *  - the one transaction that may have been in flight at the kill is all there or not at all,
 *    its removals included;
 *  - no other key exists;
 *  - check() finds the file clean.
 *
 *
 * Both processes run the built module (dist/), built here when it is missing or older than src/.
 * KILLS sets the number of kills (default 100); SEED replays the same choices (the timing of the
 * kills still varies from run to run).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

type Rota = typeof import('../../src/index.js');
type Db = ReturnType<Rota['open']>;
interface WriterModule {
  valueFor(n: number, i: number): Buffer;
  rng(seed: number): () => number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const distEntry = path.join(root, 'dist', 'index.js');
const writerPath = path.join(here, 'kill-writer.mjs');

const KILLS = envInt('KILLS', 100);
const SEED = envInt('SEED', Math.floor(Math.random() * 2 ** 31));
/** 0.3-0.4 s per kill on a 2-core machine (about 30-40 s for the default 100); the limit leaves room for a slow CI runner. */
const TIMEOUT_MS = Math.max(120_000, KILLS * 1_200);
/** How long the writer may take to print its first line, or its first ack, before the test gives up. */
const STARTUP_LIMIT_MS = 20_000;

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, not ${v}`);
  return n;
}


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


let rota: Rota;
let writer: WriterModule;

beforeAll(async () => {
  // dist/ is built once by test/global-setup.ts
  rota = (await import(pathToFileURL(distEntry).href)) as Rota;
  writer = (await import(pathToFileURL(writerPath).href)) as WriterModule;
}, 120_000);

// ---------------------------------------------------------------- one run of the writer

/** A transaction as announced by the writer's `begin` line. */
interface Announced {
  n: number;
  count: number;
  mode: 'sync' | 'async';
  removed: number[];
}

interface RunLog {
  ready: boolean;
  /** Transactions in order, each with whether it was acknowledged. */
  txns: Array<Announced & { acked: boolean }>;
  pid: number;
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  stdout: string;
}

type KillPlan =
  | { kind: 'after-ack'; delay: number } // after the first ack, 20..200 ms later
  | { kind: 'blind'; delay: number } // 20..200 ms after the spawn, acked or not
  | { kind: 'after-ready'; delay: number }; // as soon as the database is open: inside the first transactions

function parseRemoved(s: string | undefined, line: string): number[] {
  if (s === undefined) throw new Error(`malformed line from the writer: ${line}`);
  return s === '-' ? [] : s.split(',').map((x) => {
    const m = Number(x);
    if (!Number.isInteger(m)) throw new Error(`malformed line from the writer: ${line}`);
    return m;
  });
}

/** Spawns the writer, kills it with SIGKILL according to `plan`, and returns what it printed. */
async function runWriter(file: string, stateFile: string, plan: KillPlan): Promise<RunLog> {
  const child = spawn(process.execPath, [writerPath, file, stateFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: RunLog = { ready: false, txns: [], pid: child.pid ?? -1, signal: null, code: null, stderr: '', stdout: '' };
  let pending = '';
  let exited = false;
  const waiters: Array<() => void> = [];
  const wake = () => { for (const w of waiters.splice(0)) w(); };
  let protocolError: Error | null = null;

  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => { log.stderr += d; });
  child.stdout.on('data', (d: string) => {
    log.stdout += d;
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        onLine(line);
      } catch (e) {
        protocolError ??= e as Error;
      }
    }
    wake();
  });
  const onLine = (line: string): void => {
    const w = line.split(' ');
    if (w[0] === 'ready' && w.length === 1) {
      log.ready = true;
    } else if (w[0] === 'begin' && w.length === 6 && w[4] === 'removed') {
      const t = { n: Number(w[1]), count: Number(w[2]), mode: w[3] as 'sync' | 'async', removed: parseRemoved(w[5], line), acked: false };
      const prev = log.txns.at(-1);
      if (!log.ready || (prev && (!prev.acked || t.n !== prev.n + 1))) throw new Error(`unexpected line from the writer: ${line}`);
      log.txns.push(t);
    } else if (w[0] === 'ack' && w.length === 4 && w[2] === 'removed') {
      const t = log.txns.at(-1);
      if (!t || t.acked || t.n !== Number(w[1]) || parseRemoved(w[3], line).join() !== t.removed.join()) {
        throw new Error(`unexpected line from the writer: ${line}`);
      }
      t.acked = true;
    } else {
      throw new Error(`unexpected line from the writer: ${line}`);
    }
  };
  const closed = new Promise<void>((resolve) => {
    child.on('close', (code, signal) => {
      log.code = code;
      log.signal = signal;
      exited = true;
      wake();
      resolve();
    });
  });
  const waitUntil = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + STARTUP_LIMIT_MS;
    while (!cond()) {
      if (exited || protocolError) return; // reported below
      if (Date.now() > deadline) throw new Error(`the writer did not ${what} within ${STARTUP_LIMIT_MS} ms`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };

  try {
    if (plan.kind === 'after-ack') await waitUntil(() => log.txns.some((t) => t.acked), 'acknowledge a transaction');
    if (plan.kind === 'after-ready') await waitUntil(() => log.ready, 'open the database');
    if (plan.delay > 0) await sleep(plan.delay);
  } finally {
    if (!exited) child.kill('SIGKILL');
    await closed;
  }
  if (protocolError) throw protocolError;
  if (pending !== '') throw new Error(`the writer left a partial line: ${JSON.stringify(pending)}`);
  if (log.signal !== 'SIGKILL') {
    throw new Error(`the writer exited by itself (code ${log.code}, signal ${log.signal}) before the kill:\n${log.stdout.split('\n').slice(-5).join('\n')}\n${log.stderr}`);
  }
  return log;
}

// ---------------------------------------------------------------- checking the file after a kill

interface Verdict {
  /** The in-flight transaction: committed, not committed, or none was in flight. */
  inFlight: 'committed' | 'lost' | 'none';
  /** Transactions of the model checked (present ones and removed ones that must be gone). */
  checked: number;
}

/**
 * Checks the reopened file against `live` (n -> key count), after applying the acknowledged
 * transactions of `log`. Updates `live` to what the file holds. Throws, with every problem found,
 * when the file does not match.
 */
function verify(db: Db, live: Map<number, number>, log: RunLog): Verdict {
  const problems: string[] = [];
  const gone = new Set<number>();
  for (const t of log.txns) {
    if (!t.acked) continue;
    for (const m of t.removed) {
      if (!live.delete(m)) problems.push(`writer removed transaction ${m} in ${t.n}, which the model does not hold`);
      gone.add(m);
    }
    live.set(t.n, t.count);
    gone.delete(t.n);
  }
  const last = log.txns.at(-1);
  const flying = last && !last.acked ? last : undefined;

  // Every key of the file: ['tx', n, i] with the value of (n, i), for a known transaction.
  const found = new Map<number, number>();
  let shown = 0;
  const problem = (s: string) => {
    if (shown++ < 20) problems.push(s);
  };
  for (const { key, value } of db.getRange()) {
    const k = key as unknown[];
    const n = Array.isArray(k) && k.length === 3 && k[0] === 'tx' ? k[1] : undefined;
    const i = n === undefined ? undefined : k[2];
    if (typeof n !== 'number' || typeof i !== 'number' || !Number.isInteger(n) || !Number.isInteger(i)) {
      problem(`unexpected key ${JSON.stringify(key)}`);
      continue;
    }
    const count = live.get(n) ?? (flying?.n === n ? flying.count : undefined);
    if (count === undefined) {
      problem(`key ['tx', ${n}, ${i}] of transaction ${n}, which ${gone.has(n) ? 'an acknowledged transaction removed' : 'the model does not hold'}`);
    } else if (i < 0 || i >= count) {
      problem(`key ['tx', ${n}, ${i}] beyond the ${count} keys of transaction ${n}`);
    }
    const want = writer.valueFor(n, i);
    if (!Buffer.isBuffer(value) || !want.equals(value)) {
      problem(`value of ['tx', ${n}, ${i}]: ${Buffer.isBuffer(value) ? `${value.length} bytes` : typeof value}, want ${want.length} bytes of (${n}, ${i})`);
    }
    found.set(n, (found.get(n) ?? 0) + 1);
  }

  let inFlight: Verdict['inFlight'] = 'none';
  if (flying) {
    const got = found.get(flying.n) ?? 0;
    if (got === 0) {
      inFlight = 'lost';
    } else if (got === flying.count) {
      inFlight = 'committed';
      for (const m of flying.removed) live.delete(m);
      live.set(flying.n, flying.count);
    } else {
      problems.push(`in-flight transaction ${flying.n} is partial: ${got} of its ${flying.count} keys`);
    }
  }
  for (const [n, count] of live) {
    const got = found.get(n) ?? 0;
    if (got !== count) problems.push(`transaction ${n}${flying?.n === n ? ' (in flight)' : ''} has ${got} of its ${count} keys`);
  }
  // Point reads too, not only the range scan: a few keys of every transaction of this run.
  for (const t of log.txns) {
    if (!live.has(t.n)) continue;
    for (const i of new Set([0, t.count - 1, t.count >> 1])) {
      const v = db.get(['tx', t.n, i]) as Buffer | undefined;
      if (!v || !writer.valueFor(t.n, i).equals(v)) problems.push(`get(['tx', ${t.n}, ${i}]) returned ${v ? `${v.length} wrong bytes` : 'nothing'}`);
    }
  }
  if (shown > 20) problems.push(`... and ${shown - 20} more key problems`);
  if (problems.length > 0) throw new Error(`after the kill of writer ${log.pid}:\n${problems.join('\n')}`);
  return { inFlight, checked: live.size + gone.size };
}

// ---------------------------------------------------------------- opening after a kill

const OPEN_OPTIONS = { encoding: 'binary' } as const;

// ---------------------------------------------------------------- the test

describe('SIGKILL during commits', () => {
  it(`keeps every acknowledged transaction and none partially, over ${KILLS} kills`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-kill-'));
    const file = path.join(dir, 'kill.rdb');
    const lockPath = `${file}-lock`;
    const stateFile = path.join(dir, 'state.json');
    const random = writer.rng(SEED);
    const live = new Map<number, number>();
    let next = 1;
    const stats = {
      kills: 0, beforeReady: 0, beforeFirstAck: 0, acked: 0, ackedSync: 0, ackedAsync: 0, verified: 0,
      inFlightCommitted: 0, inFlightLost: 0, noneInFlight: 0, staleLocks: 0,
    };
    const started = Date.now();
    let passed = false;
    try {
      for (let k = 0; k < KILLS; k++) {
        const r = random();
        const delay = 20 + Math.floor(random() * 181);
        // Every other kill waits for an ack; the rest may well come before the first one.
        const plan: KillPlan = k % 2 === 0 || r < 0.1 ? { kind: 'after-ack', delay }
          : r < 0.7 ? { kind: 'blind', delay }
          : { kind: 'after-ready', delay: Math.floor(random() * 4) };
        const seed = Math.floor(random() * 2 ** 31);
        fs.writeFileSync(stateFile, JSON.stringify({ next, live: [...live], seed, dist: pathToFileURL(distEntry).href }));

        const log = await runWriter(file, stateFile, plan);
        stats.kills++;
        if (!log.ready) stats.beforeReady++;
        const acked = log.txns.filter((t) => t.acked);
        if (acked.length === 0) stats.beforeFirstAck++;
        stats.acked += acked.length;
        stats.ackedSync += acked.filter((t) => t.mode === 'sync').length;
        stats.ackedAsync += acked.filter((t) => t.mode === 'async').length;
        if (log.txns.length > 0) next = log.txns.at(-1)!.n + 1;
        if (plan.kind === 'after-ack' && acked.length === 0) throw new Error(`kill ${k}: planned after an ack, but none was seen`);

        // The dead writer's record in the lock directory, if it got that far, names it; it must not
        // keep anybody out.
        if (fs.existsSync(lockPath)) {
          stats.staleLocks++;
          const records = fs.readdirSync(lockPath).filter((n) => n.startsWith('p-'));
          for (const r of records) if (!r.includes(`-${log.pid}-`)) throw new Error(`kill ${k}: the lock directory holds ${r}, the writer was ${log.pid}`);
        } else if (log.ready) {
          throw new Error(`kill ${k}: the writer opened the database, yet there is no lock directory`);
        }

        const db = rota.open(file, OPEN_OPTIONS);
        try {
          const v = verify(db, live, log);
          stats.verified += v.checked;
          if (v.inFlight === 'committed') stats.inFlightCommitted++;
          else if (v.inFlight === 'lost') stats.inFlightLost++;
          else stats.noneInFlight++;
          const report = db.check();
          expect(report.problems, `kill ${k} (writer ${log.pid}, seed ${SEED}): check() found problems`).toEqual([]);
          expect(report.ok).toBe(true);
        } finally {
          await db.close();
        }
        expect(fs.existsSync(lockPath), 'close() left the lock directory').toBe(false);
      }
      passed = true;
    } catch (e) {
      (e as Error).message = `[seed ${SEED}, kill ${stats.kills}, file kept in ${dir}] ${(e as Error).message}`;
      throw e;
    } finally {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
      console.log(
        `kill test: ${stats.kills} kills in ${seconds} s (seed ${SEED}); ${stats.acked} acknowledged transactions ` +
        `(${stats.ackedSync} transactionSync, ${stats.ackedAsync} async put batches), ${stats.verified} transaction checks after kills; ` +
        `in flight at the kill: ${stats.inFlightCommitted} committed, ${stats.inFlightLost} not committed, ${stats.noneInFlight} none; ` +
        `${stats.beforeFirstAck} kills before the first ack (${stats.beforeReady} before the database was open); ` +
        `${stats.staleLocks} stale locks taken over; ${live.size} live transactions, file ${(size / 1024 / 1024).toFixed(1)} MiB; `
      );
      if (passed) fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(stats.kills).toBe(KILLS);
  }, TIMEOUT_MS);
});

describe('reopening after a transaction that frees pages it allocated', () => {
  // Regression: pages taken from the end of the file and freed in the same transaction were
  // counted in the high-water mark but never written, so reopening saw a truncated file.
  it('can open the file again after a clean close', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-kill-bug-'));
    try {
      const file = path.join(dir, 'bug.rdb');
      const db = rota.open(file, OPEN_OPTIONS);
      db.transactionSync(() => {
        db.putSync('a', Buffer.alloc(3000, 1));
        db.putSync('b', Buffer.alloc(3000, 2));
        db.removeSync('a');
        db.removeSync('b');
      });
      expect(db.check().ok).toBe(true);
      await db.close();
      const again = rota.open(file, OPEN_OPTIONS);
      try {
        expect(again.get('a')).toBeUndefined();
        expect(again.check().problems).toEqual([]);
      } finally {
        await again.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
