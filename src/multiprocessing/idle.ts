/**
 * How much the CPUs this process may run on have idled: the kernel's count of
 * idle time in `/proc/stat`, summed over the CPUs of this process's affinity
 * (`Cpus_allowed_list` in `/proc/self/status`, which `taskset` and a
 * container's cpuset set). Two readings some time apart tell how many cores
 * stood free meanwhile, whoever else runs on the machine: weft boots a child
 * ahead of need only on a core nobody wants (boot_ahead.ts).
 * @module
 */
import { readOrUndefined, type ReadFile } from './cgroup.js';

/**
 * Milliseconds per tick of `/proc/stat`: its unit is USER_HZ, which Linux
 * fixes at 100 for user space on every architecture (`getconf CLK_TCK`).
 */
export const TICK_MS = 10;

/** The CPUs of a list such as `0-3,8,10-11`; undefined when it does not parse. */
export function cpuList(list: string): Set<number> | undefined {
  const cpus = new Set<number>();
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return cpus;
}

/**
 * The idle ticks (idle and I/O wait: a CPU waiting on I/O runs nothing) so
 * far of the CPUs this process may run on; undefined where they cannot be
 * read (not Linux, no /proc).
 * Two readings `ms` apart: `(after - before) * TICK_MS / ms` cores stood idle meanwhile.
 * @param read reads `/proc/self/status` and `/proc/stat` (tests pass fakes).
 */
export function idleTicks(read: ReadFile = readOrUndefined): number | undefined {
  const stat = read('/proc/stat');
  if (stat === undefined) return undefined;
  const allowed = /^Cpus_allowed_list:\s*(\S+)/m.exec(read('/proc/self/status') ?? '');
  const cpus = allowed ? cpuList(allowed[1]!) : undefined;
  let ticks = 0;
  let seen = 0;
  for (const line of stat.split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m || (cpus !== undefined && !cpus.has(Number(m[1])))) continue;
    // user nice system idle iowait …
    const fields = m[2]!.trim().split(/\s+/).map(Number);
    ticks += (fields[3] ?? 0) + (fields[4] ?? 0);
    seen++;
  }
  return seen > 0 ? ticks : undefined;
}
