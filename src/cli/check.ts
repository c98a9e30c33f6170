/** `rotadb check <file>`: the consistency checker; exits 1 and names the page of every problem. */
import { EXIT_ERROR, EXIT_OK, oneLine, openExisting, withDb, withProgress, type CliIO, type Command, type Opts } from './common.js';

export const check: Command = {
  name: 'check',
  args: ['file'],
  summary: 'verify every page of the file: checksums, tree structure, ownership',
  options: { '--json': { kind: 'flag', help: 'print the full report as JSON' } },
  details: "Prints 'ok' and exits 0 when the file is sound; otherwise prints one line per problem, naming the page, and exits 1.",
  run: runCheck,
};

async function runCheck([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  return withDb(openExisting(file!), async (db) => {
    const report = await withProgress(io, 'check', 'pages', (p) => db.check(p));
    if (opts['--json']) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else if (report.ok) io.stdout.write('ok\n');
    else io.stdout.write(report.problems.map((p) => oneLine(p)).join('\n') + '\n');
    if (report.ok) return EXIT_OK;
    io.stderr.write(`rotadb: check found ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${file} (ROTA_CORRUPT)\n`);
    return EXIT_ERROR;
  });
}
