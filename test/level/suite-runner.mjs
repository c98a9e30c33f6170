/**
 * Runs abstract-level's own conformance suite (abstract-level/test, with tape, as memory-level and
 * classic-level run it) against the built rotadb/level, and prints tape's TAP output; the exit code
 * is tape's. Started by test/level/suite.test.ts; runnable alone: `node test/level/suite-runner.mjs`.
 *
 * Environment: ROTADB_LEVEL_NROOTS (default 255, the maximum), ROTADB_LEVEL_SLOT_POLICY ('rotate',
 * the default, or 'oldest-unpinned') and ROTADB_LEVEL_TIMEOUT_MS (per test, default 20000). A snapshot held across nRoots awaited commits makes the next writer wait
 * for it (the slot rule), so such a test would hang: the timeout turns it into a failure and the
 * run goes on. The suite's longest such test holds 100 snapshots across 100 awaited puts, so it
 * passes with nRoots >= 100 and hangs with fewer.
 */
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const tape = require('tape');
const suite = require('abstract-level/test');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { RotaLevel } = await import(pathToFileURL(path.join(root, 'dist', 'level', 'index.js')).href);

const nRoots = Number(process.env.ROTADB_LEVEL_NROOTS ?? 255);
const slotPolicy = process.env.ROTADB_LEVEL_SLOT_POLICY || 'rotate';
const timeoutMs = Number(process.env.ROTADB_LEVEL_TIMEOUT_MS ?? 20_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-level-suite-'));
let n = 0;

/** tape's test(), with a timeout on every test. */
function test(name, ...args) {
  const fn = args.pop();
  return tape(name, ...args, (t) => {
    t.timeoutAfter(timeoutMs);
    return fn(t);
  });
}

tape.onFinish(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  // A writer still waiting for a snapshot that a timed-out test never closed would keep the process alive.
  setImmediate(() => process.exit(process.exitCode ?? 0));
});

suite({
  test,
  factory(options) {
    // noSync: the suite checks semantics, not durability, and makes thousands of commits. About
    // 970 databases: 1 KiB pages keep the 255 root slots of each at 255 KiB (no key is near 491 bytes).
    return new RotaLevel(path.join(dir, `db${n++}.rdb`), { nRoots, slotPolicy, pageSize: 1024, noSync: true, ...options });
  },
});
