/**
 * `StreamServer`: the twin of gevent's `src/gevent/server.py` (with the
 * socket half of `_socketcommon.py`). Each accepted connection gets its own
 * greenlet running `handle(socket, address)`, where the socket is a
 * {@link CoroSocket}: Python-style `recv`/`sendAll`/`close` whose waits are
 * weft/coro waits (a kill or `Timeout` lands there).
 *
 * Like gevent's sockets, these are the operating system's own, non-blocking,
 * on the hub's I/O watcher (`watcher.ts`): `recv` is one recv(2) into the
 * caller's hands, with no stream layer in between. An echo of 1 KiB costs
 * about a third less CPU than through `node:net`.
 * @module
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { BrokenPipeError, ValueError, fromErrno } from '../errors.js';
import { AF_INET, AF_INET6, IPPROTO_TCP, SHUT_WR, SOCK_STREAM, SOL_SOCKET, SO_ERROR, TCP_NODELAY } from '../io/constants.js';
import { io, ok } from '../io/_native.js';
import { type socket as IoSocket, createServer } from '../io/socket.js';
import { Event } from './event.js';
import { Greenlet, GreenletExit, getCurrent } from './greenlet.js';
import { getHub, sleep } from './hub.js';
import { Group, Pool } from './pool.js';
import { type IoWatch, unwatch, waitFd, watchFd } from './watcher.js';

/**
 * A TCP address as Python writes it: `[host, port]`.
 * @example
 * import { StreamServer, type Address } from 'weft/coro';
 * const where: Address = ['127.0.0.1', 0];
 * const server = new StreamServer(where, () => {});
 * await server.start();
 * console.log(server.address[0]); // 127.0.0.1
 * await server.stop();
 */
export type Address = [host: string, port: number];

const EMPTY = Buffer.alloc(0);
const RESOLVED: Promise<void> = Promise.resolve();
const EAGAIN = -11;
const EINPROGRESS = -115;
const ECONNABORTED = -103;

/** recv(n) reads into this, then copies out what came: a 64 KiB Buffer per call would cost more than the copy. */
const scratch = Buffer.allocUnsafe(64 * 1024);

/** Sockets dropped without close(): their fds are closed when they are collected. */
const dropped = new FinalizationRegistry<IoWatch>((w) => {
  unwatch(w);
  io.sockClose(w.fd);
});

/** A host's address, resolved without blocking the event loop, and its family. */
async function resolve(host: string): Promise<[ip: string, family: number]> {
  const kind = isIP(host);
  const { address, family } = kind ? { address: host, family: kind } : await lookup(host);
  return [address, family === 6 ? AF_INET6 : AF_INET];
}

/** Every weft/coro socket is non-blocking (the hub waits for it) and sends without Nagle's delay. */
function prepare(fd: number): void {
  ok(io.sockSetNonblock(fd, true));
  io.sockSetOpt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

function toAddress(raw: unknown): Address {
  const a = raw as [string, number];
  return [a[0], a[1]];
}

/**
 * A connected TCP socket with Python's blocking-style methods, cooperative
 * underneath (gevent's `gevent.socket.socket` as a server handler gets it).
 * Made by a {@link StreamServer} for each connection, or by
 * {@link CoroSocket.connect}.
 * @example
 * import { CoroSocket, StreamServer } from 'weft/coro';
 * const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
 *   const data = await sock.recv(1024);
 *   if (data.length === 0) sock.close(); else await sock.sendAll(data);
 * });
 * await server.start();
 * const client = await CoroSocket.connect(server.address);
 * await client.sendAll('ping');
 * console.log(String(await client.recv(1024))); // ping
 * client.close();
 * await server.stop();
 */
export class CoroSocket {
  private readonly watch: IoWatch;
  private closed = false;
  private peerAddress: Address | undefined;

  /**
   * Take over a connected, non-blocking TCP socket's fd (it is closed with this object).
   * @internal
   */
  constructor(fd: number, peer?: Address) {
    this.watch = watchFd(fd);
    this.peerAddress = peer;
    dropped.register(this, this.watch, this);
  }

  /**
   * Connect to `[host, port]` (gevent's `create_connection`): the host is
   * resolved without blocking the event loop, the connect waits as a weft/coro wait.
   * @throws {OSError} e.g. `ConnectionRefusedError`
   * @example
   * import { CoroSocket, StreamServer } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], async (sock) => { await sock.sendAll('hi'); });
   * await server.start();
   * const sock = await CoroSocket.connect(server.address);
   * console.log(String(await sock.recv(1024))); // hi
   * sock.close();
   * await server.stop();
   */
  static async connect(address: Address): Promise<CoroSocket> {
    const [host, port] = address;
    const [ip, family] = await resolve(host);
    const fd = ok(io.sockSocket(family, SOCK_STREAM, 0));
    let sock: CoroSocket | undefined;
    try {
      prepare(fd);
      const r = io.sockConnect(fd, 0, family, ip, port);
      sock = new CoroSocket(fd);
      if (r === EINPROGRESS) {
        await waitFd(sock.watch, false);
        const err = io.sockGetOpt(fd, SOL_SOCKET, SO_ERROR, 0) as number;
        if (err !== 0) throw fromErrno(err);
      } else ok(r);
      return sock;
    } catch (e) {
      if (sock !== undefined) sock.close();
      else io.sockClose(fd);
      throw e;
    }
  }

  /** The peer's `[host, port]`. */
  get peer(): Address {
    if (this.peerAddress === undefined) {
      const raw = this.closed ? undefined : io.sockName(this.watch.fd, true);
      this.peerAddress = Array.isArray(raw) ? toAddress(raw) : ['', 0];
    }
    return this.peerAddress;
  }

  /**
   * The file descriptor, or -1 once closed (Python's `fileno()`).
   * @example
   * import { CoroSocket, StreamServer } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], () => {});
   * await server.start();
   * const sock = await CoroSocket.connect(server.address);
   * console.log(sock.fileno() > 2); // true
   * sock.close();
   * console.log(sock.fileno()); // -1
   * await server.stop();
   */
  fileno(): number {
    return this.closed ? -1 : this.watch.fd;
  }

  /**
   * Receive up to `n` bytes, waiting for at least one; an empty Buffer means
   * the peer closed its side (Python's `recv` returning `b''`).
   * @throws {ValueError} when `n` is not a positive integer
   * @throws {OSError} (e.g. `ConnectionResetError`) when the connection failed
   * @throws {GreenletExit} when the greenlet is killed while waiting
   * @example
   * import { CoroSocket, StreamServer } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], async (sock) => { await sock.sendAll('hi'); });
   * await server.start();
   * const sock = await CoroSocket.connect(server.address);
   * console.log(await sock.recv(1024)); // <Buffer 68 69>
   * sock.close();
   * await server.stop();
   */
  recv(n: number): Promise<Buffer> {
    if (!Number.isInteger(n) || n <= 0) {
      return Promise.reject(new ValueError(`recv(n): n must be a positive integer, got ${n}`));
    }
    try {
      const got = this.tryRecv(n);
      return got !== undefined ? Promise.resolve(got) : this.recvLater(n);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async recvLater(n: number): Promise<Buffer> {
    for (;;) {
      await waitFd(this.watch, true);
      const got = this.tryRecv(n);
      if (got !== undefined) return got;
    }
  }

  /** One recv(2): the bytes, EMPTY at EOF (or once closed), undefined when nothing has come yet. */
  private tryRecv(n: number): Buffer | undefined {
    if (this.closed) return EMPTY;
    const watch = this.watch;
    if (!watch.readable) return undefined;
    const into = n <= scratch.length ? scratch : Buffer.allocUnsafe(n);
    const got = io.sockRecv(watch.fd, into, 0, n, 0, 0);
    if (got > 0) {
      // Less than asked: the kernel buffer is empty now and the next data will
      // be an event, unless the peer hung up (then the EOF is left to read).
      if (got < n && !watch.hungUp) watch.readable = false;
      if (into !== scratch) return got === n ? into : into.subarray(0, got);
      const out = Buffer.allocUnsafe(got);
      scratch.copy(out, 0, 0, got);
      return out;
    }
    if (got === 0) return EMPTY;
    if (got === EAGAIN) {
      watch.readable = false;
      return undefined;
    }
    throw fromErrno(got);
  }

  /**
   * Send all of `data`, waiting while the kernel buffer is full.
   * @throws {BrokenPipeError} when the socket is closed
   * @throws {OSError} when the connection failed
   * @throws {GreenletExit} when the greenlet is killed while waiting
   * @example
   * import { CoroSocket, StreamServer } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], async (sock) => { await sock.sendAll(await sock.recv(1024)); });
   * await server.start();
   * const sock = await CoroSocket.connect(server.address);
   * await sock.sendAll(Buffer.from('hello'));
   * console.log(String(await sock.recv(1024))); // hello
   * sock.close();
   * await server.stop();
   */
  sendAll(data: Uint8Array | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    try {
      const sent = this.trySend(buf, 0);
      // the common case allocates no promise: it all fit in the kernel's buffer
      return sent === buf.length ? RESOLVED : this.sendLater(buf, sent);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async sendLater(buf: Uint8Array, done: number): Promise<void> {
    while (done < buf.length) {
      await waitFd(this.watch, false);
      done = this.trySend(buf, done);
    }
  }

  /** One send(2) of what is left: how far `buf` is sent now. */
  private trySend(buf: Uint8Array, done: number): number {
    if (this.closed) throw new BrokenPipeError(32);
    const watch = this.watch;
    if (!watch.writable) return done;
    const left = buf.length - done;
    const n = io.sockSend(watch.fd, buf, done, left, 0, 0);
    if (n >= 0) {
      if (n < left) watch.writable = false; // the kernel buffer is full
      return done + n;
    }
    if (n === EAGAIN) {
      watch.writable = false;
      return done;
    }
    throw fromErrno(n);
  }

  /**
   * Send `data` (all of it; Python's `send` may send less) and return its length.
   * @throws {BrokenPipeError} when the socket is closed
   * @example
   * import { CoroSocket, StreamServer } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], async (sock) => { await sock.sendAll(await sock.recv(1024)); });
   * await server.start();
   * const sock = await CoroSocket.connect(server.address);
   * console.log(await sock.send('hi')); // 2
   * console.log(String(await sock.recv(1024))); // hi
   * sock.close();
   * await server.stop();
   */
  async send(data: Uint8Array | string): Promise<number> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    await this.sendAll(buf);
    return buf.length;
  }

  /**
   * Close the writing side (Python's `shutdown(SHUT_WR)`): the peer reads EOF
   * after what was sent.
   * @example
   * import { CoroSocket, StreamServer } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
   *   const data = await sock.recv(1024);
   *   await sock.sendAll('ok');
   *   const eof = await sock.recv(1024);
   *   await sock.sendAll(`got ${data.length} bytes, then ${eof.length}`);
   * });
   * await server.start();
   * const sock = await CoroSocket.connect(server.address);
   * await sock.sendAll('abc');
   * await sock.recv(1024);
   * sock.shutdown(); // the server reads EOF and can still answer
   * console.log(String(await sock.recv(1024))); // got 3 bytes, then 0
   * sock.close();
   * await server.stop();
   */
  shutdown(): void {
    if (!this.closed) io.sockShutdown(this.watch.fd, SHUT_WR);
  }

  /**
   * Close the socket; data already sent is still delivered. A greenlet
   * parked in `recv` gets `b''`, one in `sendAll` a `BrokenPipeError`. Safe to call twice.
   * @example
   * import { CoroSocket, StreamServer } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
   *   await sock.sendAll('hi');
   *   console.log((await sock.recv(1024)).length); // 0
   * });
   * await server.start();
   * const sock = await CoroSocket.connect(server.address);
   * await sock.recv(1024);
   * sock.close(); // the handler's recv gets an empty Buffer
   * await server.stop();
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    dropped.unregister(this);
    unwatch(this.watch);
    io.sockClose(this.watch.fd);
  }
}

/**
 * Options of a {@link StreamServer}.
 * @example
 * import { StreamServer, type StreamServerOptions } from 'weft/coro';
 * const options: StreamServerOptions = { spawn: 1000, backlog: 500 }; // at most 1000 handlers at once
 * const server = new StreamServer('127.0.0.1:0', () => {}, options);
 * await server.start();
 * console.log(server.started); // true
 * await server.stop();
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
 * import { CoroSocket, StreamServer, type StreamHandler } from 'weft/coro';
 * const handle: StreamHandler = async (sock, [host]) => { await sock.sendAll(`hi ${host}\n`); };
 * const server = new StreamServer(['127.0.0.1', 0], handle);
 * await server.start();
 * const sock = await CoroSocket.connect(server.address);
 * console.log(String(await sock.recv(1024)).trim()); // hi 127.0.0.1
 * sock.close();
 * await server.stop();
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
 * import { StreamServer } from 'weft/coro';
 * const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
 *   for (let data = await sock.recv(1024); data.length; data = await sock.recv(1024)) await sock.sendAll(data);
 * });
 * await server.start();
 * const [host, port] = server.address; // port 0 asked: the kernel picked one
 * console.log(host, port > 0); // 127.0.0.1 true
 * await server.stop();
 */
export class StreamServer {
  private readonly wanted: Address;
  private readonly group: Group;
  private readonly backlog: number;
  private listener: IoSocket | undefined = undefined;
  private acceptor: Greenlet<void> | undefined = undefined;
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
    return this.listener !== undefined;
  }

  /**
   * Bind and start accepting connections.
   * @throws {OSError} (e.g. `[Errno 98] Address already in use`) when binding fails
   * @example
   * import { StreamServer } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], () => {});
   * await server.start();
   * console.log(server.started); // true
   * await server.stop();
   */
  async start(): Promise<void> {
    if (this.listener !== undefined) return;
    const [host, port] = this.wanted;
    const [ip, family] = await resolve(host);
    if (this.listener !== undefined) return; // started by another caller meanwhile
    const listener = createServer([ip, port], { family, backlog: this.backlog });
    let watch: IoWatch;
    try {
      listener.setBlocking(false);
      watch = watchFd(listener.fileno());
    } catch (e) {
      listener.close();
      throw e;
    }
    const [boundHost, boundPort] = listener.getSockName();
    this.bound = [boundHost as string, boundPort as number];
    this.listener = listener;
    this.stopped.clear();
    this.acceptor = new Greenlet(() => this.acceptLoop(watch));
    this.acceptor.name = `StreamServer ${ip}:${this.bound[1]}`;
    this.acceptor.start();
  }

  /**
   * Accept connections as they come; each goes to a greenlet of the group. A
   * full pool holds the loop, and so leaves further connections in the
   * kernel's backlog, as gevent does.
   */
  private async acceptLoop(watch: IoWatch): Promise<void> {
    try {
      for (;;) {
        const r = watch.readable ? io.sockAccept(watch.fd, 0) : EAGAIN;
        if (typeof r === 'number') {
          if (r === EAGAIN) {
            watch.readable = false;
            await waitFd(watch, true);
          }
          else if (r !== ECONNABORTED) {
            // e.g. out of fds (EMFILE): report, let handlers finish some, try again (gevent does the same)
            getHub().handleError('StreamServer accept', fromErrno(r));
            await sleep(0.1);
          }
          continue;
        }
        const [fd, peer] = r as [number, unknown];
        let sock: CoroSocket;
        try {
          prepare(fd);
          sock = new CoroSocket(fd, toAddress(peer));
        } catch (e) {
          io.sockClose(fd);
          getHub().handleError('StreamServer accept', e);
          continue;
        }
        this.sockets.add(sock);
        if (this.group.full()) await this.group.waitAvailable();
        // A pool shared with other code may hand the freed slot elsewhere; the
        // spawn then waits, and a stop() that kills the acceptor rejects it.
        this.group.spawn(this.serve, sock).catch(() => {
          this.sockets.delete(sock);
          sock.close();
        });
      }
    } finally {
      unwatch(watch);
    }
  }

  private readonly serve = async (sock: CoroSocket): Promise<void> => {
    const address = sock.peer;
    try {
      await this.handle(sock, address);
    } catch (e) {
      if (e instanceof GreenletExit) throw e; // a kill (stop() gave up waiting): no failure to report
      getHub().handleError(`${String(getCurrent())} handling ${address[0]}:${address[1]}`, e);
    } finally {
      sock.close();
      this.sockets.delete(sock);
    }
  };

  /**
   * Start if needed and wait until {@link stop} is called (gevent's `serve_forever`).
   * @throws {OSError} when binding fails
   * @example
   * import { StreamServer, spawnLater } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], () => {});
   * spawnLater(0.05, () => server.stop()); // else serveForever never returns
   * await server.serveForever();
   * console.log(server.started); // false
   */
  async serveForever(): Promise<void> {
    await this.start();
    await this.stopped.wait();
  }

  /**
   * Stop accepting, give running handlers up to `timeout` seconds (default 1)
   * to finish, then kill the rest and close their sockets.
   * @example
   * import { CoroSocket, StreamServer, sleep } from 'weft/coro';
   * const server = new StreamServer(['127.0.0.1', 0], async (sock) => { await sock.sendAll('hi'); await sleep(60); });
   * await server.start();
   * const sock = await CoroSocket.connect(server.address);
   * await sock.recv(1024);
   * await server.stop(0.05); // the handler gets 50 ms, then it is killed
   * console.log((await sock.recv(1024)).length); // 0
   * sock.close();
   */
  async stop(timeout = 1): Promise<void> {
    const listener = this.listener;
    if (listener === undefined) return;
    this.listener = undefined;
    await this.acceptor?.kill();
    this.acceptor = undefined;
    listener.close();
    if (!(await this.group.join({ timeout }))) await this.group.kill({ timeout: 1 });
    for (const s of this.sockets) s.close();
    this.sockets.clear();
    this.stopped.set();
  }
}
