// cpuCount() counts a container's CPU limit (cgroup quota), which os.availableParallelism() does not:
// the quota is read from fake cgroup trees for both cgroup versions, then from a real group made here
// where this machine lets us (root, a cpu controller), with a Pool sized by it.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cpuCount } from 'weft';
import { cpuQuota } from '../../src/internals.js';
import { runProgram } from '../helpers/run.js';

/** A reader over a fake filesystem: path -> contents. */
const fake = (files: Record<string, string>) => (path: string) => files[path];

const V2_MOUNT = '30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n';
const V1_CPU_MOUNT = (root: string) =>
  `35 29 0:31 ${root} /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct\n`;

/** A v1 cpu hierarchy mounted as Docker does without a cgroup namespace: the mount's root is the group /docker/abc. */
const dockerV1 = (membership: string, quotaUs: string) =>
  fake({
    '/proc/self/cgroup': membership,
    '/proc/self/mountinfo': V1_CPU_MOUNT('/docker/abc'),
    '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': `${quotaUs}\n`,
    '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
  });

describe('cpuQuota (fake cgroup trees)', () => {
  test('v2: the smallest cpu.max from the group up to the root wins, as a fraction of CPUs', () => {
    const read = fake({
      '/proc/self/cgroup': '0::/kubepods/pod1/ctr\n',
      '/proc/self/mountinfo': V2_MOUNT,
      '/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max': 'max 100000\n',
      '/sys/fs/cgroup/kubepods/pod1/cpu.max': '150000 100000\n',
      '/sys/fs/cgroup/kubepods/cpu.max': '400000 100000\n',
    });
    assert.equal(cpuQuota(read), 1.5);
  });

  test('v2 inside a cgroup namespace: the group is the mount itself', () => {
    const read = fake({ '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/cpu.max': '200000 100000\n' });
    assert.equal(cpuQuota(read), 2);
  });

  test('v1: cpu.cfs_quota_us over cpu.cfs_period_us; -1 means none; a mount whose root is the group', () => {
    const membership = '12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n';
    assert.equal(cpuQuota(dockerV1(membership, '50000')), 0.5);
    assert.equal(cpuQuota(dockerV1(membership, '-1')), Infinity);
  });

  test('hybrid: a v2 mount without the cpu controller and a v1 cpu hierarchy; the v1 limit of an ancestor counts', () => {
    const read = fake({
      '/proc/self/cgroup': '1:cpu:/batch/job7\n0::/\n',
      '/proc/self/mountinfo': `${V2_MOUNT.replace('/sys/fs/cgroup ', '/sys/fs/cgroup/unified ')}${V1_CPU_MOUNT('/')}`,
      '/sys/fs/cgroup/cpu,cpuacct/batch/cpu.cfs_quota_us': '300000\n',
      '/sys/fs/cgroup/cpu,cpuacct/batch/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpu,cpuacct/batch/job7/cpu.cfs_quota_us': '-1\n',
      '/sys/fs/cgroup/cpu,cpuacct/batch/job7/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cpuQuota(read), 3);
  });

  test('no limit, nothing readable, a garbled file, or a group outside the mount: Infinity', () => {
    assert.equal(cpuQuota(fake({})), Infinity);
    assert.equal(cpuQuota(fake({ '/proc/self/cgroup': '0::/a\n', '/proc/self/mountinfo': V2_MOUNT })), Infinity);
    assert.equal(cpuQuota(fake({ '/proc/self/cgroup': '0::/a\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/a/cpu.max': 'garbage' })), Infinity);
    assert.equal(cpuQuota(dockerV1('4:cpu:/other\n', '50000')), Infinity);
  });

  test('mountinfo escapes in mount points are read back', () => {
    const read = fake({
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': V2_MOUNT.replace('/sys/fs/cgroup ', '/mnt/cg\\040v2 '),
      '/mnt/cg v2/cpu.max': '100000 100000',
    });
    assert.equal(cpuQuota(read), 1);
  });
});

/**
 * A cgroup with a CPU quota of half a core, v2 where its cpu controller can be had, else v1; or
 * the reason this machine allows neither (not root, no cpu controller).
 */
function quotaGroup(): { procs: string; remove: () => void } | { skip: string } {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  const own = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').map((l) => l.split(':'));
  const name = `weft-test-${process.pid}`;
  const v2 = mounts.find((m) => m[2] === 'cgroup2');
  const v2path = own.find((l) => l[0] === '0')?.[2];
  if (v2 && v2path !== undefined && readFileSync(join(v2[1]!, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) {
    const dir = join(v2[1]!, v2path, name);
    try {
      writeFileSync(join(v2[1]!, v2path, 'cgroup.subtree_control'), '+cpu');
      mkdirSync(dir);
      writeFileSync(join(dir, 'cpu.max'), '50000 100000');
      return { procs: join(dir, 'cgroup.procs'), remove: () => rmdirSync(dir) };
    } catch {
      if (existsSync(dir)) rmdirSync(dir);
    }
  }
  const v1 = mounts.find((m) => m[2] === 'cgroup' && m[3]!.split(',').includes('cpu'));
  const v1path = own.find((l) => l[1]!.split(',').includes('cpu'))?.[2];
  if (!v1 || v1path === undefined) return { skip: 'no cgroup v2 cpu controller and no v1 cpu hierarchy here' };
  const dir = join(v1[1]!, v1path, name);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), '50000');
    return { procs: join(dir, 'cgroup.procs'), remove: () => rmdirSync(dir) };
  } catch (e) {
    if (existsSync(dir)) rmdirSync(dir);
    return { skip: `cannot make a cgroup with a CPU quota here: ${(e as Error).message}` };
  }
}

describe('cpuCount with a real CPU quota', () => {
  test('outside any quota it is the CPUs this process may run on', () => {
    assert.ok(cpuCount() >= 1 && cpuCount() <= availableParallelism());
  });

  test('half a core of quota: cpuCount() is 1 and a Pool of default size has one worker', async (t) => {
    const group = quotaGroup();
    if ('skip' in group) return t.skip(group.skip);
    t.after(group.remove);
    const script = `
      import { Pool, cpuCount } from 'weft';
      import { availableParallelism } from 'node:os';
      const pool = new Pool({ context: 'thread' });
      console.log(JSON.stringify({ cpuCount: cpuCount(), available: availableParallelism(), poolSize: pool.processes }));
      await pool.terminate();`;
    // The shell joins the group, then becomes node: everything node starts is in it too.
    const r = await runProgram('sh', ['-c', `echo $$ > ${group.procs} && exec "${process.execPath}" --input-type=module -e "$0"`, script], { timeout: 60 });
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout.trim()) as { cpuCount: number; available: number; poolSize: number };
    assert.equal(seen.cpuCount, 1);
    assert.equal(seen.poolSize, 1);
    assert.equal(seen.available, availableParallelism(), 'Node itself does not count the quota');
  });
});
