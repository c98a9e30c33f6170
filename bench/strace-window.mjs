// Sums a syscall trace over the timed section of one bench/durable.mjs child: the calls between its
// "BENCH-MARK start" and "BENCH-MARK end" lines, per syscall and per thread (the marking thread
// is the JavaScript thread).
//
//   BENCH_MARKS=1 strace -f -T -o trace.txt -e trace=fdatasync,fsync,pwrite64,pwritev,write \
//     node --expose-gc bench/durable.mjs --child single rotadb1
//   node bench/strace-window.mjs trace.txt [commits]
//
// Times are strace's -T (time in the call, as seen under ptrace). Bytes are the return values.

import * as fs from 'node:fs';

const [file, commitsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/strace-window.mjs <strace -f -T output> [commits]');
  process.exit(2);
}
const commits = commitsArg ? Number(commitsArg) : null;
const lines = fs.readFileSync(file, 'utf8').split('\n');

let inside = false;
let mainPid = null;
let sawEnd = false;
const stats = new Map(); // `${name} ${thread}` -> { count, seconds, bytes }
// A finished call: `PID name(args) = ret <t>`; a resumed one: `PID <... name resumed>...) = ret <t>`.
const done = /^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\().*\)\s+=\s+(-?\d+)[^<]*<([\d.]+)>\s*$/;
for (const line of lines) {
  if (line.includes('BENCH-MARK start')) {
    inside = true;
    mainPid = line.split(/\s+/)[0];
    continue;
  }
  if (line.includes('BENCH-MARK end')) {
    sawEnd = true;
    break;
  }
  if (!inside) continue;
  const m = done.exec(line);
  if (!m) continue;
  const [, pid, resumed, started, ret, t] = m;
  const name = resumed ?? started;
  if (name === 'write' && line.includes('BENCH-MARK')) continue;
  const thread = pid === mainPid ? 'js thread' : 'other threads';
  const key = `${name}\t${thread}`;
  const s = stats.get(key) ?? { count: 0, seconds: 0, bytes: 0 };
  s.count++;
  s.seconds += Number(t);
  if (name !== 'fdatasync' && name !== 'fsync' && Number(ret) > 0) s.bytes += Number(ret);
  stats.set(key, s);
}
if (mainPid === null || !sawEnd) {
  console.error('no BENCH-MARK start/end pair in the trace (run the child with BENCH_MARKS=1 and trace write)');
  process.exit(1);
}
console.log(`syscall\tthread\tcalls\tms in calls\tus per call\tbytes${commits ? '\tcalls per commit\tus per commit' : ''}`);
for (const [key, s] of [...stats].sort((a, b) => b[1].seconds - a[1].seconds)) {
  const per = commits ? `\t${(s.count / commits).toFixed(2)}\t${((s.seconds * 1e6) / commits).toFixed(1)}` : '';
  console.log(`${key}\t${s.count}\t${(s.seconds * 1000).toFixed(1)}\t${((s.seconds * 1e6) / s.count).toFixed(1)}\t${s.bytes}${per}`);
}
