// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
// and self time per source file.
//
//   node bench/cpuprofile-top.mjs <file.cpuprofile> [top=25]
//
// Self time of a sample is the time delta recorded with it (timeDeltas[i] for samples[i]); a
// function's self time is the sum over the samples whose top frame is that function. Frames in
// node:inspector (a profile taken with the inspector Session, as bench/durable.mjs does under
// BENCH_CPU_PROF, ends inside Profiler.stop) are the profiler's own and left out.

import * as fs from 'node:fs';
import * as path from 'node:path';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/cpuprofile-top.mjs <file.cpuprofile> [top]');
  process.exit(2);
}
const top = topArg ? Number(topArg) : 25;
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));

const byId = new Map();
for (const n of profile.nodes) byId.set(n.id, n);
const parentOf = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const isInspector = (url) => url === 'node:inspector' || url === 'node:inspector/promises';
/** Whether the frame or one of its callers is in node:inspector (the profiler's own work). */
function underInspector(id) {
  for (let at = id; at !== undefined; at = parentOf.get(at)) if (isInspector(byId.get(at).callFrame.url)) return true;
  return false;
}
const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

const shortUrl = (url) => {
  if (!url) return '';
  const p = url.replace(/^file:\/\//, '');
  const m = p.match(/(?:dist|node_modules|bench)\/.*$/);
  return m ? m[0] : path.basename(p);
};

const byFunction = new Map();
const byFile = new Map();
let total = 0;
for (const [id, us] of selfUs) {
  if (underInspector(id)) continue;
  const cf = byId.get(id).callFrame;
  const name = cf.functionName || '(anonymous)';
  const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
  const key = where ? `${name} ${where}` : name;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const fileKey = cf.url ? shortUrl(cf.url) : name;
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  total += us;
}

const pct = (us) => ((100 * us) / total).toFixed(1).padStart(5);
const ms = (us) => (us / 1000).toFixed(1).padStart(9);
console.log(`${path.basename(file)}: ${(total / 1e6).toFixed(3)} s sampled, ${profile.samples.length} samples`);
console.log('');
console.log('self ms      self %  function');
for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)}  ${pct(us)}  ${k}`);
console.log('');
console.log('self ms      self %  file');
for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${ms(us)}  ${pct(us)}  ${k}`);
