// The idle time of the CPUs this process may run on (src/multiprocessing/idle.ts),
// which decides when a child is booted ahead of need: read from fake /proc files
// (CPUs outside the affinity must not count, or a container pinned to one busy
// CPU of an idle host would see cores free), then from the real ones.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { cpuList, idleTicks } from '../../src/internals.js';
import { runProgram } from '../helpers/run.js';

/** A reader over a fake filesystem: path -> contents. */
const fake = (files: Record<string, string>) => (path: string) => files[path];

const STAT = [
  'cpu  600 0 100 3000 50 0 10 0 0 0',
  'cpu0 300 0 50 1000 20 0 5 0 0 0',
  'cpu1 300 0 50 2000 30 0 5 0 0 0',
  'intr 12345',
  'ctxt 67890',
  '',
].join('\n');

describe('idleTicks', () => {
  test('sums idle and I/O wait over the CPUs of the affinity only', () => {
    assert.equal(idleTicks(fake({ '/proc/stat': STAT, '/proc/self/status': 'Name:\tnode\nCpus_allowed_list:\t0-1\n' })), 3050);
    assert.equal(idleTicks(fake({ '/proc/stat': STAT, '/proc/self/status': 'Cpus_allowed_list:\t1\n' })), 2030);
    assert.equal(idleTicks(fake({ '/proc/stat': STAT, '/proc/self/status': 'Cpus_allowed_list:\t0\n' })), 1020);
  });

  test('counts every CPU where the affinity cannot be read, and nothing where /proc/stat cannot', () => {
    assert.equal(idleTicks(fake({ '/proc/stat': STAT })), 3050);
    assert.equal(idleTicks(fake({ '/proc/stat': STAT, '/proc/self/status': 'Cpus_allowed_list:\tnonsense\n' })), 3050);
    assert.equal(idleTicks(fake({})), undefined);
    assert.equal(idleTicks(fake({ '/proc/stat': 'cpu  1 2 3 4\n' })), undefined, 'no per-CPU line');
  });

  test('cpuList reads the kernel\'s list format', () => {
    assert.deepEqual([...cpuList('0-3,8,10-11')!], [0, 1, 2, 3, 8, 10, 11]);
    assert.deepEqual([...cpuList('5\n')!], [5]);
    assert.equal(cpuList('0-3,x'), undefined);
  });

  test('on this machine, a CPU this process spins on shows no idle time', async (t) => {
    if (spawnSync('taskset', ['-c', '0', 'true']).status !== 0) return t.skip('taskset cannot pin to CPU 0 here');
    // Pinned to CPU 0 and spinning, the process always wants that CPU, so it
    // never idles whatever else runs there; CPU 1's idle time must not count.
    const script = `
      const { idleTicks, TICK_MS } = await import(${JSON.stringify(new URL('../../src/internals.js', import.meta.url).href)});
      const before = idleTicks();
      const t0 = performance.now();
      while (performance.now() - t0 < 300);
      console.log(((idleTicks() - before) * TICK_MS) / (performance.now() - t0));
    `;
    const r = await runProgram('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Number(r.stdout) < 0.2, `a CPU spun on for 300 ms idled ${r.stdout.trim()} of the time`);
  });
});
