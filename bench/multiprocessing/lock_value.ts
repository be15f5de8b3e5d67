/**
 * Lock + Value benchmark, weft beside Python 3 `multiprocessing` (spawn) in one
 * run: two children each increment one shared Value 50k times under one Lock;
 * the final value must be exactly 100k.
 *
 * The clock runs from the moment both children are ready and told to go (an
 * Event) until the last one finished its loop (each child stores its end time
 * from CLOCK_MONOTONIC in a SharedArray), so process start-up is not counted,
 * and each child first warms up for WARMUP_SECONDS on a scratch Value under
 * the same Lock (bench/lib/warmup.ts); the Python script measures the same
 * way. Variants, interleaved within each repeat so machine noise hits them
 * alike:
 *
 * - weft process, `await lock.acquire()` / `release()` (the headline: the async API);
 * - weft process, `using held = await lock.hold()` (Python's `with lock:`);
 * - weft process, `lock.acquireSync()` / `release()` (blocking, like Python);
 * - weft thread context, `await lock.acquire()`;
 * - Python 3 `multiprocessing`, spawn, `with lock: value.value += 1`.
 *
 * Medians of REPEATS runs with [min, max]; JSON to bench/results/lock_value.json.
 * Usage: node dist/bench/multiprocessing/lock_value.js [--quick] [--repeats N]
 *        node dist/bench/multiprocessing/lock_value.js --one acquire|hold|acquireSync [--context process|thread] [--n N]
 *        (one run of one weft variant, one JSON line {value: increments/s}: bench/run.ts --load)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Event,
  Lock,
  Process,
  Semaphore,
  SharedArray,
  Value,
  isMainModule,
  task,
  type ContextName,
} from 'weft';
import { median } from '../lib/stats.js';
import { warmUp } from '../lib/warmup.js';

type Mode = 'acquire' | 'hold' | 'acquireSync';

const monotonic = (): number => Number(process.hrtime.bigint()) / 1e9;

export const increment = task(import.meta, async function increment(
  lock: Lock,
  value: Value<'i'>,
  n: number,
  mode: Mode,
  ready: Semaphore,
  go: Event,
  ends: SharedArray<'d'>,
  slot: number,
  scratch: Value<'i'>,
) {
  // Untimed, on a scratch Value under the same Lock (bench/lib/warmup.ts says why).
  await warmUp(() => loop(lock, scratch, 100, mode));
  ready.release();
  await go.wait();
  await loop(lock, value, n, mode);
  ends.set(slot, monotonic());
});

async function loop(lock: Lock, value: Value<'i'>, n: number, mode: Mode): Promise<void> {
  if (mode === 'acquire') {
    for (let i = 0; i < n; i++) {
      await lock.acquire();
      value.value += 1;
      lock.release();
    }
  } else if (mode === 'hold') {
    for (let i = 0; i < n; i++) {
      using held = await lock.hold();
      value.value += 1;
    }
  } else {
    for (let i = 0; i < n; i++) {
      lock.acquireSync();
      value.value += 1;
      lock.release();
    }
  }
}

interface Variant {
  name: string;
  run: () => Promise<{ seconds: number; final: number }>;
}

function weft(context: ContextName, mode: Mode, n: number): Variant {
  return {
    name: `weft ${context}, ${mode === 'hold' ? 'using hold()' : mode === 'acquire' ? 'await acquire()' : 'acquireSync()'}`,
    async run() {
      const lock = new Lock();
      const value = new Value('i', 0, { lock: false });
      const ready = new Semaphore(0);
      const go = new Event();
      const ends = new SharedArray('d', 2, { lock: false });
      const scratch = new Value('i', 0, { lock: false });
      const procs = [0, 1].map(
        (slot) => new Process({ target: increment, args: [lock, value, n, mode, ready, go, ends, slot, scratch], context }),
      );
      for (const p of procs) p.start();
      for (let i = 0; i < 2; i++) await ready.acquire();
      const t0 = monotonic();
      go.set();
      for (const p of procs) {
        await p.join();
        if (p.exitCode !== 0) throw new Error(`${p.name} exited with ${p.exitCode}`);
      }
      return { seconds: Math.max(...ends.toArray()) - t0, final: value.value };
    },
  };
}

function python(script: string, n: number): Variant {
  return {
    name: 'Python 3 multiprocessing (spawn)',
    async run() {
      const out = execFileSync('python3', [script, '1', String(n)], { encoding: 'utf8' });
      const { seconds, final } = JSON.parse(out.trim().split('\n').at(-1)!) as { seconds: number; final: number };
      return { seconds, final };
    },
  };
}


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, repeats: { type: 'string' }, one: { type: 'string' }, context: { type: 'string' }, n: { type: 'string' } },
  });
  if (values.one) {
    const n = Number(values.n ?? 50_000);
    if (!['acquire', 'hold', 'acquireSync'].includes(values.one)) throw new Error(`--one ${values.one}: expected acquire, hold or acquireSync`);
    const v = weft((values.context ?? 'process') as ContextName, values.one as Mode, n);
    const { seconds, final } = await v.run();
    if (final !== 2 * n) throw new Error(`${v.name}: final value ${final}, expected ${2 * n}`);
    console.log(JSON.stringify({ value: (2 * n) / seconds }));
    return;
  }
  const repeats = Number(values.repeats ?? (values.quick ? 3 : 7));
  const n = 50_000;
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const variants = [
    weft('process', 'acquire', n),
    weft('process', 'hold', n),
    weft('process', 'acquireSync', n),
    weft('thread', 'acquire', n),
    python(root + 'bench/multiprocessing/lock_value.py', n),
  ];
  const loadBefore = loadavg()[0]!;
  const runs = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < repeats; r++) {
    for (const v of variants) {
      const { seconds, final } = await v.run();
      if (final !== 2 * n) throw new Error(`${v.name}: final value ${final}, expected ${2 * n}`);
      runs.get(v.name)!.push((2 * n) / seconds);
    }
  }
  const pythonMedian = median(runs.get(variants.at(-1)!.name)!);
  const summary = variants.map((v) => {
    const rates = runs.get(v.name)!;
    return {
      variant: v.name,
      incrementsPerSecond: { median: median(rates), spread: [Math.min(...rates), Math.max(...rates)], runs: rates },
      ratioToPython: median(rates) / pythonMedian,
      finalValueChecked: 2 * n,
    };
  });
  const k = (x: number) => `${(x / 1000).toFixed(0)}k`;
  console.log(`Two children x ${n} increments of one Value under one Lock; ${repeats} repeats, medians [min, max]`);
  console.log('variant'.padEnd(40) + 'increments/s'.padStart(14) + '   spread'.padEnd(20) + 'vs Python');
  for (const s of summary) {
    const { median: m, spread } = s.incrementsPerSecond;
    console.log(
      s.variant.padEnd(40) + k(m).padStart(14) + `   [${k(spread[0]!)}, ${k(spread[1]!)}]`.padEnd(20) +
        `${s.ratioToPython.toFixed(2)}x`,
    );
  }
  mkdirSync(root + 'bench/results', { recursive: true });
  // the machine is shared: the 1-minute load average says how busy it was
  const load = [loadBefore, loadavg()[0]!];
  console.log(`cores: ${availableParallelism()}, load average before/after: ${load.map((x) => x.toFixed(1)).join(' / ')}`);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cores: availableParallelism(),
    loadAverage: load,
    repeats,
    increments: 2 * n,
    summary,
  };
  writeFileSync(root + 'bench/results/lock_value.json', JSON.stringify(result, null, 2) + '\n');
}

if (isMainModule(import.meta)) await main();
