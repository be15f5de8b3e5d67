/**
 * `weft load`: a TCP echo load generator on weft/io's epoll, to drive any echo
 * server here (weft's, Node's net, Python's selectors, uvloop, C epoll). No
 * Python twin: it plays the part of wrk/tcpkali for echo servers.
 *
 * One thread, one epoll set, non-blocking sockets; the loops run in C
 * (native/load.cc), in slices, with this module setting up, keeping the
 * histogram and reporting. Closed loop: each connection keeps `depth` messages in flight
 * and sends a new one per echo. Open loop (`--rate`): messages leave on a fixed
 * schedule whatever the replies do, round-robin over the connections, and
 * latency is measured from each message's *intended* send time, so a stalled
 * server shows up in the latency instead of slowing the load down ("coordinated
 * omission", Gil Tene). Every echoed byte is compared with what was sent (each
 * message carries its sequence number, so loss, duplication or reordering on a
 * connection is caught too). Latencies go into an HDR histogram in microseconds.
 * Churn (`--churn`): each connection slot connects, echoes one message, closes
 * and starts again, timed from connect() to the echo: connections/s.
 * @module
 */
import { writeSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import { type LoadEngine, native } from '../native.js';
import { ok } from '../io/_native.js';
import type { socket } from '../io/socket.js';
import { IPPROTO_TCP, TCP_NODELAY } from '../io/constants.js';
import { IoUring } from '../io/uring.js';
import { CommandError, type Command } from './commands.js';
import { connectOrSay } from './client.js';

/** What to run. Times in seconds. */
export interface LoadOptions {
  host: string;
  port: number;
  connections: number;
  size: number;
  duration: number;
  depth: number;
  /** Messages per second over all connections (open loop); undefined: closed loop. */
  rate?: number;
  /** Seconds of load before measuring starts. */
  warmup: number;
  /**
   * At most this many more seconds of warm-up while a connection (churn: a
   * slot) has had no reply yet: for servers that start a process or thread
   * per connection. Default 0.
   */
  settle?: number;
  /**
   * Churn instead of long-lived connections: `connections` slots that each
   * connect, echo one message, close and start again (depth and rate unused;
   * `host` must be an IPv4 address).
   */
  churn?: boolean;
  /**
   * The engine's I/O: `'epoll'` (readiness, a recv and a send system call per
   * message) or `'uring'` (io_uring completions, one system call per batch;
   * not with churn). Default {@link defaultEngine}.
   */
  engine?: LoadEngineName;
}

/** How `weft load` does its I/O. */
export type LoadEngineName = 'epoll' | 'uring';

/**
 * The engine `weft load` uses unless told: io_uring, whose own CPU per
 * message measured lower (docs/io.md), where it is available; else, and for
 * churn, epoll.
 */
export function defaultEngine(churn = false): LoadEngineName {
  return !churn && IoUring.available().ok ? 'uring' : 'epoll';
}

/** Called at the edges of the measured window, while the connections are still open. */
export interface LoadHooks {
  /** Called about once a second. */
  onProgress?(elapsed: number, messages: number, errors: number): void;
  /** Right before the measured window (after the warm-up). */
  onMeasureStart?(): void;
  /** Right after it, before any connection is closed. */
  onMeasureEnd?(): void;
}

/** What was measured (over `seconds`, after the warm-up). */
export interface LoadResult {
  target: string;
  connections: number;
  size: number;
  depth: number;
  rate: number | null;
  /** Churn: each message is one connection (connect, echo, close), so messagesPerSecond is connections/s. */
  churn: boolean;
  /** The engine that ran the load. */
  engine: LoadEngineName;
  seconds: number;
  /** Seconds of warm-up, `warmup` plus what `settle` added. */
  warmupSeconds: number;
  messages: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** [percentile, µs] pairs from 0 (the minimum) to 100 (the maximum), for a CDF; empty when nothing completed. */
  latencyCdfUs: [number, number][];
  errors: number;
  errorKinds: Record<string, number>;
  cpuUsPerMessage: number;
  /** The user-space part of cpuUsPerMessage (the rest is the kernel's: system calls, TCP). */
  cpuUserUsPerMessage: number;
}

/** A connection to the server under load, or a {@link CommandError} that says in one line why there is none. */
const connect = (host: string, port: number): socket =>
  connectOrSay(host, port, 10, { refused: 'is the server running?', tooManyFiles: 'raise the limit on open files (ulimit -n) or use fewer --connections' });

/** The engine runs in slices of at most this long, so that progress is shown and latencies are handed over. */
const SLICE = 0.25;

/** The percentiles of {@link LoadResult.latencyCdfUs}: dense where tails differ. */
const CDF_PERCENTILES = [0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 100];

/**
 * Run the load and return what it measured. Blocks the calling thread for
 * `warmup + duration` seconds.
 * @throws {CommandError} when the server cannot be reached.
 * @throws {RangeError} for churn with a host that is not an IPv4 address, churn on
 * the io_uring engine, or an io_uring engine where io_uring is unavailable.
 */
export function runLoad(opts: LoadOptions, hooks: LoadHooks = {}): LoadResult {
  const { connections, size, depth, rate } = opts;
  const churn = opts.churn === true;
  const engineName = checkEngine(opts.engine ?? defaultEngine(churn), churn);
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  const socks: socket[] = [];
  let engine: LoadEngine | undefined;
  try {
    if (churn) {
      if (!isIPv4(opts.host)) throw new RangeError(`--churn needs an IPv4 address as --host, got ${opts.host}`);
      connect(opts.host, opts.port).close(); // a server that is not there is one clear error, not an error per slot
    }
    for (let i = 0; i < (churn ? 0 : connections); i++) {
      const sock = connect(opts.host, opts.port);
      socks.push(sock);
      sock.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1);
      sock.setBlocking(false);
    }
    const made = churn
      ? native.loadChurn(opts.host, opts.port, size, connections)
      : native.loadCreate(Int32Array.from(socks, (s) => s.fileno()), size, depth, rate ?? 0, engineName === 'uring');
    if (typeof made === 'number') ok(made);
    engine = made as LoadEngine;
    const running = engine;
    const t0 = performance.now();
    let errors = 0;
    let completed = 0;
    let settled = 0;
    let nextProgress = 1000;
    const slice = (seconds: number, measuring: boolean): void => {
      const [latencies, errorsSoFar, settledSoFar] = native.loadRun(running, seconds, measuring);
      completed += latencies.length;
      errors = errorsSoFar;
      settled = settledSoFar;
      for (let i = 0; i < latencies.length; i++) hist.recordValue(latencies[i]!);
      const elapsed = performance.now() - t0;
      if (elapsed >= nextProgress) {
        nextProgress += 1000;
        hooks.onProgress?.(elapsed / 1000, completed, errors);
      }
    };
    for (let left = opts.warmup; left > 0; left -= SLICE) slice(Math.min(SLICE, left), false);
    const settleEnd = performance.now() + (opts.settle ?? 0) * 1000;
    for (let now = performance.now(); settled < connections && now < settleEnd; now = performance.now()) {
      slice(Math.min(SLICE, (settleEnd - now) / 1000), false);
    }
    hooks.onMeasureStart?.();
    const tMeasure = performance.now();
    const cpu0 = process.cpuUsage();
    const tEnd = tMeasure + opts.duration * 1000;
    for (let now = tMeasure; now < tEnd; now = performance.now()) slice(Math.min(SLICE, (tEnd - now) / 1000), true);
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - tMeasure) / 1000;
    hooks.onMeasureEnd?.();
    const pct = (p: number): number => (completed ? hist.getValueAtPercentile(p) : 0);
    return {
      target: `${opts.host}:${opts.port}`,
      connections,
      size,
      depth,
      rate: churn ? null : (rate ?? null),
      churn,
      engine: engineName,
      seconds,
      warmupSeconds: (tMeasure - t0) / 1000,
      messages: completed,
      messagesPerSecond: completed / seconds,
      megabytesPerSecond: (completed * size) / seconds / 1e6,
      latencyUs: { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: completed ? hist.maxValue : 0, mean: completed ? hist.mean : 0 },
      // a percentile is its bucket's top, which may pass the largest value recorded: clamped, the curve ends at the maximum
      latencyCdfUs: completed ? CDF_PERCENTILES.map((p): [number, number] => [p, p === 0 ? hist.minNonZeroValue : Math.min(hist.getValueAtPercentile(p), hist.maxValue)]) : [],
      errors,
      errorKinds: native.loadErrors(running),
      cpuUsPerMessage: completed ? (cpu.user + cpu.system) / completed : 0,
      cpuUserUsPerMessage: completed ? cpu.user / completed : 0,
    };
  } finally {
    if (engine) native.loadClose(engine);
    for (const s of socks) s.close();
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The human-readable report. */
export function formatResult(r: LoadResult): string {
  const mode = r.churn ? 'churn (connect, one echo, close)' : r.rate ? `open loop at ${fmt(r.rate)} msg/s` : `closed loop, depth ${r.depth}`;
  const l = r.latencyUs;
  return [
    `weft load: ${r.connections} connections x ${r.size} B, ${mode}, ${fmt(r.seconds, 1)} s against ${r.target}`,
    r.churn
      ? `  connections/s ${fmt(r.messagesPerSecond)}   (${fmt(r.messages)} connections, latency from connect to echo)`
      : `  messages/s   ${fmt(r.messagesPerSecond)}   (${fmt(r.messages)} messages, ${fmt(r.megabytesPerSecond, 1)} MB/s each way)`,
    `  latency µs   p50 ${fmt(l.p50)}  p90 ${fmt(l.p90)}  p99 ${fmt(l.p99)}  p99.9 ${fmt(l.p999)}  max ${fmt(l.max)}`,
    `  errors       ${r.errors}${r.errors ? ' ' + JSON.stringify(r.errorKinds) : ''}`,
    `  load CPU     ${fmt(r.cpuUsPerMessage, 2)} µs/message (this process; ${fmt(r.cpuUserUsPerMessage, 2)} of it in user space)`,
  ].join('\n');
}

const help = `Usage: weft load [options]

Drive a TCP echo server and measure it: closed loop (--depth messages in flight
per connection) or open loop (--rate messages/s in all, latency measured from
each message's intended send time). Every echoed byte is checked.

  --host HOST          server host (default 127.0.0.1)
  --port PORT          server port, 1-65535 (default 10000)
  --connections N      connections, at most 65,535 (default 100)
  --size BYTES         message size, at most 16 MiB (default 1024)
  --duration SECONDS   measured time (default 10)
  --depth K            messages in flight per connection, closed loop (default 1);
                       size x depth at most 64 MiB, and connections x size x (depth + 1) at most 2 GiB
  --rate MSGS_PER_S    open loop at this total rate instead
  --warmup SECONDS     load before measuring (default 0)
  --churn              each connection connects, echoes one message, closes and
                       starts again (connections/s; --host an IPv4 address)
  --engine epoll|uring how the generator does its I/O: epoll makes a recv and a
                       send system call per message, uring (io_uring, Linux 6.0+)
                       one io_uring_enter per batch and costs less CPU per
                       message (docs/io.md). Default uring where io_uring is
                       available, else epoll; --churn runs on epoll only
  --json               print the result as JSON

Reports messages/s, MB/s, latency p50/p90/p99/p99.9/max (µs, HDR histogram),
errors, and this process's own CPU µs per message.

Exit status: 0 when every message came back intact; 1 when the load saw errors,
no message completed, or the server could not be reached (one line that says why);
2 on bad usage. --debug (or WEFT_DEBUG=1) adds the stack trace to an error.`;

function positive(name: string, text: string | undefined, fallback: number, integer = true, max = Infinity): number {
  const v = text === undefined ? fallback : Number(text);
  if (!(v > 0) || (integer && !Number.isInteger(v))) throw new RangeError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${text}`);
  if (v > max) throw new RangeError(`--${name} must be at most ${max}, got ${text}`);
  return v;
}

/**
 * Bounds that keep a typo from exhausting memory: the engine holds about
 * (depth + 1) messages per connection (what is in flight and the next one
 * expected), so size x depth and their product with the connections are capped.
 */
export const LIMITS = {
  /** One source address has at most this many ports to connect from. */
  connections: 65_535,
  size: 16 * 1024 * 1024,
  depth: 65_536,
  /** size x depth: the bytes in flight on one connection. */
  perConnection: 64 * 1024 * 1024,
  /** connections x size x (depth + 1): about what the engine allocates. */
  total: 2 * 1024 * 1024 * 1024,
} as const;

/** Refuse options whose buffers could not be allocated, before connecting (a RangeError: a usage error, exit 2). */
export function checkLimits(opts: Pick<LoadOptions, 'connections' | 'size' | 'depth' | 'rate'>): void {
  const depth = opts.rate === undefined ? opts.depth : 1; // the open loop sends one message at a time
  if (opts.size * depth > LIMITS.perConnection) {
    throw new RangeError(`--size x --depth must be at most ${LIMITS.perConnection} bytes in flight per connection, got ${opts.size * depth}`);
  }
  const total = opts.connections * opts.size * (depth + 1);
  if (total > LIMITS.total) {
    throw new RangeError(`--connections x --size x (--depth + 1) must be at most ${LIMITS.total} bytes of buffers, got ${total}; use fewer connections or smaller messages`);
  }
}

/**
 * `engine` if it can run here, else a RangeError (a usage error, exit 2) naming the fix.
 * @throws {RangeError} an unknown engine, churn on io_uring, or io_uring unavailable.
 */
function checkEngine(engine: string, churn: boolean): LoadEngineName {
  if (engine !== 'epoll' && engine !== 'uring') throw new RangeError(`--engine must be epoll or uring, got ${engine}`);
  if (engine === 'uring') {
    if (churn) throw new RangeError('--churn runs on the epoll engine only: leave out --engine uring');
    const a = IoUring.available();
    if (!a.ok) throw new RangeError(`--engine uring: ${a.reason}; use --engine epoll`);
  }
  return engine;
}

/** The `weft load` subcommand. */
export const command: Command = {
  summary: 'drive a TCP echo server: messages/s, latency percentiles, errors, own CPU',
  help,
  async run(argv) {
    return runCommand(argv);
  },
};

/** Parse the options, run, print; the exit status. */
function runCommand(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '10000' },
      connections: { type: 'string' },
      size: { type: 'string' },
      duration: { type: 'string' },
      depth: { type: 'string' },
      rate: { type: 'string' },
      warmup: { type: 'string' },
      churn: { type: 'boolean', default: false },
      engine: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const opts: LoadOptions = {
    host: values.host!,
    port: positive('port', values.port, 10000, true, 65535),
    connections: positive('connections', values.connections, 100, true, LIMITS.connections),
    size: positive('size', values.size, 1024, true, LIMITS.size),
    duration: positive('duration', values.duration, 10, false),
    depth: positive('depth', values.depth, 1, true, LIMITS.depth),
    rate: values.rate === undefined ? undefined : positive('rate', values.rate, 0, false),
    warmup: values.warmup === undefined ? 0 : Number(values.warmup),
    churn: values.churn,
    engine: values.engine as LoadEngineName | undefined,
  };
  checkEngine(opts.engine ?? defaultEngine(opts.churn), opts.churn === true);
  if (!(opts.warmup >= 0)) throw new RangeError(`--warmup must be >= 0, got ${values.warmup}`);
  checkLimits(opts);
  const tty = process.stderr.isTTY;
  const result = runLoad(opts, {
    onProgress(elapsed, messages, errors) {
      if (tty) writeSync(2, `\r  ${fmt(elapsed, 0)} s  ${fmt(messages)} messages  ${errors} errors   `);
    },
  });
  if (tty) writeSync(2, '\r\x1b[K');
  console.log(values.json ? JSON.stringify(result) : formatResult(result));
  return result.errors === 0 && result.messages > 0 ? 0 : 1;
}
