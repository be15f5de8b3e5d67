/**
 * `Pool` — the twin of CPython's `multiprocessing/pool.py`: a fixed number of
 * worker processes (or threads) running tasks declared with `task()`.
 *
 * How it differs inside (docs/pool.md has the full story):
 * - each worker has its own task ring in shared memory and the parent decides
 *   which worker gets which task, so when a worker dies the parent knows what
 *   it held: the task it was running rejects with {@link WorkerLostError}, the
 *   tasks it had not started go to the other workers, a new worker replaces it.
 *   Python's `Pool` hangs forever there;
 * - tasks travel in batches sized from the measured task duration (about 2 ms
 *   of work per worker in flight): tiny tasks cost no system call each, long
 *   ones go one at a time so the load stays balanced;
 * - CPython's three helper threads (task handler, result handler, worker
 *   handler) are one async loop here, `#pump`, woken by the result ring's futex
 *   or by a worker's exit.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { ResourceLimits } from 'node:worker_threads';
import { debugLog } from '../debug.js';
import { describe, inspection, type PoolSnapshot, type WorkerSnapshot } from '../inspect.js';
import { Full, TimeoutError, ValueError } from '../errors.js';
import { getContext, type BaseContext, type ContextName } from './context.js';
import { Deadline, waitFor } from './futex.js';
import { Feeder } from './feeder.js';
import { Process, childOptions, cpuCount, ended, type ProcessOptions } from './process.js';
import { AbortError, AsyncResult, WorkerLostError } from './pool_result.js';
import {
  CALL,
  CALL_F64,
  CANCEL_MASK,
  DONE,
  FINISHED,
  INIT_FAILED,
  MAP,
  MAP_F64,
  OK,
  OK_F64,
  OK_NUMBER,
  PID,
  PoolBlock,
  PoolChannel,
  RUNNING,
  SKIPPED,
  STARMAP,
  WorkerBlock,
  decodeResults,
  encodeStop,
  encodeTasks,
  packNumbers,
  unpackNumber,
  numbersOf,
  putNumbers,
  type Mode,
} from './pool_wire.js';
import { poolWorker } from './pool_worker.js';
import { poolChannels, signalOf, type PoolEvents, type TaskEvent } from './pool_events.js';
import { QueueHistory, TimeBuckets, type TimeSummary } from './pool_stats.js';
import { carriesObjects, dumps, loads } from './reduction.js';
import { EMPTY, PARTIAL, type Ring } from './ring.js';
import { requireTaskRef, type TaskRef } from './task.js';

export { AbortError, AsyncResult, WorkerLostError } from './pool_result.js';
export type { PoolEvents, TaskEvent, WorkerEvent } from './pool_events.js';
export type { TimeSummary } from './pool_stats.js';

/**
 * Any task function; parameters are checked against the arguments given.
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const add = task(import.meta, (a: number, b: number) => a + b); // any task; its parameters check the arguments
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   console.log(await pool.apply(add, [1, 2])); // 3
 * }
 */
export type PoolTask = (...args: never[]) => unknown;
/**
 * What a task's call resolves to (a returned promise is awaited in the worker).
 * @example
 * import { Pool, isMainModule, task, type TaskResult } from 'weft';
 * export const square = task(import.meta, async (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   const n: TaskResult<typeof square> = await pool.apply(square, [3]); // number: the worker awaits the promise
 *   console.log(n); // 9
 * }
 */
export type TaskResult<F extends PoolTask> = Awaited<ReturnType<F>>;
/**
 * A one-argument task, as `map` and `imap` take.
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const len = task(import.meta, (s: string) => s.length); // one parameter: a task for map and imap
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   console.log(await pool.map(len, ['a', 'bb'])); // [ 1, 2 ]
 * }
 */
export type MapTask = (arg: never) => unknown;
/**
 * Input of the map family: any iterable, or an async iterable.
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * async function* numbers() { yield 1; yield 2; }
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   console.log(await pool.map(square, new Set([1, 2, 3]))); // [ 1, 4, 9 ]
 *   console.log(await pool.map(square, numbers())); // [ 1, 4 ]
 * }
 */
export type Items<T> = Iterable<T> | AsyncIterable<T>;

/**
 * Options of {@link Pool}.
 * @example
 * import { Pool, isMainModule, task, type PoolOptions } from 'weft';
 * let db = '';
 * export const setUp = task(import.meta, (path: string) => { db = path; });
 * export const where = task(import.meta, () => db);
 * if (isMainModule(import.meta)) {
 *   const options: PoolOptions = { processes: 2, context: 'thread', initializer: setUp, initargs: ['db.sqlite'], maxTasksPerChild: 1000 };
 *   await using pool = new Pool(options);
 *   console.log(await pool.apply(where, [])); // db.sqlite
 * }
 */
export interface PoolOptions {
  /** Number of workers; `cpuCount()` by default. */
  processes?: number;
  /** `'process'` (default) or `'thread'`, or a context from `getContext`. */
  context?: ContextName | BaseContext;
  /** A task run once in each worker before its first task (Python's `initializer`). */
  initializer?: PoolTask | null;
  /** Arguments of `initializer`: data, and weft's queues, locks and shared values. */
  initargs?: unknown[];
  /** A worker exits after this many tasks and is replaced (Python's `maxtasksperchild`); null: never. */
  maxTasksPerChild?: number | null;
  /**
   * Workers kept even when idle; `maxWorkers` by default (a fixed pool, as Python's). Below `maxWorkers`,
   * workers are started as tasks queue up and those beyond `minWorkers` exit after `idleTimeout` seconds idle.
   */
  minWorkers?: number;
  /** The most workers at once; `processes` is the same thing (give one of them). */
  maxWorkers?: number;
  /** Seconds a worker beyond `minWorkers` may idle before it exits; 10 by default. */
  idleTimeout?: number;
  /**
   * Tasks that may wait in this process for a worker; null (default): no limit. Past it `submit`, `apply` and
   * the map family wait for room (or with `block: false` reject with `Full`); `applyAsync`, which cannot wait, throws `Full`.
   */
  maxQueue?: number | null;
  /** Default for every call: times a task that failed as `retryIf` says is run again; 0 by default. */
  retries?: number;
  /** Default for every call: seconds before a retry; 0 by default. */
  retryDelay?: number;
  /** Default for every call: which failures are retried; by default only {@link WorkerLostError} (the worker died under the task). */
  retryIf?: (error: unknown) => boolean;
  /** The workers' environment (as `child_process` takes it); this process's by default. */
  env?: NodeJS.ProcessEnv;
  /** Node options for the workers, after those they inherit (loaders such as `--import tsx`). */
  execArgv?: string[];
  /** What the workers find in `process.argv` after the script's path. */
  argv?: string[];
  /** Heap and stack limits of each worker thread (Node's `resourceLimits`); thread context only. */
  resourceLimits?: ResourceLimits;
  /**
   * Shown by the OS tools: a worker process's `process.title` (`ps`, `top`), a worker thread's `name` (Node 22+);
   * workers are then named `name-1`, `name-2`, … (`currentProcess().name`). Unset: `PoolWorker`, the title left alone.
   */
  name?: string;
}

/**
 * Options every submitting call takes last.
 * @example
 * import { Pool, TimeoutError, isMainModule, task } from 'weft';
 * export const slow = task(import.meta, () => new Promise((resolve) => setTimeout(resolve, 10_000)));
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   const call = pool.apply(slow, [], { timeout: 0.1, signal: AbortSignal.timeout(10_000) });
 *   await call.catch((e) => console.log(e instanceof TimeoutError)); // true
 * }
 */
export interface CallOptions {
  /** Stops the call: tasks not started are dropped, a running one's worker is replaced; rejects with {@link AbortError}. */
  signal?: AbortSignal;
  /** Seconds the whole call may take; then as for `signal`, rejecting with `TimeoutError`. */
  timeout?: number | null;
  /** With `maxQueue` reached: wait for room (true, default), or reject at once with `Full`. */
  block?: boolean;
  /** Times a task that failed as `retryIf` says is run again; the pool's `retries` by default. */
  retries?: number;
  /** Seconds before a retry; the pool's `retryDelay` by default. */
  retryDelay?: number;
  /** Which failures are retried; the pool's `retryIf` (by default {@link WorkerLostError} only). */
  retryIf?: (error: unknown) => boolean;
}

/**
 * Options of `applyAsync`: callbacks run in this process, like Python's.
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   const r = pool.applyAsync(square, [3], { callback: (v) => console.log(v), errorCallback: (e) => console.error(e) }); // 9
 *   await r.wait();
 * }
 */
export interface ApplyOptions<R> extends CallOptions {
  callback?: (value: R) => void;
  errorCallback?: (error: Error) => void;
}

/**
 * Options of the map family.
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   console.log(await pool.map(square, [1, 2, 3, 4], { chunksize: 2, timeout: 60 })); // [ 1, 4, 9, 16 ]
 * }
 */
export interface MapOptions<R = unknown> extends CallOptions {
  /** Items per task; `map` picks `ceil(n / (4 × workers))` like Python, `imap` 1. */
  chunksize?: number;
  callback?: (value: R) => void;
  errorCallback?: (error: Error) => void;
}

/**
 * One worker's figures in {@link PoolStats}.
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   await pool.apply(square, [2]);
 *   const [w] = pool.stats().workers; // also w.tasksDone
 *   console.log(w.pid > 0, w.busySeconds >= 0); // true true
 * }
 */
export interface WorkerStats {
  /** The worker's pid (a worker thread's tid; 0 until that thread has started). */
  pid: number;
  /** Tasks this worker finished (a map chunk counts as one). */
  tasksDone: number;
  /** Seconds spent running tasks. */
  busySeconds: number;
  /** The share of its life spent running tasks, 0 to 1. */
  utilization: number;
}

/**
 * What {@link Pool.stats} reports. Counts are tasks as sent (a map chunk counts as one).
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   await pool.apply(square, [2]);
 *   const { queued, running, completed, failed } = pool.stats();
 *   console.log(queued, running, completed, failed); // 0 0 1 0
 * }
 */
export interface PoolStats {
  /** Tasks waiting in this process for a worker. */
  queued: number;
  /** Tasks sent to a worker and not finished. */
  running: number;
  completed: number;
  failed: number;
  workers: WorkerStats[];
  /** Seconds tasks waited until their worker began them (HDR percentiles, since the pool started). */
  waitTime: TimeSummary;
  /** Seconds workers ran tasks. */
  runTime: TimeSummary;
  /** The workers' busy share of their lives together, 0 to 1. */
  utilization: number;
  /** The queue's longest length in each of the last 60 seconds, oldest first. */
  queueLastMinute: number[];
}

const TASK_EVENTS = ['taskQueued', 'taskStart', 'taskFinish', 'taskFail'] as const;

/** WEFT_DEBUG=pool (debug.ts). */
const log = debugLog('pool');

const QUEUED = 0;
const SENT = 1;
const SETTLED = 2;

const RUN = 0;
const CLOSE = 1;
const TERMINATE = 2;

/** Work in flight per worker, in seconds of measured task time. */
const WINDOW_SECONDS = 0.002;
const MAX_WINDOW = 1024;
/** How long the pump watches for results before it sleeps. */
const SPIN_SECONDS = 0.0001;
/** Payload bytes per task frame (a ring message up to a quarter of the ring goes in whole). */
const FRAME_BYTES = 1 << 18;

/** The timeout and signal of one call, shared by its tasks. */
class Group {
  readonly jobs = new Set<Job>();
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  dispose(): void {
    clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = undefined;
  }
}

/** A clock reading (performance.now()), shared by the jobs of one burst of submits. */
class Instant {
  constructor(readonly at: number) {}
}
const NEVER = new Instant(0);

/** What only some jobs need: a retry policy, or figures for events someone watches. */
class JobExtras {
  /** Its id in the pool's events, from 1; given at its first event. */
  id = 0;
  retry: RetryPolicy | null = null;
  /** Runs that failed and were retried. */
  attempts = 0;
  /** Seconds until its worker began it, and seconds it ran there; set when its result came while watched. */
  wait = 0;
  run = 0;
}

/** When a failed task runs again: a call's, or the pool's defaults (shared, no object per task). */
interface RetryPolicy {
  retries: number;
  delay: number;
  retryIf: (error: unknown) => boolean;
}

const workerLost = (error: unknown): boolean => error instanceof WorkerLostError;

/** The retry policy of `o` over `base` (the pool's); null when nothing is retried. */
function retryPolicy(o: Pick<CallOptions, 'retries' | 'retryDelay' | 'retryIf'>, base: RetryPolicy | null): RetryPolicy | null {
  if (o.retries === undefined && o.retryDelay === undefined && o.retryIf === undefined) return base;
  const retries = o.retries ?? base?.retries ?? 0;
  const delay = o.retryDelay ?? base?.delay ?? 0;
  if (!Number.isInteger(retries) || retries < 0) throw new ValueError(`retries must be a non-negative integer, got ${o.retries}`);
  if (!(delay >= 0)) throw new ValueError(`retryDelay must be a non-negative number of seconds, got ${o.retryDelay}`);
  if (o.retryIf !== undefined && typeof o.retryIf !== 'function') throw new TypeError('retryIf must be a function (error) => boolean');
  if (retries === 0) return null;
  return { retries, delay, retryIf: o.retryIf ?? base?.retryIf ?? workerLost };
}

/** One task: a call, or one chunk of a map. */
class Job {
  seq = 0;
  state = QUEUED;
  worker: Worker | null = null;
  /** Its retry policy and event figures, when it has any (most jobs have none: a job stays small, as 100k queued ones cost GC). */
  x: JobExtras | null = null;
  /**
   * When it was submitted: the first submit of a synchronous burst reads the clock and its
   * jobs share that reading (a number in a field of each job would be a heap number each).
   */
  queued: Instant = NEVER;
  extras(): JobExtras {
    return (this.x ??= new JobExtras());
  }
  /** imap: the chunk's position in the input, and the call it belongs to. */
  index = 0;
  owner: object | null = null;
  /**
   * The task's input (`input`), kept while it is queued or running when it may hold
   * shared objects: a manager proxy given only to a task must not be collected
   * (and its referent released on the server) before the worker has rebuilt it.
   */
  keep: unknown;
  constructor(
    readonly ref: TaskRef,
    readonly mode: Mode,
    public payload: Uint8Array,
    public sink: Sink,
    readonly group: Group | null,
    input: unknown,
  ) {
    this.keep = carriesObjects(payload) ? input : null;
  }

  /**
   * Lets go of what only an unsettled job needs: a settled one may stay in its
   * worker's `held` list for a while, and its sink (a closure of the call that made
   * it) would keep that call's input alive (CPython issue 29861).
   */
  release(): void {
    this.keep = null;
    this.payload = NO_BYTES;
    this.sink = settled;
  }
}

const NO_BYTES = new Uint8Array(0);
const settled: Sink = () => {};

/** Where a job's outcome goes: an AsyncResult itself (no closure per task), or a function. */
type Sink = ((ok: boolean, value: unknown) => void) | { settle(ok: boolean, value: unknown, job: Job): void };

/** An imap chunk that failed, as queued for the consumer. */
class Failure {
  constructor(readonly error: unknown) {}
}

/** The parent's view of one worker. */
class Worker {
  readonly proc: Process;
  readonly blk: WorkerBlock;
  readonly feeder: Feeder;
  /** Jobs sent to it, in order (settled ones are pruned now and then). */
  held: Job[] = [];
  outstanding = 0;
  sent = 0;
  alive = true;
  accepting = true;
  /** Told to exit after idling (beyond `minWorkers`): not replaced when it does. */
  retired = false;
  idleTimer: NodeJS.Timeout | undefined;
  readonly startedAt = performance.now();
  /** Its pid; a worker thread's tid once it published it (0 before). Never blocks, unlike a thread's `Process.pid`. */
  get pid(): number {
    return this.proc.context === 'process' ? this.proc.pid! : Atomics.load(this.blk.slots, PID);
  }
  constructor(proc: Process, blk: WorkerBlock) {
    this.proc = proc;
    this.blk = blk;
    this.feeder = new Feeder(blk.ring, () => (this.alive ? undefined : new Error('worker gone')));
  }
}

/**
 * A pool of worker processes (or threads): Python's `multiprocessing.Pool`.
 * Tasks are functions declared with `task(import.meta, fn)`; results and
 * errors come back to this process, callbacks run here. A task (or
 * initializer) whose module no worker could import — declared in `node -e`,
 * the REPL or a test file, or a `.ts` file for Node 20's worker threads — is
 * refused when it is given to the pool, never inside a worker
 * (docs/multiprocessing.md, "Where tasks can live").
 *
 * @example
 * import { Pool, task, isMainModule } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 2 });
 *   console.log(await pool.map(square, [1, 2, 3])); // [ 1, 4, 9 ]
 * }
 * @throws {ValueError} when `processes` is not a positive integer or `maxTasksPerChild` not a positive integer or null.
 * @throws {TypeError} when `initializer` was not declared with `task()`, or where no child can import it.
 * @throws {Error} when the workers are Node 20 threads and `initializer` is declared in a `.ts` file.
 */
export class Pool extends EventEmitter<PoolEvents> {
  readonly #processes: number;
  readonly #minWorkers: number;
  readonly #idleTimeout: number;
  readonly #maxQueue: number;
  readonly #retry: RetryPolicy | null;
  readonly #workerOptions: Pick<ProcessOptions, 'env' | 'execArgv' | 'argv' | 'resourceLimits' | 'title'>;
  readonly #name: string;
  #spawned = 0;
  /** submit() and the map family waiting for room under `maxQueue`, oldest first. */
  #roomWaiters: (() => void)[] = [];
  /** The queue reached `maxQueue`: 'drain' is due once it empties. */
  #needsDrain = false;
  /** Failed tasks waiting out their `retryDelay` before they queue again. */
  readonly #retrying = new Set<Job>();
  #ids = 0;
  /** The clock as of the current burst of submits. */
  #burst = NEVER;
  /** performance.now() as of the last dispatch, read only while task events are watched. */
  #clock = 0;
  /** performance.now() when the results being read arrived. */
  #arrival = 0;
  /** Someone listens to task events or their channels: only then are they built. */
  #watched = false;
  readonly #waitTimes = new TimeBuckets();
  readonly #runTimes = new TimeBuckets();
  readonly #queueHistory = new QueueHistory();
  readonly #context: BaseContext;
  readonly #initializer: TaskRef | null;
  readonly #initargs: unknown[];
  readonly #maxTasks: number;
  readonly #shared: PoolBlock;
  #workers: Worker[] = [];
  #deaths: Worker[] = [];
  #pending: Job[] = [];
  #head = 0;
  #pendingLive = 0;
  readonly #inflight = new Map<number, Job>();
  #seq = 0;
  #state = RUN;
  #stopsSent = false;
  #broken: unknown = null;
  #scheduled = false;
  #pumping = false;
  #completed = 0;
  #failed = 0;
  #retiredBusy = 0;
  #retiredDone = 0;
  #startFailures = 0;
  #exited: (() => void)[] = [];
  /** Ref'd while tasks are unfinished: workers are daemons and keep no event loop alive by themselves. */
  readonly #keepAlive = setInterval(() => {}, 1 << 30).unref();

  constructor(options: PoolOptions = {}) {
    super();
    // Listeners come and go through these two events: #watched follows them (channels are asked per task).
    const untyped = this as unknown as EventEmitter; // Node's own events, outside PoolEvents
    untyped.on('newListener', (event: string) => {
      if ((TASK_EVENTS as readonly string[]).includes(event)) this.#watched = true;
    });
    untyped.on('removeListener', () => {
      this.#watched = TASK_EVENTS.some((e) => this.listenerCount(e) > 0);
    });
    if (options.processes != null && options.maxWorkers != null && options.processes !== options.maxWorkers) {
      throw new ValueError(`processes and maxWorkers are the same setting: give one (got ${options.processes} and ${options.maxWorkers})`);
    }
    const processes = options.maxWorkers ?? options.processes ?? cpuCount();
    if (!Number.isInteger(processes) || processes < 1) throw new ValueError(`Number of processes must be at least 1, got ${processes}`);
    const minWorkers = options.minWorkers ?? processes;
    if (!Number.isInteger(minWorkers) || minWorkers < 0 || minWorkers > processes) {
      throw new ValueError(`minWorkers must be an integer from 0 to maxWorkers (${processes}), got ${options.minWorkers}`);
    }
    const idleTimeout = options.idleTimeout ?? 10;
    if (!(idleTimeout >= 0)) throw new ValueError(`idleTimeout must be a non-negative number of seconds, got ${options.idleTimeout}`);
    const maxTasks = options.maxTasksPerChild ?? 0;
    if (options.maxTasksPerChild != null && (!Number.isInteger(maxTasks) || maxTasks < 1)) {
      throw new ValueError(`maxTasksPerChild must be a positive integer or null, got ${options.maxTasksPerChild}`);
    }
    const maxQueue = options.maxQueue ?? Infinity;
    if (options.maxQueue != null && (!Number.isInteger(maxQueue) || maxQueue < 1)) {
      throw new ValueError(`maxQueue must be a positive integer or null, got ${options.maxQueue}`);
    }
    this.#processes = processes;
    this.#minWorkers = minWorkers;
    this.#idleTimeout = idleTimeout;
    this.#maxQueue = maxQueue;
    this.#retry = retryPolicy(options, null);
    this.#context = typeof options.context === 'object' ? options.context : getContext(options.context);
    this.#name = options.name ?? 'PoolWorker';
    this.#workerOptions = {
      env: options.env,
      execArgv: options.execArgv,
      argv: options.argv,
      resourceLimits: options.resourceLimits,
      title: options.name,
    };
    childOptions(this.#workerOptions, this.#context.name); // refused here, before any worker starts
    this.#initializer = options.initializer ? this.#taskRef(options.initializer, 'initializer') : null;
    this.#initargs = options.initargs ? [...options.initargs] : [];
    this.#maxTasks = maxTasks;
    this.#shared = PoolBlock.create();
    this.#shared.results.getLock.tryAcquire(); // this process is the only reader, for good
    try {
      for (let i = 0; i < minWorkers; i++) this.#spawn();
    } catch (err) {
      for (const w of this.#workers) w.proc.kill();
      throw err;
    }
    inspection?.track('pools', this);
  }

  /**
   * The reference of a task given to this pool, refused here (with the fix)
   * rather than in a worker when the workers could not import its module.
   */
  #taskRef(fn: unknown, what = 'task'): TaskRef {
    const ref = requireTaskRef(fn, what);
    this.#context.checkTask(ref);
    return ref;
  }

  /** The most workers at once (`processes`, `maxWorkers`). */
  get processes(): number {
    return this.#processes;
  }

  /** Whether the queue reached `maxQueue` and has not emptied since ('drain' comes then). */
  get needsDrain(): boolean {
    return this.#needsDrain;
  }

  // ---------------------------------------------------------------- submitting

  /**
   * Runs `fn(...args)` in a worker and waits for its value: Python's `apply`.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 1 });
   *   console.log(await pool.apply(square, [7])); // 49
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   * @throws {Error} (rejection) the task's error with its class name, message, remote stack and cause;
   *   {@link WorkerLostError}, `TimeoutError`, {@link AbortError}, or `UnsendableError` naming an argument or result that cannot cross.
   */
  async apply<F extends PoolTask>(fn: F, args: Parameters<F>, options: CallOptions = {}): Promise<TaskResult<F>> {
    return (await this.submit(fn, args, options)).get();
  }

  /**
   * `applyAsync` that waits while the queue holds `maxQueue` tasks (Python's `Executor.submit`,
   * with a queue's back-pressure): a producer that awaits it never runs ahead of the workers.
   * Resolves once the task is queued; its value comes through the {@link AsyncResult}.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 1, maxQueue: 100 });
   *   const results = [];
   *   for (let i = 0; i < 1000; i++) results.push(await pool.submit(square, [i])); // at most 100 wait at once
   *   console.log(await results[999]!.get()); // 998001
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   * @throws {Full} (rejection) with `block: false` when the queue is full.
   */
  async submit<F extends PoolTask>(fn: F, args: Parameters<F>, options: ApplyOptions<TaskResult<F>> = {}): Promise<AsyncResult<TaskResult<F>>> {
    // A loop: another submit may take the room between the wake-up and this turn.
    while (this.#pendingLive >= this.#maxQueue) await this.#room(options);
    return this.applyAsync(fn, args, options);
  }

  /**
   * Starts `fn(...args)` in a worker and returns at once: Python's `apply_async`.
   * `callback` / `errorCallback` run in this process when it finishes.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 1 });
   *   const r = pool.applyAsync(square, [7], { callback: (v) => console.log('got', v) }); // got 49
   *   console.log(await r.get()); // 49
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   * @throws {Full} when `maxQueue` tasks wait already: `applyAsync` cannot wait, `await pool.submit(...)` does.
   */
  applyAsync<F extends PoolTask>(fn: F, args: Parameters<F>, options: ApplyOptions<TaskResult<F>> = {}): AsyncResult<TaskResult<F>> {
    this.#checkRunning();
    const ref = this.#taskRef(fn);
    if (this.#pendingLive >= this.#maxQueue) throw this.#full();
    const result = new AsyncResult<TaskResult<F>>(options.callback, options.errorCallback);
    let payload: Uint8Array | null;
    let mode: Mode = CALL;
    try {
      payload = Array.isArray(args) ? packNumbers(args) : null;
      if (payload) mode = CALL_F64;
      else payload = dumps(args ?? [], 'args');
    } catch (err) {
      result.settle(false, err);
      return result;
    }
    const group = this.#group(options, (err) => result.settle(false, err));
    const job = new Job(ref, mode, payload, group ? (ok, value) => {
      group.dispose();
      result.settle(ok, value);
    } : result, group, args);
    const retry = this.#policy(options);
    if (retry) job.extras().retry = retry;
    group?.jobs.add(job);
    this.#submit(job);
    return result;
  }

  /**
   * Applies `fn` to every item and resolves with the values in order: Python's `map`.
   * Items go in chunks (`chunksize`, default `ceil(n / (4 × workers))`).
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 2 });
   *   console.log(await pool.map(square, [1, 2, 3])); // [ 1, 4, 9 ]
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   * @throws {Error} (rejection) the first error of any item, as `apply` does.
   */
  map<F extends MapTask>(fn: F, iterable: Items<Parameters<F>[0]>, chunksize?: number | MapOptions<TaskResult<F>[]>, options?: MapOptions<TaskResult<F>[]>): Promise<TaskResult<F>[]> {
    return this.mapAsync(fn, iterable, chunksize, options).get();
  }

  /**
   * `map` that returns an {@link AsyncResult} at once: Python's `map_async`.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 1 });
   *   const r = pool.mapAsync(square, [1, 2], { callback: (values) => console.log(values) }); // [ 1, 4 ]
   *   await r.wait();
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   */
  mapAsync<F extends MapTask>(fn: F, iterable: Items<Parameters<F>[0]>, chunksize?: number | MapOptions<TaskResult<F>[]>, options?: MapOptions<TaskResult<F>[]>): AsyncResult<TaskResult<F>[]> {
    return this.#mapCall(fn, iterable, MAP, chunksize, options) as AsyncResult<TaskResult<F>[]>;
  }

  /**
   * Like `map`, with each item spread as the arguments: Python's `starmap`.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const add = task(import.meta, (a: number, b: number) => a + b);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 1 });
   *   console.log(await pool.starmap(add, [[1, 2], [3, 4]])); // [ 3, 7 ]
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   */
  starmap<F extends PoolTask>(fn: F, iterable: Items<Parameters<F>>, chunksize?: number | MapOptions<TaskResult<F>[]>, options?: MapOptions<TaskResult<F>[]>): Promise<TaskResult<F>[]> {
    return this.starmapAsync(fn, iterable, chunksize, options).get();
  }

  /**
   * `starmap` that returns an {@link AsyncResult} at once: Python's `starmap_async`.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const add = task(import.meta, (a: number, b: number) => a + b);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 1 });
   *   console.log(await pool.starmapAsync(add, [[1, 2]]).get()); // [ 3 ]
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   */
  starmapAsync<F extends PoolTask>(fn: F, iterable: Items<Parameters<F>>, chunksize?: number | MapOptions<TaskResult<F>[]>, options?: MapOptions<TaskResult<F>[]>): AsyncResult<TaskResult<F>[]> {
    return this.#mapCall(fn, iterable, STARMAP, chunksize, options) as AsyncResult<TaskResult<F>[]>;
  }

  /**
   * Applies `fn` to each item, yielding values in order as they are ready: Python's `imap`.
   * The input is read lazily (an endless or async iterable works; memory stays bounded).
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * function* naturals() { for (let n = 1; ; n++) yield n; }
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 2 });
   *   for await (const v of pool.imap(square, naturals())) if (v > 100) { console.log(v); break; } // 121
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   */
  imap<F extends MapTask>(fn: F, iterable: Items<Parameters<F>[0]>, chunksize?: number | MapOptions, options?: MapOptions): AsyncGenerator<TaskResult<F>, void, undefined> {
    return this.#imapCall(fn, iterable, true, chunksize, options) as AsyncGenerator<TaskResult<F>, void, undefined>;
  }

  /**
   * Like `imap`, yielding values in the order they finish: Python's `imap_unordered`.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 2 });
   *   const got: number[] = [];
   *   for await (const v of pool.imapUnordered(square, [1, 2, 3])) got.push(v); // as they finish
   *   console.log(got.sort((a, b) => a - b)); // [ 1, 4, 9 ]
   * }
   * @throws {TypeError} when `fn` was not declared with `task()`, or where no child can import it.
   * @throws {ValueError} when the pool is closed or terminated.
   */
  imapUnordered<F extends MapTask>(fn: F, iterable: Items<Parameters<F>[0]>, chunksize?: number | MapOptions, options?: MapOptions): AsyncGenerator<TaskResult<F>, void, undefined> {
    return this.#imapCall(fn, iterable, false, chunksize, options) as AsyncGenerator<TaskResult<F>, void, undefined>;
  }

  // ---------------------------------------------------------------- lifecycle

  /** No more tasks may be submitted; workers exit once every task is done. Python's `close`. */
  close(): void {
    log?.('%s: close', this);
    if (this.#state === RUN) this.#state = CLOSE;
    this.#maybeStop();
    this.#kick();
  }

  /**
   * Stops every worker now (SIGTERM, then SIGKILL after 1 s) and waits until they are gone;
   * unfinished tasks reject with a ValueError. Python's `terminate`.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const slow = task(import.meta, () => new Promise((resolve) => setTimeout(resolve, 10_000)));
   * if (isMainModule(import.meta)) {
   *   const pool = new Pool({ processes: 1 });
   *   const call = pool.apply(slow, []).catch((e: Error) => e.message);
   *   await pool.terminate();
   *   console.log(await call); // the pool was terminated before the task finished
   * }
   */
  async terminate(): Promise<void> {
    if (this.#state !== TERMINATE) {
      log?.('%s: terminate (%d tasks unfinished)', this, this.#pendingLive + this.#inflight.size);
      this.#state = TERMINATE;
      const reason = new ValueError('the pool was terminated before the task finished');
      for (const job of [...this.#inflight.values(), ...this.#pending.slice(this.#head), ...this.#retrying]) this.#settle(job, false, reason);
      this.#retrying.clear();
      this.#pending = [];
      this.#head = 0;
      this.#queueShrank(); // waiters for room learn the pool is gone
      for (const w of this.#workers) {
        w.accepting = false;
        w.proc.terminate();
      }
      const escalate = setTimeout(() => {
        for (const w of this.#workers) w.proc.kill();
      }, 1000);
      await this.#allExited();
      clearTimeout(escalate);
      clearInterval(this.#keepAlive);
      this.#kick();
    }
    await this.#allExited();
  }

  /**
   * Waits until every worker has exited, after `close()` or `terminate()`. Python's `join`.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   const pool = new Pool({ processes: 1 });
   *   console.log(await pool.apply(square, [3])); // 9
   *   pool.close();
   *   await pool.join();
   *   console.log(String(pool)); // <Pool state=CLOSE pool_size=1>
   * }
   * @throws {ValueError} while the pool is still running (call `close()` or `terminate()` first).
   */
  async join(): Promise<void> {
    if (this.#state === RUN) throw new ValueError('Pool is still running: call close() or terminate() before join()');
    await this.#allExited();
  }

  /** `await using pool = new Pool()`: terminates the pool, as Python's `with Pool() as pool` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }

  /**
   * Counts of tasks and each worker's pid, tasks done and busy seconds.
   * @example
   * import { Pool, isMainModule, task } from 'weft';
   * export const square = task(import.meta, (x: number) => x * x);
   * if (isMainModule(import.meta)) {
   *   await using pool = new Pool({ processes: 1 });
   *   await pool.map(square, [1, 2, 3]);
   *   const { queued, running, completed, workers } = pool.stats();
   *   console.log(queued, running, completed, workers.length); // 0 0 3 1
   * }
   */
  stats(): PoolStats {
    const now = performance.now();
    let busy = 0;
    let lived = 0;
    const workers = this.#workers.map((w) => {
      const busySeconds = w.blk.busy[0]!;
      const life = Math.max(1e-9, (now - w.startedAt) / 1000);
      busy += busySeconds;
      lived += life;
      return { pid: w.pid, tasksDone: Atomics.load(w.blk.slots, DONE), busySeconds, utilization: Math.min(1, busySeconds / life) };
    });
    return {
      queued: this.#pendingLive,
      running: this.#inflight.size,
      completed: this.#completed,
      failed: this.#failed,
      workers,
      waitTime: this.#waitTimes.summary(),
      runTime: this.#runTimes.summary(),
      utilization: lived > 0 ? Math.min(1, busy / lived) : 0,
      queueLastMinute: this.#queueHistory.lastMinute(now),
    };
  }

  /** @internal What `weft top` shows of this pool (inspect.ts): `stats()` with each worker's name, state and tasks held. */
  [describe](): Omit<PoolSnapshot, 'id'> {
    const { workers, ...stats } = this.stats();
    const described = this.#workers.map((w, i): WorkerSnapshot => {
      const state = !w.alive ? 'exited' : w.retired || !w.accepting ? 'stopping' : w.outstanding > 0 ? 'busy' : 'idle';
      return { ...workers[i]!, name: w.proc.name, state, held: w.outstanding };
    });
    const state = (['RUN', 'CLOSE', 'TERMINATE'] as const)[this.#state]!;
    return { name: this.#name, context: this.#context.name, state, maxWorkers: this.#processes, workers: described, stats };
  }

  /** Python's repr: `<Pool state=RUN pool_size=2>`. */
  override toString(): string {
    return `<Pool state=${['RUN', 'CLOSE', 'TERMINATE'][this.#state]} pool_size=${this.#processes}>`;
  }

  // ---------------------------------------------------------------- internals

  #checkRunning(): void {
    if (this.#state !== RUN) throw new ValueError('Pool not running');
  }

  /** Emits an event and publishes it on its channel. */
  #publish<K extends Exclude<keyof PoolEvents, 'error'>>(name: K, message: PoolEvents[K][0]): void {
    const channel = poolChannels[name];
    if (channel.hasSubscribers) channel.publish(message);
    (this.emit as (event: K, message: PoolEvents[K][0]) => boolean)(name, message);
  }

  /** A task's event; `wait` given while it has no result (taskStart), `failure` for taskFail. */
  #taskEvent(job: Job, failure: { value: unknown } | null, wait?: number): TaskEvent {
    const x = job.extras();
    x.id ||= ++this.#ids;
    const event: TaskEvent = {
      pool: this,
      id: x.id,
      task: job.ref.name,
      worker: job.worker?.pid ?? 0,
      wait: wait ?? x.wait,
      run: x.run,
      attempt: x.attempts,
    };
    if (failure) event.error = failure.value;
    return event;
  }

  #policy(options: CallOptions): RetryPolicy | null {
    return retryPolicy(options, this.#retry);
  }

  #full(): Full {
    this.#needsDrain = true;
    return new Full(`the pool's queue holds maxQueue (${this.#maxQueue}) tasks: await pool.submit(...) to wait for room, or pass block: true`);
  }

  /**
   * Waits until the queue has room under `maxQueue` (first come, first served), or rejects:
   * `Full` at once with `block: false`; `TimeoutError` or {@link AbortError} by the call's `timeout` and `signal`.
   */
  #room(options: CallOptions): Promise<void> {
    if (options.block === false) return Promise.reject(this.#full());
    this.#needsDrain = true;
    const { signal, timeout } = options;
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.#roomWaiters.indexOf(wake);
        if (i >= 0) this.#roomWaiters.splice(i, 1);
      };
      const wake = () => {
        done();
        if (this.#state === RUN) resolve();
        else reject(new ValueError('Pool not running'));
      };
      const onAbort = () => {
        done();
        reject(new AbortError('the call was aborted', { cause: signal!.reason }));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeout != null) {
        timer = setTimeout(() => {
          done();
          reject(new TimeoutError(`no room in the pool's queue (maxQueue ${this.#maxQueue}) within ${timeout} s`));
        }, timeout * 1000);
      }
      this.#roomWaiters.push(wake);
      this.#keepAlive.ref();
    });
  }

  /** Lets waiters in while there is room, and says 'drain' once a queue that was full is empty. */
  #queueShrank(): void {
    while (this.#roomWaiters.length && (this.#pendingLive < this.#maxQueue || this.#state !== RUN)) {
      // Counted as taken now: each woken waiter queues one task before the next may look.
      const n = this.#maxQueue - this.#pendingLive;
      const wake = this.#roomWaiters.slice(0, this.#state === RUN ? n : Infinity);
      for (const w of wake) w();
      if (this.#state === RUN) break;
    }
    if (this.#needsDrain && this.#pendingLive === 0 && this.#roomWaiters.length === 0) {
      this.#needsDrain = false;
      this.#publish('drain', { pool: this });
    }
  }

  /** A group for a call's timeout and signal, or null when it has neither. */
  #group(options: CallOptions, fail: (err: unknown) => void): Group | null {
    const { signal, timeout } = options;
    if (signal == null && timeout == null) return null;
    if (timeout != null && !(timeout >= 0)) throw new RangeError(`timeout must be a non-negative number of seconds, got ${timeout}`);
    const group = new Group();
    const stop = (reason: Error) => {
      group.dispose();
      fail(reason);
      for (const job of [...group.jobs]) this.#cancel(job, reason);
    };
    if (timeout != null) group.timer = setTimeout(() => stop(new TimeoutError(`the call did not finish within ${timeout} s`)), timeout * 1000);
    if (signal) {
      group.signal = signal;
      const abort = () => stop(new AbortError('the call was aborted', { cause: signal.reason }));
      if (signal.aborted) queueMicrotask(abort);
      else {
        group.onAbort = abort;
        signal.addEventListener('abort', abort, { once: true });
      }
    }
    return group;
  }

  #submit(job: Job): void {
    if (this.#broken) {
      this.#pendingLive++;
      this.#settle(job, false, this.#broken);
      return;
    }
    if (!this.#scheduled) this.#burst = new Instant(performance.now());
    job.queued = this.#burst;
    this.#pending.push(job);
    if (this.#pendingLive++ === 0) this.#keepAlive.ref();
    if (this.#watched || poolChannels.taskQueued.hasSubscribers) this.#publish('taskQueued', this.#taskEvent(job, null));
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.#dispatch();
        this.#kick();
      });
    }
  }

  /** Settles a job, or queues it again when it failed as its retry policy says (`retryable`: not a cancellation). */
  #settle(job: Job, ok: boolean, value: unknown, retryable = true): void {
    if (job.state === SETTLED) return;
    const retry = job.x?.retry;
    if (!ok && retryable && retry && job.x!.attempts < retry.retries && this.#state !== TERMINATE && !this.#broken && retry.retryIf(value)) {
      this.#retryLater(job);
      return;
    }
    if (job.state === SENT) {
      this.#inflight.delete(job.seq);
      if (--job.worker!.outstanding === 0) this.#idle(job.worker!);
    } else {
      this.#pendingLive--;
      if (this.#roomWaiters.length || this.#needsDrain) this.#queueShrank();
    }
    if (this.#watched || poolChannels.taskFinish.hasSubscribers || poolChannels.taskFail.hasSubscribers) {
      this.#publish(ok ? 'taskFinish' : 'taskFail', this.#taskEvent(job, ok ? null : { value }));
    }
    job.state = SETTLED;
    job.group?.jobs.delete(job);
    if (ok) this.#completed++;
    else this.#failed++;
    const sink = job.sink;
    job.release();
    if (typeof sink === 'function') sink(ok, value);
    else sink.settle(ok, value, job);
  }

  /** Drops a task not started, or stops the worker running it; rejects it with `reason`. */
  #cancel(job: Job, reason: unknown): void {
    if (job.state === SENT) {
      Atomics.store(this.#shared.cancel, job.seq & CANCEL_MASK, job.seq);
      const { slots } = job.worker!.blk;
      if (Atomics.load(slots, RUNNING) === job.seq && Atomics.load(slots, FINISHED) !== job.seq) job.worker!.proc.kill();
    }
    this.#settle(job, false, reason, false);
  }

  /** A failed job runs again after its policy's delay: back in the queue, at its end. */
  #retryLater(job: Job): void {
    if (job.state === SENT) {
      this.#inflight.delete(job.seq);
      if (--job.worker!.outstanding === 0) this.#idle(job.worker!);
      this.#pendingLive++;
    }
    job.state = QUEUED;
    job.worker = null;
    job.x!.attempts++;
    log?.('%s: task %s failed: retry %d of %d in %d s', this, job.ref.name, job.x!.attempts, job.x!.retry!.retries, job.x!.retry!.delay);
    this.#retrying.add(job);
    this.#keepAlive.ref();
    setTimeout(() => {
      if (!this.#retrying.delete(job) || job.state !== QUEUED) return;
      this.#pending.push(job);
      this.#dispatch();
      this.#kick();
    }, job.x!.retry!.delay * 1000);
  }

  /**
   * A worker has nothing in flight: beyond `minWorkers`, it exits after `idleTimeout`
   * seconds unless work comes first (#send clears the timer).
   */
  #idle(w: Worker): void {
    if (this.#minWorkers === this.#processes || this.#state !== RUN || w.retired) return;
    clearTimeout(w.idleTimer);
    w.idleTimer = setTimeout(() => {
      w.idleTimer = undefined;
      const kept = this.#workers.filter((x) => x.alive && !x.retired).length;
      if (w.outstanding !== 0 || !w.alive || this.#state !== RUN || kept <= this.#minWorkers) return;
      w.retired = true;
      log?.('%s: worker %s idle for %d s: told to exit', this, w.proc.name, this.#idleTimeout);
      w.accepting = false;
      w.feeder.send(encodeStop());
    }, this.#idleTimeout * 1000).unref();
  }

  /** Tasks per worker in flight: about WINDOW_SECONDS of measured work, 1 before anything was measured. */
  #window(): number {
    let busy = this.#retiredBusy;
    let done = this.#retiredDone;
    for (const w of this.#workers) {
      busy += w.blk.busy[0]!;
      done += Atomics.load(w.blk.slots, DONE);
    }
    if (done === 0) return 1;
    return Math.max(1, Math.min(MAX_WINDOW, Math.round(WINDOW_SECONDS / Math.max(busy / done, 1e-7))));
  }

  #dispatch(): void {
    if (this.#pendingLive === 0 || this.#state === TERMINATE) return;
    // The clock of the last burst of submits, not a reading per dispatch: the queue peaks when tasks come.
    this.#queueHistory.note(this.#burst.at, this.#pendingLive);
    if (this.#watched) this.#clock = performance.now();
    const window = this.#window();
    if (this.#workers.length < this.#processes) this.#grow();
    const workers = this.#workers.filter((w) => w.accepting);
    if (!workers.length) return;
    // A worker holds at most half its fair share of the unfinished tasks: a few long
    // tasks then spread over every worker and none waits behind another on a busy
    // worker while one is free (the window learns a task's length only afterwards).
    const cap = Math.max(1, Math.min(window, Math.ceil((this.#pendingLive + this.#inflight.size) / (2 * workers.length))));
    for (let progress = true; progress && this.#pendingLive > 0; ) {
      progress = false;
      const share = Math.max(1, Math.ceil(this.#pendingLive / workers.length));
      for (const w of workers) {
        let room = Math.min(cap - w.outstanding, share);
        if (this.#maxTasks) room = Math.min(room, this.#maxTasks - w.sent);
        if (room <= 0) continue;
        const jobs = this.#take(room);
        if (!jobs.length) break;
        this.#send(w, jobs);
        progress = true;
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    if (this.#roomWaiters.length || this.#needsDrain) this.#queueShrank();
  }

  /** Below `maxWorkers`: a worker more for each queued task no idle worker can take. */
  #grow(): void {
    if (this.#state !== RUN || this.#broken) return;
    const idle = this.#workers.filter((w) => w.accepting && w.outstanding === 0).length;
    const want = Math.min(this.#processes - this.#workers.length, this.#pendingLive - idle);
    for (let i = 0; i < want; i++) this.#spawn();
  }

  #take(n: number): Job[] {
    const out: Job[] = [];
    while (out.length < n && this.#head < this.#pending.length) {
      const job = this.#pending[this.#head++]!;
      if (job.state === QUEUED) out.push(job);
    }
    return out;
  }

  #send(w: Worker, jobs: Job[]): void {
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      job.seq = this.#seq = this.#seq >= 0x7fffffff ? 1 : this.#seq + 1;
      job.state = SENT;
      job.worker = w;
      this.#inflight.set(job.seq, job);
      w.held.push(job);
      if (this.#watched || poolChannels.taskStart.hasSubscribers) {
        if (!this.#watched) this.#clock = performance.now();
        this.#publish('taskStart', this.#taskEvent(job, null, (this.#clock - job.queued.at) / 1000));
      }
      bytes += job.payload.length;
      if (bytes >= FRAME_BYTES || i === jobs.length - 1) {
        w.feeder.send(encodeTasks(jobs.slice(start, i + 1)));
        start = i + 1;
        bytes = 0;
      }
    }
    this.#pendingLive -= jobs.length;
    w.outstanding += jobs.length;
    w.sent += jobs.length;
    if (w.idleTimer) {
      clearTimeout(w.idleTimer);
      w.idleTimer = undefined;
    }
    if (this.#maxTasks && w.sent >= this.#maxTasks) w.accepting = false;
    if (w.held.length > 4096 && w.held.length > 4 * w.outstanding) w.held = w.held.filter((j) => j.state === SENT && j.worker === w);
  }

  #spawn(): void {
    const blk = WorkerBlock.create();
    const proc = new Process({
      target: poolWorker,
      args: [new PoolChannel(blk, this.#shared), this.#initializer, this.#initargs, this.#maxTasks],
      context: this.#context,
      daemon: true,
      name: `${this.#name}-${++this.#spawned}`,
      ...this.#workerOptions,
    });
    try {
      proc.start();
    } catch (err) {
      blk.block.close();
      throw err;
    }
    const w = new Worker(proc, blk);
    this.#workers.push(w);
    const name = proc.name;
    log?.('%s: worker %s started (pid %d)', this, name, proc.context === 'process' ? proc.pid : 0);
    // On the next microtask: the constructor's workers reach listeners added right after `new Pool()`.
    queueMicrotask(() => {
      if (this.listenerCount('workerStart') > 0 || poolChannels.workerStart.hasSubscribers) {
        this.#publish('workerStart', { pool: this, pid: w.pid, name, exitCode: null, signal: null });
      }
    });
    void ended(proc).then(() => {
      w.alive = false;
      log?.('%s: worker %s exited (pid %d, exit code %d)%s', this, name, w.pid, proc.exitCode, w.retired ? ' after idling' : '');
      if (this.listenerCount('workerExit') > 0 || poolChannels.workerExit.hasSubscribers) {
        const exitCode = proc.exitCode;
        this.#publish('workerExit', { pool: this, pid: w.pid, name, exitCode, signal: signalOf(exitCode) });
      }
      this.#deaths.push(w);
      const data = this.#shared.results.data;
      Atomics.add(data.i32, data.index, 1); // wake the pump if it sleeps on the result ring
      data.wake();
      this.#kick();
    });
  }

  /** Starts the pump unless it runs. */
  #kick(): void {
    if (!this.#pumping) void this.#pump();
  }

  /** CPython's result handler and worker handler in one loop: reads results, buries workers, sends work. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    const ring = this.#shared.results;
    try {
      for (;;) {
        await this.#drain();
        if (this.#deaths.length) this.#bury();
        this.#dispatch();
        this.#maybeStop();
        if (this.#workers.length === 0 && this.#state !== RUN) {
          // Every worker is gone: release the pool's own shared memory and timer.
          this.#shared.block.close();
          clearInterval(this.#keepAlive);
          for (const resolve of this.#exited.splice(0)) resolve();
        }
        if (this.#pendingLive === 0 && this.#inflight.size === 0) this.#keepAlive.unref();
        else this.#keepAlive.ref();
        if (this.#inflight.size === 0 && this.#deaths.length === 0) break;
        if (this.#spinFor(ring)) continue;
        await waitFor(ring.data, new Deadline(null), () => (ring.isEmpty() && this.#deaths.length === 0 ? undefined : true));
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Watches the result ring for up to SPIN_SECONDS before sleeping: a reply that
   * comes that soon (a short task on an idle worker) then costs no futex sleep.
   * Only while tasks are in flight, and only as long as spinning pays (futex.ts's
   * SpinEstimate on the ring's word).
   */
  #spinFor(ring: Ring): boolean {
    const seen = ring.data.load();
    return !ring.isEmpty() || ring.data.spin(seen, SPIN_SECONDS * 1000, 1000);
  }

  readonly #onResult = (seq: number, status: number, payload: Uint8Array, run: number): void => {
    const job = this.#inflight.get(seq);
    if (!job || status === SKIPPED) return;
    this.#startFailures = 0;
    const wait = Math.max(0, (this.#arrival - job.queued.at) / 1000 - run);
    this.#runTimes.add(run);
    this.#waitTimes.add(wait);
    if (this.#watched || poolChannels.taskFinish.hasSubscribers || poolChannels.taskFail.hasSubscribers) {
      const x = job.extras();
      x.wait = wait;
      x.run = run;
    }
    let ok = status === OK;
    let value: unknown;
    try {
      if (status === OK_NUMBER) {
        ok = true;
        value = unpackNumber(payload);
      } else if (status === OK_F64) {
        // A map chunk's numbers, left as float64s: its call writes them where they go (putNumbers).
        ok = true;
        value = numbersOf(payload);
      } else {
        value = loads(payload);
      }
    } catch (err) {
      ok = false;
      value = err;
    }
    this.#settle(job, ok, value);
  };

  async #drain(): Promise<void> {
    const ring = this.#shared.results;
    for (;;) {
      let frame = ring.readNow();
      if (frame === EMPTY) return;
      if (frame === PARTIAL) {
        frame = await ring.read();
        if (frame === EMPTY) continue;
      }
      let initError: unknown;
      this.#arrival = performance.now();
      const kind = decodeResults(frame, (seq, status, payload, run) => {
        if (seq === 0) initError = loads(payload);
        else this.#onResult(seq, status, payload, run);
      });
      if (kind === INIT_FAILED) this.#breakPool(initError);
    }
  }

  /** The initializer failed: every task, now and later, rejects with its error. */
  #breakPool(error: unknown): void {
    if (this.#broken) return;
    this.#broken = error;
    log?.('%s: broken, every task rejects: %s', this, error instanceof Error ? error.message : String(error));
    if (poolChannels.error.hasSubscribers) poolChannels.error.publish({ pool: this, error });
    if (this.listenerCount('error') > 0) this.emit('error', { pool: this, error });
    for (const job of [...this.#inflight.values(), ...this.#pending.slice(this.#head), ...this.#retrying]) this.#settle(job, false, error);
    this.#retrying.clear();
    this.#pending = [];
    this.#head = 0;
  }

  /** Handles workers that exited: their tasks are lost (the running one) or go back to the queue (the rest). */
  #bury(): void {
    for (const w of this.#deaths.splice(0)) {
      const { slots } = w.blk;
      // Results it made and had not sent (it died on a later task): as good as sent.
      const unsent = w.blk.unsent();
      this.#arrival = performance.now();
      if (unsent) decodeResults(unsent, this.#onResult);
      const running = Atomics.load(slots, RUNNING);
      const finished = Atomics.load(slots, FINISHED);
      const exitCode = w.proc.exitCode;
      const pid = w.pid;
      const requeue: Job[] = [];
      for (const job of w.held) {
        if (job.state !== SENT || job.worker !== w) continue;
        if (running !== 0 && job.seq <= running) {
          this.#settle(job, false, new WorkerLostError(pid, exitCode, job.seq <= finished));
        } else {
          this.#inflight.delete(job.seq);
          job.state = QUEUED;
          job.worker = null;
          requeue.push(job);
        }
      }
      this.#retiredBusy += w.blk.busy[0]!;
      this.#retiredDone += Atomics.load(slots, DONE);
      w.held = [];
      w.blk.block.close();
      this.#workers.splice(this.#workers.indexOf(w), 1);
      if (requeue.length) {
        this.#pending = [...requeue, ...this.#pending.slice(this.#head)];
        this.#head = 0;
        this.#pendingLive += requeue.length;
      }
      // A worker that died before starting anything, again and again, would respawn forever.
      if (running === 0 && exitCode !== 0) this.#startFailures++;
      if (this.#startFailures >= 3 && !this.#broken) {
        this.#breakPool(new WorkerLostError(pid, exitCode));
      }
      clearTimeout(w.idleTimer);
      const workLeft = this.#pendingLive > 0 || this.#inflight.size > 0;
      // A worker retired after idling is not replaced; #grow starts one when work comes.
      const needed = !w.retired || this.#workers.length < this.#minWorkers;
      if ((this.#state === RUN && needed) || (this.#state === CLOSE && workLeft && !this.#broken)) {
        if (!this.#broken || this.#state === RUN) this.#spawn();
      }
    }
  }

  /** After close(), once all work is done: tell every worker to exit. */
  #maybeStop(): void {
    if (this.#state !== CLOSE || this.#stopsSent || this.#pendingLive > 0 || this.#inflight.size > 0) return;
    this.#stopsSent = true;
    for (const w of this.#workers) {
      w.accepting = false;
      w.feeder.send(encodeStop());
    }
  }

  #allExited(): Promise<void> {
    if (this.#workers.length === 0) return Promise.resolve();
    // Workers are daemons and keep no event loop alive: hold it open while waiting for them.
    const keepAlive = setInterval(() => {}, 1 << 30);
    return new Promise<void>((resolve) => {
      this.#exited.push(resolve);
      this.#kick();
    }).finally(() => clearInterval(keepAlive));
  }

  // ---------------------------------------------------------------- the map family

  #mapOptions(chunksize: unknown, options: unknown): MapOptions<unknown> {
    const o = (typeof chunksize === 'object' && chunksize !== null ? chunksize : options ?? {}) as MapOptions<unknown>;
    const size = typeof chunksize === 'number' ? chunksize : o.chunksize;
    if (size != null && (!Number.isInteger(size) || size < 1)) throw new ValueError(`chunksize must be a positive integer, got ${size}`);
    return { ...o, chunksize: size };
  }

  #mapCall(fn: PoolTask, iterable: Items<unknown>, mode: Mode, chunksize: unknown, options: unknown): AsyncResult<unknown[]> {
    this.#checkRunning();
    const ref = this.#taskRef(fn);
    const o = this.#mapOptions(chunksize, options) as MapOptions<unknown[]>;
    const result = new AsyncResult<unknown[]>(o.callback, o.errorCallback);
    const group = this.#group(o, (err) => result.settle(false, err));
    const finish = (ok: boolean, value: unknown) => {
      group?.dispose();
      result.settle(ok, value);
    };
    const go = async (items: unknown[]) => {
      if (result.ready()) return;
      if (this.#state === TERMINATE) return finish(false, new ValueError('Pool not running'));
      if (items.length === 0) return finish(true, []);
      let size = o.chunksize;
      if (size == null) {
        size = Math.floor(items.length / (this.#processes * 4));
        if (items.length % (this.#processes * 4)) size++;
      }
      const out = new Array<unknown>(items.length);
      const jobs: Job[] = [];
      const retry = this.#policy(o);
      let remaining = Math.ceil(items.length / size);
      let spent = performance.now();
      for (let start = 0; start < items.length; start += size) {
        if (result.ready()) break;
        // Numbers are packed straight from the input: no copy of the chunk to collect.
        let chunk: unknown[] | null = null;
        let payload: Uint8Array | null = null;
        let chunkMode = mode;
        try {
          if (mode === MAP) payload = packNumbers(items, start, Math.min(start + size, items.length));
          if (payload) chunkMode = MAP_F64;
          else payload = dumps((chunk = items.slice(start, start + size)), `items[${start}..${start + size - 1}]`);
        } catch (err) {
          for (const job of jobs) if (job.state === QUEUED) this.#settle(job, false, err);
          return finish(false, err);
        }
        while (this.#pendingLive >= this.#maxQueue) {
          try {
            await this.#room(o);
          } catch (err) {
            for (const job of jobs) if (job.state === QUEUED) this.#settle(job, false, err);
            return finish(false, err);
          }
          if (result.ready()) break;
          if (this.#state === TERMINATE) return finish(false, new ValueError('Pool not running'));
        }
        const at = start;
        const job = new Job(ref, chunkMode, payload, (ok, value) => {
          if (!ok) return finish(false, value);
          if (value instanceof Float64Array) putNumbers(value, out, at);
          else {
            const values = value as ArrayLike<unknown>;
            for (let k = 0; k < values.length; k++) out[at + k] = values[k];
          }
          if (--remaining === 0) finish(true, out);
        }, group, chunk);
        if (retry) job.extras().retry = retry;
        jobs.push(job);
        group?.jobs.add(job);
        this.#submit(job);
        // Let the first chunks go out while later ones are still being encoded.
        if (performance.now() - spent > 2) {
          await new Promise((resolve) => setImmediate(resolve));
          spent = performance.now();
        }
      }
    };
    const collect = async (): Promise<unknown[]> => {
      const items: unknown[] = [];
      for await (const item of iterable as AsyncIterable<unknown>) {
        if (result.ready()) break;
        items.push(item);
      }
      return items;
    };
    let items: unknown[] | Promise<unknown[]>;
    try {
      items = Array.isArray(iterable) ? iterable : Symbol.iterator in iterable ? Array.from(iterable as Iterable<unknown>) : collect();
    } catch (err) {
      finish(false, err);
      return result;
    }
    void Promise.resolve(items)
      .then(go)
      .catch((err: unknown) => finish(false, err));
    return result;
  }

  #imapCall(fn: PoolTask, iterable: Items<unknown>, ordered: boolean, chunksize: unknown, options: unknown): AsyncGenerator<unknown, void, undefined> {
    this.#checkRunning();
    const ref = this.#taskRef(fn);
    const o = this.#mapOptions(chunksize, options);
    const size = o.chunksize ?? 1;
    return this.#imap(ref, iterable, ordered, size, o);
  }

  async *#imap(ref: TaskRef, iterable: Items<unknown>, ordered: boolean, size: number, o: MapOptions): AsyncGenerator<unknown, void, undefined> {
    const sync = Symbol.iterator in iterable;
    const source = sync ? (iterable as Iterable<unknown>)[Symbol.iterator]() : (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    /** Chunks submitted and not yet yielded: bounds memory whatever the input's length. */
    const ahead = Math.max(2 * this.#processes, Math.ceil(8192 / size));
    const ready = new Map<number, unknown>();
    let arrived: unknown[] = []; // a queue read from `first` (shift() is O(n) on long arrays)
    let first = 0;
    let failure = null as { error: unknown } | null;
    let wake: (() => void) | null = null;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const group = this.#group(o, (err) => {
      failure ??= { error: err };
      notify();
    });
    const owner = {};
    const retry = this.#policy(o);
    // One sink for every chunk of this call: no closure per task.
    const sink = {
      settle(ok: boolean, value: unknown, job: Job): void {
        const entry = !ok ? new Failure(value) : value instanceof Float64Array ? putNumbers(value, new Array<number>(value.length)) : value;
        if (ordered) ready.set(job.index, entry);
        else arrived.push(entry);
        notify();
      },
    };
    let submitted = 0;
    let yielded = 0;
    let exhausted = false;
    /** The input threw: raised once every whole chunk read before it has been yielded, as Python 3 does. */
    let inputError = null as { error: unknown } | null;
    try {
      for (;;) {
        while (!exhausted && submitted - yielded < ahead && !failure) {
          const chunk: unknown[] = [];
          while (chunk.length < size) {
            let next: IteratorResult<unknown>;
            try {
              next = sync ? (source as Iterator<unknown>).next() : await (source as AsyncIterator<unknown>).next();
            } catch (error) {
              // As Python's task feeder: the chunk the input failed in is never sent, so the
              // results before it come out, then the error (CPython's test_imap_handle_iterable_exception).
              inputError = { error };
              exhausted = true;
              chunk.length = 0;
              break;
            }
            if (next.done) {
              exhausted = true;
              break;
            }
            chunk.push(next.value);
          }
          if (!chunk.length) break;
          while (this.#pendingLive >= this.#maxQueue) await this.#room(o);
          if (this.#state === TERMINATE) throw new ValueError('Pool not running');
          const index = submitted++;
          let payload: Uint8Array | null;
          let chunkMode: Mode = MAP;
          try {
            payload = packNumbers(chunk);
            if (payload) chunkMode = MAP_F64;
            else payload = dumps(chunk, `items[${index * size}]`);
          } catch (err) {
            if (ordered) ready.set(index, new Failure(err));
            else arrived.push(new Failure(err));
            continue;
          }
          const job = new Job(ref, chunkMode, payload, sink, group, chunk);
          if (retry) job.extras().retry = retry;
          job.index = index;
          job.owner = owner;
          group?.jobs.add(job);
          this.#submit(job);
        }
        if (failure) throw failure.error;
        const have = ordered ? ready.has(yielded) : first < arrived.length;
        if (have) {
          let entry: unknown;
          if (ordered) {
            entry = ready.get(yielded);
            ready.delete(yielded);
          } else {
            entry = arrived[first++];
            if (first > 1024 && first * 2 > arrived.length) {
              arrived = arrived.slice(first);
              first = 0;
            }
          }
          yielded++;
          if (entry instanceof Failure) throw entry.error;
          const values = entry as ArrayLike<unknown>;
          for (let k = 0; k < values.length; k++) yield values[k];
          continue;
        }
        if (exhausted && submitted === yielded) {
          if (inputError) throw inputError.error;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      group?.dispose();
      // The consumer stopped early or a task failed: drop what has not started.
      for (let i = this.#head; i < this.#pending.length; i++) {
        const job = this.#pending[i]!;
        if (job.owner === owner && job.state === QUEUED) this.#settle(job, false, new AbortError('imap consumer stopped'), false);
      }
      if (!exhausted) {
        try {
          await (source as AsyncIterator<unknown>).return?.();
        } catch {
          // the input's own clean-up failed: nothing more to do
        }
      }
    }
  }
}
