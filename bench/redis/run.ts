/**
 * weft/redis beside the raw clients it is built on, in one run on one
 * redis-server (started here, on loopback, AOF off):
 *
 * - Queue round trips: `await q.put(i); await q.get()` one at a time, against
 *   raw ioredis doing the same reliable moves (RPUSH; LMOVE to a held list;
 *   LREM), and against the bare RPUSH + LPOP (no lease);
 * - dict incr: `d.incr('k')` awaited one at a time and 256 in flight, against raw
 *   ioredis EVALSHA of the same script, and against a bare HINCRBY;
 * - Pool: `pool.map(square, N numbers, chunksize 100)` on two `weft worker`
 *   processes, against two raw BullMQ workers squaring the same chunks (jobs of
 *   100 numbers, JSON, finished jobs kept as weft keeps them), and beside it the
 *   local weft Pool of 2 processes; each side warmed up with one whole map first.
 *
 * Variants alternate within each of REPEATS rounds; medians with [min, max].
 * With --cpu, the Pool rows also say where their CPU went, per job (µs, summed
 * over the rounds): the producer (this process), the consumers, the supervisors
 * (the `weft worker` processes themselves) and redis-server.
 * Usage: node dist/bench/redis/run.js [--repeats N] [--quick] [--only queue|incr|pool] [--cpu]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue as BullQueue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool, isMainModule } from 'weft';
import { connect, type Cluster } from 'weft/redis';
import { KEEP_FINISHED } from '../../src/internals.js';
import { RedisServer } from '../../test/redis/server.js';
import { median } from '../lib/stats.js';
import { square } from './tasks.js';

const here = fileURLToPath(new URL('./', import.meta.url));
const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

type Row = { name: string; runs: number[] };

function report(title: string, unit: string, rows: Row[]): void {
  console.log(`\n${title}`);
  const anchor = median(rows[1]!.runs);
  for (const { name, runs } of rows) {
    const m = median(runs);
    const vs = rows.indexOf(rows.find((r) => r.name === name)!) === 0 ? `  (${((m / anchor - 1) * 100).toFixed(1)}% vs ${rows[1]!.name})` : '';
    console.log(`  ${name.padEnd(44)} ${Math.round(m).toLocaleString('en').padStart(9)} ${unit} [${Math.round(Math.min(...runs))}, ${Math.round(Math.max(...runs))}]${vs}`);
  }
}

async function rate(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(i); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return n / ((performance.now() - t0) / 1000);
}

async function pipelined(n: number, window: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i += window) await Promise.all(Array.from({ length: Math.min(window, n - i) }, (_, k) => fn(i + k)));
  return n / ((performance.now() - t0) / 1000);
}

/** CPU used so far by a process, every thread: on-CPU nanoseconds, and user and system ticks (1/100 s). */
type Cpu = { ns: number; user: number; sys: number };

function cpuOf(pid: number): Cpu {
  const out = { ns: 0, user: 0, sys: 0 };
  try {
    // The comm field, in parentheses, may hold spaces: count the fields after its ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.user = Number(fields[11]);
    out.sys = Number(fields[12]);
    // schedstat is per thread and in nanoseconds: the ticks above are too coarse for a round of half a second.
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        out.ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // a thread that ended meanwhile
      }
    }
  } catch {
    // a process that ended
  }
  return out;
}

/** The pids whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(name));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** CPU per role, summed over the rounds of one variant. */
class CpuTally {
  readonly #roles: [string, number[]][];
  /** Per role, on-CPU ns and user and system ticks, summed. */
  readonly #sum = new Map<string, Cpu>();
  #start = new Map<number, Cpu>();
  constructor(roles: [string, number[]][]) {
    this.#roles = roles;
    for (const [role] of roles) this.#sum.set(role, { ns: 0, user: 0, sys: 0 });
  }
  start(): void {
    this.#start = new Map(this.#roles.flatMap(([, pids]) => pids.map((pid) => [pid, cpuOf(pid)] as const)));
  }
  stop(): void {
    for (const [role, pids] of this.#roles) {
      const sum = this.#sum.get(role)!;
      for (const pid of pids) {
        const [s, e] = [this.#start.get(pid)!, cpuOf(pid)];
        if (e.ns === 0) continue; // ended meanwhile (a weft worker's idle spare child): nothing of this round
        sum.ns += e.ns - s.ns;
        sum.user += e.user - s.user;
        sum.sys += e.sys - s.sys;
      }
    }
  }
  /** `role total (user share)` in µs per job, after the sum over roles. */
  line(jobs: number): string {
    let all = 0;
    const parts = [...this.#sum].filter(([, c]) => c.ns / 1000 / jobs >= 1).map(([role, c]) => {
      all += c.ns;
      return `${role} ${(c.ns / 1000 / jobs).toFixed(0)} (${((c.user / (c.user + c.sys || 1)) * 100).toFixed(0)}% user)`;
    });
    return `${(all / 1000 / jobs).toFixed(0)} µs a job: ${parts.join(', ')}`;
  }
}

function startProcess(args: string[], readyText: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      log += d;
      if (log.includes(readyText)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error(`${args.join(' ')} exited: ${log}`)));
  });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise((resolve) => {
    c.removeAllListeners('exit');
    c.once('exit', resolve);
    c.kill('SIGKILL');
  })));
}

async function queueBench(cluster: Cluster, raw: Redis, n: number, repeats: number): Promise<void> {
  const rows: Row[] = [{ name: 'weft/redis Queue put + get', runs: [] }, { name: 'raw ioredis RPUSH + LMOVE + LREM', runs: [] }, { name: 'raw ioredis RPUSH + LPOP (no lease)', runs: [] }];
  const q = cluster.Queue<number>('bench:queue');
  const held = 'bench:raw:held';
  for (let r = 0; r < repeats; r++) {
    rows[0]!.runs.push(await rate(n, async (i) => {
      await q.put(i);
      await q.get();
    }));
    rows[1]!.runs.push(await rate(n, async (i) => {
      await raw.rpush('bench:raw:q', Buffer.from(`#${i}`));
      const m = await raw.lmoveBuffer('bench:raw:q', held, 'LEFT', 'RIGHT');
      void raw.lrem(held, 1, m!);
    }));
    rows[2]!.runs.push(await rate(n, async (i) => {
      await raw.rpush('bench:raw:q2', Buffer.from(`#${i}`));
      await raw.lpopBuffer('bench:raw:q2');
    }));
  }
  report('Queue round trips, one at a time', 'round trips/s', rows);
}

async function incrBench(cluster: Cluster, raw: Redis, n: number, repeats: number): Promise<void> {
  const d = await cluster.dict<string, number>('bench:dict');
  // The same Lua as weft's incr, run straight through ioredis.
  const lua = `local h, o, seq = KEYS[1], KEYS[2], KEYS[3]
local v = redis.call('HGET', h, ARGV[1])
local n = 0
if v then n = tonumber(string.sub(v, 2)) end
local s = '#' .. string.format('%.17g', n + tonumber(ARGV[2]))
if redis.call('HSET', h, ARGV[1], s) == 1 then redis.call('ZADD', o, redis.call('INCR', seq), ARGV[1]) end
return s`;
  const sha = (await raw.script('LOAD', lua)) as string;
  const keys = ['bench:raw:h', 'bench:raw:o', 'bench:raw:seq'];
  const evalIncr = () => raw.evalsha(sha, 3, ...keys, 'sk', 1);
  const rows: Row[] = [{ name: 'weft/redis dict.incr, awaited', runs: [] }, { name: 'raw ioredis EVALSHA (same Lua), awaited', runs: [] }, { name: 'raw ioredis HINCRBY, awaited', runs: [] }];
  const piped: Row[] = [{ name: 'weft/redis dict.incr, 256 in flight', runs: [] }, { name: 'raw ioredis EVALSHA, 256 in flight', runs: [] }, { name: 'raw ioredis HINCRBY, 256 in flight', runs: [] }];
  for (let r = 0; r < repeats; r++) {
    rows[0]!.runs.push(await rate(n, () => d.incr('k')));
    rows[1]!.runs.push(await rate(n, evalIncr));
    rows[2]!.runs.push(await rate(n, () => raw.hincrby('bench:raw:hi', 'k', 1)));
    piped[0]!.runs.push(await pipelined(n * 4, 256, () => d.incr('k')));
    piped[1]!.runs.push(await pipelined(n * 4, 256, evalIncr));
    piped[2]!.runs.push(await pipelined(n * 4, 256, () => raw.hincrby('bench:raw:hi', 'k', 1)));
  }
  report('dict incr', 'incr/s', rows);
  report('dict incr, pipelined', 'incr/s', piped);
}

async function poolBench(cluster: Cluster, server: RedisServer, items: number, repeats: number, cpu: boolean): Promise<void> {
  const url = server.url;
  const numbers = Array.from({ length: items }, (_, i) => i);
  const weftWorkers = await Promise.all([0, 1].map(() => startProcess([cli, 'worker', '--redis', url, '--queue', 'bench', '--root', here], 'serving queue')));
  const bullWorkers = await Promise.all([0, 1].map(() => startProcess([fileURLToPath(new URL('./bull_worker.js', import.meta.url)), url, 'bench-raw'], 'ready')));
  const pool = cluster.Pool({ queue: 'bench', root: here });
  const raw = new Redis(url, { maxRetriesPerRequest: null });
  const bull = new BullQueue('bench-raw', { connection: raw });
  const eventsConnection = raw.duplicate();
  const events = new QueueEvents('bench-raw', { connection: eventsConnection });
  await events.waitUntilReady();
  await using local = new Pool({ processes: 2 });
  const rawMap = async () => {
    const jobs = [];
    for (let i = 0; i < items; i += 100) jobs.push({ name: 'square', data: { items: numbers.slice(i, i + 100) }, opts: { removeOnComplete: KEEP_FINISHED, removeOnFail: KEEP_FINISHED } });
    // Listening before the jobs go out: a fast worker finishes the first ones before addBulk resolves.
    const out = new Map<string, number[]>();
    let ids: string[] | null = null;
    let done = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    const on = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
      out.set(jobId, (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as number[]);
      if (ids && ids.every((id) => out.has(id))) done();
    };
    events.on('completed', on);
    ids = (await bull.addBulk(jobs)).map((j) => j.id!);
    if (ids.every((id) => out.has(id))) done();
    await finished;
    events.off('completed', on);
    return ids.flatMap((id) => out.get(id)!);
  };
  const rows: Row[] = [{ name: 'weft/redis Pool.map, 2 weft workers', runs: [] }, { name: 'raw BullMQ, 2 workers, same chunks', runs: [] }, { name: 'local weft Pool.map, 2 processes', runs: [] }];
  const weftPids = weftWorkers.map((c) => c.pid!);
  const roles = (): [string, number[]][] => [['producer', [process.pid]], ['weft consumers', weftPids.flatMap(childrenOf)], ['weft supervisors', weftPids], ['bull workers', bullWorkers.map((c) => c.pid!)], ['redis', [server.pid!]]];
  const tallies = [new CpuTally(roles()), new CpuTally(roles()), new CpuTally(roles())];
  const time = async (fn: () => Promise<number[]>, tally?: CpuTally) => {
    if (cpu) tally?.start();
    const t0 = performance.now();
    const out = await fn();
    const seconds = (performance.now() - t0) / 1000;
    if (cpu) tally?.stop();
    if (out.length !== items || out[items - 1] !== (items - 1) ** 2) throw new Error('wrong results');
    return items / seconds;
  };
  // Warm-up, one whole map each: task modules imported, and the JIT done with the hot paths of every process
  // (a first round of either side costs it about twice the CPU of the later ones, weft's code being the larger).
  await pool.map(square, numbers, 100);
  await rawMap();
  await local.map(square, numbers, 100);
  for (let r = 0; r < repeats; r++) {
    rows[0]!.runs.push(await time(() => pool.map(square, numbers, 100), tallies[0]));
    rows[1]!.runs.push(await time(rawMap, tallies[1]));
    rows[2]!.runs.push(await time(() => local.map(square, numbers, 100), tallies[2]));
  }
  report(`Pool: ${items.toLocaleString('en')} small tasks, chunksize 100`, 'tasks/s', rows);
  if (cpu) {
    const jobs = (items / 100) * repeats;
    console.log(`  CPU, weft/redis: ${tallies[0]!.line(jobs)}`);
    console.log(`  CPU, raw BullMQ: ${tallies[1]!.line(jobs)}`);
    console.log(`  CPU, local: ${tallies[2]!.line(jobs)}`);
  }
  await pool.terminate();
  await events.close();
  await bull.close();
  raw.disconnect(); // BullMQ leaves the connections it was given open
  eventsConnection.disconnect();
  await stopAll([...weftWorkers, ...bullWorkers]);
}

if (isMainModule(import.meta)) {
  const { values } = parseArgs({ options: { repeats: { type: 'string', default: '5' }, quick: { type: 'boolean', default: false }, only: { type: 'string' }, cpu: { type: 'boolean', default: false } } });
  const only = values.only;
  const repeats = Number(values.repeats);
  const n = values.quick ? 500 : 3000;
  const server = await RedisServer.start(['--appendonly', 'no']);
  try {
    const cluster = await connect(server.url);
    const raw = new Redis(server.url);
    console.log(`weft/redis vs raw ioredis and BullMQ, redis-server ${server.url}, ${repeats} rounds (medians [min, max])`);
    if (!only || only === 'queue') await queueBench(cluster, raw, n, repeats);
    if (!only || only === 'incr') await incrBench(cluster, raw, n, repeats);
    if (!only || only === 'pool') await poolBench(cluster, server, values.quick ? 20_000 : 100_000, repeats, values.cpu);
    raw.disconnect();
    await cluster.close();
  } finally {
    await server.stop();
  }
}
