/** `rotadb readers <file>`: open read transactions, as far as this process can see them. */
import { EXIT_OK, openExisting, withDb, type CliIO, type Command, type Opts } from './common.js';

export const readers: Command = {
  name: 'readers',
  args: ['file'],
  summary: 'open read transactions (only a process that has the file open can see them)',
  options: {},
  details: 'rotadb allows one process per file, and readers live in the memory of that process: this tool cannot see them. If another process has the file open, it says so and exits 2; call db.readers() (or db.stats()) in that process instead.',
  run: runReaders,
};

async function runReaders([file]: string[], _opts: Opts, io: CliIO): Promise<number> {
  // Opening succeeds only when no other process holds the file (ROTA_LOCKED otherwise, exit 2);
  // readers live in the memory of the process that has it open, so once we hold it there are none.
  return withDb(openExisting(file!), async (db) => {
    const rs = db.readers();
    if (rs.length === 0) {
      io.stdout.write('no readers: the file is not open in any process\n');
    } else {
      for (const r of rs) io.stdout.write(`thread ${r.threadId} reads version ${r.txnId} since ${new Date(r.startedAt).toISOString()}\n`);
    }
    return EXIT_OK;
  });
}
