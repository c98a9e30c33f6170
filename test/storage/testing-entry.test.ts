/**
 * The `rotadb/testing` subpath, as a user's program imports it: through package.json `exports`
 * (Node resolves the package's own name from its directory) on dist/ as `npm run build` makes it.
 * FaultyStorage comes from there and drives a real crash; the main entry does not carry it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const script = `
const testing = await import('rotadb/testing');
const rotadb = await import('rotadb');
const storage = new testing.FaultyStorage(undefined, { seed: 7 });
const db = rotadb.open({ storage });
db.putSync('a', 1);
storage.crashAtOp(storage.ops + 1);
let crashed = false;
try { db.putSync('b', 2); } catch (e) { crashed = (e.cause ?? e) instanceof testing.SimulatedCrash; } // a commit wraps it in ROTA_FAILED
const after = rotadb.open({ storage: storage.afterCrash('lose-unsynced') });
console.log(JSON.stringify({
  testing: Object.keys(testing).sort(),
  inMain: Object.keys(rotadb).filter((k) => k in testing),
  crashed, a: after.get('a'), b: after.get('b') ?? null, ok: after.check().ok,
}));
`;

describe('rotadb/testing', () => {
  it('exports FaultyStorage and SimulatedCrash, which the main entry does not', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ testing: ['FaultyStorage', 'SimulatedCrash'], inMain: [], crashed: true, a: 1, b: null, ok: true });
  });

  it('points the types and code of both conditions of every exports entry at files the build makes', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, string | Record<string, Record<string, string>>> };
    expect(Object.keys(pkg.exports)).toEqual(['.', './testing', './level', './package.json']);
    for (const [name, entry] of Object.entries(pkg.exports)) {
      if (name === './package.json') continue;
      expect(Object.keys(entry)).toEqual(['import', 'require']);
      for (const cond of Object.values(entry as Record<string, Record<string, string>>)) {
        expect(Object.keys(cond)).toEqual(['types', 'default']);
        for (const file of Object.values(cond)) expect(fs.existsSync(path.join(root, file)), file).toBe(true);
      }
    }
  });
});
