/**
 * `weft bench servers`: every `weft serve` model through the five scenarios
 * (src/servers/bench.ts), as a table, JSON or an HTML report
 * (src/servers/report.ts).
 * @module
 */
import { accessSync, constants, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MODELS, SCENARIOS, runBench } from '../servers/bench.js';
import { formatMicros, formatTable, renderHtml } from '../servers/report.js';
import { CommandError, type Command } from './commands.js';

const help = `Usage: weft bench servers [--models LIST] [--scenarios LIST] [--quick] [--out FILE] [--json]

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
  --quick              1 s measured per scenario after 0.25 s of warm-up (default 5 s after 1 s);
                       every model and scenario in under 3 minutes on two otherwise idle cores
  --duration SECONDS   seconds measured per scenario
  --out FILE           also write the report as one self-contained HTML file
  --json               print the results as JSON instead of the table

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
        json: { type: 'boolean', default: false },
      },
    });
    const duration = values.duration === undefined ? undefined : Number(values.duration);
    if (duration !== undefined && !(duration > 0)) throw new RangeError(`--duration must be a positive number of seconds, got ${values.duration}`);
    const out = values.out === undefined ? undefined : resolve(values.out);
    if (out !== undefined) {
      // say so now rather than after minutes of measuring
      try {
        accessSync(dirname(out), constants.W_OK);
      } catch (err) {
        throw new CommandError(`cannot write ${out}`, 'is --out in a directory that exists and is writable?', { cause: err });
      }
    }
    const report = await runBench({
      models: list('models', values.models, MODELS),
      scenarios: list('scenarios', values.scenarios, SCENARIOS.map((s) => s.name)),
      quick: values.quick,
      duration,
      onResult(r) {
        const s = SCENARIOS.find((x) => x.name === r.scenario)!;
        const figure =
          r.status !== 'ok'
            ? `${r.status}: ${r.reason}`
            : s.churn
              ? `${Math.round(r.connectionsPerSecond ?? 0).toLocaleString('en-US')} connections/s`
              : `${Math.round(r.messagesPerSecond).toLocaleString('en-US')} msg/s, p99 ${formatMicros(r.latencyUs.p99)}`;
        console.error(`  ${r.model.padEnd(8)} ${s.title.padEnd(38)} ${figure}`);
      },
    });
    console.log(values.json ? JSON.stringify(report) : formatTable(report));
    if (out !== undefined) {
      writeFileSync(out, renderHtml(report));
      console.error(`weft bench servers: the report is in ${out}`);
    }
    return report.results.some((r) => r.status === 'ok') ? 0 : 1;
  },
};
