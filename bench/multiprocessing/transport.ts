// Queue, Pipe and process start-up, side by side with Python 3's multiprocessing
// (spawn) in one run — the performance targets of Queue, Pipe and Process:
//   queue: one child puts 100k small dicts, the parent gets them (messages/s);
//   pipe:  send, echo back, receive between parent and child (round trips/s);
//   start: start + join of a no-op target, back to back (ms, median of 20);
//   start_paced: the same with 0.3 s between starts (ms, median of 10).
// Each measurement runs in a fresh process, the contenders interleaved,
// repeated; medians with min..max. JSON in bench/results/transport.json.
//
// The pipe's clock starts after a warm-up of WARMUP_SECONDS (bench/lib/warmup.ts
// says why), as does Python's.
//
// With --one, the pipe also reports p50 and p99 of a round trip (hdr-histogram-js;
// Python: perf_counter_ns), so a slower tail shows even where the rate holds.
//
//   node dist/bench/multiprocessing/transport.js [--runs 5]
//   node dist/bench/multiprocessing/transport.js --one pipe|queue|start|start_paced|burst|node_boot
//        [--context process|thread] [--n N]   one measurement, one JSON line (bench/run.ts --load)
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pipe, Process, Queue, isMainModule, type ContextName } from 'weft';
import { cpuSeconds, nodeBoots } from '../lib/cpu.js';
import { latencyHistogram, percentilesUs } from '../lib/latency.js';
import { warmUp } from '../lib/warmup.js';
import { median, summarize } from '../lib/stats.js';
import { echo, noop, produce, putOne } from './transport_tasks.js';

let QUEUE_N = 100_000;
let PIPE_N = 20_000;
const START_N = 20;
const PACED_N = 10;
let BURST_N = 100;

/** One measurement: the figure of the table, and for round trips their p50 and p99 in µs. */
interface Sample {
  value: number;
  p50Us?: number;
  p99Us?: number;
  [more: string]: number | undefined;
}

async function queue(context: ContextName): Promise<number> {
  const q = new Queue<unknown>();
  const p = new Process({ target: produce, args: [q, QUEUE_N], context });
  p.start();
  await q.get();
  const t = performance.now();
  let count = 1;
  while ((await q.get()) !== null) count++;
  const dt = (performance.now() - t) / 1000;
  await p.join();
  if (count !== QUEUE_N) throw new Error(`lost messages: ${count}`);
  return (QUEUE_N - 1) / dt;
}

async function pipe(context: ContextName): Promise<Sample> {
  const [a, b] = Pipe();
  const p = new Process({ target: echo, args: [b], context });
  p.start();
  await warmUp(async () => {
    a.send(0);
    await a.recv();
  });
  const hist = latencyHistogram();
  const t = performance.now();
  for (let i = 0; i < PIPE_N; i++) {
    const t0 = performance.now();
    a.send(i);
    if ((await a.recv()) !== i) throw new Error('pipe echo out of order');
    hist.recordValue(Math.round((performance.now() - t0) * 1e6));
  }
  const dt = (performance.now() - t) / 1000;
  a.send(null);
  await p.join();
  return { value: PIPE_N / dt, ...percentilesUs(hist) };
}

/** Median ms of `n` start + joins of a no-op target, with `pause` seconds before each. */
async function startJoin(context: ContextName, n: number, pause: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    if (pause) await new Promise((r) => setTimeout(r, pause * 1000));
    const t = performance.now();
    const p = new Process({ target: noop, context });
    p.start();
    await p.join();
    times.push(performance.now() - t);
  }
  return median(times);
}

const start = (context: ContextName) => startJoin(context, START_N, 0);

/**
 * Start + join with a pause between starts. weft boots a child ahead of need
 * (see popen_spawn.ts); back to back, starts wait for that boot, while with a
 * pause the next child is ready. Python's spawn gains nothing from the pause.
 */
const start_paced = (context: ContextName) => startJoin(context, PACED_N, 0.3);

/**
 * BURST_N children started at once, each putting one message on one Queue;
 * done when all messages are in and every child is joined. Seconds, and CPU
 * per start in ms (this process and its reaped children: Node's own boot,
 * weft's and the child's work; a child booted ahead and still waiting at the
 * end is not counted).
 */
async function burst(context: ContextName): Promise<Sample> {
  const q = new Queue<number>();
  const cpu0 = cpuSeconds();
  const t = performance.now();
  const procs = Array.from({ length: BURST_N }, (_, i) => new Process({ target: putOne, args: [q, i], context }));
  for (const p of procs) p.start();
  for (let i = 0; i < BURST_N; i++) await q.get({ timeout: 120 });
  for (const p of procs) await p.join();
  const seconds = (performance.now() - t) / 1000;
  return { value: seconds, cpuMsPerStart: ((cpuSeconds() - cpu0) * 1000) / BURST_N };
}

/** Node's own share of a burst: BURST_N `node -e 0` with the flags a weft child gets, at once. */
async function node_boot(): Promise<Sample> {
  const { seconds, cpu } = await nodeBoots(BURST_N);
  return { value: seconds, cpuMsPerStart: (cpu * 1000) / BURST_N };
}

const measures = { queue, pipe, start, start_paced };
type Which = keyof typeof measures;
/** Reached only with --one: not rows of this file's own table. */
const firstCalls = { burst, node_boot };

const self = fileURLToPath(import.meta.url);
const pythonScript = fileURLToPath(new URL('../../../bench/multiprocessing/transport.py', import.meta.url));

function runWeft(which: Which, context: ContextName): number {
  const out = execFileSync(process.execPath, [self, '--one', which, '--context', context], { encoding: 'utf8', timeout: 120_000 });
  return (JSON.parse(out.trim().split('\n').pop()!) as Sample).value;
}

function runPython(which: Which): number {
  const n = { queue: QUEUE_N, pipe: PIPE_N, start: START_N, start_paced: PACED_N }[which];
  const out = JSON.parse(execFileSync('python3', [pythonScript, which, String(n)], { encoding: 'utf8', timeout: 120_000 }));
  return which.startsWith('start') ? out.ms : out.rate;
}

const fmt = (x: number, which: Which) => (which.startsWith('start') ? `${x.toFixed(1)} ms` : `${Math.round(x).toLocaleString('en')}/s`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { one: { type: 'string' }, context: { type: 'string' }, runs: { type: 'string', default: '5' }, n: { type: 'string' } },
  });
  if (values.one) {
    if (values.n) QUEUE_N = PIPE_N = BURST_N = Number(values.n);
    const context = (values.context ?? 'process') as ContextName;
    const fn = { ...measures, ...firstCalls }[values.one as Which | keyof typeof firstCalls];
    if (!fn) throw new Error(`--one ${values.one}: expected one of ${Object.keys({ ...measures, ...firstCalls }).join(', ')}`);
    const r = await fn(context);
    console.log(JSON.stringify(typeof r === 'number' ? { value: r } : r));
    return;
  }
  const runs = Number(values.runs);
  const results: Record<string, unknown> = {};
  const rows: string[] = [];
  for (const which of Object.keys(measures) as Which[]) {
    const samples = { process: [] as number[], thread: [] as number[], python: [] as number[] };
    for (let r = 0; r < runs; r++) {
      samples.process.push(runWeft(which, 'process'));
      samples.thread.push(runWeft(which, 'thread'));
      samples.python.push(runPython(which));
    }
    const py = summarize(samples.python);
    const entry: Record<string, unknown> = { python: py };
    for (const context of ['process', 'thread'] as const) {
      const s = summarize(samples[context]);
      // For start-up, lower is better: the ratio is then weft's time over Python's.
      const ratio = s.median / py.median;
      entry[context] = { ...s, ratio };
      rows.push(
        `| ${which} | ${context} | ${fmt(s.median, which)} (${fmt(s.min, which)}..${fmt(s.max, which)}) | ` +
          `${fmt(py.median, which)} (${fmt(py.min, which)}..${fmt(py.max, which)}) | ${ratio.toFixed(2)}x |`,
      );
    }
    results[which] = entry;
  }
  console.log('| point | weft context | weft median (min..max) | Python 3 spawn median (min..max) | weft / Python |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}transport.json`, JSON.stringify({ node: process.version, runs, results }, null, 2) + '\n');
}

if (isMainModule(import.meta)) await main();
