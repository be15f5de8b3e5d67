// CPU time for the start-up benchmarks, read the way getrusage(RUSAGE_SELF) +
// getrusage(RUSAGE_CHILDREN) would (Node has no binding for the latter):
// this process's own user + system time, plus /proc/self/stat's cutime and
// cstime, which count every child this process has reaped (libuv reaps each
// child_process at its exit), grandchildren included once their parents reaped them.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** USER_HZ: the unit of /proc's times, fixed at 100 on Linux whatever the kernel's HZ (proc(5)). */
const TICKS_PER_SECOND = 100;

/** Seconds of CPU used by this process (every thread) and its reaped children. */
export function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // the command name, in parentheses, may hold spaces: count fields after its ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cutime = Number(fields[13]);
  const cstime = Number(fields[14]);
  return (user + system) / 1e6 + (cutime + cstime) / TICKS_PER_SECOND;
}

/**
 * `n` × `node -e 0`, with this process's Node flags (those a weft child gets
 * when none name a script), started at once: Node's own share of a burst of starts.
 */
export async function nodeBoots(n: number): Promise<{ seconds: number; cpu: number }> {
  const cpu0 = cpuSeconds();
  const t = performance.now();
  await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [...process.execArgv, '-e', '0'], { stdio: 'ignore', timeout: 120_000 });
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`node -e 0 exited with ${code}`))));
      }),
    ),
  );
  return { seconds: (performance.now() - t) / 1000, cpu: cpuSeconds() - cpu0 };
}
