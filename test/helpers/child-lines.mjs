// For child processes of the crash and multi-process tests: their line protocol on stdout and
// their seeded choices.
import * as fs from 'node:fs';

/** Writes one line to stdout with a blocking write; no buffering, so a line seen was really written. */
export function say(line) {
  const buf = Buffer.from(`${line}\n`);
  let done = 0;
  while (done < buf.length) {
    try {
      done += fs.writeSync(1, buf, done, buf.length - done);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

/** A small seeded generator (mulberry32-style): numbers in [0, 1), the same for the same seed. */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
