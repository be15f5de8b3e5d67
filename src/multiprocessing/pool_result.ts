/**
 * `AsyncResult` and the pool's errors — the twins of `ApplyResult` /
 * `MapResult` in CPython's `multiprocessing/pool.py`, split out so `pool.ts`
 * holds only the scheduling.
 * @module
 */
import { constants } from 'node:os';
import { TimeoutError, ValueError } from '../errors.js';

/**
 * A pool worker died (SIGKILL, `process.exit`, out of memory, a native crash)
 * while it held the task. Python's `Pool` hangs forever in this case.
 *
 * @example
 * import { Pool, WorkerLostError, isMainModule, task } from 'weft';
 * export const crash = task(import.meta, () => process.kill(process.pid, 'SIGKILL'));
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   try { await pool.apply(crash, []); } catch (e) { if (e instanceof WorkerLostError) console.log(e.exitCode, e.signal); } // -9 SIGKILL
 * }
 */
export class WorkerLostError extends Error {
  override name = 'WorkerLostError';
  /** The worker's pid (a worker thread's tid in the thread context). */
  readonly pid: number;
  /** Its exit code, Python style: N from `process.exit(N)`, -N when killed by signal N. */
  readonly exitCode: number | null;
  /** The signal's name (`'SIGKILL'`), or null when it exited by itself. */
  readonly signal: string | null;

  constructor(pid: number, exitCode: number | null, finished = false) {
    const signal = exitCode !== null && exitCode < 0 ? signalName(-exitCode) : null;
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    super(
      finished
        ? `pool worker ${pid} ${how} after running the task, before sending its result`
        : `pool worker ${pid} ${how} while running the task`,
    );
    this.pid = pid;
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

function signalName(n: number): string {
  for (const [name, value] of Object.entries(constants.signals)) if (value === n) return name;
  return `signal ${n}`;
}

/**
 * A call stopped through its `signal` option (the reason is the `cause`).
 * @example
 * import { AbortError, Pool, isMainModule, task } from 'weft';
 * export const slow = task(import.meta, () => new Promise((resolve) => setTimeout(resolve, 10_000)));
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   const ac = new AbortController();
 *   const r = pool.apply(slow, [], { signal: ac.signal });
 *   ac.abort(); // r rejects with AbortError
 *   await r.catch((e) => console.log(e instanceof AbortError)); // true
 * }
 */
export class AbortError extends Error {
  override name = 'AbortError';
}

const noop = () => {};

/**
 * The result of an asynchronous pool call: Python's `AsyncResult`.
 * `await result.get()` gives the value or throws the task's error.
 *
 * @example
 * import { Pool, isMainModule, task } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   const r = pool.applyAsync(square, [7]);
 *   await r.wait();
 *   console.log(r.ready(), await r.get()); // true 49
 * }
 */
export class AsyncResult<T> {
  #state: 0 | 1 | 2 = 0;
  #value: unknown;
  // The promise is made only when someone asks for it: a result nobody reads costs
  // no promise, and its failure is no unhandled rejection (Python ignores it too).
  #promise: Promise<T> | null = null;
  #resolve: ((value: T) => void) | null = null;
  #reject: ((error: unknown) => void) | null = null;
  readonly #callback: ((value: T) => void) | undefined;
  readonly #errorCallback: ((error: Error) => void) | undefined;

  /** @internal Results are made by the pool. */
  constructor(callback?: (value: T) => void, errorCallback?: (error: Error) => void) {
    this.#callback = callback;
    this.#errorCallback = errorCallback;
  }

  /** True once the call finished, either way. */
  ready(): boolean {
    return this.#state !== 0;
  }

  /**
   * True when the call finished without an error.
   * @throws {ValueError} when the call has not finished.
   */
  successful(): boolean {
    if (this.#state === 0) throw new ValueError('the result is not ready');
    return this.#state === 1;
  }

  #settled(): Promise<T> {
    if (this.#state === 1) return Promise.resolve(this.#value as T);
    if (this.#state === 2) return Promise.reject(this.#value);
    return (this.#promise ??= new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    }));
  }

  /**
   * The value, once ready; `timeout` in seconds (the call goes on after a timeout, as in Python).
   * @throws {TimeoutError} when `timeout` passed first.
   * @throws {Error} the task's own error (class name, message, remote stack and cause kept),
   *   {@link WorkerLostError}, {@link AbortError} or `TimeoutError` from the call's options.
   */
  get(timeout: number | null = null): Promise<T> {
    if (timeout == null || this.#state !== 0) return this.#settled();
    return this.#race(timeout).then((ready) => {
      if (!ready) throw new TimeoutError(`the result was not ready within ${timeout} s`);
      return this.#settled();
    });
  }

  /** Waits until the result is ready, or `timeout` seconds pass. Never throws the task's error. */
  async wait(timeout: number | null = null): Promise<void> {
    if (this.#state !== 0) return;
    if (timeout == null) {
      await this.#settled().catch(noop);
      return;
    }
    await this.#race(timeout);
  }

  #race(timeout: number): Promise<boolean> {
    if (!(timeout >= 0)) throw new RangeError(`timeout must be a non-negative number of seconds, got ${timeout}`);
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.#settled().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeout * 1000);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** @internal Settles once; runs the callbacks in this process, as Python does. */
  settle(ok: boolean, value: unknown): void {
    if (this.#state !== 0) return;
    this.#state = ok ? 1 : 2;
    this.#value = value;
    const callback = ok ? this.#callback : this.#errorCallback;
    if (callback) {
      try {
        callback(value as T & Error);
      } catch (err) {
        console.error('weft Pool: an exception in a result callback was ignored:', err);
      }
    }
    if (ok) this.#resolve?.(value as T);
    else this.#reject?.(value);
    this.#resolve = this.#reject = null;
  }
}
