// Tables of the load benchmarks (bench/lib/harness.ts): aligned text for a
// terminal, or Markdown ready for docs/PERFORMANCE.md (--markdown).
import { WITHOUT_EXTRA_CA, type Metric } from './points.js';
import type { Summary } from './stats.js';

export type Figure = Summary;

export interface ResultRow {
  row: string;
  point: string;
  metric: Metric;
  contender: string;
  weft: Figure | null;
  python: Figure | null;
  /** weft's median over Python's, in the metric's own unit (above 1 is better for '/s', below 1 for times). */
  ratio: number | null;
}

export interface ConditionResult {
  condition: string;
  describe: string;
  date: string;
  minutes: number;
  node: string;
  python: string;
  cores: number;
  loadAverage: { before: number; after: number };
  runs: number;
  quick: boolean;
  rows: ResultRow[];
  /** CPU per process start of weft's burst minus that of `node -e 0`: weft's share. */
  weftSharePerStartMs: number | null;
  /** CPU per start of `node -e 0` with NODE_EXTRA_CA_CERTS minus without it: Node's own cost of that variable; null where unset. */
  extraCaMsPerStart?: number | null;
  errors: string[];
}

function num(x: number, unit: string): string {
  if (unit === 's') return x.toFixed(2);
  if (!unit.endsWith('/s')) return x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(x >= 10 ? 1 : 2);
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 10_000) return `${(x / 1000).toFixed(x >= 100_000 ? 0 : 1)}k`;
  if (x >= 100) return x.toFixed(0);
  return x.toFixed(x >= 10 ? 1 : 2);
}

function cell(f: Figure | null, unit: string): string {
  if (!f) return '—';
  const u = unit.startsWith('/') ? unit : ` ${unit}`;
  return f.runs.length > 1 ? `${num(f.median, unit)}${u} (${num(f.min, unit)}–${num(f.max, unit)})` : `${num(f.median, unit)}${u}`;
}

function ratio(r: ResultRow): string {
  if (r.ratio === null) return '—';
  return `${r.ratio.toFixed(2)}x`;
}

/** One condition's table and notes, in Markdown or as aligned text. */
export function renderCondition(res: ConditionResult, command: string, markdown: boolean): string {
  const header = ['point', 'figure', 'contender', 'weft median (min–max)', 'Python median (min–max)', 'weft / Python'];
  const body: string[][] = [];
  let last = '';
  for (const r of res.rows) {
    const better = r.metric.better === 'higher' ? 'higher is better' : 'lower is better';
    body.push([
      r.point === last ? '' : r.point,
      `${r.metric.title} (${r.metric.unit}, ${better})`,
      r.contender,
      cell(r.weft, r.metric.unit),
      cell(r.python, r.metric.unit),
      ratio(r),
    ]);
    last = r.point;
  }
  const busy = res.loadAverage.before >= 0.5 ? ' — the machine was busy with other work before this condition started' : '';
  const notes = [
    `${res.runs} run${res.runs > 1 ? 's' : ''}${res.quick ? ' (--quick sizes)' : ''}, ${res.date.slice(0, 16).replace('T', ' ')} UTC, ` +
      `${res.minutes.toFixed(1)} min; ${res.cores} cores, Node ${res.node}, ${res.python}; ` +
      `1-minute load average ${res.loadAverage.before.toFixed(1)} before, ${res.loadAverage.after.toFixed(1)} after${busy}.`,
  ];
  if (res.weftSharePerStartMs !== null) {
    notes.push(`Burst, CPU per process start: weft's share beyond Node's own boot (weft process minus \`node -e 0\`, medians): ${res.weftSharePerStartMs.toFixed(1)} ms.`);
  }
  if (res.extraCaMsPerStart != null) {
    notes.push(
      `This environment sets NODE_EXTRA_CA_CERTS, which Node ${res.node.replace(/^v/, '').split('.')[0]} reads at every start (Node 22+ only when TLS first needs it): ` +
        `${res.extraCaMsPerStart.toFixed(1)} ms of CPU per \`node -e 0\`; the rows marked "${WITHOUT_EXTRA_CA}" ran without it.`,
    );
  }
  for (const e of res.errors) notes.push(`FAILED: ${e}`);
  const title = `${res.condition}: ${res.describe}`;
  if (markdown) {
    const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
    return [
      `### ${title}`,
      '',
      `\`${command}\` — ${notes[0]}`,
      '',
      line(header),
      line(header.map(() => '---')),
      ...body.map(line),
      '',
      ...notes.slice(1).map((n) => `${n}\n`),
    ].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return ['', `== ${title}`, line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), ...notes].join('\n');
}
