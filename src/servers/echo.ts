/**
 * What every echo server of weft/servers shares: the models, the options, the
 * running server's shape, and the two things each of them does the same way
 * (replying upper-cased, half-closing a connection to stop it gracefully). No
 * Python twin: these are the lecture's server designs (the seed's third part)
 * made into servers a person can start.
 * @module
 */
import { AF_INET, SHUT_RD, SOCK_STREAM } from '../io/constants.js';
import { socket } from '../io/socket.js';
import { OSError } from '../errors.js';
import { mainEntry } from '../layout.js';
import type { TaskModule } from '../multiprocessing/task.js';
import type { ServerStats, Stats } from './stats.js';

/**
 * The server designs, in the lecture's order.
 * @example
 * import { MODELS } from 'weft/servers';
 * console.log(MODELS.join(' ')); // process thread select poll epoll coro event prefork uring
 */
export const MODELS = ['process', 'thread', 'select', 'poll', 'epoll', 'coro', 'event', 'prefork', 'uring'] as const;

/**
 * One server design: a process or a thread per connection, one thread on a
 * selector (select, poll, epoll), greenlets (coro), Node's own loop (event),
 * epoll in N processes on one port (prefork), or io_uring completions (uring).
 * @example
 * import { MODELS, type Model } from 'weft/servers';
 * const model: Model = 'epoll';
 * console.log(MODELS.indexOf(model)); // 4
 */
export type Model = (typeof MODELS)[number];

/**
 * How to serve. Times in seconds.
 * @example
 * import type { ServeOptions } from 'weft/servers';
 * const options: ServeOptions = { model: 'prefork', port: 0, workers: 2, upper: true };
 * console.log(options.workers); // 2
 */
export interface ServeOptions {
  model: Model;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port to bind (default 5566, the seed's; 0 picks a free one). */
  port?: number;
  /** prefork: the number of processes (default `cpuCount()`); the other models have no workers to size. */
  workers?: number;
  /** Connections served at once; one more is closed as soon as it is accepted (default: no limit but select's fds). */
  maxConnections?: number;
  /** Reply upper-cased (ASCII letters only, as Python's `bytes.upper()`), as the seed's select server does. */
  upper?: boolean;
  /** Where the server says what it refused or what failed (one line each); default: stderr. */
  log?: (line: string) => void;
}

/** {@link ServeOptions} with every default filled in. */
export type Settings = Required<ServeOptions>;

/**
 * How a server stops.
 * @example
 * import { serve, type StopOptions } from 'weft/servers';
 * const server = await serve({ model: 'poll', port: 0 });
 * const now: StopOptions = { graceful: false };
 * console.log((await server.stop(now)).connections); // 0
 */
export interface StopOptions {
  /**
   * true (default): stop accepting, answer what every connection already
   * sent, then close; false: close everything at once.
   */
  graceful?: boolean;
  /** A graceful stop closes what is left after this many seconds (default 5). */
  timeout?: number;
}

/**
 * A running echo server, as {@link serve} resolves it.
 * @example
 * import net from 'node:net';
 * import { serve, type EchoServer } from 'weft/servers';
 * const server: EchoServer = await serve({ model: 'epoll', port: 0, upper: true });
 * const conn = net.connect(server.port, server.host);
 * conn.end('hello');
 * let reply = '';
 * for await (const chunk of conn) reply += chunk;
 * console.log(reply); // HELLO
 * console.log((await server.stop()).connections); // 1
 */
export interface EchoServer {
  readonly model: Model;
  /** The bound address (the real port when 0 was asked). */
  readonly host: string;
  readonly port: number;
  /** Every process serving, this one first (prefork's workers after it). */
  pids(): number[];
  /** What was served so far. */
  stats(): ServerStats;
  /** Settles once the server has stopped; rejects with what made it fail. */
  readonly done: Promise<void>;
  /** Stop serving (twice is harmless: a second call may only make a graceful stop immediate). */
  stop(options?: StopOptions): Promise<ServerStats>;
}

/**
 * The module the servers' children import to find their tasks: this
 * folder's entry (built: dist/src/servers/index.js, which loads weft's bundle
 * and these modules with it). Inside the bundle `import.meta` is weft's main
 * entry's, which does not load the servers.
 */
export const taskModule = {
  url: new URL(mainEntry.pathname.endsWith('.ts') ? 'servers/index.ts' : 'servers/index.js', mainEntry).href,
} as TaskModule;

/**
 * The running server of a design that serves in this process alone (select,
 * poll, epoll, coro, event, uring): `halt` stops it with the defaults filled
 * in, then `done` is awaited and stop() resolves with what `stats` counted.
 */
export function servedHere(
  model: Model,
  [host, port]: readonly [string, number],
  stats: Stats,
  done: Promise<void>,
  halt: (options: Required<StopOptions>) => Promise<void> | void,
): EchoServer {
  return {
    model,
    host,
    port,
    done,
    pids: () => [process.pid],
    stats: () => stats.snapshot(),
    async stop({ graceful = true, timeout = STOP_TIMEOUT } = {}) {
      await halt({ graceful, timeout });
      await done;
      return stats.snapshot();
    },
  };
}

/** Seconds a graceful stop waits for connections to finish, unless told otherwise. */
export const STOP_TIMEOUT = 5;

/** listen() backlog: the kernel caps it at net.core.somaxconn (4096 here); bursts of 1,000 connections fit. */
export const BACKLOG = 4096;

/** Bytes read at once from a connection. */
export const CHUNK = 64 * 1024;

/** `promise`'s settling (fulfilled or rejected), or 'late' after `seconds`: how a stop bounds its waits. */
export async function within(promise: Promise<unknown>, seconds: number): Promise<'done' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, seconds * 1000, 'late')));
  try {
    return await Promise.race([promise.then(() => 'done' as const, () => 'done' as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** bytes.upper() in place: ASCII letters only, as Python's. */
export function upperInPlace(data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) {
    const c = data[i]!;
    if (c >= 0x61 && c <= 0x7a) data[i] = c - 32;
  }
}

/**
 * Half-close `fd` for reading: what the peer already sent can still be read,
 * then the reader sees end of file (Linux keeps the receive queue readable
 * after SHUT_RD, and wakes a reader blocked in recv), so a server answers what
 * it was sent and then closes that connection the way it closes any other.
 * The fd is only borrowed.
 */
export function shutdownRead(fd: number): void {
  if (fd < 0) return; // closed meanwhile
  const borrowed = new socket(AF_INET, SOCK_STREAM, 0, fd);
  try {
    borrowed.shutdown(SHUT_RD);
  } catch (err) {
    if (!(err instanceof OSError)) throw err; // ENOTCONN: the peer is already gone
  } finally {
    borrowed.detach();
  }
}
