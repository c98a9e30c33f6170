// The child process of fuzz-open.test.ts. It loads the built module (dist/), so that a hang or a
// memory blow-up in rotadb kills this process, not the test runner.
//
//   node fuzz-child.mjs build <file> <seed> <pageSize> <nRoots>
//     Writes a database over many commits (puts, rewrites, deletes, overflow values, named
//     databases) and prints {"versions": {txnId: hash}, "newest": txnId}: the contents hash of
//     every committed version, read back right after its commit.
//   node fuzz-child.mjs run <cases.json>
//     For each case [{id, file}]: opens the file, reads every entry (ranges and point gets) of
//     every database, stats() and check(), and prints one JSON line per case (after a
//     {"start": id} line, so that the parent can name the case that hung or crashed).
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { open, RotaError } from '../../dist/index.js';
import { rng } from '../helpers/rng.mjs';

const NAMES = [null, 'alpha', 'beta'];
const BIN = { encoding: 'binary', keyEncoding: 'binary' };

/** sha256 of every entry of every database, in key order, read through getRange and checked against get. */
function contentsHash(root) {
  const h = createHash('sha256');
  for (const name of NAMES) {
    const db = name === null ? root : root.openDB(name, BIN);
    h.update(`db ${name}\n`);
    for (const { key, value } of db.getRange({})) {
      const got = db.get(key);
      if (got === undefined || !Buffer.from(got).equals(Buffer.from(value))) {
        const e = new Error(`get and getRange disagree on key ${Buffer.from(key).toString('hex')} of db ${name}`);
        e.name = 'Disagreement';
        throw e;
      }
      h.update(`${key.length}:`).update(key).update(`${value.length}:`).update(value);
    }
    // the reverse walk reads the same pages in the other order (prev() at every level)
    let n = 0;
    for (const _ of db.getRange({ reverse: true })) n++;
    h.update(`n ${n}\n`);
  }
  return h.digest('hex');
}

function build(file, seed, pageSize, nRoots) {
  const r = rng(seed);
  const db = open(file, { ...BIN, pageSize, nRoots, noSync: true });
  const dbs = NAMES.map((n) => (n === null ? db : db.openDB(n, BIN)));
  const live = NAMES.map(() => []);
  const valueOf = () => {
    const k = r(100);
    const len = k < 70 ? 1 + r(60) : k < 88 ? 100 + r(pageSize / 2) : k < 98 ? pageSize + r(4 * pageSize) : 8 * pageSize + r(8 * pageSize);
    const v = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) v[i] = r(256);
    return v;
  };
  const keyOf = () => {
    const long = r(20) === 0;
    return Buffer.from(`${long ? 'L'.repeat(100 + r(200)) : ''}key-${String(r(5000)).padStart(5, '0')}`);
  };
  const versions = {};
  versions[db.env.current.txnId] = contentsHash(db);
  const commits = 40 + r(20);
  for (let c = 0; c < commits; c++) {
    db.transactionSync(() => {
      const ops = 1 + r(25);
      for (let o = 0; o < ops; o++) {
        const d = r(NAMES.length);
        const keys = live[d];
        if (keys.length > 0 && r(4) === 0) {
          const i = r(keys.length);
          dbs[d].removeSync(keys[i]);
          keys.splice(i, 1);
        } else {
          const rewrite = keys.length > 0 && r(3) === 0;
          const key = rewrite ? keys[r(keys.length)] : keyOf();
          dbs[d].putSync(key, valueOf());
          if (!rewrite && !keys.some((k) => k.equals(key))) keys.push(key);
        }
      }
    });
    versions[db.env.current.txnId] = contentsHash(db);
  }
  const report = db.check();
  if (!report.ok) throw new Error(`the base file is not clean: ${report.problems.join('; ')}`);
  const newest = db.env.current.txnId;
  db.closeSync();
  process.stdout.write(JSON.stringify({ versions, newest }) + '\n');
}

const sha = (file) => (fs.existsSync(file) ? createHash('sha256').update(fs.readFileSync(file)).digest('hex') : 'absent');

/** A typed error is a RotaError with a code; anything else is reported with its stack. */
function describeError(e) {
  if (e instanceof RotaError && typeof e.code === 'string') return { typed: true, code: e.code, message: e.message };
  return { typed: false, code: e?.name ?? typeof e, message: String(e?.stack ?? e) };
}

function runCase({ id, file }) {
  const before = sha(file);
  const started = Date.now();
  const out = { id };
  let db;
  try {
    db = open(file, BIN);
  } catch (e) {
    out.open = describeError(e);
    out.unchanged = sha(file) === before;
    out.lockLeft = fs.existsSync(`${file}-lock`);
    out.ms = Date.now() - started;
    return out;
  }
  out.txnId = db.env.current.txnId;
  const step = (name, fn) => {
    try {
      return fn();
    } catch (e) {
      (out.errors ??= []).push({ step: name, ...describeError(e) });
      return undefined;
    }
  };
  out.hash = step('read', () => contentsHash(db));
  step('stats', () => db.stats());
  const report = step('check', () => db.check());
  if (report) {
    out.checkOk = report.ok;
    if (!report.ok) out.problems = report.problems.slice(0, 3);
  }
  step('close', () => db.closeSync());
  out.unchanged = sha(file) === before;
  out.ms = Date.now() - started;
  return out;
}

/**
 * The peak resident memory of this process so far. On Linux VmHWM, which starts afresh at exec;
 * not resourceUsage().maxRSS, which keeps the peak of the test runner this process was forked from.
 */
function peakRssMB() {
  try {
    const m = /VmHWM:\s*(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch { /* not Linux */ }
  return Math.round(process.memoryUsage().rss / 1048576);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'build') {
  build(args[0], Number(args[1]), Number(args[2]), Number(args[3]));
} else if (mode === 'run') {
  for (const c of JSON.parse(fs.readFileSync(args[0], 'utf8'))) {
    process.stdout.write(JSON.stringify({ start: c.id }) + '\n');
    const out = runCase(c);
    out.maxRssMB = peakRssMB();
    process.stdout.write(JSON.stringify(out) + '\n');
  }
} else {
  throw new Error(`usage: fuzz-child.mjs build <file> <seed> <pageSize> <nRoots> | run <cases.json>`);
}
