/**
 * Rewrites one process record (argv[2]) in a hot loop, as a process rewrites its own record
 * (one pwrite at offset 0, never truncated), with the BUILT record codec, until killed
 * (test/procs/records.test.ts). Every record it writes is self-consistent: with seq s, it has
 * 1 + s % 64 pins, pin k on slot k with version s and since 2s, ticket s, choosing when s is
 * odd, and `opened` fixed; so a reader that took a mix of two records for one would see it.
 */
import * as fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const { encodeProc } = await import(pathToFileURL(path.join(root, 'dist', 'procs', 'records.js')).href);
const { ownIdentity } = await import(pathToFileURL(path.join(root, 'dist', 'procs', 'identity.js')).href);
setTimeout(() => process.exit(3), 60_000);

const OPENED = 1_700_000_000_000;
const id = ownIdentity();
const fd = fs.openSync(process.argv[2], 'r+');
const buf = new Uint8Array(4096);
for (let s = 1; ; s = (s + 1) >>> 0 || 1) {
  const pins = [];
  for (let k = 0; k <= s % 64; k++) pins.push({ slot: k, version: s, since: 2 * s });
  const n = encodeProc({ id, seq: s, choosing: s % 2 === 1, ticket: s, opened: OPENED, pins }, buf);
  fs.writeSync(fd, buf, 0, n, 0);
  if (s === 1) process.stdout.write('ready\n');
}
