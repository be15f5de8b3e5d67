/**
 * The hub: the twin of gevent's `src/gevent/hub.py`. gevent's hub is a greenlet
 * running the libev/libuv loop; every blocking call switches to it and is
 * switched back by a watcher. Here Node's own event loop is the hub and every
 * wait is a promise, so what remains of the hub is:
 *
 * - which greenlet is running (`AsyncLocalStorage`, so it survives `await`);
 * - {@link Waiter}: one pending wait of one greenlet. A kill or a `Timeout`
 *   rejects the waiter the greenlet is parked on, which is how gevent's
 *   `greenlet.throw()` reaches the next blocking call;
 * - `sleep`, `idle` and error reporting (`Hub.handleError`).
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What a wait belongs to: a greenlet (or the main greenlet). Internal: the
 * public face is `Greenlet`.
 * @internal
 */
export interface Runner {
  /** An exception to raise at the next wait (a kill or a timeout that found no waiter). */
  _pending: Error | undefined;
  /** The wait this runner is parked on, if any. */
  _waiter: Waiter<unknown> | undefined;
  /** More waits, when one greenlet waits on several things at once (`Promise.all`). */
  _moreWaiters: Set<Waiter<unknown>> | undefined;
  /** Innermost-last stack of running `Timeout`s aimed at this runner. */
  _timeouts: TimeoutLike[] | undefined;
}

/** What the hub needs of a `Timeout` to resolve nested timeouts innermost first. @internal */
export interface TimeoutLike {
  readonly _expired: boolean;
  readonly _error: Error;
}

/**
 * Set by `monitor` while it runs: told how long each greenlet's first slice
 * took (the hub starts a batch of greenlets in one callback, so the
 * callback's duration alone cannot say which one blocked). @internal
 */
export const monitorHooks: { onStart: ((runner: Runner, ms: number) => void) | undefined } = { onStart: undefined };

/** The greenlet context. @internal */
export const storage = new AsyncLocalStorage<Runner>();

let mainRunner: Runner | undefined;

/** Called once by greenlet.ts with the main greenlet. @internal */
export function setMainRunner(runner: Runner): void {
  mainRunner = runner;
}

/** The running runner: the greenlet in whose context this code runs, or the main one. @internal */
export function currentRunner(): Runner {
  const r = storage.getStore() ?? mainRunner;
  if (r === undefined) throw new Error('weft/coro: the hub is not initialised (import from weft/coro)');
  return r;
}

/** Something the hub runs on its next turn: a greenlet to start, links to call. @internal */
export interface Callback {
  _runCallback(): void;
}

const callbacks: Callback[] = [];
let draining = false;
const resolved = Promise.resolve();

function scheduleDrain(): void {
  void resolved.then(drain);
}

function drain(): void {
  // Items scheduled while draining run in this same turn, in order.
  for (let i = 0; i < callbacks.length; i++) callbacks[i]!._runCallback();
  callbacks.length = 0;
  draining = false;
}

/**
 * Run `item._runCallback()` on the hub's next turn (gevent's
 * `loop.run_callback`). One microtask serves every item scheduled before it
 * runs, so spawning 100k greenlets costs one hop, not 100k. @internal
 */
export function schedule(item: Callback): void {
  callbacks.push(item);
  if (!draining) {
    draining = true;
    // outside any greenlet (`exit()` would toggle the async hooks: slow)
    storage.run(undefined as unknown as Runner, scheduleDrain);
  }
}

/**
 * One pending wait of one greenlet (gevent's `hub.Waiter`). Resolved by the
 * thing waited on ({@link Waiter.switch}), or rejected by a kill or timeout
 * ({@link Waiter.throw}), whichever comes first; the loser's bookkeeping is
 * undone by `cleanup`.
 * @internal
 */
export class Waiter<T> {
  readonly promise: Promise<T>;
  settled = false;
  /** Undoes the registration with the thing waited on (remove from a queue, clear a timer). */
  cleanup: (() => void) | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  private resolveFn!: (value: T) => void;
  private rejectFn!: (error: unknown) => void;

  constructor(readonly owner: Runner) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    if (owner._waiter === undefined) owner._waiter = this as Waiter<unknown>;
    else (owner._moreWaiters ??= new Set()).add(this as Waiter<unknown>);
  }

  /** Wake the waiter with a value (the awaited thing happened). */
  switch(value: T): void {
    if (this.settled) return;
    this.detach();
    this.resolveFn(value);
  }

  /** Wake the waiter with an exception and undo its registration. */
  throw(error: unknown): void {
    if (this.settled) return;
    this.detach();
    const cleanup = this.cleanup;
    this.cleanup = undefined;
    if (cleanup) cleanup();
    this.rejectFn(error);
  }

  /** After `seconds`, wake with `onTimeout()`'s value or exception (undoing the registration), unless woken first. */
  setTimeout(seconds: number, onTimeout: () => T): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.settled) return;
      const cleanup = this.cleanup;
      this.cleanup = undefined;
      if (cleanup) cleanup();
      let value: T;
      try {
        value = onTimeout();
      } catch (e) {
        this.throw(e); // e.g. queue.Empty after a get's timeout
        return;
      }
      this.switch(value);
    }, toMs(seconds));
  }

  private detach(): void {
    this.settled = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const owner = this.owner;
    if (owner._waiter === (this as Waiter<unknown>)) {
      owner._waiter = undefined;
      const more = owner._moreWaiters;
      if (more !== undefined && more.size > 0) {
        const next = more.values().next().value as Waiter<unknown>;
        more.delete(next);
        owner._waiter = next;
      }
    } else owner._moreWaiters?.delete(this as Waiter<unknown>);
  }
}

/**
 * Start a wait for the running greenlet. A pending kill/timeout makes it
 * settled (rejected) at once, as gevent raises it at every blocking call;
 * callers return `w.promise` without arming anything then. @internal
 */
export function newWaiter<T>(): Waiter<T> {
  const runner = currentRunner();
  const w = new Waiter<T>(runner);
  const pending = runner._pending;
  if (pending !== undefined) {
    // already settled: callers check `settled` and return the rejected promise
    runner._pending = undefined;
    w.throw(pending);
  }
  return w;
}

/**
 * Raise `error` in `runner` at its current wait, or at its next one if it is
 * not parked on a weft/coro wait right now (it runs, or awaits a foreign promise).
 * `replace` decides whether `error` takes the place of one already pending.
 * @internal
 */
export function throwInto(runner: Runner, error: Error, replace: boolean): void {
  const waiter = runner._waiter;
  if (waiter !== undefined) {
    const more = runner._moreWaiters;
    const others = more !== undefined && more.size > 0 ? [...more] : undefined;
    waiter.throw(error);
    if (others !== undefined) for (const w of others) w.throw(error);
    return;
  }
  if (runner._pending === undefined || replace) runner._pending = error;
}

/** Seconds (Python's unit) to a timer delay in ms; rejects bad values with a clear message. @internal */
export function toMs(seconds: number): number {
  if (typeof seconds !== 'number' || Number.isNaN(seconds)) {
    throw new TypeError(`weft/coro: a time in seconds must be a number, got ${String(seconds)}`);
  }
  if (seconds < 0) throw new RangeError(`weft/coro: a time in seconds must be >= 0, got ${seconds}`);
  return Math.min(seconds * 1000, 2 ** 31 - 1);
}

function wake(w: Waiter<void>): void {
  w.timer = undefined;
  w.switch(undefined);
}

/**
 * Suspend the running greenlet for `seconds` (gevent's `sleep`). `sleep(0)`
 * yields: other greenlets and pending I/O callbacks run before it returns.
 * A kill or `Timeout` aimed at the greenlet is raised here.
 * @param seconds how long, in seconds (fractions allowed); default 0
 * @throws {RangeError} when `seconds` is negative
 * @throws {GreenletExit} (or the kill's exception) when the greenlet is killed meanwhile
 * @example
 * await sleep(0.1);   // 100 ms
 * await sleep(0);     // let the others run
 */
export function sleep(seconds = 0): Promise<void> {
  const ms = toMs(seconds);
  const w = newWaiter<void>();
  if (w.settled) return w.promise;
  if (ms === 0) {
    const handle = setImmediate(wake, w);
    w.cleanup = () => clearImmediate(handle);
  } else {
    w.timer = setTimeout(wake, ms, w); // cleared by the waiter when it is woken another way
  }
  return w.promise;
}

/**
 * Wait until the event loop has nothing else ready to run (gevent's `idle`):
 * every pending I/O callback and every greenlet that could run has run once.
 * @throws {GreenletExit} when the greenlet is killed meanwhile
 * @example
 * spawn(work);
 * await idle();   // work has started and reached its first wait
 */
export function idle(): Promise<void> {
  const w = newWaiter<void>();
  if (w.settled) return w.promise;
  // Two check phases: the first lets everything queued now run, the second
  // lets what that triggered (microtasks, a poll phase) run too.
  let handle = setImmediate(() => {
    handle = setImmediate(() => w.switch(undefined));
  });
  w.cleanup = () => clearImmediate(handle);
  return w.promise;
}

/**
 * Await any promise as a weft/coro wait: the running greenlet can be killed
 * or timed out while it waits (the promise itself goes on; pass
 * `getCurrent().signal` to the API that made it to cancel that too).
 * @throws whatever `promise` rejects with, or the kill/timeout exception
 * @example
 * const res = await wait(fetch(url, { signal: getCurrent().signal }));
 */
export function wait<T>(promise: PromiseLike<T>): Promise<T> {
  const w = newWaiter<T>();
  if (w.settled) return w.promise;
  promise.then(
    (v) => w.switch(v),
    (e: unknown) => w.throw(e),
  );
  return w.promise;
}

/**
 * Where the hub reports a greenlet that died of an exception.
 * @example
 * getHub().handleError = (who, e) => log.warn(who, e);
 */
export interface Hub {
  /**
   * Called with the greenlet (by its name) and the error when a greenlet dies
   * of an exception other than `GreenletExit` (gevent prints the traceback
   * and `<Greenlet> failed with X`). Replace it to log elsewhere or to be quiet.
   */
  handleError(context: string, error: unknown): void;
}

const hub: Hub = {
  handleError(context, error) {
    const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
    const name = error instanceof Error ? error.name : typeof error;
    process.stderr.write(`${text}\n${new Date().toISOString()} ${context} failed with ${name}\n\n`);
  },
};

/**
 * The hub (gevent's `get_hub()`): the place greenlet errors are reported.
 * @example
 * getHub().handleError = () => {};   // silence failing greenlets in a test
 */
export function getHub(): Hub {
  return hub;
}
