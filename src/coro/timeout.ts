/**
 * `Timeout`: the twin of gevent's `src/gevent/timeout.py`. A timer aimed at
 * the greenlet that started it: when it expires, the exception (the Timeout
 * itself unless another was given) is raised in that greenlet at its current
 * or next weft/coro wait, exactly like a kill. Nested timeouts on one
 * greenlet form a stack; when several have expired, the innermost is raised
 * first and an outer one follows once the inner block is left.
 * @module
 */
import { type Runner, type TimeoutLike, currentRunner, throwInto, toMs, wait } from './hub.js';

type ExceptionLike = Error | (new () => Error);

/**
 * A timeout that raises in the greenlet that started it (gevent's `Timeout`,
 * which is itself an exception).
 * @example
 * import { Timeout, sleep } from 'weft/coro';
 * try {
 *   await using t = Timeout.start(0.05); // raises t at the next wait after 50 ms
 *   await sleep(10);
 * } catch (e) {
 *   console.log(e instanceof Timeout, (e as Timeout).message); // true 0.05 seconds
 * }
 * @example
 * import { Queue, Timeout } from 'weft/coro';
 * const q = new Queue<string>();
 * q.putNowait('x');
 * console.log(await Timeout.run(1, () => q.get())); // x
 */
export class Timeout extends Error implements TimeoutLike {
  override name = 'Timeout';
  /** @internal */ _expired = false;
  /** @internal */ _delivered = false;
  private timer: NodeJS.Timeout | undefined = undefined;
  private target: Runner | undefined = undefined;
  private readonly given: ExceptionLike | undefined;
  private made: Error | undefined = undefined;

  /**
   * @param seconds when to fire; `undefined` never fires (gevent's `Timeout(None)`)
   * @param exception what to raise instead of the Timeout itself (class or instance)
   * @throws {RangeError} when `seconds` is negative
   */
  constructor(
    readonly seconds?: number,
    exception?: ExceptionLike,
  ) {
    super(seconds === undefined ? 'timed out' : `${seconds} second${seconds === 1 ? '' : 's'}`);
    if (seconds !== undefined) toMs(seconds);
    this.given = exception;
  }

  /**
   * Create and start a timeout (gevent's `Timeout.start_new`).
   * @throws {RangeError} when `seconds` is negative
   * @example
   * import { Timeout, sleep } from 'weft/coro';
   * const t = Timeout.start(2);
   * try { await sleep(0.01); } finally { t.cancel(); }
   * console.log(t.pending); // false
   */
  static start(seconds?: number, exception?: ExceptionLike): Timeout {
    return new Timeout(seconds, exception).start();
  }

  /**
   * Run `fn` with a time limit: the Timeout (or `exception`) is raised in
   * it at the next wait after `seconds`, and also ends a wait on a foreign
   * promise `fn` returns.
   * @throws {Timeout} (or `exception`) when `fn` runs out of time
   * @example
   * import { Timeout, sleep } from 'weft/coro';
   * console.log(await Timeout.run(1, async () => { await sleep(0.01); return 'in time'; })); // in time
   * await Timeout.run(0.05, () => sleep(10)).catch((e) => console.log(e.name)); // Timeout
   */
  static async run<T>(seconds: number, fn: () => T | PromiseLike<T>, exception?: ExceptionLike): Promise<T> {
    const t = new Timeout(seconds, exception).start();
    try {
      return await wait(Promise.resolve().then(fn));
    } finally {
      t.cancel();
    }
  }

  /** The exception this timeout raises. @internal */
  get _error(): Error {
    if (this.given === undefined) return this;
    return (this.made ??= typeof this.given === 'function' ? new this.given() : this.given);
  }

  /**
   * Arm the timer, aimed at the running greenlet.
   * @throws {Error} when already started
   * @example
   * import { Timeout } from 'weft/coro';
   * const t = new Timeout(1).start();
   * console.log(t.pending); // true
   * t.cancel();
   */
  start(): this {
    if (this.pending) throw new Error('Timeout is already started; cancel() it before starting it again');
    if (this.seconds === undefined) return this;
    const target = currentRunner();
    this.target = target;
    this._expired = false;
    this._delivered = false;
    (target._timeouts ??= []).push(this);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this._expired = true;
      deliver(target);
    }, toMs(this.seconds));
    return this;
  }

  /**
   * True while the timer runs (started, not yet fired or cancelled).
   * @example
   * import { Timeout } from 'weft/coro';
   * const t = Timeout.start(1);
   * console.log(t.pending); // true
   * if (t.pending) t.cancel();
   * console.log(t.pending); // false
   */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Stop the timer and forget the exception if it has not been raised yet.
   * Safe to call more than once.
   * @example
   * import { Timeout, sleep } from 'weft/coro';
   * const t = Timeout.start(0.01);
   * t.cancel();
   * await sleep(0.05); // not interrupted
   * console.log('slept'); // slept
   */
  cancel(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const target = this.target;
    if (target === undefined) return;
    this.target = undefined;
    if (target._pending === this._error) target._pending = undefined;
    const stack = target._timeouts;
    if (stack !== undefined) {
      const i = stack.lastIndexOf(this);
      if (i >= 0) stack.splice(i, 1);
      if (stack.length === 0) target._timeouts = undefined;
      else deliver(target); // an outer timeout that expired meanwhile goes now
    }
  }

  /**
   * Same as {@link cancel} (gevent's `close`).
   * @example
   * import { Timeout, sleep } from 'weft/coro';
   * const t = Timeout.start(0.01);
   * t.close();
   * await sleep(0.05);
   * console.log(t.pending); // false
   */
  close(): void {
    this.cancel();
  }

  /** `using t = Timeout.start(...)` cancels it when the block ends. */
  [Symbol.dispose](): void {
    this.cancel();
  }

  /** `await using t = Timeout.start(...)` cancels it when the block ends. */
  [Symbol.asyncDispose](): Promise<void> {
    this.cancel();
    return Promise.resolve();
  }
}

/** Raise the innermost expired, not yet raised timeout of `runner`. */
function deliver(runner: Runner): void {
  const stack = runner._timeouts as Timeout[] | undefined;
  if (stack === undefined) return;
  for (let i = stack.length - 1; i >= 0; i--) {
    const t = stack[i]!;
    if (!t._expired) continue;
    if (t._delivered) {
      if (runner._pending === t._error) return; // still to be raised; outer ones wait
      continue; // raised and handled already: an outer one may go
    }
    const pending = runner._pending;
    if (pending !== undefined) {
      const outer = stack.find((o) => o !== t && o._error === pending);
      if (outer === undefined) return; // a kill is pending; it goes first
      outer._delivered = false; // the inner one overtakes it
      runner._pending = undefined;
    }
    t._delivered = true;
    throwInto(runner, t._error, false);
    return;
  }
}

/**
 * Run `fn` with a time limit and return `timeoutValue` instead of raising
 * when it runs out (gevent's `with_timeout(..., timeout_value=...)`).
 * @example
 * import { Queue, withTimeout } from 'weft/coro';
 * const q = new Queue<number>();
 * const item = await withTimeout(0.1, () => q.get(), { timeoutValue: null });
 * console.log(item); // null
 */
export async function withTimeout<T, D>(
  seconds: number,
  fn: () => T | PromiseLike<T>,
  options: { timeoutValue: D },
): Promise<T | D> {
  const marker = new Timeout(seconds);
  try {
    return await Timeout.run(seconds, fn, marker);
  } catch (e) {
    if (e === marker) return options.timeoutValue;
    throw e;
  }
}
