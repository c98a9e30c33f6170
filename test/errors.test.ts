/**
 * The error catalogue: src/errors.ts, read as source with the TypeScript parser, must give every
 * exported class a doc comment and every code one class; README.md's Errors section must name
 * exactly those codes; and no other file may build a RotaError with a code of its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as errors from '../src/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (rel: string): string => fs.readFileSync(path.join(root, rel), 'utf8');

interface ErrorClass {
  name: string;
  doc: string;
  /** The code the constructor passes to super(), or null for the base class. */
  code: string | null;
}

function errorClasses(): ErrorClass[] {
  const text = read('src/errors.ts');
  const file = ts.createSourceFile('errors.ts', text, ts.ScriptTarget.Latest, true);
  const out: ErrorClass[] = [];
  for (const st of file.statements) {
    if (!ts.isClassDeclaration(st) || !st.name) continue;
    if (!st.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
    const docs = (ts.getLeadingCommentRanges(text, st.getFullStart()) ?? [])
      .map((r) => text.slice(r.pos, r.end))
      .filter((c) => c.startsWith('/**'));
    const doc = (docs.at(-1) ?? '').replace(/^\/\*\*|\*\/$/g, '').replace(/^\s*\*/gm, '').trim();
    let code: string | null = null;
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.SuperKeyword) {
        const first = n.arguments[0];
        if (first && ts.isStringLiteral(first)) code = first.text;
      }
      ts.forEachChild(n, visit);
    };
    visit(st);
    out.push({ name: st.name.text, doc, code });
  }
  return out;
}

/** The codes in README.md's "### Errors" section. */
function readmeCodes(): string[] {
  const readme = read('README.md');
  const start = readme.indexOf('\n### Errors\n');
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf('\n#', start + 1);
  return [...readme.slice(start, end).matchAll(/`(ROTA_[A-Z_]+)`/g)].map((m) => m[1]!);
}

/** Sites that still build `new RotaError(code, ...)` in files being rewritten elsewhere (issue 8). */
const PENDING = new Set<string>();

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sourceFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

describe('src/errors.ts', () => {
  const classes = errorClasses();

  it('parses every class the module exports, and each is a RotaError', () => {
    const exported = Object.entries(errors).filter(([, v]) => typeof v === 'function').map(([k]) => k).sort();
    expect(classes.map((c) => c.name).sort()).toEqual(exported);
    for (const c of classes) {
      const cls = (errors as Record<string, unknown>)[c.name] as abstract new (...a: never[]) => unknown;
      expect(cls === errors.RotaError || cls.prototype instanceof errors.RotaError, c.name).toBe(true);
    }
  });

  it('gives every exported class a doc comment', () => {
    for (const c of classes) expect(c.doc.length, `${c.name} has no /** doc comment */`).toBeGreaterThan(10);
  });

  it('gives every subclass one literal code, no two the same', () => {
    const sub = classes.filter((c) => c.name !== 'RotaError');
    for (const c of sub) expect(c.code, `${c.name} passes no literal code to super()`).toMatch(/^ROTA_[A-Z_]+$/);
    const codes = sub.map((c) => c.code);
    expect(new Set(codes).size, `duplicate codes: ${codes.filter((x, i) => codes.indexOf(x) !== i)}`).toBe(codes.length);
  });

  it('matches the codes README.md names in its Errors section, both ways', () => {
    const ours = classes.map((c) => c.code).filter((c): c is string => c !== null).sort();
    const named = readmeCodes();
    expect(new Set(named).size).toBe(named.length);
    expect(ours.filter((c) => !named.includes(c)), 'codes README.md does not name').toEqual([]);
    expect(named.filter((c) => !ours.includes(c)), 'codes README.md names that src/errors.ts lacks').toEqual([]);
  });

  it('is the only place a code is written: no other file constructs a RotaError by hand', () => {
    const found: string[] = [];
    for (const f of sourceFiles('src')) {
      if (f === 'src/errors.ts') continue;
      for (const m of read(f).matchAll(/new RotaError\(\s*(?:'([A-Z_]+)')?/g)) {
        const site = `${f} ${m[1] ?? '(a code that is not a literal)'}`;
        if (!PENDING.has(site)) found.push(site);
      }
    }
    expect(found).toEqual([]);
  });
});
