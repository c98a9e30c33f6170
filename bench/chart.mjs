// Draws docs/tuning.svg from a tuning result: the fraction of commits that waited for a reader,
// against nRoots (log2 axis), one line per (reader life L, write rate R).
//
//   node bench/chart.mjs                                  (newest bench/results/tuning-*.json)
//   node bench/chart.mjs bench/results/tuning-<date>.json (a given file)
//
// Left panel: measured (solid, with points) and the simple model min(1, R·L/nRoots) (dashed).
// Right panel: the same measurements and the slot-rule model of bench/tuning.mjs (dashed).
// Hand-written SVG, no dependency.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, 'results');
const outFile = path.join(here, '..', 'docs', 'tuning.svg');

function newestTuning() {
  const files = fs.readdirSync(resultsDir)
    .filter((f) => /^tuning-.*\.json$/.test(f))
    .map((f) => path.join(resultsDir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (files.length === 0) throw new Error(`no tuning-*.json in ${resultsDir}; run node bench/tuning.mjs first`);
  return files[0];
}

const source = process.argv[2] ? path.resolve(process.argv[2]) : newestTuning();
const data = JSON.parse(fs.readFileSync(source, 'utf8'));
// the rotating policy only (a result file may hold both policies; see docs/tuning.md for the other)
const results = data.results.filter((r) => (r.policy ?? 'rotate') === 'rotate');

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (x) => (Math.round(x * 10) / 10).toString();

// ------------------------------------------------------------------ series

const nRootsList = [...new Set(results.map((r) => r.nRoots))].sort((a, b) => a - b);
const combos = [];
for (const r of results) {
  if (!combos.some((c) => c.L === r.lifeMs && c.R === r.rate)) combos.push({ L: r.lifeMs, R: r.rate });
}
combos.sort((a, b) => a.L - b.L || a.R - b.R);
// Okabe-Ito colours (distinguishable with the common colour-vision deficiencies).
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#999999'];
const rates = [...new Set(combos.map((c) => c.R))].sort((a, b) => a - b);
for (const [i, c] of combos.entries()) {
  c.colour = COLOURS[i % COLOURS.length];
  c.marker = rates.indexOf(c.R) % 2 === 0 ? 'circle' : 'square';
  c.points = nRootsList.map((n) => results.find((r) => r.nRoots === n && r.lifeMs === c.L && r.rate === c.R)).filter(Boolean);
}

// ------------------------------------------------------------------ geometry

const W = 1060;
const panelW = 420;
const panelH = 300;
const top = 108;
const lefts = [80, 80 + panelW + 100];
const bottom = top + panelH;
const legendTop = bottom + 62;
const H = legendTop + 28 + Math.ceil(combos.length / 3) * 24 + 40;

const xMin = Math.log2(nRootsList[0]);
const xMax = Math.log2(nRootsList[nRootsList.length - 1]);
const pad = 24;
// Lines of different combinations often coincide (at 0 and at 100%): each combination is shifted
// by a few pixels horizontally so that all stay visible.
const spread = 3.2;
const xOf = (left, n, ci) => left + pad + ((Math.log2(n) - xMin) / (xMax - xMin || 1)) * (panelW - 2 * pad) + (ci - (combos.length - 1) / 2) * spread;
const yOf = (p) => bottom - p * panelH;

const out = [];
out.push('<?xml version="1.0" encoding="UTF-8"?>');
out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="13">`);
out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
out.push(`<text x="${W / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">rotadb: share of commits that waited for a reader, by nRoots</text>`);
// Which rotadb was measured: the build label of the run (bench/tuning.mjs ROTADB_BUILD), else the
// working tree's commit.
const build = data.rotadbBuild && data.rotadbBuild !== 'dist/ of this working tree'
  ? `rotadb ${data.rotadbBuild.replace(/ \(.*\)$/, '')}`
  : data.git ? `rotadb dist/ at git ${data.git.commit}${data.git.srcChanges?.length ? ' + uncommitted changes' : ''}` : 'rotadb dist/';
const run1 = 'one worker thread runs read transactions back to back, each held L ms; the main thread commits single putSyncs at R/s';
const run2 = `${data.quick ? 'quick run, ' : ''}${data.parameters.keys} keys, noSync, ${data.parameters.runMs / 1000} s per point after ${data.parameters.warmupMs} ms warm-up; ${data.date.slice(0, 10)}, ${build}`;
out.push(`<text x="${W / 2}" y="50" text-anchor="middle" font-size="12.5" fill="#444">${esc(run1)}</text>`);
out.push(`<text x="${W / 2}" y="68" text-anchor="middle" font-size="12.5" fill="#444">${esc(run2)}</text>`);

function marker(c, x, y) {
  if (c.marker === 'square') return `<rect x="${fmt(x - 4)}" y="${fmt(y - 4)}" width="8" height="8" fill="${c.colour}" stroke="#fff" stroke-width="1"/>`;
  return `<circle cx="${fmt(x)}" cy="${fmt(y)}" r="4.5" fill="${c.colour}" stroke="#fff" stroke-width="1"/>`;
}

function panel(left, title, modelKey) {
  out.push(`<text x="${left + panelW / 2}" y="${top - 14}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  // grid and y axis
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    const y = yOf(p);
    out.push(`<line x1="${left}" y1="${fmt(y)}" x2="${left + panelW}" y2="${fmt(y)}" stroke="${p === 0 ? '#666' : '#ddd'}" stroke-width="1"/>`);
    out.push(`<text x="${left - 8}" y="${fmt(y + 4)}" text-anchor="end">${p * 100}%</text>`);
  }
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#666" stroke-width="1"/>`);
  // x axis
  for (const n of nRootsList) {
    const x = xOf(left, n, (combos.length - 1) / 2);
    out.push(`<line x1="${fmt(x)}" y1="${top}" x2="${fmt(x)}" y2="${bottom}" stroke="#eee" stroke-width="1"/>`);
    out.push(`<line x1="${fmt(x)}" y1="${bottom}" x2="${fmt(x)}" y2="${bottom + 5}" stroke="#666" stroke-width="1"/>`);
    out.push(`<text x="${fmt(x)}" y="${bottom + 20}" text-anchor="middle">${n}</text>`);
  }
  out.push(`<text x="${left + panelW / 2}" y="${bottom + 40}" text-anchor="middle">nRoots (log₂ scale)</text>`);
  out.push(`<text transform="translate(${left - 52} ${top + panelH / 2}) rotate(-90)" text-anchor="middle">commits that waited</text>`);
  // model (dashed) under the measurements
  for (const [ci, c] of combos.entries()) {
    const pts = c.points.map((r) => `${fmt(xOf(left, r.nRoots, ci))},${fmt(yOf(r[modelKey]))}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${c.colour}" stroke-width="1.8" stroke-dasharray="7 5" opacity="0.9"/>`);
  }
  // measured (solid, points)
  for (const [ci, c] of combos.entries()) {
    const pts = c.points.map((r) => `${fmt(xOf(left, r.nRoots, ci))},${fmt(yOf(r.blockedFraction))}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${c.colour}" stroke-width="2.4"/>`);
    for (const r of c.points) out.push(marker(c, xOf(left, r.nRoots, ci), yOf(r.blockedFraction)));
  }
}

panel(lefts[0], 'simple model: min(1, R·L / nRoots)', 'modelSimple');
panel(lefts[1], 'slot-rule model (see docs/tuning.md)', 'modelSlotRule');

// ------------------------------------------------------------------ legend

const lx = lefts[0];
out.push(`<text x="${lx}" y="${legendTop}" font-weight="bold">reader life L, write rate R</text>`);
const colW = 270;
for (const [i, c] of combos.entries()) {
  const x = lx + (i % 3) * colW;
  const y = legendTop + 24 + Math.floor(i / 3) * 24;
  out.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 34}" y2="${y - 4}" stroke="${c.colour}" stroke-width="2.4"/>`);
  out.push(marker(c, x + 17, y - 4));
  out.push(`<text x="${x + 44}" y="${y}">L = ${c.L} ms, R = ${c.R}/s (R·L = ${fmt((c.L * c.R) / 1000)})</text>`);
}
const kx = lx + 3 * colW;
out.push(`<line x1="${kx}" y1="${legendTop + 20}" x2="${kx + 34}" y2="${legendTop + 20}" stroke="#333" stroke-width="2.4"/>`);
out.push(`<text x="${kx + 44}" y="${legendTop + 24}">measured</text>`);
out.push(`<line x1="${kx}" y1="${legendTop + 44}" x2="${kx + 34}" y2="${legendTop + 44}" stroke="#333" stroke-width="1.8" stroke-dasharray="7 5"/>`);
out.push(`<text x="${kx + 44}" y="${legendTop + 48}">model</text>`);
const noteY = H - 14;
out.push(`<text x="${lx}" y="${noteY}" font-size="11" fill="#555">${esc('A commit "waited" when rotadb\'s stats().slots[*].writerWaitedMs rose by ≥ 1 ms over it. Lines are shifted sideways by a few pixels so that equal values stay visible.')}</text>`);
out.push('</svg>');

fs.writeFileSync(outFile, out.join('\n') + '\n');
console.log(`Wrote ${path.relative(process.cwd(), outFile)} from ${path.relative(process.cwd(), source)} (${results.length} points, ${combos.length} lines per panel)`);
