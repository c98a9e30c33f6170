import { it } from 'vitest';
import * as path from 'node:path';
import { backup } from '/work/main/src/tools/backup.js';
import { openFile, tempDir, tempPath } from '/work/main/test/helpers/db.js';
it('dbg', async () => {
  const db = openFile(tempPath('live.rdb'), { encoding: 'binary' });
  db.transactionSync(() => { for (let i = 0; i < 3000; i++) db.putSync(`k${i}`, Buffer.alloc(200, 1)); });
  let stop = false, commits = 0;
  const writer = (async () => { while (!stop) { await db.transaction(() => { db.putSync('k' + commits, Buffer.alloc(100, 2)); }); commits++; } })();
  while (commits < 5) await new Promise((r) => setImmediate(r));
  const t0 = Date.now();
  let calls = 0;
  const started = commits;
  const result = await backup(db, path.join(tempDir(), 'c.rdb'), { chunkPages: 4, onProgress: (d, t) => { calls++; if (calls % 20 === 0) console.log('progress', d, t, commits, Date.now() - t0); } });
  console.log('done', result, commits - started, Date.now() - t0);
  stop = true; await writer;
});
