/** `rotadb load <file>`: a dump into a database, creating the file (with the dump's layout) if needed. */
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { FileNotFoundError } from '../errors.js';
import { DumpReader } from '../tools/load.js';
import { CACHE, EXIT_OK, fmt, openExisting, openOrTag, withDb, withProgress, type CliIO, type Command, type Opts } from './common.js';

export const load: Command = {
  name: 'load',
  args: ['file'],
  summary: 'load a dump into a database, creating the file if needed',
  options: {
    '--in': { kind: 'string', alias: '-i', value: 'path', help: 'read the dump from a file instead of stdin' },
    '--page-size': { kind: 'int', value: 'n', help: "page size of a new file (default: the dump's)" },
    '--roots': { kind: 'int', value: 'n', help: "root slots of a new file (default: the dump's)" },
  },
  details: 'Existing keys are replaced. Writes go in transactions of 10,000 entries, so a load that fails part way keeps what it committed.',
  run: runLoad,
};

async function runLoad([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  const inPath = opts['--in'] as string | undefined;
  let input: Readable;
  if (inPath === undefined) {
    input = io.stdin;
  } else {
    if (!fs.existsSync(inPath)) throw new FileNotFoundError(inPath);
    input = fs.createReadStream(inPath);
  }
  try {
    // The header comes first, so a bad dump creates no file.
    const reader = await DumpReader.open(input);
    const pageSize = opts['--page-size'] as number | undefined;
    const nRoots = opts['--roots'] as number | undefined;
    const exists = fs.existsSync(file!);
    const db = exists
      ? openExisting(file!, { pageSize, nRoots })
      : openOrTag(file!, { cacheSize: CACHE, pageSize: pageSize ?? reader.header.pageSize, nRoots: nRoots ?? reader.header.nRoots });
    return await withDb(db, async () => {
      const result = await withProgress(io, 'load', 'entries', (p) => db.load(reader, { onProgress: p }));
      io.stdout.write(`loaded ${fmt(result.entries)} entries into ${result.databases} database${result.databases === 1 ? '' : 's'} of ${file}${exists ? '' : ' (new file)'}\n`);
      return EXIT_OK;
    });
  } finally {
    if (inPath !== undefined) input.destroy();
  }
}
