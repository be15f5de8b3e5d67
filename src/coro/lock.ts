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
 * const sem = new Semaphore(2);
 * if (await sem.acquire()) try { await work(); } finally { sem.release(); }
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

  /** The free count. @example sem.counter */
  get counter(): number {
    return this.count;
  }

  /** True when `acquire()` would wait. @example if (sem.locked()) ... */
  locked(): boolean {
    return this.count <= 0;
  }

  /**
   * Take one slot, waiting for a `release` if none is free. Returns true, or
   * false when `blocking` is false or `timeout` runs out.
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * await sem.acquire();
   * const got = await sem.acquire({ timeout: 0.1 });
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
   * sem.release();
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
   * await sem.with(() => work());
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
 * const b = new BoundedSemaphore(1);
 * b.release();   // throws ValueError: released too many times
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
 * const lock = new Lock();
 * await lock.with(async () => { await write(); });
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
 * const r = new RLock();
 * await r.acquire(); await r.acquire(); r.release(); r.release();
 */
export class RLock {
  private readonly block = new Semaphore(1);
  private owner: Runner | undefined = undefined;
  private depth = 0;

  /**
   * Acquire, at once if the running greenlet already holds it.
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * await r.acquire();
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
   * r.release();
   */
  release(): void {
    if (this.owner !== currentRunner()) throw new Error('cannot release un-acquired lock');
    if (--this.depth === 0) {
      this.owner = undefined;
      this.block.release();
    }
  }

  /** True when some greenlet holds it. @example r.locked() */
  locked(): boolean {
    return this.owner !== undefined;
  }

  /**
   * Run `fn` holding the lock (Python's `with rlock:`).
   * @example
   * await r.with(() => work());
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
