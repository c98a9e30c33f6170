/** `rotadb stat <file>`: sizes, version, free space, and entries and pages of every database. */
import { listDatabases } from '../tools/compact.js';
import { EXIT_OK, bytes, fmt, openExisting, withDb, type CliIO, type Command, type Opts } from './common.js';

interface DbStat {
  name: string | null;
  entries: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
}

export const stat: Command = {
  name: 'stat',
  args: ['file'],
  summary: 'sizes, version, free space, and entries and pages of every database',
  options: { '--json': { kind: 'flag', help: 'print one JSON object instead of text' } },
  details: 'Reads the current version. Free and pending pages are as a fresh open sees them (no reader is left after a reopen, so every free page is reusable).',
  run: runStat,
};

async function runStat([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  return withDb(openExisting(file!), async (db) => {
    const r = db.env.beginRead(false);
    let dbs: DbStat[];
    let meta: typeof r.meta;
    try {
      meta = r.meta;
      dbs = listDatabases(r).map(({ name, tree: t }) => ({
        name, entries: t.entries, depth: t.depth, branchPages: t.branchPages, leafPages: t.leafPages, overflowPages: t.overflowPages,
      }));
    } finally {
      r.end();
    }
    const s = db.stats();
    const report = {
      path: file!,
      txnId: meta.txnId,
      pageSize: meta.pageSize,
      nRoots: meta.nRoots,
      fileSize: s.fileSize,
      totalPages: meta.highWater,
      treePages: dbs.reduce((a, d) => a + d.branchPages + d.leafPages + d.overflowPages, 0),
      catalogPages: meta.catalog.branchPages + meta.catalog.leafPages,
      spaceMapPages: meta.spaceMapPages,
      freePages: s.freePages,
      pendingPages: s.pendingPages,
      databases: dbs,
    };
    if (opts['--json']) {
      io.stdout.write(JSON.stringify(report, null, 2) + '\n');
      return EXIT_OK;
    }
    const x = report;
    const lines = [
      `file          ${file}`,
      `size          ${fmt(x.fileSize)} bytes (${bytes(x.fileSize)}), pages of ${fmt(x.pageSize)} bytes`,
      `version       ${x.txnId} (${x.nRoots} root slot${x.nRoots === 1 ? '' : 's'})`,
      `pages         ${fmt(x.totalPages)} below the high-water mark: ${fmt(x.treePages)} data, ${fmt(x.freePages + x.pendingPages)} free, ` +
        `${x.nRoots} root slot${x.nRoots === 1 ? '' : 's'}, ${fmt(x.catalogPages)} catalog, ${fmt(x.spaceMapPages)} space map`,
      `databases     main and ${dbs.length - 1} named`,
      '',
    ];
    const head = ['database', 'entries', 'depth', 'branch', 'leaf', 'overflow'];
    const rows = dbs.map((d) => [d.name === null ? '(main)' : d.name, fmt(d.entries), String(d.depth), fmt(d.branchPages), fmt(d.leafPages), fmt(d.overflowPages)]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    lines.push(line(head), ...rows.map(line), '');
    io.stdout.write(lines.join('\n'));
    return EXIT_OK;
  });
}
