/**
 * The text of `weft top`'s frame (top.ts reads the snapshots): pure functions
 * of a snapshot, the one before it (for rates) and the terminal's width, so a
 * frame can be checked without a terminal. No Python twin.
 * @module
 */
import { basename } from 'node:path';
import type { ManagerSnapshot, PoolSnapshot, Program, QueueSnapshot, Snapshot } from '../inspect.js';

const SPARKS = '▁▂▃▄▅▆▇█';

/** The whole frame: a header line, then a section per kind; lines cut to `width`. Live, a last line says how to quit. */
export function render(snap: Snapshot, previous: Snapshot | null, width: number, refresh: number | null = null): string {
  const seconds = previous ? Math.max(1e-3, (Date.parse(snap.time) - Date.parse(previous.time)) / 1000) : 0;
  const lines = [header(snap, previous, seconds), ''];
  if (snap.pools.length === 0) lines.push('POOLS: none');
  for (const pool of snap.pools) {
    const before = previous?.pools.find((p) => p.id === pool.id) ?? null;
    lines.push(...poolLines(pool, before, seconds), '');
  }
  lines.push(...queueLines(snap.queues), '', ...managerLines(snap.managers));
  if (refresh !== null) lines.push('', `every ${refresh} s · q or Ctrl-C quits`);
  return lines.map((l) => cut(l, width)).join('\n');
}

/** The programs `weft top` found, one line each, with what each holds. */
export function renderList(programs: (Program & { snapshot: Snapshot | null })[]): string {
  const rows = programs.map(({ pid, snapshot: s }) => [
    String(pid),
    s ? duration(s.uptime) : '?',
    s ? String(s.pools.length) : '?',
    s ? String(s.queues.length) : '?',
    s ? String(s.managers.length) : '?',
    s ? s.argv.join(' ') : '(no answer)',
  ]);
  return [`${programs.length} inspectable program${programs.length === 1 ? '' : 's'} (weft top PID shows one):`, ...table(['PID', 'UP', 'POOLS', 'QUEUES', 'MANAGERS', 'COMMAND'], rows, [1, 1, 1, 1, 1, 0])].join('\n');
}

function header(s: Snapshot, previous: Snapshot | null, seconds: number): string {
  const cpuNow = s.cpu.user + s.cpu.system;
  // Between two frames: the share of a core used since the last; a single frame: the average since the start.
  const cpu = previous ? (cpuNow - previous.cpu.user - previous.cpu.system) / seconds : cpuNow / Math.max(1e-3, s.uptime);
  const parts = [
    `weft top: pid ${s.pid}`,
    [s.argv[0] ? basename(s.argv[0]) : '', ...s.argv.slice(1)].join(' '),
    `up ${duration(s.uptime)}`,
    `cpu ${percent(cpu)}${previous ? '' : ' avg'}`,
    `rss ${bytes(s.memory.rss)}`,
    `node ${s.node}`,
    s.time.slice(11, 19),
  ];
  return parts.join(' · ');
}

function poolLines(p: PoolSnapshot, before: PoolSnapshot | null, seconds: number): string[] {
  const st = p.stats;
  const alive = p.workers.filter((w) => w.state !== 'exited').length;
  const rate = before && seconds > 0 ? ` (${count(Math.round((st.completed - before.stats.completed) / seconds))}/s)` : '';
  const recent = st.queueLastMinute.slice(-30);
  return [
    `POOL ${p.id} ${p.name} · ${p.context} · ${p.state} · workers ${alive}/${p.maxWorkers} · queued ${count(st.queued)} · running ${count(st.running)}` +
      ` · done ${count(st.completed)}${rate} · failed ${count(st.failed)} · util ${percent(st.utilization)}`,
    `  wait p50 ${time(st.waitTime.p50)} p99 ${time(st.waitTime.p99)} · run p50 ${time(st.runTime.p50)} p99 ${time(st.runTime.p99)} max ${time(st.runTime.max)}` +
      ` · queue, last 30 s: ${sparkline(recent)} (peak ${count(Math.max(0, ...recent))})`,
    ...table(
      ['PID', 'NAME', 'STATE', 'HELD', 'DONE', 'BUSY', 'UTIL'],
      p.workers.map((w) => [String(w.pid), w.name, w.state, count(w.held), count(w.tasksDone), `${w.busySeconds.toFixed(2)} s`, percent(w.utilization)]),
      [1, 0, 0, 1, 1, 1, 1],
    ).map((l) => '  ' + l),
  ];
}

function queueLines(queues: QueueSnapshot[]): string[] {
  return section(
    'QUEUES',
    ['ID', 'KIND', 'QSIZE', 'PUTS', 'GETS', 'BUFFERED', 'MAXSIZE', 'CAPACITY', ''],
    queues.map((q) => [String(q.id), q.kind, count(q.qsize), count(q.puts), count(q.gets), count(q.buffered), q.maxsize ? count(q.maxsize) : '-', bytes(q.capacity), q.closed ? 'closed here' : '']),
    [1, 0, 1, 1, 1, 1, 1, 1, 0],
  );
}

function managerLines(managers: ManagerSnapshot[]): string[] {
  const n = (v: number | undefined) => (v === undefined ? '-' : count(v));
  return section(
    'MANAGERS',
    ['ID', 'ADDRESS', 'SERVER PID', 'CLIENTS', 'OBJECTS', 'REFS', 'CALLS', ''],
    managers.map((m) => {
      const s = m.stats;
      return [String(m.id), m.address, String(s?.pid ?? m.pid ?? '-'), n(s?.connections), n(s?.objects), n(s?.refs), n(s?.calls), m.error ?? (m.started ? 'started here' : 'connected')];
    }),
    [1, 0, 1, 1, 1, 1, 1, 0],
  );
}

/** A titled table indented under its title, or `TITLE: none` when it has no rows. */
function section(title: string, head: string[], rows: string[][], right: number[]): string[] {
  if (rows.length === 0) return [`${title}: none`];
  return [title, ...table(head, rows, right).map((l) => '  ' + l)];
}

/** Columns padded to their widest cell; `right[i]` 1 aligns column i to the right. */
function table(head: string[], rows: string[][], right: number[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

function sparkline(values: number[]): string {
  const max = Math.max(...values);
  if (!(max > 0)) return SPARKS[0]!.repeat(values.length);
  return values.map((v) => SPARKS[Math.min(SPARKS.length - 1, Math.round((v / max) * (SPARKS.length - 1)))]).join('');
}

const count = (n: number): string => n.toLocaleString('en-US');
const percent = (x: number): string => `${Math.round(x * 100)}%`;

function time(seconds: number): string {
  if (seconds === 0) return '0';
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(0)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
  return `${seconds.toFixed(2)} s`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function bytes(n: number): string {
  if (n >= 1 << 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${Math.round(n / 2 ** 20)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

/** A line no wider than the terminal (by UTF-16 units: the frame is ASCII but for µ, · and the sparks). */
function cut(line: string, width: number): string {
  return line.length > width ? line.slice(0, Math.max(1, width - 1)) + '…' : line;
}
