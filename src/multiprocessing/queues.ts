/**
 * `Queue`, `SimpleQueue` and `JoinableQueue` — the twins of CPython's
 * `multiprocessing/queues.py`, on a shared-memory {@link Ring} instead of a
 * pipe. Like Python, an unbounded queue's `put` never waits: when the ring is
 * full the message waits in a local buffer that a feeder (Python's feeder
 * thread, here an async loop) moves into the ring as space frees, and a child
 * does not exit before its buffer is flushed. Messages from one producer
 * arrive in the order it put them.
 * @module
 */
import { debugLog } from '../debug.js';
import { Empty, Full, ValueError } from '../errors.js';
import { describe, inspection, type QueueSnapshot } from '../inspect.js';
import { Deadline, Word, waitFor } from './futex.js';
import { dumps, loads, reduce, registerShareable, type Reduced } from './reduction.js';
import { EMPTY, PARTIAL, Ring, USER_WORDS, checkCapacity, ringBytes } from './ring.js';
import { SharedBlock } from './shared_memory.js';
import { Feeder } from './feeder.js';
import { TransferChannel } from './transfer.js';

/**
 * Options of {@link Queue}.
 * @example
 * import { Full, Queue, type QueueOptions } from 'weft';
 * const options: QueueOptions = { maxsize: 1, capacity: 64 * 1024 };
 * const q = new Queue<number>(options);
 * await q.put(1);
 * try { await q.put(2, { timeout: 0.05 }); } catch (e) { console.log(e instanceof Full); } // true
 * console.log(await q.get()); // 1
 */
export interface QueueOptions {
  /** Most messages the queue holds; 0 (default) for no limit, as in Python. */
  maxsize?: number;
  /** Bytes of shared memory for messages in flight (a power of two; default 1 MiB). Larger messages are chunked. */
  capacity?: number;
}

/**
 * Options of a waiting call: Python's `block` and `timeout` (seconds).
 * @example
 * import { Empty, Queue, type WaitOptions } from 'weft';
 * const q = new Queue<string>();
 * const once: WaitOptions = { block: false };
 * try { await q.get(once); } catch (e) { console.log(e instanceof Empty); } // true
 * await q.put('hahaha123');
 * console.log(await q.get({ timeout: 1 })); // hahaha123
 */
export interface WaitOptions {
  block?: boolean;
  timeout?: number | null;
}

// Queue words after the ring's own.
const MAXSIZE = USER_WORDS;
const UNFINISHED = USER_WORDS + 1;
const UNFINISHED_WAITERS = USER_WORDS + 2;
/** Two words: the queue's key in each process's table of moved buffers (transfer.ts). */
const TRANSFER_KEY = USER_WORDS + 3;
/** Set once the queue was passed to another process: moved buffers then go by memfd (transfer.ts). */
const ELSEWHERE = USER_WORDS + 5;

const DEFAULT_CAPACITY = 1 << 20;
/** WEFT_DEBUG=queue (debug.ts). */
const log = debugLog('queue');
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * A FIFO queue shared by processes and threads: Python's `multiprocessing.Queue`.
 *
 * @example
 * import { Process, Queue, task, isMainModule } from 'weft';
 * export const produce = task(import.meta, async (q: Queue<string>) => { await q.put('hahaha123'); });
 * if (isMainModule(import.meta)) {
 *   const q = new Queue<string>();
 *   new Process({ target: produce, args: [q] }).start();
 *   console.log(await q.get()); // hahaha123
 * }
 */
export class Queue<T = unknown> {
  protected readonly block: SharedBlock;
  /** @internal */
  readonly ring: Ring;
  readonly #maxsize: number;
  #closed = false;
  /** Moves messages into the ring without making `put` wait (unbounded queues only). */
  #feeder: Feeder | null = null;
  /** Where buffers marked by transfer() go: memfds beside the ring. */
  readonly #channel: TransferChannel;

  /** `rebuilt`: the block of a queue passed to this child, and its socket for moved buffers when the child is a process. */
  constructor(options: QueueOptions = {}, rebuilt?: SharedBlock, socket?: number) {
    if (rebuilt) {
      this.block = rebuilt;
      this.ring = new Ring(rebuilt.buffer, 0, 0, false);
      this.#channel = new TransferChannel(this.ring.i32, TRANSFER_KEY, ELSEWHERE);
      if (socket !== undefined) this.#channel.adopt(socket);
      this.#maxsize = Atomics.load(this.ring.i32, MAXSIZE);
      log?.('%s received (fd %d)', this.#kind, rebuilt.fd);
      return;
    }
    const maxsize = options.maxsize ?? 0;
    if (!Number.isInteger(maxsize) || maxsize < 0) {
      throw new RangeError(`maxsize must be a non-negative integer (0 for no limit), got ${maxsize}`);
    }
    const capacity = checkCapacity(options.capacity ?? DEFAULT_CAPACITY);
    this.block = SharedBlock.create(ringBytes(capacity));
    this.ring = new Ring(this.block.buffer, 0, capacity, true);
    this.#channel = new TransferChannel(this.ring.i32, TRANSFER_KEY, ELSEWHERE);
    this.#maxsize = maxsize;
    Atomics.store(this.ring.i32, MAXSIZE, maxsize);
    log?.('%s created (fd %d, capacity %d bytes, maxsize %d)', this.#kind, this.block.fd, capacity, maxsize);
    inspection?.track('queues', this);
  }

  /** The limit given at construction (0: none). */
  get maxsize(): number {
    return this.#maxsize;
  }

  /**
   * Puts `obj` at the end of the queue. Unbounded: returns at once. Bounded:
   * waits for room (`block`, `timeout` in seconds) and throws `Full` if none came.
   * @throws {Full} when the queue stayed full.
   * @throws {UnsendableError} when `obj` cannot cross; nothing is put.
   * @throws {ValueError} after `close()`.
   */
  put(obj: T, { block = true, timeout = null }: WaitOptions = {}): Promise<void> {
    // Not an async function: the common case (an unbounded queue with room)
    // then allocates no promise of its own, which shows at half a million puts a second.
    try {
      this.#checkOpen();
      const payload = dumps(obj, 'obj', null, this.#channel);
      this.beforePut();
      if (this.#maxsize !== 0) return this.#putBounded(payload, new Deadline(block ? timeout : 0));
      const feeder = (this.#feeder ??= this.#newFeeder());
      feeder.send(payload);
      // With a backlog, let the event loop turn once so the feeder's wake-ups
      // get in even when the caller loops on `await put()` alone.
      return feeder.backlog ? new Promise(setImmediate) : RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async #putBounded(payload: Uint8Array, deadline: Deadline): Promise<void> {
    try {
      const locked = await this.ring.putLock.acquire(deadline);
      if (!locked) throw new Full();
      try {
        const room = await waitFor(this.ring.space, deadline, () => (this.ring.count() < this.#maxsize ? true : undefined));
        if (!room || !(await this.ring.write(payload, deadline))) throw new Full();
      } finally {
        this.ring.putLock.release();
      }
    } catch (err) {
      this.afterFailedPut();
      throw err;
    }
  }

  /**
   * Puts without waiting: Python's `put_nowait`.
   * @throws {Full} when a bounded queue is full (or busy with another writer).
   */
  putNowait(obj: T): void {
    this.#checkOpen();
    const payload = dumps(obj, 'obj', null, this.#channel);
    this.beforePut();
    if (this.#maxsize === 0) {
      (this.#feeder ??= this.#newFeeder()).send(payload);
      return;
    }
    const ring = this.ring;
    if (ring.count() < this.#maxsize && ring.putLock.tryAcquire()) {
      try {
        if (ring.count() < this.#maxsize && ring.writeNow(payload)) return;
      } finally {
        ring.putLock.release();
      }
    }
    this.afterFailedPut();
    throw new Full();
  }

  /**
   * Removes and returns the first message, waiting for one (`block`, `timeout` in seconds).
   * @throws {Empty} when none came in time.
   * @throws {ValueError} after `close()`.
   */
  async get({ block = true, timeout = null }: WaitOptions = {}): Promise<T> {
    this.#checkOpen();
    const ring = this.ring;
    // Fast path: a message ready and the get lock free; no promise is awaited.
    const now = ring.takeNow();
    const first = now instanceof Promise ? await now : now;
    if (first !== EMPTY) return loads(first, null, this.#channel) as T;
    const deadline = new Deadline(block ? timeout : 0);
    for (;;) {
      const ready = await waitFor(ring.data, deadline, () => (ring.isEmpty() ? undefined : true));
      if (!ready) throw new Empty();
      // A message is there: take it at once if no other reader holds the get
      // lock (the usual case: no lock wait, no more promises), else wait for it.
      const quick = ring.takeNow();
      const got = quick === EMPTY ? await ring.take(deadline) : quick instanceof Promise ? await quick : quick;
      if (got === undefined) throw new Empty();
      if (got !== EMPTY) return loads(got, null, this.#channel) as T;
    }
  }

  /**
   * Returns the first message if one is there: Python's `get_nowait`. Never
   * waits: a message whose last chunks are still being written counts as not there yet.
   * @throws {Empty} when the queue is empty (or busy with another reader).
   */
  getNowait(): T {
    this.#checkOpen();
    const ring = this.ring;
    if (ring.messageReady() && ring.getLock.tryAcquire()) {
      let payload;
      try {
        // Checked again under the lock: another reader may have taken it meanwhile.
        payload = ring.messageReady() ? ring.readNow() : EMPTY;
      } finally {
        ring.getLock.release();
      }
      if (payload !== EMPTY && payload !== PARTIAL) return loads(payload, null, this.#channel) as T;
    }
    throw new Empty();
  }

  /** Approximate number of messages in the queue (those still in a local buffer not counted). */
  qsize(): number {
    return this.ring.count();
  }

  /** True when no message is waiting (approximate while others work, as in Python). */
  empty(): boolean {
    return this.ring.isEmpty();
  }

  /** True when a bounded queue holds `maxsize` messages. */
  full(): boolean {
    return this.#maxsize > 0 && this.ring.count() >= this.#maxsize;
  }

  /**
   * This process will put no more: later calls throw ValueError. Buffered
   * messages are still delivered (await `joinThread()` to wait for that).
   */
  close(): void {
    if (!this.#closed) log?.('%s (fd %d) closed here (%d messages still buffered)', this.#kind, this.block.fd, this.#feeder?.backlog ?? 0);
    this.#closed = true;
  }

  /** Waits until this process's buffered messages are all in the queue (Python's `join_thread`). */
  async joinThread(): Promise<void> {
    await this.#feeder?.flush();
  }

  /** Iterates over messages as they arrive (`for await (const x of q)`); break to stop. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) yield await this.get();
  }

  /** The class's Python name, for logs and `weft top`. */
  get #kind(): string {
    return this instanceof JoinableQueue ? 'JoinableQueue' : 'Queue';
  }

  #newFeeder(): Feeder {
    return new Feeder(this.ring, undefined, log && `${this.#kind} (fd ${this.block.fd})`);
  }

  /** @internal What `weft top` shows of this queue (inspect.ts). */
  [describe](): Omit<QueueSnapshot, 'id'> {
    const { written, read } = this.ring.totals();
    return { kind: this.#kind, maxsize: this.#maxsize, capacity: this.ring.capacity, qsize: this.qsize(), puts: written, gets: read, buffered: this.#feeder?.backlog ?? 0, closed: this.#closed };
  }

  #checkOpen(): void {
    if (this.#closed) throw new ValueError(`Queue is closed`);
  }

  /** Hook for JoinableQueue: counts a task before its message is visible. */
  protected beforePut(): void {}
  /** Hook for JoinableQueue: un-counts a task whose put failed. */
  protected afterFailedPut(): void {}

  /**
   * @internal A thread shares its process's socket for moved buffers; a
   * process gets its own copy of it, and the queue stops parking buffers (transfer.ts).
   */
  [reduce](to?: 'process' | 'thread'): Reduced {
    const fds = to === 'process' ? [this.block.fd, this.#channel.toProcess()] : [this.block.fd];
    return { type: this instanceof JoinableQueue ? 'JoinableQueue' : 'Queue', state: null, fds };
  }
}

/**
 * A queue whose consumers report each message done, and whose `join()` waits
 * for all of them: Python's `multiprocessing.JoinableQueue`.
 *
 * @example
 * import { JoinableQueue } from 'weft';
 * const q = new JoinableQueue<number>();
 * await q.put(1);
 * const n = await q.get(); // ... work on n ...
 * q.taskDone();
 * await q.join(); // every put message was marked done
 * console.log(n); // 1
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  get #unfinished(): Word {
    return new Word(this.ring.i32, UNFINISHED, UNFINISHED_WAITERS);
  }

  protected override beforePut(): void {
    Atomics.add(this.ring.i32, UNFINISHED, 1);
  }

  protected override afterFailedPut(): void {
    this.#done();
  }

  #done(): void {
    if (Atomics.sub(this.ring.i32, UNFINISHED, 1) === 1) this.#unfinished.wake();
  }

  /**
   * Marks one message got from the queue as processed.
   * @throws {ValueError} when called more times than messages were put.
   */
  taskDone(): void {
    const i32 = this.ring.i32;
    for (;;) {
      const n = Atomics.load(i32, UNFINISHED);
      if (n <= 0) throw new ValueError('task_done() called too many times');
      if (Atomics.compareExchange(i32, UNFINISHED, n, n - 1) === n) {
        if (n === 1) this.#unfinished.wake();
        return;
      }
    }
  }

  /** Waits until every message put has been marked done with `taskDone()`. */
  async join(): Promise<void> {
    const word = this.#unfinished;
    await waitFor(word, new Deadline(null), () => (word.load() <= 0 ? true : undefined));
  }
}

/**
 * The bare queue: Python's `multiprocessing.SimpleQueue` (`put`, `get`, `empty`, `close`).
 *
 * @example
 * import { SimpleQueue } from 'weft';
 * const q = new SimpleQueue<string>();
 * await q.put('x');
 * console.log(await q.get()); // x
 */
export class SimpleQueue<T = unknown> {
  readonly #queue: Queue<T>;
  constructor(queue?: Queue<T>) {
    this.#queue = queue ?? new Queue<T>();
  }
  /** Puts `obj`; never waits for the consumer. */
  put(obj: T): Promise<void> {
    return this.#queue.put(obj);
  }
  /** Waits for and returns the next message. */
  get(): Promise<T> {
    return this.#queue.get();
  }
  /** True when no message is waiting. */
  empty(): boolean {
    return this.#queue.empty();
  }
  /** This process will use the queue no more. */
  close(): void {
    this.#queue.close();
  }
  /** @internal */
  [reduce](to?: 'process' | 'thread'): Reduced {
    return { type: 'SimpleQueue', state: null, fds: this.#queue[reduce](to).fds };
  }
}

const socketOf = (fds: number[]): number | undefined => fds[1];
registerShareable('Queue', (_state, fds) => new Queue({}, SharedBlock.adopt(fds[0]!), socketOf(fds)));
registerShareable('JoinableQueue', (_state, fds) => new JoinableQueue({}, SharedBlock.adopt(fds[0]!), socketOf(fds)));
registerShareable('SimpleQueue', (_state, fds) => new SimpleQueue(new Queue({}, SharedBlock.adopt(fds[0]!), socketOf(fds))));
