/**
 * `weft load`: a TCP echo load generator on weft/io's epoll, to drive any echo
 * server here (weft's, Node's net, Python's selectors, uvloop, C epoll). No
 * Python twin: it plays the part of wrk/tcpkali for echo servers.
 *
 * One thread, one epoll set, non-blocking sockets, one reused receive buffer
 * per connection. Closed loop: each connection keeps `depth` messages in flight
 * and sends a new one per echo. Open loop (`--rate`): messages leave on a fixed
 * schedule whatever the replies do, round-robin over the connections, and
 * latency is measured from each message's *intended* send time, so a stalled
 * server shows up in the latency instead of slowing the load down ("coordinated
 * omission", Gil Tene). Every echoed byte is compared with what was sent (each
 * message carries its sequence number, so loss, duplication or reordering on a
 * connection is caught too). Latencies go into an HDR histogram in microseconds.
 * @module
 */
import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import { io } from '../io/_native.js';
import { createConnection, socket } from '../io/socket.js';
import { IPPROTO_TCP, TCP_NODELAY } from '../io/constants.js';
import type { Command } from './main.js';

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
}

/** What was measured (over `seconds`, after the warm-up). */
export interface LoadResult {
  target: string;
  connections: number;
  size: number;
  depth: number;
  rate: number | null;
  seconds: number;
  messages: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  errors: number;
  errorKinds: Record<string, number>;
  cpuUsPerMessage: number;
  /** The user-space part of cpuUsPerMessage (the rest is the kernel's: system calls, TCP). */
  cpuUserUsPerMessage: number;
}

const EAGAIN = -11;
const EPOLLIN = 1;
const EPOLLOUT = 4;

/** A FIFO of send times that grows (open loop can run far ahead of the replies). */
class TimeRing {
  #buf = new Float64Array(16);
  #head = 0;
  #len = 0;
  push(t: number): void {
    if (this.#len === this.#buf.length) {
      const bigger = new Float64Array(this.#buf.length * 2);
      for (let i = 0; i < this.#len; i++) bigger[i] = this.#buf[(this.#head + i) & (this.#buf.length - 1)]!;
      this.#buf = bigger;
      this.#head = 0;
    }
    this.#buf[(this.#head + this.#len++) & (this.#buf.length - 1)] = t;
  }
  shift(): number {
    const t = this.#buf[this.#head]!;
    this.#head = (this.#head + 1) & (this.#buf.length - 1);
    this.#len--;
    return t;
  }
}

interface Conn {
  sock: socket;
  fd: number;
  alive: boolean;
  sendSeq: number;
  recvSeq: number;
  rpos: number; // bytes of the current incoming message already checked
  expect: Buffer; // the message expected next (pattern + sequence number)
  times: TimeRing;
  pending: Buffer | null; // bytes the kernel did not take yet
}

/** Deterministic message content: a byte pattern, sequence number (uint32 LE) in the first 4 bytes. */
function makePattern(size: number): Buffer {
  const p = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) p[i] = (i * 31 + 7) & 0xff;
  return p;
}

function stamp(buf: Buffer, offset: number, size: number, seq: number): void {
  if (size >= 4) buf.writeUInt32LE(seq >>> 0, offset);
}

/**
 * Run the load and return what it measured. Blocks the calling thread for
 * `warmup + duration` seconds. `onProgress` is called about once a second.
 */
export function runLoad(opts: LoadOptions, onProgress?: (elapsed: number, messages: number, errors: number) => void): LoadResult {
  const { connections, size, depth, rate } = opts;
  const pattern = makePattern(size);
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  const fail = (c: Conn, kind: string): void => {
    errors++;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    if (c.alive) {
      c.alive = false;
      io.epollCtl(epfd, 2, c.fd, 0);
    }
  };

  const epfd = io.epollCreate();
  if (epfd < 0) throw new Error(`epoll_create1 failed: ${-epfd}`);
  const byFd: (Conn | undefined)[] = [];
  const conns: Conn[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      const sock = createConnection([opts.host, opts.port], 10);
      sock.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1);
      sock.setBlocking(false);
      const expect = Buffer.from(pattern);
      stamp(expect, 0, size, 0);
      const c: Conn = { sock, fd: sock.fileno(), alive: true, sendSeq: 0, recvSeq: 0, rpos: 0, expect, times: new TimeRing(), pending: null };
      conns.push(c);
      byFd[c.fd] = c;
      io.epollCtl(epfd, 1, c.fd, EPOLLIN);
    }

    const batch = Buffer.allocUnsafe(size * Math.max(depth, 1));
    for (let k = 0; k < Math.max(depth, 1); k++) pattern.copy(batch, k * size);
    const rbuf = Buffer.allocUnsafe(Math.max(65536, size * 4));
    const out = new Int32Array(2 * Math.max(connections, 1));

    /** Queue `count` messages on `c`, intended at `when` (ms). */
    const send = (c: Conn, count: number, when: number): void => {
      for (let k = 0; k < count; k++) {
        stamp(batch, k * size, size, c.sendSeq++);
        c.times.push(when);
      }
      const len = count * size;
      if (c.pending) {
        c.pending = Buffer.concat([c.pending, batch.subarray(0, len)]);
        return;
      }
      const n = io.sockSend(c.fd, batch, 0, len, 0, 0);
      if (n === len) return;
      if (n < 0 && n !== EAGAIN) return fail(c, `send errno ${-n}`);
      c.pending = Buffer.from(batch.subarray(Math.max(n, 0), len));
      io.epollCtl(epfd, 3, c.fd, EPOLLIN | EPOLLOUT);
    };

    const flush = (c: Conn): void => {
      const p = c.pending!;
      const n = io.sockSend(c.fd, p, 0, p.length, 0, 0);
      if (n === p.length) {
        c.pending = null;
        io.epollCtl(epfd, 3, c.fd, EPOLLIN);
      } else if (n >= 0) c.pending = p.subarray(n);
      else if (n !== EAGAIN) fail(c, `send errno ${-n}`);
    };

    let completed = 0;
    let measuring = opts.warmup <= 0;
    const t0 = performance.now();
    let tMeasure = t0;
    let cpu0 = process.cpuUsage();
    const tEnd = t0 + (opts.warmup + opts.duration) * 1000;
    const tWarm = t0 + opts.warmup * 1000;
    let nextProgress = t0 + 1000;

    /** Check the `n` bytes just read on `c`; count and time each message completed. */
    const receive = (c: Conn, n: number, now: number): number => {
      let done = 0;
      let i = 0;
      while (i < n) {
        const take = Math.min(size - c.rpos, n - i);
        if (rbuf.compare(c.expect, c.rpos, c.rpos + take, i, i + take) !== 0) {
          fail(c, 'echo mismatch');
          return done;
        }
        i += take;
        c.rpos += take;
        if (c.rpos === size) {
          c.rpos = 0;
          const sent = c.times.shift();
          if (measuring) {
            hist.recordValue(Math.max(1, Math.round((now - sent) * 1000)));
            completed++;
          }
          stamp(c.expect, 0, size, ++c.recvSeq);
          done++;
        }
      }
      return done;
    };

    let now = performance.now();
    let scheduled = 0; // open loop: messages sent so far on the schedule
    const interval = rate ? 1000 / rate : 0;
    if (!rate) for (const c of conns) send(c, depth, now);

    while (now < tEnd) {
      let timeout = Math.min(tEnd - now, nextProgress - now, measuring ? Infinity : tWarm - now);
      if (rate) timeout = Math.min(timeout, t0 + scheduled * interval - now);
      const n = io.epollWait(epfd, out, connections, Math.max(timeout, 0) / 1000);
      if (n < 0) throw new Error(`epoll_wait failed: errno ${-n}`);
      now = performance.now();
      for (let e = 0; e < n; e++) {
        const c = byFd[out[2 * e]!]!;
        if (!c.alive) continue;
        const ev = out[2 * e + 1]!;
        if (ev & EPOLLOUT && c.pending) flush(c);
        if (!(ev & ~EPOLLOUT)) continue;
        const r = io.sockRecv(c.fd, rbuf, 0, rbuf.length, 0, 0);
        if (r === EAGAIN) continue;
        if (r < 0) {
          fail(c, `recv errno ${-r}`);
          continue;
        }
        if (r === 0) {
          fail(c, 'server closed the connection');
          continue;
        }
        const got = receive(c, r, now);
        if (!rate && got > 0 && c.alive) send(c, got, now);
      }
      if (rate) {
        // Everything due by now leaves now, stamped with the time it was due.
        while (t0 + scheduled * interval <= now) {
          const c = conns[scheduled % connections]!;
          if (c.alive) send(c, 1, t0 + scheduled * interval);
          scheduled++;
        }
      }
      if (!measuring && now >= tWarm) {
        measuring = true;
        tMeasure = now;
        cpu0 = process.cpuUsage();
      }
      if (now >= nextProgress) {
        nextProgress += 1000;
        onProgress?.((now - t0) / 1000, completed, errors);
      }
    }
    const cpu = process.cpuUsage(cpu0);
    const seconds = (now - tMeasure) / 1000;
    const pct = (p: number): number => (completed ? hist.getValueAtPercentile(p) : 0);
    return {
      target: `${opts.host}:${opts.port}`,
      connections,
      size,
      depth,
      rate: rate ?? null,
      seconds,
      messages: completed,
      messagesPerSecond: completed / seconds,
      megabytesPerSecond: (completed * size) / seconds / 1e6,
      latencyUs: { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: completed ? hist.maxValue : 0, mean: completed ? hist.mean : 0 },
      errors,
      errorKinds,
      cpuUsPerMessage: completed ? (cpu.user + cpu.system) / completed : 0,
      cpuUserUsPerMessage: completed ? cpu.user / completed : 0,
    };
  } finally {
    for (const c of conns) c.sock.close();
    io.sockClose(epfd);
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The human-readable report. */
export function formatResult(r: LoadResult): string {
  const mode = r.rate ? `open loop at ${fmt(r.rate)} msg/s` : `closed loop, depth ${r.depth}`;
  const l = r.latencyUs;
  return [
    `weft load: ${r.connections} connections x ${r.size} B, ${mode}, ${fmt(r.seconds, 1)} s against ${r.target}`,
    `  messages/s   ${fmt(r.messagesPerSecond)}   (${fmt(r.messages)} messages, ${fmt(r.megabytesPerSecond, 1)} MB/s each way)`,
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
  --port PORT          server port (default 10000)
  --connections N      connections (default 100)
  --size BYTES         message size (default 1024)
  --duration SECONDS   measured time (default 10)
  --depth K            messages in flight per connection, closed loop (default 1)
  --rate MSGS_PER_S    open loop at this total rate instead
  --warmup SECONDS     load before measuring (default 0)
  --json               print the result as JSON

Reports messages/s, MB/s, latency p50/p90/p99/p99.9/max (µs, HDR histogram),
errors, and this process's own CPU µs per message. Exit status 1 on any error.`;

function positive(name: string, text: string | undefined, fallback: number, integer = true): number {
  const v = text === undefined ? fallback : Number(text);
  if (!(v > 0) || (integer && !Number.isInteger(v))) throw new RangeError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${text}`);
  return v;
}

/** The `weft load` subcommand. */
export const command: Command = {
  summary: 'drive a TCP echo server: messages/s, latency percentiles, errors, own CPU',
  help,
  async run(argv) {
    try {
      return runCommand(argv);
    } catch (err) {
      if (!(err instanceof RangeError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) throw err;
      console.error(`weft load: ${(err as Error).message}`);
      return 2;
    }
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
      json: { type: 'boolean', default: false },
    },
  });
  const opts: LoadOptions = {
    host: values.host!,
    port: positive('port', values.port, 10000),
    connections: positive('connections', values.connections, 100),
    size: positive('size', values.size, 1024),
    duration: positive('duration', values.duration, 10, false),
    depth: positive('depth', values.depth, 1),
    rate: values.rate === undefined ? undefined : positive('rate', values.rate, 0, false),
    warmup: values.warmup === undefined ? 0 : Number(values.warmup),
  };
  if (!(opts.warmup >= 0)) throw new RangeError(`--warmup must be >= 0, got ${values.warmup}`);
  const tty = process.stderr.isTTY;
  const result = runLoad(opts, (elapsed, messages, errors) => {
    if (tty) writeSync(2, `\r  ${fmt(elapsed, 0)} s  ${fmt(messages)} messages  ${errors} errors   `);
  });
  if (tty) writeSync(2, '\r\x1b[K');
  console.log(values.json ? JSON.stringify(result) : formatResult(result));
  return result.errors === 0 && result.messages > 0 ? 0 : 1;
}
