// The load a benchmark runs under (`npm run bench -- --load ...`):
//   idle     nothing added;
//   hogs     one CPU-bound `sh -c 'while :; do :; done'` per core, at our nice
//            level, started before the measurements and killed after them;
//   quota    a CPU quota of one core (CFS bandwidth: 100 ms per 100 ms period)
//            on a cgroup holding every measured process, weft's and Python's
//            alike (their children inherit it): cgroup v2's cpu.max where the
//            cpu controller is on the unified hierarchy, else cgroup v1's
//            cpu.cfs_quota_us, which is the same kernel mechanism;
//   onecore  `taskset -c 0` on every measured process (children inherit the affinity).
// Every process started here — hogs and measurements — is ended by its pid (a
// measurement by its process group, which it leads) on the way out: normal end,
// error, Ctrl-C, SIGTERM or SIGHUP. Only SIGKILL of this process leaves them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

export const CONDITIONS = ['idle', 'hogs', 'quota', 'onecore'] as const;
export type ConditionName = (typeof CONDITIONS)[number];

export interface Condition {
  name: ConditionName;
  /** One sentence: what was applied, for the tables and the JSON. */
  describe: string;
  /** The command line that runs `argv` under this condition. */
  wrap(argv: string[]): string[];
  /** Ends what the condition started; safe to call twice. */
  stop(): void;
}

const cleanups = new Set<() => void>();
let hooked = false;

/** Runs `fn` when this process ends, however it ends short of SIGKILL; returns the function that unregisters it. */
export function onExit(fn: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', runCleanups);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        console.error(`\n${signal}: stopping the measurement and the load`);
        runCleanups();
        process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
      });
    }
  }
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

function runCleanups(): void {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch (e) {
      console.error(`cleanup failed: ${(e as Error).message}`);
    }
  }
}

/** Starts a condition, or says in one line why this machine cannot have it. */
export function startCondition(name: ConditionName): Condition | { skip: string } {
  switch (name) {
    case 'idle':
      return { name, describe: 'nothing else started', wrap: (argv) => argv, stop() {} };
    case 'onecore':
      if (spawnSync('taskset', ['-c', '0', 'true']).status !== 0) return { skip: 'onecore: `taskset -c 0 true` failed (util-linux taskset missing, or CPU 0 not ours)' };
      return { name, describe: 'every measured process pinned to CPU 0 (taskset -c 0)', wrap: (argv) => ['taskset', '-c', '0', ...argv], stop() {} };
    case 'hogs':
      return startHogs();
    case 'quota':
      return startQuota();
  }
}

function startHogs(): Condition {
  const n = availableParallelism();
  const hogs: ChildProcess[] = [];
  const stop = () => {
    for (const h of hogs.splice(0)) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
    unregister();
  };
  const unregister = onExit(stop);
  for (let i = 0; i < n; i++) hogs.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  console.error(`hogs: ${n} x sh -c 'while :; do :; done', pids ${hogs.map((h) => h.pid).join(' ')}`);
  return { name: 'hogs', describe: `one CPU hog per core (${n} x \`sh -c 'while :; do :; done'\`, same nice level)`, wrap: (argv) => argv, stop };
}

/** The cgroup for the quota: v2 if its cpu controller can be had, else v1's cpu hierarchy. */
function startQuota(): Condition | { skip: string } {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  const own = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').map((l) => l.split(':'));
  const dir = `weft-bench-${process.pid}`;
  const why: string[] = [];

  const v2 = mounts.find((m) => m[2] === 'cgroup2');
  const v2path = own.find((l) => l[0] === '0')?.[2];
  if (!v2) why.push('no cgroup2 mount');
  else if (!readFileSync(join(v2[1]!, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) {
    why.push(`cgroup v2 at ${v2[1]} has no cpu controller (it is bound to cgroup v1)`);
  } else if (v2path !== undefined) {
    const parent = join(v2[1]!, v2path);
    try {
      // cpu.max needs +cpu in the parent's subtree_control; outside the root, a cgroup with
      // processes in it cannot enable controllers for its children ("no internal processes").
      writeFileSync(join(parent, 'cgroup.subtree_control'), '+cpu');
      mkdirSync(join(parent, dir));
      writeFileSync(join(parent, dir, 'cpu.max'), '100000 100000');
      return cgroupCondition(join(parent, dir), 'cgroup v2 cpu.max "100000 100000"');
    } catch (e) {
      why.push(`cgroup v2 at ${parent}: ${(e as Error).message}`);
    }
  }
  const v1 = mounts.find((m) => m[2] === 'cgroup' && m[3]!.split(',').includes('cpu'));
  const v1path = own.find((l) => l[1]!.split(',').includes('cpu'))?.[2];
  if (!v1 || v1path === undefined) why.push('no cgroup v1 cpu hierarchy');
  else {
    const path = join(v1[1]!, v1path, dir);
    try {
      mkdirSync(path);
      writeFileSync(join(path, 'cpu.cfs_period_us'), '100000');
      writeFileSync(join(path, 'cpu.cfs_quota_us'), '100000');
      return cgroupCondition(path, 'cgroup v1 cpu.cfs_quota_us 100000 per cpu.cfs_period_us 100000');
    } catch (e) {
      why.push(`cgroup v1 at ${path}: ${(e as Error).message}`);
      if (existsSync(path)) rmdirSync(path);
    }
  }
  return { skip: `quota: no CPU quota possible here (${why.join('; ')})` };
}

function cgroupCondition(path: string, how: string): Condition {
  const procs = join(path, 'cgroup.procs');
  const stop = () => {
    unregister();
    // The measurements have ended (or were killed) by now; wait for the kernel to empty the group.
    for (let i = 0; i < 50 && existsSync(path); i++) {
      try {
        rmdirSync(path);
      } catch {
        for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL'); // only our measurements are ever put in this group
          } catch { /* already gone */ }
        }
        spawnSync('sleep', ['0.1']);
      }
    }
  };
  const unregister = onExit(stop);
  console.error(`quota: ${how} on ${path}`);
  return {
    name: 'quota',
    describe: `a CPU quota of one core for every measured process (${how})`,
    // the shell joins the group, then becomes the command: everything it starts inherits the group
    wrap: (argv) => ['sh', '-c', 'echo $$ > "$0" && exec "$@"', procs, ...argv],
    stop,
  };
}
