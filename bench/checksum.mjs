// What page checksums cost: the checksum of one page, next to what reading that page costs
// anyway (a positioned read from the OS cache, as on every page-cache miss), in one run.
//
//   npm run build && node bench/checksum.mjs
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Bench } from 'tinybench';
import { checksum } from '../dist/pages/checksum.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotadb-cksum-'));
const file = path.join(dir, 'pages');
try {
  const bench = new Bench({ time: 500, warmupTime: 100 });
  const rows = [];
  for (const size of [1024, 4096, 16384, 65536]) {
    const page = Buffer.alloc(size);
    for (let i = 0; i < size; i++) page[i] = (i * 131) & 255;
    fs.writeFileSync(file, Buffer.alloc(size * 64, 7));
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.allocUnsafeSlow(size);
    let n = 0;
    bench.add(`checksum ${size}`, () => { n ^= checksum(page, 4, size, 17); });
    bench.add(`pread ${size}`, () => { fs.readSync(fd, buf, 0, size, ((n++ & 63) * size)); });
    rows.push(size);
  }
  await bench.run();
  const med = (name) => bench.tasks.find((t) => t.name === name).result.latency.p50 * 1e6; // ns
  console.log('| page size | checksum (ns, median) | GB/s | pread from OS cache (ns, median) | checksum / pread |');
  console.log('|---:|---:|---:|---:|---:|');
  for (const size of rows) {
    const c = med(`checksum ${size}`);
    const r = med(`pread ${size}`);
    console.log(`| ${size} | ${c.toFixed(0)} | ${(size / c).toFixed(2)} | ${r.toFixed(0)} | ${(c / r).toFixed(2)} |`);
  }
  console.log(`node ${process.version}, ${os.cpus().length} cores`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
