/**
 * `Manager`: shared objects served by a server process — the twin of CPython's
 * `multiprocessing/managers.py` (`BaseManager`, `SyncManager`). The server
 * lives in its own process (or worker thread) and owns the objects; every
 * other process holds proxies and calls through a socket: a Unix socket in a
 * private directory for local use, TCP with a shared authkey for remote use.
 *
 * Split into: `manager_wire.ts` (frames, handshake, codec),
 * `manager_server.ts` (the server process), `manager_types.ts`,
 * `manager_sync_types.ts` and `manager_pool.ts` (what it serves),
 * `manager_proxy.ts` and `manager_pool_proxy.ts` (proxies).
 * @module
 */
import { mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { debugLog } from '../debug.js';
import { ConnectionRefusedError, FileNotFoundError, OverflowError, ValueError } from '../errors.js';
import { describe, inspection, type ManagerSnapshot } from '../inspect.js';
import type { BaseContext, ContextName } from './context.js';
import { Process, currentProcess, ended } from './process.js';
import { requireTaskRef, type TaskFunction } from './task.js';
import { isAlive } from './util.js';
import { isBuiltinType, managerServerMain, type RegisteredType, type ServerConfig } from './manager_server.js';
import {
  ArrayProxy, AutoProxy, BarrierProxy, BaseProxy, Client, ConditionProxy, DictProxy, EventProxy, JoinableQueueProxy, ListProxy,
  LockProxy, NamespaceProxy, QueueProxy, SemaphoreProxy, ValueProxy, clientFor, type Key, type Remote,
} from './manager_proxy.js';
import { AsyncResultProxy, PoolProxy, poolArgs } from './manager_pool_proxy.js';
import type { PoolOptions } from './pool.js';

export { AsyncResultProxy, PoolProxy };
export {
  ArrayProxy, AutoProxy, BarrierProxy, BaseProxy, ConditionProxy, DictProxy, EventProxy, JoinableQueueProxy, ListProxy, LockProxy,
  NamespaceProxy, QueueProxy, SemaphoreProxy, ValueProxy,
};
export type { Key, Remote, WaitOptions as ProxyWaitOptions } from './manager_proxy.js';
export { AuthenticationError, IndexError, RemoteError } from './manager_wire.js';
export { BrokenBarrierError } from './manager_sync_types.js';

/**
 * An authkey: bytes, or a string (its UTF-8 bytes).
 * @example
 * import { AuthenticationError, Manager, type Authkey } from 'weft';
 * await using manager = await Manager.start();
 * const { port } = await manager.serve({ port: 0, authkey: 'secret' });
 * const same: Authkey = new TextEncoder().encode('secret'); // a string stands for its UTF-8 bytes
 * await using remote = await Manager.connect({ host: '127.0.0.1', port, authkey: same });
 * console.log((await remote.stats()).pid === manager.pid); // true
 * try { await Manager.connect({ host: '127.0.0.1', port, authkey: 'guess' }); } catch (e) { console.log(e instanceof AuthenticationError); } // true
 */
export type Authkey = Uint8Array | string;

function keyBytes(key: Authkey | undefined, what: string): Buffer {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
    throw new TypeError(`${what}: authkey is required, a string or bytes (the key given to the server's serve()), got ${key === null ? 'null' : typeof key}`);
  }
  const buf = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  if (buf.length === 0) throw new ValueError(`${what}: the authkey must not be empty`);
  return buf;
}

/**
 * Options of {@link Manager.start}.
 * @example
 * import { Manager, type ManagerStartOptions } from 'weft';
 * const options: ManagerStartOptions = { context: 'thread', startTimeout: 10 };
 * await using manager = await Manager.start(options);
 * const l = await manager.list([1, 2]);
 * console.log(await l.len()); // 2
 */
export interface ManagerStartOptions {
  /** Where the server runs: `'process'` (default) or `'thread'`, or a context. */
  context?: ContextName | BaseContext;
  /** The key clients must prove they hold; `currentProcess().authkey` (inherited by children) by default. */
  authkey?: Authkey;
  /** Seconds to wait for the server to come up (default 30). */
  startTimeout?: number;
  /** Seconds a new connection has to complete the handshake, and a client to finish a message it started (default 5). */
  handshakeTimeout?: number;
  /**
   * Directories whose module files a `manager.Pool()` may import the tasks it is
   * given from (default: the directory of the script that started the manager).
   */
  taskRoots?: string[];
}

/**
 * Options of {@link Manager.serve}.
 * @example
 * import { Manager, type ServeOptions } from 'weft';
 * await using manager = await Manager.start();
 * const jobs = await manager.Queue<string>();
 * const options: ServeOptions = { host: '127.0.0.1', port: 0, authkey: 'secret', exposed: { jobs }, idleTimeout: 60 };
 * const { host, port } = await manager.serve(options);
 * console.log(host, port > 0); // 127.0.0.1 true
 */
export interface ServeOptions {
  /** Interface to listen on (default `'127.0.0.1'`). */
  host?: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** The key remote clients must hold (required). */
  authkey: Authkey;
  /** Objects remote clients may look up by name with `remote.get(name)`. */
  exposed?: Record<string, BaseProxy>;
  /** Seconds an authenticated remote connection may stay silent before it is dropped (default: no limit). */
  idleTimeout?: number;
  /**
   * Server operations remote clients of this listener may use, beyond looking up
   * what `exposed` publishes and calling it (default none): `'create'` (new shared
   * objects of any type, a Pool included), `'serve'` (more listeners), `'shutdown'`.
   */
  allow?: ('create' | 'serve' | 'shutdown')[];
}

/**
 * Options of {@link Manager.connect}.
 * @example
 * import { Manager, type ConnectOptions, type DictProxy } from 'weft';
 * await using manager = await Manager.start();
 * const { host, port } = await manager.serve({ port: 0, authkey: 'secret', exposed: { d: await manager.dict({ a: 1 }) } });
 * const where: ConnectOptions = { host, port, authkey: 'secret' };
 * await using remote = await Manager.connect(where);
 * const d = await remote.get<DictProxy<string, number>>('d');
 * console.log(await d.get('a')); // 1
 */
export interface ConnectOptions {
  host: string;
  port: number;
  authkey: Authkey;
}

/**
 * What {@link Manager.stats} reports.
 * @example
 * import { Manager, type ManagerStats } from 'weft';
 * await using manager = await Manager.start();
 * const before: ManagerStats = await manager.stats();
 * await manager.dict();
 * console.log(before.objects, (await manager.stats()).objects); // 0 1
 */
export interface ManagerStats {
  /** Shared objects alive on the server. */
  objects: number;
  /** Authenticated connections (about one per client process). */
  connections: number;
  /** References held to those objects, by clients and by other shared objects. */
  refs: number;
  /** Requests the server has handled since it started, from every client (its own operations such as this one included). */
  calls: number;
  /** The server's pid. */
  pid: number;
}

/**
 * Options of {@link Manager.register}.
 * @example
 * import { Manager, isMainModule, task, type RegisterOptions } from 'weft';
 * class Counter { n = 0; add(k: number) { return (this.n += k); } reset() { this.n = 0; } }
 * export const makeCounter = task(import.meta, () => new Counter());
 * const onlyAdd: RegisterOptions = { exposed: ['add'] };
 * Manager.register('Counter', makeCounter, onlyAdd);
 * if (isMainModule(import.meta)) {
 *   await using manager = await Manager.start();
 *   const counter = await manager.create<Counter>('Counter');
 *   console.log(await counter.add(2), 'reset' in counter); // 2 false
 * }
 */
export interface RegisterOptions {
  /** Method names remote callers may use; by default every public method (no leading `_`). */
  exposed?: string[];
}

const registry = new Map<string, RegisteredType>();
const liveDirs = new Set<string>();
let exitHooked = false;
let managerCount = 0;

function removeDir(dir: string): void {
  liveDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // The server removes its own directory; this covers a server that was SIGKILLed or never came up.
  process.on('exit', () => {
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

const DIR_PREFIX = 'weft-manager-';

/**
 * Removes socket directories whose owner process is gone. A server in a worker
 * thread dies with its process when that process is SIGKILLed and cannot
 * clean up; the next manager started on the machine does it.
 */
function sweepStaleDirs(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^weft-manager-(\d+)-/.exec(name);
    if (m && Number(m[1]) !== process.pid && !isAlive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The directories a manager's Pool may import tasks from: as given, or the main script's. */
function taskRoots(given: unknown): string[] {
  if (given === undefined) {
    const script = process.argv[1];
    if (!script) return [process.cwd()]; // node -e, the REPL: no script to take the directory of
    try {
      return [dirname(realpathSync(script))];
    } catch {
      return [dirname(resolve(script))];
    }
  }
  if (!Array.isArray(given) || !given.every((d) => typeof d === 'string' && d.length > 0)) {
    throw new TypeError('Manager.start: taskRoots must be an array of directory paths');
  }
  return given.map((d: string) => resolve(d));
}

const OPERATIONS = ['create', 'serve', 'shutdown'];

/** WEFT_DEBUG=manager (debug.ts): managers started, connected and shut down here (the server logs its side). */
const log = debugLog('manager');

/**
 * A manager: Python's `multiprocessing.Manager()` / `SyncManager`. Start one
 * with {@link Manager.start} (a server of your own) or reach another with
 * {@link Manager.connect}; make shared objects with `dict()`, `list()`,
 * `Queue()`, `Lock()` …, pass their proxies to children.
 *
 * @example
 * import { Manager, Process, task, isMainModule, type DictProxy } from 'weft';
 * export const work = task(import.meta, async (d: DictProxy<string, number>) => { await d.set('child', process.pid); });
 * if (isMainModule(import.meta)) {
 *   await using manager = await Manager.start();
 *   const d = await manager.dict<string, number>();
 *   const p = new Process({ target: work, args: [d] });
 *   p.start();
 *   await p.join();
 *   console.log((await d.get('child')) === p.pid); // true
 * }
 */
export class Manager implements AsyncDisposable {
  /** The server's address: a Unix socket path, or `tcp://host:port` for a connected manager. */
  readonly address: string;
  readonly #client: Client;
  readonly #process: Process | null;
  readonly #dir: string | null;
  #shut = false;

  private constructor(address: string, client: Client, process: Process | null, dir: string | null) {
    this.address = address;
    this.#client = client;
    this.#process = process;
    this.#dir = dir;
    inspection?.track('managers', this);
  }

  /**
   * Declares a shared type, Python's `BaseManager.register(typeid, callable, exposed=…)`:
   * `factory` (declared with `task(import.meta, fn)`, so the server can import it)
   * makes the object from `create()`'s arguments. Register before `start()`.
   * @example
   * import { Manager, isMainModule, task } from 'weft';
   * class Counter { n = 0; add(k: number) { return (this.n += k); } }
   * export const makeCounter = task(import.meta, (start: number) => Object.assign(new Counter(), { n: start }));
   * Manager.register('Counter', makeCounter, { exposed: ['add'] }); // at the top level: the server imports this module
   * if (isMainModule(import.meta)) {
   *   await using manager = await Manager.start();
   *   const counter = await manager.create<Counter>('Counter', 5);
   *   console.log(await counter.add(2)); // 7
   * }
   * @throws {TypeError} when `factory` was not declared with `task()`, or `typeid` is a built-in type.
   */
  static register(typeid: string, factory: TaskFunction, options: RegisterOptions = {}): void {
    if (typeof typeid !== 'string' || !typeid) throw new TypeError('register(typeid, factory): typeid must be a non-empty string');
    if (isBuiltinType(typeid)) throw new TypeError(`register: '${typeid}' is a built-in manager type`);
    const ref = requireTaskRef(factory, 'factory');
    registry.set(typeid, { typeid, factory: ref, exposed: options.exposed ? [...options.exposed] : undefined });
  }

  /**
   * Starts a server process and connects to it.
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start(); // shut down when the scope ends
   * console.log(typeof manager.pid); // number
   * @throws {Error} when the server process exits before it is ready or does not come up in `startTimeout` seconds.
   */
  static async start(options: ManagerStartOptions = {}): Promise<Manager> {
    const authkey = options.authkey === undefined ? Buffer.from(currentProcess().authkey) : keyBytes(options.authkey, 'Manager.start');
    hookExit();
    sweepStaleDirs();
    const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`)); // mode 0700: only this user may connect
    liveDirs.add(dir);
    const path = join(dir, 'manager.sock');
    const config: ServerConfig = {
      path,
      dir,
      authkey: authkey.toString('hex'),
      registry: [...registry.values()],
      parentPid: process.pid,
      handshakeTimeout: options.handshakeTimeout,
      taskRoots: taskRoots(options.taskRoots),
    };
    const proc = new Process({ target: managerServerMain, args: [config], daemon: true, context: options.context, name: `SyncManager-${++managerCount}` });
    try {
      proc.start();
    } catch (err) {
      removeDir(dir);
      throw err;
    }
    void ended(proc).then(() => removeDir(dir)); // a server SIGKILLed cannot clean up after itself
    const deadline = Date.now() + (options.startTimeout ?? 30) * 1000;
    for (;;) {
      const client = clientFor(path, authkey);
      try {
        await client.connect();
        log?.('started %s (pid %d) on %s', proc.name, proc.pid, path);
        return new Manager(path, client, proc, dir);
      } catch (err) {
        if (!(err instanceof FileNotFoundError || err instanceof ConnectionRefusedError)) {
          proc.kill();
          throw err;
        }
        if (proc.exitCode !== null) throw new Error(`the manager server process exited with code ${proc.exitCode} before it was ready`, { cause: err });
        if (Date.now() > deadline) {
          proc.kill();
          throw new Error(`the manager server did not come up within ${options.startTimeout ?? 30} s`, { cause: err });
        }
        await sleep(5);
      }
    }
  }

  /**
   * Connects to a manager another process published with {@link Manager.serve}
   * (Python's `BaseManager(address, authkey).connect()`).
   * @example
   * import { Manager, type DictProxy } from 'weft';
   * await using manager = await Manager.start();
   * const { port } = await manager.serve({ port: 0, authkey: 'secret', exposed: { shared: await manager.dict({ hits: 1 }) } });
   * await using remote = await Manager.connect({ host: '127.0.0.1', port, authkey: 'secret' });
   * const d = await remote.get<DictProxy>('shared');
   * console.log(await d.get('hits')); // 1
   * @throws {TypeError} without an authkey (or a host, or an integer port).
   * @throws {OverflowError} when the port is outside 0-65535.
   * @throws {gaierror} when the host name does not resolve.
   * @throws {AuthenticationError} when the authkeys differ, or the peer is not a weft manager.
   * @throws {ConnectionRefusedError} when nothing listens there, or the manager turned the connection away (it says why).
   */
  static async connect(options: ConnectOptions): Promise<Manager> {
    if (options === null || typeof options !== 'object') throw new TypeError('Manager.connect(options): options must be { host, port, authkey }');
    const key = keyBytes(options.authkey, 'Manager.connect');
    if (typeof options.host !== 'string' || !options.host) throw new TypeError('Manager.connect: host must be a non-empty string');
    if (!Number.isInteger(options.port)) throw new TypeError(`Manager.connect: port must be an integer, got ${String(options.port)}`);
    if (options.port < 0 || options.port > 65535) throw new OverflowError('Manager.connect: port must be 0-65535.');
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    const address = `tcp://${host}:${options.port}`;
    const client = clientFor(address, key);
    try {
      await client.connect();
    } catch (err) {
      log?.('connect to %s failed: %s', address, (err as Error).message);
      throw err;
    }
    log?.('connected to %s', address);
    return new Manager(address, client, null, null);
  }

  /** The server's pid (the worker's tid in the thread context); undefined for a connected manager. */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  #call(method: string, args: unknown[]): Promise<unknown> {
    return this.#client.call(0, method, args);
  }

  /**
   * Makes an object of a registered (or built-in) type on the server.
   * @example
   * import { Manager, isMainModule, task } from 'weft';
   * class Counter { n = 0; add(k: number) { return (this.n += k); } }
   * export const makeCounter = task(import.meta, (start: number) => Object.assign(new Counter(), { n: start }));
   * Manager.register('Counter', makeCounter);
   * if (isMainModule(import.meta)) {
   *   await using manager = await Manager.start();
   *   const counter = await manager.create<Counter>('Counter', 5);
   *   console.log(String(counter)); // <AutoProxy object, typeid 'Counter', id 1>
   * }
   * @throws {TypeError} when the server knows no such type.
   */
  create<T = unknown>(typeid: string, ...args: unknown[]): Promise<AutoProxy & Remote<T>> {
    return this.#call('create', [typeid, args]) as Promise<AutoProxy & Remote<T>>;
  }

  /**
   * A shared dict, filled from an object, a Map or pairs.
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const d = await manager.dict({ a: 1 });
   * console.log(await d.toObject()); // { a: 1 }
   */
  dict<K extends Key = Key, V = unknown>(init?: Record<string, V> | Map<K, V> | [K, V][]): Promise<DictProxy<K, V>> {
    return this.#call('create', ['dict', [init]]) as Promise<DictProxy<K, V>>;
  }

  /**
   * A shared list.
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const l = await manager.list([1, 2]);
   * await l.append(3);
   * console.log(await l.toArray()); // [ 1, 2, 3 ]
   */
  list<T = unknown>(init?: T[]): Promise<ListProxy<T>> {
    return this.#call('create', ['list', [init]]) as Promise<ListProxy<T>>;
  }

  /**
   * A shared namespace.
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const ns = await manager.Namespace({ x: 1 });
   * console.log(await ns.get('x')); // 1
   */
  Namespace(init?: Record<string, unknown>): Promise<NamespaceProxy> {
    return this.#call('create', ['Namespace', [init]]) as Promise<NamespaceProxy>;
  }

  /**
   * A shared value with a typecode (`'i'`, `'d'`…).
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const v = await manager.Value('i', 0);
   * await v.set(5);
   * console.log(await v.get()); // 5
   * @throws {TypeError} when the value does not fit.
   */
  Value<T = number>(typecode: string, value: T): Promise<ValueProxy<T>> {
    return this.#call('create', ['Value', [typecode, value]]) as Promise<ValueProxy<T>>;
  }

  /**
   * A shared fixed-length array.
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const a = await manager.Array('d', 4);
   * console.log(await a.toArray()); // [ 0, 0, 0, 0 ]
   */
  Array(typecode: string, lengthOrValues: number | number[]): Promise<ArrayProxy> {
    return this.#call('create', ['Array', [typecode, lengthOrValues]]) as Promise<ArrayProxy>;
  }

  /**
   * A queue on the server (0: unbounded).
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const q = await manager.Queue();
   * await q.put('x');
   * console.log(await q.get()); // x
   */
  Queue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.#call('create', ['Queue', [maxsize]]) as Promise<QueueProxy<T>>;
  }

  /**
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const q = await manager.JoinableQueue();
   * await q.put('job');
   * await q.get();
   * await q.taskDone();
   * await q.join();
   * console.log(await q.empty()); // true
   */
  JoinableQueue<T = unknown>(maxsize = 0): Promise<JoinableQueueProxy<T>> {
    return this.#call('create', ['JoinableQueue', [maxsize]]) as Promise<JoinableQueueProxy<T>>;
  }

  /**
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const lock = await manager.Lock();
   * console.log(await lock.acquire(), await lock.locked()); // true true
   * await lock.release();
   */
  Lock(): Promise<LockProxy> {
    return this.#call('create', ['Lock', []]) as Promise<LockProxy>;
  }

  /**
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const rlock = await manager.RLock();
   * console.log(await rlock.acquire(), await rlock.acquire()); // true true
   * await rlock.release();
   * await rlock.release();
   */
  RLock(): Promise<LockProxy> {
    return this.#call('create', ['RLock', []]) as Promise<LockProxy>;
  }

  /**
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const sem = await manager.Semaphore(3);
   * await sem.acquire();
   * console.log(await sem.getValue()); // 2
   * @throws {ValueError} for a negative value.
   */
  Semaphore(value = 1): Promise<SemaphoreProxy> {
    return this.#call('create', ['Semaphore', [value]]) as Promise<SemaphoreProxy>;
  }

  /**
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const sem = await manager.BoundedSemaphore(3);
   * await sem.release().catch((e: Error) => console.log(e.name)); // ValueError
   * @throws {ValueError} for a negative value.
   */
  BoundedSemaphore(value = 1): Promise<SemaphoreProxy> {
    return this.#call('create', ['BoundedSemaphore', [value]]) as Promise<SemaphoreProxy>;
  }

  /**
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const ev = await manager.Event();
   * await ev.set();
   * console.log(await ev.isSet()); // true
   */
  Event(): Promise<EventProxy> {
    return this.#call('create', ['Event', []]) as Promise<EventProxy>;
  }

  /**
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const cond = await manager.Condition();
   * await cond.acquire();
   * console.log(await cond.wait(0.05)); // false
   * await cond.release();
   */
  Condition(): Promise<ConditionProxy> {
    return this.#call('create', ['Condition', []]) as Promise<ConditionProxy>;
  }

  /**
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const b = await manager.Barrier(1);
   * console.log(await b.wait(), await b.parties()); // 0 1
   * @param parties how many `wait` calls trip the barrier.
   * @param action run in the server when the barrier trips, before the parties go on: a function declared
   *   with `task()` in a module the server may import (as a served Pool's tasks; Python pickles it instead).
   * @param timeout the default timeout of `wait`, in seconds.
   * @throws {ValueError} when `parties` < 1.
   * @throws {TypeError} when `action` was not declared with `task()`, or its module is not one the server allows.
   */
  Barrier(parties: number, action: TaskFunction | null = null, timeout: number | null = null): Promise<BarrierProxy> {
    const ref = action === null ? null : requireTaskRef(action, 'action');
    return this.#call('create', ['Barrier', [parties, ref, timeout]]) as Promise<BarrierProxy>;
  }

  /**
   * A process pool living in the server (Python's `manager.Pool()`): the
   * options of `new Pool()`, its proxy for any process. Its workers are
   * children of the server; they stop when the last proxy is released and
   * when the manager shuts down.
   * @example
   * import { Manager, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   await using manager = await Manager.start();
   *   const pool = await manager.Pool({ processes: 1 });
   *   console.log(await pool.apply(square, [7])); // 49
   * }
   * @throws {TypeError} when `initializer` was not declared with `task()`.
   * @throws {ValueError} when `processes` or `maxTasksPerChild` is not a positive integer, or `context` is unknown.
   */
  async Pool(options: PoolOptions = {}): Promise<PoolProxy> {
    return (await this.#call('create', ['Pool', poolArgs(options)])) as PoolProxy;
  }

  /**
   * Publishes this manager over TCP for other machines (Python's
   * `BaseManager(address=(host, port), authkey=…)` server side): clients
   * connect with {@link Manager.connect} and look objects up by name.
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const d = await manager.dict({ hits: 0 });
   * const { host, port } = await manager.serve({ port: 0, authkey: 'secret', exposed: { shared: d } });
   * console.log(host, port > 0); // 127.0.0.1 true
   * @throws {TypeError} without an authkey, when an exposed value is not a proxy of this manager, or `allow` names an unknown operation.
   * @throws {OSError} when the address cannot be bound.
   */
  async serve(options: ServeOptions): Promise<{ host: string; port: number }> {
    const key = keyBytes(options?.authkey, 'serve');
    const allow = options.allow ?? [];
    if (!Array.isArray(allow) || allow.some((op) => !OPERATIONS.includes(op))) {
      throw new TypeError(`serve: allow lists server operations among ${OPERATIONS.map((op) => `'${op}'`).join(', ')}, got ${JSON.stringify(allow)}`);
    }
    return (await this.#call('serve', [{
      allow: [...allow],
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      authkey: key.toString('hex'),
      exposed: options.exposed ?? {},
      idleTimeout: options.idleTimeout ?? 0,
    }])) as { host: string; port: number };
  }

  /**
   * The object published as `name` by the server's {@link Manager.serve}.
   * @example
   * import { Manager, type DictProxy } from 'weft';
   * await using manager = await Manager.start();
   * const { port } = await manager.serve({ port: 0, authkey: 'secret', exposed: { shared: await manager.dict({ hits: 1 }) } });
   * await using remote = await Manager.connect({ host: '127.0.0.1', port, authkey: 'secret' });
   * const d = await remote.get<DictProxy<string, number>>('shared');
   * console.log(await d.incr('hits')); // 2
   * @throws {KeyError} when nothing is published under that name.
   */
  get<P extends BaseProxy = BaseProxy>(name: string): Promise<P> {
    return this.#call('lookup', [name]) as Promise<P>;
  }

  /**
   * Counts on the server: live objects and connections (for tests and monitoring).
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * await manager.dict();
   * const { objects, connections, pid } = await manager.stats();
   * console.log(objects, connections, pid === manager.pid); // 1 1 true
   */
  stats(): Promise<ManagerStats> {
    return this.#call('info', []) as Promise<ManagerStats>;
  }

  /**
   * Stops the server (a manager started here) and removes its socket
   * directory; for a connected manager, closes this process's connection.
   * Calls still pending in any process reject with EOFError. Idempotent.
   * @example
   * import { Manager } from 'weft';
   * const manager = await Manager.start();
   * const q = await manager.Queue();
   * const pending = q.get().catch((e: Error) => e.name); // waits on the server
   * await manager.shutdown();
   * console.log(await pending); // EOFError
   */
  async shutdown(): Promise<void> {
    if (this.#shut) return;
    this.#shut = true;
    log?.('%s %s', this.#process ? 'shutting down the server on' : 'disconnecting from', this.address);
    if (!this.#process) {
      this.#client.close();
      return;
    }
    // The server is a daemon child (unref'd): hold the event loop open while waiting for it to exit.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      await this.#call('shutdown', []).catch(() => {});
      await this.#process.join(5);
      if (this.#process.exitCode === null) {
        this.#process.kill();
        await this.#process.join(5);
      }
    } finally {
      clearInterval(keepAlive);
    }
    this.#client.close();
    if (this.#dir) removeDir(this.#dir);
  }

  /** @internal What `weft top` shows of this manager (inspect.ts): its server's counts, asked now. */
  async [describe](): Promise<Omit<ManagerSnapshot, 'id'>> {
    const base = { address: this.address, started: this.#process !== null, pid: this.#process?.pid ?? null };
    if (this.#shut) return { ...base, stats: null, error: 'shut down' };
    try {
      return { ...base, stats: await this.stats() };
    } catch (err) {
      return { ...base, stats: null, error: (err as Error).message };
    }
  }

  /** `await using manager = await Manager.start()` shuts it down at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
