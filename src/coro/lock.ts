/**
 * `Semaphore`, `BoundedSemaphore`, `Lock`, `RLock`: the twin of gevent's
 * `src/gevent/lock.py` (with `_semaphore.py`). Waiters are served first in,
 * first out; acquiring is a weft/coro wait (a kill or a `Timeout` lands there
 * and the place in line is given up).
 * @module
 */
import { ValueError } from '../errors.js';
import { type Runner, type Waiter, currentRunner, newWaiter } from './hub.js';

/**
 * A counter of free slots (gevent's `Semaphore`).
 * @example
 * import { Semaphore, joinAll, sleep, spawn } from 'weft/coro';
 * const sem = new Semaphore(2);
 * let running = 0;
 * let most = 0;
 * const work = async () => { most = Math.max(most, ++running); await sleep(0.01); running--; };
 * await joinAll([1, 2, 3, 4].map(() => spawn(async () => { await sem.acquire(); try { await work(); } finally { sem.release(); } })));
 * console.log(most); // 2
 */
export class Semaphore {
  /** @internal */ protected count: number;
  private waiters: Waiter<boolean>[] = [];
  private head = 0;

  /**
   * @param value the initial count (default 1)
   * @throws {ValueError} when `value` is negative
   */
  constructor(value = 1) {
    if (!Number.isInteger(value) || value < 0) {
      throw new ValueError(`semaphore initial value must be an integer >= 0, got ${value}`);
    }
    this.count = value;
  }

  /**
   * The free count.
   * @example
   * import { Semaphore } from 'weft/coro';
   * const sem = new Semaphore(2);
   * await sem.acquire();
   * console.log(sem.counter); // 1
   */
  get counter(): number {
    return this.count;
  }

  /**
   * True when `acquire()` would wait.
   * @example
   * import { Semaphore } from 'weft/coro';
   * const sem = new Semaphore(1);
   * console.log(sem.locked()); // false
   * await sem.acquire();
   * console.log(sem.locked()); // true
   */
  locked(): boolean {
    return this.count <= 0;
  }

  /**
   * Take one slot, waiting for a `release` if none is free. Returns true, or
   * false when `blocking` is false or `timeout` runs out.
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * import { Semaphore } from 'weft/coro';
   * const sem = new Semaphore(1);
   * console.log(await sem.acquire()); // true
   * console.log(await sem.acquire({ timeout: 0.05 })); // false
   */
  acquire(options: { blocking?: boolean; timeout?: number } = {}): Promise<boolean> {
    if (this.count > 0 && this.head === this.waiters.length) {
      this.count--;
      return Promise.resolve(true);
    }
    if (options.blocking === false) return Promise.resolve(false);
    const w = newWaiter<boolean>();
    if (w.settled) return w.promise;
    this.waiters.push(w);
    w.cleanup = () => this.forget(w);
    if (options.timeout !== undefined) w.setTimeout(options.timeout, () => false);
    return w.promise;
  }

  /** Take one slot if free and nobody waits, without waiting. @internal */
  _tryAcquire(): boolean {
    if (this.count > 0 && this.head === this.waiters.length) {
      this.count--;
      return true;
    }
    return false;
  }

  private forget(w: Waiter<boolean>): void {
    const i = this.waiters.indexOf(w, this.head);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /**
   * Give one slot back, waking the first waiter.
   * @example
   * import { Semaphore, sleep, spawn } from 'weft/coro';
   * const sem = new Semaphore(0);
   * const waiter = spawn(() => sem.acquire());
   * await sleep(0);
   * sem.release(); // wakes the first waiter
   * console.log(await waiter.get()); // true
   */
  release(): void {
    this.count++;
    this.wakeOne();
  }

  private wakeOne(): void {
    while (this.count > 0 && this.head < this.waiters.length) {
      const w = this.waiters[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.waiters.length) {
        this.waiters = this.waiters.slice(this.head);
        this.head = 0;
      }
      if (w.settled) continue;
      this.count--;
      w.switch(true);
    }
    if (this.head === this.waiters.length && this.head > 0) {
      this.waiters = [];
      this.head = 0;
    }
  }

  /**
   * Run `fn` holding one slot (Python's `with sem:`).
   * @example
   * import { Semaphore } from 'weft/coro';
   * const sem = new Semaphore();
   * console.log(await sem.with(() => 'done')); // done
   * console.log(sem.counter); // 1
   */
  async with<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/**
 * A semaphore that refuses to be released above its initial value
 * (gevent's `BoundedSemaphore`).
 * @example
 * import { BoundedSemaphore } from 'weft/coro';
 * const b = new BoundedSemaphore(1);
 * try { b.release(); } catch (e) { console.log(String(e)); } // ValueError: Semaphore released too many times
 */
export class BoundedSemaphore extends Semaphore {
  private readonly initial: number;
  constructor(value = 1) {
    super(value);
    this.initial = value;
  }

  /**
   * @throws {ValueError} when released more often than acquired
   */
  override release(): void {
    if (this.count >= this.initial) throw new ValueError('Semaphore released too many times');
    super.release();
  }
}

/**
 * A mutual-exclusion lock (gevent's `Lock`: a bounded semaphore of one).
 * @example
 * import { Lock, joinAll, sleep, spawn } from 'weft/coro';
 * const lock = new Lock();
 * const log: string[] = [];
 * const write = async (s: string) => { log.push(`${s}:start`); await sleep(0.01); log.push(`${s}:end`); };
 * await joinAll(['a', 'b'].map((s) => spawn(() => lock.with(() => write(s)))));
 * console.log(log); // [ 'a:start', 'a:end', 'b:start', 'b:end' ]
 */
export class Lock extends BoundedSemaphore {
  constructor() {
    super(1);
  }

  /**
   * @throws {ValueError} when the lock is not held
   */
  override release(): void {
    if (this.count >= 1) throw new ValueError('release unlocked lock');
    super.release();
  }
}

/**
 * A re-entrant lock: the greenlet holding it may acquire it again
 * (gevent's `RLock`); it is free once released as often as acquired.
 * @example
 * import { RLock } from 'weft/coro';
 * const r = new RLock();
 * await r.acquire(); await r.acquire(); // the holder may acquire again
 * r.release();
 * console.log(r.locked()); // true
 * r.release();
 * console.log(r.locked()); // false
 */
export class RLock {
  private readonly block = new Semaphore(1);
  private owner: Runner | undefined = undefined;
  private depth = 0;

  /**
   * Acquire, at once if the running greenlet already holds it.
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * import { RLock, spawn } from 'weft/coro';
   * const r = new RLock();
   * await r.acquire();
   * console.log(await r.acquire()); // true
   * console.log(await spawn(() => r.acquire({ timeout: 0.05 })).get()); // false
   */
  async acquire(options: { blocking?: boolean; timeout?: number } = {}): Promise<boolean> {
    const me = currentRunner();
    if (this.owner === me) {
      this.depth++;
      return true;
    }
    if (!(await this.block.acquire(options))) return false;
    this.owner = me;
    this.depth = 1;
    return true;
  }

  /**
   * Release once.
   * @throws {Error} when the running greenlet does not hold it (Python's `RuntimeError`)
   * @example
   * import { RLock, spawn } from 'weft/coro';
   * const r = new RLock();
   * await r.acquire();
   * const other = spawn(() => { try { r.release(); } catch (e) { return (e as Error).message; } });
   * console.log(await other.get()); // cannot release un-acquired lock
   * r.release();
   */
  release(): void {
    if (this.owner !== currentRunner()) throw new Error('cannot release un-acquired lock');
    if (--this.depth === 0) {
      this.owner = undefined;
      this.block.release();
    }
  }

  /**
   * True when some greenlet holds it.
   * @example
   * import { RLock } from 'weft/coro';
   * const r = new RLock();
   * console.log(r.locked()); // false
   * await r.with(() => console.log(r.locked())); // true
   */
  locked(): boolean {
    return this.owner !== undefined;
  }

  /**
   * Run `fn` holding the lock (Python's `with rlock:`).
   * @example
   * import { RLock } from 'weft/coro';
   * const r = new RLock();
   * const total = await r.with(() => r.with(() => 1 + 1)); // re-entrant: no deadlock
   * console.log(total); // 2
   */
  async with<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
