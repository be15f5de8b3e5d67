/**
 * The CPU quota of this process's control group: how many CPUs' worth of time
 * it may use, which a container's CPU limit sets (`docker run --cpus`,
 * Kubernetes' `limits.cpu`). Node's `os.availableParallelism()` counts the
 * CPUs the process may run on and not this, so a Pool sized by it alone in a
 * container limited to 2 CPUs of a 64-CPU host would start 64 workers, which
 * the quota then throttles in turn. Python's `os.cpu_count()` has the same
 * blind spot; Java and Go read the quota, and so does weft's `cpuCount()`.
 *
 * Both cgroup versions are read, as a machine may mount either or both:
 * v2's `cpu.max` ("max 100000" or "50000 100000": quota and period in µs) and
 * v1's `cpu.cfs_quota_us` (-1 for none) over `cpu.cfs_period_us`. A limit
 * set on any ancestor of the process's group binds it too, so every level
 * up to the mount's root is read and the smallest limit wins.
 * @module
 */
import { readFileSync } from 'node:fs';

/** Reads a small file, or undefined when it cannot be read (no such group, no controller, no /proc). */
export type ReadFile = (path: string) => string | undefined;

const readOrUndefined: ReadFile = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

interface Mount {
  /** The directory of the hierarchy this mount shows (mountinfo's 4th field). */
  root: string;
  /** Where it is mounted. */
  point: string;
  version: 1 | 2;
}

/** The cgroup mounts that can hold a CPU limit: every cgroup2 mount, and v1 mounts of the cpu controller. */
function cgroupMounts(mountinfo: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fstype, , superOptions = ''] = right.split(' ');
    const root = unescape(fields[3] ?? '');
    const point = unescape(fields[4] ?? '');
    if (fstype === 'cgroup2') mounts.push({ root, point, version: 2 });
    else if (fstype === 'cgroup' && superOptions.split(',').includes('cpu')) mounts.push({ root, point, version: 1 });
  }
  return mounts;
}

/** mountinfo writes a space, tab, newline or backslash in a path as an octal escape. */
function unescape(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The limit one level sets, in CPUs; Infinity for none. */
function levelLimit(read: ReadFile, dir: string, version: 1 | 2): number {
  if (version === 2) {
    const [quota, period] = (read(`${dir}/cpu.max`) ?? '').trim().split(/\s+/);
    const q = Number(quota);
    const p = Number(period);
    return quota !== 'max' && q > 0 && p > 0 ? q / p : Infinity;
  }
  const q = Number((read(`${dir}/cpu.cfs_quota_us`) ?? '').trim());
  const p = Number((read(`${dir}/cpu.cfs_period_us`) ?? '').trim());
  return q > 0 && p > 0 ? q / p : Infinity;
}

/**
 * How many CPUs' worth of time this process's cgroups allow it, possibly a
 * fraction (1.5 for `--cpus 1.5`); Infinity where no limit is set or none can
 * be read (not Linux, no cgroup filesystem mounted).
 * `cpuCount()` (process.ts) rounds it up and bounds it by the CPUs the process may run on.
 * @param read reads `/proc/self/cgroup`, `/proc/self/mountinfo` and the groups' files (tests pass a fake tree).
 */
export function cpuQuota(read: ReadFile = readOrUndefined): number {
  const membership = read('/proc/self/cgroup');
  const mountinfo = read('/proc/self/mountinfo');
  if (membership === undefined || mountinfo === undefined) return Infinity;
  // "0::/path" is the v2 group; "4:cpu,cpuacct:/path" a v1 hierarchy with the cpu controller.
  const groups = membership.split('\n').map((l) => l.split(':'));
  const v2 = groups.find(([id, controllers]) => id === '0' && controllers === '');
  const v1 = groups.find(([, controllers]) => (controllers ?? '').split(',').includes('cpu'));
  let limit = Infinity;
  for (const mount of cgroupMounts(mountinfo)) {
    const path = (mount.version === 2 ? v2 : v1)?.slice(2).join(':');
    // A group outside what the mount shows (another cgroup namespace) cannot be read from here.
    if (path === undefined || !(path === mount.root || path.startsWith(mount.root === '/' ? '/' : `${mount.root}/`))) continue;
    const inside = mount.root === '/' ? path : path.slice(mount.root.length);
    const parts = inside.split('/').filter(Boolean);
    for (let depth = parts.length; depth >= 0; depth--) {
      const dir = [mount.point, ...parts.slice(0, depth)].join('/');
      limit = Math.min(limit, levelLimit(read, dir, mount.version));
    }
  }
  return limit;
}
