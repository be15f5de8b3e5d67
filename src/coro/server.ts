/**
 * `StreamServer`: the twin of gevent's `src/gevent/server.py` (with the
 * socket half of `_socketcommon.py`). Listens with `node:net`; each accepted
 * connection gets its own greenlet running `handle(socket, address)`, where
 * the socket is a {@link CoroSocket}: Python-style `recv`/`sendAll`/`close`
 * whose waits are weft/coro waits (a kill or `Timeout` lands there).
 * @module
 */
import * as net from 'node:net';
import { BrokenPipeError, ValueError, fromErrno } from '../errors.js';
import { Event } from './event.js';
import { getCurrent } from './greenlet.js';
import { type Waiter, getHub, newWaiter } from './hub.js';
import { Group, Pool } from './pool.js';

/**
 * A TCP address as Python writes it: `[host, port]`.
 * @example
 * const a: Address = ['127.0.0.1', 5566];
 */
export type Address = [host: string, port: number];

const EMPTY = Buffer.alloc(0);
const RESOLVED: Promise<void> = Promise.resolve();

/** Past this many unread bytes the socket stops reading until `recv` catches up. */
const HIGH_WATER = 256 * 1024;

/** Node's socket error (errno negative, code 'ECONNRESET') as Python's OSError subclass. */
function toOSError(error: Error): Error {
  const errno = (error as { errno?: unknown }).errno;
  if (typeof errno === 'number' && errno !== 0) return fromErrno(errno);
  return error;
}

/**
 * A connected TCP socket with Python's blocking-style methods, cooperative
 * underneath (gevent's `gevent.socket.socket` as a server handler gets it).
 * @example
 * const data = await sock.recv(1024);
 * if (data.length === 0) sock.close(); else await sock.sendAll(data);
 */
export class CoroSocket {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private eof = false;
  private error: Error | undefined = undefined;
  /** The greenlet parked in `recv`, and how many bytes it asked for. */
  private reader: Waiter<Buffer> | undefined = undefined;
  private wanted = 0;
  private closed = false;

  /** @param socket a connected `net.Socket` (weft takes over its events) */
  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const r = this.reader;
      if (r !== undefined && this.buffered === 0) {
        // hand the bytes straight to the parked reader: one hop less per message
        this.reader = undefined;
        if (chunk.length <= this.wanted) {
          r.switch(chunk);
          return;
        }
        r.switch(chunk.subarray(0, this.wanted));
        chunk = chunk.subarray(this.wanted);
      }
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered > HIGH_WATER) socket.pause();
    });
    socket.on('end', () => {
      this.eof = true;
      this.wakeEmpty();
    });
    socket.on('error', (e) => {
      this.error = toOSError(e);
      const r = this.reader;
      this.reader = undefined;
      r?.throw(this.error);
    });
    socket.on('close', () => {
      this.eof = true;
      this.wakeEmpty();
    });
  }

  /** EOF or close: a parked reader gets `b''`. */
  private wakeEmpty(): void {
    const r = this.reader;
    if (r !== undefined) {
      this.reader = undefined;
      r.switch(EMPTY);
    }
  }

  /** The peer's `[host, port]`. */
  get peer(): Address {
    return [this.socket.remoteAddress ?? '', this.socket.remotePort ?? 0];
  }

  /**
   * Receive up to `n` bytes, waiting for at least one; an empty Buffer means
   * the peer closed its side (Python's `recv` returning `b''`).
   * @throws {ValueError} when `n` is not a positive integer
   * @throws {OSError} (e.g. `ConnectionResetError`) when the connection failed
   * @throws {GreenletExit} when the greenlet is killed while waiting
   * @example
   * const data = await sock.recv(1024);
   */
  recv(n: number): Promise<Buffer> {
    if (!Number.isInteger(n) || n <= 0) {
      return Promise.reject(new ValueError(`recv(n): n must be a positive integer, got ${n}`));
    }
    if (this.buffered > 0) return Promise.resolve(this.take(n));
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.eof || this.closed) return Promise.resolve(EMPTY);
    if (this.reader !== undefined) {
      return Promise.reject(new Error('recv(): another greenlet is already reading this socket'));
    }
    const w = newWaiter<Buffer>();
    if (w.settled) return w.promise;
    this.reader = w;
    this.wanted = n;
    w.cleanup = () => {
      if (this.reader === w) this.reader = undefined;
    };
    return w.promise;
  }

  private take(n: number): Buffer {
    let out: Buffer;
    const head = this.chunks[0]!;
    if (head.length <= n) {
      this.chunks.shift();
      out = head;
    } else {
      out = head.subarray(0, n);
      this.chunks[0] = head.subarray(n);
    }
    this.buffered -= out.length;
    if (this.buffered <= HIGH_WATER && this.socket.isPaused() && !this.closed) this.socket.resume();
    return out;
  }

  /**
   * Send all of `data`, waiting while the kernel buffer is full.
   * @throws {BrokenPipeError} when the socket is closed
   * @throws {OSError} when the connection failed
   * @throws {GreenletExit} when the greenlet is killed while waiting
   * @example
   * await sock.sendAll(Buffer.from('hello'));
   */
  sendAll(data: Uint8Array | string): Promise<void> {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.closed || this.socket.writableEnded || this.socket.destroyed) {
      return Promise.reject(new BrokenPipeError(32));
    }
    // the common case allocates no promise: the data fit in the socket's buffer
    if (this.socket.write(data)) return RESOLVED;
    return this.drained();
  }

  /** Wait for 'drain' after a write that filled the buffer. */
  private async drained(): Promise<void> {
    const w = newWaiter<void>();
    if (w.settled) return w.promise;
    const onDrain = (): void => w.switch(undefined);
    const onClose = (): void => w.throw(this.error ?? new BrokenPipeError(32));
    this.socket.once('drain', onDrain);
    this.socket.once('close', onClose);
    w.cleanup = () => {
      this.socket.off('drain', onDrain);
      this.socket.off('close', onClose);
    };
    try {
      await w.promise;
    } finally {
      this.socket.off('drain', onDrain);
      this.socket.off('close', onClose);
    }
  }

  /**
   * Send `data` (all of it; Python's `send` may send less) and return its length.
   * @throws {BrokenPipeError} when the socket is closed
   * @example
   * await sock.send('hi');
   */
  async send(data: Uint8Array | string): Promise<number> {
    await this.sendAll(data);
    return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  }

  /**
   * Close the writing side once pending data is sent (Python's `shutdown(SHUT_WR)`).
   * @example
   * sock.shutdown();
   */
  shutdown(): void {
    if (!this.closed && !this.socket.writableEnded) this.socket.end();
  }

  /**
   * Close the socket; data already sent is still delivered. Safe to call twice.
   * @example
   * sock.close();
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const s = this.socket;
    if (s.destroyed) return;
    if (s.writableLength > 0 && !s.writableEnded) s.end(() => s.destroy());
    else s.destroy();
    this.wakeEmpty();
  }
}

/**
 * Options of a {@link StreamServer}.
 * @example
 * new StreamServer(':5566', handle, { spawn: 1000, backlog: 500 });
 */
export interface StreamServerOptions {
  /** Run handlers in this pool (bounds concurrent connections). */
  pool?: Pool | Group;
  /** Or: at most this many concurrent handlers (gevent's `spawn=N`). */
  spawn?: number;
  /** The listen backlog (default 511; the seed uses 500). */
  backlog?: number;
}

/**
 * The handler: gets the connection's socket and the peer's `[host, port]`.
 * @example
 * const handle: StreamHandler = async (sock, [host, port]) => { await sock.sendAll(`hi ${host}:${port}\n`); };
 */
export type StreamHandler = (socket: CoroSocket, address: Address) => unknown;

function parseAddress(listener: Address | string | number): Address {
  if (typeof listener === 'number') return ['0.0.0.0', listener];
  if (Array.isArray(listener)) {
    const [host, port] = listener;
    if (typeof host !== 'string' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ValueError(`StreamServer: bad address ${JSON.stringify(listener)}; expected [host, port] with 0 <= port <= 65535`);
    }
    return [host === '' ? '0.0.0.0' : host, port];
  }
  const m = /^(.*):(\d+)$/.exec(listener);
  if (m === null) throw new ValueError(`StreamServer: bad address '${listener}'; expected 'host:port' or ':port'`);
  return parseAddress([m[1]!.replace(/^\[|\]$/g, ''), Number(m[2])]);
}

/**
 * A TCP server running one greenlet per connection (gevent's `StreamServer`).
 * An exception in a handler is reported and that connection closed; the
 * server keeps serving. The socket is closed when the handler returns.
 * @example
 * const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
 *   for (let data = await sock.recv(1024); data.length; data = await sock.recv(1024)) await sock.sendAll(data);
 * });
 * await server.start();
 * console.log(server.address);   // ['127.0.0.1', 43121]
 * await server.stop();
 */
export class StreamServer {
  private readonly wanted: Address;
  private readonly group: Group;
  private readonly backlog: number;
  private server: net.Server | undefined = undefined;
  private readonly sockets = new Set<CoroSocket>();
  private readonly stopped = new Event();
  private bound: Address | undefined = undefined;

  /**
   * @param listener `[host, port]`, `'host:port'`, `':port'` or a port (port 0: any free port)
   * @param handle called in a new greenlet for each connection
   * @throws {ValueError} on a bad address, or both `pool` and `spawn`
   */
  constructor(
    listener: Address | string | number,
    private readonly handle: StreamHandler,
    options: StreamServerOptions = {},
  ) {
    if (typeof handle !== 'function') throw new TypeError('StreamServer: handle must be a function (socket, address) => ...');
    if (options.pool !== undefined && options.spawn !== undefined) {
      throw new ValueError('StreamServer: give either pool or spawn, not both');
    }
    this.wanted = parseAddress(listener);
    this.group = options.pool ?? (options.spawn !== undefined ? new Pool(options.spawn) : new Group());
    this.backlog = options.backlog ?? 511;
  }

  /** The bound `[host, port]` once started (the real port when 0 was asked). */
  get address(): Address {
    return this.bound ?? this.wanted;
  }

  /** True while listening. */
  get started(): boolean {
    return this.server !== undefined;
  }

  /**
   * Bind and start accepting connections.
   * @throws {OSError} (e.g. `[Errno 98] Address already in use`) when binding fails
   * @example
   * await server.start();
   */
  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const server = net.createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(toOSError(e)));
      server.listen({ host: this.wanted[0], port: this.wanted[1], backlog: this.backlog }, () => resolve());
    });
    server.on('error', (e) => getHub().handleError('StreamServer', e));
    const a = server.address() as net.AddressInfo;
    this.bound = [a.address, a.port];
    this.server = server;
    this.stopped.clear();
  }

  private accept(raw: net.Socket): void {
    const sock = new CoroSocket(raw);
    this.sockets.add(sock);
    const address: Address = sock.peer;
    const run = async (): Promise<void> => {
      try {
        await this.handle(sock, address);
      } catch (e) {
        getHub().handleError(`${String(getCurrent())} handling ${address[0]}:${address[1]}`, e);
      } finally {
        sock.close();
        this.sockets.delete(sock);
      }
    };
    if (this.group.full()) {
      // a full pool: the connection waits for a slot, unread, like a backlog
      void this.group.spawn(run).catch(() => sock.close());
    } else void this.group.spawn(run);
  }

  /**
   * Start if needed and wait until {@link stop} is called (gevent's `serve_forever`).
   * @throws {OSError} when binding fails
   * @example
   * await server.serveForever();
   */
  async serveForever(): Promise<void> {
    await this.start();
    await this.stopped.wait();
  }

  /**
   * Stop accepting, give running handlers up to `timeout` seconds (default 1)
   * to finish, then kill the rest and close their sockets.
   * @example
   * await server.stop(2);
   */
  async stop(timeout = 1): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (!(await this.group.join({ timeout }))) await this.group.kill({ timeout: 1 });
    for (const s of this.sockets) s.close();
    this.sockets.clear();
    await closed;
    this.stopped.set();
  }
}
