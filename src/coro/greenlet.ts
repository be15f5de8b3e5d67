/**
 * `Greenlet`, `spawn`, `joinAll`, `killAll`: the twin of gevent's
 * `src/gevent/greenlet.py`. A greenlet is an async function run in its own
 * context (so `getCurrent()` names it across `await`), with gevent's
 * life cycle: started, running, dead; a value or an exception; links; kill.
 * @module
 */
import {
  type Runner,
  type TimeoutLike,
  type Waiter,
  currentRunner,
  getHub,
  monitorHooks,
  schedule,
  newWaiter,
  setMainRunner,
  context,
  throwInto,
  toMs,
} from './hub.js';
import { Timeout } from './timeout.js';

/**
 * Raised inside a greenlet by {@link Greenlet.kill} (gevent's `GreenletExit`).
 * A greenlet that ends with it counts as successful; its `value` is the exception.
 * @example
 * import { GreenletExit, sleep, spawn } from 'weft/coro';
 * const g = spawn(async () => {
 *   try { await sleep(10); } catch (e) { console.log(e instanceof GreenletExit); throw e; } // true
 * });
 * await sleep(0);
 * await g.kill();
 */
export class GreenletExit extends Error {
  override name = 'GreenletExit';
  constructor(message = 'killed') {
    super(message);
  }
}

/**
 * An exception class or instance, as gevent's `kill(exception=...)` accepts.
 * @example
 * import { sleep, spawn, type ExceptionLike } from 'weft/coro';
 * const g = spawn(async () => { try { await sleep(10); } catch (e) { return (e as Error).name; } });
 * await sleep(0);
 * const stop: ExceptionLike = RangeError;
 * await g.kill({ exception: stop });
 * console.log(g.value); // RangeError
 */
export type ExceptionLike = Error | (new () => Error);

function toError(e: ExceptionLike): Error {
  return typeof e === 'function' ? new e() : e;
}

/**
 * A callback given to {@link Greenlet.link}: called once with the dead greenlet.
 * @example
 * import { spawn, type LinkCallback } from 'weft/coro';
 * const report: LinkCallback<number> = (g) => console.log(g.value); // 42
 * spawn(() => 42).link(report);
 */
export type LinkCallback<T> = (greenlet: Greenlet<T>) => void;

/** A synchronous death hook (internal bookkeeping: joins, groups, imap). @internal */
type DeathHook = (g: Greenlet) => void;

const NOT_STARTED = 0;
const SCHEDULED = 1;
const RUNNING = 2;
const DEAD = 3;

let counter = 0;

/** The rarely used part of a greenlet. */
interface Extra {
  name: string | undefined;
  links: ((g: never) => void)[] | undefined;
  controller: AbortController | undefined;
  killError: Error | undefined;
  laterTimer: NodeJS.Timeout | undefined;
}

/**
 * A lightweight cooperative task (gevent's `Greenlet`): runs `fn(...args)` on
 * the event loop. Create and start it with {@link spawn}, or
 * `new Greenlet(fn, ...args).start()`.
 * @typeParam T what `fn` returns (the greenlet's `value`)
 * @example
 * import { sleep, spawn } from 'weft/coro';
 * const g = spawn(async (x: number) => { await sleep(0.01); return x * 2; }, 21);
 * console.log(await g.get()); // 42
 */
export class Greenlet<T = unknown> implements Runner {
  /** @internal */ _pending: Error | undefined = undefined;
  /** @internal */ _waiter: Waiter<unknown> | undefined = undefined;
  /** @internal */ _moreWaiters: Set<Waiter<unknown>> | undefined = undefined;
  /** @internal */ _timeouts: TimeoutLike[] | undefined = undefined;
  /** Called synchronously at death, before the links (Group bookkeeping, imap results). @internal */
  _hooks: DeathHook | DeathHook[] | undefined = undefined;
  /** Set when a caller receives the exception anyway (Pool.apply/map): the hub does not print it. @internal */
  _quiet = false;
  private state = NOT_STARTED;
  private fn: ((...args: unknown[]) => T | PromiseLike<T>) | undefined;
  private args: unknown[] | undefined;
  /** What `fn` returned, or the exception it died of when `failed`. */
  private outcome: unknown = undefined;
  private failed = false;
  private readonly id: number;
  /** What few greenlets need (a name, links, a signal, a delayed start), made on first use: 100k sleeping greenlets do not carry it. */
  private extra: Extra | undefined = undefined;

  /**
   * @param fn the function the greenlet runs (sync or async)
   * @param args its arguments
   */
  constructor(fn: (...args: never) => T | PromiseLike<T>, ...args: unknown[]) {
    if (typeof fn !== 'function') {
      throw new TypeError(`Greenlet: expected a function to run, got ${typeof fn}; pass spawn(fn, ...args)`);
    }
    this.fn = fn as (...args: unknown[]) => T | PromiseLike<T>;
    this.args = args;
    this.id = ++counter;
  }

  private more(): Extra {
    return (this.extra ??= {
      name: undefined,
      links: undefined,
      controller: undefined,
      killError: undefined,
      laterTimer: undefined,
    });
  }

  /**
   * Spawn a greenlet (gevent's `Greenlet.spawn`).
   * @example
   * import { Greenlet } from 'weft/coro';
   * const g = Greenlet.spawn((a: number, b: number) => a + b, 1, 2);
   * console.log(await g.get()); // 3
   */
  static spawn<T, A extends unknown[]>(fn: (...args: A) => T | PromiseLike<T>, ...args: A): Greenlet<T> {
    const g = new Greenlet<T>(fn, ...args);
    g.start();
    return g;
  }

  /**
   * The greenlet's name: `Greenlet-N` unless set.
   * @example
   * import { spawn } from 'weft/coro';
   * const g = spawn(() => {});
   * g.name = 'worker-1';
   * console.log(String(g)); // <Greenlet "worker-1">
   */
  get name(): string {
    return this.extra?.name ?? `Greenlet-${this.id}`;
  }
  set name(value: string) {
    this.more().name = value;
  }

  /** True once `start()` (or `startLater`) was called. */
  get started(): boolean {
    return this.state !== NOT_STARTED;
  }

  /** True when the greenlet finished, failed, or was killed before it ran; it will not run again. */
  get dead(): boolean {
    return this.state === DEAD;
  }

  /**
   * Same as {@link dead} (gevent's `ready()`).
   * @example
   * import { spawn } from 'weft/coro';
   * const g = spawn(() => 'done');
   * console.log(g.ready()); // false
   * await g.join();
   * console.log(g.ready(), g.value); // true done
   */
  ready(): boolean {
    return this.state === DEAD;
  }

  /**
   * True when dead without an exception (a `GreenletExit` counts as success).
   * @example
   * import { getHub, joinAll, spawn } from 'weft/coro';
   * getHub().handleError = () => {};
   * const ok = spawn(() => 1);
   * const bad = spawn(() => { throw new Error('no'); });
   * await joinAll([ok, bad]);
   * console.log(ok.successful(), bad.successful()); // true false
   */
  successful(): boolean {
    return this.state === DEAD && !this.failed;
  }

  /** What `fn` returned (or the `GreenletExit` that ended it); `undefined` until then. */
  get value(): T | GreenletExit | undefined {
    return this.failed ? undefined : (this.outcome as T | GreenletExit | undefined);
  }

  /** The exception `fn` died of, or `undefined`. */
  get exception(): unknown {
    return this.failed ? this.outcome : undefined;
  }

  /**
   * An `AbortSignal` that fires when the greenlet is killed: hand it to
   * foreign APIs (`fetch`, streams) so a kill cancels them too.
   * @example
   * import { setTimeout as delay } from 'node:timers/promises';
   * import { getCurrent, sleep, spawn, wait } from 'weft/coro';
   * const g = spawn(() => wait(delay(60_000, 'late', { signal: getCurrent().signal })));
   * await sleep(0);
   * await g.kill(); // the signal fires: the timer is cancelled too
   * console.log(g.dead); // true
   */
  get signal(): AbortSignal {
    const extra = this.more();
    if (extra.controller === undefined) {
      extra.controller = new AbortController();
      if (extra.killError !== undefined) extra.controller.abort(extra.killError);
    }
    return extra.controller.signal;
  }

  /**
   * Schedule the greenlet to run (it starts when the running one next waits).
   * @example
   * import { Greenlet } from 'weft/coro';
   * const g = new Greenlet((who: string) => `hi ${who}`, 'there').start();
   * console.log(await g.get()); // hi there
   */
  start(): this {
    if (this.state !== NOT_STARTED) return this;
    this.state = SCHEDULED;
    schedule(this);
    return this;
  }

  /**
   * Start the greenlet after `seconds` (gevent's `start_later`).
   * @throws {RangeError} when `seconds` is negative
   * @example
   * import { Greenlet } from 'weft/coro';
   * const g = new Greenlet(() => 'later').startLater(0.05);
   * console.log(g.started, g.dead); // true false
   * console.log(await g.get()); // later
   */
  startLater(seconds: number): this {
    const ms = toMs(seconds);
    if (this.state !== NOT_STARTED) return this;
    this.state = SCHEDULED;
    const extra = this.more();
    extra.laterTimer = setTimeout(() => {
      extra.laterTimer = undefined;
      this.run();
    }, ms);
    return this;
  }

  /** The hub's turn came: start running. @internal */
  _runCallback(): void {
    if (this.state === DEAD) this.notifyLinks();
    else this.run();
  }

  private run(): void {
    if (this.state !== SCHEDULED) return; // killed before it ran
    this.state = RUNNING;
    const fn = this.fn!;
    const args = this.args!;
    this.fn = undefined;
    this.args = undefined;
    const observe = monitorHooks.onStart;
    const t0 = observe === undefined ? 0 : performance.now();
    context.run(this, Greenlet.body, this as Greenlet, fn, args);
    if (observe !== undefined) observe(this, performance.now() - t0);
  }

  /** Runs `fn` inside the greenlet's context (a static function: no closure per greenlet). */
  private static body<T>(g: Greenlet<T>, fn: (...args: unknown[]) => T | PromiseLike<T>, args: unknown[]): void {
    let out: T | PromiseLike<T>;
    try {
      out = fn(...args);
    } catch (e) {
      g.finish(e, true);
      return;
    }
    if (out !== null && typeof out === 'object' && typeof (out as PromiseLike<T>).then === 'function') {
      if (out instanceof Promise) {
        // shared handlers, no closure per greenlet: a native promise runs them in the greenlet's context
        out.then(Greenlet.onValue, Greenlet.onError);
      } else {
        (out as PromiseLike<T>).then(
          (v) => g.finish(v, false),
          (e: unknown) => g.finish(e, true),
        );
      }
    } else g.finish(out, false);
  }

  private static onValue(this: void, value: unknown): void {
    (context.get() as Greenlet).finish(value, false);
  }

  private static onError(this: void, error: unknown): void {
    (context.get() as Greenlet).finish(error, true);
  }

  private finish(outcome: unknown, threw: boolean): void {
    if (this.state === DEAD) return;
    this.state = DEAD;
    this._pending = undefined;
    if (threw && !(outcome instanceof GreenletExit)) {
      this.failed = true;
      this.outcome = outcome;
      if (!this._quiet) getHub().handleError(this.toString(), outcome);
    } else {
      this.outcome = outcome;
    }
    const hooks = this._hooks;
    if (hooks !== undefined) {
      this._hooks = undefined;
      if (typeof hooks === 'function') hooks(this as Greenlet);
      else for (const hook of hooks) hook(this as Greenlet);
    }
    if (this.extra?.links !== undefined) schedule(this);
  }

  private notifyLinks(): void {
    const extra = this.extra;
    const links = extra?.links;
    if (links === undefined) return;
    extra!.links = undefined;
    for (const cb of links) {
      try {
        (cb as LinkCallback<T>)(this);
      } catch (e) {
        getHub().handleError(`link of ${this.name}`, e);
      }
    }
  }

  /**
   * Call `callback(greenlet)` once the greenlet is dead (at once, on the next
   * turn, if it is already dead). gevent's `link`.
   * @example
   * import { spawn } from 'weft/coro';
   * const g = spawn(() => 'x');
   * g.name = 'fetcher';
   * g.link((g) => console.log(g.name, 'done')); // fetcher done
   */
  link(callback: LinkCallback<T>): void {
    const extra = this.more();
    const first = extra.links === undefined;
    (extra.links ??= []).push(callback);
    if (this.state === DEAD && first) schedule(this);
  }

  /**
   * Like {@link link}, only if the greenlet ends successfully.
   * @example
   * import { spawn } from 'weft/coro';
   * const g = spawn(() => 21);
   * g.linkValue((g) => console.log(g.value)); // 21
   */
  linkValue(callback: LinkCallback<T>): void {
    const wrapped: LinkCallback<T> = (g) => {
      if (g.successful()) callback(g);
    };
    (wrapped as { inner?: LinkCallback<T> }).inner = callback;
    this.link(wrapped);
  }

  /**
   * Like {@link link}, only if the greenlet dies of an exception.
   * @example
   * import { getHub, spawn } from 'weft/coro';
   * getHub().handleError = () => {};
   * const g = spawn(() => { throw new Error('no luck'); });
   * g.linkException((g) => console.log((g.exception as Error).message)); // no luck
   */
  linkException(callback: LinkCallback<T>): void {
    const wrapped: LinkCallback<T> = (g) => {
      if (!g.successful()) callback(g);
    };
    (wrapped as { inner?: LinkCallback<T> }).inner = callback;
    this.link(wrapped);
  }

  /**
   * Remove a callback given to `link`, `linkValue` or `linkException`.
   * @example
   * import { sleep, spawn } from 'weft/coro';
   * let calls = 0;
   * const cb = () => { calls++; };
   * const g = spawn(() => 1);
   * g.link(cb);
   * g.unlink(cb);
   * await g.join();
   * await sleep(0);
   * console.log(calls); // 0
   */
  unlink(callback: LinkCallback<T>): void {
    const links = this.extra?.links;
    if (links === undefined) return;
    const i = links.findIndex((cb) => cb === callback || (cb as { inner?: unknown }).inner === callback);
    if (i >= 0) links.splice(i, 1);
  }

  /** Call `hook` synchronously at death. @internal */
  _addHook(hook: DeathHook): void {
    const hooks = this._hooks;
    if (hooks === undefined) this._hooks = hook;
    else if (typeof hooks === 'function') this._hooks = [hooks, hook];
    else hooks.push(hook);
  }

  /** @internal */
  _removeHook(hook: DeathHook): void {
    const hooks = this._hooks;
    if (hooks === hook) this._hooks = undefined;
    else if (Array.isArray(hooks)) {
      const i = hooks.indexOf(hook);
      if (i >= 0) hooks.splice(i, 1);
    }
  }

  /**
   * Wait until the greenlet is dead, or `timeout` seconds have passed.
   * Returns whether it is dead (gevent returns nothing; the flag is handy).
   * @throws {GreenletExit} when the *waiting* greenlet is killed meanwhile
   * @example
   * import { sleep, spawn } from 'weft/coro';
   * const g = spawn(() => sleep(0.05));
   * console.log(await g.join(0.01)); // false
   * console.log(await g.join()); // true
   */
  join(timeout?: number): Promise<boolean> {
    if (this.state === DEAD) return Promise.resolve(true);
    if (this === currentRunner()) {
      throw new Error(`${this.name} cannot join itself: it would wait forever`);
    }
    const w = newWaiter<boolean>();
    if (w.settled) return w.promise;
    const hook = (): void => w.switch(true);
    this._addHook(hook);
    w.cleanup = () => this._removeHook(hook);
    if (timeout !== undefined) w.setTimeout(timeout, () => false);
    return w.promise;
  }

  /**
   * Wait for the greenlet and return its value, or raise the exception it died of.
   * @param options.block false: do not wait; raise `Timeout` if not dead yet
   * @param options.timeout seconds to wait at most
   * @throws the greenlet's exception, or a gevent `Timeout` when the wait ran out
   * @example
   * import { sleep, spawn } from 'weft/coro';
   * const g = spawn(async () => { await sleep(0.01); return 'v'; });
   * console.log(await g.get({ timeout: 1 })); // v
   */
  async get(options: { block?: boolean; timeout?: number } = {}): Promise<T> {
    if (this.state !== DEAD) {
      if (options.block === false) throw new Timeout(0);
      const done = await this.join(options.timeout);
      if (!done) throw new Timeout(options.timeout ?? 0);
    }
    if (this.failed) throw this.outcome;
    return this.outcome as T;
  }

  /**
   * Kill the greenlet: raise `GreenletExit` (or `exception`) inside it at its
   * next wait; its `finally` blocks run. A greenlet that has not run yet never
   * runs; a greenlet that kills itself raises at once. Fires {@link signal}.
   * By default waits until it is dead.
   * @param options.exception the exception (class or instance) to raise; default `GreenletExit`
   * @param options.block wait for it to die (default true)
   * @param options.timeout seconds to wait at most when blocking
   * @example
   * import { GreenletExit, sleep, spawn } from 'weft/coro';
   * const g = spawn(() => sleep(10));
   * await sleep(0);
   * await g.kill();
   * console.log(g.dead, g.value instanceof GreenletExit); // true true
   */
  async kill(options: { exception?: ExceptionLike; block?: boolean; timeout?: number } = {}): Promise<void> {
    if (this.state === DEAD) return;
    const error = toError(options.exception ?? GreenletExit);
    const extra = this.more();
    if (this.state === NOT_STARTED || this.state === SCHEDULED) {
      if (extra.laterTimer !== undefined) clearTimeout(extra.laterTimer);
      this.fn = undefined;
      this.args = undefined;
      extra.killError = error;
      extra.controller?.abort(error);
      this.finish(error, true);
      return;
    }
    extra.killError = error;
    if (this === currentRunner()) {
      // killing oneself raises at once, like a wait that was interrupted right away
      extra.controller?.abort(error);
      throw error;
    }
    throwInto(this, error, true);
    extra.controller?.abort(error);
    if (options.block !== false) await this.join(options.timeout);
  }

  /** `<Greenlet "Greenlet-3" (fnName)>`, as printed in error reports and by `monitor`. */
  toString(): string {
    return `<Greenlet "${this.name}">`;
  }
}

/** The greenlet of code that runs outside any spawned greenlet (gevent's main greenlet). */
class MainGreenlet extends Greenlet<never> {
  constructor() {
    super(() => {
      throw new Error('the main greenlet cannot be started');
    });
    this.name = 'MainGreenlet';
  }
  override start(): this {
    throw new Error('the main greenlet is already running');
  }
  override async kill(): Promise<void> {
    throw new Error('the main greenlet cannot be killed; stop the program instead');
  }
}

const mainGreenlet = new MainGreenlet();
setMainRunner(mainGreenlet);

/**
 * The running greenlet (gevent's `getcurrent()`), correct across `await`; the
 * main greenlet outside any spawned one.
 * @example
 * import { getCurrent, sleep, spawn } from 'weft/coro';
 * const g = spawn(async () => { await sleep(0); return getCurrent().name; });
 * g.name = 'worker';
 * console.log(await g.get()); // worker
 * console.log(getCurrent().name); // MainGreenlet
 */
export function getCurrent(): Greenlet {
  return currentRunner() as Greenlet;
}

/**
 * Create and start a greenlet running `fn(...args)` (gevent's `spawn`).
 * @throws {TypeError} when `fn` is not a function
 * @example
 * import { sleep, spawn } from 'weft/coro';
 * const gs = [1, 2, 3].map((n) => spawn(async () => { await sleep(0.01 * n); return n * n; }));
 * console.log(await Promise.all(gs.map((g) => g.get()))); // [ 1, 4, 9 ]
 */
export function spawn<T, A extends unknown[]>(fn: (...args: A) => T | PromiseLike<T>, ...args: A): Greenlet<T> {
  const g = new Greenlet<T>(fn, ...args);
  g.start();
  return g;
}

/**
 * Create a greenlet that starts after `seconds` (gevent's `spawn_later`).
 * @throws {RangeError} when `seconds` is negative
 * @example
 * import { spawnLater } from 'weft/coro';
 * spawnLater(0.1, () => console.log('a tenth of a second later')); // a tenth of a second later
 */
export function spawnLater<T, A extends unknown[]>(
  seconds: number,
  fn: (...args: A) => T | PromiseLike<T>,
  ...args: A
): Greenlet<T> {
  return new Greenlet<T>(fn, ...args).startLater(seconds);
}

/**
 * Wait for greenlets to finish (gevent's `joinall`); returns those that did.
 * @param options.timeout seconds to wait at most
 * @param options.raiseError raise the first exception a greenlet dies of (and stop waiting)
 * @param options.count return once this many have finished
 * @throws the exception of a failed greenlet, when `raiseError` is set
 * @example
 * import { joinAll, killAll, sleep, spawn } from 'weft/coro';
 * const gs = [spawn(() => sleep(0.01)), spawn(() => sleep(10))];
 * const done = await joinAll(gs, { timeout: 0.1 });
 * console.log(done.length); // 1
 * await killAll(gs);
 */
export async function joinAll<G extends Greenlet<unknown>>(
  greenlets: Iterable<G>,
  options: { timeout?: number; raiseError?: boolean; count?: number } = {},
): Promise<G[]> {
  const list = [...greenlets];
  const want = Math.min(options.count ?? list.length, list.length);
  const done: G[] = [];
  let failure: G | undefined;
  for (const g of list) {
    if (!g.dead) continue;
    done.push(g);
    if (options.raiseError && !g.successful() && failure === undefined) failure = g;
  }
  if (failure !== undefined) throw failure.exception;
  if (done.length >= want) return done.slice(0, Math.max(want, 0));
  const w = newWaiter<void>();
  if (w.settled) {
    await w.promise;
    return done;
  }
  const cb = (g: G): void => {
    done.push(g);
    if (options.raiseError && !g.successful()) w.throw(g.exception);
    else if (done.length >= want) w.switch(undefined);
  };
  const waiting = list.filter((g) => !g.dead);
  const hook = cb as (g: Greenlet) => void;
  for (const g of waiting) g._addHook(hook);
  w.cleanup = () => {
    for (const g of waiting) g._removeHook(hook);
  };
  if (options.timeout !== undefined) w.setTimeout(options.timeout, () => undefined);
  try {
    await w.promise;
  } finally {
    // those still running keep no hook (on a timeout the waiter already did this)
    if (done.length < list.length && w.cleanup !== undefined) w.cleanup();
  }
  return done;
}

/**
 * Kill several greenlets (gevent's `killall`); by default waits until all are dead.
 * @example
 * import { killAll, sleep, spawn } from 'weft/coro';
 * const workers = [1, 2, 3].map(() => spawn(() => sleep(60)));
 * await sleep(0);
 * await killAll(workers, { timeout: 1 });
 * console.log(workers.every((g) => g.dead)); // true
 */
export async function killAll(
  greenlets: Iterable<Greenlet<unknown>>,
  options: { exception?: ExceptionLike; block?: boolean; timeout?: number } = {},
): Promise<void> {
  const list = [...greenlets].filter((g) => !g.dead);
  for (const g of list) void g.kill({ exception: options.exception, block: false });
  if (options.block !== false && list.length > 0) await joinAll(list, { timeout: options.timeout });
}
