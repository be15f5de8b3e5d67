/**
 * What a `Pool` and a `Process` tell their watchers (no CPython twin: Python's
 * multiprocessing has no events): the typed events of their `EventEmitter`s,
 * and the same messages on `node:diagnostics_channel` channels, so an APM or
 * OpenTelemetry instrumentation can subscribe without wrapping weft
 * (examples/otel-pool.ts turns them into spans). A message is built only
 * when someone listens: nobody listening costs a flag or two per task.
 * @module
 */
import diagnostics from 'node:diagnostics_channel';
import { constants } from 'node:os';
import type { Pool } from './pool.js';
import type { Process } from './process.js';

/**
 * A worker of a pool started or exited (`exitCode` and `signal` once it exited).
 * @example
 * import { Pool, isMainModule, task, type WorkerEvent } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   const pool = new Pool({ processes: 1 });
 *   pool.on('workerExit', (e: WorkerEvent) => console.log(e.name, e.exitCode)); // PoolWorker-1 0
 *   await pool.apply(square, [2]);
 *   pool.close();
 *   await pool.join();
 * }
 */
export interface WorkerEvent {
  pool: Pool;
  /** The worker's pid (a worker thread's tid; 0 if it had not published it yet). */
  pid: number;
  /** Its name: `PoolWorker-N`, or `name-N` with the pool's `name`. */
  name: string;
  /** null at start; then as `Process.exitCode` (0, a status, or -signal). */
  exitCode: number | null;
  /** The signal that ended it (`'SIGKILL'`), or null. */
  signal: NodeJS.Signals | null;
}

/**
 * A task of a pool, at one step of its life. A map's chunk is one task.
 * @example
 * import { Pool, isMainModule, task, type TaskEvent } from 'weft';
 * export const squareTask = task(import.meta, function square(x: number) { return x * x; }); // events name it by the function
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   pool.on('taskFinish', (e: TaskEvent) => console.log(e.task, e.run >= 0, e.wait >= 0)); // square true true
 *   await pool.apply(squareTask, [2]);
 * }
 */
export interface TaskEvent {
  pool: Pool;
  /** The task's id in this pool, from 1; kept across retries. */
  id: number;
  /** The task function's name. */
  task: string;
  /** The pid of the worker it was handed to; 0 while queued, or when it never reached one. */
  worker: number;
  /** Seconds it waited: in this process's queue (`taskStart`), or until its worker began it (`taskFinish`, `taskFail`). */
  wait: number;
  /** Seconds the worker ran it (`taskFinish`, `taskFail`; 0 when no worker finished it); 0 before. */
  run: number;
  /** Runs before this one that failed and were retried. */
  attempt: number;
  /** `taskFail`: why. */
  error?: unknown;
}

/**
 * The events of a {@link Pool} (a typed `EventEmitter`). Each has a
 * `node:diagnostics_channel` channel carrying the same message: `weft:pool:worker:start`,
 * `weft:pool:worker:exit`, `weft:pool:task:queued`, `weft:pool:task:start`, `weft:pool:task:finish`,
 * `weft:pool:task:fail`, `weft:pool:drain` and `weft:pool:error` (docs/pool.md).
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   pool.on('taskQueued', (e) => console.log('queued', e.id)); // queued 1
 *   await pool.apply(square, [2]);
 * }
 */
export interface PoolEvents {
  workerStart: [WorkerEvent];
  workerExit: [WorkerEvent];
  /** A task was submitted. */
  taskQueued: [TaskEvent];
  /** A task was handed to a worker (a worker runs the tasks it holds in order). */
  taskStart: [TaskEvent];
  taskFinish: [TaskEvent];
  /** A task failed (after its retries), was cancelled, or was dropped by `terminate()`. */
  taskFail: [TaskEvent];
  /** The queue had reached `maxQueue` (or a call found it full) and is now empty. */
  drain: [{ pool: Pool }];
  /**
   * The pool broke: its initializer threw, or workers kept dying before their first task; every task
   * rejects with `error`. Emitted only to listeners (no listener: no throw, unlike Node's usual 'error').
   */
  error: [{ pool: Pool; error: unknown }];
}

/**
 * The events of a {@link Process} (a typed `EventEmitter`), also on the channels
 * `weft:process:start` and `weft:process:exit`.
 * @example
 * import { Process, isMainModule, task } from 'weft';
 * export const noop = task(import.meta, () => {});
 * if (isMainModule(import.meta)) {
 *   const p = new Process({ target: noop });
 *   p.on('exit', (e) => console.log('exit', e.exitCode, e.signal)); // exit 0 null
 *   p.start();
 *   await p.join();
 * }
 */
export interface ProcessEvents {
  start: [{ process: Process; pid: number }];
  exit: [{ process: Process; pid: number; exitCode: number; signal: NodeJS.Signals | null }];
}

/**
 * The `node:diagnostics_channel` channels of every pool, by event name:
 * `weft:pool:worker:start`, `weft:pool:worker:exit`, `weft:pool:task:queued`,
 * `weft:pool:task:start`, `weft:pool:task:finish`, `weft:pool:task:fail`,
 * `weft:pool:drain`, `weft:pool:error`. Subscribe by name from anywhere:
 * `diagnostics_channel.subscribe('weft:pool:task:finish', (e) => …)`.
 * @internal
 */
export const poolChannels = {
  workerStart: diagnostics.channel('weft:pool:worker:start'),
  workerExit: diagnostics.channel('weft:pool:worker:exit'),
  taskQueued: diagnostics.channel('weft:pool:task:queued'),
  taskStart: diagnostics.channel('weft:pool:task:start'),
  taskFinish: diagnostics.channel('weft:pool:task:finish'),
  taskFail: diagnostics.channel('weft:pool:task:fail'),
  drain: diagnostics.channel('weft:pool:drain'),
  error: diagnostics.channel('weft:pool:error'),
} as const satisfies Record<keyof PoolEvents, diagnostics.Channel>;

/** @internal The channels of every process: `weft:process:start`, `weft:process:exit`. */
export const processChannels = {
  start: diagnostics.channel('weft:process:start'),
  exit: diagnostics.channel('weft:process:exit'),
} as const satisfies Record<keyof ProcessEvents, diagnostics.Channel>;

/** The signal of a Python-style exit code (-9 → 'SIGKILL'), or null. */
export function signalOf(exitCode: number | null): NodeJS.Signals | null {
  if (exitCode === null || exitCode >= 0) return null;
  return signalNames.get(-exitCode) ?? null;
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
