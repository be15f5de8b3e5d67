/**
 * `Event` and `AsyncResult`: the twin of gevent's `src/gevent/event.py`.
 * Waiting on either is a weft/coro wait (a kill or a `Timeout` lands there).
 * @module
 */
import { type Waiter, newWaiter } from './hub.js';
import { Timeout } from './timeout.js';

/**
 * A flag greenlets can wait for (gevent's `Event`).
 * @example
 * import { Event, sleep, spawn } from 'weft/coro';
 * const ready = new Event();
 * spawn(async () => { await ready.wait(); console.log('go'); }); // go
 * await sleep(0.01);
 * ready.set();
 */
export class Event {
  private flag = false;
  private waiters = new Set<Waiter<boolean>>();

  /**
   * True once set (and not cleared).
   * @example
   * import { Event } from 'weft/coro';
   * const ev = new Event();
   * console.log(ev.isSet()); // false
   * ev.set();
   * console.log(ev.isSet()); // true
   */
  isSet(): boolean {
    return this.flag;
  }

  /**
   * Set the flag and wake every waiter.
   * @example
   * import { Event, sleep, spawn } from 'weft/coro';
   * const ev = new Event();
   * const waiter = spawn(() => ev.wait());
   * await sleep(0);
   * ev.set();
   * console.log(await waiter.get()); // true
   */
  set(): void {
    this.flag = true;
    const waiters = this.waiters;
    if (waiters.size === 0) return;
    this.waiters = new Set();
    for (const w of waiters) w.switch(true);
  }

  /**
   * Reset the flag; later `wait()` calls block again.
   * @example
   * import { Event } from 'weft/coro';
   * const ev = new Event();
   * ev.set();
   * ev.clear();
   * console.log(await ev.wait(0.01)); // false
   */
  clear(): void {
    this.flag = false;
  }

  /**
   * Wait until the flag is set; returns the flag (false if `timeout` ran out).
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * import { Event } from 'weft/coro';
   * const ev = new Event();
   * if (!(await ev.wait(0.05))) console.log('not within 50 ms'); // not within 50 ms
   */
  wait(timeout?: number): Promise<boolean> {
    if (this.flag) return Promise.resolve(true);
    const w = newWaiter<boolean>();
    if (w.settled) return w.promise;
    this.waiters.add(w);
    w.cleanup = () => this.waiters.delete(w);
    if (timeout !== undefined) w.setTimeout(timeout, () => this.flag);
    return w.promise;
  }
}

/**
 * A one-shot result: a value or an exception set once, awaited by many
 * (gevent's `AsyncResult`).
 * @example
 * import { AsyncResult, spawnLater } from 'weft/coro';
 * const r = new AsyncResult<number>();
 * spawnLater(0.05, () => r.set(42));
 * console.log(await r.get()); // 42
 */
export class AsyncResult<T = unknown> {
  private done = false;
  private result: T | undefined = undefined;
  private error: unknown = undefined;
  private failed = false;
  private waiters = new Set<Waiter<boolean>>();

  /**
   * True once a value or exception is set.
   * @example
   * import { AsyncResult } from 'weft/coro';
   * const r = new AsyncResult<number>();
   * console.log(r.ready()); // false
   * r.set(1);
   * console.log(r.ready(), r.value); // true 1
   */
  ready(): boolean {
    return this.done;
  }

  /**
   * True once a value (not an exception) is set.
   * @example
   * import { AsyncResult } from 'weft/coro';
   * const r = new AsyncResult();
   * r.setException(new Error('no'));
   * console.log(r.ready(), r.successful()); // true false
   */
  successful(): boolean {
    return this.done && !this.failed;
  }

  /** The value, once set. */
  get value(): T | undefined {
    return this.result;
  }

  /** The exception, once set with `setException`. */
  get exception(): unknown {
    return this.failed ? this.error : undefined;
  }

  /**
   * Store a value and wake the waiters.
   * @example
   * import { AsyncResult, sleep, spawn } from 'weft/coro';
   * const r = new AsyncResult<string>();
   * spawn(async () => { await sleep(0.01); r.set('done'); });
   * console.log(await r.get()); // done
   */
  set(value: T): void {
    this.result = value;
    this.failed = false;
    this.error = undefined;
    this.wake();
  }

  /**
   * Store an exception and wake the waiters; `get()` raises it.
   * @example
   * import { AsyncResult } from 'weft/coro';
   * const r = new AsyncResult<number>();
   * r.setException(new Error('no'));
   * await r.get().catch((e: Error) => console.log(e.message)); // no
   */
  setException(error: unknown): void {
    this.error = error;
    this.failed = true;
    this.wake();
  }

  private wake(): void {
    this.done = true;
    const waiters = this.waiters;
    if (waiters.size === 0) return;
    this.waiters = new Set();
    for (const w of waiters) w.switch(true);
  }

  /**
   * Wait until set; returns whether it is set (false if `timeout` ran out).
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * import { AsyncResult } from 'weft/coro';
   * const r = new AsyncResult();
   * console.log(await r.wait(0.05)); // false
   */
  wait(timeout?: number): Promise<boolean> {
    if (this.done) return Promise.resolve(true);
    const w = newWaiter<boolean>();
    if (w.settled) return w.promise;
    this.waiters.add(w);
    w.cleanup = () => this.waiters.delete(w);
    if (timeout !== undefined) w.setTimeout(timeout, () => this.done);
    return w.promise;
  }

  /**
   * Wait for the value and return it, or raise the stored exception.
   * @throws the stored exception; {@link Timeout} when `timeout` runs out or `block` is false and nothing is set
   * @example
   * import { AsyncResult, spawnLater } from 'weft/coro';
   * const r = new AsyncResult<number>();
   * spawnLater(0.01, () => r.set(7));
   * console.log(await r.get({ timeout: 2 })); // 7
   */
  async get(options: { block?: boolean; timeout?: number } = {}): Promise<T> {
    if (!this.done) {
      if (options.block === false) throw new Timeout(0);
      if (!(await this.wait(options.timeout))) throw new Timeout(options.timeout);
    }
    if (this.failed) throw this.error;
    return this.result as T;
  }
}
