/** `rotadb backup <file> <dest>`: a consistent physical copy of the current version. */
import { refuseExisting } from '../tools/compact.js';
import { EXIT_OK, bytes, fmt, openExisting, withDb, withProgress, type CliIO, type Command, type Opts } from './common.js';

export const backup: Command = {
  name: 'backup',
  args: ['file', 'dest'],
  summary: 'a consistent physical copy of the current version',
  options: {},
  details: '<dest> must not exist; it appears only once complete and synced. To back up a database that a program has open, call db.backup() in that program (this tool cannot open a file another process holds).',
  run: runBackup,
};

async function runBackup([file, dest]: string[], _opts: Opts, io: CliIO): Promise<number> {
  refuseExisting(dest!, 'backup');
  return withDb(openExisting(file!), async (db) => {
    const r = await withProgress(io, 'backup', 'pages', (p) => db.backup(dest!, { onProgress: p }));
    io.stdout.write(`backed up version ${r.txnId} of ${file} to ${dest}: ${fmt(r.pages)} pages (${bytes(r.size)})\n`);
    return EXIT_OK;
  });
}
