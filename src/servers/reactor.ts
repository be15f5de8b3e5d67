/**
 * The `select`, `poll` and `epoll` servers: one thread, one loop over a
 * weft/io selector (the seed's selectors server, examples/31-selectors-server.ts,
 * with the select server's fd limit and reply from 30-select-server.ts). The
 * three differ only in the selector; `prefork` runs this loop in each of its
 * processes. No Python twin (selectors.py is the selector, not the loop).
 *
 * The loop waits with `selectAsync`, which parks on Node's event loop until
 * something is ready, so signals and timers still run; under a
 * steady load that never parks, the loop yields to Node every few
 * milliseconds for the same reason.
 * @module
 */
import { setImmediate as yieldToNode } from 'node:timers/promises';
import { FD_SETSIZE } from '../io/constants.js';
import { createServer, type socket } from '../io/socket.js';
import {
  type BaseSelector, EVENT_READ, EVENT_WRITE, EpollSelector, PollSelector, SelectSelector,
} from '../io/selectors.js';
import { BlockingIOError, ConnectionError, OSError } from '../errors.js';
import { BACKLOG, CHUNK, type EchoServer, STOP_TIMEOUT, type Settings, type StopOptions, servedHere, upperInPlace } from './echo.js';
import { Stats } from './stats.js';

/** The selector each model waits on. */
const SELECTORS = { select: SelectSelector, poll: PollSelector, epoll: EpollSelector } as const;

/** A model served by this loop. */
export type SelectorModel = keyof typeof SELECTORS;

/** Output a connection may have waiting before the loop stops reading from it (its sends then block, not the server). */
const MAX_PENDING = 64 * 1024;

/** Seconds a wait lasts at most, so that a stop asked from shared memory (prefork) is seen. */
const WAIT = 0.1;

/** The loop yields to Node's event loop after this many ms without parking. */
const YIELD_MS = 10;

/** One connection: its socket and the output the kernel has not taken yet. */
interface Connection {
  sock: socket;
  out: Buffer[];
  pending: number;
  /** The peer finished sending (or the server stopped reading): close once `out` is sent. */
  eof: boolean;
}

/** What the loop needs beyond the listening socket. */
export interface ReactorOptions {
  model: SelectorModel;
  upper: boolean;
  /** True when one more connection would be one too many. */
  full: (stats: Stats) => boolean;
  log: (line: string) => void;
  /** Polled once a round: a stop asked from elsewhere (prefork's parent). */
  stopAsked?: () => StopOptions | undefined;
  /** Called once a round, after the events were handled. */
  afterRound?: (stats: Stats) => void;
}

/** The event loop of one selector server. */
export class Reactor {
  readonly stats = new Stats();
  readonly #sel: BaseSelector<Connection | null>;
  readonly #conns = new Set<Connection>();
  /** Where every read lands; a reply the kernel takes whole is sent from here without a copy. */
  readonly #buf = Buffer.allocUnsafe(CHUNK);
  #deadline = Infinity;
  #stopping = false;

  constructor(
    private readonly listener: socket,
    private readonly options: ReactorOptions,
  ) {
    this.#sel = new SELECTORS[options.model]<Connection | null>();
    listener.setBlocking(false);
    this.#sel.register(listener, EVENT_READ, null);
  }

  /** Serve until stopped and every connection is closed. */
  async run(): Promise<void> {
    let parked = performance.now();
    try {
      for (;;) {
        const asked = this.options.stopAsked?.();
        if (asked) this.stop(asked);
        if (this.#stopping && (this.#conns.size === 0 || performance.now() >= this.#deadline)) break;
        const ready = await this.#sel.selectAsync(WAIT);
        for (const [key, mask] of ready) {
          if (key.data === null) this.#accept();
          else this.#serve(key.data, mask);
        }
        this.options.afterRound?.(this.stats);
        if (performance.now() - parked >= YIELD_MS) {
          await yieldToNode();
          parked = performance.now();
        }
      }
    } finally {
      for (const conn of this.#conns) this.#close(conn);
      this.#sel.close();
      this.listener.close();
      this.options.afterRound?.(this.stats);
    }
  }

  /**
   * Stop accepting. Graceful: every connection is half-closed for reading, so
   * what it sent is answered before it closes; after `timeout` seconds, or at
   * once when not graceful, the rest are closed.
   */
  stop({ graceful = true, timeout = STOP_TIMEOUT }: StopOptions = {}): void {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#sel.unregister(this.listener);
      this.listener.close();
    }
    this.#deadline = Math.min(this.#deadline, performance.now() + (graceful ? timeout * 1000 : 0));
    if (!graceful) return;
    for (const conn of this.#conns) {
      try {
        conn.sock.shutdown(0); // SHUT_RD: the peer's bytes already here are still read, then EOF
      } catch (err) {
        if (!(err instanceof OSError)) throw err; // ENOTCONN: the peer is already gone
      }
    }
  }

  /** Accept every connection waiting; refuse those past the limits, each with a reason where there is one. */
  #accept(): void {
    for (;;) {
      let sock: socket;
      let peer: unknown;
      try {
        [sock, peer] = this.listener.accept();
      } catch (err) {
        if (err instanceof BlockingIOError || err instanceof ConnectionError) return;
        if (!(err instanceof OSError)) throw err;
        // Out of fds (EMFILE) and the like: the connections being served go on.
        this.options.log(`accept failed: ${err.message}`);
        return;
      }
      if (this.options.model === 'select' && sock.fileno() >= FD_SETSIZE) {
        // select() watches fds below FD_SETSIZE only (CPython raises ValueError): refuse this one, serve the others.
        const [host, port] = peer as [string, number];
        this.options.log(`refusing ${host}:${port}: fd ${sock.fileno()} is past select()'s FD_SETSIZE (${FD_SETSIZE}); --model poll or epoll serve it`);
        sock.close();
        this.stats.refused++;
        continue;
      }
      if (this.options.full(this.stats)) {
        sock.close();
        this.stats.refused++;
        continue;
      }
      sock.setBlocking(false);
      const conn: Connection = { sock, out: [], pending: 0, eof: false };
      this.#conns.add(conn);
      this.#sel.register(sock, EVENT_READ, conn);
      this.stats.connections++;
      this.stats.active++;
    }
  }

  #serve(conn: Connection, mask: number): void {
    if (mask & EVENT_READ && !conn.eof) this.#read(conn);
    if (mask & EVENT_WRITE && this.#conns.has(conn)) this.#flush(conn);
  }

  #read(conn: Connection): void {
    let n: number;
    try {
      n = conn.sock.recvInto(this.#buf);
    } catch (err) {
      if (err instanceof BlockingIOError) return; // a spurious wake-up
      if (!(err instanceof ConnectionError)) throw err;
      return this.#close(conn); // reset: nobody is left to answer
    }
    if (n === 0) {
      conn.eof = true;
      return conn.pending === 0 ? this.#close(conn) : this.#interest(conn);
    }
    this.stats.messages++;
    this.stats.bytes += n;
    const data = this.#buf.subarray(0, n);
    if (this.options.upper) upperInPlace(data);
    if (conn.pending > 0) return this.#queue(conn, data); // behind what waits already
    let sent: number;
    try {
      sent = conn.sock.send(data);
    } catch (err) {
      if (err instanceof ConnectionError) return this.#close(conn);
      if (!(err instanceof BlockingIOError)) throw err;
      sent = 0;
    }
    if (sent < n) this.#queue(conn, data.subarray(sent));
  }

  /** Keep the rest of a reply (copied: #buf is reused) and wait for EVENT_WRITE. */
  #queue(conn: Connection, rest: Buffer): void {
    conn.out.push(Buffer.from(rest));
    conn.pending += rest.length;
    this.#interest(conn);
  }

  /** Send what the kernel takes now; close once all is sent after EOF. */
  #flush(conn: Connection): void {
    try {
      while (conn.out.length > 0) {
        const head = conn.out[0]!;
        const sent = conn.sock.send(head);
        conn.pending -= sent;
        if (sent < head.length) {
          conn.out[0] = head.subarray(sent);
          break;
        }
        conn.out.shift();
      }
    } catch (err) {
      if (err instanceof ConnectionError) return this.#close(conn);
      if (!(err instanceof BlockingIOError)) throw err;
    }
    if (conn.eof && conn.pending === 0) return this.#close(conn);
    this.#interest(conn);
  }

  /** Read while not too much waits to be sent; wait for EVENT_WRITE while anything does. */
  #interest(conn: Connection): void {
    const events = (!conn.eof && conn.pending < MAX_PENDING ? EVENT_READ : 0) | (conn.pending > 0 ? EVENT_WRITE : 0);
    if (events !== this.#sel.getKey(conn.sock).events) this.#sel.modify(conn.sock, events, conn);
  }

  #close(conn: Connection): void {
    if (!this.#conns.delete(conn)) return;
    this.#sel.unregister(conn.sock);
    conn.sock.close();
    this.stats.active--;
  }
}

/** Serve with one selector loop in this thread. */
export async function serveReactor(settings: Settings, model: SelectorModel): Promise<EchoServer> {
  const listener = createServer([settings.host, settings.port], { backlog: BACKLOG });
  const reactor = new Reactor(listener, {
    model,
    upper: settings.upper,
    full: (stats) => stats.active >= settings.maxConnections,
    log: settings.log,
  });
  return servedHere(model, listener.getSockName() as [string, number], reactor.stats, reactor.run(), (options) => reactor.stop(options));
}
