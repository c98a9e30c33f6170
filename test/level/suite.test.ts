/**
 * abstract-level's own conformance suite against rotadb/level, run by tape in a child process on
 * the built dist/ (test/level/suite-runner.mjs). Fails when tape reports any failed assertion,
 * naming them, or when the run is cut short (the plan and the counts must agree).
 *
 * Two settings: nRoots 255 (the runner's default) with the rotating slot policy, and
 * 'oldest-unpinned' with nRoots 100, the fewest with which the suite passes under either policy:
 * its test "get() entries from multiple snapshots" holds 100 snapshots on 100 versions across
 * awaited puts, so the last put needs a slot beside 98 pinned ones and the current one.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const runner = path.join(path.dirname(fileURLToPath(import.meta.url)), 'suite-runner.mjs');

function run(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** A count from tape's summary (`# pass  5132`), NaN when missing. */
const count = (out: string, name: string): number => Number(new RegExp(`^# ${name} +(\\d+)$`, 'm').exec(out)?.[1] ?? NaN);

for (const [nRoots, policy] of [['255', 'rotate'], ['100', 'oldest-unpinned']] as const) it(`passes abstract-level/test (tape), nRoots ${nRoots}, slotPolicy '${policy}'`, async () => {
  const { code, out } = await run({ ROTADB_LEVEL_NROOTS: nRoots, ROTADB_LEVEL_SLOT_POLICY: policy });
  const failed = out.split('\n').filter((l) => l.startsWith('not ok'));
  const plan = Number(/^1\.\.(\d+)$/m.exec(out)?.[1] ?? NaN);
  const tests = count(out, 'tests');
  const pass = count(out, 'pass');
  const fail = out.includes('\n# fail ') ? count(out, 'fail') : 0; // tape prints no fail line when none failed
  console.log(`abstract-level suite (nRoots ${nRoots}, ${policy}): ${tests} assertions, ${pass} passed, ${fail} failed`);
  expect(failed, `failed assertions:\n${failed.join('\n')}`).toEqual([]);
  expect(fail).toBe(0);
  expect(pass).toBe(plan);
  expect(tests).toBe(plan);
  expect(plan).toBeGreaterThan(4000); // the whole suite ran (5132 assertions in abstract-level 3.1.1)
  expect(code).toBe(0);
}, 300_000);
