/**
 * A space-map chain with a page more than its records need (commit allocates chain pages before
 * the records are final, and allocating can shorten a snapshot's free runs): the spare page must
 * be a valid, empty chain page, so the chain validates and replays to the same state (the fix is
 * main's packInto; test/pages/spacemap-surplus.test.ts covers it with pending records and commits).
 */
import { describe, expect, it } from 'vitest';
import { linkChain, packInto, pagesNeeded, replaySpaceMap, runsOf, type SpaceRecord } from '../../src/pages/spacemap.js';
import { validatePage } from '../../src/pages/validate.js';
import { SM_FREE } from '../../src/pages/layout.js';

const PS = 1024;

describe('packInto with more pages than the records need', () => {
  it('leaves every extra page a valid empty chain page that replays to nothing', () => {
    const records: SpaceRecord[] = [{ kind: SM_FREE, txn: 0, runs: runsOf([5, 6, 9, 40]) }];
    expect(pagesNeeded(records, PS)).toBe(1);
    const bufs = [new Uint8Array(PS), new Uint8Array(PS), new Uint8Array(PS)];
    const pgnos = [500, 501, 502];
    expect(packInto(records, bufs)).toBe(1);
    linkChain(bufs, pgnos, 0);
    bufs.forEach((b, i) => expect(() => validatePage(b, pgnos[i]!)).not.toThrow());
    const pages = new Map(pgnos.map((p, i) => [p, bufs[i]!]));
    const state = replaySpaceMap((p) => pages.get(p)!, { spaceMapHead: 500, spaceMapPages: 3, nRoots: 0, highWater: 100 });
    expect(state.free.runs()).toEqual([[5, 2], [9, 1], [40, 1]]);
  });
});
