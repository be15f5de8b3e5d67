/**
 * `Group` and `Pool`: the twin of gevent's `src/gevent/pool.py`. A Group
 * tracks greenlets (each leaves it when it dies); a Pool is a Group with a
 * size, whose `spawn` waits for a free slot. `map`/`imap`/`imapUnordered`
 * pull items lazily from a sync or async iterable: on a Pool, up to `size`
 * worker greenlets of the pool take items one after another (gevent spawns a
 * greenlet per item; the workers give the same concurrency, order and errors
 * for far less per item); on a Group, one greenlet per item.
 * @module
 */
import { ValueError } from '../errors.js';
import { Event } from './event.js';
import { type ExceptionLike, Greenlet, joinAll, killAll } from './greenlet.js';
import { Semaphore } from './lock.js';
import { sleep } from './hub.js';
import { Queue } from './queue.js';

type Fn<T, A extends unknown[]> = (...args: A) => T | PromiseLike<T>;

/** One finished job of an imap: its index and outcome. */
interface Outcome<R> {
  index: number;
  ok: boolean;
  value: R | unknown;
}

const END = Symbol('end of imap');

/**
 * The next finished job of an imap stream (synchronously when one is waiting),
 * giving its slot back to the producer when the stream is bounded.
 */
function takeOutcome<R>(
  results: Queue<Outcome<R> | typeof END>,
  room: Semaphore | undefined,
): Promise<Outcome<R> | typeof END> | Outcome<R> | typeof END {
  const o = results.qsize() > 0 ? results.getNowait() : undefined;
  if (o === undefined) {
    return results.get().then((x) => {
      if (x !== END) room?.release();
      return x;
    });
  }
  if (o !== END) room?.release();
  return o;
}

/**
 * Options of `imap`/`imapUnordered`.
 * @example
 * import { Pool, type ImapOptions } from 'weft/coro';
 * const pool = new Pool(2);
 * const options: ImapOptions = { maxsize: 4 }; // at most 4 results ahead of the reader
 * const out: number[] = [];
 * for await (const n of pool.imap((x: number) => x * 10, [1, 2, 3], options)) out.push(n);
 * console.log(out); // [ 10, 20, 30 ]
 */
export interface ImapOptions {
  /**
   * At most this many results running or finished but not yet read; the
   * input is not pulled further until the reader catches up (default: twice
   * the pool size; unbounded for a Group).
   */
  maxsize?: number;
}

/**
 * A set of greenlets handled together (gevent's `Group`): join them, kill
 * them, map over inputs with no limit on concurrency.
 * @example
 * import { Group, sleep } from 'weft/coro';
 * const group = new Group();
 * const work = async (n: number) => { await sleep(0.01 * n); return n; };
 * await group.spawn(work, 1);
 * await group.spawn(work, 2);
 * await group.join();
 * console.log(group.length); // 0
 */
export class Group {
  /** @internal */ protected readonly members = new Set<Greenlet<unknown>>();
  private readonly emptied = new Event();

  constructor() {
    this.emptied.set();
  }

  /**
   * How many greenlets are in the group.
   * @example
   * import { Group, sleep } from 'weft/coro';
   * const group = new Group();
   * await group.spawn(() => sleep(0.01));
   * console.log(group.length); // 1
   */
  get length(): number {
    return this.members.size;
  }

  /**
   * True when `greenlet` is in the group.
   * @example
   * import { Group, sleep } from 'weft/coro';
   * const group = new Group();
   * const g = await group.spawn(() => sleep(0.01));
   * console.log(group.has(g)); // true
   * await group.join();
   * console.log(group.has(g)); // false
   */
  has(greenlet: Greenlet<unknown>): boolean {
    return this.members.has(greenlet);
  }

  /**
   * The live greenlets.
   * @example
   * import { Group, sleep } from 'weft/coro';
   * const group = new Group();
   * (await group.spawn(() => sleep(0.01))).name = 'a';
   * (await group.spawn(() => sleep(0.01))).name = 'b';
   * console.log([...group].map((g) => g.name)); // [ 'a', 'b' ]
   */
  [Symbol.iterator](): IterableIterator<Greenlet<unknown>> {
    return this.members.values();
  }

  /**
   * Free slots: unlimited for a Group.
   * @example
   * import { Group } from 'weft/coro';
   * console.log(new Group().freeCount()); // Infinity
   */
  freeCount(): number {
    return Infinity;
  }

  /**
   * True when `spawn` would wait (never for a Group).
   * @example
   * import { Group, Pool, sleep } from 'weft/coro';
   * const pool = new Pool(1);
   * await pool.spawn(() => sleep(0.01));
   * console.log(new Group().full(), pool.full()); // false true
   */
  full(): boolean {
    return this.freeCount() <= 0;
  }

  /**
   * Wait until a slot is free; returns the free count (gevent's `wait_available`).
   * @example
   * import { Pool, sleep } from 'weft/coro';
   * const pool = new Pool(1);
   * await pool.spawn(() => sleep(0.01));
   * console.log(await pool.waitAvailable()); // 1
   */
  async waitAvailable(timeout?: number): Promise<number> {
    void timeout;
    return this.freeCount();
  }

  /** The number of slots: unlimited for a Group. @internal */
  protected capacity(): number {
    return Infinity;
  }

  /** Take a slot if one is free, without waiting. @internal */
  protected tryAcquireSlot(): boolean {
    return true;
  }

  /** Take a slot (Pool waits); false when the timeout ran out. @internal */
  protected acquireSlot(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Give a slot back. @internal */
  protected releaseSlot(): void {}

  /**
   * Put a greenlet (spawned elsewhere) in the group; a Pool waits for a slot.
   * @example
   * import { Group, sleep, spawn } from 'weft/coro';
   * const group = new Group();
   * await group.add(spawn(() => sleep(0.01)));
   * console.log(group.length); // 1
   * await group.join();
   */
  async add(greenlet: Greenlet<unknown>): Promise<void> {
    if (this.members.has(greenlet) || greenlet.dead) return;
    await this.acquireSlot();
    this.track(greenlet);
  }

  private track(greenlet: Greenlet<unknown>): void {
    this.members.add(greenlet);
    this.emptied.clear();
    greenlet._addHook(this.reap);
  }

  private readonly reap = (greenlet: Greenlet<unknown>): void => {
    if (!this.members.delete(greenlet)) return;
    this.releaseSlot();
    if (this.members.size === 0) this.emptied.set();
  };

  /**
   * Take a greenlet out of the group without killing it (it frees its slot).
   * @example
   * import { Group, sleep } from 'weft/coro';
   * const group = new Group();
   * const g = await group.spawn(() => sleep(0.01));
   * group.discard(g); // still running, no longer in the group
   * console.log(group.length, g.dead); // 0 false
   */
  discard(greenlet: Greenlet<unknown>): void {
    greenlet._removeHook(this.reap);
    this.reap(greenlet);
  }

  /**
   * Spawn `fn(...args)` in the group; a Pool first waits for a free slot.
   * @throws {GreenletExit} when the spawning greenlet is killed while waiting
   * @example
   * import { Pool, sleep } from 'weft/coro';
   * const pool = new Pool(2);
   * const download = async (url: string) => { await sleep(0.01); return `<page of ${url}>`; };
   * const g = await pool.spawn(download, 'http://127.0.0.1/a');
   * console.log(await g.get()); // <page of http://127.0.0.1/a>
   */
  async spawn<T, A extends unknown[]>(fn: Fn<T, A>, ...args: A): Promise<Greenlet<T>> {
    await this.acquireSlot();
    return this.startTracked(new Greenlet<T>(fn, ...args));
  }

  private startTracked<T>(g: Greenlet<T>): Greenlet<T> {
    this.track(g as Greenlet<unknown>);
    return g.start();
  }

  /**
   * Run `fn(...args)` in the group and return its result (gevent's `apply`).
   * @throws whatever `fn` throws
   * @example
   * import { Pool } from 'weft/coro';
   * const pool = new Pool(2);
   * const countLines = (text: string) => text.split('\n').length;
   * console.log(await pool.apply(countLines, 'a\nb\nc')); // 3
   */
  async apply<T, A extends unknown[]>(fn: Fn<T, A>, ...args: A): Promise<T> {
    await this.acquireSlot();
    const g = new Greenlet<T>(fn, ...args);
    g._quiet = true;
    this.startTracked(g);
    return g.get();
  }

  /**
   * Wait until the group is empty; false if `timeout` ran out.
   * @param options.raiseError raise the exception of the first greenlet that fails
   * @throws the exception of a failed greenlet, with `raiseError`
   * @example
   * import { Group, sleep } from 'weft/coro';
   * const group = new Group();
   * await group.spawn(() => sleep(0.01));
   * console.log(await group.join({ timeout: 5 })); // true
   */
  async join(options: { timeout?: number; raiseError?: boolean } = {}): Promise<boolean> {
    if (!options.raiseError) return this.emptied.wait(options.timeout);
    const deadline = options.timeout === undefined ? Infinity : performance.now() + options.timeout * 1000;
    while (this.members.size > 0) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await joinAll([...this.members], {
        raiseError: true,
        timeout: left === Infinity ? undefined : left / 1000,
      });
    }
    return true;
  }

  /**
   * Kill every greenlet of the group; by default waits until they are dead.
   * @example
   * import { Group, sleep } from 'weft/coro';
   * const group = new Group();
   * for (let i = 0; i < 3; i++) await group.spawn(() => sleep(60));
   * await group.kill({ timeout: 1 });
   * console.log(group.length); // 0
   */
  async kill(options: { exception?: ExceptionLike; block?: boolean; timeout?: number } = {}): Promise<void> {
    await killAll([...this.members], options);
  }

  /**
   * Kill one greenlet of the group (gevent's `killone`).
   * @example
   * import { Group, sleep } from 'weft/coro';
   * const group = new Group();
   * const g = await group.spawn(() => sleep(60));
   * await group.killone(g);
   * console.log(g.dead, group.length); // true 0
   */
  async killone(
    greenlet: Greenlet<unknown>,
    options: { exception?: ExceptionLike; block?: boolean; timeout?: number } = {},
  ): Promise<void> {
    if (this.members.has(greenlet)) await greenlet.kill(options);
  }

  /**
   * Apply `fn` to every item, concurrently, and return the results in order
   * (gevent's `map`).
   * @throws the first exception a call raises
   * @example
   * import { Pool, sleep } from 'weft/coro';
   * const pool = new Pool(2);
   * const fetchSize = async (url: string) => { await sleep(0.01); return url.length; };
   * console.log(await pool.map(fetchSize, ['http://127.0.0.1/a', 'http://127.0.0.1/bb'])); // [ 18, 19 ]
   */
  async map<I, R>(fn: (item: I) => R | PromiseLike<R>, items: Iterable<I> | AsyncIterable<I>): Promise<R[]> {
    const out: R[] = [];
    const feed = this.feed(fn, items, {});
    try {
      for (;;) {
        // a result already waiting is taken without an await (no hop per item)
        const step = feed.next();
        const o = step instanceof Promise ? await step : step;
        if (o === END) break;
        if (!o.ok) throw o.value;
        out[o.index] = o.value as R;
      }
    } finally {
      await feed.close();
    }
    return out;
  }

  /**
   * Lazily apply `fn` to every item, yielding results in input order
   * (gevent's `imap`).
   * @throws (while iterating) the exception of a call, at its place in the order
   * @example
   * import { Pool, sleep } from 'weft/coro';
   * const pool = new Pool(3);
   * const download = async (ms: number) => { await sleep(ms / 1000); return `page ${ms}`; };
   * const pages: string[] = [];
   * for await (const page of pool.imap(download, [30, 10, 20])) pages.push(page); // in input order
   * console.log(pages); // [ 'page 30', 'page 10', 'page 20' ]
   */
  imap<I, R>(
    fn: (item: I) => R | PromiseLike<R>,
    items: Iterable<I> | AsyncIterable<I>,
    options: ImapOptions = {},
  ): AsyncIterableIterator<R> {
    return new ImapStream<R>(this.feed(fn, items, options), true);
  }

  /**
   * Lazily apply `fn` to every item, yielding results as they finish
   * (gevent's `imap_unordered`).
   * @throws (while iterating) the first exception a call raises
   * @example
   * import { Pool, sleep } from 'weft/coro';
   * const pool = new Pool(3);
   * const square = async (x: number) => { await sleep(0.05 * (4 - x)); return x * x; }; // 3 finishes first
   * const out: number[] = [];
   * for await (const n of pool.imapUnordered(square, [1, 2, 3])) out.push(n);
   * console.log(out); // [ 9, 4, 1 ]
   */
  imapUnordered<I, R>(
    fn: (item: I) => R | PromiseLike<R>,
    items: Iterable<I> | AsyncIterable<I>,
    options: ImapOptions = {},
  ): AsyncIterableIterator<R> {
    return new ImapStream<R>(this.feed(fn, items, options), false);
  }

  /**
   * The engine of map/imap: a feeder greenlet spawns one greenlet per item,
   * slot by slot, and their outcomes go to a queue the reader drains.
   */
  private feed<I, R>(
    fn: (item: I) => R | PromiseLike<R>,
    items: Iterable<I> | AsyncIterable<I>,
    options: ImapOptions,
  ): Feed<R> {
    if (typeof fn !== 'function') throw new TypeError(`map/imap: expected a function, got ${typeof fn}`);
    const maxsize = options.maxsize ?? 2 * this.capacity();
    if (!(maxsize >= 1)) throw new ValueError(`imap: maxsize must be >= 1, got ${maxsize}`);
    // results running or waiting for the reader: the feeder stops pulling items at maxsize
    const room = Number.isFinite(maxsize) ? new Semaphore(maxsize) : undefined;
    const results = new Queue<Outcome<R> | typeof END>();
    if (Number.isFinite(this.capacity())) return this.feedWorkers(fn, items, room, results);
    let running = 0;
    let fed = false;
    const collect = (g: Greenlet<R>, index: number): void => {
      running--;
      const ok = g.successful();
      results.putNowait({ index, ok, value: ok ? g.value : g.exception });
      if (fed && running === 0) results.putNowait(END);
    };
    const feeder = new Greenlet(async () => {
      let index = 0;
      try {
        const sync = isSync(items);
        const iterator = sync ? items[Symbol.iterator]() : items[Symbol.asyncIterator]();
        for (;;) {
          // the awaits are skipped when a permit is free: one item costs no extra hop
          if (room !== undefined && !room._tryAcquire()) await room.acquire();
          if (!this.tryAcquireSlot()) await this.acquireSlot();
          let step: IteratorResult<I>;
          try {
            step = sync ? (iterator as Iterator<I>).next() : await iterator.next();
          } catch (e) {
            this.releaseSlot();
            throw e;
          }
          if (step.done) {
            this.releaseSlot();
            break;
          }
          const i = index++;
          const g = new Greenlet<R>(fn, step.value);
          g._quiet = true;
          running++;
          g._addHook((done) => collect(done as Greenlet<R>, i));
          this.startTracked(g);
        }
      } catch (e) {
        results.putNowait({ index, ok: false, value: e });
      } finally {
        fed = true;
        if (running === 0) results.putNowait(END);
      }
    });
    feeder._quiet = true;
    feeder.start();
    return {
      next: () => takeOutcome(results, room),
      async close(): Promise<void> {
        if (!feeder.dead) await feeder.kill();
      },
    };
  }

  /**
   * The engine of map/imap on a Pool: up to `size` worker greenlets of the
   * pool pull items and run `fn` on them, one after another (like p-map's
   * workers), instead of one new greenlet per item: the same concurrency,
   * laziness and results, at a fraction of the cost per item.
   */
  private feedWorkers<I, R>(
    fn: (item: I) => R | PromiseLike<R>,
    items: Iterable<I> | AsyncIterable<I>,
    room: Semaphore | undefined,
    results: Queue<Outcome<R> | typeof END>,
  ): Feed<R> {
    const sync = isSync(items);
    let iterator: Iterator<I> | AsyncIterator<I> | undefined;
    let index = 0;
    let exhausted = false;
    let live = 0;
    let spawning = true;
    const workers: Greenlet<unknown>[] = [];
    const finished = (): void => {
      if (--live === 0 && !spawning) results.putNowait(END);
    };
    const worker = async (): Promise<void> => {
      for (;;) {
        if (room !== undefined && !room._tryAcquire()) await room.acquire();
        if (exhausted) {
          room?.release();
          return;
        }
        let step: IteratorResult<I>;
        try {
          iterator ??= sync ? items[Symbol.iterator]() : items[Symbol.asyncIterator]();
          step = sync ? (iterator as Iterator<I>).next() : await iterator.next();
        } catch (e) {
          exhausted = true;
          results.putNowait({ index, ok: false, value: e });
          return;
        }
        if (step.done) {
          exhausted = true;
          room?.release();
          return;
        }
        const i = index++;
        try {
          const out = fn(step.value);
          const value = isThenable(out) ? await out : out;
          results.putNowait({ index: i, ok: true, value });
        } catch (e) {
          results.putNowait({ index: i, ok: false, value: e });
        }
      }
    };
    const feeder = new Greenlet(async () => {
      try {
        for (let k = 0; k < this.capacity() && !exhausted; k++) {
          if (!this.tryAcquireSlot()) await this.acquireSlot();
          if (exhausted) {
            this.releaseSlot();
            break;
          }
          const w = new Greenlet(worker);
          w._quiet = true;
          live++;
          w._addHook(finished);
          workers.push(w);
          this.startTracked(w);
          if (k === 0) await sleep(0); // a short input may be done by one worker: start more only if needed
        }
      } finally {
        spawning = false;
        if (live === 0) results.putNowait(END);
      }
    });
    feeder._quiet = true;
    feeder.start();
    return {
      next: () => takeOutcome(results, room),
      async close(): Promise<void> {
        exhausted = true;
        if (!feeder.dead) await feeder.kill();
        await killAll(workers);
      },
    };
  }
}

function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return x !== null && typeof x === 'object' && typeof (x as PromiseLike<T>).then === 'function';
}

/** The reader's side of a running map/imap. */
interface Feed<R> {
  /** The next outcome (at once when one is waiting), or END. */
  next(): Promise<Outcome<R> | typeof END> | Outcome<R> | typeof END;
  /** Stop pulling items (the reader left early). */
  close(): Promise<void>;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The iterator `imap`/`imapUnordered` return. Not an async generator: a
 * generator's `yield` costs an await and a promise hop of its own on top of
 * the reader's, and tiny jobs are dominated by such hops. A result that is
 * already waiting is handed over in an already-resolved promise.
 */
class ImapStream<R> implements AsyncIterableIterator<R> {
  private finished = false;
  /** Calls of `next()` made before the previous one settled are answered in order, after it. */
  private busy: Promise<IteratorResult<R>> | undefined = undefined;
  /** In-order streams: outcomes that finished ahead of their turn. */
  private readonly early: Map<number, Outcome<R>> | undefined;
  private turn = 0;

  constructor(
    private readonly feed: Feed<R>,
    ordered: boolean,
  ) {
    this.early = ordered ? new Map() : undefined;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (this.busy !== undefined) return this.track(this.busy.then(this.step, this.step));
    const r = this.step();
    return r instanceof Promise ? this.track(r) : Promise.resolve(r);
  }

  /** One `next()`: the result at once when it is there, else a promise of it; a failure stops the stream. */
  private readonly step = (): IteratorResult<R> | Promise<IteratorResult<R>> => {
    let r: IteratorResult<R> | Promise<IteratorResult<R>>;
    try {
      r = this.advance();
    } catch (e) {
      return this.throw(e);
    }
    return r instanceof Promise ? r.catch((e: unknown) => this.throw(e)) : r;
  };

  /** The latest pending `next()`: a later call waits for it. */
  private track(p: Promise<IteratorResult<R>>): Promise<IteratorResult<R>> {
    this.busy = p;
    const clear = (): void => {
      if (this.busy === p) this.busy = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** The reader stopped early (`break` out of `for await`): stop the feed and its jobs. */
  async return(): Promise<IteratorResult<R>> {
    if (!this.finished) {
      this.finished = true;
      await this.feed.close();
    }
    return DONE;
  }

  /** Stop the feed and its jobs, then raise `error` (also how a failed job reaches the reader). */
  async throw(error: unknown): Promise<IteratorResult<R>> {
    await this.return();
    throw error;
  }

  /** The next result: at once when it is there, else a promise of it. */
  private advance(): IteratorResult<R> | Promise<IteratorResult<R>> {
    for (;;) {
      if (this.finished) return DONE;
      const early = this.early;
      if (early !== undefined) {
        const x = early.get(this.turn);
        if (x !== undefined) {
          early.delete(this.turn++);
          return this.deliver(x);
        }
      }
      const o = this.feed.next();
      if (o instanceof Promise) return o.then((x) => this.accept(x) ?? this.advance());
      const r = this.accept(o);
      if (r !== undefined) return r;
    }
  }

  /** Take one outcome: the result to hand over, or undefined when an in-order stream must wait for an earlier one. */
  private accept(o: Outcome<R> | typeof END): IteratorResult<R> | undefined {
    if (o === END) {
      this.finished = true; // every job has ended: nothing to close
      return DONE;
    }
    if (this.early === undefined) return this.deliver(o);
    this.early.set(o.index, o);
    return undefined;
  }

  private deliver(o: Outcome<R>): IteratorResult<R> {
    if (!o.ok) throw o.value;
    return { done: false, value: o.value as R };
  }

}

function isSync<I>(items: Iterable<I> | AsyncIterable<I>): items is Iterable<I> {
  return typeof (items as Iterable<I>)[Symbol.iterator] === 'function';
}

/**
 * A Group of at most `size` greenlets (gevent's `Pool`): `spawn` waits for a
 * free slot, so a Pool bounds concurrency.
 * @example
 * import { Pool, sleep } from 'weft/coro';
 * const pool = new Pool(10);
 * const download = async (url: string) => { await sleep(0.01); return `<html>${url}</html>`; };
 * const urls = ['http://127.0.0.1/a', 'http://127.0.0.1/b'];
 * let total = 0;
 * for await (const body of pool.imapUnordered(download, urls)) total += body.length;
 * console.log(total); // 62
 */
export class Pool extends Group {
  /** The number of slots. */
  readonly size: number;
  private readonly slots: Semaphore;

  /**
   * @param size how many greenlets may run at once (an integer >= 1)
   * @throws {ValueError} when `size` is not an integer >= 1
   */
  constructor(size: number) {
    super();
    if (!Number.isInteger(size) || size < 1) {
      throw new ValueError(`Pool size must be an integer >= 1, got ${size}; use Group for no limit`);
    }
    this.size = size;
    this.slots = new Semaphore(size);
  }

  /**
   * Free slots (gevent's `free_count`).
   * @example
   * import { Pool, sleep } from 'weft/coro';
   * const pool = new Pool(3);
   * await pool.spawn(() => sleep(0.01));
   * console.log(pool.freeCount()); // 2
   */
  override freeCount(): number {
    return this.slots.counter;
  }

  /**
   * Wait until a slot is free; returns the free count (0 if `timeout` ran out).
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * import { Pool, sleep } from 'weft/coro';
   * const pool = new Pool(1);
   * await pool.spawn(() => sleep(0.05));
   * console.log(await pool.waitAvailable(0.01)); // 0
   * console.log(await pool.waitAvailable(1)); // 1
   */
  override async waitAvailable(timeout?: number): Promise<number> {
    if (this.slots.counter > 0) return this.slots.counter;
    if (await this.slots.acquire({ timeout })) {
      this.slots.release();
      return this.slots.counter;
    }
    return 0;
  }

  /** @internal */
  protected override capacity(): number {
    return this.size;
  }

  /** @internal */
  protected override tryAcquireSlot(): boolean {
    return this.slots._tryAcquire();
  }

  /** @internal */
  protected override acquireSlot(): Promise<boolean> {
    return this.slots.acquire();
  }

  /** @internal */
  protected override releaseSlot(): void {
    this.slots.release();
  }
}
