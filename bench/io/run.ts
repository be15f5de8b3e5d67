/**
 * weft/io benchmarks, side by side in one run (about 3 minutes):
 *
 * 1. Echo servers — weft (selectors/epoll), weft (io_uring), Node `net`,
 *    Python `selectors`, uvloop and a C epoll server — driven by `weft load` at 1 x 64 B,
 *    100 x 1 KiB and 1000 x 64 B (closed loop, depth 1), server pinned to
 *    core 0 and load generator to core 1, servers interleaved within each
 *    repetition; messages/s, server CPU µs/message (from /proc/PID/stat) and
 *    the load generator's own CPU µs/message. The order of the servers rotates
 *    from one repetition to the next.
 * 2. The cost of one select / poll / epoll wait with 1 active and
 *    10 / 100 / 1000 / 10,000 idle connections (table + docs/io-wait-cost.svg).
 *
 * Medians of REPEATS runs with [min, max]; JSON to bench/results/io.json.
 * Usage: node dist/bench/io/run.js [--quick] [--repeats N] [--servers epoll,uring,...] [--loads 100,1000] [--engine epoll|uring]
 *          [--generator weft,c] [--server-bound | --unpinned] [--echo-only]
 * (--servers picks by a word of the name, case-insensitive, or by a whole name: `weft io_uring` is that server
 * alone, not its waitOnly and plain-fds variants; --engine is weft load's; --echo-only skips part 2 and writes
 * no files.)
 *
 * --generator picks the load generator(s): `weft` (weft load, the default) and/or `c` (bench/io/c-uring-load.c,
 * a lean C generator on io_uring, compiled here with cc: no byte checks and no completion per send, so it
 * costs less CPU per message than the servers and leaves them to be the bottleneck). With both, every
 * repetition runs every server under each generator in turn, and the targets are given for each.
 *
 * --server-bound runs a CPU-bound loop pinned to the server's core throughout the echo runs, for every
 * server alike. At depth 1 the load generator spends about as much CPU per message as the fastest servers,
 * so with a core each neither is the bottleneck and messages/s hardly tells the servers apart; with the
 * loop taking about half of core 0 the server is the bottleneck, and messages/s follows its CPU per message.
 * --unpinned runs the server and the generator without taskset, wherever the scheduler puts them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { IoUring } from 'weft/io';
import type { WaitCost } from './waitcost.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dist = root + 'dist/';
const quick = process.argv.includes('--quick');
const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const REPEATS = Number(flag('--repeats') ?? (quick ? 1 : 5));
const only = flag('--servers')?.toLowerCase().split(',');
const echoOnly = process.argv.includes('--echo-only');
const engine = flag('--engine'); // weft load's engine (epoll, uring); default: weft load's default
type Generator = 'weft' | 'c';
const generators = (flag('--generator') ?? 'weft').split(',') as Generator[];
for (const g of generators) {
  if (g !== 'weft' && g !== 'c') throw new Error(`--generator takes weft, c or weft,c; got ${g}`);
}
const serverBound = process.argv.includes('--server-bound');
const unpinned = process.argv.includes('--unpinned');
if (unpinned && serverBound) throw new Error('--server-bound pins a loop beside the server: leave out --unpinned');
/** `cmd` run on `core`, or wherever the scheduler puts it with --unpinned. */
const on = (core: string, cmd: string[]): string[] => (unpinned ? cmd : ['taskset', '-c', core, ...cmd]);
const WARMUP = 0.3;
const DURATION = quick ? 1 : 1.5;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

interface Server {
  name: string;
  cmd: string[];
  child?: ChildProcess;
  port?: number;
}

const loads = flag('--loads')?.split(',').map(Number); // by connection count: --loads 100,1000
const configs = [
  { name: '1 x 64 B', connections: 1, size: 64 },
  { name: '100 x 1 KiB', connections: 100, size: 1024 },
  { name: '1000 x 64 B', connections: 1000, size: 64 },
].filter((c) => !loads || loads.includes(c.connections));

interface Run {
  rep: number;
  generator: Generator;
  server: string;
  config: string;
  messagesPerSecond: number;
  serverCpuUsPerMessage: number;
  loadCpuUsPerMessage: number;
  p50: number;
  p99: number;
  errors: number;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15 of stat)
}

function start(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = on('0', server.cmd);
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    server.child = child;
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${server.name} did not start: ${out}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m && server.port === undefined) {
        clearTimeout(timer);
        server.port = Number(m[1]);
        resolve();
      }
    });
    child.on('exit', (code) => {
      if (server.port === undefined) reject(new Error(`${server.name} exited with ${code}: ${out}`));
    });
  });
}

/** One run of `generator` against `server`, sampling the server's CPU over the steady part. */
function loadRun(server: Server, cfg: (typeof configs)[number], rep: number, generator: Generator, cLoad: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = on('1', generator === 'c'
      ? [cLoad, String(server.port), String(cfg.connections), String(cfg.size), String(WARMUP), String(DURATION)]
      : [
        process.execPath, dist + 'src/cli/main.js', 'load', '--port', String(server.port),
        '--connections', String(cfg.connections), '--size', String(cfg.size), '--depth', '1',
        '--warmup', String(WARMUP), '--duration', String(DURATION), '--json', ...(engine ? ['--engine', engine] : []),
      ]);
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = server.child!.pid!;
    let a = { t: 0, cpu: 0 };
    let b = { t: 0, cpu: 0 };
    const sample = () => ({ t: performance.now(), cpu: cpuTicks(pid) });
    const ta = setTimeout(() => (a = sample()), (WARMUP + 0.35) * 1000);
    const tb = setTimeout(() => (b = sample()), (WARMUP + DURATION - 0.05) * 1000);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.on('exit', () => {
      clearTimeout(ta);
      clearTimeout(tb);
      try {
        const r = JSON.parse(out);
        if (!b.t) b = sample();
        const serverCpuUs = ((b.cpu - a.cpu) / CLK_TCK) * 1e6;
        const msgs = r.messagesPerSecond * ((b.t - a.t) / 1000);
        resolve({
          rep,
          generator,
          server: server.name,
          config: cfg.name,
          messagesPerSecond: r.messagesPerSecond,
          serverCpuUsPerMessage: msgs > 0 ? serverCpuUs / msgs : NaN,
          loadCpuUsPerMessage: r.cpuUsPerMessage,
          p50: r.latencyUs.p50,
          p99: r.latencyUs.p99,
          errors: r.errors,
        });
      } catch (err) {
        reject(new Error(`${generator} load against ${server.name} (${cfg.name}) failed: ${out}`, { cause: err }));
      }
    });
  });
}

/** Run `fn`, retrying twice after a pause (a shared machine can fail a run, e.g. a rebuild in progress). */
async function retry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 3) throw err;
      process.stderr.write(`  (run failed, retrying: ${(err as Error).message.split('\n')[0]})\n`);
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const spread = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

/** A log-log plot of µs per wait against idle connections, one line per mechanism. */
function plot(rows: WaitCost[]): string {
  const W = 640, H = 400, L = 70, R = 130, T = 30, B = 50;
  const xs = rows.map((r) => r.idle);
  const ys = rows.flatMap((r) => [r.poll.median, r.epoll.median, ...(r.select ? [r.select.median] : [])]);
  const [x0, x1] = [Math.log10(Math.min(...xs)), Math.log10(Math.max(...xs))];
  const [y0, y1] = [Math.floor(Math.log10(Math.min(...ys))), Math.ceil(Math.log10(Math.max(...ys)))];
  const px = (x: number) => L + ((Math.log10(x) - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((Math.log10(y) - y0) / (y1 - y0)) * (H - T - B);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">One wait (timeout 0, 1 active fd): µs vs idle connections</text>`];
  for (let e = y0; e <= y1; e++) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(10 ** e)}" y2="${py(10 ** e)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${py(10 ** e) + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)}</text>`);
  }
  for (const x of xs) {
    parts.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${H - B + 18}" text-anchor="middle">${x.toLocaleString('en-US')}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">idle connections (log)</text>`,
    `<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">µs per wait (log)</text>`);
  const series: [string, string, (r: WaitCost) => number | undefined][] = [
    ['select', '#d62728', (r) => r.select?.median], ['poll', '#1f77b4', (r) => r.poll.median], ['epoll', '#2ca02c', (r) => r.epoll.median],
  ];
  series.forEach(([name, color, get], i) => {
    const pts = rows.filter((r) => get(r) !== undefined).map((r) => `${px(r.idle)},${py(get(r)!)}`);
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of pts) parts.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${color}"/>`);
    parts.push(`<text x="${W - R + 12}" y="${T + 20 + i * 18}" fill="${color}">${name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const build = mkdtempSync(tmpdir() + '/weft-io-bench-');
  execFileSync('cc', ['-O2', '-o', build + '/c-epoll-echo', root + 'bench/io/c-epoll-echo.c']);
  const uring = IoUring.available();
  if (!uring.ok) process.stderr.write(`  no io_uring echo server: ${uring.reason}\n`);
  const cLoad = build + '/c-uring-load';
  if (generators.includes('c')) {
    if (!uring.ok) throw new Error(`--generator c runs on io_uring (${uring.reason}): use --generator weft`);
    execFileSync('cc', ['-O2', '-o', cLoad, root + 'bench/io/c-uring-load.c']);
  }
  const all: Server[] = [
    { name: 'weft selectors (epoll)', cmd: [process.execPath, dist + 'bench/io/weft-echo-server.js', '0'] },
    ...(uring.ok ? [
      { name: 'weft io_uring', cmd: [process.execPath, dist + 'bench/io/weft-uring-echo-server.js', '0'] },
      { name: 'weft io_uring waitOnly', cmd: [process.execPath, dist + 'bench/io/weft-uring-echo-server.js', '0', '--wait-only'] },
      { name: 'weft io_uring plain fds', cmd: [process.execPath, dist + 'bench/io/weft-uring-echo-server.js', '0', '--plain-fds'] },
    ] : []),
    { name: 'Node net', cmd: [process.execPath, dist + 'bench/io/node-net-echo-server.js', '0'] },
    { name: 'Python selectors', cmd: ['/usr/bin/python3', root + 'bench/io/py_selectors_echo.py', '0'] },
    { name: 'uvloop', cmd: ['/usr/bin/python3', root + 'bench/io/py_uvloop_echo.py', '0'] },
    { name: 'C epoll', cmd: [build + '/c-epoll-echo', '0'] },
  ];
  const servers = only
    ? all.filter((s) => {
      const name = s.name.toLowerCase();
      return only.some((w) => name === w || (!all.some((x) => x.name.toLowerCase() === w) && name.includes(w)));
    })
    : all;
  const runs: Run[] = [];
  // The loop shares core 0 with the server (the scheduler gives each about half); killed by pid below.
  const hog = serverBound ? spawn('taskset', ['-c', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }) : undefined;
  try {
    for (const s of servers) await start(s);
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const cfg of configs) {
        for (const g of generators) {
          // Rotate the order each repetition so no server always runs first after a change of load.
          for (let k = 0; k < servers.length; k++) {
            const s = servers[(k + rep) % servers.length]!;
            await new Promise((r) => setTimeout(r, 200)); // let the previous run's connections close
            const r = await retry(() => loadRun(s, cfg, rep, g, cLoad));
            runs.push(r);
            process.stderr.write(`  [${rep + 1}/${REPEATS}] ${cfg.name.padEnd(12)} ${g.padEnd(4)} ${s.name.padEnd(24)} ${f0(r.messagesPerSecond).padStart(9)} msg/s  server ${f2(r.serverCpuUsPerMessage)} µs/msg  load ${f2(r.loadCpuUsPerMessage)} µs/msg  errors ${r.errors}\n`);
          }
        }
      }
    }
  } finally {
    hog?.kill('SIGKILL');
    for (const s of servers) s.child?.kill('SIGKILL');
    rmSync(build, { recursive: true, force: true });
  }

  if (!echoOnly) process.stderr.write('  wait cost: select / poll / epoll with 1 active + N idle connections\n');
  const waits = echoOnly ? [] : JSON.parse(
    execFileSync(process.execPath, [dist + 'bench/io/waitcost.js', String(REPEATS)], { stdio: ['ignore', 'pipe', 'inherit'] }).toString(),
  ) as WaitCost[];

  // Summaries.
  const summary = configs.flatMap((cfg) => generators.flatMap((generator) =>
    servers.map((s) => {
      const rs = runs.filter((r) => r.generator === generator && r.server === s.name && r.config === cfg.name);
      const mps = rs.map((r) => r.messagesPerSecond);
      return {
        generator,
        server: s.name,
        config: cfg.name,
        messagesPerSecond: { median: median(mps), spread: spread(mps), runs: mps },
        serverCpuUsPerMessage: median(rs.map((r) => r.serverCpuUsPerMessage)),
        loadCpuUsPerMessage: median(rs.map((r) => r.loadCpuUsPerMessage)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
      };
    })),
  );
  // A server left out (--servers) reads as NaN in the ratios.
  const none = { messagesPerSecond: { median: NaN }, serverCpuUsPerMessage: NaN, loadCpuUsPerMessage: NaN };
  const get = (server: string, config: string, generator: Generator = generators[0]!) =>
    summary.find((x) => x.generator === generator && x.server === server && x.config === config) ?? none;
  const weft = get('weft selectors (epoll)', '100 x 1 KiB');
  const node = get('Node net', '100 x 1 KiB');
  const uv = get('uvloop', '100 x 1 KiB');
  const c = get('C epoll', '100 x 1 KiB');
  const ratios = {
    weftVsNodeNetMsgs: weft.messagesPerSecond.median / node.messagesPerSecond.median,
    weftVsUvloopMsgs: weft.messagesPerSecond.median / uv.messagesPerSecond.median,
    weftVsCServerCpuPerMsg: weft.serverCpuUsPerMessage / c.serverCpuUsPerMessage,
    loadVsNodeNetServerCpuPerMsg: node.loadCpuUsPerMessage / node.serverCpuUsPerMessage,
  };
  // io_uring against weft's own epoll server, at both loads the targets name.
  const uringRatios = uring.ok && servers.some((s) => s.name === 'weft io_uring')
    ? ['100 x 1 KiB', '1000 x 64 B'].flatMap((config) => generators.map((generator) => {
      const u = get('weft io_uring', config, generator);
      const e = get('weft selectors (epoll)', config, generator);
      // Also the median of the ratios within each repetition (the two servers ran seconds apart there).
      const pairs = [...Array(REPEATS).keys()].flatMap((rep) => {
        const one = (server: string) => runs.find((r) => r.rep === rep && r.generator === generator && r.config === config && r.server === server);
        const ur = one('weft io_uring');
        const er = one('weft selectors (epoll)');
        return ur && er ? [[ur.messagesPerSecond / er.messagesPerSecond, ur.serverCpuUsPerMessage / er.serverCpuUsPerMessage]] : [];
      });
      return {
        config,
        generator,
        msgs: u.messagesPerSecond.median / e.messagesPerSecond.median,
        cpu: u.serverCpuUsPerMessage / e.serverCpuUsPerMessage,
        pairedMsgs: median(pairs.map((p) => p[0]!)),
        pairedCpu: median(pairs.map((p) => p[1]!)),
      };
    }))
    : [];

  const lines: string[] = [];
  const where = unpinned ? 'server and generator unpinned' : `${serverBound ? 'server on core 0 beside a CPU-bound loop' : 'server on core 0'}, generator on core 1`;
  lines.push(`### Echo servers (closed loop, depth 1; ${where}; median of ${REPEATS} × ${DURATION} s, [min–max])`, '');
  lines.push('| load | generator | server | messages/s | [min–max] | server CPU µs/msg | load CPU µs/msg | p50 µs | p99 µs | errors |');
  lines.push('|---|---|---|---:|---|---:|---:|---:|---:|---:|');
  for (const x of summary) {
    lines.push(`| ${x.config} | ${x.generator} | ${x.server} | ${f0(x.messagesPerSecond.median)} | ${f0(x.messagesPerSecond.spread[0])}–${f0(x.messagesPerSecond.spread[1])} | ${f2(x.serverCpuUsPerMessage)} | ${f2(x.loadCpuUsPerMessage)} | ${f0(x.p50)} | ${f0(x.p99)} | ${x.errors} |`);
  }
  lines.push('', `### Targets at 100 × 1 KiB (generator: ${generators[0]})`, '');
  lines.push('| target | goal | measured |', '|---|---|---:|');
  // A ratio whose anchor was left out with --servers reads "not run", not NaN.
  const times = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'not run');
  lines.push(`| weft vs Node net, messages/s | ≥ 1.2× | ${times(ratios.weftVsNodeNetMsgs)} |`);
  lines.push(`| weft vs uvloop, messages/s | ≥ 1.0× | ${times(ratios.weftVsUvloopMsgs)} |`);
  lines.push(`| weft server CPU/msg vs C epoll | ≤ 1.25× | ${times(ratios.weftVsCServerCpuPerMsg)} |`);
  lines.push(`| weft load CPU/msg vs Node net server CPU/msg | ≤ 0.8× | ${times(ratios.loadVsNodeNetServerCpuPerMsg)} |`);
  for (const r of uringRatios) {
    lines.push(`| io_uring vs epoll (weft), messages/s, ${r.config}, ${r.generator} generator | ≥ 1.15× | ${r.msgs.toFixed(2)}× (paired ${r.pairedMsgs.toFixed(2)}×) |`);
    lines.push(`| io_uring vs epoll (weft), server CPU/msg, ${r.config}, ${r.generator} generator | ≤ 0.85× | ${r.cpu.toFixed(2)}× (paired ${r.pairedCpu.toFixed(2)}×) |`);
  }
  if (!echoOnly) lines.push('', `### One wait, timeout 0, 1 active + N idle connections: µs per call (median of ${REPEATS}, [min–max])`, '');
  if (!echoOnly) lines.push('| idle connections | select | poll | epoll |', '|---:|---:|---:|---:|');
  const cell = (s: WaitCost['poll'] | null) => (s ? `${f2(s.median)} [${f2(s.min)}–${f2(s.max)}]` : 'n/a (fd ≥ 1024)');
  for (const w of waits) lines.push(`| ${w.idle.toLocaleString('en-US')} | ${cell(w.select)} | ${cell(w.poll)} | ${cell(w.epoll)} |`);
  console.log(lines.join('\n'));
  if (echoOnly) {
    // A partial run (some servers, no wait cost) must not overwrite the full run's files.
    console.log(`\n${JSON.stringify({ summary, uringRatios })}`);
    return;
  }

  mkdirSync(root + 'bench/results', { recursive: true });
  writeFileSync(
    root + 'bench/results/io.json',
    JSON.stringify({ date: new Date().toISOString(), node: process.version, repeats: REPEATS, duration: DURATION, warmup: WARMUP, summary, ratios, uringRatios, waits, runs }, null, 2) + '\n',
  );
  mkdirSync(root + 'docs', { recursive: true });
  writeFileSync(root + 'docs/io-wait-cost.svg', plot(waits) + '\n');
  console.log(`\n(bench/results/io.json and docs/io-wait-cost.svg written; ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

await main();
