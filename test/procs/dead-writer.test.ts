/**
 * A writer of another process killed after its commit is durable but before it published it:
 * its root slot holds a version no process knows of. The next writer builds on the published
 * version and may reuse the pages that slot reaches, so it must erase the slot first; otherwise
 * two slots hold the same transaction id and a later open may take the dead writer's (with two
 * fsyncs per commit nothing verifies it) and serve pages that were reused.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { open } from '../../src/index.js';
import { decodeMeta } from '../../src/pages/meta.js';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../helpers/dist.js';
import { expectClean, tempPath, track } from '../helpers/db.js';

beforeAll(ensureBuilt, 120_000);

const distEntry = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

const child = `
const { open } = await import(process.env.ROTA_DIST);
const db = open(process.env.ROTA_FILE, { nRoots: 4, slotPolicy: 'oldest-unpinned', fsyncsPerCommit: 2 });
db.putSync('from the dead writer', 'x'.repeat(3000));
`;

function slotVersions(file: string): number[] {
  const b = fs.readFileSync(file);
  const out: number[] = [];
  for (let s = 0; s < 4; s++) {
    const v = decodeMeta(new Uint8Array(b.subarray(s * 4096, (s + 1) * 4096)), s);
    out.push(v.ok ? v.meta.txnId : -1);
  }
  return out;
}

describe('a writer of another process that died before publishing', () => {
  it("leaves a root slot that the next writer erases before it writes; every later open gets the live writer's versions", () => {
    const file = tempPath();
    // This process writes with 'rotate', the dead one with 'oldest-unpinned': a read transaction
    // here pins the slot after the current one, so the dead writer takes another slot than the one
    // this process's next commit will take.
    const opts = { nRoots: 4, slotPolicy: 'rotate' as const, fsyncsPerCommit: 2 as const };
    const db = track(open(file, opts));
    for (let i = 0; i < 5; i++) db.putSync(`k${i}`, 'v'.repeat(3000));
    const old = db.useReadTransaction();
    for (let i = 0; i < 3; i++) db.putSync(`k${i}`, 'w'.repeat(3000));
    const before = db.stats().txnId;
    let status: number | null = 0;
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', child], {
        env: { ...process.env, ROTA_DIST: pathToFileURL(distEntry).href, ROTA_FILE: file, ROTADB_TEST_DIE_BEFORE_PUBLISH: '1' },
        stdio: 'ignore',
      });
    } catch (e) {
      status = (e as { signal?: string }).signal === 'SIGKILL' ? null : 1;
    }
    expect(status, 'the child was to kill itself before publishing').toBeNull();
    expect(Math.max(...slotVersions(file))).toBe(before + 1); // its slot is on disk, unpublished
    expect(db.get('from the dead writer')).toBeUndefined();
    old.done();

    for (let i = 0; i < 6; i++) {
      db.putSync(`k${i}`, `after ${i} `.repeat(300)); // reuses pages the dead slot reached
      const versions = slotVersions(file).filter((v) => v >= 0);
      expect(new Set(versions).size, `after commit ${i}, two root slots hold one version: ${versions}`).toBe(versions.length);
      expect(Math.max(...versions)).toBe(db.stats().txnId);
    }
    expectClean(db);
    db.closeSync();

    const again = track(open(file, opts));
    expect(again.get('k5')).toBe('after 5 '.repeat(300));
    expect(again.get('from the dead writer')).toBeUndefined();
    expectClean(again);
  });
});
