/**
 * What the Pool's events, diagnostics channels and histograms cost when nobody
 * listens: applyAsync throughput of this build against another built checkout
 * of weft (`--baseline`, e.g. main's), side by side in one run. Each round runs
 * both builds, in fresh processes, one after the other, in alternating order,
 * so a busy machine's drift falls on both alike; medians over the rounds and
 * the ratio. A third row, this build with a listener on every task event,
 * shows what listening costs.
 *
 *   node dist/bench/multiprocessing/pool_observe.js --baseline DIR [--rounds 5] [--n 100000] [--context process,thread]
 *
 * DIR is a checkout built with `npm run build:ts` whose node_modules and
 * build/Release/weft.node are in place. The build before the events landed:
 *
 *   git archive 7fc43d4 | tar -x -C /tmp/base && cd /tmp/base && ln -s $OLDPWD/node_modules &&
 *   npm run build:native && npm run build:ts
 *
 * Both contexts run in each round unless `--context` names one. `--ops` instead times, alone, the
 * operations those lines add (a bound that no run on a busy machine can give).
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

/**
 * `--ops`: what the lines a task passes through cost here, timed alone: the two histogram adds and the wait
 * computed for them (per task), the four `hasSubscribers` tests (per task), and a clock reading (per result frame).
 */
async function ops(): Promise<void> {
  const { TimeBuckets } = (await import(new URL('../../src/internals.js', import.meta.url).href)) as typeof import('../../src/internals.js');
  const dc = await import('node:diagnostics_channel');
  const runs = new TimeBuckets();
  const waits = new TimeBuckets();
  const channels = ['queued', 'start', 'finish', 'fail'].map((n) => dc.channel(`weft:bench:${n}`));
  const xs = Float64Array.from({ length: 4096 }, (_, i) => ((i * 7919) % 4096) / 4096e3);
  const time = (n: number, body: (i: number) => number): number => {
    let sink = 0;
    const t = performance.now();
    for (let i = 0; i < n; i++) sink += body(i);
    const ns = ((performance.now() - t) / n) * 1e6;
    return sink === -1 ? 0 : ns;
  };
  const rows: Record<string, number[]> = { 'histograms, per task': [], 'channel tests, per task': [], 'clock reading, per frame': [] };
  for (let r = 0; r < 5; r++) {
    rows['histograms, per task']!.push(
      time(1e7, (i) => {
        const run = xs[i & 4095]!;
        runs.add(run);
        waits.add(Math.max(0, 0.25 - run));
        return 0;
      }),
    );
    rows['channel tests, per task']!.push(time(1e7, () => channels.reduce((n, c) => n + (c.hasSubscribers ? 1 : 0), 0)));
    rows['clock reading, per frame']!.push(time(1e6, () => performance.now()));
  }
  for (const [name, ns] of Object.entries(rows)) console.log(`  ${name.padEnd(26)} ${median(ns).toFixed(1)} ns (${Math.min(...ns).toFixed(1)}–${Math.max(...ns).toFixed(1)}, 5 runs)`);
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

function measure(build: string, n: number, context: 'process' | 'thread', listen: boolean): Measure {
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
    rounds: { type: 'string', default: '5' },
    context: { type: 'string', default: 'process,thread' },
    baseline: { type: 'string' },
    ops: { type: 'boolean', default: false },
  },
});
const n = Number(values.n);
const contexts = values.context!.split(',').map((c) => {
  if (c !== 'process' && c !== 'thread') throw new Error(`--context takes process, thread or both (process,thread), got ${c}`);
  return c;
});

const ROWS = ['baseline', 'this build', 'this build, listened to'] as const;
type Row = (typeof ROWS)[number];

if (values.ops && weft.isMainModule(import.meta)) {
  await ops();
} else if (values.one && weft.isMainModule(import.meta)) {
  await one(n, contexts[0]!, values.listen);
} else if (weft.isMainModule(import.meta)) {
  if (!values.baseline) throw new Error('pass --baseline DIR: a built checkout of weft to compare this build with');
  const baseline = resolve(values.baseline, 'dist/src/index.js');
  if (!existsSync(baseline)) throw new Error(`no built weft at ${baseline}: build that checkout (npm run build:ts) or pass --baseline DIR`);
  const empty = () => Object.fromEntries(ROWS.map((r) => [r, [] as number[]])) as Record<Row, number[]>;
  const runs = Object.fromEntries(contexts.map((c) => [c, { rate: empty(), cpu: empty() }]));
  for (let round = 0; round < Number(values.rounds); round++) {
    // Every context and build in each round, the two builds' order alternating, so drift falls on all alike.
    for (const context of contexts) {
      const order: Row[] = round % 2 ? ['this build', 'baseline', 'this build, listened to'] : ['baseline', 'this build', 'this build, listened to'];
      for (const row of order) {
        const m = measure(row === 'baseline' ? baseline : ownBuild, n, context, row === 'this build, listened to');
        runs[context]!.rate[row].push(m.tasksPerSecond);
        runs[context]!.cpu[row].push(m.parentCpuMicros);
      }
      const { rate } = runs[context]!;
      console.error(`  round ${round + 1} ${context}: ${ROWS.map((r) => `${r} ${Math.round(rate[r].at(-1)!)}`).join(', ')}`);
    }
  }
  const out = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  for (const context of contexts) {
    const { rate, cpu } = runs[context]!;
    const base = median(rate.baseline);
    const baseCpu = median(cpu.baseline);
    console.log(`applyAsync ×${n}, 2 ${context} workers, tasks/s and the parent's CPU per task (median of ${values.rounds} rounds, min–max):`);
    for (const row of ROWS) {
      const m = median(rate[row]);
      const c = median(cpu[row]);
      console.log(
        `  ${row.padEnd(24)} ${Math.round(m).toString().padStart(8)} (${Math.round(Math.min(...rate[row]))}–${Math.round(Math.max(...rate[row]))})  ${(m / base).toFixed(3)}x` +
          `   ${c.toFixed(2)} µs (${Math.min(...cpu[row]).toFixed(2)}–${Math.max(...cpu[row]).toFixed(2)})  ${(c / baseCpu).toFixed(3)}x`,
      );
    }
    // Per round too: the two builds ran back to back there, so the ratio of each pair is less noisy.
    const pairs = rate['this build'].map((v, i) => v / rate.baseline[i]!);
    const cpuPairs = cpu['this build'].map((v, i) => v / cpu.baseline[i]!);
    console.log(`  per-round this/baseline: tasks/s median ${median(pairs).toFixed(3)} (${pairs.map((p) => p.toFixed(3)).join(' ')})`);
    console.log(`                           CPU/task median ${median(cpuPairs).toFixed(3)} (${cpuPairs.map((p) => p.toFixed(3)).join(' ')})`);
    writeFileSync(
      join(out, `pool_observe_${context}.json`),
      JSON.stringify({ n, context, rounds: Number(values.rounds), baseline: values.baseline, rows: rate, parentCpuMicros: cpu, pairs, cpuPairs }, null, 2) + '\n',
    );
  }
}
