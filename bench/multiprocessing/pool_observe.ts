/**
 * What the Pool's events, diagnostics channels and histograms cost when nobody
 * listens: applyAsync throughput of this build against another built checkout
 * of weft (`--baseline`, e.g. main's), side by side in one run. Each round runs
 * both builds, in fresh processes, one after the other, in alternating order,
 * so a busy machine's drift falls on both alike; medians over the rounds and
 * the ratio. A third row, this build with a listener on every task event,
 * shows what listening costs.
 *
 *   node dist/bench/multiprocessing/pool_observe.js --baseline DIR [--rounds 7] [--n 100000] [--context process|thread]
 *
 * DIR is a checkout built with `npm run build:ts` whose node_modules and
 * build/Release/weft.node are in place (a `git archive` of main with those
 * two linked or copied from this checkout will do when native/ is the same).
 *
 * Each measure is `--one`: a fresh process imports weft from WEFT_BUILD (a
 * built checkout's dist/src/index.js; its workers, which import this file
 * for its task, load the same build) and prints one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

type Weft = typeof import('weft');
const weft = (await import(process.env.WEFT_BUILD ?? 'weft')) as Weft;

export const square = weft.task(import.meta, function square(x: number): number {
  return x * x;
});

const here = fileURLToPath(import.meta.url);
const ownBuild = fileURLToPath(new URL('../../src/index.js', import.meta.url));

/** One measure in this process: tasks/s of `n` applyAsync calls, the median of 3 after a warm-up. */
async function one(n: number, context: 'process' | 'thread', listen: boolean): Promise<void> {
  const pool = new weft.Pool({ processes: 2, context });
  try {
    if (listen) {
      let seen = 0;
      const count = () => void seen++;
      for (const name of ['taskQueued', 'taskStart', 'taskFinish', 'taskFail'] as const) {
        (pool as unknown as { on(e: string, f: () => void): void }).on(name, count);
      }
    }
    await pool.map(square, Array.from({ length: 100 }, (_, i) => i), 1);
    const rates: number[] = [];
    const cpus: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t = performance.now();
      const c = process.cpuUsage();
      const results = [];
      for (let i = 0; i < n; i++) results.push(pool.applyAsync(square, [i]));
      for (const x of results) await x.get();
      const used = process.cpuUsage(c);
      rates.push(n / ((performance.now() - t) / 1000));
      cpus.push((used.user + used.system) / n);
    }
    rates.sort((a, b) => a - b);
    cpus.sort((a, b) => a - b);
    // The parent's CPU per task: where the events, channels and histograms would cost, and less at the mercy of the scheduler.
    console.log(JSON.stringify({ tasksPerSecond: rates[1], parentCpuMicros: cpus[1] }));
  } finally {
    await pool.terminate();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Measure {
  tasksPerSecond: number;
  parentCpuMicros: number;
}

function measure(build: string, n: number, context: string, listen: boolean): Measure {
  const r = spawnSync(process.execPath, [here, '--one', '--n', String(n), '--context', context, ...(listen ? ['--listen'] : [])], {
    env: { ...process.env, WEFT_BUILD: pathToFileURL(build).href },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`measure with ${build} failed (exit ${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measure;
}

const { values } = parseArgs({
  options: {
    one: { type: 'boolean', default: false },
    listen: { type: 'boolean', default: false },
    n: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '7' },
    context: { type: 'string', default: 'process' },
    baseline: { type: 'string' },
  },
});
const n = Number(values.n);
const context = values.context === 'thread' ? 'thread' : 'process';

if (values.one && weft.isMainModule(import.meta)) {
  await one(n, context, values.listen);
} else if (weft.isMainModule(import.meta)) {
  if (!values.baseline) throw new Error('pass --baseline DIR: a built checkout of weft to compare this build with');
  const baseline = resolve(values.baseline, 'dist/src/index.js');
  if (!existsSync(baseline)) throw new Error(`no built weft at ${baseline}: build that checkout (npm run build:ts) or pass --baseline DIR`);
  const rows: Record<string, number[]> = { baseline: [], 'this build': [], 'this build, listened to': [] };
  const cpu: Record<string, number[]> = { baseline: [], 'this build': [], 'this build, listened to': [] };
  const record = (row: string, m: Measure) => {
    rows[row]!.push(m.tasksPerSecond);
    cpu[row]!.push(m.parentCpuMicros);
  };
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = round % 2 ? (['this build', 'baseline'] as const) : (['baseline', 'this build'] as const);
    for (const which of order) record(which, measure(which === 'baseline' ? baseline : ownBuild, n, context, false));
    record('this build, listened to', measure(ownBuild, n, context, true));
    console.error(`  round ${round + 1}: ${Object.entries(rows).map(([k, v]) => `${k} ${Math.round(v.at(-1)!)}`).join(', ')}`);
  }
  const base = median(rows.baseline!);
  console.log(`applyAsync ×${n}, 2 ${context} workers, tasks/s (median of ${values.rounds} rounds, min–max):`);
  for (const [name, runs] of Object.entries(rows)) {
    const m = median(runs);
    console.log(`  ${name.padEnd(26)} ${Math.round(m).toString().padStart(8)}  (${Math.round(Math.min(...runs))}–${Math.round(Math.max(...runs))})  ${(m / base).toFixed(3)}x baseline; parent CPU ${median(cpu[name]!).toFixed(2)} µs/task`);
  }
  // Per round too: the two builds ran back to back there, so the ratio of each pair is less noisy.
  const pairs = rows['this build']!.map((v, i) => v / rows.baseline![i]!);
  console.log(`  per-round ratio this/baseline: median ${median(pairs).toFixed(3)} (${pairs.map((p) => p.toFixed(3)).join(' ')})`);
  const out = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `pool_observe_${context}.json`), JSON.stringify({ n, context, baseline: values.baseline, rows, parentCpuMicros: cpu, pairs }, null, 2) + '\n');
}
