/** `rotadb compact <file> <dest>`: a new file holding only the live data, with full pages. */
import { refuseExisting } from '../tools/compact.js';
import { EXIT_OK, bytes, fmt, openExisting, withDb, withProgress, type CliIO, type Command, type Opts } from './common.js';

export const compact: Command = {
  name: 'compact',
  args: ['file', 'dest'],
  summary: 'write a new file holding only the live data, with full pages',
  options: {
    '--page-size': { kind: 'int', value: 'n', help: "page size of the new file (default: the source's)" },
    '--roots': { kind: 'int', value: 'n', help: "root slots of the new file (default: the source's)" },
  },
  details: 'Copies one consistent snapshot in key order. <dest> must not exist; it appears only once complete.',
  run: runCompact,
};

async function runCompact([file, dest]: string[], opts: Opts, io: CliIO): Promise<number> {
  refuseExisting(dest!, 'compact');
  return withDb(openExisting(file!), async (db) => {
    const r = await withProgress(io, 'compact', 'entries', (p) => db.compact(dest!, {
      onProgress: p, pageSize: opts['--page-size'] as number | undefined, nRoots: opts['--roots'] as number | undefined,
    }));
    io.stdout.write(`compacted ${file} (${bytes(r.sourceSize)}) to ${dest} (${bytes(r.size)}): ${fmt(r.entries)} entries in main and ${r.databases} named database${r.databases === 1 ? '' : 's'}, version ${r.txnId}\n`);
    return EXIT_OK;
  });
}
