/**
 * Explicit switching: the twin of the `greenlet` package itself (its C
 * `greenlet.greenlet` type), which gevent builds on. Named `rawgreenlet.ts`
 * because `greenlet.ts` is gevent's `Greenlet`. Python's greenlets switch C
 * stacks; here each one is an async function parked on a promise, and
 * `switch` resolves the target's promise and parks the caller. Exactly one
 * raw greenlet runs at a time, as in Python, so the running one is a plain
 * variable (code between switches should not await other things).
 * @module
 */
import { GreenletExit } from './greenlet.js';

/**
 * A greenlet with explicit switching (Python's `greenlet.greenlet`).
 * Create with {@link greenlet}.
 * @example
 * import { getCurrentRaw, greenlet } from 'weft/coro';
 * const main = getCurrentRaw();
 * const g = greenlet(async (x: unknown) => { const y = await main.switch(x); return y; });
 * console.log(await g.switch('ping')); // ping
 * console.log(await g.switch('pong'), g.dead); // pong true
 */
export class RawGreenlet {
  /** Where control goes when this greenlet's function ends (its creator by default). */
  parent: RawGreenlet | null;
  private fn: ((...args: never) => unknown) | undefined;
  private isStarted = false;
  private isDead = false;
  private resolveFn: ((value: unknown) => void) | undefined = undefined;
  private rejectFn: ((error: unknown) => void) | undefined = undefined;

  /** @internal */
  constructor(fn: ((...args: never) => unknown) | undefined, parent: RawGreenlet | null) {
    this.fn = fn;
    this.parent = parent;
  }

  /** True once its function has returned or raised. */
  get dead(): boolean {
    return this.isDead;
  }

  /** True once switched into for the first time. */
  get started(): boolean {
    return this.isStarted;
  }

  /**
   * Suspend the running greenlet and run this one: the first switch calls
   * its function with `args`; later ones make its pending `switch()` return
   * `args[0]`. Resolves with what is switched back to the caller (or the
   * return value of a child that ended).
   * @throws {Error} when this greenlet is dead
   * @throws whatever is `throw()`n into the caller, or raised by a child that ends with an exception
   * @example
   * import { greenlet } from 'weft/coro';
   * const g = greenlet(async (a: number, b: number) => a + b);
   * console.log(await g.switch(1, 2)); // 3
   */
  switch(...args: unknown[]): Promise<unknown> {
    // the hot path of explicit switching: no closures beyond the promise executor
    if (this.isDead) throw new Error('cannot switch to a dead greenlet');
    const caller = current;
    if (caller === this) return Promise.resolve(args[0]);
    const parked = caller.park();
    current = this;
    if (!this.isStarted) this.begin(args);
    else {
      const resolve = this.resolveFn!;
      this.resolveFn = undefined;
      this.rejectFn = undefined;
      resolve(args[0]);
    }
    return parked;
  }

  /**
   * Raise `error` in this greenlet at its pending `switch()` (default
   * `GreenletExit`, which ends it quietly). A greenlet never started dies at once.
   * @throws {Error} when this greenlet is dead
   * @example
   * import { getCurrentRaw, greenlet } from 'weft/coro';
   * const main = getCurrentRaw();
   * const g = greenlet(async () => {
   *   try { await main.switch(); } catch (e) { return `caught ${(e as Error).message}`; }
   * });
   * await g.switch();
   * console.log(await g.throw(new Error('stop'))); // caught stop
   */
  throw(error: Error = new GreenletExit()): Promise<unknown> {
    if (this.isDead) throw new Error('cannot throw into a dead greenlet');
    const caller = current;
    if (caller === this) return Promise.reject(error);
    const parked = caller.park();
    current = this;
    if (!this.isStarted) {
      this.isStarted = true;
      this.fn = undefined;
      this.die(error, true);
    } else {
      const reject = this.rejectFn!;
      this.resolveFn = undefined;
      this.rejectFn = undefined;
      reject(error);
    }
    return parked;
  }

  /** Suspend: the promise the next switch into this greenlet settles. */
  private park(): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
  }

  private begin(args: unknown[]): void {
    this.isStarted = true;
    const fn = this.fn as (...a: unknown[]) => unknown;
    this.fn = undefined;
    Promise.resolve()
      .then(() => fn(...args))
      .then(
        (value) => this.die(value, false),
        (error: unknown) => this.die(error, true),
      );
  }

  /** The function ended: control (and the outcome) goes to the nearest live parent. */
  private die(outcome: unknown, threw: boolean): void {
    this.isDead = true;
    let parent = this.parent;
    while (parent !== null && parent.isDead) parent = parent.parent;
    if (parent === null || parent.resolveFn === undefined) {
      if (threw && !(outcome instanceof GreenletExit)) throw outcome;
      return;
    }
    current = parent;
    const resolve = parent.resolveFn;
    const reject = parent.rejectFn!;
    parent.resolveFn = undefined;
    parent.rejectFn = undefined;
    if (threw && !(outcome instanceof GreenletExit)) reject(outcome);
    else resolve(outcome);
  }
}

const mainRaw = new RawGreenlet(undefined, null);
// the main greenlet runs from the start
(mainRaw as unknown as { isStarted: boolean }).isStarted = true;
let current: RawGreenlet = mainRaw;

/**
 * Create a greenlet that runs `fn` on its first `switch` (Python's
 * `greenlet(run, parent)`); its parent is the running greenlet unless given.
 * @example
 * import { greenlet } from 'weft/coro';
 * const out: number[] = [];
 * const gr1 = greenlet(async () => { out.push(12); await gr2.switch(); out.push(34); await gr2.switch(); });
 * const gr2 = greenlet(async () => { out.push(56); await gr1.switch(); out.push(78); await gr1.switch(); });
 * await gr1.switch();
 * console.log(out.join(' ')); // 12 56 34 78
 */
export function greenlet(fn: (...args: never) => unknown, parent?: RawGreenlet): RawGreenlet {
  if (typeof fn !== 'function') throw new TypeError(`greenlet: expected a function to run, got ${typeof fn}`);
  return new RawGreenlet(fn, parent ?? current);
}

/**
 * The running raw greenlet (Python's `greenlet.getcurrent()`).
 * @example
 * import { getCurrentRaw, greenlet } from 'weft/coro';
 * const main = getCurrentRaw();
 * const g = greenlet(async () => getCurrentRaw() === g);
 * console.log(await g.switch(), getCurrentRaw() === main); // true true
 */
export function getCurrentRaw(): RawGreenlet {
  return current;
}
