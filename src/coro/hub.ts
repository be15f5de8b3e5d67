/**
 * The hub: the twin of gevent's `src/gevent/hub.py`. gevent's hub is a greenlet
 * running the libev/libuv loop; every blocking call switches to it and is
 * switched back by a watcher. Here Node's own event loop is the hub and every
 * wait is a promise, so what remains of the hub is:
 *
 * - which greenlet is running ({@link context}, which survives `await`);
 * - {@link Waiter}: one pending wait of one greenlet. A kill or a `Timeout`
 *   rejects the waiter the greenlet is parked on, which is how gevent's
 *   `greenlet.throw()` reaches the next blocking call;
 * - `sleep`, `idle` and error reporting (`Hub.handleError`).
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { native } from '../native.js';

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

/**
 * Which greenlet is running, carried across `await`: `run(r, fn, …)` calls
 * `fn` with `r` current, and every promise reaction created meanwhile (an
 * `await`, a `then`) runs with `r` current again later. @internal
 */
export interface RunnerContext {
  get(): Runner | undefined;
  run<A, B, C>(runner: Runner | undefined, fn: (a: A, b: B, c: C) => void, a: A, b: B, c: C): void;
}

/** The accessors of V8's continuation-preserved embedder data (native/continuation.cc). */
interface Slot {
  get(): unknown;
  /** Returns the value it replaces. */
  set(value: unknown): unknown;
}

/**
 * V8 saves one value per context in each promise reaction and restores it
 * while the reaction runs (native/continuation.cc). Keeping the runner there
 * costs nothing per promise. AsyncLocalStorage on Node 20 does the same job
 * with async hooks, which add work and about 0.5 KiB to every promise made
 * anywhere in the process once they are on: 100k sleeping greenlets took 0.85x
 * gevent's memory with it, and a p-map in the same process ran 3x slower.
 */
function slotContext(slot: Slot): RunnerContext {
  const get = slot.get as () => Runner | undefined;
  const set = slot.set;
  return {
    get,
    run(runner, fn, a, b, c) {
      const outer = set(runner);
      try {
        fn(a, b, c);
      } finally {
        set(outer);
      }
    },
  };
}

/**
 * AsyncLocalStorage: where Node keeps it in that same slot (Node 24; 22 with a
 * flag) weft/coro leaves the slot to Node, and it is the fallback where the
 * addon found no accessor for the slot in this node.
 */
function storageContext(): RunnerContext {
  const storage = new AsyncLocalStorage<Runner | undefined>();
  return {
    get: () => storage.getStore(),
    run: (runner, fn, a, b, c) => storage.run(runner, fn, a, b, c),
  };
}

function nodeOwnsSlot(slot: Slot): boolean {
  const probe = new AsyncLocalStorage<number>();
  const owned = probe.run(1, () => slot.get() !== undefined);
  probe.disable();
  return owned;
}

/** A V8 built without the slot accepts writes and reads back `undefined`. */
function slotWorks(slot: Slot): boolean {
  const probe = {};
  const outer = slot.set(probe);
  const seen = slot.get();
  slot.set(outer);
  return seen === probe;
}

/** The slot, when the addon found its accessors in this node and Node leaves it free. */
function freeSlot(): Slot | undefined {
  const { getContinuationData: get, setContinuationData: set } = native;
  if (get === undefined || set === undefined) return undefined;
  const slot = { get, set };
  return nodeOwnsSlot(slot) || !slotWorks(slot) ? undefined : slot;
}

const slot = freeSlot();

/** The greenlet context. @internal */
export const context: RunnerContext = slot === undefined ? storageContext() : slotContext(slot);

let mainRunner: Runner | undefined;

/** Called once by greenlet.ts with the main greenlet. @internal */
export function setMainRunner(runner: Runner): void {
  mainRunner = runner;
}

/** The running runner: the greenlet in whose context this code runs, or the main one. @internal */
export function currentRunner(): Runner {
  const r = context.get() ?? mainRunner;
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
    // outside any greenlet: the drain starts greenlets, it does not belong to one
    context.run(undefined, scheduleDrain, undefined, undefined, undefined);
  }
}

/**
 * The hub's timers. A Node `Timeout` with its bookkeeping costs about 300
 * bytes, more than the greenlet sleeping on it. So waits due after the same
 * delay share one list, in the order they were armed (which is their order
 * of expiry), and the list keeps one Node timer for its head: Node's own
 * timer lists, with the {@link Waiter} itself as the list node.
 */
class TimerList {
  head: Waiter<unknown> | undefined = undefined;
  tail: Waiter<unknown> | undefined = undefined;
  handle: NodeJS.Timeout | undefined = undefined;
  constructor(readonly ms: number) {}
}

const timerLists = new Map<number, TimerList>();

/** The clock of the timer lists: whole milliseconds (small integers stay unboxed in a waiter). */
function clock(): number {
  return Math.floor(performance.now());
}

function arm(list: TimerList, now: number): void {
  list.handle = setTimeout(fire, list.head!._due - now, list);
}

function fire(list: TimerList): void {
  list.handle = undefined;
  const now = clock();
  let w = list.head;
  while (w !== undefined && w._due <= now) {
    unlink(w);
    w._expire();
    w = list.head;
  }
  if (list.head !== undefined && list.handle === undefined) arm(list, now);
}

/** Take `w` out of its list; an emptied list lets its Node timer go, so an idle hub keeps no timer alive. */
function unlink(w: Waiter<unknown>): void {
  const list = w._list!;
  w._list = undefined;
  const { _prev: prev, _next: next } = w;
  w._prev = w._next = undefined;
  if (prev === undefined) list.head = next;
  else prev._next = next;
  if (next === undefined) list.tail = prev;
  else next._prev = prev;
  if (list.head === undefined) {
    if (list.handle !== undefined) clearTimeout(list.handle);
    list.handle = undefined;
    if (timerLists.get(list.ms) === list) timerLists.delete(list.ms);
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
  /**
   * Only the resolving function is kept: each one V8 makes costs about 60
   * bytes, and a wait ends in an exception rarely enough (a kill, a timeout)
   * to take the two extra microtask hops of resolving with a rejected promise.
   */
  private resolveFn!: (value: T | Promise<never>) => void;
  /** The timer list this wait is armed in, its place there, when it is due, and what it says then. */
  _list: TimerList | undefined = undefined;
  _prev: Waiter<unknown> | undefined = undefined;
  _next: Waiter<unknown> | undefined = undefined;
  _due = 0;
  private onTimeout: (() => T) | undefined = undefined;

  constructor(readonly owner: Runner) {
    this.promise = new Promise<T>((resolve) => {
      this.resolveFn = resolve as (value: T | Promise<never>) => void;
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
    this.undoRegistration();
    this.resolveFn(Promise.reject(error));
  }

  /** Run `cleanup` once: leave the queue, list or socket this wait was registered with. */
  private undoRegistration(): void {
    const cleanup = this.cleanup;
    this.cleanup = undefined;
    if (cleanup) cleanup();
  }

  /**
   * After `seconds`, wake with `onTimeout()`'s value or exception (undoing
   * the registration), unless woken first; without `onTimeout`, wake with
   * `undefined` (a sleep).
   */
  setTimeout(seconds: number, onTimeout?: () => T): void {
    this._armMs(toMs(seconds), onTimeout);
  }

  /** {@link setTimeout} with the delay already in ms (checked). @internal */
  _armMs(delay: number, onTimeout?: () => T): void {
    // Node's rounding: delays run in whole milliseconds, at least one
    const ms = Math.max(1, Math.trunc(delay));
    if (this._list !== undefined) unlink(this as Waiter<unknown>); // re-armed: the later deadline holds
    this.onTimeout = onTimeout;
    let list = timerLists.get(ms);
    if (list === undefined) timerLists.set(ms, (list = new TimerList(ms)));
    const now = clock();
    this._due = now + ms;
    this._list = list;
    const self = this as Waiter<unknown>;
    if (list.tail === undefined) {
      list.head = list.tail = self;
      arm(list, now);
    } else {
      self._prev = list.tail;
      list.tail._next = self;
      list.tail = self;
    }
  }

  /** The timer ran out (the timer list already let go of this wait). @internal */
  _expire(): void {
    if (this.settled) return;
    this.undoRegistration();
    const onTimeout = this.onTimeout;
    if (onTimeout === undefined) {
      this.switch(undefined as T);
      return;
    }
    let value: T;
    try {
      value = onTimeout();
    } catch (e) {
      this.throw(e); // e.g. queue.Empty after a get's timeout
      return;
    }
    this.switch(value);
  }

  private detach(): void {
    this.settled = true;
    this.onTimeout = undefined;
    if (this._list !== undefined) unlink(this as Waiter<unknown>);
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

function wakeNow(w: Waiter<void>): void {
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
 * import { sleep, spawn } from 'weft/coro';
 * const order: string[] = [];
 * spawn(() => order.push('other'));
 * await sleep(0); // let the others run
 * order.push('me');
 * await sleep(0.1); // 100 ms
 * console.log(order); // [ 'other', 'me' ]
 */
export function sleep(seconds = 0): Promise<void> {
  const ms = toMs(seconds);
  const w = newWaiter<void>();
  if (w.settled) return w.promise;
  if (ms === 0) {
    const handle = setImmediate(wakeNow, w);
    w.cleanup = () => clearImmediate(handle);
  } else w._armMs(ms);
  return w.promise;
}

/**
 * Wait until the event loop has nothing else ready to run (gevent's `idle`):
 * every pending I/O callback and every greenlet that could run has run once.
 * @throws {GreenletExit} when the greenlet is killed meanwhile
 * @example
 * import { idle, spawn } from 'weft/coro';
 * const seen: string[] = [];
 * spawn(() => seen.push('started'));
 * await idle(); // the greenlet has run up to its first wait
 * console.log(seen); // [ 'started' ]
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
 * import { setTimeout as delay } from 'node:timers/promises';
 * import { Timeout, wait } from 'weft/coro';
 * console.log(await wait(delay(10, 'done'))); // done
 * const t = Timeout.start(0.05); // ends the wait although the promise never settles
 * await wait(new Promise(() => {})).catch((e) => console.log(e === t)); // true
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
 * import { getHub, sleep, spawn, type Hub } from 'weft/coro';
 * const hub: Hub = getHub();
 * hub.handleError = (who, e) => console.log(`${who} failed: ${(e as Error).message}`); // <Greenlet "Greenlet-2"> failed: boom
 * spawn(() => { throw new Error('boom'); });
 * await sleep(0);
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
 * import { getHub, joinAll, spawn } from 'weft/coro';
 * getHub().handleError = () => {}; // silence failing greenlets in a test
 * const g = spawn(() => { throw new Error('boom'); });
 * await joinAll([g]);
 * console.log((g.exception as Error).message); // boom
 */
export function getHub(): Hub {
  return hub;
}
