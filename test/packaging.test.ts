/**
 * The package as users load it (issue 12, part 3): `require('rotadb')` and `import('rotadb')`,
 * and their subpaths, through package.json's exports (a package may name itself), on the dist/
 * that the global setup built. publint and @arethetypeswrong/cli are run by `npm run
 * check:package` (they are fetched by npx, so not part of this suite).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
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
});
