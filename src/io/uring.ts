/**
 * `IoUring`: asynchronous I/O on Linux's io_uring, the lecture's fifth I/O
 * model (the kernel does the copy, then reports completion). No Python twin:
 * CPython has no io_uring binding; the shape follows the selectors module's
 * (blocking `wait(timeout)` in seconds, Python's exceptions) with an async
 * iterator for Node's event loop. The ring is native/uring.h's, driven by
 * native/uring_io.cc.
 * @module
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { native } from '../native.js';
import { fromErrno, OSError, ValueError } from '../errors.js';
import { io, type WatchHandle } from './_native.js';
import { fdOf, type FileLike } from './select.js';
import { sockaddr } from './_sockaddr.js';
import type { Address, socket } from './socket.js';

/** The addon's io_uring functions (native/uring_io.cc). Negative numbers are `-errno`. */
interface UringNative {
  uringProbe(): number;
  uringOpName(index: number): string;
  uringOpen(entries: number, out: Int32Array, waitOnly: boolean): RingHandle | number;
  uringFd(ring: RingHandle): number;
  uringBuffers(ring: RingHandle, pool: Uint8Array, size: number, count: number, group: number): number;
  uringGive(ring: RingHandle, bufferId: number): number;
  uringAccept(ring: RingHandle, id: number, fd: number, multishot: boolean, direct: boolean): number;
  uringFiles(ring: RingHandle, count: number): number;
  uringConnect(ring: RingHandle, id: number, fd: number, sockaddr: Uint8Array): number;
  uringRecv(
    ring: RingHandle, id: number, fd: number, buf: Uint8Array | null, offset: number, length: number, multishot: boolean,
  ): number;
  uringSend(ring: RingHandle, id: number, fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  uringSendBuffer(ring: RingHandle, id: number, fd: number, bufferId: number, offset: number, length: number, quiet: boolean): number;
  uringSendmsg(
    ring: RingHandle, id: number, fd: number, scratch: Uint8Array, buffers: Uint8Array[], ancdata: AncillaryData[],
    flags: number, name: Uint8Array | null,
  ): number;
  uringRead(ring: RingHandle, id: number, fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  uringWrite(ring: RingHandle, id: number, fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  uringCloseFd(ring: RingHandle, id: number, fd: number): number;
  uringTimeout(ring: RingHandle, id: number, seconds: number): number;
  uringCancel(ring: RingHandle, id: number, target: number): number;
  uringSubmit(ring: RingHandle): number;
  uringWait(ring: RingHandle, minComplete: number, timeout: number): number;
  uringReap(ring: RingHandle): number;
  uringClose(ring: RingHandle): number;
}
type RingHandle = { readonly __ring: unique symbol };
const un = native as unknown as UringNative;

/**
 * Whether this process can use io_uring: `{ ok: true }`, or why not.
 * @example
 * import { IoUring, type IoUringAvailability } from 'weft/io';
 * const a: IoUringAvailability = IoUring.available();
 * console.log(a.ok || a.reason.length > 0); // true
 */
export type IoUringAvailability =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string; readonly errno: number };

/**
 * The kind of operation a completion belongs to.
 * @example
 * import { type IoUringOp } from 'weft/io';
 * const op: IoUringOp = 'recv';
 * console.log(op); // recv
 */
export type IoUringOp = 'accept' | 'connect' | 'recv' | 'send' | 'sendmsg' | 'read' | 'write' | 'close' | 'timeout' | 'cancel';

/**
 * One ancillary (control) message of `sendmsg`, as Python's `(level, type, data)`
 * tuples: e.g. `[SOL_SOCKET, SCM_RIGHTS, fds]` passes open fds over a Unix socket.
 * @example
 * import { type AncillaryData } from 'weft/io';
 * const fds = new Int32Array([0]);
 * const item: AncillaryData = [1, 1, new Uint8Array(fds.buffer)]; // SOL_SOCKET, SCM_RIGHTS, stdin
 * console.log(item[2].length); // 4
 */
export type AncillaryData = readonly [level: number, type: number, data: Uint8Array];

/**
 * Options of `IoUring.sendmsg`, Python's `sendmsg(buffers, ancdata, flags, address)` after the buffers.
 * @example
 * import { type SendmsgOptions } from 'weft/io';
 * const options: SendmsgOptions = { address: ['127.0.0.1', 9999] };
 * console.log(options.address); // [ '127.0.0.1', 9999 ]
 */
export interface SendmsgOptions {
  /** Control messages (SCM_RIGHTS, …). Default none. */
  ancdata?: readonly AncillaryData[];
  /** `MSG_*` flags; MSG_NOSIGNAL is always added. Default 0. */
  flags?: number;
  /** Destination, for an unconnected datagram socket. */
  address?: Address;
}

/**
 * One completion: what the kernel reports when an operation is done (or, for
 * a multishot one, has produced one more result).
 * @example
 * import { IoUring, type Completion } from 'weft/io';
 * if (IoUring.available().ok) {
 *   using ring = new IoUring();
 *   ring.timeout(0.001);
 *   const [c]: Completion[] = ring.wait(1, 5);
 *   console.log(c!.op, c!.error); // timeout null
 * }
 */
export interface Completion {
  /** The id the operation returned. */
  readonly id: number;
  readonly op: IoUringOp;
  /** Bytes moved, the accepted fd, 0 for the rest; -errno on failure. */
  readonly result: number;
  /** Python's exception for a failed operation (`ConnectionResetError`, …), else null. */
  readonly error: OSError | null;
  /** A multishot operation goes on (more completions will come for this id). */
  readonly more: boolean;
  /** For a recv into the ring's buffers: the bytes received (a view, valid until `releaseBuffer`). */
  readonly data: Buffer | null;
  /** For a recv into the ring's buffers: the buffer to hand back with `releaseBuffer`, else -1. */
  readonly bufferId: number;
}

/**
 * Called with each completion of the operation it was given to.
 * @example
 * import { type CompletionCallback } from 'weft/io';
 * const log: CompletionCallback = (c) => console.log(c.op, c.result);
 * log({ id: 1, op: 'send', result: 5, error: null, more: false, data: null, bufferId: -1 }); // send 5
 */
export type CompletionCallback = (completion: Completion) => void;

/**
 * Called with each completion of an operation of the allocation-free path
 * (`recvMultishot`, `sendBuffer`): the completion's fields as numbers, no
 * object. `result` is bytes moved, or `-errno` on failure (`IoUring.error(result)`
 * turns it into Python's exception); `bufferId` names the ring buffer the
 * bytes are in (-1 for none); `more`: further completions will come.
 * @example
 * import { type LeanCallback } from 'weft/io';
 * const log: LeanCallback = (result, bufferId, more) => console.log(result, bufferId, more);
 * log(5, 3, true); // 5 3 true
 */
export type LeanCallback = (result: number, bufferId: number, more: boolean) => void;

/**
 * A socket in the ring's table of registered files, by slot: what an accept
 * with `direct` reports as its `result`. Operations given one
 * (`recv`, `recvMultishot`, `send`, `sendBuffer`, `sendmsg`, `read`, `write`,
 * `connect`, `closeFd`) name the slot, and the kernel skips the look-up of an
 * fd and its reference count on every operation. It has no fd: only this ring
 * can use it, and only `closeFd` closes it.
 * @example
 * import { type FixedFile } from 'weft/io';
 * const conn: FixedFile = { fixed: 0 };
 * console.log(conn.fixed); // 0
 */
export interface FixedFile {
  /** The slot, from 0 to the ring's `fixedFiles` - 1. */
  readonly fixed: number;
}

/**
 * What IoUring's operations act on: an fd, anything with `fileno()` (a weft
 * `socket`), or a slot of the ring's registered files.
 * @example
 * import { type RingFile } from 'weft/io';
 * const files: RingFile[] = [0, { fileno: () => 1 }, { fixed: 2 }];
 * console.log(files.length); // 3
 */
export type RingFile = FileLike | FixedFile;

/**
 * Options of `new IoUring()`.
 * @example
 * import { type IoUringOptions } from 'weft/io';
 * const options: IoUringOptions = { entries: 512, bufferCount: 4096, bufferSize: 2048 };
 * console.log(options.entries); // 512
 */
export interface IoUringOptions {
  /** Submission queue size (a power of two, 1–32768); the completion queue is 8 times larger. Default 256. */
  entries?: number;
  /** Receive buffers the kernel picks from (a power of two, 1–32768), allocated at the first `recv` without a buffer. Default 1024. */
  bufferCount?: number;
  /** Bytes per receive buffer. Default 4096. */
  bufferSize?: number;
  /**
   * Slots of a table of registered files (0 to 1,048,576), for accepts with
   * `direct`. Where the kernel refuses the table (more slots than
   * `ulimit -n`, a kernel before 5.19) the ring works without it:
   * `fixedFiles` is then 0 and `fixedFilesError` says why. Default 0.
   */
  fixedFiles?: number;
  /**
   * The ring is driven by `wait()` alone: callbacks run inside `wait()`, never
   * on Node's event loop, and there is no `completions()`. The kernel then
   * keeps the work behind each completion on a list of the ring's own and
   * runs it in one batch inside the wait (IORING_SETUP_DEFER_TASKRUN; such a
   * ring's fd cannot wake the event loop). Default false.
   */
  waitOnly?: boolean;
}

const ETIME = 62;
const ECANCELED = 125;
const F_BUFFER = 1; // IORING_CQE_F_BUFFER
const F_MORE = 2; // IORING_CQE_F_MORE
const MAX_ID = 0x7fffffff;
/** An accept's user_data carries this bit (native/uring_io.cc's kAcceptTag): a cancel must name it too. */
const ACCEPT_TAG = 2 ** 32;
/** ...and an accept into the registered files this one too (kDirectTag). */
const DIRECT_TAG = 2 ** 35;
/** The kernel's cap on registered files (IORING_MAX_FIXED_FILES). */
const MAX_FIXED_FILES = 1 << 20;
/** Linux's IOV_MAX: more buffers in one sendmsg are EMSGSIZE, as Python's sendmsg reports. */
const IOV_MAX = 1024;

interface Pending {
  op: IoUringOp;
  callback: CompletionCallback | LeanCallback | undefined;
  /** The callback is a LeanCallback: called with numbers, no Completion made. */
  lean?: boolean;
  /** Memory the kernel uses until the last completion (a send's bytes, a recv's buffer, an address). */
  hold: unknown;
  /** An accept into the registered files: its result is a slot, and a cancel names it with DIRECT_TAG too. */
  direct?: boolean;
}

let availability: IoUringAvailability | undefined;

function pow2(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 32768 || (n & (n - 1)) !== 0) {
    throw new ValueError(`${what} must be a power of two from 1 to 32768, not ${n}`);
  }
  return n;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Why io_uring_setup failed with `errno`, in words that name the fix. */
function explain(errno: number): string {
  if (errno === 38) return 'this kernel has no io_uring (io_uring_setup: ENOSYS): Linux 6.0 or later built with CONFIG_IO_URING is needed';
  if (errno === 1) {
    const sysctl = readText('/proc/sys/kernel/io_uring_disabled')?.trim();
    if (sysctl === '2') return 'io_uring is switched off by the sysctl kernel.io_uring_disabled=2 (set it to 0)';
    if (sysctl === '1') return 'kernel.io_uring_disabled=1 allows io_uring only to root and the group in kernel.io_uring_group';
    const seccomp = /^Seccomp:\s*(\d+)/m.exec(readText('/proc/self/status') ?? '')?.[1];
    if (seccomp === '2') return 'a seccomp filter forbids io_uring_setup (EPERM), as containers\' default profiles do: allow io_uring_setup, io_uring_enter and io_uring_register';
    return 'io_uring_setup: EPERM (operation not permitted)';
  }
  if (errno === 12) return 'io_uring_setup: ENOMEM: the locked-memory limit (ulimit -l) is too low for a ring';
  return `io_uring_setup failed: ${fromErrno(-errno).message}`;
}

/** Rings with operations in flight: kept reachable so the memory the kernel uses is never collected under it. */
const busy = new Set<IoUring>();
const finalizer = new FinalizationRegistry<RingHandle>((ring) => un.uringClose(ring));

/**
 * An io_uring: operations are queued (each returns an id), handed to the
 * kernel by `submit()` (or, on Node's event loop, at the end of the current
 * job), and report back as completions — through the callback given to the
 * operation, or from `wait()` / `completions()` for operations without one.
 * Receives can take their memory from a ring of buffers the kernel picks from
 * (`recv(sock)` without a buffer), so idle connections hold none.
 * @example
 * import { IoUring, socketpair } from 'weft/io';
 * if (IoUring.available().ok) {
 *   using ring = new IoUring();
 *   const [a, b] = socketpair();
 *   ring.send(a, Buffer.from('hello'));
 *   ring.recv(b);
 *   const got = ring.wait(2, 5);
 *   const recv = got.find((c) => c.op === 'recv')!;
 *   console.log(String(recv.data)); // hello
 *   ring.releaseBuffer(recv.bufferId);
 *   a.close(); b.close();
 * }
 */
export class IoUring implements Disposable {
  #ring: RingHandle | null;
  readonly #out: Int32Array;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #bufferCount: number;
  #bufferSize: number;
  #pool: Buffer | null = null;
  #watch: WatchHandle | null = null;
  #watching = false;
  #callbacks = 0; // operations in flight with a callback: the event loop must watch for them
  #flushQueued = false;
  #ready: Completion[][] = [];
  #waiters: ((batch: Completion[] | null) => void)[] = [];
  #iterators = 0;
  #closing = false;
  #waitOnly: boolean;
  #fixedFiles = 0;
  #fixedFilesError: OSError | null = null;

  /**
   * Whether this process can use io_uring, decided once: `{ ok: true }`, or
   * `{ ok: false, reason, errno }` naming the cause (a kernel without it or
   * too old, the `kernel.io_uring_disabled` sysctl, a container's seccomp filter).
   * @example
   * import { IoUring } from 'weft/io';
   * const a = IoUring.available();
   * console.log(a.ok ? 'io_uring' : `no io_uring: ${a.reason}`);
   */
  static available(): IoUringAvailability {
    if (availability) return availability;
    const major = Number(release().split('.')[0]);
    const r = un.uringProbe();
    if (r < 0) availability = { ok: false, errno: -r, reason: explain(-r) };
    else if (r >= 1000) {
      availability = { ok: false, errno: 22, reason: `this kernel (${release()}) lacks io_uring's ${un.uringOpName(r - 1000)}: Linux 6.0 or later is needed` };
    } else if (major < 6) {
      availability = { ok: false, errno: 22, reason: `this kernel (${release()}) predates multishot recv with provided buffers: Linux 6.0 or later is needed` };
    } else availability = { ok: true };
    return availability;
  }

  /**
   * @throws {OSError} io_uring is unavailable (the message gives `IoUring.available()`'s reason).
   * @throws {ValueError} a size that is not a power of two from 1 to 32768.
   */
  constructor(options: IoUringOptions = {}) {
    const entries = pow2(options.entries ?? 256, 'entries');
    this.#bufferCount = pow2(options.bufferCount ?? 1024, 'bufferCount');
    this.#bufferSize = options.bufferSize ?? 4096;
    if (!Number.isInteger(this.#bufferSize) || this.#bufferSize < 1 || this.#bufferSize > 1 << 30) {
      throw new ValueError(`bufferSize must be an integer from 1 to 2**30, not ${this.#bufferSize}`);
    }
    const files = options.fixedFiles ?? 0;
    if (!Number.isInteger(files) || files < 0 || files > MAX_FIXED_FILES) {
      throw new ValueError(`fixedFiles must be an integer from 0 to ${MAX_FIXED_FILES}, not ${files}`);
    }
    const a = IoUring.available();
    if (!a.ok) throw new OSError(a.errno, `io_uring unavailable: ${a.reason}`);
    this.#out = new Int32Array(entries * 8 * 3);
    this.#waitOnly = options.waitOnly === true;
    const ring = un.uringOpen(entries, this.#out, this.#waitOnly);
    if (typeof ring === 'number') throw fromErrno(ring);
    this.#ring = ring;
    finalizer.register(this, ring, this);
    if (files > 0) {
      const r = un.uringFiles(ring, files);
      if (r < 0) this.#fixedFilesError = fromErrno(r);
      else this.#fixedFiles = files;
    }
  }

  /**
   * Slots in the ring's table of registered files: the `fixedFiles` option,
   * or 0 when it was not asked for or the kernel refused it (`fixedFilesError`).
   * @example
   * import { IoUring } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring({ fixedFiles: 64 });
   *   console.log(ring.fixedFiles || ring.fixedFilesError?.message); // 64
   * }
   */
  get fixedFiles(): number {
    return this.#fixedFiles;
  }

  /**
   * Why the kernel refused the table of registered files (EMFILE: more slots
   * than `ulimit -n`; EINVAL: a kernel before 5.19), else null.
   * @example
   * import { IoUring } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   console.log(ring.fixedFilesError); // null
   * }
   */
  get fixedFilesError(): OSError | null {
    return this.#fixedFilesError;
  }

  /**
   * The ring's fd (-1 once closed): readable when completions are waiting.
   * @example
   * import { IoUring } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   console.log(ring.fileno() > 2); // true
   * }
   */
  fileno(): number {
    return this.#ring ? un.uringFd(this.#ring) : -1;
  }

  /**
   * Accept connections on a listening socket: one completion whose `result`
   * is the new fd (blocking, close-on-exec), or with `multishot` one per
   * connection until cancelled. With `direct` the socket goes into a free
   * slot of the ring's registered files instead and `result` is the slot
   * (use it as `{ fixed: result }`; ENFILE when every slot is taken). A
   * direct socket has no fd, so no `setSockOpt`: it inherits the listener's
   * options (TCP_NODELAY among them).
   * @returns the operation's id.
   * @throws {OSError} the ring is closed (EBADF).
   * @throws {ValueError} `direct` on a ring without registered files.
   * @example
   * import { IoUring, createServer, socket } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   using srv = createServer(['127.0.0.1', 0]);
   *   using client = new socket();
   *   client.connect(srv.getSockName());
   *   ring.accept(srv);
   *   const [c] = ring.wait(1, 5);
   *   console.log(c!.result > 2); // true
   *   new socket(undefined, undefined, undefined, c!.result).close();
   * }
   */
  accept(sock: FileLike, options: { multishot?: boolean; direct?: boolean } = {}, callback?: CompletionCallback): number {
    const fd = fdOf(sock);
    const direct = options.direct === true;
    if (direct && this.#fixedFiles === 0) {
      throw new ValueError(this.#fixedFilesError
        ? `a direct accept needs registered files, which the kernel refused (${this.#fixedFilesError.message}): accept without direct`
        : 'a direct accept needs registered files: make the ring with new IoUring({ fixedFiles: N })');
    }
    const multishot = options.multishot === true;
    const id = this.#add('accept', callback, null, (i, ring) => un.uringAccept(ring, i, fd, multishot, direct));
    if (direct) this.#pending.get(id)!.direct = true;
    return id;
  }

  /**
   * Connect `sock` to `address` (resolved first, blocking, as `socket.connect`).
   * @returns the operation's id.
   * @throws {gaierror} unresolvable host.
   * @example
   * import { IoUring, createServer, socket } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   using srv = createServer(['127.0.0.1', 0]);
   *   using sock = new socket();
   *   ring.connect(sock, srv.getSockName());
   *   console.log(ring.wait(1, 5)[0]!.error); // null
   * }
   */
  connect(sock: socket, address: Address, callback?: CompletionCallback): number {
    const addr = sockaddr(sock.family, address);
    const fd = this.#target(sock);
    return this.#add('connect', callback, addr, (id, ring) => un.uringConnect(ring, id, fd, addr));
  }

  /**
   * Receive from a socket: into `into` when given, else into one of the
   * ring's buffers (the completion's `data`, handed back with
   * `releaseBuffer(bufferId)`). `multishot` (ring buffers only) keeps
   * receiving: a completion per chunk until EOF (`result` 0), an error, a
   * `cancel`, or no free buffer (`ENOBUFS`: release some, then recv again).
   * @returns the operation's id.
   * @throws {ValueError} multishot with `into` (the kernel picks buffers for multishot).
   * @example
   * import { IoUring, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const [a, b] = socketpair();
   *   const buf = Buffer.alloc(16);
   *   ring.recv(b, { into: buf });
   *   a.send(Buffer.from('hi'));
   *   const [c] = ring.wait(1, 5);
   *   console.log(c!.result, String(buf.subarray(0, c!.result))); // 2 hi
   *   a.close(); b.close();
   * }
   */
  recv(sock: RingFile, options: { multishot?: boolean; into?: Uint8Array } = {}, callback?: CompletionCallback): number {
    const fd = this.#target(sock);
    const into = options.into;
    const multishot = options.multishot === true;
    if (into !== undefined) {
      if (!(into instanceof Uint8Array)) throw new TypeError('into must be a Uint8Array');
      if (multishot) throw new ValueError('a multishot recv takes the ring\'s buffers: leave out `into`');
      return this.#add('recv', callback, into, (id, ring) => un.uringRecv(ring, id, fd, into, 0, into.length, false));
    }
    this.#buffers();
    return this.#add('recv', callback, null, (id, ring) => un.uringRecv(ring, id, fd, null, 0, 0, multishot));
  }

  /**
   * Send bytes on a socket (MSG_NOSIGNAL: a dead peer is `BrokenPipeError`,
   * not a signal). `result` may be less than `data.length` (a partial send):
   * send the rest. `data` must not change until the completion.
   * @returns the operation's id.
   * @example
   * import { IoUring, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const [a, b] = socketpair();
   *   ring.send(a, Buffer.from('hello'));
   *   console.log(ring.wait(1, 5)[0]!.result, String(b.recv(5))); // 5 hello
   *   a.close(); b.close();
   * }
   */
  send(sock: RingFile, data: Uint8Array, callback?: CompletionCallback): number {
    if (!(data instanceof Uint8Array)) throw new TypeError('a bytes-like object is required');
    const fd = this.#target(sock);
    return this.#add('send', callback, data, (id, ring) => un.uringSend(ring, id, fd, data, 0, data.length, 0));
  }

  /**
   * The allocation-free receive: a multishot recv into the ring's buffers
   * whose completions come to `callback` as numbers (no Completion object,
   * no Buffer view): `(bytes, bufferId, more)` per chunk, `(0, -1, false)` at
   * EOF, `(-errno, -1, false)` on an error (`-105`, ENOBUFS: every buffer in
   * use; recv again once some are back). Read the bytes with
   * `bufferView(bufferId, bytes)`, or send them on with `sendBuffer`; hand
   * the buffer back with `releaseBuffer` otherwise.
   * @returns the operation's id.
   * @example
   * import { IoUring, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const [a, b] = socketpair();
   *   a.send(Buffer.from('hi'));
   *   const id = ring.recvMultishot(b, (n, buf) => {
   *     if (n > 0) console.log(String(ring.bufferView(buf, n))); // hi
   *     if (buf >= 0) ring.releaseBuffer(buf);
   *   });
   *   ring.wait(0, 0.05);
   *   ring.cancel(id);
   *   ring.wait(1, 5);
   *   a.close(); b.close();
   * }
   */
  recvMultishot(sock: RingFile, callback: LeanCallback): number {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function');
    const fd = this.#target(sock);
    this.#buffers();
    return this.#add('recv', callback, null, (id, ring) => un.uringRecv(ring, id, fd, null, 0, 0, true), true);
  }

  /**
   * Send `length` bytes of ring buffer `bufferId` from `offset` (a chunk
   * `recvMultishot` received: an echo or a proxy without copying it into
   * JavaScript). The kernel sends all of it (MSG_WAITALL: it retries a
   * partial send itself), then takes the buffer back: do not `releaseBuffer`
   * it. Without a callback the completion is not reported at all (the
   * cheapest send; an error shows on the connection's next recv).
   * Order: the kernel may run two sends queued on one socket in either order
   * (the first waiting for room while the second goes out), as with `send`:
   * queue the next send on a socket from the previous one's callback, unless
   * the protocol has one message in flight at a time (a request and its reply).
   * @returns the operation's id; 0 without a callback (nothing to wait for or cancel).
   * @throws {ValueError} a buffer id or a range outside the ring's buffers.
   * @example
   * import { IoUring, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const [a, b] = socketpair();
   *   a.send(Buffer.from('ping'));
   *   ring.recvMultishot(b, (n, buf) => {
   *     if (n > 0) ring.sendBuffer(b, buf, n, 0, (sent) => console.log(sent)); // 4
   *   });
   *   ring.wait(0, 0.05);
   *   ring.wait(0, 0.05);
   *   console.log(String(a.recv(4))); // ping
   *   a.close(); b.close();
   * }
   */
  sendBuffer(sock: RingFile, bufferId: number, length: number, offset = 0, callback?: (result: number) => void): number {
    const size = this.#bufferSize;
    if (!this.#pool || !Number.isInteger(bufferId) || bufferId < 0 || bufferId >= this.#bufferCount) {
      throw new ValueError(`not a buffer id of this ring: ${bufferId}`);
    }
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new ValueError(`offset ${offset} + length ${length} must lie within a buffer of ${size} bytes`);
    }
    const fd = this.#target(sock);
    if (callback === undefined) {
      // Consumed natively: no id in the table, nothing dispatched.
      this.#check(this.#prep((id, ring) => un.uringSendBuffer(ring, id, fd, bufferId, offset, length, true), 0));
      this.#queueFlush();
      return 0;
    }
    return this.#add('send', callback, null, (id, ring) => un.uringSendBuffer(ring, id, fd, bufferId, offset, length, false), true);
  }

  /**
   * A view of the first `length` bytes of ring buffer `bufferId` (valid
   * until the buffer is handed back).
   * @throws {ValueError} a buffer id or a length outside the ring's buffers.
   * @example
   * import { IoUring } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring({ bufferCount: 2, bufferSize: 8 });
   *   ring.recvMultishot(0, () => {}); // allocates the buffers (stdin never sends here)
   *   console.log(ring.bufferView(1, 8).length); // 8
   *   ring.close();
   * }
   */
  bufferView(bufferId: number, length: number): Buffer {
    if (!this.#pool || !Number.isInteger(bufferId) || bufferId < 0 || bufferId >= this.#bufferCount) {
      throw new ValueError(`not a buffer id of this ring: ${bufferId}`);
    }
    if (!Number.isInteger(length) || length < 0 || length > this.#bufferSize) {
      throw new ValueError(`length must be from 0 to ${this.#bufferSize}, not ${length}`);
    }
    const start = bufferId * this.#bufferSize;
    return this.#pool.subarray(start, start + length);
  }

  /**
   * Python's exception for a `-errno` result of the allocation-free path.
   * @example
   * import { IoUring } from 'weft/io';
   * console.log(IoUring.error(-104).name); // ConnectionResetError
   */
  static error(result: number): OSError {
    if (!Number.isInteger(result) || result >= 0) throw new ValueError(`not a -errno result: ${result}`);
    return fromErrno(result);
  }

  /**
   * Send several buffers as one message, with control messages and an
   * address (Python's `socket.sendmsg(buffers, ancdata, flags, address)`):
   * gathered by the kernel, no concatenation here. `result` is the bytes sent,
   * possibly fewer than the total on a stream socket (send the rest). The
   * buffers must not change until the completion; control data is copied now.
   * @returns the operation's id.
   * @throws {TypeError} a buffer or an ancillary item of the wrong shape.
   * @throws {OSError} EMSGSIZE for more than 1024 buffers (IOV_MAX).
   * @example
   * import { IoUring, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const [a, b] = socketpair();
   *   ring.sendmsg(a, [Buffer.from('hel'), Buffer.from('lo')]);
   *   console.log(ring.wait(1, 5)[0]!.result, String(b.recv(5))); // 5 hello
   *   a.close(); b.close();
   * }
   */
  sendmsg(sock: RingFile, buffers: Iterable<Uint8Array>, options: SendmsgOptions = {}, callback?: CompletionCallback): number {
    const list = [...buffers];
    for (const b of list) if (!(b instanceof Uint8Array)) throw new TypeError('a bytes-like object is required');
    if (list.length > IOV_MAX) throw new OSError(90, 'Message too long');
    const ancdata = [...(options.ancdata ?? [])];
    let control = 0;
    for (const item of ancdata) {
      if (!Array.isArray(item) || item.length !== 3 || !Number.isInteger(item[0]) || !Number.isInteger(item[1]) ||
        !(item[2] instanceof Uint8Array)) {
        throw new TypeError('ancillary data items must be [level, type, Uint8Array]');
      }
      control += 16 + align8(item[2].length); // CMSG_SPACE on 64-bit Linux; native checks
    }
    const flags = options.flags ?? 0;
    if (!Number.isInteger(flags) || flags < 0 || flags > 0x7fffffff) throw new ValueError(`flags must be MSG_* bits, not ${flags}`);
    let name: Buffer | null = null;
    if (options.address !== undefined) {
      if (typeof sock !== 'object' || !('family' in sock) || typeof sock.family !== 'number') {
        throw new TypeError('an address needs a weft socket (its family says how to encode it)');
      }
      name = sockaddr(sock.family, options.address);
    }
    const fd = this.#target(sock);
    // The msghdr (56 bytes) and iovecs (16 each) then the control messages, in memory of our own
    // that stays put (an ArrayBuffer of its own, 8-aligned) until the completion.
    const scratch = new Uint8Array(56 + 16 * list.length + control);
    const hold = [scratch, list, name];
    return this.#add('sendmsg', callback, hold, (id, ring) => un.uringSendmsg(ring, id, fd, scratch, list, ancdata, flags, name));
  }

  /**
   * Read from a file at `position` (-1: at, and advancing, the file's offset)
   * into `buffer`. `result` is the bytes read, 0 at end of file.
   * @returns the operation's id.
   * @example
   * import { IoUring } from 'weft/io';
   * import { openSync, closeSync } from 'node:fs';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const fd = openSync('/proc/self/stat', 'r');
   *   const buf = Buffer.alloc(64);
   *   ring.read(fd, buf, 0);
   *   console.log(ring.wait(1, 5)[0]!.result > 0); // true
   *   closeSync(fd);
   * }
   */
  read(file: RingFile, buffer: Uint8Array, position = -1, callback?: CompletionCallback): number {
    if (!(buffer instanceof Uint8Array)) throw new TypeError('buffer must be a Uint8Array');
    const fd = this.#target(file);
    const at = checkPosition(position);
    return this.#add('read', callback, buffer, (id, ring) => un.uringRead(ring, id, fd, buffer, 0, buffer.length, at));
  }

  /**
   * Write `data` to a file at `position` (-1: at, and advancing, the file's offset).
   * @returns the operation's id.
   * @example
   * import { IoUring } from 'weft/io';
   * import { openSync, closeSync, readFileSync, mkdtempSync } from 'node:fs';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const path = mkdtempSync('/tmp/weft-') + '/f';
   *   const fd = openSync(path, 'w+');
   *   ring.write(fd, Buffer.from('abc'), 0);
   *   ring.wait(1, 5);
   *   closeSync(fd);
   *   console.log(readFileSync(path, 'utf8')); // abc
   * }
   */
  write(file: RingFile, data: Uint8Array, position = -1, callback?: CompletionCallback): number {
    if (!(data instanceof Uint8Array)) throw new TypeError('a bytes-like object is required');
    const fd = this.#target(file);
    const at = checkPosition(position);
    return this.#add('write', callback, data, (id, ring) => un.uringWrite(ring, id, fd, data, 0, data.length, at));
  }

  /**
   * Close an fd through the ring. A weft `socket` passed here is detached first,
   * so it does not close the fd a second time. A registered file (`{ fixed }`)
   * is closed by emptying its slot, which a later direct accept may reuse.
   * @returns the operation's id.
   * @example
   * import { IoUring, socket } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const sock = new socket();
   *   ring.closeFd(sock);
   *   console.log(ring.wait(1, 5)[0]!.error, sock.fileno()); // null -1
   * }
   */
  closeFd(file: RingFile, callback?: CompletionCallback): number {
    const fd = this.#target(file);
    const id = this.#add('close', callback, null, (i, ring) => un.uringCloseFd(ring, i, fd));
    if (typeof file === 'object' && 'detach' in file && typeof file.detach === 'function') file.detach();
    return id;
  }

  /**
   * A completion after `seconds` (`error` null when the time ran out, an
   * `OSError` ECANCELED when cancelled).
   * @returns the operation's id.
   * @example
   * import { IoUring } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const t0 = performance.now();
   *   ring.timeout(0.02);
   *   ring.wait(1, 5);
   *   console.log(performance.now() - t0 >= 19); // true
   * }
   */
  timeout(seconds: number, callback?: CompletionCallback): number {
    if (typeof seconds !== 'number' || !(seconds >= 0) || !Number.isFinite(seconds)) {
      throw new ValueError(`timeout must be a finite number of seconds >= 0, not ${seconds}`);
    }
    return this.#add('timeout', callback, null, (id, ring) => un.uringTimeout(ring, id, seconds));
  }

  /**
   * Cancel the operation `target` (every shot of a multishot one): it
   * completes with `error` ECANCELED; this cancel's own completion has
   * `error` ENOENT when `target` had already finished.
   * @returns the cancel's own id.
   * @example
   * import { IoUring, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   const [a, b] = socketpair();
   *   const id = ring.recv(b);
   *   ring.submit();
   *   ring.cancel(id);
   *   const done = [...ring.wait(2, 5)];
   *   console.log(done.find((c) => c.id === id)!.error!.code); // ECANCELED
   *   a.close(); b.close();
   * }
   */
  cancel(target: number, callback?: CompletionCallback): number {
    if (!Number.isInteger(target) || target < 1) throw new ValueError(`not an operation id: ${target}`);
    const p = this.#pending.get(target);
    const data = p?.op === 'accept' ? target + ACCEPT_TAG + (p.direct ? DIRECT_TAG : 0) : target;
    return this.#add('cancel', callback, null, (id, ring) => un.uringCancel(ring, id, data));
  }

  /**
   * Hand a receive buffer back to the kernel once its `data` has been used.
   * @example
   * import { IoUring, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring({ bufferCount: 1 });
   *   const [a, b] = socketpair();
   *   a.send(Buffer.from('x'));
   *   ring.recv(b);
   *   const [c] = ring.wait(1, 5);
   *   ring.releaseBuffer(c!.bufferId); // without this, the next recv would fail with ENOBUFS
   *   a.close(); b.close();
   * }
   */
  releaseBuffer(bufferId: number): void {
    if (!Number.isInteger(bufferId) || bufferId < 0 || bufferId >= this.#bufferCount) {
      throw new ValueError(`not a buffer id of this ring: ${bufferId}`);
    }
    this.#check(un.uringGive(this.#handle(), bufferId));
  }

  /**
   * Hand the queued operations to the kernel now.
   * @returns how many it took.
   * @throws {OSError} the ring is closed (EBADF), or the kernel is short of memory.
   * @example
   * import { IoUring } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   ring.timeout(10);
   *   console.log(ring.submit()); // 1
   * }
   */
  submit(): number {
    return this.#check(un.uringSubmit(this.#handle()));
  }

  /**
   * Submit, then block the calling thread until `minComplete` completions are
   * ready or `timeout` seconds pass (null: no limit), as Python's selectors
   * block. Completions of operations given a callback go to it; the others
   * are returned (possibly fewer than `minComplete`, or none, after a time-out).
   * @throws {ValueError} a negative or non-numeric timeout.
   * @example
   * import { IoUring } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   console.log(ring.wait(1, 0.01).length); // 0
   * }
   */
  wait(minComplete = 1, timeout: number | null = null): Completion[] {
    if (timeout !== null && (typeof timeout !== 'number' || !(timeout >= 0))) {
      throw new ValueError(`timeout must be a number >= 0 or null, not ${timeout}`);
    }
    if (!Number.isInteger(minComplete) || minComplete < 0) throw new ValueError(`minComplete must be an integer >= 0, not ${minComplete}`);
    // Completions the event loop reaped while no iterator was waiting come first.
    const out: Completion[] = this.#ready.length > 0 ? this.#ready.splice(0).flat() : [];
    const n = this.#check(un.uringWait(this.#handle(), Math.max(0, minComplete - out.length), timeout ?? -1));
    this.#dispatch(n, out);
    // The output array holds one batch; more may be ready behind it.
    if (n * 3 === this.#out.length) for (let m; (m = un.uringReap(this.#handle())) > 0;) this.#dispatch(m, out);
    return out;
  }

  /**
   * Batches of completions (of operations without a callback) as they come,
   * on Node's event loop: the ring's fd is polled by libuv, and each wake-up
   * reaps every completion ready at once. The loop ends when the ring closes.
   * @throws {ValueError} on a `waitOnly` ring (at the first iteration).
   * @example
   * import { IoUring } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using ring = new IoUring();
   *   ring.timeout(0.001);
   *   for await (const batch of ring.completions()) {
   *     console.log(batch[0]!.op); // timeout
   *     break;
   *   }
   * }
   */
  async *completions(): AsyncGenerator<Completion[], void, undefined> {
    this.#handle();
    if (this.#waitOnly) throw new ValueError('a waitOnly ring has no completions(): call wait(), or make the ring without waitOnly');
    this.#iterators++;
    this.#arm();
    try {
      for (;;) {
        const ready = this.#ready.shift();
        if (ready) {
          yield ready;
          continue;
        }
        if (!this.#ring) return;
        const batch = await new Promise<Completion[] | null>((resolve) => this.#waiters.push(resolve));
        if (batch === null) return;
        yield batch;
      }
    } finally {
      this.#iterators--;
      this.#arm();
    }
  }

  /**
   * Cancel every operation in flight, wait (up to 5 s) for the kernel to
   * report each one — so no buffer is still in its hands — and close the
   * ring. Callbacks get those last completions (mostly ECANCELED); an fd
   * accepted meanwhile is closed. Idempotent.
   * @example
   * import { IoUring, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   const ring = new IoUring();
   *   const [a, b] = socketpair();
   *   ring.recv(b, {}, (c) => console.log(c.error?.code)); // ECANCELED
   *   ring.submit();
   *   ring.close();
   *   console.log(ring.fileno()); // -1
   *   a.close(); b.close();
   * }
   */
  close(): void {
    const ring = this.#ring;
    if (!ring || this.#closing) return;
    this.#closing = true;
    try {
      if (this.#pending.size > 0) {
        const id = this.#take();
        un.uringCancel(ring, id, -1);
        this.#pending.set(id, { op: 'cancel', callback: undefined, hold: null });
        const deadline = performance.now() + 5000;
        while (this.#pending.size > 0 && performance.now() < deadline) {
          const n = un.uringWait(ring, 1, Math.max(0, (deadline - performance.now()) / 1000));
          if (n < 0) break;
          this.#dispatch(n, null);
        }
      }
    } finally {
      if (this.#watch) io.watchClose(this.#watch);
      this.#watch = null;
      this.#watching = false;
      un.uringClose(ring);
      finalizer.unregister(this);
      this.#ring = null;
      this.#pending.clear();
      busy.delete(this);
      for (const w of this.#waiters.splice(0)) w(null);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal Operations in flight (for tests and the Proactor). */
  get inFlight(): number {
    return this.#pending.size;
  }

  #handle(): RingHandle {
    if (!this.#ring) throw new OSError(9, 'Bad file descriptor (the IoUring is closed)');
    return this.#ring;
  }

  /** The native form of a file argument: an fd, or slot s of the registered files as -2 - s (native Target()). */
  #target(file: RingFile): number {
    if (typeof file === 'object' && file !== null && 'fixed' in file) {
      const slot = file.fixed;
      if (!Number.isInteger(slot) || slot < 0 || slot >= this.#fixedFiles) {
        throw new ValueError(this.#fixedFiles === 0
          ? `{ fixed: ${slot} } names a registered file, and this ring has none: make it with new IoUring({ fixedFiles: N })`
          : `{ fixed: ${slot} } is not a slot of this ring's ${this.#fixedFiles} registered files`);
      }
      return -2 - slot;
    }
    return fdOf(file);
  }

  #check(r: number): number {
    if (r < 0) throw fromErrno(r);
    return r;
  }

  #take(): number {
    const id = this.#nextId;
    this.#nextId = id === MAX_ID ? 1 : id + 1;
    return id;
  }

  /** Queue one operation: `prep` writes its entry; the id and what it holds go in the table. */
  #add(
    op: IoUringOp, callback: CompletionCallback | LeanCallback | undefined, hold: unknown,
    prep: (id: number, ring: RingHandle) => number, lean = false,
  ): number {
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError('callback must be a function');
    let id = this.#take();
    while (this.#pending.has(id)) id = this.#take();
    this.#check(this.#prep(prep, id));
    if (this.#pending.size === 0) busy.add(this);
    this.#pending.set(id, lean ? { op, callback, hold, lean } : { op, callback, hold });
    if (callback) {
      this.#callbacks++;
      if (!this.#watching) this.#arm();
    }
    this.#queueFlush();
    return id;
  }

  /** Write one entry with `prep`; when the completion queue is full (EBUSY), take what is there and retry. */
  #prep(prep: (id: number, ring: RingHandle) => number, id: number): number {
    const ring = this.#handle();
    if (this.#closing) throw new OSError(9, 'Bad file descriptor (the IoUring is closing)');
    const r = prep(id, ring);
    if (r !== -16) return r;
    this.#dispatchReady();
    return prep(id, ring);
  }

  #queueFlush(): void {
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** End of the current job: hand what was queued to the kernel, one system call per batch. */
  #flush(): void {
    this.#flushQueued = false;
    if (this.#ring) un.uringSubmit(this.#ring);
  }

  #buffers(): void {
    if (this.#pool) return;
    const pool = Buffer.allocUnsafeSlow(this.#bufferCount * this.#bufferSize);
    this.#check(un.uringBuffers(this.#handle(), pool, this.#bufferSize, this.#bufferCount, 0));
    this.#pool = pool;
  }

  /** Start or stop the event loop's watch on the ring fd, as callbacks and iterators need it. */
  #arm(): void {
    const want = this.#ring !== null && !this.#waitOnly && (this.#callbacks > 0 || this.#iterators > 0);
    if (want === this.#watching) return;
    if (want) {
      if (!this.#watch) {
        const w = io.watchOpen(un.uringFd(this.#ring!), this, this.#onReadable);
        if (typeof w === 'number') throw fromErrno(w);
        this.#watch = w;
      }
      io.watchStart(this.#watch, true);
    } else if (this.#watch) {
      io.watchStop(this.#watch);
    }
    this.#watching = want;
  }

  /** libuv saw the ring fd readable: reap the whole batch, dispatch, submit what the callbacks queued. */
  #onReadable(this: IoUring, status: number): void {
    if (!this.#ring) return;
    this.#dispatchReady();
  }

  #dispatchReady(): void {
    const ring = this.#ring!;
    for (;;) {
      const n = un.uringReap(ring);
      if (n <= 0) break;
      const out: Completion[] = [];
      this.#dispatch(n, out);
      if (out.length > 0) {
        // For an iterator waiting, else for the next iteration or wait().
        const w = this.#waiters.shift();
        if (w) w(out);
        else this.#ready.push(out);
      }
      if (n * 3 < this.#out.length) break;
    }
    this.#arm();
  }

  /** Turn `n` reaped triples into completions: callbacks called, the rest pushed to `out`. */
  #dispatch(n: number, out: Completion[] | null): void {
    const cq = this.#out;
    for (let i = 0; i < n; i++) {
      const id = cq[i * 3]!;
      const res = cq[i * 3 + 1]!;
      const flags = cq[i * 3 + 2]!;
      const p = this.#pending.get(id);
      if (!p) continue;
      const more = (flags & F_MORE) !== 0;
      if (!more) {
        this.#pending.delete(id);
        if (p.callback) this.#callbacks--;
        if (this.#pending.size === 0) busy.delete(this);
      }
      if (p.lean) {
        (p.callback as LeanCallback)(res, flags & F_BUFFER ? flags >>> 16 : -1, more);
        continue;
      }
      let result = res;
      let error: OSError | null = null;
      if (p.op === 'timeout' && res === -ETIME) result = 0;
      else if (res < 0) error = fromErrno(res);
      else if (this.#closing && p.op === 'accept') {
        if (!p.direct) io.sockClose(res); // a slot goes with the ring's table
        result = -ECANCELED;
        error = fromErrno(result);
      }
      let data: Buffer | null = null;
      let bufferId = -1;
      if (flags & F_BUFFER) {
        bufferId = flags >>> 16;
        const start = bufferId * this.#bufferSize;
        data = this.#pool!.subarray(start, start + Math.max(0, res));
      }
      const c: Completion = { id, op: p.op, result, error, more, data, bufferId };
      if (p.callback) (p.callback as CompletionCallback)(c);
      else if (out) out.push(c);
    }
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function checkPosition(position: number): number {
  if (!Number.isInteger(position) || position < -1) throw new ValueError(`position must be an integer >= -1, not ${position}`);
  return position;
}
