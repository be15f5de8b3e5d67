/**
 * `Process` and the questions a process asks about itself — the twin of
 * CPython's `multiprocessing/process.py`. How a child is started (an OS
 * process or a worker thread) is the context's business; this module only
 * names, starts, joins and stops children.
 * @module
 */
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { cpuQuota } from './cgroup.js';
import { debugLog } from '../debug.js';
import { ValueError } from '../errors.js';
import { lazy } from '../lazy.js';
import type { BaseContext, ContextName } from './context.js';
import { getContext } from './context.js';
import type { Readable } from 'node:stream';
import type { ResourceLimits } from 'node:worker_threads';
import type { ChildOptions, Popen } from './popen.js';
import { processChannels, signalOf, type ProcessEvents } from './pool_events.js';
import { dumps, type FdChannel } from './reduction.js';
import type { Preparation } from './spawn.js';
import { requireTaskRef, type TaskFunction } from './task.js';
import { isAlive, selfId } from './util.js';

/**
 * Options of {@link Process}.
 * @example
 * import { Process, isMainModule, task, type ProcessOptions } from 'weft';
 * export const add = task(import.meta, (a: number, b: number) => console.log(a + b)); // 5
 * if (isMainModule(import.meta)) {
 *   const options: ProcessOptions<typeof add> = { target: add, args: [2, 3], name: 'adder', context: 'thread' };
 *   const p = new Process(options);
 *   p.start();
 *   await p.join();
 *   console.log(p.name, p.exitCode); // adder 0
 * }
 */
export interface ProcessOptions<F extends TaskFunction = TaskFunction> {
  /** The function to run, declared with `task(import.meta, fn)`. */
  target: F;
  /** Arguments for `target`: structured-clone data, and weft's queues, pipe ends, locks and shared values. */
  args?: Parameters<F>;
  /** A name; `Process-N` (`Process-N:M` in a child) by default. */
  name?: string;
  /** Daemon children are stopped when their parent exits and may not start children. Inherited by default. */
  daemon?: boolean;
  /** `'process'` (default) or `'thread'`, or a context from `getContext`. */
  context?: ContextName | BaseContext;
  /**
   * The child's whole environment (as `child_process` takes it); the parent's `process.env` at `start()` by default.
   * A process child whose variables read by Node as it starts (`NODE_OPTIONS`, `NODE_EXTRA_CA_CERTS`, `UV_*`…)
   * differ from the parent's boots for them instead of taking the child booted ahead, so they take effect.
   */
  env?: NodeJS.ProcessEnv;
  /** The child's working directory; the parent's by default. Process context only: a thread shares its process's. */
  cwd?: string;
  /** Node options for the child, after those it inherits from the parent (loaders such as `--import tsx`). */
  execArgv?: string[];
  /** Arguments the child finds in `process.argv` after the script's path. */
  argv?: string[];
  /**
   * The child's stdout and stderr: the parent's (`'inherit'`, default), discarded, or
   * (`'pipe'`) Node Readable streams the parent reads as {@link Process.stdout} and {@link Process.stderr}.
   */
  stdio?: StdioMode;
  /** A worker thread's heap and stack limits (Node's `resourceLimits`). Thread context only: a process takes `execArgv: ['--max-old-space-size=N']`. */
  resourceLimits?: ResourceLimits;
  /** What the OS tools show: the child's `process.title` (`ps`, `top`), or a worker thread's `name` (Node 22+). */
  title?: string;
}

/**
 * Where a child's stdout and stderr go: the parent's own (`'inherit'`), nowhere, or
 * (`'pipe'`) Node Readable streams the parent reads as `p.stdout` and `p.stderr`.
 * @example
 * import { Process, isMainModule, task, type StdioMode } from 'weft';
 * export const hello = task(import.meta, () => console.log('hello from the child'));
 * if (isMainModule(import.meta)) {
 *   const stdio: StdioMode = 'pipe';
 *   const p = new Process({ target: hello, stdio });
 *   p.start();
 *   let text = '';
 *   for await (const chunk of p.stdout!) text += chunk;
 *   await p.join();
 *   console.log(text.trim()); // hello from the child
 * }
 */
export type StdioMode = 'inherit' | 'ignore' | 'pipe';

interface Self {
  name: string;
  daemon: boolean;
  identity: number[];
  /** Inherited by a child; the main process makes its own at first use. */
  authkey: Buffer | null;
  parent: { pid: number; name: string } | null;
}

let self: Self = {
  name: 'MainProcess',
  daemon: false,
  identity: [],
  authkey: null,
  parent: null,
};
let childCounter = 0;
/** WEFT_DEBUG=process (debug.ts). */
const log = debugLog('process');
let bootstrapping = false;
const children = new Set<Process>();
/** Each started child's end, for weft's own watchers (see {@link ended}). */
const ends = new WeakMap<Process, Promise<unknown>>();

/**
 * Resolves when a started child ends, without holding the event loop open as
 * `join()` does: for weft's own watchers of daemon children (a Pool's workers,
 * a Manager's server), which must not keep their program alive.
 */
export function ended(p: Process): Promise<unknown> {
  const end = ends.get(p);
  if (!end) throw new Error('can only watch a started process');
  return end;
}

/**
 * This process's key, made at first need from 32 bytes of /dev/urandom, as
 * Python's `os.urandom(32)`: `crypto.randomBytes` would load `node:crypto`,
 * ~5 ms of a fresh parent's first start.
 */
function authkey(): Buffer {
  if (self.authkey) return self.authkey;
  const key = Buffer.alloc(32);
  const fd = openSync('/dev/urandom', 'r');
  try {
    if (readSync(fd, key) !== key.length) throw new Error('/dev/urandom gave fewer than 32 bytes');
  } finally {
    closeSync(fd);
  }
  return (self.authkey = key);
}

/** A copy: a caller that writes into the key it was given changes no one else's. */
function keyCopy(key: Uint8Array): Buffer {
  return Buffer.from(key);
}

/** @internal Called by the child bootstrap with what its parent said. */
export function setChildState(prep: Preparation): void {
  self = {
    name: prep.name,
    daemon: prep.daemon,
    identity: prep.identity,
    authkey: keyCopy(prep.authkey),
    parent: { pid: prep.parentPid, name: prep.parentName },
  };
}

/**
 * @internal Lets this daemonic child start children of its own: the Manager's
 * server, which Python starts as a non-daemon, runs Pools. Its parent still
 * treats it as a daemon (it does not wait for it and stops it at exit).
 */
export function allowChildren(): void {
  self = { ...self, daemon: false };
}

/** @internal True while a child imports its task's module. */
export function setBootstrapping(on: boolean): void {
  bootstrapping = on;
}

const STDIO_MODES: readonly string[] = ['inherit', 'ignore', 'pipe'];

/** @internal Checks the start options of {@link ProcessOptions}, refusing those the context cannot honour. */
export function childOptions(o: Omit<ProcessOptions, 'target'>, context: ContextName): ChildOptions {
  const strings = (name: string, v: unknown) => {
    if (v !== undefined && !(Array.isArray(v) && v.every((a) => typeof a === 'string'))) {
      throw new TypeError(`${name} must be an array of strings, got ${lazy.util.inspect(v)}`);
    }
  };
  strings('execArgv', o.execArgv);
  strings('argv', o.argv);
  if (o.stdio !== undefined && !STDIO_MODES.includes(o.stdio)) {
    throw new ValueError(`stdio must be 'inherit', 'ignore' or 'pipe', got ${lazy.util.inspect(o.stdio)}`);
  }
  if (o.env !== undefined && (o.env === null || typeof o.env !== 'object')) throw new TypeError(`env must be an object of strings, got ${lazy.util.inspect(o.env)}`);
  if (o.cwd !== undefined && typeof o.cwd !== 'string') throw new TypeError(`cwd must be a string, got ${lazy.util.inspect(o.cwd)}`);
  if (o.cwd !== undefined && context === 'thread') {
    throw new ValueError("cwd does not apply to a worker thread (it shares its process's working directory): use the 'process' context for a child with its own cwd");
  }
  if (o.resourceLimits !== undefined && context === 'process') {
    throw new ValueError("resourceLimits applies to worker threads: give a process child execArgv: ['--max-old-space-size=N'] instead");
  }
  const env = o.env === undefined ? undefined : Object.fromEntries(Object.entries(o.env).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  return { env, cwd: o.cwd, execArgv: o.execArgv && [...o.execArgv], argv: o.argv && [...o.argv], stdio: o.stdio, resourceLimits: o.resourceLimits, title: o.title };
}

/**
 * A child process or thread running `target(...args)`: Python's
 * `multiprocessing.Process`.
 *
 * @example
 * import { Process, task, isMainModule } from 'weft';
 * export const work = task(import.meta, (n: number) => console.log('child got', n)); // child got 42
 * if (isMainModule(import.meta)) {
 *   const p = new Process({ target: work, args: [42] });
 *   p.start();
 *   await p.join();
 *   console.log(p.exitCode); // 0
 * }
 */
export class Process<F extends TaskFunction = TaskFunction> extends EventEmitter<ProcessEvents> {
  readonly #target: F;
  readonly #args: unknown[];
  readonly #context: BaseContext;
  readonly #identity: number[];
  #name: string;
  #daemon: boolean;
  readonly #options: ChildOptions;
  #popen: Popen | null = null;
  #closed = false;
  #authkey: Buffer = keyCopy(authkey());

  constructor(options: ProcessOptions<F>) {
    super();
    if (options === null || typeof options !== 'object') {
      throw new TypeError('new Process({ target, args }): pass an options object');
    }
    this.#target = options.target;
    this.#args = options.args ? [...options.args] : [];
    const ctx = options.context ?? 'process';
    this.#context = typeof ctx === 'string' ? getContext(ctx) : ctx;
    this.#identity = [...self.identity, ++childCounter];
    this.#name = options.name ?? `Process-${this.#identity.join(':')}`;
    this.#daemon = options.daemon ?? self.daemon;
    this.#options = childOptions(options, this.#context.name);
  }

  /** The child's stdout with `stdio: 'pipe'` (a Node Readable), from `start()` on; null otherwise. */
  get stdout(): Readable | null {
    return this.#popen?.stdout ?? null;
  }

  /** The child's stderr with `stdio: 'pipe'` (a Node Readable), from `start()` on; null otherwise. */
  get stderr(): Readable | null {
    return this.#popen?.stderr ?? null;
  }

  /** The name; settable until started. */
  get name(): string {
    return this.#name;
  }
  set name(value: string) {
    this.#name = String(value);
  }

  /** Whether the child is a daemon; settable until started. */
  get daemon(): boolean {
    return this.#daemon;
  }
  set daemon(value: boolean) {
    if (this.#popen) throw new Error('process has already started');
    this.#daemon = Boolean(value);
  }

  /**
   * The child's pid (a worker thread's kernel tid in the thread context); undefined before start.
   * A worker thread publishes its tid as the first thing it does; a spare worker (booted ahead) has already
   * done so, but reading `pid` right after starting one that had to boot from scratch waits for that boot
   * (blocking, some tens of milliseconds) — the tid does not exist earlier.
   */
  get pid(): number | undefined {
    return this.#popen?.pid;
  }

  /** Python's `ident`, the same as {@link pid}. */
  get ident(): number | undefined {
    return this.pid;
  }

  /** null while running or before start; then 0, 1 when the target threw, N from `process.exit(N)`, or -signal. */
  get exitCode(): number | null {
    return this.#popen?.exitCode ?? null;
  }

  /**
   * The key the child authenticates to managers with (its `currentProcess().authkey`): the starter's by
   * default, as in Python, where the main process makes 32 random bytes. Settable.
   * @throws {TypeError} when set to something other than bytes.
   */
  get authkey(): Buffer {
    return this.#authkey;
  }
  set authkey(value: Uint8Array) {
    if (!(value instanceof Uint8Array)) throw new TypeError('authkey must be bytes (a Buffer or Uint8Array)');
    this.#authkey = keyCopy(value);
  }

  /** The start method in use. */
  get context(): ContextName {
    return this.#context.name;
  }

  /**
   * Starts the child; returns at once (the child runs concurrently).
   * @throws {TypeError} when the target was not declared with `task()`, or where no child can import it.
   * @throws {UnsendableError} when an argument cannot cross to the child.
   * @throws {Error} when called twice, from a daemon, or while this process is still bootstrapping.
   */
  start(): void {
    this.#checkOpen();
    if (this.#popen) throw new Error('cannot start a process twice');
    if (bootstrapping) {
      throw new Error(
        'An attempt has been made to start a new process before the current process has finished its ' +
          'bootstrapping phase: a child imported a module that starts processes at its top level. Guard that code ' +
          'with `if (isMainModule(import.meta)) { ... }`.',
      );
    }
    if (self.daemon) throw new Error('daemonic processes are not allowed to have children');
    const task = requireTaskRef(this.#target);
    const fds: number[] = [];
    const handOvers: (() => void)[] = [];
    const channel: FdChannel = {
      collect(fd) {
        const i = fds.indexOf(fd);
        return i >= 0 ? i : fds.push(fd) - 1;
      },
      handOver: (fn) => handOvers.push(fn),
      to: this.#context.name,
    };
    const prep: Preparation = {
      task,
      args: dumps(this.#args, 'args', channel),
      name: this.#name,
      daemon: this.#daemon,
      identity: this.#identity,
      parentPid: currentProcess().pid,
      parentName: self.name,
      authkey: this.#authkey,
      context: this.#context.name,
      title: this.#options.title,
    };
    this.#popen = this.#context.start({ prep, fds, daemon: this.#daemon, options: this.#options });
    for (const handOver of handOvers) handOver();
    children.add(this);
    ends.set(this, this.#popen.exited);
    const pid = this.#context.name === 'process' ? this.#popen.pid : 0; // a thread's tid may not exist yet: read at exit
    log?.('%s started', this);
    void this.#popen.exited.then((exitCode) => {
      children.delete(this);
      log?.('%s exited', this);
      if (this.listenerCount('exit') > 0 || processChannels.exit.hasSubscribers) {
        const message = { process: this as Process, pid: pid || this.#popen!.pid, exitCode, signal: signalOf(exitCode) };
        if (processChannels.exit.hasSubscribers) processChannels.exit.publish(message);
        this.emit('exit', message);
      }
    });
    if (this.listenerCount('start') > 0 || processChannels.start.hasSubscribers) {
      const message = { process: this as Process, pid: this.#popen.pid };
      if (processChannels.start.hasSubscribers) processChannels.start.publish(message);
      this.emit('start', message);
    }
  }

  /**
   * Waits until the child ends, or `timeout` seconds pass (a negative timeout is 0, as in Python); check
   * `exitCode` to tell which. The wait keeps the program alive, a daemon child's too (as Python's join blocks).
   * @throws {Error} when the process was never started.
   * @throws {RangeError} when `timeout` is not a number.
   */
  async join(timeout: number | null = null): Promise<void> {
    this.#checkOpen();
    if (!this.#popen) throw new Error('can only join a started process');
    if (timeout == null) {
      // A daemon child keeps no event loop alive, but a program awaiting its join must not
      // end in the middle of it (Python's join blocks): hold the loop open meanwhile.
      const hold = setInterval(() => {}, 1 << 30);
      try {
        await this.#popen.exited;
      } finally {
        clearInterval(hold);
      }
      return;
    }
    if (typeof timeout !== 'number' || Number.isNaN(timeout)) {
      throw new RangeError(`timeout must be a number of seconds or null, got ${timeout}`);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#popen.exited,
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, timeout) * 1000);
      }),
    ]);
    clearTimeout(timer);
  }

  /** True from `start()` until the child ends. */
  isAlive(): boolean {
    this.#checkOpen();
    return this.#popen !== null && this.#popen.exitCode === null;
  }

  /** Asks the child to stop: SIGTERM for a process; a thread is stopped and reports -15. */
  terminate(): void {
    this.#checkOpen();
    this.#popen?.terminate();
  }

  /** Stops the child at once: SIGKILL for a process; a thread is stopped and reports -9. */
  kill(): void {
    this.#checkOpen();
    this.#popen?.kill();
  }

  /**
   * Releases the child's resources; later calls other than `close` throw ValueError.
   * @throws {ValueError} while the child is still running.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#popen && this.#popen.exitCode === null) {
      throw new ValueError('Cannot close a process while it is still running. You should first call join() or terminate().');
    }
    this.#closed = true;
    children.delete(this);
  }

  #checkOpen(): void {
    if (this.#closed) throw new ValueError('process object is closed');
  }

  /**
   * Python's repr: `<Process name='Process-1' pid=123 started>`. It never waits: a worker thread's tid is shown once the
   * thread has published it as it boots (reading {@link pid} would block the
   * event loop until then, tens of milliseconds, and a debug log of each start
   * would make a pool's threads boot one after another).
   */
  override toString(): string {
    const state = !this.#popen ? 'initial' : this.#popen.exitCode === null ? 'started' : `stopped exitcode=${this.#popen.exitCode}`;
    const pid = this.#popen?.knownPid ?? 0;
    return `<Process name='${this.#name}'${pid > 0 ? ` pid=${pid}` : ''} ${state}${this.#daemon ? ' daemon' : ''}>`;
  }
}

/**
 * The running process (or worker thread) as its children and it see it.
 * @example
 * import { currentProcess, type CurrentProcess } from 'weft';
 * const me: CurrentProcess = currentProcess();
 * console.log(me.name, me.pid === process.pid, me.identity); // MainProcess true []
 */
export interface CurrentProcess {
  /** `MainProcess`, or the name its parent gave it. */
  readonly name: string;
  /** The pid, or a worker thread's kernel tid. */
  readonly pid: number;
  /** Python's `ident`, the same as {@link pid}. */
  readonly ident: number;
  /** Always null: the running process has not ended (Python's `exitcode` of `current_process()`). */
  readonly exitCode: null;
  /** Always true, as Python's `current_process().is_alive()`. */
  isAlive(): boolean;
  readonly daemon: boolean;
  /** Python's `_identity`: the path of child numbers from the main process. */
  readonly identity: readonly number[];
  /** The key children inherit to authenticate to managers: 32 random bytes in the main process. */
  readonly authkey: Buffer;
}

/**
 * The running process: Python's `current_process()`.
 * @example
 * import { Process, currentProcess, isMainModule, task } from 'weft';
 * export const whoami = task(import.meta, () => console.log(currentProcess().name)); // worker
 * if (isMainModule(import.meta)) {
 *   const p = new Process({ target: whoami, name: 'worker' });
 *   p.start();
 *   await p.join();
 *   console.log(currentProcess().name); // MainProcess
 * }
 */
export function currentProcess(): CurrentProcess {
  return {
    name: self.name,
    pid: selfId,
    ident: selfId,
    exitCode: null,
    isAlive: () => true,
    daemon: self.daemon,
    identity: self.identity,
    authkey: authkey(),
  };
}


/**
 * The parent of a child, Python's `parent_process()` result.
 * @example
 * import { Process, isMainModule, parentProcess, task, type ParentProcess } from 'weft';
 * export const child = task(import.meta, () => {
 *   const parent: ParentProcess | null = parentProcess();
 *   console.log(parent?.name, parent?.isAlive()); // MainProcess true
 * });
 * if (isMainModule(import.meta)) {
 *   const p = new Process({ target: child, context: 'thread' });
 *   p.start();
 *   await p.join();
 *   console.log(parentProcess()); // null
 * }
 */
export interface ParentProcess {
  readonly pid: number;
  readonly name: string;
  /** Whether the parent still runs. */
  isAlive(): boolean;
  /**
   * Waits until the parent ends, or `timeout` seconds pass (negative: 0), as Python's `parent_process().join()`.
   * @throws {RangeError} when `timeout` is not a number.
   */
  join(timeout?: number | null): Promise<void>;
}

/** How often {@link ParentProcess.join} looks: the kernel tells no one else of a parent's end. */
const PARENT_POLL_MS = 20;

/**
 * The parent process (or the starter of a worker thread), or null in the main process.
 * @example
 * import { Process, isMainModule, parentProcess, task } from 'weft';
 * export const child = task(import.meta, () => console.log(parentProcess()?.name)); // MainProcess
 * if (isMainModule(import.meta)) {
 *   const p = new Process({ target: child });
 *   p.start();
 *   await p.join();
 *   console.log(parentProcess()); // null
 * }
 */
export function parentProcess(): ParentProcess | null {
  const parent = self.parent;
  if (!parent) return null;
  const alive = () => isAlive(parent.pid);
  return {
    pid: parent.pid,
    name: parent.name,
    isAlive: alive,
    async join(timeout: number | null = null) {
      if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout))) {
        throw new RangeError(`timeout must be a number of seconds or null, got ${timeout}`);
      }
      const until = timeout === null ? Infinity : performance.now() + Math.max(0, timeout) * 1000;
      while (alive()) {
        const left = until - performance.now();
        if (left <= 0) return;
        await new Promise((resolve) => setTimeout(resolve, Math.min(PARENT_POLL_MS, left)));
      }
    },
  };
}

/**
 * Children started by this process that are still running.
 * @example
 * import { Process, activeChildren, isMainModule, task } from 'weft';
 * export const nap = task(import.meta, () => new Promise((resolve) => setTimeout(resolve, 10_000)));
 * if (isMainModule(import.meta)) {
 *   const p = new Process({ target: nap });
 *   p.start();
 *   for (const child of activeChildren()) child.terminate();
 *   await p.join();
 *   console.log(activeChildren().length, p.exitCode); // 0 -15
 * }
 */
export function activeChildren(): Process[] {
  return [...children].filter((p) => p.isAlive());
}

/**
 * The number of CPUs this process may use: those it may run on
 * (`os.availableParallelism()`), and no more than its control group's CPU
 * quota allows, rounded up — a container's CPU limit (`docker run --cpus 2`,
 * Kubernetes' `limits.cpu`), which Node and Python's `os.cpu_count()` do not
 * count. Read afresh at each call; Pool's default size and `weft serve`'s
 * worker count.
 * @example
 * import { availableParallelism } from 'node:os';
 * import { cpuCount } from 'weft';
 * console.log(cpuCount() <= availableParallelism()); // true
 * // e.g. new Pool({ processes: cpuCount() }), which is also Pool's default
 */
export function cpuCount(): number {
  return Math.max(1, Math.min(availableParallelism(), Math.ceil(cpuQuota())));
}

/** @internal Stop daemon children when this process exits, as Python's atexit handler does. */
process.on('exit', () => {
  for (const child of children) if (child.daemon && child.exitCode === null) child.terminate();
});
