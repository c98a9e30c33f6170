/**
 * Closing a shared file (docs/design.md, "Several processes: opening and closing"). The last
 * thread of a process removes the process's record; if no other live process has the file open,
 * it removes the whole lock directory, so that a file nobody has open leaves nothing beside it.
 *
 * The directory goes only under the writer lock across processes and only when no other record
 * is left: a process opening the file meanwhile has made its record before it asks for the lock
 * and opens `state` only once it holds it, so it either is seen here (and the directory stays) or
 * finds no state file and makes a new one, which then nobody else holds open.
 */
import { Bakery } from './bakery.js';
import type { LockDir } from './lock-dir.js';
import { liveness } from './identity.js';

export function leave(dir: LockDir, last: boolean): void {
  if (dir.isClosed) return; // left already (a failed open cleans up in two layers)
  if (!last) {
    dir.close(false);
    return;
  }
  let alone = false;
  const bakery = new Bakery(dir);
  try {
    if (bakery.tryLock()) {
      alone = true;
      for (const o of dir.othersListed()) {
        if (liveness(o.record.id) === 'dead') dir.removeDead(o.name);
        else alone = false;
      }
    }
  } catch {
    alone = false; // the directory stays; the next opener tidies up
  }
  if (alone) dir.removeDirectory();
  else dir.close(true);
}
