/** `rotadb dump <file>`: the data as line-delimited JSON, to stdout or a new file. */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import { refuseExisting, removeQuietly } from '../tools/compact.js';
import { EXIT_OK, fmt, openExisting, withDb, withProgress, type CliIO, type Command, type Opts } from './common.js';

export const dump: Command = {
  name: 'dump',
  args: ['file'],
  summary: 'write the data as line-delimited JSON (format in docs/cli.md)',
  options: {
    '--db': { kind: 'string', value: 'name', help: 'dump only the named database' },
    '--main': { kind: 'flag', help: 'dump only the main database' },
    '--out': { kind: 'string', alias: '-o', value: 'path', help: 'write to a new file instead of stdout (never overwrites)' },
  },
  details: 'Dumps one consistent snapshot: a header line, then one line per entry with the raw key and value bytes in base64.',
  run: runDump,
};

async function runDump([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  if (opts['--db'] !== undefined && opts['--main']) throw new UsageError('--db and --main exclude each other');
  const database = opts['--main'] ? null : (opts['--db'] as string | undefined);
  const outPath = opts['--out'] as string | undefined;
  return withDb(openExisting(file!), async (db) => {
    if (outPath === undefined) {
      await withProgress(io, 'dump', 'entries', (p) => db.dump(io.stdout, { database, onProgress: p }));
      return EXIT_OK;
    }
    refuseExisting(outPath, 'dump -o');
    const stream = fs.createWriteStream('', { fd: fs.openSync(outPath, 'wx') });
    try {
      const result = await withProgress(io, 'dump', 'entries', (p) => db.dump(stream, { database, onProgress: p }));
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => resolve());
      });
      io.stderr.write(`dumped ${fmt(result.entries)} entries of ${result.databases} database${result.databases === 1 ? '' : 's'} (version ${result.txnId}) to ${outPath}\n`);
      return EXIT_OK;
    } catch (e) {
      stream.destroy();
      removeQuietly(outPath);
      throw e;
    }
  });
}
