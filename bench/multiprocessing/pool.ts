/**
 * weft's Pool against Python's multiprocessing.Pool and the npm pools
 * piscina 5, tinypool and workerpool, side by side in one run, 2 workers each
 * (the Pool's targets). Medians of REPEATS runs (default 3), the spread
 * (min–max), and ratios; JSON to bench/results/pool.json.
 *
 *   node dist/bench/multiprocessing/pool.js [--repeats 3] [--no-python] [--no-peers]
 *   node dist/bench/multiprocessing/pool.js --one apply|map_first [--context process|thread] [--n N]
 *     one run, one JSON line (bench/run.ts --load): apply = N sequential awaited
 *     applies (calls/s, p50 and p99 µs); map_first = in this fresh process, Pool
 *     start + the first map of N tiny items, then the same map warm (items/s).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, isMainModule, task } from 'weft';
import { warmUp } from '../lib/warmup.js';

export const square = task(import.meta, function square(x: number): number {
  return x * x;
});

/** A fixed amount of CPU work (same loop as the Python side's `burn`). */
export const burn = task(import.meta, function burn(n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += (i * i) % 7;
  return s;
});

const TINY = 100_000;
const MAP_ITEMS = 1_000_000;
const LATENCY_CALLS = 2000;
const BURN_N = 5_000_000;
const BURN_TASKS = 8;

interface Figure {
  median: number;
  min: number;
  max: number;
  runs: number[];
  unit: string;
}

function figure(runs: number[], unit: string): Figure {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs, unit };
}

async function seconds(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

let label = '';
async function repeat(times: number, fn: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) out.push(await fn());
  console.error(`  ${label} ${out.map((x) => x.toFixed(x >= 100 ? 0 : 2)).join(' ')}`);
  return out;
}

/**
 * The machine's own ceiling for the CPU-bound measure: the same work on two
 * plain worker threads at once, against one (no pool involved).
 */
async function rawParallelism(repeats: number): Promise<Figure> {
  const { Worker } = await import('node:worker_threads');
  const code = `let s = 0; for (let i = 0; i < ${BURN_N * 4}; i++) s += (i * i) % 7; require('worker_threads').parentPort.postMessage(s);`;
  const run = (n: number) =>
    Promise.all(Array.from({ length: n }, () => new Promise((resolve) => new Worker(code, { eval: true }).once('message', resolve))));
  label = 'raw threads 2 vs 1';
  return figure(
    await repeat(repeats, async () => {
      const one = await seconds(() => run(1));
      const two = await seconds(() => run(2));
      return (2 * one) / two;
    }),
    'x one thread',
  );
}

/** Sequential calls: mean, median and p99 µs per call (the median shrugs off the scheduler's outliers on a busy machine). */
async function latency(call: (i: number) => Promise<unknown>, calls = LATENCY_CALLS): Promise<{ mean: number; median: number; p99: number }> {
  const times = new Float64Array(calls);
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await call(i);
    times[i] = (performance.now() - t) * 1000;
  }
  const mean = ((performance.now() - start) * 1000) / calls;
  times.sort();
  return { mean, median: times[calls >> 1]!, p99: times[Math.ceil(calls * 0.99) - 1]! };
}

const numbers = (n: number) => Array.from({ length: n }, (_, i) => i);

async function benchWeft(context: 'process' | 'thread', repeats: number): Promise<Record<string, Figure>> {
  const pool = new Pool({ processes: 2, context });
  try {
    await pool.map(square, numbers(100), 1); // both workers up and warm
    const tiny = numbers(TINY);
    const big = numbers(MAP_ITEMS);
    const out: Record<string, Figure> = {};
    label = `${context} applyAsync`;
    out.applyAsync100k = figure(
      await repeat(repeats, async () => {
        const s = await seconds(async () => {
          const results = tiny.map((i) => pool.applyAsync(square, [i]));
          for (const r of results) await r.get();
        });
        return TINY / s;
      }),
      'tasks/s',
    );
    label = `${context} imapUnordered`;
    out.imapUnordered100k = figure(
      await repeat(repeats, async () => TINY / (await seconds(async () => {
        for await (const v of pool.imapUnordered(square, tiny, 1)) void v;
      }))),
      'tasks/s',
    );
    label = `${context} map`;
    out.map1M = figure(await repeat(repeats, async () => MAP_ITEMS / (await seconds(() => pool.map(square, big)))), 'items/s');
    label = `${context} apply latency`;
    const medians: number[] = [];
    out.applyLatency = figure(
      await repeat(repeats, async () => {
        const { mean, median } = await latency((i) => pool.apply(square, [i]));
        medians.push(median);
        return mean;
      }),
      'µs/call',
    );
    out.applyLatencyMedian = figure(medians, 'µs/call');
    const work = Array.from({ length: BURN_TASKS }, () => BURN_N);
    label = `${context} CPU-bound`;
    out.cpuSpeedup = figure(
      await repeat(repeats, async () => {
        const alone = await seconds(() => work.map((n) => burn(n)));
        const pooled = await seconds(() => pool.map(burn, work, 1));
        return alone / pooled;
      }),
      'x one process',
    );
    return out;
  } finally {
    await pool.terminate();
  }
}

interface PeerPool {
  run(x: number): Promise<number>;
  close(): Promise<unknown>;
}

async function peers(): Promise<Record<string, () => Promise<PeerPool>>> {
  const file = new URL('./pool_piscina_worker.js', import.meta.url).href;
  return {
    piscina: async () => {
      const { Piscina } = await import('piscina');
      const p = new Piscina({ filename: file, minThreads: 2, maxThreads: 2 });
      return { run: (x) => p.run(x) as Promise<number>, close: () => p.destroy() };
    },
    tinypool: async () => {
      const { default: Tinypool } = await import('tinypool');
      const p = new Tinypool({ filename: file, minThreads: 2, maxThreads: 2 });
      return { run: (x) => p.run(x) as Promise<number>, close: () => p.destroy() };
    },
    workerpool: async () => {
      const { default: workerpool } = await import('workerpool');
      const p = workerpool.pool(fileURLToPath(new URL('./pool_workerpool_worker.js', import.meta.url)), { minWorkers: 2, maxWorkers: 2, workerType: 'thread' });
      return { run: (x) => p.exec('square', [x]) as unknown as Promise<number>, close: async () => void (await p.terminate()) };
    },
  };
}

async function benchPeer(make: () => Promise<PeerPool>, repeats: number): Promise<Record<string, Figure>> {
  const pool = await make();
  try {
    await Promise.all(numbers(100).map((i) => pool.run(i)));
    const tiny = numbers(TINY);
    label = 'peer';
    const medians: number[] = [];
    return {
      applyAsync100k: figure(await repeat(repeats, async () => TINY / (await seconds(() => Promise.all(tiny.map((i) => pool.run(i)))))), 'tasks/s'),
      applyLatency: figure(
        await repeat(repeats, async () => {
          const { mean, median } = await latency((i) => pool.run(i));
          medians.push(median);
          return mean;
        }),
        'µs/call',
      ),
      applyLatencyMedian: figure(medians, 'µs/call'),
    };
  } finally {
    await pool.close();
  }
}

function benchPython(repeats: number): { version: string; startMethod: string; figures: Record<string, Figure> } | { error: string } {
  const script = fileURLToPath(new URL('../../../bench/multiprocessing/pool.py', import.meta.url));
  const run = spawnSync('python3', [script, String(repeats)], { encoding: 'utf8', timeout: 240_000 });
  if (run.status !== 0) return { error: `python3 exited ${run.status}: ${run.stderr || run.error}` };
  const data = JSON.parse(run.stdout) as { python: string; start_method: string; results: Record<string, number[]> };
  const r = data.results;
  return {
    version: data.python,
    startMethod: data.start_method,
    figures: {
      applyAsync100k: figure(r.apply_async_100k!, 'tasks/s'),
      imapUnordered100k: figure(r.imap_unordered_100k!, 'tasks/s'),
      map1M: figure(r.map_1m!, 'items/s'),
      applyLatency: figure(r.apply_latency_us!, 'µs/call'),
      applyLatencyMedian: figure(r.apply_latency_median_us!, 'µs/call'),
    },
  };
}

/** One run for bench/run.ts (see the usage above). */
async function one(which: string, context: 'process' | 'thread', n: number): Promise<Record<string, number>> {
  if (which === 'map_first') {
    const items = numbers(n);
    const t = performance.now();
    const pool = new Pool({ processes: 2, context });
    try {
      await pool.map(square, items);
      const first = n / ((performance.now() - t) / 1000);
      await pool.map(square, items);
      const warm = n / (await seconds(() => pool.map(square, items)));
      return { first, warm };
    } finally {
      await pool.terminate();
    }
  }
  if (which !== 'apply') throw new Error(`--one ${which}: expected apply or map_first`);
  const pool = new Pool({ processes: 2, context });
  try {
    await pool.map(square, numbers(100), 1); // both workers up
    await warmUp(() => pool.apply(square, [0])); // and warm (bench/lib/warmup.ts)
    const { mean, median, p99 } = await latency((i) => pool.apply(square, [i]), n);
    return { value: 1e6 / mean, p50Us: median, p99Us: p99 };
  } finally {
    await pool.terminate();
  }
}

const fmt = (f: Figure | undefined) =>
  f ? `${f.median >= 100 ? Math.round(f.median).toLocaleString('en-US') : f.median.toFixed(2)} (${f.min >= 100 ? Math.round(f.min) : f.min.toFixed(2)}–${f.max >= 100 ? Math.round(f.max) : f.max.toFixed(2)})` : '—';

if (isMainModule(import.meta)) {
  const { values } = parseArgs({
    options: {
      repeats: { type: 'string' }, 'no-python': { type: 'boolean' }, 'no-peers': { type: 'boolean' },
      one: { type: 'string' }, context: { type: 'string' }, n: { type: 'string' },
    },
  });
  if (values.one) {
    const n = Number(values.n ?? (values.one === 'apply' ? LATENCY_CALLS : MAP_ITEMS));
    console.log(JSON.stringify(await one(values.one, (values.context ?? 'process') as 'process' | 'thread', n)));
    process.exit(0);
  }
  const repeats = Math.max(1, Number(values.repeats ?? 3));
  const started = performance.now();
  const results: Record<string, unknown> = { repeats, workers: 2, node: process.version, date: new Date().toISOString() };
  const weft: Record<string, Record<string, Figure>> = {};
  for (const context of ['thread', 'process'] as const) {
    console.error(`weft ${context}...`);
    weft[context] = await benchWeft(context, repeats);
  }
  results.weft = weft;
  const ceiling = await rawParallelism(repeats);
  results.rawParallelism = ceiling;
  const npm: Record<string, Record<string, Figure>> = {};
  if (!values['no-peers']) {
    for (const [name, make] of Object.entries(await peers())) {
      console.error(`${name}...`);
      npm[name] = await benchPeer(make, repeats);
    }
  }
  results.npm = npm;
  let python: ReturnType<typeof benchPython> | null = null;
  if (!values['no-python']) {
    console.error('python multiprocessing.Pool...');
    python = benchPython(repeats);
  }
  results.python = python;
  const py = python && 'figures' in python ? python.figures : {};
  const t = weft.thread!;
  const p = weft.process!;
  const ratio = (a: Figure | undefined, b: Figure | undefined, lowerIsBetter = false) =>
    a && b ? (lowerIsBetter ? a.median / b.median : a.median / b.median) : NaN;
  const targets = [
    { measure: '100k applyAsync, thread vs piscina', value: ratio(t.applyAsync100k, npm.piscina?.applyAsync100k), target: '>= 5x' },
    { measure: '100k applyAsync, thread vs Python apply_async', value: ratio(t.applyAsync100k, py.applyAsync100k), target: '>= 5x' },
    { measure: '100k applyAsync, process vs Python apply_async', value: ratio(p.applyAsync100k, py.applyAsync100k), target: '>= 3x' },
    { measure: '100k imapUnordered cs 1, thread vs Python', value: ratio(t.imapUnordered100k, py.imapUnordered100k), target: '>= 3x' },
    { measure: '100k imapUnordered cs 1, process vs Python', value: ratio(p.imapUnordered100k, py.imapUnordered100k), target: '>= 3x' },
    { measure: '1M map, thread vs Python map', value: ratio(t.map1M, py.map1M), target: '>= 1x' },
    { measure: '1M map, process vs Python map', value: ratio(p.map1M, py.map1M), target: '>= 1x' },
    { measure: 'apply latency, thread / Python', value: ratio(t.applyLatency, py.applyLatency, true), target: '<= 0.5x' },
    { measure: 'apply latency, process / Python', value: ratio(p.applyLatency, py.applyLatency, true), target: '<= 0.5x' },
    { measure: 'apply latency (median call), thread / Python', value: ratio(t.applyLatencyMedian, py.applyLatencyMedian, true), target: '<= 0.5x' },
    { measure: 'apply latency (median call), process / Python', value: ratio(p.applyLatencyMedian, py.applyLatencyMedian, true), target: '<= 0.5x' },
    { measure: 'CPU-bound on 2 workers, thread', value: t.cpuSpeedup!.median, target: '>= 1.8x' },
    { measure: 'CPU-bound on 2 workers, process', value: p.cpuSpeedup!.median, target: '>= 1.8x' },
  ].map((row) => {
    const [op, n] = row.target.split(' ') as ['>=' | '<=', string];
    const goal = parseFloat(n);
    return { ...row, met: Number.isFinite(row.value) ? (op === '>=' ? row.value >= goal : row.value <= goal) : null };
  });
  results.targets = targets;
  results.seconds = (performance.now() - started) / 1000;

  const rows: [string, Record<string, Figure> | undefined][] = [
    ['weft thread', t],
    ['weft process', p],
    ...Object.entries(npm).map(([k, v]) => [k, v] as [string, Record<string, Figure>]),
    [python && 'figures' in python ? `Python ${python.version} (${python.startMethod})` : 'Python', py],
  ];
  console.log(`Pool, 2 workers, median (min–max) of ${repeats} runs\n`);
  console.log('| pool | 100k applyAsync tasks/s | 100k imapUnordered tasks/s | 1M map items/s | apply latency µs (mean) | apply latency µs (median call) | CPU-bound speedup |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [name, f] of rows) {
    console.log(`| ${name} | ${fmt(f?.applyAsync100k)} | ${fmt(f?.imapUnordered100k)} | ${fmt(f?.map1M)} | ${fmt(f?.applyLatency)} | ${fmt(f?.applyLatencyMedian)} | ${fmt(f?.cpuSpeedup)} |`);
  }
  console.log('\n| target | ratio | goal | met |\n|---|---|---|---|');
  for (const row of targets) console.log(`| ${row.measure} | ${Number.isFinite(row.value) ? row.value.toFixed(2) + 'x' : '—'} | ${row.target} | ${row.met === null ? '—' : row.met ? 'yes' : 'NO'} |`);
  console.log(`\nThis machine's ceiling for the CPU-bound row: two plain worker threads vs one, ${fmt(ceiling)}x`);
  console.log(`total ${(results.seconds as number).toFixed(0)} s`);
  const out = fileURLToPath(new URL('../../../bench/results/pool.json', import.meta.url));
  mkdirSync(fileURLToPath(new URL('../../../bench/results/', import.meta.url)), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${out}`);
}
