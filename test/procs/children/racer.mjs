/**
 * One of the processes racing for the writer lock (test/procs/stale-lock.test.ts). It opens the
 * database (argv[2]) with the BUILT module, prints "ready", then for each line "go <round> <n>"
 * runs n write transactions, each a critical section: it creates the marker file argv[3]
 * exclusively (EEXIST: another process is inside too), bumps the counter key, holds for argv[4]
 * ms, removes the marker. It answers each round with one JSON line: when it received the line,
 * when it first got in, and the violations it saw. ROTADB_TEST_STALL_MS (the environment) makes
 * its writer lock stall between finding a holder dead and acting on it. With argv[5] 'async' it
 * runs each transaction through the asynchronous writer (db.transaction), one at a time.
 */
import * as fs from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const rota = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);
const [file, marker, holdArg, mode] = process.argv.slice(2);
const hold = Number(holdArg);
const pause = new Int32Array(new SharedArrayBuffer(4));
setTimeout(() => process.exit(3), 120_000);

const db = rota.open(file, { writeTimeoutMs: 30_000 });
const say = (x) => process.stdout.write(JSON.stringify(x) + '\n');
say({ ready: true, pid: process.pid });

const lines = createInterface({ input: process.stdin });
const run = mode === 'async' ? (fn) => db.transaction(fn) : (fn) => db.transactionSync(fn);

lines.on('line', async (line) => {
  const [, round, n] = line.split(' ').map(Number);
  const received = Date.now();
  let entered = 0;
  let violations = 0;
  try {
    for (let i = 0; i < n; i++) {
      await run(() => {
        if (entered === 0) entered = Date.now();
        let fd;
        try {
          fd = fs.openSync(marker, 'wx');
        } catch (e) {
          if (e.code !== 'EEXIST') throw e;
          violations++;
        }
        db.put('counter', (db.get('counter') ?? 0) + 1);
        Atomics.wait(pause, 0, 0, hold);
        if (fd !== undefined) {
          fs.closeSync(fd);
          fs.unlinkSync(marker);
        }
      });
    }
    say({ round, received, entered, violations });
  } catch (e) {
    say({ round, error: `${e?.code} ${e?.message}` });
  }
});
lines.on('close', async () => { await db.close(); process.exit(0); });
