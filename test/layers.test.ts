/**
 * The module graph of src/ (docs/design.md, "Layers"): every import, type imports included, runs
 * downward, and no file imports itself through a cycle. Run alone with `npx vitest run test/layers`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * Which layers each layer may import. A layer is a folder of src/; the entry points (index.ts,
 * testing.ts) may import anything. `values: false` allows type imports only.
 */
const ALLOWED: Record<string, Record<string, { values: boolean }>> = {
  cli: { api: v(), tools: v(), env: v(), encoding: v(), errors: v() },
  level: { index: v() },
  api: { env: v(), tools: v(), txn: v(), sync: t(), btree: v(), encoding: v(), errors: v(), pages: t(), storage: t() },
  tools: { env: v(), txn: v(), sync: v(), btree: v(), pages: v(), storage: v(), encoding: v(), errors: v() },
  env: { procs: v(), sync: v(), txn: v(), btree: v(), pages: v(), storage: v(), errors: v() },
  procs: { sync: v(), pages: v(), errors: v() },
  txn: { sync: v(), btree: v(), pages: v(), storage: t(), errors: v() },
  sync: { errors: v() },
  btree: { pages: v(), errors: v() },
  pages: { storage: t(), errors: v() },
  storage: { errors: v() },
  encoding: { errors: v() },
  errors: {},
};
const ENTRY_POINTS = new Set(['index', 'testing']);

function v() { return { values: true }; }
function t() { return { values: false }; }

interface Edge { from: string; to: string; typeOnly: boolean }

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The relative imports and re-exports of one file, with whether each is type-only. */
export function importsOf(file: string, text: string): Edge[] {
  const out: Edge[] = [];
  const re = /\b(import|export)\s+(type\s+)?((?:[^'";]|\n)*?)\s*from\s*['"](\.[^'"]+)['"]|\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)|\bimport\s+['"](\.[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) {
    const spec = m[4] ?? m[5] ?? m[6]!;
    const names = m[3] ?? '';
    const braces = /^\{([^}]*)\}$/.exec(names.trim());
    const allInlineTypes = braces !== null && braces[1]!.split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    const typeOnly = m[2] !== undefined || allInlineTypes;
    const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
    out.push({ from: file, to: target, typeOnly });
  }
  return out;
}

/** The layer of a file: its first folder under src/, or its name for a top-level file. */
function layerOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? rel[0]!.replace(/\.ts$/, '') : rel[0]!;
}

function allEdges(): Edge[] {
  return sourceFiles(SRC).flatMap((f) => importsOf(f, fs.readFileSync(f, 'utf8')));
}

describe('the module graph of src/', () => {
  it('every layer has a rule, and every import target exists', () => {
    for (const f of sourceFiles(SRC)) {
      const layer = layerOf(f);
      expect(ENTRY_POINTS.has(layer) || layer in ALLOWED, `no layer rule for ${layer} (${f})`).toBe(true);
    }
    for (const e of allEdges()) expect(fs.existsSync(e.to), `${e.from} imports a missing ${e.to}`).toBe(true);
  });

  it('imports only run downward (type imports included)', () => {
    const bad: string[] = [];
    for (const e of allEdges()) {
      const from = layerOf(e.from);
      const to = layerOf(e.to);
      if (from === to || ENTRY_POINTS.has(from)) continue;
      const rule = ALLOWED[from]?.[to];
      if (rule === undefined || (!rule.values && !e.typeOnly)) {
        bad.push(`${path.relative(SRC, e.from)} -> ${path.relative(SRC, e.to)}${e.typeOnly ? ' (type)' : ''}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const graph = new Map<string, string[]>();
    for (const e of allEdges()) {
      const list = graph.get(e.from) ?? [];
      list.push(e.to);
      graph.set(e.from, list);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const g of graph.get(f) ?? []) {
        if (state.get(g) === 'open') cycles.push(stack.slice(stack.indexOf(g)).concat(g).map((p) => path.relative(SRC, p)).join(' -> '));
        else if (!state.has(g)) visit(g);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('the checker sees what it is meant to see', () => {
    const f = path.join(SRC, 'btree', 'x.ts');
    const edges = importsOf(f, "import type { A } from '../env/a.js';\nimport {\n  type B,\n  type C,\n} from './b.js';\nimport { D } from '../api/d.js';\nexport { E } from '../pages/e.js';\n");
    expect(edges.map((e) => [path.relative(SRC, e.to), e.typeOnly])).toEqual([
      ['env/a.ts', true], ['btree/b.ts', true], ['api/d.ts', false], ['pages/e.ts', false],
    ]);
  });
});
