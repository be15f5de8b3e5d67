/**
 * `weft bench servers`: the server designs of `weft serve` side by side. No
 * Python twin: it answers the lecture's question (a process per connection, a
 * thread per connection, or one event loop?) with numbers.
 *
 * Each model runs in its own process, started fresh for every scenario (so a
 * memory baseline is clean and a server that dies takes one row with it), and
 * is driven over loopback by `weft load`'s engine in this process, one model
 * at a time. What the server spends is read from /proc for every process of
 * its tree: CPU from /proc/<pid>/stat (utime + stime count every thread of a
 * process; cutime + cstime count children it reaped, so a process per
 * connection that came and went is still paid for), memory as PSS from
 * /proc/<pid>/smaps_rollup (RSS counts the pages processes share once per
 * process; PSS splits them, so N forked servers do not count Node N times),
 * with RSS beside it. Like the CLI, no part of weft's API (its example is
 * `weft bench servers --help`).
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type socket } from '../io/socket.js';
import { addonRoot } from '../layout.js';
import { OSError } from '../errors.js';
import { CommandError } from '../cli/commands.js';
import { runLoad, type LoadResult } from '../cli/load.js';

/** The models of `weft serve --model`, in the order the report shows them. */
export const MODELS = ['process', 'thread', 'select', 'poll', 'epoll', 'coro', 'event', 'prefork', 'uring'] as const;

/** One load the servers are put under. */
export interface Scenario {
  /** Short name, for `--scenarios` and JSON. */
  name: string;
  /** What the report calls it. */
  title: string;
  /** Active connections (churn: connection slots that connect, echo once, close, again). */
  connections: number;
  /** Bytes per message. */
  size: number;
  /** Connections opened first and left idle while the active ones run. */
  idle: number;
  /** Connect, one echo, close, in a loop: connections/s. */
  churn: boolean;
}

/** The five scenarios of the issue, in order. */
export const SCENARIOS: readonly Scenario[] = [
  { name: 'latency', title: '1 connection × 64 B', connections: 1, size: 64, idle: 0, churn: false },
  { name: 'throughput', title: '100 connections × 1 KiB', connections: 100, size: 1024, idle: 0, churn: false },
  { name: 'many', title: '1,000 connections × 64 B', connections: 1000, size: 64, idle: 0, churn: false },
  { name: 'idle', title: '10,000 idle + 100 active × 64 B', connections: 100, size: 64, idle: 10_000, churn: false },
  { name: 'churn', title: 'churn: connect, one 64 B echo, close', connections: 16, size: 64, idle: 0, churn: true },
];

/**
 * Idle connections in `--quick`'s idle scenario: opening and closing 10,000
 * per model is most of a quick run's time on a loaded machine, and the figure
 * is per idle connection either way (the title says how many).
 */
export const QUICK_IDLE = 2_000;

/** `scenario` as `--quick` runs it: fewer idle connections, so titled. */
export function quickVariant(scenario: Scenario): Scenario {
  return scenario.idle > QUICK_IDLE ? { ...scenario, idle: QUICK_IDLE, title: scenario.title.replace(/^[\d,]+ idle/, `${QUICK_IDLE.toLocaleString('en-US')} idle`) } : scenario;
}

/** What one model did in one scenario. Times in seconds, latencies in µs, memory in bytes. */
export interface ScenarioResult {
  model: string;
  scenario: string;
  /** `unable`: the model cannot take the scenario (decided before, or it refused to start); `failed`: it was tried and died or refused connections. */
  status: 'ok' | 'unable' | 'failed';
  /** Why, when not ok. */
  reason: string | null;
  seconds: number;
  /** Warm-up before the measured window: longer than asked while the server had not yet answered every connection. */
  warmupSeconds: number;
  messages: number;
  messagesPerSecond: number;
  /** Churn only: connections set up, echoed and closed per second. */
  connectionsPerSecond: number | null;
  latencyUs: { p50: number; p99: number; p999: number; max: number };
  /** [percentile, µs] pairs for a CDF. */
  latencyCdfUs: [number, number][];
  /** Server CPU (user + system, every process and thread) over the measured window, per message. */
  /**
   * Null when it cannot be told: a server process that exited between two
   * samples, before its parent reaped it, takes its CPU out of both.
   */
  serverCpuUsPerMessage: number | null;
  /** The load generator's own CPU per message (this process). */
  loadCpuUsPerMessage: number;
  /** Sum of the server processes' RSS with the connections open. */
  serverRssBytes: number;
  /** Sum of their PSS with the connections open (RSS when smaps_rollup is unreadable). */
  serverPssBytes: number;
  /** PSS growth from the idle server to the loaded one, per open connection (the idle ones in `idle`). */
  memoryPerConnectionBytes: number;
  /** The same from RSS: larger where processes share pages (each counts them whole). */
  rssPerConnectionBytes: number;
  /** Processes the server ran as, at the end of the window. */
  serverProcesses: number;
  errors: number;
  errorKinds: Record<string, number>;
}

/** Everything a run measured, as `--json` prints it. */
export interface BenchReport {
  weft: string;
  node: string;
  cpus: number;
  cpuModel: string;
  date: string;
  quick: boolean;
  warmup: number;
  duration: number;
  models: string[];
  scenarios: Scenario[];
  results: ScenarioResult[];
}

/** How to run one model's server: the program and its arguments. */
export type ServerCommand = (model: string, args: string[]) => { command: string; args: string[] };

/** Options of {@link runBench}. */
export interface BenchOptions {
  models?: readonly string[];
  /** Scenario names; all five when absent. */
  scenarios?: readonly string[];
  /** Short runs: the whole set in under 3 minutes on two otherwise idle cores. */
  quick?: boolean;
  /** Seconds measured per scenario (default 1 with `quick`, else 5). */
  duration?: number;
  /** Seconds of load before measuring (default 0.25 with `quick`, else 1). */
  warmup?: number;
  /**
   * At most this many more seconds of warm-up while a connection has had no
   * reply (default 5 with `quick`, else 10): a process or thread per connection starts one first.
   */
  settle?: number;
  /**
   * Seconds a scenario may spend starting its connections, at the rate a
   * model started them in an earlier scenario (default 15 with `quick`, else 60).
   */
  startBudget?: number;
  /** How a model's server starts; `weft serve --model M --port 0 --json` by default. */
  serverCommand?: ServerCommand;
  /** Called after each scenario, for a progress line. */
  onResult?(result: ScenarioResult): void;
}

// From the package root: built, this module is inside weft's bundle, whose import.meta is the main entry's.
const cliMain = join(addonRoot, 'dist/src/cli/main.js');

/** `weft serve` from this build. */
export const weftServe: ServerCommand = (model, args) => ({ command: process.execPath, args: [cliMain, 'serve', '--model', model, ...args] });

/** Linux's USER_HZ, the unit of /proc/<pid>/stat's times (100 on every architecture Node runs on). */
const TICK_US = 10_000;

/** What /proc says of a server's process tree at one moment. */
export interface TreeSample {
  pids: number[];
  cpuUs: number;
  rssBytes: number;
  pssBytes: number;
  fds: number;
}

function readOr(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | null {
  const stat = readOr(`/proc/${pid}/stat`);
  return stat === null ? null : stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** `roots` and every live descendant, found by ppid over /proc. */
export function processTree(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const f = statFields(pid);
    if (!f) continue;
    const ppid = Number(f[1]);
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(pid);
  }
  const seen = new Set<number>();
  const todo = [...roots];
  while (todo.length) {
    const pid = todo.pop()!;
    if (seen.has(pid) || !statFields(pid)) continue;
    seen.add(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return [...seen];
}

/** CPU, memory and fds of `roots` and their descendants. */
export function sampleTree(roots: readonly number[]): TreeSample {
  const pids = processTree(roots);
  let ticks = 0;
  let rssKb = 0;
  let pssKb = 0;
  let fds = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (!f) continue;
    // fields 14-17 of stat(5): utime, stime, cutime, cstime (2 before the first here)
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    const rss = /^VmRSS:\s+(\d+)/m.exec(readOr(`/proc/${pid}/status`) ?? '');
    const pss = /^Pss:\s+(\d+)/m.exec(readOr(`/proc/${pid}/smaps_rollup`) ?? '');
    rssKb += rss ? Number(rss[1]) : 0;
    pssKb += pss ? Number(pss[1]) : rss ? Number(rss[1]) : 0;
    try {
      fds += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // gone meanwhile
    }
  }
  return { pids, cpuUs: ticks * TICK_US, rssBytes: rssKb * 1024, pssBytes: pssKb * 1024, fds };
}

/** The soft RLIMIT_NOFILE of `pid` ('self' for this process), from /proc/<pid>/limits. */
export function openFileLimit(pid: number | 'self'): number {
  const m = /^Max open files\s+(\S+)/m.exec(readOr(`/proc/${pid}/limits`) ?? '');
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** Bytes the kernel says can be allocated without swapping (MemAvailable). */
function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+)/m.exec(readOr('/proc/meminfo') ?? '');
  return m ? Number(m[1]) * 1024 : freemem();
}

/** A server started for one scenario. */
class ServerProcess {
  private exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error } | null = null;
  private readonly exited: Promise<void>;
  private stdout = '';

  private constructor(
    readonly child: ChildProcess,
    private readonly stderrPath: string,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
      // a program that cannot be run (ENOENT, EACCES) has no exit event
      child.once('error', (error) => {
        this.exit ??= { code: null, signal: null, error };
        resolve();
      });
    });
  }

  listening!: { port: number; host: string; pid: number; pids: number[] };

  /**
   * Starts `command` and waits (at most `seconds`) for its listening line.
   * Its stderr goes to a file, not a pipe: this process blocks while the load
   * runs, and a server that logs into a full pipe would stall on it.
   * @throws {Error} naming what the server said when it exits or stays silent.
   */
  static async start(command: { command: string; args: string[] }, dir: string, seconds: number): Promise<ServerProcess> {
    const stderrPath = join(dir, `stderr-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const errFd = openSync(stderrPath, 'w');
    let child: ChildProcess;
    try {
      child = spawn(command.command, command.args, { stdio: ['ignore', 'pipe', errFd] });
    } finally {
      closeSync(errFd);
    }
    const server = new ServerProcess(child, stderrPath);
    const deadline = Date.now() + seconds * 1000;
    while (!server.stdout.includes('\n')) {
      if (server.exit) throw new StartError(server.describeExit(), server.exit.code === 2);
      if (Date.now() > deadline) {
        await server.stop(2);
        throw new StartError(`no listening line within ${seconds} s`, false);
      }
      await Promise.race([server.exited, new Promise((r) => setTimeout(r, 20))]);
    }
    const line = server.stdout.slice(0, server.stdout.indexOf('\n'));
    let parsed: { event?: unknown; port?: unknown; host?: unknown; pid?: unknown; pids?: unknown };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      parsed = {};
    }
    if (parsed.event !== 'listening' || typeof parsed.port !== 'number' || typeof parsed.pid !== 'number') {
      await server.stop(2);
      throw new StartError(`expected a {"event":"listening",...} line, got ${JSON.stringify(line.slice(0, 200))}`, false);
    }
    const pids = Array.isArray(parsed.pids) ? parsed.pids.filter((p): p is number => typeof p === 'number') : [];
    server.listening = { port: parsed.port, host: typeof parsed.host === 'string' ? parsed.host : '127.0.0.1', pid: parsed.pid, pids: pids.length ? pids : [parsed.pid] };
    return server;
  }

  /**
   * Whether it has exited, waiting (at most 1 s) for Node to report an exit
   * /proc already shows: the exit event cannot arrive while the load blocks
   * this thread.
   */
  async hasExited(): Promise<boolean> {
    const state = statFields(this.child.pid!)?.[0];
    if (!this.exit && (state === undefined || state === 'Z' || state === 'X')) await Promise.race([this.exited, sleep(1)]);
    return this.exit !== null;
  }

  /** "exited with code 2: <its last stderr line>". */
  describeExit(): string {
    if (this.exit?.error) return `could not be run: ${this.exit.error.message}`;
    const how = this.exit?.signal ? `was killed by ${this.exit.signal}` : `exited with code ${this.exit?.code}`;
    const last = (readOr(this.stderrPath) ?? '').trim().split('\n').pop()?.trim();
    return last ? `${how}: ${last}` : how;
  }

  /** SIGTERM (a graceful stop), then SIGKILL after `seconds`. */
  async stop(seconds: number): Promise<void> {
    if (!this.exit && this.child.pid !== undefined) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), seconds * 1000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.stderrPath, { force: true });
  }
}

/** A server that did not come up; `refused` when it said so itself (exit status 2). */
class StartError extends Error {
  constructor(
    message: string,
    readonly refused: boolean,
  ) {
    super(message);
  }
}

const MIB = 1024 * 1024;

const sleep = (seconds: number): Promise<void> => new Promise((r) => setTimeout(r, seconds * 1000));

/**
 * Memory per connection assumed for a model before it was measured: a Node
 * process, a worker thread (its own V8 isolate), or a socket in an event loop.
 */
function assumedPerConnection(model: string): number {
  return model === 'process' ? 40 * MIB : model === 'thread' ? 10 * MIB : 64 * 1024;
}

/** What earlier scenarios measured of a model, for deciding what it can take next. */
export interface Measured {
  /** Memory per connection at 100+ connections, bytes. */
  perConnection?: number;
  /** Connections per second it started while the warm-up waited for their first replies (a process or thread each). */
  startRate?: number;
}

/**
 * Why `model` cannot take `scenario`, or null. Decided from the model (select's
 * fd_set stops at fd 1024, as CPython's does), from memory (what a connection
 * costs it, measured in an earlier scenario or assumed, against a quarter of
 * the memory available), from time (starting its connections at the rate
 * measured earlier must fit in `startBudget` seconds) and from this process's
 * RLIMIT_NOFILE.
 */
export function cannotTake(model: string, scenario: Scenario, measured: Measured = {}, startBudget = Infinity): string | null {
  const measuredPerConnection = measured.perConnection;
  const open = scenario.connections + scenario.idle;
  if (model === 'select' && open >= 1024) {
    return `select's fd_set holds fds below 1024 (FD_SETSIZE, CPython's limit too); ${open.toLocaleString('en-US')} connections need fds past it`;
  }
  const own = openFileLimit('self');
  if (open + 64 > own) return `this process may open ${own} fds (RLIMIT_NOFILE) and needs ${open + 64}; raise it with ulimit -n`;
  if (!scenario.churn) {
    const per = measuredPerConnection ?? assumedPerConnection(model);
    const need = per * open;
    const budget = memAvailable() / 4;
    if (need > budget) {
      const how = measuredPerConnection === undefined ? 'assumed' : 'measured';
      return `${open.toLocaleString('en-US')} connections at ${(per / MIB).toFixed(1)} MiB each (${how}) need ${(need / 1024 / MIB).toFixed(1)} GiB, past a quarter of the memory available (${(budget / 1024 / MIB).toFixed(1)} GiB)`;
    }
    // idle connections need no reply: only the active ones wait to be started
    const seconds = measured.startRate ? scenario.connections / measured.startRate : 0;
    if (seconds > startBudget) {
      return `it started connections at ${measured.startRate!.toFixed(1)}/s (measured); ${scenario.connections.toLocaleString('en-US')} would take about ${Math.round(seconds)} s, past the ${startBudget} s a scenario may spend starting`;
    }
  }
  return null;
}

function emptyResult(model: string, scenario: Scenario, status: 'unable' | 'failed', reason: string): ScenarioResult {
  return {
    model,
    scenario: scenario.name,
    status,
    reason,
    seconds: 0,
    warmupSeconds: 0,
    messages: 0,
    messagesPerSecond: 0,
    connectionsPerSecond: null,
    latencyUs: { p50: 0, p99: 0, p999: 0, max: 0 },
    latencyCdfUs: [],
    serverCpuUsPerMessage: null,
    loadCpuUsPerMessage: 0,
    serverRssBytes: 0,
    serverPssBytes: 0,
    memoryPerConnectionBytes: 0,
    rssPerConnectionBytes: 0,
    serverProcesses: 0,
    errors: 0,
    errorKinds: {},
  };
}


/**
 * Opens `count` connections and leaves them idle; waits (at most `seconds`)
 * until the server holds about as many more fds, so that its memory is read
 * with them accepted.
 */
async function openIdle(host: string, port: number, count: number, roots: number[], fdsBefore: number, seconds: number): Promise<socket[]> {
  const socks: socket[] = [];
  const deadline = Date.now() + seconds * 1000;
  try {
    for (let i = 0; i < count; i++) {
      socks.push(createConnection([host, port], Math.max(1, (deadline - Date.now()) / 1000)));
      if (i % 500 === 499) await sleep(0); // let the server's exit be seen
    }
  } catch (err) {
    for (const s of socks) s.close();
    throw new CommandError(`opened ${socks.length} of ${count} idle connections: ${(err as Error).message}`, 'the server stopped accepting');
  }
  // done when the server holds them, or when its fd count stops moving (a server may hold them where
  // /proc/<pid>/fd does not show them, as io_uring's registered files)
  let last = -1;
  let still = 0;
  for (let fds = sampleTree(roots).fds; Date.now() < deadline && fds < fdsBefore + count * 0.99 && still < 10; fds = sampleTree(roots).fds) {
    still = fds === last ? still + 1 : 0;
    last = fds;
    await sleep(0.05);
  }
  await sleep(0.2); // and let the memory they cost settle
  return socks;
}

/** The longest measured window a churn is stretched to when its connections come back in slow waves (s). */
const CHURN_LONGEST = 10;

/** Runs one model in one scenario on a server already started. */
async function measure(
  server: ServerProcess,
  model: string,
  scenario: Scenario,
  timing: { warmup: number; settle: number; duration: number },
): Promise<ScenarioResult> {
  const { host, port, pids } = server.listening;
  const roots = [...new Set([server.child.pid!, ...pids])];
  await sleep(0.1); // children booted ahead settle into their baseline
  const base = sampleTree(roots);
  let idle: socket[] = [];
  let afterIdle: TreeSample | undefined;
  try {
    if (scenario.idle) {
      idle = await openIdle(host, port, scenario.idle, roots, base.fds, Math.max(20, scenario.idle / 500));
      afterIdle = sampleTree(roots);
    }
    if (await server.hasExited()) throw new CommandError(`the server ${server.describeExit()}`, 'see its stderr');
    let start: TreeSample | undefined;
    let end: TreeSample | undefined;
    const run = (t: typeof timing): LoadResult =>
      runLoad(
        { host, port, connections: scenario.connections, size: scenario.size, depth: 1, ...t, churn: scenario.churn },
        { onMeasureStart: () => (start = sampleTree(roots)), onMeasureEnd: () => (end = sampleTree(roots)) },
      );
    let load = run(timing);
    if (scenario.churn && load.messages < 2 * scenario.connections && load.warmupSeconds > timing.warmup + 0.5) {
      // A process or a thread per connection: the first reply of every slot came only after
      // warmupSeconds, and the slots, started together, go on in waves that far apart. A window
      // shorter than two waves may see none end; measure again, warm, over two waves and more.
      const warmupSeconds = load.warmupSeconds;
      load = { ...run({ warmup: 0, settle: 0, duration: Math.min(CHURN_LONGEST, Math.max(timing.duration, 2 * warmupSeconds + 1)) }), warmupSeconds };
    }
    const s0 = start!;
    const s1 = end!;
    // the idle scenario's figure is what each idle connection costs; others: each open connection
    const perConnection = (field: 'pssBytes' | 'rssBytes'): number =>
      Math.max(0, afterIdle ? (afterIdle[field] - base[field]) / scenario.idle : scenario.churn ? 0 : (s1[field] - base[field]) / scenario.connections);
    return {
      model,
      scenario: scenario.name,
      status: 'ok',
      reason: null,
      seconds: load.seconds,
      warmupSeconds: load.warmupSeconds,
      messages: load.messages,
      messagesPerSecond: load.messagesPerSecond,
      connectionsPerSecond: scenario.churn ? load.messagesPerSecond : null,
      latencyUs: { p50: load.latencyUs.p50, p99: load.latencyUs.p99, p999: load.latencyUs.p999, max: load.latencyUs.max },
      latencyCdfUs: load.latencyCdfUs,
      serverCpuUsPerMessage: load.messages && s1.cpuUs >= s0.cpuUs ? (s1.cpuUs - s0.cpuUs) / load.messages : null,
      loadCpuUsPerMessage: load.cpuUsPerMessage,
      serverRssBytes: s1.rssBytes,
      serverPssBytes: s1.pssBytes,
      memoryPerConnectionBytes: perConnection('pssBytes'),
      rssPerConnectionBytes: perConnection('rssBytes'),
      serverProcesses: s1.pids.length,
      errors: load.errors,
      errorKinds: load.errorKinds,
    };
  } finally {
    for (const s of idle) s.close();
  }
}

/** Milliseconds since the epoch as an ISO date, without sub-seconds. */
const isoNow = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * Runs every model through every scenario, one at a time, and returns what was
 * measured. A model that cannot take a scenario, refuses to start, dies or
 * refuses connections gets a row that says so; nothing here throws for it.
 * @throws {RangeError} for an unknown scenario name.
 */
export async function runBench(opts: BenchOptions = {}): Promise<BenchReport> {
  const quick = opts.quick === true;
  const duration = opts.duration ?? (quick ? 1 : 5);
  const warmup = opts.warmup ?? (quick ? 0.25 : 1);
  const settle = opts.settle ?? (quick ? 5 : 10);
  const startBudget = opts.startBudget ?? (quick ? 15 : 60);
  const models = [...(opts.models ?? MODELS)];
  const scenarios = (opts.scenarios ?? SCENARIOS.map((s) => s.name)).map((name) => {
    const s = SCENARIOS.find((x) => x.name === name);
    if (!s) throw new RangeError(`unknown scenario '${name}'; the scenarios are ${SCENARIOS.map((x) => x.name).join(', ')}`);
    return quick ? quickVariant(s) : s;
  });
  const serverCommand = opts.serverCommand ?? weftServe;
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
  const results: ScenarioResult[] = [];
  const emit = (r: ScenarioResult): void => {
    results.push(r);
    opts.onResult?.(r);
  };
  try {
    for (const model of models) {
      let refusal: string | null = null; // the model said it cannot run here (exit status 2)
      const measured: Measured = {};
      for (const scenario of scenarios) {
        const why = refusal ?? cannotTake(model, scenario, measured, startBudget);
        if (why !== null) {
          emit(emptyResult(model, scenario, 'unable', why));
          continue;
        }
        const open = scenario.connections + scenario.idle;
        const args = ['--port', '0', '--json', '--max-connections', String(open + 100)];
        let server: ServerProcess;
        try {
          server = await ServerProcess.start(serverCommand(model, args), dir, 30);
        } catch (err) {
          if (!(err instanceof StartError)) throw err;
          if (err.refused) refusal = `the server refused to start: ${err.message}`;
          emit(emptyResult(model, scenario, err.refused ? 'unable' : 'failed', refusal ?? `the server did not start: ${err.message}`));
          continue;
        }
        try {
          const limit = openFileLimit(server.listening.pid);
          if (open + 64 > limit) {
            emit(emptyResult(model, scenario, 'unable', `the server may open ${limit} fds (RLIMIT_NOFILE) and needs about ${open + 64}`));
            continue;
          }
          let result: ScenarioResult;
          try {
            result = await measure(server, model, scenario, { warmup, settle, duration });
          } catch (err) {
            // a refused connection, or a socket call that failed (EMFILE): the scenario's, not the run's
            if (!(err instanceof CommandError) && !(err instanceof OSError)) throw err;
            result = emptyResult(model, scenario, 'failed', (await server.hasExited()) ? `the server ${server.describeExit()}` : err.message);
            // A connection the load could not make is an error it saw, counted as the load counts its own
            // (a server that dies while the load still connects refuses the rest).
            if (err instanceof CommandError && err.cause instanceof OSError) {
              result = { ...result, errors: 1, errorKinds: { [`connect errno ${err.cause.errno}`]: 1 } };
            }
          }
          if (result.status === 'ok' && (await server.hasExited())) {
            result = { ...result, status: 'failed', reason: `the server ${server.describeExit()} during the scenario` };
          } else if (result.status === 'ok' && result.messages === 0) {
            result = { ...result, status: 'failed', reason: `no message came back (${Object.keys(result.errorKinds).join(', ') || 'no reply'})` };
          }
          // a figure from 100+ connections, not one connection's share of the heap's growth
          if (result.status === 'ok' && result.memoryPerConnectionBytes > 0 && !scenario.idle && scenario.connections >= 100) {
            measured.perConnection = Math.max(measured.perConnection ?? 0, result.memoryPerConnectionBytes);
          }
          // the warm-up waited for replies from 100+ connections: they were being started (the slowest rate
          // seen counts; one connection's first reply says how long one start takes, not how many run at once)
          if (result.status === 'ok' && !scenario.churn && scenario.connections >= 100 && result.warmupSeconds > warmup + 0.5) {
            const rate = scenario.connections / result.warmupSeconds;
            measured.startRate = Math.min(measured.startRate ?? Infinity, rate);
          }
          emit(result);
        } finally {
          // a graceful stop may wait for connections still starting; the bench needs none of it, and
          // weft serve's children die with it (the contract), so --quick does not wait long
          await server.stop(quick ? 3 : 10);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pkg = JSON.parse(readFileSync(join(addonRoot, 'package.json'), 'utf8')) as { version: string };
  return {
    weft: pkg.version,
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    date: isoNow(),
    quick,
    warmup,
    duration,
    models,
    scenarios: [...scenarios],
    results,
  };
}
