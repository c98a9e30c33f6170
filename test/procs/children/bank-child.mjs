// A child process of test/procs/bank.test.ts and chaos.test.ts: one writer or reader on a bank
// file shared with other processes.
//
//   node bank-child.mjs '<json config>'
//
// config: { dist, file, role: 'sync' | 'async' | 'reader' | 'long', id, accounts, total,
//           writers, until, open, seed, holdMs, pauseMs }
//
// The file holds accounts ['acct', i] = { b: balance, p: padding } whose balances sum to
// `total`, per-writer counters ['ctr', w] (transfers committed by writer w), and ['done', w, n]
// for every transfer n of writer w. A writer moves amounts between random accounts, bumps its
// counter and writes its done key in one transaction; a reader checks, in one snapshot, that the
// balances sum to `total`, and that no counter is below what its previous snapshot saw (a
// version older than the one before: a snapshot that is not what its pin says). Runs until
// `until` (ms since epoch), then closes. Lines on stdout, written synchronously:
//
//   ready                       the database is open
//   ack <w> <n> <ms>            writer: transfer n committed (the call returned), taking ms
//   stat <snapshots> <checks>   reader: counts so far (every 100 ms and at the end)
//   viol <what>                 reader: an anomaly inside a snapshot
//   error <message>             anything unexpected; exit code 2
import { rng, say } from '../../helpers/child-lines.mjs';

const cfg = JSON.parse(process.argv[2]);
const { open } = await import(cfg.dist);

const random = rng(cfg.seed);
const pick = (n) => Math.floor(random() * n);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps without yielding to the event loop: the snapshot stays exactly as it is meanwhile. */
const block = (ms) => { if (ms > 0) Atomics.wait(sleeper, 0, 0, ms); };

const db = open(cfg.file, cfg.open);
say('ready');

async function writer() {
  const w = cfg.id;
  const transfer = () => {
    const n = (db.get(['ctr', w]) ?? 0) + 1;
    const moves = 1 + pick(4);
    for (let k = 0; k < moves; k++) {
      const a = pick(cfg.accounts);
      const b = (a + 1 + pick(cfg.accounts - 1)) % cfg.accounts;
      const ra = db.get(['acct', a]);
      const rb = db.get(['acct', b]);
      const amount = pick(ra.b + 1);
      db.put(['acct', a], { b: ra.b - amount, p: ra.p });
      db.put(['acct', b], { b: rb.b + amount, p: rb.p });
    }
    db.put(['ctr', w], n);
    db.put(['done', w, n], moves);
    return n;
  };
  while (Date.now() < cfg.until) {
    const t0 = performance.now();
    const n = cfg.role === 'sync' ? db.transactionSync(transfer) : await db.transaction(transfer);
    say(`ack ${w} ${n} ${(performance.now() - t0).toFixed(2)}`);
    if (cfg.pauseMs > 0) await new Promise((r) => setTimeout(r, pick(cfg.pauseMs + 1)));
  }
}

/** Reads the whole bank through `txn`: the sum of the balances and every writer's counter. */
function read(txn) {
  let sum = 0;
  let count = 0;
  for (const { value } of db.getRange({ start: ['acct'], end: ['acct', Infinity], transaction: txn })) {
    sum += value.b;
    count++;
  }
  const ctrs = [];
  for (let w = 0; w < cfg.writers; w++) ctrs.push(db.get(['ctr', w], { transaction: txn }) ?? 0);
  return { sum, count, ctrs };
}

let snapshots = 0;
let checks = 0;
let lastStat = 0;
const stat = (force) => {
  const now = Date.now();
  if (force || now - lastStat >= 100) {
    lastStat = now;
    say(`stat ${snapshots} ${checks}`);
  }
};

async function reader() {
  const prev = new Array(cfg.writers).fill(0);
  while (Date.now() < cfg.until) {
    let txn;
    try {
      txn = db.useReadTransaction();
      const first = read(txn);
      checks++;
      const bad = (r) => (r.sum !== cfg.total || r.count !== cfg.accounts ? `total ${r.sum} over ${r.count} accounts` : null);
      let v = bad(first);
      if (v === null) {
        const back = first.ctrs.findIndex((c, w) => c < prev[w]);
        if (back >= 0) v = `counter of writer ${back} went back from ${prev[back]} to ${first.ctrs[back]}`;
      }
      for (let w = 0; w < cfg.writers; w++) prev[w] = Math.max(prev[w], first.ctrs[w]);
      // Holding the snapshot: writers commit meanwhile and may reuse pages; its content must not move.
      const end = Date.now() + (cfg.role === 'long' ? cfg.holdMs / 2 + pick(cfg.holdMs) : pick(cfg.holdMs + 1));
      while (v === null && Date.now() < end) {
        if (cfg.role === 'long') await new Promise((r) => setTimeout(r, 50 + pick(100)));
        else block(1 + pick(3));
        const again = read(txn);
        checks++;
        v = bad(again) ?? (again.ctrs.join() !== first.ctrs.join() ? `counters moved inside one snapshot: ${first.ctrs} then ${again.ctrs}` : null);
      }
      if (v !== null) say(`viol ${v}`);
      snapshots++;
    } catch (e) {
      const code = e?.code ?? 'no code';
      say(`viol ${code} inside a snapshot: ${String(e?.message ?? e).split('\n')[0].slice(0, 200)}`);
      snapshots++;
    } finally {
      try { txn?.done(); } catch { /* an expired or broken transaction: already reported */ }
    }
    stat(false);
    if (cfg.role !== 'long' && snapshots % 20 === 0) await new Promise((r) => setImmediate(r));
  }
  stat(true);
}

try {
  if (cfg.role === 'sync' || cfg.role === 'async') await writer();
  else await reader();
  await db.close();
  process.exit(0);
} catch (e) {
  say(`error ${e?.code ?? ''} ${String(e?.stack ?? e).split('\n').slice(0, 14).join(' | ')}`);
  process.exit(2);
}
