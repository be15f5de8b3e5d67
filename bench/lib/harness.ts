// `npm run bench -- --load idle|hogs|quota|onecore|all [--rows ...] [--runs N] [--quick] [--markdown]`:
// the transport, Lock, Manager, Pool and first-call points (bench/lib/points.ts)
// under each load (bench/lib/conditions.ts). Within a condition every run takes
// each point's contenders in turn — weft's and Python's interleaved, the order
// reversed every other run so a slow phase of the machine hits both — and each
// measurement is a fresh process. Medians with min–max and weft / Python per
// figure; one table per condition on stdout and JSON in bench/results/load-<condition>.json.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONDITIONS, onExit, startCondition, type Condition, type ConditionName } from './conditions.js';
import { NODE_BOOT, ROWS, WITHOUT_EXTRA_CA, points, type Contender, type Point, type Row } from './points.js';
import { renderCondition, type ConditionResult, type Figure } from './report.js';
import { summarize } from './stats.js';

const USAGE = 'npm run bench -- [--load idle|hogs|quota|onecore|all (comma-separated)] [--rows transport,lock,manager,pool,first] [--runs N] [--quick] [--markdown]';

/** A wrong command line: printed as one line, without a stack. */
class UsageError extends Error {}

function pick<T extends string>(what: string, given: string, all: readonly T[]): T[] {
  const names = given === 'all' ? [...all] : given.split(',').map((s) => s.trim());
  for (const n of names) if (!all.includes(n as T)) throw new UsageError(`--${what} ${n}: unknown; choose from ${all.join(', ')} (or all). Usage: ${USAGE}`);
  return names as T[];
}

/** One measurement in a fresh process group under `cond`: its JSON line, read by the contender. */
function measure(cond: Condition, c: Contender, timeoutS: number): Promise<Record<string, number>> {
  const argv = cond.wrap(c.argv);
  return new Promise((resolve, reject) => {
    // its own process group, so that it and every process it started end together
    let env: NodeJS.ProcessEnv | undefined;
    if (c.unsetEnv) {
      env = { ...process.env };
      for (const k of c.unsetEnv) delete env[k];
    }
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch { /* already gone */ }
    };
    const unregister = onExit(killGroup);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => {
      killGroup();
      err += `\n(killed after ${timeoutS} s)`;
    }, timeoutS * 1000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(); // a child left behind by a failed run must not load the next one
      unregister();
      if (code !== 0) return reject(new Error(`${c.label} exited with ${code ?? signal}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      try {
        resolve(c.read(JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>));
      } catch (e) {
        reject(new Error(`${c.label}: ${(e as Error).message} in ${JSON.stringify(out.slice(-200))}`));
      }
    });
  });
}

async function runCondition(name: ConditionName, selected: Point[], runs: number, quick: boolean): Promise<ConditionResult | null> {
  const loadBefore = loadavg()[0]!;
  const cond = startCondition(name);
  if ('skip' in cond) {
    console.log(cond.skip);
    return null;
  }
  const samples = new Map<string, Record<string, number>[]>();
  const errors: string[] = [];
  const key = (p: Point, c: Contender) => `${p.name}\u0000${c.label}`;
  const started = Date.now();
  try {
    for (let r = 0; r < runs; r++) {
      for (const p of selected) {
        const order = [...p.weft, p.python];
        if (r % 2) order.reverse();
        for (const c of order) {
          try {
            const m = await measure(cond, c, quick ? 120 : 300);
            samples.set(key(p, c), [...(samples.get(key(p, c)) ?? []), m]);
            console.error(`  [${name} ${r + 1}/${runs}] ${p.name} | ${c.label}: ${Object.entries(m).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join(', ')}`);
          } catch (e) {
            errors.push((e as Error).message);
            console.error(`  [${name} ${r + 1}/${runs}] ${p.name} | ${c.label}: FAILED ${(e as Error).message}`);
          }
        }
      }
    }
  } finally {
    cond.stop();
  }
  const figure = (p: Point, c: Contender, metric: string): Figure | null => {
    const xs = (samples.get(key(p, c)) ?? []).map((s) => s[metric]).filter((x): x is number => Number.isFinite(x));
    return xs.length ? summarize(xs) : null;
  };
  const rows = selected.flatMap((p) =>
    p.metrics.flatMap((m) => {
      const py = figure(p, p.python, m.key);
      return p.weft.map((c) => {
        const w = figure(p, c, m.key);
        return { row: p.row, point: p.name, metric: m, contender: c.label, weft: w, python: py, ratio: w && py ? w.median / py.median : null };
      });
    }),
  );
  // Node's own boot beside weft's process start: what weft adds per start.
  const burst = selected.find((p) => p.weft.some((c) => c.label === NODE_BOOT));
  let weftSharePerStartMs: number | null = null;
  let extraCaMsPerStart: number | null = null;
  if (burst) {
    const cpu = (label: string) => {
      const c = burst.weft.find((w) => w.label === label);
      return c ? figure(burst, c, 'cpuMsPerStart') : null;
    };
    const proc = cpu('weft process');
    const boot = cpu(NODE_BOOT);
    if (proc && boot) weftSharePerStartMs = proc.median - boot.median;
    const bare = cpu(`${NODE_BOOT}, ${WITHOUT_EXTRA_CA}`);
    if (boot && bare) extraCaMsPerStart = boot.median - bare.median;
  }
  return {
    condition: name,
    describe: cond.describe,
    date: new Date(started).toISOString(),
    minutes: (Date.now() - started) / 60000,
    node: process.version,
    python: pythonVersion(),
    cores: availableParallelism(),
    loadAverage: { before: loadBefore, after: loadavg()[0]! },
    runs,
    quick,
    rows,
    weftSharePerStartMs,
    extraCaMsPerStart,
    errors,
  };
}

function pythonVersion(): string {
  try {
    return execFileSync('python3', ['--version'], { encoding: 'utf8' }).trim();
  } catch (e) {
    return `python3 not runnable (${(e as Error).message.split('\n')[0]})`;
  }
}

/** Entry point of the load benchmarks; `argv` as after `npm run bench --`. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await runConditions(argv);
  } catch (e) {
    if (!(e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) throw e;
    console.error((e as Error).message);
    return 2;
  }
}

async function runConditions(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      load: { type: 'string', default: 'idle' },
      rows: { type: 'string', default: ROWS.join(',') },
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const conditions = pick('load', values.load!, CONDITIONS);
  const rows = pick('rows', values.rows!, ROWS) as Row[];
  const runs = Number(values.runs ?? (values.quick ? 2 : 5));
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs ${values.runs}: give a whole number >= 1`);
  const selected = points(values.quick!).filter((p) => rows.includes(p.row));
  const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  let failed = 0;
  const command = `npm run bench -- ${argv.join(' ')}`.trim();
  for (const name of conditions) {
    console.error(`\n${name}: ${runs} runs of ${selected.length} points`);
    const result = await runCondition(name, selected, runs, values.quick!);
    if (!result) continue;
    failed += result.errors.length;
    writeFileSync(`${dir}load-${name}.json`, JSON.stringify({ command, ...result }, null, 2) + '\n');
    console.log(renderCondition(result, command, values.markdown!));
  }
  return failed ? 1 : 0;
}
