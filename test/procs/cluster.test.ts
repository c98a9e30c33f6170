/**
 * examples/cluster.mjs, run as a user would run it: a cluster primary and WORKERS forked workers
 * on one file through the built package (dist/, built by test/global-setup.ts). What must hold
 * afterwards: every worker exited cleanly; every worker's entries are present; the shared
 * counter, incremented by read-modify-write transactions from every worker at once, lost no
 * increment and never went backwards for any reader; check() is clean (in the primary, and again
 * here after everyone closed); the lock directory is removed by the last process to close, and
 * only then.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClean, tempPath } from '../helpers/db.js';

type Rota = typeof import('../../src/index.js');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const example = path.join(root, 'examples', 'cluster.mjs');
const WORKERS = 4;
const ITEMS = 100;
const INCREMENTS = 25;

interface Summary {
  workers: number;
  exited: (number | string)[];
  failed: number[];
  items: number;
  expectedItems: number;
  missing: number;
  counter: number;
  expectedCounter: number;
  backwards: number;
  checkOk: boolean;
  problems: string[];
  lockDirRemoved: boolean;
}

/** Runs the example on `file` and returns its JSON summary (the last line of its output). */
function runExample(file: string): Promise<{ summary: Summary; code: number }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, WORKERS: String(WORKERS), ITEMS: String(ITEMS), INCREMENTS: String(INCREMENTS) };
    execFile(process.execPath, [example, file, '--json'], { env, timeout: 50_000 }, (err, stdout, stderr) => {
      const lines = stdout.trim().split('\n');
      try {
        const summary = JSON.parse(lines[lines.length - 1]!) as Summary;
        resolve({ summary, code: err === null ? 0 : ((err as { code?: number }).code ?? -1) });
      } catch {
        reject(new Error(`the example printed no summary (${err?.message ?? 'exit 0'}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

function expectAllThere(s: Summary): void {
  expect(s.exited).toEqual(Array(WORKERS).fill(0));
  expect(s.failed).toEqual([]);
  expect(s.missing).toBe(0);
  expect(s.items).toBe(WORKERS * ITEMS);
  expect(s.counter).toBe(WORKERS * INCREMENTS);
  expect(s.backwards).toBe(0);
  expect(s.problems).toEqual([]);
  expect(s.checkOk).toBe(true);
}

let rota: Rota;

beforeAll(async () => {
  rota = (await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href)) as Rota;
});

describe('examples/cluster.mjs: cluster workers sharing one database', () => {
  it('every worker\'s writes are present, no increment is lost, and the last process removes the lock directory', async () => {
    const file = tempPath('cluster.rdb');
    const { summary, code } = await runExample(file);
    expectAllThere(summary);
    expect(code).toBe(0);
    expect(summary.lockDirRemoved).toBe(true);

    const db = rota.open(file);
    try {
      for (let w = 0; w < WORKERS; w++) expect(db.get(['item', w, ITEMS - 1])).toEqual({ worker: w, i: ITEMS - 1 });
      expect(db.get('counter')).toBe(WORKERS * INCREMENTS);
      expectClean(db);
    } finally {
      await db.close();
    }
  }, 60_000);

  it('runs again on the same file while another process (this one) has it open and reads it', async () => {
    const file = tempPath('cluster.rdb');
    const db = rota.open(file);
    try {
      db.putSync('outsider', 'kept');
      const { summary, code } = await runExample(file);
      expectAllThere(summary);
      expect(code).toBe(0);
      // this process still has the file open: the directory stays
      expect(summary.lockDirRemoved).toBe(false);
      expect(fs.existsSync(`${file}-lock`)).toBe(true);
      // the workers' commits are visible here without reopening
      expect(db.get('counter')).toBe(WORKERS * INCREMENTS);
      expect(db.getCount({ start: ['item'], end: ['item', Infinity] })).toBe(WORKERS * ITEMS);
      expect(db.get('outsider')).toBe('kept');
      expectClean(db);
    } finally {
      await db.close();
    }
    expect(fs.existsSync(`${file}-lock`)).toBe(false);
  }, 60_000);
});
