/**
 * `rotadb recover <file> [--apply]`: after a machine crash under noSync, finds the newest version
 * whose whole tree verifies, says what making it current would lose, and with --apply does it.
 * Exit 0: nothing to do, or applied; 1: recovery is needed (run with --apply) or impossible.
 */
import { recover, type DatabaseEntries, type RecoverReport, type SlotFinding } from '../tools/recover.js';
import { EXIT_ERROR, EXIT_OK, fmt, oneLine, withProgress, type CliIO, type Command, type Opts } from './common.js';

export const recoverCommand: Command = {
  name: 'recover',
  args: ['file'],
  summary: 'after a noSync crash: find the newest version that verifies whole, and make it current',
  options: {
    '--apply': { kind: 'flag', help: 'make the version found current (without it the file is not written)' },
    '--json': { kind: 'flag', help: 'print the full report as JSON' },
  },
  details: 'Verifies every valid root slot, newest first: checksums, page births, tree structure, the space map, and that the pages a version wrote carry its id. '
    + 'Reports each slot, the version found, and the versions and entries that making it current would discard. '
    + 'Without --apply nothing is written. --apply zeroes the pages born after that version and the root slots of newer and damaged versions; '
    + 'if it is interrupted, run it again. Exit 0: nothing to recover, or applied; 1: recovery is needed (see --apply) or no version verifies.',
  run: runRecover,
};

async function runRecover([file]: string[], opts: Opts, io: CliIO): Promise<number> {
  const apply = opts['--apply'] === true;
  const report = await withProgress(io, 'recover', 'pages', (p) => {
    try {
      return recover(file!, { apply, onProgress: p });
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ROTA_LOCKED') (e as { file?: string }).file = file;
      throw e;
    }
  });
  if (opts['--json']) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else io.stdout.write(describe(report, file!));
  switch (report.status) {
    case 'ok':
    case 'recovered':
      return EXIT_OK;
    case 'recoverable':
      io.stderr.write(`rotadb: ${file} needs recovery to version ${report.recovered}; run 'rotadb recover ${file} --apply' (ROTA_CORRUPT)\n`);
      return EXIT_ERROR;
    case 'unrecoverable':
      io.stderr.write(`rotadb: no version of ${file} verifies; nothing to recover (ROTA_CORRUPT)\n`);
      return EXIT_ERROR;
  }
}

function slotLine(s: SlotFinding): string {
  if (s.state === 'empty') return `slot ${s.slot}  empty`;
  if (s.state === 'damaged') return `slot ${s.slot}  damaged (${s.reason})`;
  const what = s.verdict === 'verified' ? 'verifies' : s.verdict === 'unchecked' ? 'older, not checked' : `fails: ${oneLine(s.problems[0] ?? '')}`;
  return `slot ${s.slot}  version ${s.txnId}  ${what}`;
}

const list = (xs: Array<number | string>): string => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`);

function describe(r: RecoverReport, file: string): string {
  const lines = [`file      ${file}`, ...r.slots.map(slotLine), ''];
  if (r.recovered === undefined) {
    lines.push('no version verifies: nothing to recover', '');
    return lines.join('\n');
  }
  if (r.status === 'ok') {
    lines.push(`version ${r.recovered} is current and verifies: nothing to recover`, '');
    return lines.join('\n');
  }
  const losing: string[] = [];
  if (r.lost.length > 0) losing.push(`version${r.lost.length === 1 ? '' : 's'} ${list(r.lost.map((l) => l.txnId))}`);
  if (r.damagedSlots.length > 0) losing.push(`damaged slot${r.damagedSlots.length === 1 ? '' : 's'} ${list(r.damagedSlots)}`);
  lines.push(`version ${r.recovered} verifies; making it current discards ${losing.length ? list(losing) : 'nothing'}${r.extendTo !== undefined ? ` and extends the file to ${fmt(r.extendTo)} bytes` : ''}`);
  lines.push('', ...entriesTable(r.databases, r.lost[0]?.txnId, r.lost[0]?.databases, r.lost[0]?.catalogRead ?? false), '');
  if (r.applied) lines.push(`applied: version ${r.recovered} is current (cleared slot${r.clearSlots.length === 1 ? '' : 's'} ${list(r.clearSlots)}; zeroed ${fmt(r.scrubbedPages)} page${r.scrubbedPages === 1 ? '' : 's'} born after it)`, '');
  else lines.push(`nothing was written; run with --apply to make version ${r.recovered} current`, '');
  return lines.join('\n');
}

/** Entries per database of the recovered version against the newest lost one, where its descriptors tell. */
function entriesTable(kept: DatabaseEntries[], newest: number | undefined, lost: DatabaseEntries[] | undefined, catalogRead: boolean): string[] {
  const names = new Map<string, string | null>();
  for (const d of [...kept, ...(lost ?? [])]) names.set(String(d.name), d.name);
  const count = (ds: DatabaseEntries[] | undefined, n: string | null): number | undefined => ds?.find((d) => d.name === n)?.entries;
  const head = ['database', 'entries', ...(newest !== undefined ? [`in version ${newest}`, 'difference'] : [])];
  const rows = [...names.values()].map((n) => {
    const k = count(kept, n) ?? 0;
    const row = [n === null ? '(main)' : n, fmt(k)];
    if (newest !== undefined) {
      const l = count(lost, n) ?? (n === null || catalogRead ? 0 : undefined);
      row.push(l === undefined ? 'unknown' : fmt(l), l === undefined ? '' : `${k - l > 0 ? '+' : ''}${fmt(k - l)}`);
    }
    return row;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}
