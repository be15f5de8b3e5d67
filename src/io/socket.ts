/**
 * Python's `socket` module (the twin of CPython's Lib/socket.py over
 * Modules/socketmodule.c): a `socket` class whose calls block the calling thread
 * exactly as Python's do, non-blocking and timeout modes, `socketpair`,
 * `fromFd`, `createConnection` and `createServer`.
 *
 * Modes follow CPython: `setTimeout(null)` is blocking (the fd is blocking);
 * `setTimeout(0)` is non-blocking (EAGAIN raises BlockingIOError); a positive
 * timeout sets O_NONBLOCK and each call waits in poll(2) for the time left, then
 * raises `TimeoutError('timed out')`. EINTR never escapes (PEP 475).
 * @module
 */
import { inspect } from 'node:util';
import { isIP } from 'node:net';
import { gaierror, MemoryError, OSError, OverflowError, ValueError } from '../errors.js';
import { io, ok } from './_native.js';
import {
  AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, IPPROTO_IPV6, IPV6_V6ONLY, SOCK_CLOEXEC, SOCK_NONBLOCK,
  SOCK_STREAM, SO_REUSEADDR, SOL_SOCKET,
} from './constants.js';

/**
 * A socket address as Python spells it: `[host, port]` for IPv4,
 * `[host, port, flowinfo?, scopeId?]` for IPv6, a path for AF_UNIX (a Buffer
 * starting with a NUL byte for Linux's abstract namespace).
 * @example
 * import { socket, type Address } from 'weft/io';
 * const addr: Address = ['127.0.0.1', 0];
 * using sock = new socket();
 * sock.bind(addr);
 * console.log(sock.getSockName()[0]); // 127.0.0.1
 */
export type Address =
  | readonly [host: string, port: number]
  | readonly [host: string, port: number, flowinfo: number, scopeId: number]
  | string
  | Buffer;

/**
 * Bytes accepted by `send` and friends (a Buffer or any Uint8Array).
 * @example
 * import { socketpair, type BytesLike } from 'weft/io';
 * const [a, b] = socketpair();
 * const data: BytesLike = new TextEncoder().encode('hi'); // any Uint8Array, not only a Buffer
 * console.log(a.send(data)); // 2
 * a.close(); b.close();
 */
export type BytesLike = Uint8Array;

/** Closes the fd of a socket that was garbage-collected without `close()`. */
const finalizer = new FinalizationRegistry<number>((fd) => {
  io.sockClose(fd);
});

const familyNames: Record<number, string> = { 1: 'AF_UNIX', 2: 'AF_INET', 10: 'AF_INET6' };
const typeNames: Record<number, string> = { 1: 'SOCK_STREAM', 2: 'SOCK_DGRAM', 3: 'SOCK_RAW', 5: 'SOCK_SEQPACKET' };

function checkBytes(data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`a bytes-like object is required, not '${data === null ? 'null' : typeof data}'`);
  }
}

/**
 * The buffer for recv/recvfrom(bufsize), with CPython's errors: Node's own
 * (a RangeError naming `size`) would not tell a Python user what went wrong.
 */
function recvBuffer(bufsize: unknown, what: string): Buffer {
  if (typeof bufsize !== 'number' || !Number.isInteger(bufsize)) {
    throw new TypeError(`bufsize must be an integer, got ${typeof bufsize === 'number' ? bufsize : typeof bufsize}`);
  }
  if (bufsize >= 2 ** 63) throw new OverflowError('Python int too large to convert to C ssize_t');
  if (bufsize < 0) throw new ValueError(`negative buffersize in ${what}`);
  try {
    return Buffer.allocUnsafe(bufsize);
  } catch (e) {
    if (e instanceof RangeError) throw new MemoryError(`cannot allocate ${bufsize} bytes for ${what}`, { cause: e });
    throw e;
  }
}

function checkTimeout(seconds: number | null): number {
  if (seconds === null) return -1;
  if (typeof seconds !== 'number' || Number.isNaN(seconds)) throw new TypeError('timeout must be a number or null');
  if (seconds < 0) throw new ValueError('Timeout value out of range');
  return seconds;
}

/**
 * Resolve `host` for `family` as Python's address parsing does: '' is the
 * wildcard, '<broadcast>' the broadcast address, numeric hosts pass through,
 * others go through getaddrinfo(3) (blocking, like Python).
 * @throws {gaierror} the name does not resolve.
 */
export function resolveHost(host: string, family: number): [family: number, address: string] {
  if (host === '') return [family, family === AF_INET6 ? '::' : '0.0.0.0'];
  if (host === '<broadcast>') return [family, '255.255.255.255'];
  const kind = isIP(host);
  if (kind === 4 && family !== AF_INET6) return [AF_INET, host];
  if (kind === 6 && family !== AF_INET) return [AF_INET6, host];
  const result = io.sockResolve(host, family);
  if (typeof result === 'number') throw new gaierror(result, io.sockGaiStrerror(result));
  const first = result[0];
  if (!first) throw new gaierror(-2, io.sockGaiStrerror(-2));
  return first;
}

/** Split an address into the native call's trailing (family, host, port, flowinfo, scope) arguments. */
function addressArgs(family: number, address: Address): [number, string | Buffer, number, number, number] {
  if (family === AF_UNIX) {
    if (typeof address === 'string' || Buffer.isBuffer(address)) return [AF_UNIX, address, 0, 0, 0];
    throw new TypeError(`AF_UNIX address must be str or bytes, not ${inspect(address)}`);
  }
  if (!Array.isArray(address) || typeof address[0] !== 'string' || typeof address[1] !== 'number') {
    const name = family === AF_INET6 ? 'AF_INET6' : 'AF_INET';
    throw new TypeError(`${name} address must be tuple, not ${typeof address}`);
  }
  const port = address[1];
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OverflowError('port must be 0-65535.');
  const [, host] = resolveHost(address[0], family);
  return [family, host, port, (address[2] as number | undefined) ?? 0, (address[3] as number | undefined) ?? 0];
}

function pyRepr(address: unknown): string {
  if (Array.isArray(address)) return `(${address.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')})`;
  return typeof address === 'string' ? `'${address}'` : inspect(address);
}

/**
 * Python's `socket.socket`: a BSD socket. Calls block the calling thread unless
 * the socket is non-blocking or has a timeout.
 * @example
 * import { AF_INET, SOCK_STREAM, socket } from 'weft/io';
 * const srv = new socket(AF_INET, SOCK_STREAM);
 * srv.bind(['127.0.0.1', 0]);
 * srv.listen(5);
 * const [host, port] = srv.getSockName() as [string, number];
 * console.log(host, port > 0); // 127.0.0.1 true
 * srv.close();
 */
export class socket {
  /** The address family (AF_INET, AF_INET6, AF_UNIX). */
  readonly family: number;
  /** The socket type (SOCK_STREAM, SOCK_DGRAM...), without SOCK_NONBLOCK/SOCK_CLOEXEC. */
  readonly type: number;
  /** The protocol number (0 for the family's default). */
  readonly proto: number;
  #fd: number;
  #timeout = -1;

  /**
   * @param family AF_INET (default), AF_INET6 or AF_UNIX.
   * @param type SOCK_STREAM (default) or SOCK_DGRAM..., optionally `| SOCK_NONBLOCK`.
   * @param proto protocol, 0 by default.
   * @param fileno adopt this open socket fd instead of creating one (the socket owns it from now on).
   * @throws {OSError} socket(2) failed (EAFNOSUPPORT, EMFILE...).
   */
  constructor(family = AF_INET, type = SOCK_STREAM, proto = 0, fileno?: number) {
    if (fileno === undefined) {
      this.#fd = ok(io.sockSocket(family, type & ~SOCK_NONBLOCK, proto));
    } else {
      if (!Number.isInteger(fileno) || fileno < 0) throw new ValueError(`negative file descriptor`);
      this.#fd = fileno;
    }
    this.family = family;
    this.type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    this.proto = proto;
    finalizer.register(this, this.#fd, this);
    if (type & SOCK_NONBLOCK) this.setBlocking(false);
  }

  /**
   * The file descriptor, or -1 once closed.
   * @example
   * import { socket } from 'weft/io';
   * const sock = new socket();
   * console.log(sock.fileno() > 2); // true
   * sock.close();
   * console.log(sock.fileno()); // -1
   */
  fileno(): number {
    return this.#fd;
  }

  /**
   * Close the socket; later calls on it raise `OSError` (EBADF). Idempotent.
   * @example
   * import { OSError, socket } from 'weft/io';
   * const sock = new socket();
   * sock.close();
   * sock.close(); // fine
   * try { sock.listen(); } catch (e) { console.log((e as OSError).code); } // EBADF
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    finalizer.unregister(this);
    io.sockClose(fd);
  }

  /**
   * Close on `using` (TypeScript's explicit resource management).
   * @example
   * import { socket } from 'weft/io';
   * const sock = new socket();
   * {
   *   using s = sock; // closed when the block ends
   * }
   * console.log(sock.fileno()); // -1
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Give up ownership of the fd without closing it; the socket acts closed.
   * @example
   * import { AF_INET, SOCK_STREAM, socket } from 'weft/io';
   * const sock = new socket();
   * const fd = sock.detach(); // sock acts closed, the fd stays open
   * console.log(sock.fileno(), fd > 2); // -1 true
   * new socket(AF_INET, SOCK_STREAM, 0, fd).close(); // adopt it again to close it
   */
  detach(): number {
    const fd = this.#fd;
    this.#fd = -1;
    finalizer.unregister(this);
    return fd;
  }

  /**
   * Bind to a local address (`['', 0]` for any interface and an ephemeral port).
   * @throws {OSError} EADDRINUSE and friends.
   * @throws {gaierror} unresolvable host.
   * @example
   * import { socket } from 'weft/io';
   * using sock = new socket();
   * sock.bind(['127.0.0.1', 0]); // port 0: the kernel picks a free one
   * console.log(sock.getSockName()[0]); // 127.0.0.1
   */
  bind(address: Address): void {
    const [family, host, port, flow, scope] = addressArgs(this.family, address);
    ok(io.sockBind(this.#fd, family, host, port, flow, scope));
  }

  /**
   * Accept connections, with a queue of `backlog` pending ones.
   * @example
   * import { SOL_SOCKET, SO_ACCEPTCONN, socket } from 'weft/io';
   * using sock = new socket();
   * sock.bind(['127.0.0.1', 0]);
   * sock.listen(100);
   * console.log(sock.getSockOpt(SOL_SOCKET, SO_ACCEPTCONN)); // 1
   */
  listen(backlog = 128): void {
    ok(io.sockListen(this.#fd, Math.max(0, Math.min(backlog, 0x7fffffff))));
  }

  /**
   * Accept a connection: `[conn, address]`. The new socket is blocking.
   * @throws {BlockingIOError} non-blocking listener with no connection pending.
   * @throws {TimeoutError} the listener's timeout ran out.
   * @example
   * import { createServer, socket } from 'weft/io';
   * using srv = createServer(['127.0.0.1', 0]);
   * using client = new socket();
   * client.connect(srv.getSockName());
   * const [conn, addr] = srv.accept();
   * console.log(addr[0], conn.getBlocking()); // 127.0.0.1 true
   * conn.close();
   */
  accept(): [socket, Address] {
    const r = io.sockAccept(this.#fd, this.#timeout);
    if (typeof r === 'number') ok(r);
    const [fd, address] = r as [number, Address];
    return [new socket(this.family, this.type, this.proto, fd), address];
  }

  /**
   * Connect to a remote address. Blocks until connected (or the timeout runs out).
   * @throws {ConnectionRefusedError} nobody listens there.
   * @throws {BlockingIOError} non-blocking (EINPROGRESS).
   * @throws {TimeoutError} the socket's timeout ran out.
   * @throws {gaierror} unresolvable host.
   * @example
   * import { createServer, socket } from 'weft/io';
   * using srv = createServer(['127.0.0.1', 0]);
   * using sock = new socket();
   * sock.connect(srv.getSockName());
   * console.log(sock.getPeerName()[1] === srv.getSockName()[1]); // true
   */
  connect(address: Address): void {
    const [family, host, port, flow, scope] = addressArgs(this.family, address);
    ok(io.sockConnect(this.#fd, this.#timeout, family, host, port, flow, scope));
  }

  /**
   * Like `connect` but returns the errno instead of raising (0 on success,
   * EINPROGRESS (115) for a non-blocking socket still connecting).
   * @throws {gaierror} unresolvable host (as Python, name errors still raise).
   * @example
   * import { socket } from 'weft/io';
   * using closed = new socket();
   * closed.bind(['127.0.0.1', 0]); // bound, not listening
   * using sock = new socket();
   * if (sock.connectEx(closed.getSockName()) !== 0) console.log('refused'); // refused
   */
  connectEx(address: Address): number {
    const [family, host, port, flow, scope] = addressArgs(this.family, address);
    const r = io.sockConnect(this.#fd, this.#timeout, family, host, port, flow, scope);
    if (r === -62) return 11; // a timeout is EAGAIN for connect_ex, as CPython (sock_connect_ex)
    return -r;
  }

  /**
   * Receive at most `bufsize` bytes. An empty Buffer means the peer closed (EOF).
   * @throws {BlockingIOError} non-blocking and nothing to read.
   * @throws {ConnectionResetError} the peer reset.
   * @throws {TimeoutError} the timeout ran out.
   * @throws {TypeError | ValueError | OverflowError | MemoryError} a bufsize that is not an integer, negative,
   *   past ssize_t, or too large to allocate (Python's errors, where Node would throw RangeError).
   * @example
   * import { socketpair } from 'weft/io';
   * const [conn, peer] = socketpair();
   * peer.sendAll(Buffer.from('hi'));
   * peer.close();
   * console.log(String(conn.recv(1024))); // hi
   * const data = conn.recv(1024);
   * if (data.length === 0) conn.close(); // EOF: the peer closed
   */
  recv(bufsize: number, flags = 0): Buffer {
    const buf = recvBuffer(bufsize, 'recv');
    const n = ok(io.sockRecv(this.#fd, buf, 0, bufsize, flags, this.#timeout));
    return n === bufsize ? buf : buf.subarray(0, n);
  }

  /**
   * Receive into `buffer` (at most `nbytes`, default its length); returns the count, 0 at EOF.
   * @throws {BlockingIOError} non-blocking and nothing to read.
   * @example
   * import { socketpair } from 'weft/io';
   * const [conn, peer] = socketpair();
   * peer.sendAll(Buffer.from('hello'));
   * const buf = Buffer.alloc(16);
   * const n = conn.recvInto(buf);
   * console.log(n, String(buf.subarray(0, n))); // 5 hello
   * conn.close(); peer.close();
   */
  recvInto(buffer: Uint8Array, nbytes = 0, flags = 0): number {
    checkBytes(buffer);
    if (nbytes < 0) throw new ValueError('negative buffersize in recv_into');
    if (nbytes > buffer.length) throw new ValueError('buffer too small for requested bytes');
    return ok(io.sockRecv(this.#fd, buffer, 0, nbytes || buffer.length, flags, this.#timeout));
  }

  /**
   * Receive a datagram: `[data, address]`.
   * @example
   * import { AF_INET, SOCK_DGRAM, socket } from 'weft/io';
   * using udp = new socket(AF_INET, SOCK_DGRAM);
   * udp.bind(['127.0.0.1', 0]);
   * using sender = new socket(AF_INET, SOCK_DGRAM);
   * sender.sendTo(Buffer.from('ping'), udp.getSockName());
   * const [data, addr] = udp.recvFrom(2048);
   * console.log(String(data), addr?.[0]); // ping 127.0.0.1
   */
  recvFrom(bufsize: number, flags = 0): [Buffer, Address | null] {
    const buf = recvBuffer(bufsize, 'recvfrom');
    const r = io.sockRecvFrom(this.#fd, buf, 0, bufsize, flags, this.#timeout);
    if (typeof r === 'number') ok(r);
    const [n, address] = r as [number, Address | null];
    return [buf.subarray(0, n), address];
  }

  /**
   * Receive a datagram into `buffer`: `[nbytes, address]`.
   * @example
   * import { AF_INET, SOCK_DGRAM, socket } from 'weft/io';
   * using udp = new socket(AF_INET, SOCK_DGRAM);
   * udp.bind(['127.0.0.1', 0]);
   * udp.sendTo(Buffer.from('ping'), udp.getSockName());
   * const buf = Buffer.alloc(2048);
   * const [n, addr] = udp.recvFromInto(buf);
   * console.log(n, String(buf.subarray(0, n)), addr?.[0]); // 4 ping 127.0.0.1
   */
  recvFromInto(buffer: Uint8Array, nbytes = 0, flags = 0): [number, Address | null] {
    checkBytes(buffer);
    const r = io.sockRecvFrom(this.#fd, buffer, 0, nbytes || buffer.length, flags, this.#timeout);
    if (typeof r === 'number') ok(r);
    return r as [number, Address | null];
  }

  /**
   * Send bytes; returns how many the kernel took (maybe fewer than given).
   * @throws {BrokenPipeError} the peer is gone (weft sends with MSG_NOSIGNAL: no SIGPIPE).
   * @throws {BlockingIOError} non-blocking and the send buffer is full.
   * @example
   * import { socketpair } from 'weft/io';
   * const [conn, peer] = socketpair();
   * console.log(conn.send(Buffer.from('hello'))); // 5
   * console.log(String(peer.recv(5))); // hello
   * conn.close(); peer.close();
   */
  send(data: BytesLike, flags = 0): number {
    checkBytes(data);
    return ok(io.sockSend(this.#fd, data, 0, data.length, flags, this.#timeout));
  }

  /**
   * Send all of `data`, waiting as needed (the timeout bounds the whole call).
   * @throws {BrokenPipeError} the peer is gone.
   * @throws {TimeoutError} the timeout ran out.
   * @example
   * import { socketpair } from 'weft/io';
   * const [conn, peer] = socketpair();
   * conn.sendAll(Buffer.alloc(64 * 1024)); // all of it, in as many send(2) calls as it takes
   * conn.close();
   * let total = 0;
   * for (let d = peer.recv(65536); d.length; d = peer.recv(65536)) total += d.length;
   * console.log(total); // 65536
   * peer.close();
   */
  sendAll(data: BytesLike, flags = 0): void {
    checkBytes(data);
    ok(io.sockSendAll(this.#fd, data, 0, data.length, flags, this.#timeout));
  }

  /**
   * Send a datagram to `address`.
   * @example
   * import { AF_INET, SOCK_DGRAM, socket } from 'weft/io';
   * using udp = new socket(AF_INET, SOCK_DGRAM);
   * udp.bind(['127.0.0.1', 0]);
   * console.log(udp.sendTo(Buffer.from('ping'), udp.getSockName())); // 4
   * console.log(String(udp.recv(16))); // ping
   */
  sendTo(data: BytesLike, address: Address, flags = 0): number {
    checkBytes(data);
    const [family, host, port, flow, scope] = addressArgs(this.family, address);
    return ok(io.sockSendTo(this.#fd, data, 0, data.length, flags, this.#timeout, family, host, port, flow, scope));
  }

  /**
   * Shut down one or both halves of the connection (SHUT_RD, SHUT_WR, SHUT_RDWR).
   * @example
   * import { SHUT_WR, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * a.sendAll(Buffer.from('question'));
   * a.shutdown(SHUT_WR); // the peer reads EOF; a can still read
   * console.log(String(b.recv(100)), b.recv(100).length); // question 0
   * b.sendAll(Buffer.from('answer'));
   * console.log(String(a.recv(100))); // answer
   * a.close(); b.close();
   */
  shutdown(how: number): void {
    ok(io.sockShutdown(this.#fd, how));
  }

  /**
   * `true`: blocking (timeout null); `false`: non-blocking (timeout 0).
   * @example
   * import { BlockingIOError, socketpair } from 'weft/io';
   * const [conn, peer] = socketpair();
   * conn.setBlocking(false);
   * try { conn.recv(10); } catch (e) { console.log(e instanceof BlockingIOError); } // true
   * conn.close(); peer.close();
   */
  setBlocking(flag: boolean): void {
    this.setTimeout(flag ? null : 0);
  }

  /**
   * Whether the socket waits at all (its timeout is not 0).
   * @example
   * import { socket } from 'weft/io';
   * using sock = new socket();
   * console.log(sock.getBlocking()); // true
   * sock.setTimeout(0);
   * console.log(sock.getBlocking()); // false
   */
  getBlocking(): boolean {
    return this.#timeout !== 0;
  }

  /**
   * Seconds each call may wait (`null`: forever; 0: non-blocking).
   * @throws {ValueError} negative timeout ('Timeout value out of range').
   * @example
   * import { TimeoutError, socketpair } from 'weft/io';
   * const [conn, peer] = socketpair();
   * conn.setTimeout(0.05);
   * try { conn.recv(10); } catch (e) { console.log(e instanceof TimeoutError, (e as Error).message); } // true timed out
   * conn.close(); peer.close();
   */
  setTimeout(seconds: number | null): void {
    const timeout = checkTimeout(seconds);
    if (this.#fd >= 0) ok(io.sockSetNonblock(this.#fd, timeout >= 0));
    this.#timeout = timeout;
  }

  /**
   * The timeout in seconds, or `null` when blocking.
   * @example
   * import { socket } from 'weft/io';
   * using sock = new socket();
   * console.log(sock.getTimeout()); // null
   * sock.setTimeout(2.5);
   * console.log(sock.getTimeout()); // 2.5
   */
  getTimeout(): number | null {
    return this.#timeout < 0 ? null : this.#timeout;
  }

  /**
   * The remote address.
   * @throws {OSError} ENOTCONN.
   * @example
   * import { createServer, socket } from 'weft/io';
   * using srv = createServer(['127.0.0.1', 0]);
   * using client = new socket();
   * client.connect(srv.getSockName());
   * const [conn] = srv.accept();
   * console.log(conn.getPeerName()[1] === client.getSockName()[1]); // true
   * conn.close();
   */
  getPeerName(): Address {
    const r = io.sockName(this.#fd, true);
    if (typeof r === 'number') ok(r);
    return r as Address;
  }

  /**
   * The local address.
   * @example
   * import { createServer } from 'weft/io';
   * using srv = createServer(['127.0.0.1', 0]);
   * const [host, port] = srv.getSockName() as [string, number]; // the ephemeral port the kernel chose
   * console.log(host, port > 0); // 127.0.0.1 true
   */
  getSockName(): Address {
    const r = io.sockName(this.#fd, false);
    if (typeof r === 'number') ok(r);
    return r as Address;
  }

  /**
   * Set an option: an integer (or boolean) value, or raw bytes (e.g. SO_LINGER's struct).
   * @example
   * import { SOL_SOCKET, SO_REUSEADDR, socket } from 'weft/io';
   * using sock = new socket();
   * sock.setSockOpt(SOL_SOCKET, SO_REUSEADDR, 1);
   * console.log(sock.getSockOpt(SOL_SOCKET, SO_REUSEADDR)); // 1
   */
  setSockOpt(level: number, option: number, value: number | boolean | Uint8Array): void {
    const v = typeof value === 'boolean' ? Number(value) : value;
    ok(io.sockSetOpt(this.#fd, level, option, v));
  }

  /**
   * Read an option: an integer, or `buflen` raw bytes when `buflen` is given.
   * @example
   * import { IPPROTO_TCP, SOL_SOCKET, SO_LINGER, TCP_NODELAY, socket } from 'weft/io';
   * using sock = new socket();
   * sock.setSockOpt(IPPROTO_TCP, TCP_NODELAY, true);
   * console.log(sock.getSockOpt(IPPROTO_TCP, TCP_NODELAY)); // 1
   * console.log(sock.getSockOpt(SOL_SOCKET, SO_LINGER, 8)); // <Buffer 00 00 00 00 00 00 00 00>
   */
  getSockOpt(level: number, option: number): number;
  getSockOpt(level: number, option: number, buflen: number): Buffer;
  getSockOpt(level: number, option: number, buflen = 0): number | Buffer {
    const r = io.sockGetOpt(this.#fd, level, option, buflen);
    if (typeof r === 'number') return ok(r);
    return r;
  }

  /**
   * A duplicate socket on a new fd.
   * @example
   * import { socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * const twin = a.dup();
   * a.close(); // the connection stays open through twin
   * twin.sendAll(Buffer.from('x'));
   * console.log(String(b.recv(1))); // x
   * twin.close(); b.close();
   */
  dup(): socket {
    return new socket(this.family, this.type, this.proto, ok(io.sockDup(this.#fd)));
  }

  /** Python's repr: `<socket.socket fd=5, family=2, type=1, proto=0, laddr=('127.0.0.1', 10000)>`. */
  toString(): string {
    const parts = [
      `fd=${this.#fd}`,
      `family=${familyNames[this.family] ?? this.family}`,
      `type=${typeNames[this.type] ?? this.type}`,
      `proto=${this.proto}`,
    ];
    if (this.#fd < 0) return `<socket.socket [closed] ${parts.join(', ')}>`;
    const local = io.sockName(this.#fd, false);
    if (typeof local !== 'number' && local !== '') parts.push(`laddr=${pyRepr(local)}`);
    const remote = io.sockName(this.#fd, true);
    if (typeof remote !== 'number' && remote !== '') parts.push(`raddr=${pyRepr(remote)}`);
    return `<socket.socket ${parts.join(', ')}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Python's `socket.socketpair()`: two connected sockets (AF_UNIX by default).
 * @example
 * import { socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * a.sendAll(Buffer.from('x'));
 * console.log(String(b.recv(1))); // x
 * a.close(); b.close();
 */
export function socketpair(family = AF_UNIX, type = SOCK_STREAM, proto = 0): [socket, socket] {
  const r = io.sockPair(family, type & ~SOCK_NONBLOCK, proto);
  if (typeof r === 'number') ok(r);
  const [a, b] = r as [number, number];
  const pair: [socket, socket] = [new socket(family, type, proto, a), new socket(family, type, proto, b)];
  return pair;
}

/**
 * Python's `socket.fromfd(fd, ...)`: a socket on a *duplicate* of `fd` (the
 * caller keeps `fd`). Family, type and protocol are read from the kernel when omitted.
 * @throws {OSError} ENOTSOCK / EBADF.
 * @example
 * import { fromFd, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * const s = fromFd(a.fileno()); // on a duplicate: a stays open
 * console.log(s.fileno() !== a.fileno(), s.family === a.family); // true true
 * s.close(); a.close(); b.close();
 */
export function fromFd(fd: number, family?: number, type?: number, proto?: number): socket {
  const info = io.sockInfo(fd);
  if (typeof info === 'number') ok(info);
  const [f, t, p] = info as [number, number, number];
  return new socket(family ?? f, type ?? t, proto ?? p, ok(io.sockDup(fd)));
}

/**
 * Python's `socket.create_connection(address, timeout, source_address)`: resolve
 * the host, try each address until one connects.
 * @throws {OSError} the last connection error.
 * @throws {gaierror} unresolvable host.
 * @example
 * import { createConnection, createServer } from 'weft/io';
 * using srv = createServer(['127.0.0.1', 0]);
 * const port = srv.getSockName()[1] as number;
 * using s = createConnection(['localhost', port], 5); // tries each address of localhost
 * console.log(s.getPeerName()[1] === port); // true
 */
export function createConnection(
  address: readonly [host: string, port: number],
  timeout: number | null = null,
  sourceAddress: Address | null = null,
): socket {
  const [host, port] = address;
  let candidates: [number, string][];
  const kind = isIP(host);
  if (kind) candidates = [[kind === 6 ? AF_INET6 : AF_INET, host]];
  else {
    const r = io.sockResolve(host, AF_UNSPEC);
    if (typeof r === 'number') throw new gaierror(r, io.sockGaiStrerror(r));
    candidates = r;
  }
  let last: unknown = new OSError(22, 'getaddrinfo returns an empty list');
  for (const [family, ip] of candidates) {
    const sock = new socket(family, SOCK_STREAM);
    try {
      if (timeout !== null) sock.setTimeout(timeout);
      if (sourceAddress !== null) sock.bind(sourceAddress);
      sock.connect([ip, port]);
      return sock;
    } catch (err) {
      last = err;
      sock.close();
    }
  }
  throw last;
}

/**
 * Options of {@link createServer}, Python's keyword arguments.
 * @example
 * import { AF_INET6, createServer, type CreateServerOptions } from 'weft/io';
 * const options: CreateServerOptions = { family: AF_INET6, backlog: 16, reusePort: true };
 * using srv = createServer(['::1', 0], options);
 * console.log(srv.getSockName()[0]); // ::1
 */
export interface CreateServerOptions {
  /** AF_INET (default) or AF_INET6. */
  family?: number;
  /** listen() backlog; default 128 (Python: a reasonable default). */
  backlog?: number;
  /** Set SO_REUSEPORT. */
  reusePort?: boolean;
  /** AF_INET6 only: also accept IPv4 (IPV6_V6ONLY off). */
  dualstackIpv6?: boolean;
}

/**
 * Python's `socket.create_server(address, family, backlog, reuse_port, dualstack_ipv6)`:
 * a listening TCP socket with SO_REUSEADDR set.
 * @example
 * import { createConnection, createServer } from 'weft/io';
 * using srv = createServer(['127.0.0.1', 0]);
 * const port = srv.getSockName()[1] as number;
 * using client = createConnection(['127.0.0.1', port]);
 * const [conn] = srv.accept();
 * console.log(conn.getPeerName()[1] === client.getSockName()[1]); // true
 * conn.close();
 */
export function createServer(address: Address, options: CreateServerOptions = {}): socket {
  const { family = AF_INET, backlog = 128, reusePort = false, dualstackIpv6 = false } = options;
  if (dualstackIpv6 && family !== AF_INET6) throw new ValueError('dualstack_ipv6 requires AF_INET6 family');
  const sock = new socket(family, SOCK_STREAM);
  try {
    sock.setSockOpt(SOL_SOCKET, SO_REUSEADDR, 1);
    if (reusePort) sock.setSockOpt(SOL_SOCKET, 15, 1);
    if (family === AF_INET6) sock.setSockOpt(IPPROTO_IPV6, IPV6_V6ONLY, dualstackIpv6 ? 0 : 1);
    sock.bind(address);
    sock.listen(backlog);
    return sock;
  } catch (err) {
    sock.close();
    throw err;
  }
}
