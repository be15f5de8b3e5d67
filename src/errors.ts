/**
 * Python's exception classes, shared by every part of weft: the `OSError`
 * family with `errno` (native code returns `-errno`; {@link fromErrno} raises the
 * matching class with Python's message), and the non-OS errors Python's
 * concurrency modules raise (`EOFError`, `ValueError`, `KeyError`, queue's
 * `Empty` and `Full`). The twin of CPython's `Objects/exceptions.c` hierarchy.
 * @module
 */

/** errno -> [symbolic name, strerror text] as glibc (and so Python) prints them. */
const errnoTable = new Map<number, [string, string]>([
  [1, ['EPERM', 'Operation not permitted']],
  [2, ['ENOENT', 'No such file or directory']],
  [3, ['ESRCH', 'No such process']],
  [4, ['EINTR', 'Interrupted system call']],
  [5, ['EIO', 'Input/output error']],
  [9, ['EBADF', 'Bad file descriptor']],
  [10, ['ECHILD', 'No child processes']],
  [11, ['EAGAIN', 'Resource temporarily unavailable']],
  [12, ['ENOMEM', 'Cannot allocate memory']],
  [13, ['EACCES', 'Permission denied']],
  [14, ['EFAULT', 'Bad address']],
  [16, ['EBUSY', 'Device or resource busy']],
  [17, ['EEXIST', 'File exists']],
  [20, ['ENOTDIR', 'Not a directory']],
  [21, ['EISDIR', 'Is a directory']],
  [22, ['EINVAL', 'Invalid argument']],
  [23, ['ENFILE', 'Too many open files in system']],
  [24, ['EMFILE', 'Too many open files']],
  [28, ['ENOSPC', 'No space left on device']],
  [32, ['EPIPE', 'Broken pipe']],
  [34, ['ERANGE', 'Numerical result out of range']],
  [38, ['ENOSYS', 'Function not implemented']],
  [88, ['ENOTSOCK', 'Socket operation on non-socket']],
  [89, ['EDESTADDRREQ', 'Destination address required']],
  [90, ['EMSGSIZE', 'Message too long']],
  [91, ['EPROTOTYPE', 'Protocol wrong type for socket']],
  [92, ['ENOPROTOOPT', 'Protocol not available']],
  [93, ['EPROTONOSUPPORT', 'Protocol not supported']],
  [95, ['EOPNOTSUPP', 'Operation not supported']],
  [97, ['EAFNOSUPPORT', 'Address family not supported by protocol']],
  [98, ['EADDRINUSE', 'Address already in use']],
  [99, ['EADDRNOTAVAIL', 'Cannot assign requested address']],
  [100, ['ENETDOWN', 'Network is down']],
  [101, ['ENETUNREACH', 'Network is unreachable']],
  [103, ['ECONNABORTED', 'Software caused connection abort']],
  [104, ['ECONNRESET', 'Connection reset by peer']],
  [105, ['ENOBUFS', 'No buffer space available']],
  [106, ['EISCONN', 'Transport endpoint is already connected']],
  [107, ['ENOTCONN', 'Transport endpoint is not connected']],
  [108, ['ESHUTDOWN', 'Cannot send after transport endpoint shutdown']],
  [110, ['ETIMEDOUT', 'Connection timed out']],
  [111, ['ECONNREFUSED', 'Connection refused']],
  [113, ['EHOSTUNREACH', 'No route to host']],
  [114, ['EALREADY', 'Operation already in progress']],
  [115, ['EINPROGRESS', 'Operation now in progress']],
  [125, ['ECANCELED', 'Operation canceled']],
  [75, ['EOVERFLOW', 'Value too large for defined data type']],
  [6, ['ENXIO', 'No such device or address']],
  [36, ['ENAMETOOLONG', 'File name too long']],
  [40, ['ELOOP', 'Too many levels of symbolic links']],
  [112, ['EHOSTDOWN', 'Host is down']],
  [39, ['ENOTEMPTY', 'Directory not empty']],
  [30, ['EROFS', 'Read-only file system']],
]);

/**
 * Python's `OSError`: a failed system call, with `errno`, the symbolic `code`
 * (`'ECONNRESET'`) and Python's message (`[Errno 104] Connection reset by peer`).
 * @example
 * import { OSError, createServer, socket } from 'weft/io';
 * using srv = createServer(['127.0.0.1', 0]);
 * using sock = new socket();
 * try { sock.bind(srv.getSockName()); } catch (e) { if (e instanceof OSError) console.log(e.errno, e.code); } // 98 EADDRINUSE
 */
export class OSError extends Error {
  /** The errno value, e.g. 104. */
  readonly errno: number;
  /** The symbolic errno name, e.g. `'ECONNRESET'`. */
  readonly code: string;
  /** The C library's text for errno, e.g. `'Connection reset by peer'`. */
  readonly strerror: string;
  constructor(errno: number, strerror?: string, options?: ErrorOptions) {
    const [code, text] = errnoTable.get(errno) ?? [`E${errno}`, `Unknown error ${errno}`];
    super(`[Errno ${errno}] ${strerror ?? text}`, options);
    this.errno = errno;
    this.code = code;
    this.strerror = strerror ?? text;
  }
  override get name(): string {
    return this.constructor.name;
  }
}

/**
 * EAGAIN, EWOULDBLOCK, EALREADY, EINPROGRESS: a non-blocking call would block.
 * @example
 * import { BlockingIOError, DefaultSelector, EVENT_READ, socketpair } from 'weft/io';
 * const [sock, peer] = socketpair();
 * sock.setBlocking(false);
 * using sel = new DefaultSelector();
 * sel.register(sock, EVENT_READ);
 * setTimeout(() => peer.sendAll(Buffer.from('late')), 10);
 * try { sock.recv(1024); } catch (e) { if (e instanceof BlockingIOError) await sel.selectAsync(); }
 * console.log(String(sock.recv(1024))); // late
 * sock.close(); peer.close();
 */
export class BlockingIOError extends OSError {}
/** ECHILD. */
export class ChildProcessError extends OSError {}
/**
 * Base of the connection errors.
 * @example
 * import { ConnectionError, socketpair } from 'weft/io';
 * const [sock, peer] = socketpair();
 * peer.close();
 * try { sock.send(Buffer.from('x')); } catch (err) { if (err instanceof ConnectionError) console.log('peer trouble:', err.code); } // peer trouble: EPIPE
 * sock.close();
 */
export class ConnectionError extends OSError {}
/**
 * EPIPE, ESHUTDOWN: writing to a closed peer (also a Pipe end whose other side is gone).
 * @example
 * import { BrokenPipeError, Pipe } from 'weft';
 * const [conn, other] = Pipe();
 * other.close();
 * try { conn.send('late'); } catch (e) { if (e instanceof BrokenPipeError) console.log(e.message); } // [Errno 32] Broken pipe
 * conn.close();
 */
export class BrokenPipeError extends ConnectionError {}
/**
 * ECONNABORTED.
 * @example
 * import { ConnectionAbortedError, ConnectionError } from 'weft/io';
 * const e = new ConnectionAbortedError(103);
 * console.log(e instanceof ConnectionError, e.message); // true [Errno 103] Software caused connection abort
 */
export class ConnectionAbortedError extends ConnectionError {}
/**
 * ECONNREFUSED.
 * @example
 * import { ConnectionRefusedError, socket } from 'weft/io';
 * using closed = new socket();
 * closed.bind(['127.0.0.1', 0]); // bound, not listening
 * using sock = new socket();
 * try { sock.connect(closed.getSockName()); } catch (e) { console.log(e instanceof ConnectionRefusedError); } // true
 */
export class ConnectionRefusedError extends ConnectionError {}
/**
 * ECONNRESET: the peer reset the connection.
 * @example
 * import { ConnectionResetError, SOL_SOCKET, SO_LINGER, createServer, socket } from 'weft/io';
 * using srv = createServer(['127.0.0.1', 0]);
 * using sock = new socket();
 * sock.connect(srv.getSockName());
 * const [conn] = srv.accept();
 * conn.setSockOpt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
 * conn.close(); // linger on, 0 s: the close resets the connection
 * try { sock.recv(1024); } catch (e) { if (e instanceof ConnectionResetError) console.log(e.message); } // [Errno 104] Connection reset by peer
 */
export class ConnectionResetError extends ConnectionError {}
/**
 * EEXIST (e.g. registering an fd twice with epoll).
 * @example
 * import { FileExistsError, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(a);
 * try { ep.register(a); } catch (e) { console.log(e instanceof FileExistsError); } // true
 * a.close(); b.close();
 */
export class FileExistsError extends OSError {}
/**
 * ENOENT (e.g. modifying an fd epoll does not know).
 * @example
 * import { EPOLLIN, FileNotFoundError, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * try { ep.modify(a, EPOLLIN); } catch (e) { console.log(e instanceof FileNotFoundError); } // true
 * a.close(); b.close();
 */
export class FileNotFoundError extends OSError {}
/**
 * EINTR. weft retries it itself, so it never escapes a weft call.
 * @example
 * import { InterruptedError, OSError } from 'weft/io';
 * const e = new InterruptedError(4);
 * console.log(e instanceof OSError, e.code); // true EINTR
 */
export class InterruptedError extends OSError {}
/**
 * EACCES, EPERM; weft/redis raises it at `connect` for an ACL user that lacks a command or key pattern it needs.
 * @example
 * import { PermissionError } from 'weft/redis';
 * const e = new PermissionError(13);
 * console.log(e.code, e.message); // EACCES [Errno 13] Permission denied
 */
export class PermissionError extends OSError {}
/** ESRCH. */
export class ProcessLookupError extends OSError {}

/**
 * Python's `TimeoutError` (an `OSError` with errno ETIMEDOUT): a wait ran out of time.
 * Raised with a plain message (`new TimeoutError('timed out')`) as Python's socket does.
 * @example
 * import { TimeoutError, socketpair } from 'weft/io';
 * const [sock, peer] = socketpair();
 * sock.setTimeout(0.05);
 * try { sock.recv(1); } catch (e) { if (e instanceof TimeoutError) console.log(e.message); } // timed out
 * sock.close(); peer.close();
 */
export class TimeoutError extends OSError {
  constructor(message = 'timed out', options?: ErrorOptions) {
    super(110, message, options);
    this.message = message;
  }
}

const byErrno = new Map<string, new (errno: number) => OSError>([
  ['EAGAIN', BlockingIOError],
  ['EALREADY', BlockingIOError],
  ['EINPROGRESS', BlockingIOError],
  ['ECHILD', ChildProcessError],
  ['EPIPE', BrokenPipeError],
  ['ESHUTDOWN', BrokenPipeError],
  ['ECONNABORTED', ConnectionAbortedError],
  ['ECONNREFUSED', ConnectionRefusedError],
  ['ECONNRESET', ConnectionResetError],
  ['EEXIST', FileExistsError],
  ['ENOENT', FileNotFoundError],
  ['EINTR', InterruptedError],
  ['EACCES', PermissionError],
  ['EPERM', PermissionError],
  ['ESRCH', ProcessLookupError],
]);

/**
 * The `OSError` subclass Python raises for `errno` (positive, or the negative
 * value native calls return).
 * @example
 * import { BrokenPipeError, socketpair } from 'weft/io';
 * const [sock, peer] = socketpair();
 * peer.close();
 * // send(2) fails with EPIPE: the native call returns -32, and fromErrno(-32) makes the error
 * try { sock.send(Buffer.from('x')); } catch (e) { console.log(e instanceof BrokenPipeError, String(e)); } // true BrokenPipeError: [Errno 32] Broken pipe
 * sock.close();
 */
export function fromErrno(errno: number): OSError {
  const n = Math.abs(errno);
  if (n === 110) return new TimeoutError('[Errno 110] Connection timed out');
  const code = errnoTable.get(n)?.[0] ?? '';
  const Class = byErrno.get(code) ?? OSError;
  return new Class(n);
}

/** Native convention: a negative result is `-errno`; raise it, else return the value. */
export function check(result: number): number {
  if (result < 0) throw fromErrno(result);
  return result;
}

/**
 * Python's `socket.gaierror`: name resolution failed. `errno` is getaddrinfo's
 * (negative) EAI code, as in Python: `[Errno -2] Name or service not known`.
 * @example
 * import { AF_INET, gaierror, socket } from 'weft/io';
 * using sock = new socket(AF_INET);
 * try { sock.bind(['::1', 0]); } catch (e) { if (e instanceof gaierror) console.log(e.message); } // [Errno -9] Address family for hostname not supported
 */
export class gaierror extends OSError {}

/**
 * Python's `socket.herror`: an address-related error of the legacy resolver calls.
 * @example
 * import { OSError, herror } from 'weft/io';
 * const e = new herror(1, 'Unknown host');
 * console.log(e instanceof OSError, e.message); // true [Errno 1] Unknown host
 */
export class herror extends OSError {}

/**
 * Python's `RuntimeError` (e.g. `getKey` on a closed selector: 'Selector is closed').
 * @example
 * import { DefaultSelector, RuntimeError } from 'weft/io';
 * const sel = new DefaultSelector();
 * sel.close();
 * try { sel.getKey(0); } catch (e) { if (e instanceof RuntimeError) console.log(e.message); } // Selector is closed
 */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/**
 * Python's `OverflowError` (e.g. a port outside 0-65535: 'port must be 0-65535.').
 * @example
 * import { OverflowError, socket } from 'weft/io';
 * using sock = new socket();
 * try { sock.bind(['127.0.0.1', 70000]); } catch (e) { if (e instanceof OverflowError) console.log(e.message); } // port must be 0-65535.
 */
export class OverflowError extends Error {
  override name = 'OverflowError';
}

/**
 * Python's `MemoryError`: an allocation that cannot succeed (e.g. `recv(1e12)`).
 * @example
 * import { MemoryError } from 'weft';
 * import { socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * try { a.recv(1e12); } catch (e) { console.log(e instanceof MemoryError); } // true
 * a.close(); b.close();
 */
export class MemoryError extends Error {
  override name = 'MemoryError';
}

/**
 * Python's `ValueError`: the right type but a bad value (also used on a closed object).
 * @example
 * import { Queue, ValueError } from 'weft';
 * const q = new Queue<number>();
 * q.close();
 * await q.put(1).catch((e) => console.log(e instanceof ValueError, e.message)); // true Queue is closed
 */
export class ValueError extends Error {
  override name = 'ValueError';
}

/**
 * Python's `KeyError`: a missing key (a selector with no such file object, a dict key).
 * @example
 * import { DefaultSelector, KeyError, socketpair } from 'weft/io';
 * const [sock, peer] = socketpair();
 * using sel = new DefaultSelector();
 * try { sel.getKey(sock); } catch (e) { if (e instanceof KeyError) console.log('not registered'); } // not registered
 * sock.close(); peer.close();
 */
export class KeyError extends Error {
  override name = 'KeyError';
}

/**
 * Python's `EOFError`: the other end of a connection closed or died.
 * @example
 * import { EOFError, Pipe } from 'weft';
 * const [conn, other] = Pipe();
 * other.send(1);
 * other.send(2);
 * other.close();
 * const got: unknown[] = [];
 * try { for (;;) got.push(await conn.recv()); } catch (e) { if (!(e instanceof EOFError)) throw e; }
 * console.log(got); // [ 1, 2 ]
 * conn.close();
 */
export class EOFError extends Error {
  override name = 'EOFError';
}

/**
 * Python's `queue.Empty`: `getNowait()` (or a `get` that timed out) on an empty queue.
 * @example
 * import { Empty, Queue } from 'weft';
 * const q = new Queue<number>();
 * try { q.getNowait(); } catch (e) { if (e instanceof Empty) console.log('nothing yet'); } // nothing yet
 */
export class Empty extends Error {
  override name = 'Empty';
}

/**
 * Python's `queue.Full`: `putNowait()` (or a `put` that timed out) on a full queue.
 * @example
 * import { Full, Queue } from 'weft';
 * const q = new Queue<number>({ maxsize: 1 });
 * q.putNowait(1);
 * try { q.putNowait(2); } catch (e) { if (e instanceof Full) console.log('full'); } // full
 */
export class Full extends Error {
  override name = 'Full';
}
