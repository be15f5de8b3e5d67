/**
 * Python's `select` module (the twin of CPython's Modules/selectmodule.c):
 * `select()`, `poll()` objects and `epoll` objects. Each accepts sockets, any
 * object with `fileno()`, or fd numbers. Waits block the calling thread, as in
 * Python; times are seconds except `Poll.poll`, which takes milliseconds as
 * Python's does.
 * @module
 */
import { FileNotFoundError, KeyError, OSError, OverflowError, ValueError } from '../errors.js';
import { io, ok } from './_native.js';
import { EPOLL_CLOEXEC, EPOLLIN, EPOLLOUT, EPOLLPRI, FD_SETSIZE, POLLIN, POLLOUT, POLLPRI } from './constants.js';

/**
 * What select/poll/epoll/selectors accept: an fd or an object with `fileno()`.
 * @example
 * import { select, socketpair, type FileLike } from 'weft/io';
 * const [a, b] = socketpair();
 * const watched: FileLike[] = [a, b.fileno(), { fileno: () => a.fileno() }]; // sockets, fds, anything with fileno()
 * const [, writable] = select([], watched, [], 0);
 * console.log(writable.length); // 3
 * a.close(); b.close();
 */
export type FileLike = number | { fileno(): number };

/**
 * An fd from a FileLike, as CPython's `PyObject_AsFileDescriptor`.
 * @throws {TypeError} neither a number nor an object with fileno().
 * @throws {ValueError} a negative fd.
 */
export function fdOf(fileobj: FileLike): number {
  let fd: unknown;
  if (typeof fileobj === 'number') fd = fileobj;
  else if (fileobj !== null && typeof fileobj === 'object' && typeof fileobj.fileno === 'function') fd = fileobj.fileno();
  else throw new TypeError('argument must be an int, or have a fileno() method.');
  if (typeof fd !== 'number' || !Number.isInteger(fd)) throw new TypeError('fileno() returned a non-integer');
  if (fd < 0) throw new ValueError(`file descriptor cannot be a negative integer (${fd})`);
  return fd;
}

/**
 * Python's `math.ceil` of a float, its errors included: the selectors round
 * a timeout up to whole milliseconds with it. @internal
 */
export function pyCeil(x: number): number {
  if (Number.isNaN(x)) throw new ValueError('cannot convert float NaN to integer');
  if (!Number.isFinite(x)) throw new OverflowError('cannot convert float infinity to integer');
  return Math.ceil(x);
}

/**
 * CPython converts every timeout to a `_PyTime_t` (int64 nanoseconds) first;
 * `nanosPerUnit` is 1e9 for seconds, 1e6 for milliseconds. Its errors, texts
 * included: NaN, an integer past int64 and anything whose nanoseconds overflow.
 */
function checkPyTime(t: number, nanosPerUnit: number): void {
  if (Number.isNaN(t)) throw new ValueError('Invalid value NaN (not a number)');
  if (Number.isInteger(t) && Math.abs(t) >= 2 ** 63) throw new OverflowError('timestamp too large to convert to C _PyTime_t');
  if (!(Math.abs(t * nanosPerUnit) < 2 ** 63)) throw new OverflowError('timestamp out of range for platform time_t');
}

/** select()'s timeout in seconds (-1: forever), checked as CPython's select_select_impl. @internal */
export function selectTimeout(timeout: unknown): number {
  if (timeout === null || timeout === undefined) return -1;
  if (typeof timeout !== 'number') throw new TypeError('timeout must be a float or None');
  checkPyTime(timeout, 1e9);
  if (timeout < 0) throw new ValueError('timeout must be non-negative');
  return timeout;
}

/**
 * poll(2)/epoll_wait(2) take an int of milliseconds; CPython rounds up and
 * refuses what does not fit ('timeout is too large'). Negative waits forever.
 * Returns seconds for the native call (-1: forever). @internal
 */
export function millisTimeout(timeout: unknown, nanosPerUnit: number): number {
  if (timeout === null || timeout === undefined) return -1;
  if (typeof timeout !== 'number') throw new TypeError('timeout must be an integer or None');
  checkPyTime(timeout, nanosPerUnit);
  // Rounded away from zero (_PyTime_ROUND_TIMEOUT): -1e-100 ms still waits forever.
  const exact = (timeout * nanosPerUnit) / 1e6;
  const ms = exact >= 0 ? Math.ceil(exact) : Math.floor(exact);
  if (ms < -(2 ** 31) || ms > 2 ** 31 - 1) throw new OverflowError('timeout is too large');
  return ms < 0 ? -1 : ms / 1000;
}

/** A poll event mask, checked as CPython's `unsigned short` converter. */
function pollMask(eventmask: unknown): number {
  if (typeof eventmask !== 'number' || !Number.isInteger(eventmask)) throw new TypeError('an integer is required');
  if (eventmask < 0) throw new ValueError('value must be positive');
  if (eventmask > 0xffff) throw new OverflowError('Python int too large for C unsigned short');
  return eventmask;
}

/** An int argument, checked as CPython's `int` converter (`what` names it). */
function cInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${what} must be an integer, not ${typeof value}`);
  if (value < -(2 ** 31) || value > 2 ** 31 - 1) throw new OverflowError('Python int too large to convert to C int');
  return value;
}

function fdsForSelect<T extends FileLike>(list: readonly T[]): Int32Array {
  if (!Array.isArray(list)) throw new TypeError('arguments 1-3 must be sequences');
  // A fileno() may shrink the list (CPython issue 16230): stop at its current end.
  const fds: number[] = [];
  for (let i = 0; i < list.length; i++) {
    const fd = fdOf(list[i] as T);
    if (fd >= FD_SETSIZE) throw new ValueError('filedescriptor out of range in select()');
    fds.push(fd);
  }
  return Int32Array.from(fds);
}

/**
 * Python's `select.select(rlist, wlist, xlist, timeout)`: wait until some are
 * ready to read, to write, or have an exceptional condition; returns the ready
 * objects of each list (the same objects, in order). `timeout` in seconds,
 * `null`/omitted waits forever, 0 polls.
 * @throws {TypeError} a list that is not an array ('arguments 1-3 must be sequences'), a timeout that is not a
 *   number ('timeout must be a float or None'); every argument is checked before any wait.
 * @throws {ValueError} an fd >= 1024 ('filedescriptor out of range in select()'), checked before any call;
 *   a negative fd or timeout; a NaN timeout.
 * @throws {OverflowError} a timeout too large for the kernel (Infinity, 1e10: 'timestamp out of range for platform time_t').
 * @throws {OSError} EBADF for a closed fd.
 * @example
 * import { createServer, select, socket } from 'weft/io';
 * using server = createServer(['127.0.0.1', 0]);
 * using conn = new socket();
 * conn.connect(server.getSockName());
 * const [readable, writable] = select([server, conn], [conn], [], 1.0);
 * console.log(readable.length, writable.length); // 1 1
 * server.accept()[0].close();
 */
export function select<R extends FileLike, W extends FileLike, X extends FileLike>(
  rlist: readonly R[],
  wlist: readonly W[],
  xlist: readonly X[],
  timeout: number | null = null,
): [R[], W[], X[]] {
  const t = selectTimeout(timeout);
  const r = fdsForSelect(rlist);
  const w = fdsForSelect(wlist);
  const x = fdsForSelect(xlist);
  ok(io.selectWait(r, w, x, t));
  return [rlist.filter((_, i) => r[i] !== -1), wlist.filter((_, i) => w[i] !== -1), xlist.filter((_, i) => x[i] !== -1)];
}

/**
 * Python's poll object (`select.poll()`): a set of fds with event masks, waited
 * on with poll(2). Registration is kept in a map and the `struct pollfd` array
 * is rebuilt only when it changed, as CPython does (`ufd_uptodate`).
 * @example
 * import { POLLIN, poll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * const p = poll();
 * p.register(b, POLLIN);
 * a.sendAll(Buffer.from('x'));
 * for (const [fd, events] of p.poll(1000)) console.log(fd === b.fileno(), events === POLLIN); // true true
 * a.close(); b.close();
 */
export class Poll {
  #fds = new Map<number, number>();
  #ufds = new Int32Array(16);
  #uptodate = false;

  /**
   * Watch `fd` for `eventmask` (default POLLIN | POLLPRI | POLLOUT); re-registering modifies.
   * @throws {TypeError} a mask that is not an integer.
   * @throws {ValueError} a negative mask ('value must be positive').
   * @throws {OverflowError} a mask above 0xffff (poll(2)'s `short events`).
   * @example
   * import { POLLIN, POLLOUT, poll, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * const p = poll();
   * p.register(a, POLLIN | POLLOUT);
   * console.log(p.poll(0)[0][1] === POLLOUT); // true
   * a.close(); b.close();
   */
  register(fd: FileLike, eventmask: number = POLLIN | POLLPRI | POLLOUT): void {
    const mask = pollMask(eventmask);
    this.#fds.set(fdOf(fd), mask);
    this.#uptodate = false;
  }

  /**
   * Change the mask of a registered fd.
   * @throws {FileNotFoundError} the fd is not registered ([Errno 2], as Python).
   * @throws {TypeError | ValueError | OverflowError} a bad mask, as {@link Poll.register}.
   * @example
   * import { POLLIN, POLLOUT, poll, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * const p = poll();
   * p.register(a, POLLIN);
   * p.modify(a, POLLOUT);
   * console.log(p.poll(0).length); // 1
   * a.close(); b.close();
   */
  modify(fd: FileLike, eventmask: number): void {
    const n = fdOf(fd);
    const mask = pollMask(eventmask);
    if (!this.#fds.has(n)) throw new FileNotFoundError(2);
    this.#fds.set(n, mask);
    this.#uptodate = false;
  }

  /**
   * Stop watching `fd`.
   * @throws {KeyError} the fd is not registered.
   * @example
   * import { poll, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * const p = poll();
   * p.register(a);
   * p.unregister(a);
   * console.log(p.poll(0)); // []
   * a.close(); b.close();
   */
  unregister(fd: FileLike): void {
    const n = fdOf(fd);
    if (!this.#fds.delete(n)) throw new KeyError(String(n));
    this.#uptodate = false;
  }

  /**
   * Wait up to `timeout` **milliseconds** (null/omitted or negative: forever);
   * returns `[fd, revents]` pairs for the ready fds.
   * @throws {TypeError} a timeout that is not a number ('timeout must be an integer or None').
   * @throws {ValueError} a NaN timeout.
   * @throws {OverflowError} a timeout beyond poll(2)'s int milliseconds ('timeout is too large').
   * @example
   * import { POLLIN, poll, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * const p = poll();
   * p.register(b, POLLIN);
   * const events = p.poll(20); // waits 20 ms: milliseconds, as in Python
   * console.log(events); // []
   * a.close(); b.close();
   */
  poll(timeout: number | null = null): [fd: number, events: number][] {
    const t = millisTimeout(timeout, 1e6);
    if (!this.#uptodate) this.#rebuild();
    const count = this.#fds.size;
    const n = ok(io.pollWait(this.#ufds, count, t));
    const out: [number, number][] = [];
    if (n === 0) return out;
    const ufds = this.#ufds;
    for (let i = 0; i < count && out.length < n; i++) {
      const revents = ufds[2 * i + 1]! >>> 16;
      if (revents) out.push([ufds[2 * i]!, revents]);
    }
    return out;
  }

  #rebuild(): void {
    if (this.#ufds.length < this.#fds.size * 2) this.#ufds = new Int32Array(this.#fds.size * 4);
    let i = 0;
    for (const [fd, mask] of this.#fds) {
      this.#ufds[i++] = fd;
      this.#ufds[i++] = mask; // events in the low half, revents (high half) cleared
    }
    this.#uptodate = true;
  }
}

/**
 * Python's `select.poll()`: a new {@link Poll} object.
 * @example
 * import { POLLIN, poll, socketpair } from 'weft/io';
 * const [conn, peer] = socketpair();
 * const p = poll();
 * p.register(conn, POLLIN);
 * peer.close();
 * console.log(p.poll(0).length); // 1
 * conn.close();
 */
export function poll(): Poll {
  return new Poll();
}

/** epoll_ctl(2) operations (Python keeps them private too; weft/coro's watcher uses them). @internal */
export const EPOLL_CTL_ADD = 1;
/** @internal */
export const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;

/** Python's bare `OSError('invalid flags')` (EINVAL is what epoll_create1(2) would say). */
function invalidFlags(): OSError {
  const e = new OSError(22, 'invalid flags');
  e.message = 'invalid flags';
  return e;
}

/** The fd `epoll.fromFd` hands to the constructor (-1: create one). */
let adopting = -1;

const epollFinalizer = new FinalizationRegistry<number>((fd) => {
  io.sockClose(fd);
});

/**
 * Python's `select.epoll`: an edge- or level-triggered interest list in the
 * kernel (epoll(7)); `poll` returns only the ready fds, without scanning.
 * @example
 * import { EPOLLIN, epoll, socketpair } from 'weft/io';
 * const [conn, peer] = socketpair();
 * const ep = new epoll();
 * ep.register(conn, EPOLLIN);
 * peer.sendAll(Buffer.from('x'));
 * for (const [fd, events] of ep.poll(1.0)) console.log(fd === conn.fileno(), events === EPOLLIN); // true true
 * ep.close();
 * conn.close(); peer.close();
 */
export class epoll {
  #fd: number;
  #out = new Int32Array(2 * 64);

  /**
   * @param sizehint ignored by Linux (kept for Python's signature); must be -1 or positive.
   * @param flags 0 or EPOLL_CLOEXEC, which weft always sets.
   * @throws {TypeError} more than two arguments, or one that is not an integer.
   * @throws {ValueError} sizehint 0 or below -1 ('negative sizehint').
   * @throws {OSError} other flags ('invalid flags'), as Python: they would be dropped silently otherwise.
   */
  constructor(sizehint = -1, flags = 0) {
    // JavaScript callers can pass more than the signature allows; Python refuses them.
    if (arguments.length > 2) throw new TypeError(`epoll() takes at most 2 arguments (${arguments.length} given)`);
    cInt(sizehint, 'sizehint');
    cInt(flags, 'flags');
    if (flags !== 0 && flags !== EPOLL_CLOEXEC) throw invalidFlags();
    if (sizehint === 0 || sizehint < -1) throw new ValueError('negative sizehint');
    this.#fd = adopting >= 0 ? adopting : ok(io.epollCreate());
    epollFinalizer.register(this, this.#fd, this);
  }

  /**
   * Python's `select.epoll.fromfd(fd)`: adopt an existing epoll fd.
   * @example
   * import { epoll } from 'weft/io';
   * const ep = new epoll();
   * const ep2 = epoll.fromFd(ep.fileno()); // the same fd: ep2 now owns it too
   * console.log(ep2.fileno() === ep.fileno()); // true
   * ep2.close();
   */
  static fromFd(fd: number): epoll {
    adopting = fd;
    try {
      return new epoll();
    } finally {
      adopting = -1;
    }
  }

  /**
   * Whether `close()` was called.
   * @example
   * import { epoll } from 'weft/io';
   * const ep = new epoll();
   * console.log(ep.closed); // false
   * ep.close();
   * console.log(ep.closed); // true
   */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * The epoll fd.
   * @throws {ValueError} closed.
   * @example
   * import { epoll } from 'weft/io';
   * using ep = new epoll();
   * console.log(ep.fileno() > 2); // true
   */
  fileno(): number {
    return this.#live();
  }

  /**
   * Close the epoll fd (idempotent).
   * @example
   * import { epoll } from 'weft/io';
   * const ep = new epoll();
   * ep.close();
   * ep.close(); // a second close does nothing
   * console.log(ep.closed); // true
   */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    epollFinalizer.unregister(this);
    io.sockClose(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Add `fd` with `eventmask` (default EPOLLIN | EPOLLPRI | EPOLLOUT).
   * @throws {FileExistsError} already registered.
   * @throws {ValueError} closed epoll.
   * @throws {OSError} EPERM for a regular file, EBADF for a closed fd.
   * @example
   * import { EPOLLET, EPOLLIN, epoll, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * using ep = new epoll();
   * ep.register(b, EPOLLIN | EPOLLET);
   * a.sendAll(Buffer.from('x'));
   * console.log(ep.poll(0).length); // 1
   * a.close(); b.close();
   */
  register(fd: FileLike, eventmask: number = EPOLLIN | EPOLLPRI | EPOLLOUT): void {
    ok(io.epollCtl(this.#live(), EPOLL_CTL_ADD, fdOf(fd), eventmask | 0));
  }

  /**
   * Change a registered fd's mask.
   * @throws {FileNotFoundError} not registered.
   * @throws {ValueError} closed epoll.
   * @example
   * import { EPOLLIN, EPOLLOUT, epoll, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * using ep = new epoll();
   * ep.register(a, EPOLLIN);
   * ep.modify(a, EPOLLOUT);
   * console.log(ep.poll(0)[0][1] === EPOLLOUT); // true
   * a.close(); b.close();
   */
  modify(fd: FileLike, eventmask: number): void {
    ok(io.epollCtl(this.#live(), EPOLL_CTL_MOD, fdOf(fd), eventmask | 0));
  }

  /**
   * Remove a registered fd.
   * @throws {FileNotFoundError} not registered.
   * @throws {ValueError} closed epoll.
   * @example
   * import { epoll, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * using ep = new epoll();
   * ep.register(a);
   * ep.unregister(a);
   * console.log(ep.poll(0)); // []
   * a.close(); b.close();
   */
  unregister(fd: FileLike): void {
    ok(io.epollCtl(this.#live(), EPOLL_CTL_DEL, fdOf(fd), 0));
  }

  /**
   * Wait up to `timeout` seconds (null/-1: forever) for at most `maxevents`
   * events (-1: FD_SETSIZE - 1, as Python); returns `[fd, events]` pairs.
   * @throws {ValueError} closed epoll, maxevents 0 / below -1, a NaN timeout.
   * @throws {TypeError} a timeout or maxevents that is not a number.
   * @throws {OverflowError} a timeout beyond epoll_wait(2)'s int milliseconds ('timeout is too large').
   * @example
   * import { EPOLLIN, epoll, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * using ep = new epoll();
   * ep.register(b, EPOLLIN);
   * const events = ep.poll(0.05); // waits 50 ms: seconds, unlike Poll.poll
   * console.log(events); // []
   * a.close(); b.close();
   */
  poll(timeout: number | null = -1, maxevents = -1): [fd: number, events: number][] {
    const epfd = this.#live();
    const t = millisTimeout(timeout, 1e9);
    cInt(maxevents, 'maxevents');
    if (maxevents === -1) maxevents = FD_SETSIZE - 1;
    else if (maxevents < 1) throw new ValueError(`maxevents must be greater than 0, got ${maxevents}`);
    if (this.#out.length < maxevents * 2) this.#out = new Int32Array(maxevents * 2);
    const n = ok(io.epollWait(epfd, this.#out, maxevents, t));
    const out: [number, number][] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = [this.#out[2 * i]!, this.#out[2 * i + 1]! >>> 0];
    return out;
  }

  #live(): number {
    if (this.#fd < 0) throw new ValueError('I/O operation on closed epoll object');
    return this.#fd;
  }
}
