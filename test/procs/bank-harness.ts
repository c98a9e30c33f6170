/**
 * The parent's side of the bank runs (bank.test.ts, chaos.test.ts): makes the bank file, spawns
 * writer and reader processes (children/bank-child.mjs, on the built module dist/) and collects
 * what they report; and the final check of the file against the acknowledged commits.
 *
 * Counts are collected per role over every incarnation of a child: a killed reader's last
 * `stat` line is a lower bound of what it did, a killed writer's acks are exactly the commits
 * it was told about.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { open, type OpenOptions } from '../../src/index.js';
import { expectClean } from '../helpers/db.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const childPath = path.join(here, 'children', 'bank-child.mjs');
const distUrl = pathToFileURL(path.resolve(here, '../../dist/index.js')).href;

export type Role = 'sync' | 'async' | 'reader' | 'long';

export interface Bank {
  file: string;
  accounts: number;
  total: number;
  writers: number;
}

export interface Totals {
  commits: number;
  snapshots: number;
  checks: number;
  violations: string[];
  errors: string[];
  /** The longest commit call a writer reported (lock and slot waits included), in ms. */
  maxCommitMs: number;
  /** The same per writer. */
  maxCommitMsOf: Map<number, number>;
  /** Per writer: every transfer number acknowledged. */
  acked: Map<number, number[]>;
}

export const newTotals = (): Totals => ({ commits: 0, snapshots: 0, checks: 0, violations: [], errors: [], maxCommitMs: 0, maxCommitMsOf: new Map(), acked: new Map() });

/** Creates the bank: `accounts` accounts of 1000 each, values padded to `pad` bytes so the tree has many pages. */
export function makeBank(file: string, accounts: number, writers: number, pad: number, opts: OpenOptions): Bank {
  const db = open(file, opts);
  try {
    db.transactionSync(() => {
      for (let i = 0; i < accounts; i++) db.put(['acct', i], { b: 1000, p: 'x'.repeat(pad) });
    });
  } finally {
    db.env.close();
  }
  return { file, accounts, total: accounts * 1000, writers };
}

export interface Spawned {
  role: Role;
  id: number;
  proc: ChildProcess;
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** Set once the parent killed it (its exit is then expected). */
  killed: boolean;
}

export interface ChildOptions {
  until: number;
  open: OpenOptions;
  env?: NodeJS.ProcessEnv;
  holdMs?: number;
  pauseMs?: number;
  /** Niceness for the child (os.setPriority): a reader that often loses its core mid-step. */
  nice?: number;
  seed: number;
}

/** Spawns one child; its lines are added to `t` as they arrive. */
export function spawnChild(bank: Bank, role: Role, id: number, o: ChildOptions, t: Totals): Spawned {
  const cfg = { dist: distUrl, file: bank.file, role, id, accounts: bank.accounts, total: bank.total, writers: bank.writers, until: o.until, open: o.open, seed: o.seed, holdMs: o.holdMs ?? 0, pauseMs: o.pauseMs ?? 0 };
  const proc = spawn(process.execPath, [childPath, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  if (o.nice !== undefined && proc.pid !== undefined) os.setPriority(proc.pid, o.nice);
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => { onReady = r; });
  let stderr = '';
  let pending = '';
  // a reader's stat lines are cumulative: count only the growth over its previous line
  let seenSnapshots = 0;
  let seenChecks = 0;
  const onLine = (line: string): void => {
    const w = line.split(' ');
    if (w[0] === 'ready') onReady();
    else if (w[0] === 'ack') {
      const n = Number(w[2]);
      const list = t.acked.get(Number(w[1])) ?? [];
      list.push(n);
      t.acked.set(Number(w[1]), list);
      t.commits++;
      t.maxCommitMs = Math.max(t.maxCommitMs, Number(w[3]));
      t.maxCommitMsOf.set(Number(w[1]), Math.max(t.maxCommitMsOf.get(Number(w[1])) ?? 0, Number(w[3])));
    } else if (w[0] === 'stat') {
      t.snapshots += Number(w[1]) - seenSnapshots;
      t.checks += Number(w[2]) - seenChecks;
      seenSnapshots = Number(w[1]);
      seenChecks = Number(w[2]);
    } else if (w[0] === 'viol') t.violations.push(`${role} ${id}: ${line.slice(5)}`);
    else t.errors.push(`${role} ${id}: ${line}`);
  };
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => { stderr += d; });
  const s: Spawned = { role, id, proc, ready, killed: false, exited: undefined as never };
  s.exited = new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      onReady();
      // a kill cuts a line anywhere; a line that did finish was complete
      if (!s.killed && pending !== '') onLine(pending);
      if (!s.killed && code !== 0) t.errors.push(`${role} ${id} exited with ${code ?? signal}: ${stderr.slice(0, 500)}`);
      resolve({ code, signal, stderr });
    });
  });
  return s;
}

/**
 * Opens the file after every child has ended: the total is exact, each writer's counter is its
 * highest transfer, every acknowledged transfer's done key is there, and check() is clean.
 */
export function verifyBank(bank: Bank, t: Totals): void {
  const db = open(bank.file, {});
  try {
    let sum = 0;
    let count = 0;
    for (const { value } of db.getRange({ start: ['acct'], end: ['acct', Infinity] })) {
      sum += (value as { b: number }).b;
      count++;
    }
    expect({ sum, count }).toEqual({ sum: bank.total, count: bank.accounts });
    for (let w = 0; w < bank.writers; w++) {
      const acked = t.acked.get(w) ?? [];
      const ctr = (db.get(['ctr', w]) as number | undefined) ?? 0;
      expect(ctr).toBeGreaterThanOrEqual(Math.max(0, ...acked));
      const missing = acked.filter((n) => db.get(['done', w, n]) === undefined);
      expect(missing, `writer ${w}: acknowledged transfers missing from the file`).toEqual([]);
      let done = 0;
      for (const _ of db.getKeys({ start: ['done', w], end: ['done', w, Infinity] })) done++;
      // one done key per transfer 1..ctr: none lost, none doubled
      expect(done).toBe(ctr);
    }
    expectClean(db);
  } finally {
    db.env.close();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
