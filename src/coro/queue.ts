/**
 * Queues between greenlets: the twin of gevent's `src/gevent/queue.py`
 * (`Queue`, `JoinableQueue`, `PriorityQueue`, `LifoQueue`, `Channel`).
 * A `put` into a queue with a waiting getter hands the item straight to it.
 * Waits are weft/coro waits; a timed-out `get`/`put` raises weft's `Empty`/`Full`
 * (Python's `queue.Empty`/`queue.Full`, as gevent does).
 * @module
 */
import { Empty, Full, ValueError } from '../errors.js';
import { type Waiter, newWaiter } from './hub.js';
import { Event } from './event.js';

/**
 * Put this into a queue to end a `for await` loop over it (gevent ends
 * iteration on `StopIteration`).
 * @example
 * import { Queue, StopIteration } from 'weft/coro';
 * const q = new Queue<string | typeof StopIteration>();
 * q.putNowait('a');
 * q.putNowait(StopIteration); // ends a for-await over the queue
 * for await (const item of q) console.log(item); // a
 */
export const StopIteration: unique symbol = Symbol('StopIteration');

/**
 * Options of a waiting `get`/`put`.
 * @example
 * import { Empty, Queue, type QueueWaitOptions } from 'weft/coro';
 * const q = new Queue<number>();
 * const options: QueueWaitOptions = { timeout: 0.05 };
 * await q.get(options).catch((e) => console.log(e instanceof Empty)); // true
 */
export interface QueueWaitOptions {
  /** false: raise `Empty`/`Full` at once instead of waiting (default true). */
  block?: boolean;
  /** Seconds to wait at most; then `Empty`/`Full`. */
  timeout?: number;
}

/** A first-in first-out array with O(1) shift. @internal */
class Deque<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(x: T): void {
    this.items.push(x);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  pop(): T | undefined {
    if (this.length === 0) return undefined;
    const x = this.items.pop();
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return x;
  }
  remove(x: T): void {
    const i = this.items.indexOf(x, this.head);
    if (i >= 0) this.items.splice(i, 1);
  }
}

interface Putter<T> {
  waiter: Waiter<void>;
  item: T;
}

/**
 * A first-in first-out queue between greenlets (gevent's `Queue`).
 * @typeParam T the item type
 * @example
 * import { Queue, StopIteration, spawn } from 'weft/coro';
 * const q = new Queue<number | typeof StopIteration>(10);
 * spawn(async () => { for (let i = 0; i < 3; i++) await q.put(i); q.putNowait(StopIteration); });
 * const got: number[] = [];
 * for await (const n of q) got.push(n as number);
 * console.log(got); // [ 0, 1, 2 ]
 */
export class Queue<T> {
  /** The capacity: `Infinity` for an unbounded queue, 0 for a {@link Channel}. */
  readonly maxsize: number;
  private getters = new Deque<Waiter<T>>();
  private putters = new Deque<Putter<T>>();
  private readonly store: Deque<T>;

  /**
   * @param maxsize the capacity; `undefined`, `null` or 0 make it unbounded (as in gevent >= 1.1)
   * @throws {ValueError} when `maxsize` is negative or not an integer
   */
  constructor(maxsize?: number | null) {
    if (maxsize !== undefined && maxsize !== null && (!Number.isInteger(maxsize) || maxsize < 0)) {
      throw new ValueError(`Queue maxsize must be an integer >= 0 or null, got ${maxsize}`);
    }
    this.maxsize = maxsize ? maxsize : this.unbounded();
    this.store = new Deque<T>();
  }

  /** The capacity used when none is given (overridden by Channel). @internal */
  protected unbounded(): number {
    return Infinity;
  }

  /**
   * How many items wait in the queue.
   * @example
   * import { Queue } from 'weft/coro';
   * const q = new Queue<string>();
   * q.putNowait('a');
   * console.log(q.qsize()); // 1
   */
  qsize(): number {
    return this.size();
  }

  /**
   * True when there is no item.
   * @example
   * import { Queue } from 'weft/coro';
   * const q = new Queue<string>();
   * console.log(q.empty()); // true
   */
  empty(): boolean {
    return this.size() === 0;
  }

  /**
   * True when a `put` would wait.
   * @example
   * import { Queue } from 'weft/coro';
   * const q = new Queue<number>(1);
   * q.putNowait(1);
   * console.log(q.full()); // true
   */
  full(): boolean {
    return this.size() >= this.maxsize;
  }

  /** Storage order (FIFO here; PriorityQueue and LifoQueue change these four). @internal */
  protected size(): number {
    return this.store.length;
  }
  /** @internal */ protected add(item: T): void {
    this.store.push(item);
  }
  /** @internal */ protected take(): T {
    return this.store.shift() as T;
  }
  /** @internal */ protected first(): T {
    return this.store.peek() as T;
  }
  /** Called for every item accepted (JoinableQueue counts them). @internal */
  protected accepted(): void {}

  /**
   * Add an item, waiting for room if the queue is full.
   * @throws {Full} when `block` is false or `timeout` runs out and there is no room
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * import { Full, Queue } from 'weft/coro';
   * const q = new Queue<number>(1);
   * await q.put(1);
   * await q.put(2, { timeout: 0.05 }).catch((e) => console.log(e instanceof Full)); // true
   */
  put(item: T, options: QueueWaitOptions = {}): Promise<void> {
    if (this.offer(item)) return Promise.resolve();
    if (options.block === false) return Promise.reject(new Full());
    const w = newWaiter<void>();
    if (w.settled) return w.promise;
    const putter: Putter<T> = { waiter: w, item };
    this.putters.push(putter);
    w.cleanup = () => this.putters.remove(putter);
    if (options.timeout !== undefined) {
      w.setTimeout(options.timeout, () => {
        throw new Full();
      });
    }
    return w.promise;
  }

  /**
   * Add an item without waiting.
   * @throws {Full} when there is no room
   * @example
   * import { Queue } from 'weft/coro';
   * const q = new Queue<string>();
   * q.putNowait('job');
   * console.log(q.getNowait()); // job
   */
  putNowait(item: T): void {
    if (!this.offer(item)) throw new Full();
  }

  /** Hand `item` to a waiting getter, or store it if there is room. */
  private offer(item: T): boolean {
    for (let g = this.getters.shift(); g !== undefined; g = this.getters.shift()) {
      if (g.settled) continue;
      this.accepted();
      if (this.size() === 0) {
        g.switch(item);
      } else {
        // keep the order (or priority): store, give the getter the next one
        this.add(item);
        g.switch(this.take());
      }
      return true;
    }
    if (this.size() < this.maxsize) {
      this.accepted();
      this.add(item);
      return true;
    }
    return false;
  }

  /**
   * Remove and return an item, waiting for one if the queue is empty.
   * @throws {Empty} when `block` is false or `timeout` runs out and there is no item
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * import { Queue, spawnLater } from 'weft/coro';
   * const q = new Queue<string>();
   * spawnLater(0.01, () => q.putNowait('job'));
   * console.log(await q.get()); // job
   * console.log(await q.get({ timeout: 0.05 }).catch(() => undefined)); // undefined
   */
  get(options: QueueWaitOptions = {}): Promise<T> {
    if (this.size() > 0 || this.putters.length > 0) return Promise.resolve(this.takeNow());
    if (options.block === false) return Promise.reject(new Empty());
    const w = newWaiter<T>();
    if (w.settled) return w.promise;
    this.getters.push(w);
    w.cleanup = () => this.getters.remove(w);
    if (options.timeout !== undefined) {
      w.setTimeout(options.timeout, () => {
        throw new Empty();
      });
    }
    return w.promise;
  }

  /**
   * Remove and return an item without waiting.
   * @throws {Empty} when there is no item
   * @example
   * import { Empty, Queue } from 'weft/coro';
   * const q = new Queue<string>();
   * try { q.getNowait(); } catch (e) { console.log(e instanceof Empty); } // true
   */
  getNowait(): T {
    if (this.size() > 0 || this.putters.length > 0) return this.takeNow();
    throw new Empty();
  }

  /**
   * Return the next item without removing it, waiting for one.
   * @throws {Empty} when `block` is false or `timeout` runs out
   * @example
   * import { Queue } from 'weft/coro';
   * const q = new Queue<string>();
   * q.putNowait('next');
   * console.log(await q.peek(), q.qsize()); // next 1
   */
  async peek(options: QueueWaitOptions = {}): Promise<T> {
    if (this.size() === 0) {
      const item = await this.get(options);
      this.add(item); // put it back in front: the queue was empty
      return item;
    }
    return this.first();
  }

  private takeNow(): T {
    if (this.size() === 0) {
      // a rendezvous (Channel) or a queue that was full: take from a waiting putter
      const p = this.nextPutter()!;
      this.accepted();
      p.waiter.switch(undefined);
      return p.item;
    }
    const item = this.take();
    const p = this.nextPutter();
    if (p !== undefined) {
      this.accepted();
      this.add(p.item);
      p.waiter.switch(undefined);
    }
    return item;
  }

  private nextPutter(): Putter<T> | undefined {
    for (let p = this.putters.shift(); p !== undefined; p = this.putters.shift()) {
      if (!p.waiter.settled) return p;
    }
    return undefined;
  }

  /**
   * Iterate, getting items until `StopIteration` is taken from the queue.
   * @example
   * import { Queue, StopIteration } from 'weft/coro';
   * const q = new Queue<string | typeof StopIteration>();
   * q.putNowait('a');
   * q.putNowait('b');
   * q.putNowait(StopIteration);
   * const items: unknown[] = [];
   * for await (const item of q) items.push(item);
   * console.log(items); // [ 'a', 'b' ]
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      const item = await this.get();
      if ((item as unknown) === StopIteration) return;
      yield item;
    }
  }
}

/**
 * A queue with `taskDone()` and `join()` (gevent's `JoinableQueue`).
 * @example
 * import { JoinableQueue, spawn } from 'weft/coro';
 * const q = new JoinableQueue<string>();
 * const done: string[] = [];
 * spawn(async () => { for (;;) { done.push(await q.get()); q.taskDone(); } });
 * await q.put('a');
 * await q.join();
 * console.log(done); // [ 'a' ]
 */
export class JoinableQueue<T> extends Queue<T> {
  private unfinished = 0;
  private readonly finished = new Event();

  constructor(maxsize?: number | null) {
    super(maxsize);
    this.finished.set();
  }

  /**
   * How many items were put and not yet marked done.
   * @example
   * import { JoinableQueue } from 'weft/coro';
   * const q = new JoinableQueue<string>();
   * q.putNowait('a');
   * q.getNowait();
   * console.log(q.unfinishedTasks); // 1
   */
  get unfinishedTasks(): number {
    return this.unfinished;
  }

  /** @internal */
  protected override accepted(): void {
    this.unfinished++;
    this.finished.clear();
  }

  /**
   * Mark one item taken from the queue as processed.
   * @throws {ValueError} when called more times than items were put
   * @example
   * import { JoinableQueue } from 'weft/coro';
   * const q = new JoinableQueue<string>();
   * q.putNowait('a');
   * q.getNowait();
   * q.taskDone();
   * console.log(q.unfinishedTasks); // 0
   */
  taskDone(): void {
    if (this.unfinished <= 0) throw new ValueError('task_done() called too many times');
    if (--this.unfinished === 0) this.finished.set();
  }

  /**
   * Wait until every item put was marked done; false if `timeout` ran out.
   * @throws {GreenletExit} when the waiting greenlet is killed
   * @example
   * import { JoinableQueue } from 'weft/coro';
   * const q = new JoinableQueue<number>();
   * q.putNowait(1);
   * console.log(await q.join(0.05)); // false
   * q.getNowait();
   * q.taskDone();
   * console.log(await q.join()); // true
   */
  join(timeout?: number): Promise<boolean> {
    return this.finished.wait(timeout);
  }
}

/** Python's ordering of values: numbers, strings, and arrays compared item by item like tuples. */
function pythonCompare(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = pythonCompare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if ((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string') ||
      (typeof a === 'bigint' && typeof b === 'bigint')) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  throw new TypeError(
    `PriorityQueue cannot order ${typeof a} and ${typeof b}; use numbers, strings or [priority, item] arrays, or pass a compare function`,
  );
}

/**
 * A queue that returns the smallest item first (gevent's `PriorityQueue`):
 * numbers, strings, or `[priority, item]` arrays ordered like Python tuples.
 * @example
 * import { PriorityQueue } from 'weft/coro';
 * const q = new PriorityQueue<[number, string]>();
 * q.putNowait([2, 'b']);
 * q.putNowait([1, 'a']);
 * console.log(q.getNowait()); // [ 1, 'a' ]
 */
export class PriorityQueue<T> extends Queue<T> {
  private heap: T[] = [];
  private readonly compare: (a: T, b: T) => number;

  /**
   * @param maxsize the capacity (unbounded by default)
   * @param compare an order other than Python's
   */
  constructor(maxsize?: number | null, compare: (a: T, b: T) => number = pythonCompare) {
    super(maxsize);
    this.compare = compare;
  }
  /** @internal */ protected override size(): number {
    return this.heap.length;
  }
  /** @internal */ protected override first(): T {
    return this.heap[0] as T;
  }
  /** @internal */ protected override add(item: T): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(h[i]!, h[parent]!) >= 0) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }
  /** @internal */ protected override take(): T {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.compare(h[l]!, h[m]!) < 0) m = l;
        if (r < h.length && this.compare(h[r]!, h[m]!) < 0) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * A last-in first-out queue (gevent's `LifoQueue`).
 * @example
 * import { LifoQueue } from 'weft/coro';
 * const q = new LifoQueue<number>();
 * q.putNowait(1);
 * q.putNowait(2);
 * console.log(q.getNowait()); // 2
 */
export class LifoQueue<T> extends Queue<T> {
  private stack: T[] = [];
  /** @internal */ protected override size(): number {
    return this.stack.length;
  }
  /** @internal */ protected override first(): T {
    return this.stack[this.stack.length - 1] as T;
  }
  /** @internal */ protected override add(item: T): void {
    this.stack.push(item);
  }
  /** @internal */ protected override take(): T {
    return this.stack.pop() as T;
  }
}

/**
 * A rendezvous queue of capacity 0 (gevent's `Channel`): `put` waits until a
 * getter takes the item.
 * @example
 * import { Channel, spawn } from 'weft/coro';
 * const ch = new Channel<string>();
 * spawn(async () => console.log(await ch.get())); // hand-off
 * await ch.put('hand-off'); // returns once taken
 */
export class Channel<T> extends Queue<T> {
  constructor() {
    super(null);
  }
  /** @internal */ protected override unbounded(): number {
    return 0;
  }
}
