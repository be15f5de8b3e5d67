/**
 * Managers a suite starts, tracked so that its end can check that each one
 * removed its socket directory (named after the process that made it).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { after } from 'node:test';
import { Manager } from 'weft';

/** Call once at a suite file's top level: returns its `Manager.start`, and checks at the end that nothing was left. */
export function trackManagers(): (options?: Parameters<typeof Manager.start>[0]) => Promise<Manager> {
  const dirs = new Set<string>();
  after(() => {
    for (const dir of dirs) assert.equal(existsSync(dir), false, `socket directory ${dir} was left behind`);
    const mine = readdirSync(tmpdir()).filter((name) => name.startsWith(`weft-manager-${process.pid}-`));
    assert.deepEqual(mine, [], 'socket directories left in the temp dir');
  });
  return async (options = {}) => {
    const m = await Manager.start(options);
    dirs.add(dirname(m.address));
    return m;
  };
}
