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
 * REPEATS runs with [min, max]; JSON to bench/results/manager.json. The awaited
 * dict set also times each call (hdr-histogram-js; Python: perf_counter_ns):
 * `--one dict_set` reports their p50 and p99.
 * Usage: node dist/bench/multiprocessing/manager.js [--quick] [--repeats N]
 *        node dist/bench/multiprocessing/manager.js --one dict_set|short_lived [--n N]
 *        (one run, one JSON line: bench/run.ts --load). short_lived: two children
 *        started on the clock, each making N awaited dict sets (first calls: their
 *        start and first connection counted).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Process, isMainModule, task } from 'weft';
import { Manager, type DictProxy, type EventProxy, type ListProxy, type QueueProxy } from 'weft';
import { encodeHistogram, latencyHistogram, mergeHistograms, percentilesUs } from '../lib/latency.js';
import { median } from '../lib/stats.js';
import { WARMUP_SECONDS, warmUp } from '../lib/warmup.js';

type Point = 'dict_set' | 'dict_set_pipelined' | 'list_append' | 'incr' | 'incr_pipelined';
const WINDOW = 256;
/**
 * Untimed calls each worker makes first, on scratch objects, so both runtimes
 * are warm (V8's JIT; Python's caches): for WARMUP_SECONDS (bench/lib/warmup.ts
 * says why a time) and at least this many.
 */
const WARMUP_CALLS = 2000;

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
  ends: QueueProxy<[number, string | null]>,
  scratch: DictProxy<number | string, number>,
  scratchList: ListProxy<number>,
) {
  await d.len(); // connect and authenticate before the clock starts
  await warmUp(() => run(point, scratch, scratchList, 100), WARMUP_SECONDS, WARMUP_CALLS / 100);
  await ready.put(1);
  await go.wait();
  const hist = point === 'dict_set' ? latencyHistogram() : undefined;
  await run(point, d, l, n, hist);
  await ends.put([monotonic(), hist ? encodeHistogram(hist) : null]);
});

/** Two children started on the clock, each making `n` awaited dict sets from a cold start. */
export const shortLived = task(import.meta, async function shortLived(d: DictProxy<number, number>, n: number) {
  for (let i = 0; i < n; i++) await d.set(i, i);
});

async function run(
  point: Point,
  d: DictProxy<number | string, number>,
  l: ListProxy<number>,
  n: number,
  hist?: ReturnType<typeof latencyHistogram>,
): Promise<void> {
  switch (point) {
    case 'dict_set':
      if (!hist) {
        for (let i = 0; i < n; i++) await d.set(i, i);
        break;
      }
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await d.set(i, i);
        hist.recordValue(Math.round((performance.now() - t) * 1e6));
      }
      break;
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
}

interface Result {
  seconds: number;
  final: number;
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
      const ends = await manager.Queue<[number, string | null]>();
      const go = await manager.Event();
      const scratch = await manager.dict<number | string, number>({ k: 0 });
      const scratchList = await manager.list<number>();
      const procs = [0, 1].map(() => new Process({ target: worker, args: [point, d, l, n, ready, go, ends, scratch, scratchList] }));
      for (const p of procs) p.start();
      for (let i = 0; i < 2; i++) await ready.get({ timeout: 60 });
      const t0 = monotonic();
      await go.set();
      const done = [await ends.get({ timeout: 600 }), await ends.get({ timeout: 600 })];
      const end = Math.max(...done.map(([t]) => t));
      for (const p of procs) {
        await p.join();
        if (p.exitCode !== 0) throw new Error(`${p.name} exited with ${p.exitCode}`);
      }
      const final = point.startsWith('incr') ? ((await d.get('k')) as number) : point === 'list_append' ? await l.len() : (await d.len()) - 1;
      const hists = done.flatMap(([, h]) => (h ? [h] : []));
      return { seconds: end - t0, final, ...(hists.length ? percentilesUs(mergeHistograms(hists)) : {}) };
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
      const { seconds, final } = JSON.parse(out.trim().split('\n').at(-1)!) as Result;
      return { seconds, final: point === 'dict_set' ? final - 1 : final };
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

/** One run for bench/run.ts: ops/s over both workers, and for dict_set the p50 and p99 of a call. */
async function one(point: string, n: number): Promise<Record<string, number>> {
  await using manager = await Manager.start();
  if (point === 'dict_set') {
    const r = await weft(manager, 'dict_set', n, 'weft dict set, awaited').run();
    if (r.final !== n) throw new Error(`dict set: final count ${r.final}, expected ${n}`);
    return { value: (2 * n) / r.seconds, p50Us: r.p50Us!, p99Us: r.p99Us! };
  }
  if (point !== 'short_lived') throw new Error(`--one ${point}: expected dict_set or short_lived`);
  const d = await manager.dict<number, number>();
  const t = performance.now();
  const procs = [0, 1].map(() => new Process({ target: shortLived, args: [d, n] }));
  for (const p of procs) p.start();
  for (const p of procs) {
    await p.join();
    if (p.exitCode !== 0) throw new Error(`${p.name} exited with ${p.exitCode}`);
  }
  const seconds = (performance.now() - t) / 1000;
  if ((await d.len()) !== n) throw new Error(`short-lived dict set: ${await d.len()} keys, expected ${n}`);
  return { value: seconds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, repeats: { type: 'string' }, one: { type: 'string' }, n: { type: 'string' } },
  });
  if (values.one) {
    console.log(JSON.stringify(await one(values.one, Number(values.n ?? 20_000))));
    return;
  }
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
  for (let r = 0; r < repeats; r++) {
    for (const v of variants) {
      const { seconds, final } = await v.run();
      const expected = v.point === 'dict_set' || v.point === 'dict_set_pipelined' ? v.n : 2 * v.n;
      if (final !== expected) throw new Error(`${v.name}: final count ${final}, expected ${expected}`);
      runs.get(v.name)!.push((2 * v.n) / seconds);
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
    };
  });
  const k = (x: number) => (x >= 100_000 ? `${(x / 1000).toFixed(0)}k` : `${(x / 1000).toFixed(1)}k`);
  console.log(`Two worker processes, one manager; ${repeats} repeats, medians [min, max] of ops/s`);
  console.log('variant'.padEnd(30) + 'ops/s'.padStart(9) + '   spread'.padEnd(22) + 'ratio vs Python (target)');
  for (const s of summary) {
    const { median: m, spread } = s.opsPerSecond;
    const ratio = s.ratio === null ? '' : `${s.ratio.toFixed(1)}x vs ${s.comparedWith} (>= ${s.target}x${s.met ? '' : ', MISSED'})`;
    console.log(s.variant.padEnd(30) + k(m).padStart(9) + `   [${k(spread[0]!)}, ${k(spread[1]!)}]`.padEnd(22) + ratio);
  }
  mkdirSync(root + 'bench/results', { recursive: true });
  const result = { date: new Date().toISOString(), node: process.version, python: execFileSync('python3', ['--version'], { encoding: 'utf8' }).trim(), repeats, window: WINDOW, summary };
  writeFileSync(root + 'bench/results/manager.json', JSON.stringify(result, null, 2) + '\n');
}

if (isMainModule(import.meta)) await main();
