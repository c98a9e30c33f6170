/**
 * The package as users load it (issue 12, part 3): `require('rotadb')` and `import('rotadb')`,
 * and their subpaths, through package.json's exports (a package may name itself), on the dist/
 * that the global setup built; and publint and @arethetypeswrong/cli on the packed tarball (packed
 * with --ignore-scripts: the prepare script would rebuild dist/ under the other test files).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempPath } from './helpers/db.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(path.join(root, 'package.json'));

describe('packaging', () => {
  it('require() gives the CommonJS build, with every entry point', () => {
    const cjs = require('rotadb');
    expect(require.resolve('rotadb')).toBe(path.join(root, 'dist/cjs/index.js'));
    const db = cjs.open({ storage: new cjs.MemoryStorage() });
    db.putSync('a', { b: 1 });
    expect(db.get('a')).toEqual({ b: 1 });
    expect(() => db.openDB('x', { dupSort: true })).toThrow(expect.objectContaining({ code: 'ROTA_BAD_OPTION' }));
    db.closeSync();
    expect(typeof require('rotadb/level').RotaLevel).toBe('function');
    expect(typeof require('rotadb/testing').FaultyStorage).toBe('function');
  });

  it('import() gives the ES module build', async () => {
    const esm = await import('rotadb' as string);
    expect(typeof esm.open).toBe('function');
    expect(typeof (await import('rotadb/level' as string)).RotaLevel).toBe('function');
  });

  it('the two builds cannot open one file twice in a thread (the lock file names this process)', async () => {
    const file = tempPath();
    const cjs = require('rotadb');
    const esm = await import('rotadb' as string);
    const db = cjs.open(file);
    try {
      expect(() => esm.open(file)).toThrow(expect.objectContaining({ code: 'ROTA_ALREADY_OPEN' }));
    } finally {
      db.closeSync();
    }
  });

  it('source maps carry the sources they point at (src/ is not shipped)', () => {
    for (const map of ['dist/index.js.map', 'dist/cjs/api/database.js.map']) {
      const m = JSON.parse(fs.readFileSync(path.join(root, map), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
      expect(m.sourcesContent?.length).toBe(m.sources.length);
      expect(m.sourcesContent!.every((s) => s.length > 0)).toBe(true);
    }
  });

  it('publint and @arethetypeswrong/cli find no problem in the packed package', () => {
    const dir = path.dirname(tempPath());
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1)!;
    const tarball = path.join(dir, out);
    expect(fs.existsSync(tarball)).toBe(true);
    const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);
    const lint = spawnSync(bin('publint'), ['run', tarball, '--strict'], { cwd: root, encoding: 'utf8' });
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
    expect(lint.stdout).toContain('All good');
    const types = spawnSync(bin('attw'), [tarball, '--format', 'ascii'], { cwd: root, encoding: 'utf8' });
    expect(types.status, types.stdout + types.stderr).toBe(0);
    expect(types.stdout).toContain('No problems found');
  }, 60_000);
});
