/**
 * The client half of `manager.Pool()` — CPython's `PoolProxy` and the
 * `AsyncResult` and `Iterator` proxies its methods return (`managers.py`).
 * Kept apart from manager_proxy.ts, whose proxies hold data. Tasks are
 * `task(import.meta, fn)` functions, sent as their references; the pool
 * itself (manager_pool.ts) lives in the manager's server.
 * @module
 */
import { BaseProxy, registerProxyClass } from './manager_proxy.js';
import type { Items, MapTask, PoolOptions, PoolStats, PoolTask, TaskResult } from './pool.js';
import { requireTaskRef } from './task.js';

/** Values one `next` call of an `imap` iterator brings back at most. */
const BATCH = 1024;

/** The input of the map family, collected: it crosses to the server whole, as Python pickles it. */
async function collect<T>(items: Items<T>): Promise<T[]> {
  if (Array.isArray(items)) return items;
  if (Symbol.iterator in items) return Array.from(items);
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** @internal What `Manager.Pool(options)` sends: the initializer as its task reference, a context as its name. */
export function poolArgs(options: PoolOptions): [Record<string, unknown>] {
  const { processes, initializer, initargs, maxTasksPerChild, context } = options;
  return [{
    processes,
    initializer: initializer ? requireTaskRef(initializer, 'initializer') : null,
    initargs,
    maxTasksPerChild,
    context: typeof context === 'object' && context !== null ? context.name : context,
  }];
}

/**
 * The result of a pool call made through a manager — Python's `AsyncResult`
 * proxy, as `applyAsync`, `mapAsync` and `starmapAsync` of a {@link PoolProxy}
 * give it. It can be passed to another process like any proxy.
 * @example
 * import { Manager, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using manager = await Manager.start();
 *   const pool = await manager.Pool({ processes: 1 });
 *   const r = await pool.applyAsync(square, [7]);
 *   console.log(await r.get(5)); // 49
 *   console.log(await r.successful()); // true
 * }
 * @throws {TimeoutError} from `get` when `timeout` seconds pass first (the call goes on).
 * @throws {ValueError} from `successful` before the result is ready.
 */
export class AsyncResultProxy<T = unknown> extends BaseProxy {
  /** The value, or the task's error, once ready; `timeout` in seconds (null: for ever). */
  get(timeout: number | null = null): Promise<T> {
    return this.callMethod('get', [timeout]) as Promise<T>;
  }
  /** Waits until the result is ready, or `timeout` seconds pass. Never throws the task's error. */
  async wait(timeout: number | null = null): Promise<void> {
    await this.callMethod('wait', [timeout]);
  }
  /** True once the call finished, either way. */
  ready(): Promise<boolean> {
    return this.callMethod('ready') as Promise<boolean>;
  }
  /** True when the call finished without an error. @throws {ValueError} when it has not finished. */
  successful(): Promise<boolean> {
    return this.callMethod('successful') as Promise<boolean>;
  }
}

/**
 * A process pool living in the manager's server — Python's
 * `manager.Pool()` and its `PoolProxy`. Every process holding the proxy
 * (children it is passed to, remote clients) submits to the same workers.
 * Tasks are functions declared with `task(import.meta, fn)`; the server imports
 * their modules. A task's error is rethrown here as manager errors are: a known
 * class (ValueError, TypeError…) as itself, any other as `RemoteError` with its
 * class name. The pool is terminated when its last proxy is released and when
 * the manager shuts down.
 * @example
 * import { Manager, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using manager = await Manager.start();
 *   const pool = await manager.Pool({ processes: 2 });
 *   console.log(await pool.map(square, [1, 2, 3])); // [ 1, 4, 9 ]
 * }
 * @throws {TypeError} from every submitting method when `fn` was not declared with `task()` (nothing is sent).
 * @throws {ValueError} from submitting methods once the pool is closed or terminated, and from `join` while it runs.
 */
export class PoolProxy extends BaseProxy {
  /** Refuses a function not declared with `task()` before anything is sent, then calls `method(ref, input, chunksize)`. */
  async #submit(method: string, fn: PoolTask, input: Items<unknown>, chunksize?: number): Promise<unknown> {
    const ref = requireTaskRef(fn, 'task');
    return this.callMethod(method, [ref, await collect(input), chunksize ?? null]);
  }

  /** Runs `fn(...args)` in a worker and resolves with its value: Python's `apply`. */
  async apply<F extends PoolTask>(fn: F, args?: Parameters<F>): Promise<TaskResult<F>> {
    return (await this.#submit('apply', fn, args ?? [])) as TaskResult<F>;
  }

  /** Starts `fn(...args)` and resolves at once with its result's proxy: Python's `apply_async`. */
  async applyAsync<F extends PoolTask>(fn: F, args?: Parameters<F>): Promise<AsyncResultProxy<TaskResult<F>>> {
    return (await this.#submit('applyAsync', fn, args ?? [])) as AsyncResultProxy<TaskResult<F>>;
  }

  /** `fn` of every item, in order: Python's `map`. The items are sent whole, as Python pickles them. */
  async map<F extends MapTask>(fn: F, iterable: Items<Parameters<F>[0]>, chunksize?: number): Promise<TaskResult<F>[]> {
    return (await this.#submit('map', fn, iterable, chunksize)) as TaskResult<F>[];
  }

  /** `map` that resolves at once with its result's proxy: Python's `map_async`. */
  async mapAsync<F extends MapTask>(fn: F, iterable: Items<Parameters<F>[0]>, chunksize?: number): Promise<AsyncResultProxy<TaskResult<F>[]>> {
    return (await this.#submit('mapAsync', fn, iterable, chunksize)) as AsyncResultProxy<TaskResult<F>[]>;
  }

  /** Like `map`, with each item spread as the arguments: Python's `starmap`. */
  async starmap<F extends PoolTask>(fn: F, iterable: Items<Parameters<F>>, chunksize?: number): Promise<TaskResult<F>[]> {
    return (await this.#submit('starmap', fn, iterable, chunksize)) as TaskResult<F>[];
  }

  /** `starmap` that resolves at once with its result's proxy: Python's `starmap_async`. */
  async starmapAsync<F extends PoolTask>(fn: F, iterable: Items<Parameters<F>>, chunksize?: number): Promise<AsyncResultProxy<TaskResult<F>[]>> {
    return (await this.#submit('starmapAsync', fn, iterable, chunksize)) as AsyncResultProxy<TaskResult<F>[]>;
  }

  /**
   * `fn` of every item, yielded in order as results come (fetched in batches): Python's `imap`.
   * @throws {TypeError} at once when `fn` was not declared with `task()`.
   */
  imap<F extends MapTask>(fn: F, iterable: Items<Parameters<F>[0]>, chunksize?: number): AsyncGenerator<TaskResult<F>, void, undefined> {
    requireTaskRef(fn, 'task');
    return this.#iterate('imap', fn, iterable, chunksize) as AsyncGenerator<TaskResult<F>, void, undefined>;
  }

  /**
   * Like `imap`, in the order results finish: Python's `imap_unordered`.
   * @throws {TypeError} at once when `fn` was not declared with `task()`.
   */
  imapUnordered<F extends MapTask>(fn: F, iterable: Items<Parameters<F>[0]>, chunksize?: number): AsyncGenerator<TaskResult<F>, void, undefined> {
    requireTaskRef(fn, 'task');
    return this.#iterate('imapUnordered', fn, iterable, chunksize) as AsyncGenerator<TaskResult<F>, void, undefined>;
  }

  async *#iterate(method: string, fn: MapTask, iterable: Items<unknown>, chunksize: number | undefined): AsyncGenerator<unknown, void, undefined> {
    const it = (await this.#submit(method, fn, iterable, chunksize)) as BaseProxy;
    let done = false;
    try {
      while (!done) {
        const [values, last] = (await it.callMethod('next', [BATCH])) as [unknown[], boolean];
        done = last;
        yield* values;
      }
    } finally {
      // The consumer stopped early: the pool drops this call's tasks not yet started.
      if (!done) await it.callMethod('close').catch(() => {});
    }
  }

  /** No more tasks; the workers exit once every task is done: Python's `close`. */
  async close(): Promise<void> {
    await this.callMethod('close');
  }

  /** Stops every worker now; unfinished tasks reject with a ValueError: Python's `terminate`. */
  async terminate(): Promise<void> {
    await this.callMethod('terminate');
  }

  /** Waits until every worker has exited, after `close()` or `terminate()`: Python's `join`. */
  async join(): Promise<void> {
    await this.callMethod('join');
  }

  /** The pool's task counts and each worker's pid, as `Pool.stats()` gives them. */
  stats(): Promise<PoolStats> {
    return this.callMethod('stats') as Promise<PoolStats>;
  }

  /** `await using pool = await manager.Pool()` terminates it at the end of the block, as Python's `with` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }
}

registerProxyClass('Pool', PoolProxy);
registerProxyClass('AsyncResult', AsyncResultProxy);
