/**
 * `weft bench servers`: every `weft serve` model through the five scenarios
 * (src/servers/bench.ts), as a table, JSON or an HTML report
 * (src/servers/report.ts).
 * @module
 */
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MODELS, QUICK_IDLE, SCENARIOS, quickVariant, runBench, type BenchReport } from '../servers/bench.js';
import { charts, formatMicros, formatTable, renderHtml } from '../servers/report.js';
import { CommandError, type Command } from './commands.js';

const help = `Usage: weft bench servers [--models LIST] [--scenarios LIST] [--quick] [--out FILE] [--svg-dir DIR] [--json]
       weft bench servers --from RUN.json [--out FILE] [--svg-dir DIR]

Starts each server model of \`weft serve\` in its own process, one at a time,
and drives it over loopback with weft load's engine through these scenarios:

${SCENARIOS.map((s) => `  ${s.name.padEnd(11)} ${s.title}`).join('\n')}

It reports messages/s, latency p50/p99/p99.9 (HDR), the server's CPU per
message and its memory (RSS, and PSS growth per connection) from /proc over all
its processes, connections/s (churn) and errors. A model that cannot take a
scenario (select past fd 1024, a process or thread per connection past the
memory at hand, a server that refuses to start or dies) gets a row saying why.

  --models LIST        comma-separated, from ${MODELS.join(', ')} (default: all)
  --scenarios LIST     comma-separated scenario names (default: all)
  --quick              1 s measured per scenario after 0.25 s of warm-up (default 5 s after 1 s),
                       ${QUICK_IDLE.toLocaleString('en-US')} idle connections instead of 10,000: every model and
                       scenario in under 3 minutes on two cores
  --duration SECONDS   seconds measured per scenario
  --out FILE           also write the report as one self-contained HTML file
  --svg-dir DIR        also write each chart of the report as an SVG file there
                       (throughput-rate.svg, throughput-latency.svg, ..., memory.svg)
  --json               print the results as JSON instead of the table
  --from RUN.json[,...] measure nothing: the table, --out and --svg-dir from
                       earlier runs' --json output (several: their scenarios side by side,
                       each from the last run that measured it)

Progress goes to stderr, one line per scenario. Exit status: 0 when at least one
scenario was measured; 1 when none could be; 2 on bad usage.`;

/** A comma-separated option, each item checked against `known`. */
function list(name: string, text: string | undefined, known: readonly string[]): string[] | undefined {
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = items.filter((i) => !known.includes(i));
  if (unknown.length || items.length === 0) throw new RangeError(`--${name} takes a comma-separated list of ${known.join(', ')}; got '${text}'`);
  return [...new Set(items)];
}

/**
 * A CommandError now, rather than after minutes of measuring, when `target`
 * cannot be written in `dir` (`create`: the directory is made first).
 */
function writable(target: string, dir: string, option: string, create = false): void {
  try {
    if (create) mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new CommandError(`cannot write ${target}`, `is ${option} in a directory that exists and is writable?`, { cause: err });
  }
}

/** An earlier run's `--json` output. */
function readReport(file: string): BenchReport {
  let report: Partial<BenchReport>;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as Partial<BenchReport>;
  } catch (err) {
    throw new CommandError(`cannot read a run from ${file}: ${(err as Error).message}`, '--from takes what `weft bench servers --json` printed', { cause: err });
  }
  if (!Array.isArray(report.results) || !Array.isArray(report.scenarios) || !Array.isArray(report.models)) {
    throw new CommandError(`${file} is not the output of weft bench servers --json (no models, scenarios and results)`, '--from takes what `weft bench servers --json` printed');
  }
  return report as BenchReport;
}

/**
 * Runs as one report (a full run taken in parts, or a part measured again):
 * the first run's header, every model in order of appearance, the scenarios
 * in the usual order, each from the last run that measured it.
 */
export function mergeReports(runs: readonly BenchReport[]): BenchReport {
  const latest = new Map<string, BenchReport>();
  for (const run of runs) for (const s of run.scenarios) latest.set(s.name, run);
  const order = (name: string): number => SCENARIOS.findIndex((s) => s.name === name);
  const names = [...latest.keys()].sort((x, y) => order(x) - order(y));
  return {
    ...runs[0]!,
    models: [...new Set(runs.flatMap((r) => r.models))],
    scenarios: names.map((n) => latest.get(n)!.scenarios.find((s) => s.name === n)!),
    results: names.flatMap((n) => latest.get(n)!.results.filter((r) => r.scenario === n)),
  };
}

/** The `weft bench` command; `servers` is its one subcommand. */
export const command: Command = {
  summary: 'benchmark weft serve\'s server models side by side (weft bench servers)',
  help,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== 'servers') throw new RangeError(sub === undefined ? 'which benchmark? the one there is: weft bench servers' : `unknown benchmark '${sub}'; the one there is: servers`);
    const { values } = parseArgs({
      args: rest,
      options: {
        models: { type: 'string' },
        scenarios: { type: 'string' },
        quick: { type: 'boolean', default: false },
        duration: { type: 'string' },
        out: { type: 'string' },
        'svg-dir': { type: 'string' },
        from: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const duration = values.duration === undefined ? undefined : Number(values.duration);
    if (duration !== undefined && !(duration > 0)) throw new RangeError(`--duration must be a positive number of seconds, got ${values.duration}`);
    const out = values.out === undefined ? undefined : resolve(values.out);
    const svgDir = values['svg-dir'] === undefined ? undefined : resolve(values['svg-dir']);
    // say so now rather than after minutes of measuring
    if (out !== undefined) writable(out, dirname(out), '--out');
    if (svgDir !== undefined) writable(`${svgDir}/`, svgDir, '--svg-dir', true);
    const measuring = (['models', 'scenarios', 'quick', 'duration'] as const).filter((o) => rest.some((a) => a === `--${o}` || a.startsWith(`--${o}=`)));
    if (values.from !== undefined && measuring.length) {
      throw new RangeError(`--from measures nothing, so ${measuring.map((o) => `--${o}`).join(', ')} cannot apply; run without --from to measure`);
    }
    const t0 = performance.now();
    const report =
      values.from !== undefined
        ? mergeReports(values.from.split(',').map(readReport))
        : await runBench({
            models: list('models', values.models, MODELS),
            scenarios: list('scenarios', values.scenarios, SCENARIOS.map((s) => s.name)),
            quick: values.quick,
            duration,
            onResult(r) {
              const known = SCENARIOS.find((x) => x.name === r.scenario)!;
              const s = values.quick ? quickVariant(known) : known;
              const figure =
                r.status !== 'ok'
                  ? `${r.status}: ${r.reason}`
                  : s.churn
                    ? `${Math.round(r.connectionsPerSecond ?? 0).toLocaleString('en-US')} connections/s`
                    : `${Math.round(r.messagesPerSecond).toLocaleString('en-US')} msg/s, p99 ${formatMicros(r.latencyUs.p99)}`;
              const elapsed = ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
              console.error(`${elapsed} s  ${r.model.padEnd(8)} ${s.title.padEnd(38)} ${figure}`);
            },
          });
    console.log(values.json ? JSON.stringify(report) : formatTable(report));
    if (out !== undefined) {
      writeFileSync(out, renderHtml(report));
      console.error(`weft bench servers: the report is in ${out}`);
    }
    if (svgDir !== undefined) {
      const written = charts(report);
      for (const c of written) writeFileSync(join(svgDir, `${c.name}.svg`), `${c.svg}\n`);
      console.error(`weft bench servers: ${written.length} charts are in ${svgDir}`);
    }
    return report.results.some((r) => r.status === 'ok') ? 0 : 1;
  },
};
