/**
 * `members` (src/procs/members.ts): joins are appended and read back, a torn or foreign entry is
 * skipped, compaction keeps exactly the members that still exist, and a join that races a
 * compaction (the COMPACTING flag set) appends again until it lands in the file that stays.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Members } from '../../src/procs/members.js';
import { MEMBER_SIZE, MEMBERS_COMPACT_AT } from '../../src/pages/layout.js';
import { tempDir } from '../helpers/db.js';

describe('members', () => {
  it('reads back every join once, skips what is not a whole entry, and grows until compacted', () => {
    const dir = tempDir();
    const m = new Members(dir);
    expect(m.names()).toEqual([]);
    for (let i = 0; i < 10; i++) m.join(`p-test-${i}`, () => false);
    m.join('p-test-3', () => false); // a duplicate (a join that appended twice) counts once
    expect(m.names().sort()).toEqual(Array.from({ length: 10 }, (_, i) => `p-test-${i}`).sort());
    fs.appendFileSync(m.path, Buffer.alloc(MEMBER_SIZE, 7)); // garbage
    fs.appendFileSync(m.path, Buffer.alloc(MEMBER_SIZE / 2)); // an append still being written
    expect(m.names()).toHaveLength(10);
    expect(m.oversized()).toBe(false);
    for (let i = 10; i < MEMBERS_COMPACT_AT; i++) m.join(`p-test-${i}`, () => false);
    expect(m.oversized()).toBe(true);
    m.compact((name) => Number(name.slice(7)) % 2 === 0);
    expect(m.names().sort()).toEqual(Array.from({ length: MEMBERS_COMPACT_AT / 2 }, (_, i) => `p-test-${2 * i}`).sort());
    expect(m.oversized()).toBe(false);
    expect(fs.readdirSync(dir)).toEqual(['members']); // no temporary file left
    m.close();
  });

  it('a join that sees the COMPACTING flag appends again, so it survives a compaction that read the file before its first append', () => {
    const dir = tempDir();
    const m = new Members(dir);
    m.join('p-old', () => false);
    const before = fs.readFileSync(m.path); // what a compaction read
    let looks = 0;
    m.join('p-new', () => {
      looks++;
      if (looks === 1) {
        // the compaction replaces the file with what it read before our append: our entry is lost
        const tmp = path.join(dir, 'x');
        fs.writeFileSync(tmp, before);
        fs.renameSync(tmp, m.path);
        return true; // ... and the flag is still set when we look
      }
      return false;
    });
    expect(looks).toBe(2);
    expect(m.names().sort()).toEqual(['p-new', 'p-old']);
    m.close();
  });

  it('a join whose file was replaced after the flag cleared sees another inode and appends again', () => {
    const dir = tempDir();
    const m = new Members(dir);
    m.join('p-a', () => false);
    let replaced = false;
    m.join('p-b', () => {
      if (!replaced) {
        replaced = true;
        const tmp = path.join(dir, 'x');
        fs.writeFileSync(tmp, fs.readFileSync(m.path).subarray(0, MEMBER_SIZE)); // without p-b
        fs.renameSync(tmp, m.path);
      }
      return false;
    });
    expect(m.names().sort()).toEqual(['p-a', 'p-b']);
    m.close();
  });
});
