/** `rotadb readers <file>`: the read transactions of every process that has the file open. */
import { EXIT_OK, openExisting, withDb, type CliIO, type Command, type Opts } from './common.js';

export const readers: Command = {
  name: 'readers',
  args: ['file'],
  summary: 'the readers of every process that has the file open, with their age',
  options: {},
  details: 'Lists, for each other process that has the file open, the root slots it pins, the version each holds and since when (a process record lists slots, not its threads: db.readers() in that process lists those). A process that stays on an old version for long holds back page reuse and, with rotate, writers: see maxReaderAgeMs.',
  run: runReaders,
};

async function runReaders([file]: string[], _opts: Opts, io: CliIO): Promise<number> {
  return withDb(openExisting(file!), async (db) => {
    const now = Date.now();
    const rs = db.readers().filter((r) => r.processId !== process.pid); // this tool's own reads are not the user's
    if (rs.length === 0) {
      io.stdout.write('no readers: no other process reads the file now\n');
    } else {
      for (const r of rs) {
        const state = r.state === 'expired' ? ' (expired: its slot was written since)' : '';
        io.stdout.write(`process ${r.processId} reads version ${r.txnId} (root slot ${r.slot}) since ${new Date(r.startedAt).toISOString()}, ${now - r.startedAt} ms${state}\n`);
      }
    }
    return EXIT_OK;
  });
}
