/**
 * What `weft bench servers` prints: a plain-text table for the terminal and
 * one self-contained HTML page (inline SVG, no script, nothing fetched) with a
 * chart per scenario, a latency CDF per scenario, memory per connection on a
 * log scale, the table and a paragraph per model written from the numbers.
 * No Python twin. No charting dependency: a horizontal bar chart and a
 * log-scale line chart are a few dozen lines of SVG each. Like the CLI, no
 * part of weft's API (its example is `weft bench servers --help`).
 * @module
 */
import type { BenchReport, Scenario, ScenarioResult } from './bench.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

/** A latency in µs as people read it: 37 µs, 2.7 ms, 1.2 s. */
export function formatMicros(us: number): string {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 1 : 0)} ms`;
  return `${(us / 1_000_000).toFixed(1)} s`;
}

/** CPU time per message: tenths of a µs where that is the scale, else as a latency. */
function formatCpu(us: number): string {
  return us < 100 ? `${us.toFixed(1)} µs` : formatMicros(us);
}

/** Bytes in binary units: 812 B, 3.5 KiB, 41 MiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 || v >= 100 ? 0 : 1).replace(/\.0$/, '')} ${units[i]}`;
}

/** The scenario's headline rate: connections/s for churn, messages/s otherwise. */
function rate(s: Scenario, r: ScenarioResult): number {
  return s.churn ? (r.connectionsPerSecond ?? 0) : r.messagesPerSecond;
}

function resultOf(report: BenchReport, model: string, scenario: string): ScenarioResult | undefined {
  return report.results.find((r) => r.model === model && r.scenario === scenario);
}

const COLUMNS = ['model', 'msgs/s', 'p50', 'p99', 'p99.9', 'server CPU/msg', 'server RSS', 'mem/conn', 'conn/s', 'errors'] as const;

/** One row of cells for the table (text and HTML alike), or the reason a model has none. */
function cells(s: Scenario, r: ScenarioResult): string[] | string {
  if (r.status !== 'ok') return `${r.status}: ${r.reason ?? ''}`;
  return [
    r.model,
    int(r.messagesPerSecond),
    formatMicros(r.latencyUs.p50),
    formatMicros(r.latencyUs.p99),
    formatMicros(r.latencyUs.p999),
    r.serverCpuUsPerMessage === null ? '—' : formatCpu(r.serverCpuUsPerMessage),
    formatBytes(r.serverRssBytes),
    s.churn ? '—' : formatBytes(r.memoryPerConnectionBytes),
    r.connectionsPerSecond === null ? '—' : int(r.connectionsPerSecond),
    r.errors ? `${int(r.errors)} (${Object.keys(r.errorKinds).join(', ')})` : '0',
  ];
}

/**
 * The terminal's table: a block per scenario, a row per model.
 */
export function formatTable(report: BenchReport): string {
  const out: string[] = [];
  for (const s of report.scenarios) {
    out.push(s.title);
    const rows = report.models.map((m) => resultOf(report, m, s.name)).filter((r): r is ScenarioResult => r !== undefined);
    const grid = rows.map((r) => cells(s, r));
    const widths = COLUMNS.map((c, i) => Math.max(c.length, ...grid.map((g) => (typeof g === 'string' ? 0 : g[i]!.length))));
    widths[0] = Math.max(widths[0]!, ...rows.map((r) => r.model.length));
    const line = (values: readonly string[]): string =>
      '  ' + values.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
    out.push(line(COLUMNS));
    rows.forEach((r, i) => {
      const g = grid[i]!;
      out.push(typeof g === 'string' ? `  ${r.model.padEnd(widths[0]!)}  ${g}` : line(g));
    });
    out.push('');
  }
  out.push(
    `weft ${report.weft}, Node ${report.node}, ${report.cpus} × ${report.cpuModel}; ${report.duration} s measured after ${report.warmup} s of warm-up per scenario.`,
    'Latencies from the load generator (HDR); server CPU and memory from /proc over every process of the server; mem/conn: its memory growth per open connection (per idle one in the idle scenario).',
  );
  return out.join('\n');
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** One colour per model, in report order (colour-blind-safe first). */
const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#d55e00', '#56b4e9', '#b8a400', '#444444', '#8c564b', '#17becf', '#7f7f7f'];

interface Bar {
  label: string;
  /** null: no bar, `note` instead. */
  value: number | null;
  text: string;
  color: string;
}

/** A horizontal bar chart; `log` puts the values (bytes) on a log scale, a grid line every power of 8. */
function barChart(title: string, bars: readonly Bar[], log = false): string {
  const width = 640;
  const left = 80;
  const right = 150;
  const row = 24;
  const top = 8;
  const height = top + bars.length * row + 24;
  const plot = width - left - right;
  const values = bars.map((b) => b.value).filter((v): v is number => v !== null && v > 0);
  const max = Math.max(1, ...values);
  let lo = 0;
  let hi = max;
  if (log) {
    lo = 8 ** Math.floor(Math.log(Math.min(max, ...values)) / Math.log(8));
    hi = 8 ** Math.ceil(Math.log(max) / Math.log(8));
    if (hi <= lo) hi = lo * 8;
  }
  const x = (v: number): number => (log ? (Math.log10(v / lo) / Math.log10(hi / lo)) * plot : (v / hi) * plot);
  const parts: string[] = [];
  const axisY = top + bars.length * row + 4;
  if (log && values.length) {
    for (let d = lo; d <= hi * 1.0001; d *= 8) {
      const px = left + x(d);
      parts.push(`<line x1="${px.toFixed(1)}" y1="${top}" x2="${px.toFixed(1)}" y2="${axisY}" class="grid"/>`);
      parts.push(`<text x="${px.toFixed(1)}" y="${axisY + 14}" text-anchor="middle" class="tick">${escapeHtml(formatBytes(d))}</text>`);
    }
  }
  bars.forEach((b, i) => {
    const y = top + i * row;
    parts.push(`<text x="${left - 6}" y="${y + 16}" text-anchor="end" class="label">${escapeHtml(b.label)}</text>`);
    if (b.value !== null && b.value > 0) {
      const w = Math.max(1, x(b.value));
      parts.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${row - 8}" fill="${b.color}"/>`);
      parts.push(`<text x="${(left + w + 5).toFixed(1)}" y="${y + 16}" class="value">${escapeHtml(b.text)}</text>`);
    } else {
      parts.push(`<text x="${left + 5}" y="${y + 16}" class="note">${escapeHtml(b.text)}</text>`);
    }
  });
  parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${axisY}" class="axis"/>`);
  return svg(title, width, height, parts);
}

interface Series {
  label: string;
  color: string;
  /** [percentile, µs] */
  points: readonly [number, number][];
}

/** The CDF's y axis ends at 99.99% (four nines) and draws 100% (the maximum) there. */
const TOP_NINES = 4;

/**
 * Latency CDFs: latency on a log x axis, the share of messages at or below it
 * on y, scaled as HDR histogram plots are (by the number of nines: 90%, 99%,
 * 99.9% equally apart), so that the tail the percentiles report is visible.
 */
function cdfChart(title: string, series: readonly Series[]): string {
  const width = 640;
  const height = 300;
  const left = 48;
  const right = 110;
  const top = 10;
  const bottom = 36;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const all = series.flatMap((s) => s.points.map(([, us]) => us)).filter((us) => us > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all, 10)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, lo * 10)));
  const x = (us: number): number => left + (Math.log10(Math.max(us, lo) / lo) / Math.log10(hi / lo)) * plotW;
  const nines = (p: number): number => Math.min(TOP_NINES, -Math.log10(Math.max(1 - p / 100, 10 ** -TOP_NINES)));
  const y = (p: number): number => top + plotH - (nines(p) / TOP_NINES) * plotH;
  const parts: string[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    parts.push(`<line x1="${x(d).toFixed(1)}" y1="${top}" x2="${x(d).toFixed(1)}" y2="${top + plotH}" class="grid"/>`);
    parts.push(`<text x="${x(d).toFixed(1)}" y="${top + plotH + 14}" text-anchor="middle" class="tick">${escapeHtml(formatMicros(d))}</text>`);
  }
  for (const p of [0, 90, 99, 99.9, 99.99]) {
    parts.push(`<line x1="${left}" y1="${y(p).toFixed(1)}" x2="${left + plotW}" y2="${y(p).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${left - 4}" y="${(y(p) + 4).toFixed(1)}" text-anchor="end" class="tick">${p}%</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 4}" text-anchor="middle" class="tick">latency (log scale)</text>`);
  series.forEach((s, i) => {
    const pts = s.points.map(([p, us]) => `${x(us).toFixed(1)},${y(p).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<rect x="${left + plotW + 12}" y="${top + i * 18 + 2}" width="12" height="4" fill="${s.color}"/>`);
    parts.push(`<text x="${left + plotW + 28}" y="${top + i * 18 + 8}" class="label">${escapeHtml(s.label)}</text>`);
  });
  return svg(title, width, height, parts);
}

/**
 * The charts' own styles, inside each SVG: a chart saved as a file of its own
 * (`--svg-dir`) looks as it does in the page.
 */
const SVG_STYLE =
  '.label,.value{font:12px system-ui,sans-serif;fill:#222}.note{font:italic 12px system-ui,sans-serif;fill:#888}' +
  '.tick{font:11px system-ui,sans-serif;fill:#666}.axis{stroke:#888}.grid{stroke:#e0e0e0}';

function svg(title: string, width: number, height: number, parts: string[]): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">` +
    `<title>${escapeHtml(title)}</title><style>${SVG_STYLE}</style>` +
    `<rect width="${width}" height="${height}" fill="#fafafa"/>${parts.join('')}</svg>`
  );
}

/** One chart of the report: `name` is its file name without `.svg`. */
export interface Chart {
  name: string;
  title: string;
  svg: string;
}

/** The charts of one scenario: its rates, and its latency CDF when some model completed messages. */
function scenarioCharts(report: BenchReport, s: Scenario, color: Map<string, string>): Chart[] {
  const bars: Bar[] = report.models.map((m) => {
    const r = resultOf(report, m, s.name);
    const ok = r?.status === 'ok';
    return { label: m, value: ok ? rate(s, r) : null, text: ok ? `${int(rate(s, r))}/s` : r ? `${r.status}: ${r.reason}`.slice(0, 80) : 'not run', color: color.get(m)! };
  });
  const rateTitle = `${s.title}: ${s.churn ? 'connections' : 'messages'} per second`;
  const out: Chart[] = [{ name: `${s.name}-rate`, title: rateTitle, svg: barChart(rateTitle, bars) }];
  const series: Series[] = report.models
    .map((m) => ({ label: m, color: color.get(m)!, points: resultOf(report, m, s.name)?.latencyCdfUs ?? [] }))
    .filter((x) => x.points.length > 0);
  const cdfTitle = `${s.title}: latency CDF`;
  if (series.length) out.push({ name: `${s.name}-latency`, title: cdfTitle, svg: cdfChart(cdfTitle, series) });
  return out;
}

/** Memory per connection for every model, on a log scale. */
function memoryChart(report: BenchReport, color: Map<string, string>): Chart {
  const title = 'Server memory per connection (log scale)';
  const bars = report.models.map((m) => {
    const mem = memoryFigure(report, m);
    return { label: m, value: mem?.bytes ?? null, text: mem ? `${formatBytes(mem.bytes)} (${mem.where.replace(/ connections?$/, '')})` : 'not measured', color: color.get(m)! };
  });
  return { name: 'memory', title, svg: barChart(title, bars, true) };
}

const colors = (report: BenchReport): Map<string, string> => new Map(report.models.map((m, i) => [m, PALETTE[i % PALETTE.length]!]));

/**
 * Every chart of the report, in the page's order, each a standalone SVG
 * document: what `weft bench servers --svg-dir` writes.
 */
export function charts(report: BenchReport): Chart[] {
  const color = colors(report);
  return [...report.scenarios.flatMap((s) => scenarioCharts(report, s, color)), memoryChart(report, color)];
}

/** Every chart title of the page, in order (the tests look for each in the rendered DOM). */
export function chartTitles(report: BenchReport): string[] {
  return charts(report).map((c) => c.title);
}

/** The memory figure the report shows for a model: per idle connection when measured, else at the most connections. */
function memoryFigure(report: BenchReport, model: string): { bytes: number; where: string } | null {
  const ok = report.scenarios
    .map((s) => ({ s, r: resultOf(report, model, s.name) }))
    .filter((x): x is { s: Scenario; r: ScenarioResult } => x.r?.status === 'ok' && !x.s.churn && x.r.memoryPerConnectionBytes > 0);
  const idle = ok.find((x) => x.s.idle > 0);
  const best = idle ?? ok.sort((a, b) => b.s.connections - a.s.connections)[0];
  if (!best) return null;
  const n = best.s.idle || best.s.connections;
  const where = `${int(n)} ${best.s.idle ? 'idle' : 'active'} connection${n === 1 ? '' : 's'}`;
  return { bytes: best.r.memoryPerConnectionBytes, where };
}

const ratio = (a: number, b: number): string => `${a / b >= 10 ? (a / b).toFixed(0) : a / b >= 0.1 ? (a / b).toFixed(1) : (a / b).toPrecision(1)}×`;

/**
 * A short paragraph on `model`, written from the numbers: where it led or
 * trailed, how it compares with Node's own net (`event`), what a connection
 * costs it and what it could not do.
 */
export function describeModel(report: BenchReport, model: string): string {
  const sentences: string[] = [];
  const baseline = 'event';
  for (const s of report.scenarios) {
    const r = resultOf(report, model, s.name);
    if (r?.status !== 'ok') continue;
    const peers = report.models.map((m) => resultOf(report, m, s.name)).filter((x): x is ScenarioResult => x?.status === 'ok');
    const ranked = [...peers].sort((a, b) => rate(s, b) - rate(s, a));
    const place = ranked.findIndex((x) => x.model === model) + 1;
    const unit = s.churn ? 'connections/s' : 'msg/s';
    let text = `${s.title}: ${int(rate(s, r))} ${unit}, p99 ${formatMicros(r.latencyUs.p99)}`;
    if (peers.length > 1) text += place === 1 ? `, the fastest of ${peers.length}` : place === peers.length ? `, the slowest of ${peers.length}` : `, ${ordinal(place)} of ${peers.length}`;
    const base = model !== baseline ? resultOf(report, baseline, s.name) : undefined;
    if (base?.status === 'ok' && rate(s, base) > 0) text += ` (${ratio(rate(s, r), rate(s, base))} Node's net)`;
    if (r.serverCpuUsPerMessage) text += `; the server spent ${formatCpu(r.serverCpuUsPerMessage)} of CPU per ${s.churn ? 'connection' : 'message'}`;
    if (r.errors) text += `; ${int(r.errors)} errors (${Object.keys(r.errorKinds).join(', ')})`;
    if (r.warmupSeconds > report.warmup + 0.5) text += `; every connection had its first reply only after ${r.warmupSeconds.toFixed(1)} s`;
    sentences.push(text + '.');
  }
  const mem = memoryFigure(report, model);
  if (mem) sentences.push(`Each connection cost the server about ${formatBytes(mem.bytes)} of memory (measured with ${mem.where}).`);
  for (const s of report.scenarios) {
    const r = resultOf(report, model, s.name);
    if (r && r.status !== 'ok') sentences.push(`${r.status === 'unable' ? 'Could not take' : 'Failed'} ${s.title}: ${r.reason}.`);
  }
  if (sentences.length === 0) sentences.push('No scenario was run.');
  return sentences.join(' ');
}

const ordinal = (n: number): string => `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`;

const STYLE = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #fff; margin: 2em auto; max-width: 1340px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta { color: #555; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-weight: 600; margin: 0.4em 0; }
svg { border: 1px solid #e4e4e4; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; } td.reason { text-align: left; color: #888; white-space: normal; }
`;

/**
 * The report as one HTML page that needs nothing else: no script, no font,
 * no image fetched.
 */
export function renderHtml(report: BenchReport): string {
  const color = colors(report);
  const figure = (c: Chart): string => `<figure><figcaption>${escapeHtml(c.title)}</figcaption>${c.svg}</figure>`;
  const body: string[] = [];
  body.push('<h1>weft bench servers</h1>');
  body.push(
    `<p class="meta">weft ${escapeHtml(report.weft)}, Node ${escapeHtml(report.node)}, ${report.cpus} × ${escapeHtml(report.cpuModel)}, ${escapeHtml(report.date)}. ` +
      `Each model ran in its own process, started afresh for each scenario and driven over loopback by weft load (closed loop, one message in flight per connection): ` +
      `${report.warmup} s of warm-up, then ${report.duration} s measured${report.quick ? ' (--quick)' : ''}. ` +
      'Server CPU and memory come from /proc, summed over every process of the server; memory is PSS (shared pages split between the processes sharing them).</p>',
  );
  for (const s of report.scenarios) {
    body.push(`<h2>${escapeHtml(s.title)}</h2><div class="charts">`);
    body.push(...scenarioCharts(report, s, color).map(figure));
    body.push('</div>');
    body.push(`<table><thead><tr>${COLUMNS.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>`);
    for (const m of report.models) {
      const r = resultOf(report, m, s.name);
      if (!r) continue;
      const c = cells(s, r);
      body.push(
        typeof c === 'string'
          ? `<tr data-model="${escapeHtml(m)}"><td>${escapeHtml(m)}</td><td class="reason" colspan="${COLUMNS.length - 1}">${escapeHtml(c)}</td></tr>`
          : `<tr data-model="${escapeHtml(m)}">${c.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`,
      );
    }
    body.push('</tbody></table>');
  }
  body.push('<h2>Memory</h2><div class="charts">');
  body.push(figure(memoryChart(report, color)));
  body.push('</div><h2>The models</h2>');
  for (const m of report.models) body.push(`<p><strong>${escapeHtml(m)}</strong>: ${escapeHtml(describeModel(report, m))}</p>`);
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>weft bench servers</title><style>${STYLE}</style></head><body>\n${body.join('\n')}\n</body></html>\n`;
}
