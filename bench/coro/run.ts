/**
 * weft/coro benchmarks, side by side in one run: `node dist/bench/coro/run.js
 * [--runs N] [--quick] [--only spawn|switch|memory|queue|imap|echo]`. Each point runs in fresh processes,
 * weft and its anchors interleaved (weft, gevent, peers, weft, gevent, ...)
 * so that load from other work on the machine hits both alike. Prints
 * medians, spread ((max - min) / median) and the ratio against each target,
 * and writes everything to bench/results/coro.json (a run of some points only, to coro-POINT.json).
 *
 * Anchors: Debian's /usr/bin/python3 with gevent and greenlet
 * (bench/coro/gevent_points.py), and p-map / p-limit at the same concurrency.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../lib/stats.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));
const python = '/usr/bin/python3';
const geventScript = `${root}bench/coro/gevent_points.py`;
const pointsScript = `${here}points.js`;
const weftCli = `${root}dist/src/cli/main.js`;

interface Sample {
  rate: number;
  [key: string]: number | string;
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<Sample> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Sample);
      } catch {
        reject(new Error(`${cmd} ${args.join(' ')} printed no JSON: ${stdout}\n${stderr}`));
      }
    });
  });
}

/** Pin to one core when there are two or more, so server and load do not share one. */
function pinned(core: number, cmd: string, args: string[]): [string, string[]] {
  return cpus().length >= 2 ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];
}

/**
 * Start an echo server (it prints its port), drive it with `weft load` (closed
 * loop, depth 1: the native load generator of weft/io, which costs less per
 * message than any server here, so the server is what is measured), stop it.
 */
async function echoRun(server: [string, string[]], connections: number, seconds: number): Promise<Sample> {
  const [cmd, args] = pinned(0, ...server);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /^(\d+)\n/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`echo server exited early (${code})`)));
    });
    const [lcmd, largs] = pinned(1, process.execPath, [
      weftCli, 'load', '--port', String(port), '--connections', String(connections), '--size', '1024',
      '--depth', '1', '--warmup', '0.3', '--duration', String(seconds), '--json',
    ]);
    const load = await run(lcmd, largs);
    if (load.errors !== 0) throw new Error(`weft load saw errors against the echo server: ${JSON.stringify(load)}`);
    const sample: Sample = { rate: load.messagesPerSecond as number };
    child.stdin.end();
    // the server's last line: its CPU time and the KiB it echoed
    const cpu = await new Promise<{ cpuSeconds: number; kib: number } | undefined>((resolve) => {
      const look = (): void => {
        const line = out.trim().split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line) as { cpuSeconds: number; kib: number });
      };
      child.stdout.on('data', look);
      child.once('exit', () => {
        look();
        resolve(undefined);
      });
      look();
    });
    if (cpu && cpu.kib > 0) sample.cpuMicrosPerKiB = (cpu.cpuSeconds * 1e6) / cpu.kib;
    return sample;
  } finally {
    child.stdin.end();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 3000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      if (child.exitCode !== null) {
        clearTimeout(t);
        resolve();
      }
    });
  }
}

interface Contender {
  name: string;
  measure: () => Promise<Sample>;
}

interface Point {
  key: string;
  title: string;
  unit: string;
  /** weft / gevent must be >= this (or <= it when lowerIsBetter). */
  target: number;
  lowerIsBetter?: boolean;
  contenders: Contender[];
  /** A peer weft must not be slower than (p-map). */
  notSlowerThan?: string;
}

function points(n: number, echoSeconds: number): Point[] {
  const weft = (p: string, extra: string[] = []): (() => Promise<Sample>) => () =>
    run(process.execPath, [...extra, pointsScript, p, String(n)]);
  const gevent = (p: string): (() => Promise<Sample>) => () => run(python, [geventScript, p, String(n)]);
  return [
    {
      key: 'spawn',
      title: `spawn + joinAll of ${n} no-op greenlets`,
      unit: 'greenlets/s',
      target: 10,
      contenders: [
        { name: 'weft', measure: weft('spawn') },
        { name: 'gevent', measure: gevent('spawn') },
      ],
    },
    {
      key: 'switch',
      title: `switch ping-pong between two greenlets (${n} switches)`,
      unit: 'switches/s',
      target: 1,
      contenders: [
        { name: 'weft', measure: weft('switch') },
        { name: 'gevent', measure: gevent('switch') },
      ],
    },
    {
      key: 'memory',
      title: `${n} greenlets asleep at once: RSS per greenlet`,
      unit: 'bytes/greenlet',
      target: 0.5,
      lowerIsBetter: true,
      contenders: [
        { name: 'weft', measure: weft('memory', ['--expose-gc']) },
        { name: 'gevent', measure: gevent('memory') },
      ],
    },
    {
      key: 'queue',
      title: `Queue ping-pong between two greenlets (${n} round trips)`,
      unit: 'round trips/s',
      target: 3,
      contenders: [
        { name: 'weft', measure: weft('queue') },
        { name: 'gevent', measure: gevent('queue') },
      ],
    },
    {
      key: 'imap',
      title: `Pool(100).imapUnordered over ${n} tiny jobs`,
      unit: 'jobs/s',
      target: 5,
      notSlowerThan: 'p-map',
      contenders: [
        { name: 'weft', measure: weft('imap') },
        { name: 'gevent', measure: gevent('imap') },
        { name: 'p-map', measure: weft('pmap') },
        { name: 'p-limit', measure: weft('plimit') },
        { name: 'p-map, context tracking on', measure: weft('pmapctx') },
      ],
    },
    {
      key: 'echo',
      title: 'StreamServer echo, 100 connections x 1 KiB, closed loop',
      unit: 'messages/s',
      target: 1.5,
      contenders: [
        { name: 'weft', measure: () => echoRun([process.execPath, [pointsScript, 'echoserver']], 100, echoSeconds) },
        { name: 'gevent', measure: () => echoRun([python, [geventScript, 'echoserver']], 100, echoSeconds) },
      ],
    },
  ];
}


function fmt(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be an integer >= 1, got ${values.runs}`);
const n = values.quick ? 20_000 : 100_000;
const started = performance.now();
const report: Record<string, unknown>[] = [];
const rows: string[] = [];
for (const point of points(n, values.quick ? 1 : 2).filter((p) => !values.only || p.key === values.only)) {
  const samples = new Map<string, number[]>(point.contenders.map((c) => [c.name, []]));
  const cpuPerKiB = new Map<string, number[]>();
  for (let r = 0; r < runs; r++) {
    for (const c of point.contenders) {
      const s = await c.measure();
      samples.get(c.name)!.push(s.rate);
      if (typeof s.cpuMicrosPerKiB === 'number') {
        if (!cpuPerKiB.has(c.name)) cpuPerKiB.set(c.name, []);
        cpuPerKiB.get(c.name)!.push(s.cpuMicrosPerKiB);
      }
    }
  }
  const cpuNote =
    cpuPerKiB.size > 0
      ? `; server CPU per KiB echoed (median): ${[...cpuPerKiB].map(([k, xs]) => `${k} ${median(xs).toFixed(1)} µs`).join(', ')}`
      : '';
  const stats = Object.fromEntries(
    [...samples].map(([name, xs]) => {
      const med = median(xs);
      return [name, { median: med, min: Math.min(...xs), max: Math.max(...xs), spread: (Math.max(...xs) - Math.min(...xs)) / med, samples: xs }];
    }),
  );
  const w = stats.weft!.median;
  const g = stats.gevent!.median;
  const ratio = w / g;
  const met = point.lowerIsBetter ? ratio <= point.target : ratio >= point.target;
  const peer = point.notSlowerThan ? stats[point.notSlowerThan]!.median : undefined;
  const peerMet = peer === undefined ? undefined : w >= peer;
  const cpu = Object.fromEntries([...cpuPerKiB].map(([k, xs]) => [k, { median: median(xs), samples: xs }]));
  report.push({ key: point.key, title: point.title, unit: point.unit, target: point.target, lowerIsBetter: point.lowerIsBetter ?? false, stats, ratio, met, peerRatio: peer === undefined ? undefined : w / peer, peerMet, serverCpuMicrosPerKiB: cpuPerKiB.size ? cpu : undefined });
  const cells = point.contenders.map((c) => {
    const s = stats[c.name]!;
    return `${c.name} ${fmt(s.median)} (±${(s.spread * 50).toFixed(0)}%)`;
  });
  const goal = `${point.lowerIsBetter ? '<=' : '>='} ${point.target}x`;
  let line = `| ${point.title} | ${point.unit} | ${cells.join('<br>')} | ${ratio.toFixed(2)}x | ${goal} | ${met ? 'met' : 'missed'}`;
  if (peer !== undefined) line += `; vs p-map ${(w / peer).toFixed(2)}x (${peerMet ? 'met' : 'missed'})`;
  line += cpuNote;
  rows.push(`${line} |`);
  console.log(line + ' |');
}
const table = [
  '| point | unit | median (± half the spread), per contender | weft / gevent | target | verdict |',
  '|---|---|---|---|---|---|',
  ...rows,
].join('\n');
console.log(`\n${table}\n\n${runs} runs per contender, ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
const out = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
mkdirSync(out, { recursive: true });
// A run of some points only (--only, --quick) goes to a file of its own, so that the full pass stays on record.
const file = values.only || values.quick ? `coro-${values.only ?? 'quick'}.json` : 'coro.json';
writeFileSync(
  `${out}${file}`,
  JSON.stringify(
    {
      command: `node dist/bench/coro/run.js${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`,
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      runs,
      n,
      points: report,
      table,
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${out}${file}`);
