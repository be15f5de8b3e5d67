// Queue, Pipe and process start-up, side by side with Python 3's multiprocessing
// (spawn) in one run — the performance targets of Queue, Pipe and Process:
//   queue: one child puts 100k small dicts, the parent gets them (messages/s);
//   pipe:  send, echo back, receive between parent and child (round trips/s,
//          and p50Us / p99Us: percentiles of one round trip, in µs);
//   start: start + join of a no-op target, back to back (ms, median of 20);
//   start_paced: the same with 0.3 s between starts (ms, median of 10).
// Each measurement runs in a fresh process, the contenders interleaved,
// repeated; medians with min..max. JSON in bench/results/transport.json.
//
//   node dist/bench/multiprocessing/transport.js [--runs 5]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pipe, Process, Queue, isMainModule, type ContextName } from 'weft';
import { median, summarize } from '../lib/stats.js';
import { echo, noop, produce } from './transport_tasks.js';

/** A rate, and for round trips the percentiles of one, in µs. */
interface Measured {
  rate: number;
  p50Us?: number;
  p99Us?: number;
}

/** The `q` quantile of sorted `xs`. */
const percentile = (xs: Float64Array | number[], q: number): number => xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;

const QUEUE_N = 100_000;
const PIPE_N = 20_000;
const START_N = 20;
const PACED_N = 10;

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

/** Round trips/s, with the p50 and p99 of one round trip in µs. */
async function pipe(context: ContextName): Promise<Measured> {
  const [a, b] = Pipe();
  const p = new Process({ target: echo, args: [b], context });
  p.start();
  for (let i = 0; i < 200; i++) {
    a.send(i);
    await a.recv();
  }
  const trips = new Float64Array(PIPE_N);
  const t = performance.now();
  for (let i = 0; i < PIPE_N; i++) {
    const t0 = performance.now();
    a.send(i);
    if ((await a.recv()) !== i) throw new Error('pipe echo out of order');
    trips[i] = performance.now() - t0;
  }
  const dt = (performance.now() - t) / 1000;
  a.send(null);
  await p.join();
  trips.sort();
  return { rate: PIPE_N / dt, p50Us: percentile(trips, 0.5) * 1000, p99Us: percentile(trips, 0.99) * 1000 };
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

const measures = { queue, pipe, start, start_paced };
type Which = keyof typeof measures;

const self = fileURLToPath(import.meta.url);
const pythonScript = fileURLToPath(new URL('../../../bench/multiprocessing/transport.py', import.meta.url));

function runWeft(which: Which, context: ContextName): Measured {
  const out = execFileSync(process.execPath, [self, '--one', which, '--context', context], { encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as Measured;
}

function runPython(which: Which): Measured {
  const n = { queue: QUEUE_N, pipe: PIPE_N, start: START_N, start_paced: PACED_N }[which];
  const out = JSON.parse(execFileSync('python3', [pythonScript, which, String(n)], { encoding: 'utf8', timeout: 120_000 }));
  return which.startsWith('start') ? { rate: out.ms } : { rate: out.rate, p50Us: out.p50Us, p99Us: out.p99Us };
}

const fmt = (x: number, which: Which) => (which.startsWith('start') ? `${x.toFixed(1)} ms` : `${Math.round(x).toLocaleString('en')}/s`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { one: { type: 'string' }, context: { type: 'string' }, runs: { type: 'string', default: '5' } },
  });
  if (values.one) {
    const got = await measures[values.one as Which](values.context as ContextName);
    console.log(JSON.stringify(typeof got === 'number' ? { rate: got } : got));
    return;
  }
  const runs = Number(values.runs);
  const results: Record<string, unknown> = {};
  const rows: string[] = [];
  for (const which of Object.keys(measures) as Which[]) {
    const samples = { process: [] as Measured[], thread: [] as Measured[], python: [] as Measured[] };
    for (let r = 0; r < runs; r++) {
      samples.process.push(runWeft(which, 'process'));
      samples.thread.push(runWeft(which, 'thread'));
      samples.python.push(runPython(which));
    }
    // Round-trip percentiles: the median over runs of each run's p50 and p99.
    const tails = (ms: Measured[]) =>
      ms[0]!.p50Us === undefined ? {} : { p50Us: median(ms.map((m) => m.p50Us!)), p99Us: median(ms.map((m) => m.p99Us!)) };
    const rates = (ms: Measured[]) => ms.map((m) => m.rate);
    const py = summarize(rates(samples.python));
    const entry: Record<string, unknown> = { python: { ...py, ...tails(samples.python) } };
    for (const context of ['process', 'thread'] as const) {
      const s = summarize(rates(samples[context]));
      // For start-up, lower is better: the ratio is then weft's time over Python's.
      const ratio = s.median / py.median;
      entry[context] = { ...s, ratio, ...tails(samples[context]) };
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
