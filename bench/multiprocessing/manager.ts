/**
 * Manager benchmark, weft beside Python 3 `multiprocessing.Manager` (spawn) in
 * one run. Two worker processes share one manager; the points measured:
 *
 * - dict set, every call awaited (`await d.set(i, i)`) vs Python's `d[i] = i`;
 * - dict set, pipelined (WINDOW calls kept in flight per worker) vs the same Python figure;
 * - list append, every call awaited vs Python's `l.append(i)`;
 * - incr of one key, exact final count: weft's atomic `await d.incr('k')`
 *   vs Python's `with lock: d['k'] = d['k'] + 1` (a `multiprocessing.Lock`);
 *   and the same incr pipelined.
 *
 * The clock runs from the moment both workers are ready and told to go until
 * the last one finished its loop (process.hrtime and Python's time.monotonic
 * are both CLOCK_MONOTONIC), so start-up is not counted. Variants are
 * interleaved within each repeat so machine noise hits them alike. Medians of
 * REPEATS runs with [min, max]; JSON to bench/results/manager.json, where the
 * awaited dict set also has p50Us / p99Us: percentiles of one awaited call in
 * µs (the slower worker's, median over the runs).
 * Usage: node dist/bench/multiprocessing/manager.js [--quick] [--repeats N]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Process, isMainModule, task } from 'weft';
import { Manager, type DictProxy, type EventProxy, type ListProxy, type QueueProxy } from 'weft';
import { median } from '../lib/stats.js';

type Point = 'dict_set' | 'dict_set_pipelined' | 'list_append' | 'incr' | 'incr_pipelined';
const WINDOW = 256;
/** Untimed calls each worker makes first, on scratch objects, so both runtimes are warm (V8's JIT; Python's caches). */
const WARMUP = 2000;

const monotonic = (): number => Number(process.hrtime.bigint()) / 1e9;

/** Keeps WINDOW calls in flight: each answer sends the next call (a sliding window, no batch bubbles). */
async function pipelined(n: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await call(next++);
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
}

export const worker = task(import.meta, async function worker(
  point: Point,
  d: DictProxy<number | string, number>,
  l: ListProxy<number>,
  n: number,
  ready: QueueProxy<number>,
  go: EventProxy,
  ends: QueueProxy<[number, number, number]>,
  scratch: DictProxy<number | string, number>,
  scratchList: ListProxy<number>,
) {
  await d.len(); // connect and authenticate before the clock starts
  await run(point, scratch, scratchList, WARMUP);
  await ready.put(1);
  await go.wait();
  const calls = await run(point, d, l, n);
  calls.sort();
  await ends.put([monotonic(), percentile(calls, 0.5) * 1000, percentile(calls, 0.99) * 1000]);
});

/** The `q` quantile of sorted `xs` (NaN when empty). */
const percentile = (xs: Float64Array, q: number): number => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]! : NaN);

/** Runs `point` n times; for the awaited dict set, the ms each call took. */
async function run(point: Point, d: DictProxy<number | string, number>, l: ListProxy<number>, n: number): Promise<Float64Array> {
  switch (point) {
    case 'dict_set': {
      const calls = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await d.set(i, i);
        calls[i] = performance.now() - t;
      }
      return calls;
    }
    case 'dict_set_pipelined':
      await pipelined(n, (i) => d.set(i, i));
      break;
    case 'list_append':
      for (let i = 0; i < n; i++) await l.append(i);
      break;
    case 'incr':
      for (let i = 0; i < n; i++) await d.incr('k');
      break;
    case 'incr_pipelined':
      await pipelined(n, () => d.incr('k'));
      break;
  }
  return new Float64Array(0);
}

interface Result {
  seconds: number;
  final: number;
  /** Percentiles of one awaited call, µs (the awaited dict set only). */
  p50Us?: number;
  p99Us?: number;
}

interface Variant {
  name: string;
  point: Point | 'incr_lock';
  n: number;
  run: () => Promise<Result>;
}

function weft(manager: Manager, point: Point, n: number, name: string): Variant {
  return {
    name,
    point,
    n,
    async run() {
      const d = await manager.dict<number | string, number>({ k: 0 });
      const l = await manager.list<number>();
      const ready = await manager.Queue<number>();
      const ends = await manager.Queue<[number, number, number]>();
      const go = await manager.Event();
      const scratch = await manager.dict<number | string, number>({ k: 0 });
      const scratchList = await manager.list<number>();
      const procs = [0, 1].map(() => new Process({ target: worker, args: [point, d, l, n, ready, go, ends, scratch, scratchList] }));
      for (const p of procs) p.start();
      for (let i = 0; i < 2; i++) await ready.get({ timeout: 60 });
      const t0 = monotonic();
      await go.set();
      const [a, b] = [await ends.get({ timeout: 600 }), await ends.get({ timeout: 600 })];
      const end = Math.max(a[0], b[0]);
      for (const p of procs) {
        await p.join();
        if (p.exitCode !== 0) throw new Error(`${p.name} exited with ${p.exitCode}`);
      }
      const final = point.startsWith('incr') ? ((await d.get('k')) as number) : point === 'list_append' ? await l.len() : (await d.len()) - 1;
      const tails = point === 'dict_set' ? { p50Us: Math.max(a[1], b[1]), p99Us: Math.max(a[2], b[2]) } : {};
      return { seconds: end - t0, final, ...tails };
    },
  };
}

function python(script: string, point: 'dict_set' | 'list_append' | 'incr_lock', n: number, name: string): Variant {
  return {
    name,
    point,
    n,
    async run() {
      const out = execFileSync('python3', [script, point, String(n)], { encoding: 'utf8' });
      const { seconds, final, p50Us, p99Us } = JSON.parse(out.trim().split('\n').at(-1)!) as Result;
      return { seconds, final: point === 'dict_set' ? final - 1 : final, ...(p50Us === undefined ? {} : { p50Us, p99Us }) };
    },
  };
}


/** What each weft variant is compared with, and the target ratio. */
const targets: Record<string, { python: string; target: number }> = {
  'weft dict set, awaited': { python: 'Python dict set', target: 2 },
  'weft dict set, pipelined': { python: 'Python dict set', target: 10 },
  'weft list append, awaited': { python: 'Python list append', target: 2 },
  'weft incr, awaited': { python: 'Python lock + get + set', target: 10 },
  'weft incr, pipelined': { python: 'Python lock + get + set', target: 10 },
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, repeats: { type: 'string' } } });
  const repeats = Number(values.repeats ?? (values.quick ? 3 : 5));
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const script = root + 'bench/multiprocessing/manager.py';
  const scale = values.quick ? 0.5 : 1;
  const n = (k: number) => Math.round(k * scale);
  await using manager = await Manager.start();
  const variants: Variant[] = [
    weft(manager, 'dict_set', n(20_000), 'weft dict set, awaited'),
    weft(manager, 'dict_set_pipelined', n(200_000), 'weft dict set, pipelined'),
    python(script, 'dict_set', n(10_000), 'Python dict set'),
    weft(manager, 'list_append', n(20_000), 'weft list append, awaited'),
    python(script, 'list_append', n(10_000), 'Python list append'),
    weft(manager, 'incr', n(20_000), 'weft incr, awaited'),
    weft(manager, 'incr_pipelined', n(200_000), 'weft incr, pipelined'),
    python(script, 'incr_lock', n(10_000), 'Python lock + get + set'),
  ];
  const runs = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const tails = new Map<string, { p50Us: number[]; p99Us: number[] }>();
  for (let r = 0; r < repeats; r++) {
    for (const v of variants) {
      const { seconds, final, p50Us, p99Us } = await v.run();
      const expected = v.point === 'dict_set' || v.point === 'dict_set_pipelined' ? v.n : 2 * v.n;
      if (final !== expected) throw new Error(`${v.name}: final count ${final}, expected ${expected}`);
      runs.get(v.name)!.push((2 * v.n) / seconds);
      if (p50Us !== undefined && p99Us !== undefined) {
        const t = tails.get(v.name) ?? { p50Us: [], p99Us: [] };
        t.p50Us.push(p50Us);
        t.p99Us.push(p99Us);
        tails.set(v.name, t);
      }
    }
  }
  const medians = new Map([...runs].map(([name, rates]) => [name, median(rates)]));
  const summary = variants.map((v) => {
    const rates = runs.get(v.name)!;
    const t = targets[v.name];
    const ratio = t ? medians.get(v.name)! / medians.get(t.python)! : null;
    return {
      variant: v.name,
      opsPerWorker: v.n,
      opsPerSecond: { median: medians.get(v.name)!, spread: [Math.min(...rates), Math.max(...rates)], runs: rates },
      comparedWith: t?.python ?? null,
      ratio,
      target: t?.target ?? null,
      met: t ? ratio! >= t.target : null,
      ...(tails.has(v.name) ? { p50Us: median(tails.get(v.name)!.p50Us), p99Us: median(tails.get(v.name)!.p99Us) } : {}),
    };
  });
  const k = (x: number) => (x >= 100_000 ? `${(x / 1000).toFixed(0)}k` : `${(x / 1000).toFixed(1)}k`);
  console.log(`Two worker processes, one manager; ${repeats} repeats, medians [min, max] of ops/s`);
  console.log('variant'.padEnd(30) + 'ops/s'.padStart(9) + '   spread'.padEnd(22) + 'ratio vs Python (target)');
  for (const s of summary) {
    const { median: m, spread } = s.opsPerSecond;
    const ratio = s.ratio === null ? '' : `${s.ratio.toFixed(1)}x vs ${s.comparedWith} (>= ${s.target}x${s.met ? '' : ', MISSED'})`;
    const tail = 'p50Us' in s ? `   one call: p50 ${s.p50Us!.toFixed(0)} µs, p99 ${s.p99Us!.toFixed(0)} µs` : '';
    console.log(s.variant.padEnd(30) + k(m).padStart(9) + `   [${k(spread[0]!)}, ${k(spread[1]!)}]`.padEnd(22) + ratio + tail);
  }
  mkdirSync(root + 'bench/results', { recursive: true });
  const result = { date: new Date().toISOString(), node: process.version, python: execFileSync('python3', ['--version'], { encoding: 'utf8' }).trim(), repeats, window: WINDOW, summary };
  writeFileSync(root + 'bench/results/manager.json', JSON.stringify(result, null, 2) + '\n');
}

if (isMainModule(import.meta)) await main();
