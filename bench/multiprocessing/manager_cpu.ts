/**
 * Where the CPU of an awaited Manager call goes: two worker processes make
 * awaited dict sets (`await d.set(i, i)`, the `dict_set` point of
 * manager.ts), and this prints the rate and the CPU per call of each client
 * and of the server, split by thread (/proc/PID/task/TID/stat, utime +
 * stime, in 10 ms ticks: keep N large enough for a few hundred ms). On a core
 * shared by all three processes the CPU per call is the rate's inverse, so
 * this says which side to make cheaper. Each worker warms up for a second
 * first, as manager.ts's do.
 *
 * Usage: node dist/bench/multiprocessing/manager_cpu.js [N]   (N sets per worker, default 8000)
 *        taskset -c 0 node dist/bench/multiprocessing/manager_cpu.js 8000
 * @example
 * // node dist/bench/multiprocessing/manager_cpu.js 20000
 * // rate 45.9k/s; CPU per call (us): clients 11.0 + 12.1, server 15.8 { node: 15.8 }
 */
import { readFileSync, readdirSync } from 'node:fs';
import { Manager, Process, isMainModule, task, type DictProxy, type EventProxy, type QueueProxy } from 'weft';
import { WARMUP_SECONDS, warmUp } from '../lib/warmup.js';

/** USER_HZ: /proc's unit of CPU time, 100 a second on Linux whatever the kernel's HZ (proc(5)). */
const MS_PER_TICK = 10;

/** CPU time of each thread of `pid` so far, in ms, summed by thread name. */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    // the name, in parentheses, may hold spaces: fields are counted after its ')'
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
  }
  return out;
}

/** Context switches of the main thread of `pid` so far: [voluntary (it slept), involuntary (it was preempted)]. */
function switches(pid: number): [number, number] {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return [field('voluntary_ctxt_switches'), field('nonvoluntary_ctxt_switches')];
}

function since(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

/** One worker: warms up on scratch keys, waits for `go`, makes `n` awaited sets and reports [wall ms, its threads' CPU ms]. */
export const setter = task(import.meta, async function setter(
  d: DictProxy<number, number>,
  n: number,
  ready: QueueProxy<number>,
  go: EventProxy,
  ends: QueueProxy<[number, Record<string, number>, [number, number]]>,
) {
  let i = 0;
  await warmUp(() => d.set(-(++i % 100) - 1, i), WARMUP_SECONDS, 2000);
  await ready.put(1);
  await go.wait();
  const before = threadCpu(process.pid);
  const [vol, invol] = switches(process.pid);
  const t = performance.now();
  for (let k = 0; k < n; k++) await d.set(k, k);
  const wall = performance.now() - t;
  const [vol2, invol2] = switches(process.pid);
  await ends.put([wall, since(before, threadCpu(process.pid)), [vol2 - vol, invol2 - invol]]);
});

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 8000);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`N must be a positive integer (sets per worker), got ${process.argv[2]}`);
  await using manager = await Manager.start();
  const { pid } = await manager.stats();
  const d = await manager.dict<number, number>();
  const ready = await manager.Queue<number>();
  const ends = await manager.Queue<[number, Record<string, number>, [number, number]]>();
  const go = await manager.Event();
  const workers = [0, 1].map(() => new Process({ target: setter, args: [d, n, ready, go, ends] }));
  for (const w of workers) w.start();
  for (const _ of workers) await ready.get({ timeout: 60 });
  const before = threadCpu(pid);
  const [vol, invol] = switches(pid);
  await go.set();
  const done = [await ends.get({ timeout: 600 }), await ends.get({ timeout: 600 })];
  const server = since(before, threadCpu(pid));
  const [vol2, invol2] = switches(pid);
  for (const w of workers) await w.join();
  const calls = 2 * n;
  const perCall = (ms: number) => (ms * 1000) / calls;
  const total = (cpu: Record<string, number>) => Object.values(cpu).reduce((a, b) => a + b, 0);
  const busy = (cpu: Record<string, number>) => Object.fromEntries(Object.entries(cpu).filter(([, v]) => v > 0).map(([k, v]) => [k, +perCall(v).toFixed(1)]));
  const wall = Math.max(...done.map(([ms]) => ms));
  console.log(
    `rate ${((calls / wall) * 1000 / 1000).toFixed(1)}k/s; CPU per call (us): clients ${done.map(([, cpu]) => perCall(total(cpu)).toFixed(1)).join(' + ')}, ` +
      `server ${perCall(total(server)).toFixed(1)}; switches per call (voluntary/preempted): ` +
      `clients ${done.map(([, , [v, i]]) => `${(v / calls).toFixed(2)}/${(i / calls).toFixed(2)}`).join(' + ')}, ` +
      `server ${((vol2 - vol) / calls).toFixed(2)}/${((invol2 - invol) / calls).toFixed(2)}`,
    busy(server),
  );
}

if (isMainModule(import.meta)) await main();
