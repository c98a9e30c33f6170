/**
 * Fuzz test of the open and read paths (issue 9, section 6). Valid files are built over many
 * commits (puts, rewrites, deletes, overflow values, named databases; several page sizes and
 * nRoots), recording the contents hash of every committed version. Seeded mutations of them (bit
 * flips anywhere, in root slots and in the newest root slots, byte runs, truncation at any
 * length, zeroed and swapped pages, garbage files, and combinations) are each opened in a child
 * process (fuzz-child.mjs, on dist/) with a time and a memory limit, then every entry is read
 * (ranges both ways and point gets), stats() and check() run. Allowed outcomes:
 *  - exactly a committed version: the version open settled on reads back with the hash recorded
 *    for that version when it was committed, and check() passes; or
 *  - a typed error (a RotaError with a code), from open or from a read; when a read fails with
 *    ROTA_CORRUPT, check() must not pass.
 * A failed open leaves the file byte-for-byte unchanged and no lock file; reads never change it.
 *
 *   ROTADB_FUZZ_CASES=5000 npx vitest run test/reliability/fuzz-open   (a long run; default 400)
 *   ROTADB_FUZZ_SEED=<n>                                               (another seed; printed)
 * Failing case files are kept under os.tmpdir()/rotadb-fuzz-failures for inspection.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers/db.js';
import { rng } from '../helpers/rng.mjs';
import { checksum } from '../../src/pages/checksum.js';

const CHILD = fileURLToPath(new URL('./fuzz-child.mjs', import.meta.url));
const CASES = Number(process.env.ROTADB_FUZZ_CASES ?? 400);
const SEED = Number(process.env.ROTADB_FUZZ_SEED ?? 0x9e3779b9);
const BATCH = 50; // cases per child process: node's start-up is paid once per batch
const CASE_MS = 10_000; // a case slower than this counts as a hang (generous: the machine is shared)
const MAX_RSS_MB = 400; // resident memory of the child after a case
const VMEM_KB = 1_500_000; // address-space limit of the child (ulimit -v): a runaway allocation fails in it
const LAYOUTS: Array<[pageSize: number, nRoots: number]> = [[1024, 4], [1024, 2], [4096, 4], [1024, 1]];

interface Base { file: string; image: Buffer; pageSize: number; nRoots: number; versions: Record<string, string>; newest: number }
interface Case { id: number; base: Base; what: string; image: Buffer; resealed: boolean }
interface ErrorInfo { typed: boolean; code: string; message: string; step?: string }
interface Result {
  id: number; open?: ErrorInfo; unchanged?: boolean; lockLeft?: boolean; txnId?: number; hash?: string;
  errors?: ErrorInfo[]; checkOk?: boolean; problems?: string[]; ms?: number; maxRssMB?: number;
}

function node(args: string[], timeout: number) {
  const argv = ['--max-old-space-size=128', CHILD, ...args];
  return process.platform === 'linux'
    ? spawnSync('/bin/sh', ['-c', `ulimit -v ${VMEM_KB} && exec "$0" "$@"`, process.execPath, ...argv], { timeout, encoding: 'utf8', maxBuffer: 64 << 20 })
    : spawnSync(process.execPath, argv, { timeout, encoding: 'utf8', maxBuffer: 64 << 20 });
}

function buildBases(dir: string, r: (n: number) => number): Base[] {
  return LAYOUTS.map(([pageSize, nRoots], i) => {
    const file = path.join(dir, `base-${i}.rdb`);
    const res = node(['build', file, String(r(2 ** 31)), String(pageSize), String(nRoots)], 60_000);
    if (res.status !== 0) throw new Error(`building ${file} failed (${res.status ?? res.signal}): ${res.stderr}`);
    const { versions, newest } = JSON.parse(res.stdout) as { versions: Record<string, string>; newest: number };
    return { file, image: fs.readFileSync(file), pageSize, nRoots, versions, newest };
  });
}

// ---------------------------------------------------------------- mutations

type Mutation = (img: Buffer, b: Base, r: (n: number) => number) => { img: Buffer; what: string; resealed?: boolean };

/** Gives pages [p, p + span) of `img` a correct checksum again (seeded with p: a root slot's index, or a page number). */
function reseal(img: Buffer, ps: number, p: number, span: number): void {
  const bytes = new Uint8Array(img.subarray(p * ps, (p + span) * ps)); // own, aligned buffer for the checksum
  img.writeUInt32LE(checksum(bytes, 4, bytes.length, p), p * ps);
}

/** Damages bytes [from, to) of `img`: bit flips, or a u16 or u32 field set to an extreme or random value. */
function damage(img: Buffer, from: number, to: number, r: (n: number) => number): string {
  if (r(2) === 0) {
    const k = 1 + r(3);
    for (let i = 0; i < k; i++) flip(img, from + r(to - from), r);
    return `${k} bit flips`;
  }
  const wide = r(2) === 0;
  const at = from + r(Math.min(r(2) ? 64 : to - from, to - from - 4)); // header and slot array, or anywhere
  const v = [0, wide ? 0xffffffff : 0xffff, r(2 ** 31), r(4096), 1][r(5)]!;
  if (wide) img.writeUInt32LE(v >>> 0, at);
  else img.writeUInt16LE(v & 0xffff, at);
  return `u${wide ? 32 : 16} at ${at - from} set to ${v}`;
}

const flip = (img: Buffer, at: number, r: (n: number) => number) => { img[at]! ^= 1 << r(8); };

const MUTATIONS: Record<string, Mutation> = {
  'bit flips': (img, _b, r) => {
    const k = 1 + r(4);
    for (let i = 0; i < k && img.length > 0; i++) flip(img, r(img.length), r);
    return { img, what: `${k} bit flips` };
  },
  'root-slot flips': (img, b, r) => {
    const slots = [...new Set(Array.from({ length: 1 + r(b.nRoots) }, () => r(b.nRoots)))];
    for (const s of slots) if ((s + 1) * b.pageSize <= img.length) flip(img, s * b.pageSize + (r(2) ? r(112) : r(b.pageSize)), r);
    return { img, what: `a bit flip in root slots ${slots.join(',')}` };
  },
  'newest slots flipped': (img, b, r) => {
    const k = 1 + r(Math.max(1, b.nRoots - 1));
    for (let j = 0; j < k; j++) {
      const at = ((b.newest - j) % b.nRoots) * b.pageSize + r(112);
      if (at < img.length) flip(img, at, r);
    }
    return { img, what: `a bit flip in each of the ${k} newest root slots` };
  },
  'byte run': (img, _b, r) => {
    const len = 1 + r(64);
    const at = r(img.length + 1);
    const fill = r(3);
    for (let i = at; i < Math.min(img.length, at + len); i++) img[i] = fill === 0 ? 0 : fill === 1 ? 0xff : r(256);
    return { img, what: `a run of ${len} ${['zero', '0xff', 'random'][fill]} bytes at ${at}` };
  },
  truncate: (img, b, r) => {
    const len = r(2) ? r(img.length + 1) : r(Math.floor(img.length / b.pageSize) + 1) * b.pageSize;
    return { img: img.subarray(0, len), what: `truncated to ${len} bytes` };
  },
  'zeroed pages': (img, b, r) => {
    const n = Math.floor(img.length / b.pageSize); // a combination may have truncated the file
    if (n === 0) return { img, what: 'no page to zero' };
    const pages = Array.from({ length: 1 + r(3) }, () => r(n));
    for (const p of pages) img.fill(0, p * b.pageSize, (p + 1) * b.pageSize);
    return { img, what: `pages ${pages.join(',')} zeroed` };
  },
  'swapped pages': (img, b, r) => {
    const n = Math.floor(img.length / b.pageSize);
    if (n < 2) return { img, what: 'no pages to swap' };
    const p = r(n);
    const q = (p + 1 + r(n - 1)) % n;
    const tmp = Buffer.from(img.subarray(p * b.pageSize, (p + 1) * b.pageSize));
    img.copy(img, p * b.pageSize, q * b.pageSize, (q + 1) * b.pageSize);
    tmp.copy(img, q * b.pageSize);
    return { img, what: `pages ${p} and ${q} swapped` };
  },
  // A page a bug wrote: impossible (or merely wrong) contents under a correct checksum.
  'resealed page': (img, b, r) => {
    const n = Math.floor(img.length / b.pageSize);
    if (n <= b.nRoots) return { img, what: 'no page to reseal' };
    const p = b.nRoots + r(n - b.nRoots);
    const at = p * b.pageSize;
    const run = img[at + 4] === 3 ? img.readUInt32LE(at + 8) : 1; // an overflow run has one checksum
    const span = run >= 1 && p + run <= n ? run : 1;
    const what = damage(img, at + 4, at + span * b.pageSize, r);
    reseal(img, b.pageSize, p, span);
    return { img, what: `page ${p} (type ${img[at + 4]}): ${what}, checksum resealed`, resealed: true };
  },
  'resealed root slot': (img, b, r) => {
    const s = r(b.nRoots);
    if ((s + 1) * b.pageSize > img.length) return { img, what: 'no root slot to reseal' };
    const what = damage(img, s * b.pageSize + 12, s * b.pageSize + 112, r); // past magic, format, nRoots, index
    reseal(img, b.pageSize, s, 1);
    return { img, what: `root slot ${s}: ${what}, checksum resealed`, resealed: true };
  },
  garbage: (img, b, r) => {
    const out = Buffer.alloc(r(8) * b.pageSize + r(2) * r(b.pageSize));
    for (let i = 0; i < out.length; i++) out[i] = r(256);
    const withSlot = out.length >= b.pageSize && r(2) === 0; // a valid root slot 0, garbage after it
    if (withSlot) img.copy(out, 0, 0, b.pageSize);
    return { img: out, what: `${out.length} bytes of garbage${withSlot ? ' after a valid root slot 0' : ''}` };
  },
};
const SIMPLE = Object.keys(MUTATIONS).filter((k) => k !== 'garbage');
const KINDS = Object.keys(MUTATIONS);

function makeCase(id: number, bases: Base[], r: (n: number) => number): Case {
  const base = bases[id % bases.length]!;
  const img = Buffer.from(base.image);
  const pick = r(KINDS.length + 2);
  if (pick < KINDS.length) {
    const m = MUTATIONS[KINDS[pick]!]!(img, base, r);
    return { id, base, what: m.what, image: m.img, resealed: m.resealed === true };
  }
  let cur = img;
  let resealed = false;
  const whats: string[] = [];
  for (let k = 2 + r(2); k > 0; k--) {
    const m = MUTATIONS[SIMPLE[r(SIMPLE.length)]!]!(cur, base, r);
    cur = Buffer.from(m.img);
    whats.push(m.what);
    resealed ||= m.resealed === true;
  }
  return { id, base, what: whats.join(', then '), image: cur, resealed };
}

// ---------------------------------------------------------------- verdicts

/** The outcome class of `res`, or a failure message. */
function judge(c: Case, res: Result): { cls: string } | { failure: string } {
  if (res.maxRssMB !== undefined && res.maxRssMB > MAX_RSS_MB) return { failure: `the child's resident memory reached ${res.maxRssMB} MB` };
  if (res.ms !== undefined && res.ms > CASE_MS) return { failure: `took ${res.ms} ms` };
  if (res.open) {
    if (!res.open.typed) return { failure: `open threw an untyped error: ${res.open.message}` };
    if (!res.unchanged) return { failure: `a failed open (${res.open.code}) changed the file` };
    if (res.lockLeft) return { failure: `a failed open (${res.open.code}) left its lock file` };
    return { cls: `open ${res.open.code}` };
  }
  if (!res.unchanged) return { failure: 'opening and reading changed the file' };
  if (c.resealed && res.errors?.some((e) => e.code === 'Disagreement')) return { cls: 'resealed: other data (get and getRange disagree)' };
  const untyped = res.errors?.find((e) => !e.typed);
  if (untyped) return { failure: `${untyped.step} threw an untyped error: ${untyped.message}` };
  if (res.errors) {
    const corrupt = res.errors.some((e) => e.step !== 'check' && e.code === 'ROTA_CORRUPT');
    if (corrupt && res.checkOk === true) return { failure: `a read failed with ROTA_CORRUPT but check() passed: ${res.errors[0]!.message}` };
    return { cls: `opened, then ${[...new Set(res.errors.map((e) => `${e.step} ${e.code}`))].join(', ')}` };
  }
  const want = c.base.versions[String(res.txnId)];
  // Resealed damage can be a wrong key, value or descriptor that no check can tell from a right
  // one: any data is allowed there, as long as nothing untyped escapes, nothing hangs or blows up.
  if (c.resealed && (res.hash !== want || res.checkOk !== true)) return { cls: `resealed: other data${res.checkOk ? '' : ', check() fails'}` };
  if (want === undefined) return { failure: `opened version ${res.txnId}, which was never committed` };
  if (res.hash !== want) return { failure: `version ${res.txnId} read back with other contents than were committed` };
  if (res.checkOk !== true) return { failure: `version ${res.txnId} reads right but check() found: ${res.problems?.join('; ')}` };
  return { cls: res.txnId === c.base.newest ? 'newest version' : `older version (newest - ${c.base.newest - res.txnId!})` };
}

/** Runs `cases` in child processes of BATCH cases; a case during which a child died is a failure. */
function runAll(dir: string, cases: Case[], onResult: (c: Case, v: { cls: string } | { failure: string }) => void): void {
  let pending = cases;
  while (pending.length > 0) {
    const batch = pending.slice(0, BATCH);
    const byId = new Map(batch.map((c) => [c.id, c]));
    const list = batch.map((c) => {
      const file = path.join(dir, `case-${c.id}.rdb`);
      fs.writeFileSync(file, c.image);
      return { id: c.id, file };
    });
    const listFile = path.join(dir, 'cases.json');
    fs.writeFileSync(listFile, JSON.stringify(list));
    const res = node(['run', listFile], 30_000 + batch.length * 2_000);
    let started: number | undefined;
    const done = new Set<number>();
    for (const line of (res.stdout ?? '').split('\n')) {
      if (!line) continue;
      const msg = JSON.parse(line) as Result & { start?: number };
      if (msg.start !== undefined) { started = msg.start; continue; }
      done.add(msg.id);
      started = undefined;
      onResult(byId.get(msg.id)!, judge(byId.get(msg.id)!, msg));
    }
    if (started !== undefined) {
      const why = res.error ? String(res.error) : `exit ${res.status ?? res.signal}`;
      onResult(byId.get(started)!, { failure: `the child died during the case (${why}): ${(res.stderr ?? '').slice(-600)}` });
      done.add(started);
    } else if (done.size < batch.length) {
      throw new Error(`the child stopped before its first case (${res.status ?? res.signal}): ${res.stderr}`);
    }
    for (const { file } of list) {
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}-lock`, { force: true });
    }
    pending = pending.filter((c) => !done.has(c.id));
  }
}

it(`fuzzed files open to exactly a committed version or a typed error (${CASES} cases)`, () => {
  const dir = tempDir('rotadb-fuzz-');
  const r = rng(SEED);
  const bases = buildBases(dir, r);
  const cases = Array.from({ length: CASES }, (_, id) => makeCase(id, bases, r));
  const counts = new Map<string, number>();
  const failures: string[] = [];
  const keep = path.join(os.tmpdir(), 'rotadb-fuzz-failures');
  runAll(dir, cases, (c, v) => {
    if ('cls' in v) {
      const cls = c.resealed && !v.cls.startsWith('resealed') ? `resealed: ${v.cls}` : v.cls;
      counts.set(cls, (counts.get(cls) ?? 0) + 1);
      return;
    }
    fs.mkdirSync(keep, { recursive: true });
    const kept = path.join(keep, `seed-${SEED}-case-${c.id}.rdb`);
    fs.writeFileSync(kept, c.image);
    failures.push(`case ${c.id} (base ${c.base.pageSize}/${c.base.nRoots}, ${c.what}; kept as ${kept}): ${v.failure}`);
  });
  const summary = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`[fuzz-open] seed ${SEED}, ${CASES} cases over ${bases.length} files (page size/nRoots ${LAYOUTS.map((l) => l.join('/')).join(', ')}): ${summary}; failures ${failures.length}`);
  expect(failures.slice(0, 20), failures.slice(0, 20).join('\n')).toEqual([]);
}, 600_000);
