/**
 * Python's `selectors` module, the twin of CPython's Lib/selectors.py:
 * `BaseSelector`, `SelectSelector`, `_PollLikeSelector` with `PollSelector` and
 * `EpollSelector`, and `DefaultSelector` (epoll on Linux, picked once by probing).
 * Same `KeyError`/`ValueError` cases and messages, same roll-back when the
 * kernel call fails.
 *
 * weft adds `selectAsync(timeout)`: it waits without blocking Node's event loop
 * through one libuv poll handle on an epoll fd — the selector's own for
 * EpollSelector, a shadow interest list for the others (only a wake-up device:
 * readiness is always decided by the selector's own `select(0)` afterwards).
 * libuv forces O_NONBLOCK on the fds it polls, which is harmless on an epoll fd
 * but would change a blocking socket: that is why sockets are never polled directly.
 * @module
 */
import { inspect } from 'node:util';
import { KeyError, RuntimeError, ValueError } from '../errors.js';
import { io, ok, type WatchHandle } from './_native.js';
import { EPOLLIN, EPOLLOUT, FD_SETSIZE, POLLIN, POLLOUT } from './constants.js';
import { epoll, millisTimeout, Poll, pyCeil, selectTimeout, type FileLike } from './select.js';

/**
 * The file object is ready to read.
 * @example
 * import { DefaultSelector, EVENT_READ, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using sel = new DefaultSelector();
 * sel.register(b, EVENT_READ);
 * a.sendAll(Buffer.from('x'));
 * console.log(sel.select(0)[0][1] === EVENT_READ); // true
 * a.close(); b.close();
 */
export const EVENT_READ = 1 << 0;
/**
 * The file object is ready to write.
 * @example
 * import { DefaultSelector, EVENT_READ, EVENT_WRITE, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using sel = new DefaultSelector();
 * sel.register(a, EVENT_READ | EVENT_WRITE);
 * console.log(sel.select(0)[0][1] === EVENT_WRITE); // true
 * a.close(); b.close();
 */
export const EVENT_WRITE = 1 << 1;

/**
 * Python's `SelectorKey` named tuple: the registered file object, its fd, the
 * events watched and the caller's `data` (e.g. a callback).
 * @example
 * import { DefaultSelector, EVENT_READ, socketpair, type FileLike } from 'weft/io';
 * type Handler = (fileobj: FileLike, mask: number) => void;
 * const [a, b] = socketpair();
 * using sel = new DefaultSelector<Handler>();
 * sel.register(b, EVENT_READ, () => console.log('readable')); // readable
 * a.sendAll(Buffer.from('x'));
 * for (const [key, mask] of sel.select()) key.data(key.fileobj, mask);
 * a.close(); b.close();
 */
export class SelectorKey<D = unknown> {
  constructor(
    /** What was registered (a socket, an object with fileno(), or an fd). */
    readonly fileobj: FileLike,
    /** Its file descriptor. */
    readonly fd: number,
    /** EVENT_READ and/or EVENT_WRITE. */
    readonly events: number,
    /** The data given at registration. */
    readonly data: D,
  ) {}
}

function repr(obj: unknown): string {
  if (typeof obj === 'object' && obj !== null && obj.toString !== Object.prototype.toString) return String(obj);
  return inspect(obj);
}

/**
 * CPython's `_fileobj_to_fd`.
 * @throws {ValueError} 'Invalid file object: ...' or 'Invalid file descriptor: -1'.
 */
function fileobjToFd(fileobj: FileLike): number {
  let fd: unknown = fileobj;
  if (typeof fileobj !== 'number') {
    const f = (fileobj as { fileno?: unknown } | null)?.fileno;
    if (typeof f !== 'function') throw new ValueError(`Invalid file object: ${repr(fileobj)}`);
    fd = f.call(fileobj);
  }
  if (typeof fd !== 'number' || !Number.isInteger(fd)) throw new ValueError(`Invalid file object: ${repr(fileobj)}`);
  if (fd < 0) throw new ValueError(`Invalid file descriptor: ${fd}`);
  return fd;
}

/**
 * Python's `_SelectorMapping`: a read-only view from file objects (or fds) to keys;
 * iterating yields fds.
 * @example
 * import { DefaultSelector, EVENT_READ, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using sel = new DefaultSelector();
 * sel.register(a, EVENT_READ);
 * sel.register(b, EVENT_READ);
 * const map = sel.getMap()!;
 * console.log(map.size, map.has(a), [...map.values()].map((key) => key.fd === b.fileno())); // 2 true [ false, true ]
 * a.close(); b.close();
 */
export class SelectorMapping<D = unknown> {
  /** @internal A selector's {@link BaseSelector.getMap} makes its mapping. */
  constructor(
    private readonly selector: BaseSelectorImpl<D>,
    private readonly fdToKey: Map<number, SelectorKey<D>>,
  ) {}
  /** Number of registered file objects. */
  get size(): number {
    return this.fdToKey.size;
  }
  /** The key of `fileobj`, or undefined. */
  get(fileobj: FileLike): SelectorKey<D> | undefined {
    try {
      return this.fdToKey.get(this.selector.fileobjLookup(fileobj));
    } catch {
      return undefined;
    }
  }
  /** Whether `fileobj` is registered. */
  has(fileobj: FileLike): boolean {
    return this.get(fileobj) !== undefined;
  }
  /** The registered keys. */
  values(): IterableIterator<SelectorKey<D>> {
    return this.fdToKey.values();
  }
  /** The registered fds. */
  [Symbol.iterator](): IterableIterator<number> {
    return this.fdToKey.keys();
  }
}

/**
 * A selector's event list: each ready key with the events ready on it.
 * @example
 * import { DefaultSelector, EVENT_READ, socketpair, type Ready } from 'weft/io';
 * const [a, b] = socketpair();
 * using sel = new DefaultSelector<string>();
 * sel.register(b, EVENT_READ, 'b');
 * a.sendAll(Buffer.from('x'));
 * const ready: Ready<string> = sel.select(0);
 * console.log(ready.map(([key, events]) => [key.data, events])); // [ [ 'b', 1 ] ]
 * a.close(); b.close();
 */
export type Ready<D> = [key: SelectorKey<D>, events: number][];

/**
 * Python's `selectors.BaseSelector`: the interface of every selector.
 * @example
 * import { DefaultSelector, EVENT_READ, socketpair, type BaseSelector } from 'weft/io';
 * const [a, b] = socketpair();
 * const sel: BaseSelector = new DefaultSelector();
 * sel.register(a, EVENT_READ);
 * console.log(sel.getKey(a).events); // 1
 * sel.close();
 * a.close(); b.close();
 */
export abstract class BaseSelector<D = unknown> {
  /**
   * Watch `fileobj` for `events`; `data` comes back in the key.
   * @throws {ValueError} events is 0 or has bits other than EVENT_READ | EVENT_WRITE, or a bad file object.
   * @throws {KeyError} already registered.
   */
  abstract register(fileobj: FileLike, events: number, data?: D): SelectorKey<D>;
  /** Stop watching `fileobj`. @throws {KeyError} not registered. */
  abstract unregister(fileobj: FileLike): SelectorKey<D>;
  /** Change the events or data of a registered file object. @throws {KeyError} not registered. */
  modify(fileobj: FileLike, events: number, data?: D): SelectorKey<D> {
    this.unregister(fileobj);
    return this.register(fileobj, events, data);
  }
  /**
   * Wait up to `timeout` seconds (null: forever, <= 0: poll) and return the ready keys with their events.
   * Blocks the calling thread, like Python's.
   */
  abstract select(timeout?: number | null): Ready<D>;
  /** Like `select`, but waits without blocking Node's event loop. */
  abstract selectAsync(timeout?: number | null): Promise<Ready<D>>;
  /** Release the selector's resources. */
  close(): void {}
  /** The key of a registered file object. @throws {RuntimeError} closed. @throws {KeyError} not registered. */
  getKey(fileobj: FileLike): SelectorKey<D> {
    const mapping = this.getMap();
    if (mapping === null) throw new RuntimeError('Selector is closed');
    const key = mapping.get(fileobj);
    if (key === undefined) throw new KeyError(`${repr(fileobj)} is not registered`);
    return key;
  }
  /** The file object → key mapping, or null once closed. */
  abstract getMap(): SelectorMapping<D> | null;

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * What must be released when a selector is closed or collected, in this
 * order; also the target of the libuv poll handle's callback (it holds no
 * selector, so a selector nobody closed can still be collected).
 */
interface Resources {
  /** The pending `selectAsync` wait's wake-up, if one is pending. */
  resolve: (() => void) | null;
  watch: WatchHandle | null;
  /**
   * Whether `watch` is started. It stays started between waits: stopping and
   * starting it again makes libuv take the epoll fd out of its own epoll set
   * and put it back, and the kernel checks the nested set for loops on every
   * such add, a walk over every fd registered in it (thousands, in a server).
   */
  armed: boolean;
  shadow: number; // shadow epoll fd for SelectSelector/PollSelector, -1 if none
  poller: epoll | null;
}

function onReadable(this: Resources): void {
  const resolve = this.resolve;
  if (resolve !== null) {
    this.resolve = null;
    resolve();
    return;
  }
  // Readable with nobody waiting (the program awaits something else between
  // two selects): a level-triggered poll would call back on every turn of
  // the loop, so it stops until the next wait.
  if (this.watch !== null) io.watchStop(this.watch);
  this.armed = false;
}

function release(res: Resources): void {
  if (res.watch) io.watchClose(res.watch); // before its fd is closed (uv_poll_init(3))
  res.watch = null;
  res.armed = false;
  if (res.shadow >= 0) io.sockClose(res.shadow);
  res.shadow = -1;
  res.poller?.close();
  const resolve = res.resolve;
  res.resolve = null;
  resolve?.();
}

const finalizer = new FinalizationRegistry<Resources>(release);

const now = (): number => performance.now() / 1000;

/** Python's `_BaseSelectorImpl`: the fd → key bookkeeping shared by every selector. */
abstract class BaseSelectorImpl<D> extends BaseSelector<D> {
  protected fdToKey = new Map<number, SelectorKey<D>>();
  protected map: SelectorMapping<D> | null = new SelectorMapping<D>(this, this.fdToKey);
  protected readonly res: Resources;

  constructor(poller: epoll | null) {
    super();
    this.res = { resolve: null, watch: null, armed: false, shadow: -1, poller };
    finalizer.register(this, this.res, this);
  }

  /** CPython's `_fileobj_lookup`: the fd, or that of a registered object whose fileno() now fails. @internal */
  fileobjLookup(fileobj: FileLike): number {
    try {
      return fileobjToFd(fileobj);
    } catch (err) {
      for (const key of this.fdToKey.values()) if (key.fileobj === fileobj) return key.fd;
      throw err;
    }
  }

  override register(fileobj: FileLike, events: number, data?: D): SelectorKey<D> {
    if (!events || events & ~(EVENT_READ | EVENT_WRITE)) throw new ValueError(`Invalid events: ${repr(events)}`);
    const key = new SelectorKey<D>(fileobj, this.fileobjLookup(fileobj), events, data as D);
    if (this.fdToKey.has(key.fd)) throw new KeyError(`${repr(fileobj)} (FD ${key.fd}) is already registered`);
    this.fdToKey.set(key.fd, key);
    this.shadowSet(key.fd, events, true);
    return key;
  }

  override unregister(fileobj: FileLike): SelectorKey<D> {
    const fd = this.fileobjLookup(fileobj);
    const key = this.fdToKey.get(fd);
    if (key === undefined) throw new KeyError(`${repr(fileobj)} is not registered`);
    this.fdToKey.delete(fd);
    this.shadowDel(fd);
    return key;
  }

  /**
   * The key of a registered `fileobj` (CPython's `_fd_to_key[_fileobj_lookup(fileobj)]`).
   * @throws {KeyError} when it is not registered (or has no usable fd).
   */
  protected registeredKey(fileobj: FileLike): SelectorKey<D> {
    const key = this.map?.get(fileobj);
    if (key === undefined) throw new KeyError(`${repr(fileobj)} is not registered`);
    return key;
  }

  override modify(fileobj: FileLike, events: number, data?: D): SelectorKey<D> {
    let key = this.registeredKey(fileobj);
    if (events !== key.events) {
      this.unregister(fileobj);
      return this.register(fileobj, events, data);
    }
    if (data !== key.data) {
      key = new SelectorKey<D>(key.fileobj, key.fd, key.events, data as D);
      this.fdToKey.set(key.fd, key);
    }
    return key;
  }

  override close(): void {
    this.fdToKey.clear();
    this.map = null;
    finalizer.unregister(this);
    release(this.res);
  }

  override getMap(): SelectorMapping<D> | null {
    return this.map;
  }

  override async selectAsync(timeout: number | null = null): Promise<Ready<D>> {
    if (timeout !== null && typeof timeout !== 'number') throw new TypeError('timeout must be a number or null');
    if (Number.isNaN(timeout)) throw new ValueError('Invalid value NaN (not a number)');
    const deadline = timeout === null ? Infinity : now() + Math.max(timeout, 0);
    for (;;) {
      const ready = this.select(0);
      const left = deadline - now();
      if (ready.length > 0 || left <= 0 || this.map === null) return ready;
      await this.waitReadable(left);
      if (this.map === null) return [];
    }
  }

  /** The epoll fd whose readability means "something may be ready". */
  protected wakeFd(): number {
    if (this.res.shadow < 0) {
      this.res.shadow = ok(io.epollCreate());
      for (const key of this.fdToKey.values()) this.shadowSet(key.fd, key.events, true);
    }
    return this.res.shadow;
  }

  /** Mirror a registration into the shadow epoll, if there is one (tolerant: it only wakes). */
  protected shadowSet(fd: number, events: number, add: boolean): void {
    if (this.res.shadow < 0) return;
    const mask = (events & EVENT_READ ? EPOLLIN : 0) | (events & EVENT_WRITE ? EPOLLOUT : 0);
    if (io.epollCtl(this.res.shadow, add ? 1 : 3, fd, mask) === -17) io.epollCtl(this.res.shadow, 3, fd, mask);
  }

  protected shadowDel(fd: number): void {
    if (this.res.shadow >= 0) io.epollCtl(this.res.shadow, 2, fd, 0);
  }

  private waitReadable(left: number): Promise<void> {
    const res = this.res;
    if (res.resolve) throw new RuntimeError('selectAsync() is already waiting on this selector');
    if (res.watch === null) {
      const w = io.watchOpen(this.wakeFd(), res, onReadable);
      if (typeof w === 'number') ok(w);
      res.watch = w as WatchHandle;
    }
    const watch = res.watch;
    if (!res.armed) {
      ok(io.watchStart(watch, true));
      res.armed = true;
    }
    // Armed between waits, the handle holds the event loop only during one.
    io.watchRef(watch, true);
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      res.resolve = () => {
        if (timer) clearTimeout(timer);
        io.watchRef(watch, false);
        resolve();
      };
      if (left !== Infinity) {
        timer = setTimeout(() => {
          res.resolve = null;
          io.watchRef(watch, false);
          resolve();
        }, Math.min(Math.ceil(left * 1000), 0x7fffffff));
      }
    });
  }
}

/**
 * Python's `selectors.SelectSelector`, on select(2). Limited to fds below 1024.
 * @example
 * import { EVENT_READ, SelectSelector, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using sel = new SelectSelector();
 * sel.register(b, EVENT_READ);
 * a.sendAll(Buffer.from('x'));
 * console.log(sel.select(0).length); // 1
 * a.close(); b.close();
 */
export class SelectSelector<D = unknown> extends BaseSelectorImpl<D> {
  #readers = new Set<number>();
  #writers = new Set<number>();

  constructor() {
    super(null);
  }

  override register(fileobj: FileLike, events: number, data?: D): SelectorKey<D> {
    const key = super.register(fileobj, events, data);
    if (events & EVENT_READ) this.#readers.add(key.fd);
    if (events & EVENT_WRITE) this.#writers.add(key.fd);
    return key;
  }

  override unregister(fileobj: FileLike): SelectorKey<D> {
    const key = super.unregister(fileobj);
    this.#readers.delete(key.fd);
    this.#writers.delete(key.fd);
    return key;
  }

  /**
   * @throws {ValueError} an fd >= 1024 ('filedescriptor out of range in select()').
   * @example
   * import { EVENT_READ, SelectSelector, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * using sel = new SelectSelector();
   * sel.register(b, EVENT_READ);
   * a.sendAll(Buffer.from('x'));
   * for (const [key, events] of sel.select(1)) console.log(key.fd === b.fileno(), events); // true 1
   * a.close(); b.close();
   */
  override select(timeout: number | null = null): Ready<D> {
    // Python: select.select(..., max(timeout, 0)), whose checks raise for NaN and huge values.
    const t = selectTimeout(timeout === null ? null : Math.max(timeout, 0));
    const r = Int32Array.from(this.#readers);
    const w = Int32Array.from(this.#writers);
    for (const fd of r) if (fd >= FD_SETSIZE) throw new ValueError('filedescriptor out of range in select()');
    for (const fd of w) if (fd >= FD_SETSIZE) throw new ValueError('filedescriptor out of range in select()');
    const ready: Ready<D> = [];
    if (ok(io.selectWait(r, w, new Int32Array(0), t)) === 0) return ready;
    const events = new Map<number, number>();
    for (const fd of r) if (fd >= 0) events.set(fd, EVENT_READ);
    for (const fd of w) if (fd >= 0) events.set(fd, (events.get(fd) ?? 0) | EVENT_WRITE);
    for (const [fd, mask] of events) {
      const key = this.fdToKey.get(fd);
      if (key) ready.push([key, mask & key.events]);
    }
    return ready;
  }

  override close(): void {
    this.#readers.clear();
    this.#writers.clear();
    super.close();
  }
}

/** The kernel-side interface `_PollLikeSelector` drives: a poll or epoll object. */
interface Poller {
  register(fd: number, mask: number): void;
  modify(fd: number, mask: number): void;
  unregister(fd: number): void;
}

/** Python's `_PollLikeSelector`: poll and epoll differ only in their object and event bits. */
abstract class PollLikeSelector<D> extends BaseSelectorImpl<D> {
  protected abstract readonly selector: Poller;
  protected abstract readonly EVENT_READ_BIT: number;
  protected abstract readonly EVENT_WRITE_BIT: number;

  protected mask(events: number): number {
    return (events & EVENT_READ ? this.EVENT_READ_BIT : 0) | (events & EVENT_WRITE ? this.EVENT_WRITE_BIT : 0);
  }

  override register(fileobj: FileLike, events: number, data?: D): SelectorKey<D> {
    const key = super.register(fileobj, events, data);
    try {
      this.selector.register(key.fd, this.mask(events));
    } catch (err) {
      super.unregister(fileobj);
      throw err;
    }
    return key;
  }

  override unregister(fileobj: FileLike): SelectorKey<D> {
    const key = super.unregister(fileobj);
    try {
      this.selector.unregister(key.fd);
    } catch {
      // The fd may have been closed already: it was removed from the kernel's set with it.
    }
    return key;
  }

  override modify(fileobj: FileLike, events: number, data?: D): SelectorKey<D> {
    let key = this.registeredKey(fileobj);
    let changed = false;
    if (events !== key.events) {
      if (!events || events & ~(EVENT_READ | EVENT_WRITE)) throw new ValueError(`Invalid events: ${repr(events)}`);
      try {
        this.selector.modify(key.fd, this.mask(events));
      } catch (err) {
        super.unregister(fileobj);
        throw err;
      }
      changed = true;
    }
    if (data !== key.data) changed = true;
    if (changed) {
      key = new SelectorKey<D>(key.fileobj, key.fd, events, data as D);
      this.fdToKey.set(key.fd, key);
      this.shadowSet(key.fd, events, false);
    }
    return key;
  }

  /** Turn one kernel event into EVENT_* bits, as CPython: anything but "readable" counts as writable and vice versa. */
  protected readyEvents(ready: Ready<D>, fd: number, event: number): void {
    let events = 0;
    if (event & ~this.EVENT_READ_BIT) events |= EVENT_WRITE;
    if (event & ~this.EVENT_WRITE_BIT) events |= EVENT_READ;
    const key = this.fdToKey.get(fd);
    if (key) ready.push([key, events & key.events]);
  }
}

/**
 * Python's `selectors.PollSelector`, on poll(2).
 * @example
 * import { EVENT_READ, PollSelector, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using sel = new PollSelector<() => void>();
 * sel.register(b, EVENT_READ, () => console.log(String(b.recv(10)))); // hi
 * a.sendAll(Buffer.from('hi'));
 * for (const [key] of sel.select(1)) key.data();
 * a.close(); b.close();
 */
export class PollSelector<D = unknown> extends PollLikeSelector<D> {
  protected override readonly selector = new Poll();
  protected override readonly EVENT_READ_BIT = POLLIN;
  protected override readonly EVENT_WRITE_BIT = POLLOUT;

  constructor() {
    super(null);
  }

  /**
   * @example
   * import { EVENT_WRITE, PollSelector, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * using sel = new PollSelector();
   * sel.register(a, EVENT_WRITE);
   * for (const [key, events] of sel.select(0)) console.log(key.fd === a.fileno(), events); // true 2
   * a.close(); b.close();
   */
  override select(timeout: number | null = null): Ready<D> {
    const ms = timeout === null ? null : timeout <= 0 ? 0 : pyCeil(timeout * 1e3);
    const ready: Ready<D> = [];
    for (const [fd, event] of this.selector.poll(ms)) this.readyEvents(ready, fd, event);
    return ready;
  }
}

/**
 * Python's `selectors.EpollSelector`, on epoll(7): the wait costs the same
 * whatever the number of idle connections.
 * @example
 * import { EVENT_READ, EpollSelector, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using sel = new EpollSelector<() => void>();
 * sel.register(b, EVENT_READ, () => console.log(String(b.recv(10)))); // hi
 * a.sendAll(Buffer.from('hi'));
 * for (const [key] of sel.select(1)) key.data();
 * a.close(); b.close();
 */
export class EpollSelector<D = unknown> extends PollLikeSelector<D> {
  protected override readonly selector: epoll;
  protected override readonly EVENT_READ_BIT = EPOLLIN;
  protected override readonly EVENT_WRITE_BIT = EPOLLOUT;
  #out = new Int32Array(2 * 64);

  constructor() {
    const poller = new epoll();
    super(poller);
    this.selector = poller;
  }

  /**
   * The epoll fd.
   * @example
   * import { EpollSelector } from 'weft/io';
   * using sel = new EpollSelector();
   * const epfd = sel.fileno();
   * console.log(epfd > 2); // true
   */
  fileno(): number {
    return this.selector.fileno();
  }

  /**
   * @example
   * import { EVENT_READ, EpollSelector, socketpair } from 'weft/io';
   * const [a, b] = socketpair();
   * using sel = new EpollSelector();
   * sel.register(b, EVENT_READ);
   * a.sendAll(Buffer.from('x'));
   * console.log(sel.select().map(([key, events]) => [key.fileobj === b, events])); // [ [ true, 1 ] ]
   * a.close(); b.close();
   */
  override select(timeout: number | null = null): Ready<D> {
    // Python: math.ceil(timeout * 1e3) * 1e-3, then epoll.poll's own checks (too large for its int of ms).
    const t = timeout === null ? -1 : timeout <= 0 ? 0 : millisTimeout(pyCeil(timeout * 1e3) * 1e-3, 1e9);
    // Python asks for max(len(fd_to_key), 1) events; weft reuses one array for them.
    const maxev = Math.max(this.fdToKey.size, 1);
    if (this.#out.length < maxev * 2) this.#out = new Int32Array(maxev * 2);
    const out = this.#out;
    const n = ok(io.epollWait(this.selector.fileno(), out, maxev, t));
    const ready: Ready<D> = [];
    for (let i = 0; i < n; i++) this.readyEvents(ready, out[2 * i]!, out[2 * i + 1]!);
    return ready;
  }

  /** The selector's own epoll fd is the wake-up fd: no shadow set to maintain. */
  protected override wakeFd(): number {
    return this.selector.fileno();
  }

  protected override shadowSet(): void {}
  protected override shadowDel(): void {}
}

/** The best selector here, probed once: epoll if the kernel has it, else poll. */
const Best: typeof EpollSelector = (() => {
  try {
    new epoll().close();
    return EpollSelector;
  } catch {
    return PollSelector as unknown as typeof EpollSelector;
  }
})();

/**
 * Python's `selectors.DefaultSelector`: the most efficient selector available
 * (EpollSelector on Linux).
 * @example
 * import { DefaultSelector, EVENT_READ, createServer, socket } from 'weft/io';
 * using server = createServer(['127.0.0.1', 0]);
 * using sel = new DefaultSelector<(sock: socket, mask: number) => void>();
 * const accept = (sock: socket) => { const [conn] = sock.accept(); console.log('accepted'); conn.close(); }; // accepted
 * sel.register(server, EVENT_READ, accept);
 * using client = new socket();
 * client.connect(server.getSockName());
 * for (const [key, mask] of sel.select()) key.data(key.fileobj as socket, mask);
 */
export class DefaultSelector<D = unknown> extends Best<D> {}
