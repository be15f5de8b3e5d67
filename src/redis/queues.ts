/**
 * `Queue` and `JoinableQueue` on Redis — the twins of weft's (and CPython's
 * `multiprocessing/queues.py`), shared by every process on any host that names
 * the queue, and reliable: a message taken from the queue is moved, in the same
 * server step, to a list held by its consumer (`BLMOVE`), and it comes back to
 * the head of the queue when that consumer's lease lapses: its process died or
 * froze. A live consumer renews its lease every third of it.
 *
 * Keys, all in one hash slot (`prefix{q:name}:…`): `items` (the queue),
 * `held:<consumer>`, `alive:<consumer>` (the lease), `consumers` (a set),
 * `unfinished` (JoinableQueue's count), `joined` (wake-ups for `join`).
 * @module
 */
import { Empty, Full, TimeoutError, ValueError } from '../errors.js';
import { Deadline } from '../multiprocessing/futex.js';
import type { WaitOptions } from '../multiprocessing/queues.js';
import { POLL_SECONDS, Script, pack, unpack, type RedisConnection } from './connection.js';

/**
 * Options of `cluster.Queue(name, options)` and `cluster.JoinableQueue(name, options)`.
 * @example
 * import { connect, type QueueOptions } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const options: QueueOptions = { maxsize: 100, lease: 30 };
 * const q = cluster.Queue<number>('jobs', options);
 * console.log(q.maxsize); // 100
 */
export interface QueueOptions {
  /** Most messages the queue holds; 0 (default) for no limit. Every handle on the queue should give the same. */
  maxsize?: number;
  /** Seconds a consumer keeps the messages it took after its process stops renewing (dies or freezes); default 30. */
  lease?: number;
}

const DEFAULT_LEASE = 30;

// KEYS: items, unfinished (JoinableQueue) — ARGV: message, maxsize, joinable
const PUT = new Script(`
if tonumber(ARGV[2]) > 0 and redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
if ARGV[3] == '1' then redis.call('INCR', KEYS[2]) end
return n`);

// A consumer's lease: KEYS consumers, alive — ARGV consumer id, lease ms
const ALIVE = new Script(`
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 1`);

// Hands the messages of every consumer whose lease lapsed back to the head of
// the queue, oldest first. KEYS consumers, items — ARGV the key prefix of held:/alive:
const REAP = new Script(`
local moved = 0
for _, c in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. c) == 0 then
    local held = ARGV[1] .. 'held:' .. c
    while redis.call('LMOVE', held, KEYS[2], 'RIGHT', 'LEFT') do moved = moved + 1 end
    redis.call('SREM', KEYS[1], c)
  end
end
return moved`);

// A consumer leaving: KEYS consumers, alive, held, items — ARGV consumer id
const LEAVE = new Script(`
while redis.call('LMOVE', KEYS[3], KEYS[4], 'RIGHT', 'LEFT') do end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
return 1`);

// JoinableQueue.taskDone: KEYS held, unfinished, joined
const TASK_DONE = new Script(`
if not redis.call('LPOP', KEYS[1]) then return -1 end
local left = redis.call('DECR', KEYS[2])
if left <= 0 then
  redis.call('DEL', KEYS[2])
  redis.call('LPUSH', KEYS[3], '1')
  redis.call('LTRIM', KEYS[3], 0, 0)
  redis.call('PEXPIRE', KEYS[3], 1000)
end
return left`);

/**
 * A FIFO queue in Redis: weft's `Queue` for processes on many hosts. Every
 * handle that names the same queue (on this cluster's prefix) shares it.
 * `get` moves the message to this consumer's held list and acknowledges it once
 * it has arrived here, so a consumer that dies while the reply is on its way
 * loses nothing: the message is handed on after its lease.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const q = cluster.Queue<string>('example:queue');
 * await q.put('hahaha123');
 * console.log(await q.get({ timeout: 1 })); // hahaha123
 * @throws {Full} from `put` when a bounded queue stayed full.
 * @throws {Empty} from `get` when nothing came in time.
 */
export class Queue<T = unknown> {
  readonly #conn: RedisConnection;
  /** The queue's name, as given. */
  readonly name: string;
  readonly #maxsize: number;
  /** Lease in seconds. */
  readonly lease: number;
  readonly #items: string;
  readonly #consumers: string;
  readonly #alive: string;
  /** The list holding what this process took and has not finished. */
  protected readonly held: string;
  /** `prefix{q:name}:` — the start of every key of this queue. */
  protected readonly base: string;
  #heartbeat: { stop(): void } | null = null;
  #joining: Promise<unknown> | null = null;
  #closed = false;

  /** @internal Queues come from `cluster.Queue(name)`. */
  constructor(conn: RedisConnection, name: string, options: QueueOptions = {}) {
    checkName(name);
    const maxsize = options.maxsize ?? 0;
    if (!Number.isInteger(maxsize) || maxsize < 0) {
      throw new RangeError(`maxsize must be a non-negative integer (0 for no limit), got ${maxsize}`);
    }
    const lease = options.lease ?? DEFAULT_LEASE;
    if (!(lease > 0) || !Number.isFinite(lease)) throw new RangeError(`lease must be a positive number of seconds, got ${lease}`);
    this.#conn = conn;
    this.name = name;
    this.#maxsize = maxsize;
    this.lease = lease;
    this.base = conn.key('q', name, '');
    this.#items = `${this.base}items`;
    this.#consumers = `${this.base}consumers`;
    this.#alive = `${this.base}alive:${conn.id}`;
    this.held = `${this.base}held:${conn.id}`;
  }

  /** @internal */
  protected get conn(): RedisConnection {
    return this.#conn;
  }

  /** The limit given (0: none). */
  get maxsize(): number {
    return this.#maxsize;
  }

  /** 1 for a JoinableQueue, whose puts count unfinished tasks. */
  protected get joinable(): boolean {
    return false;
  }

  /**
   * Puts `obj` at the end of the queue; resolves once Redis has it. A bounded
   * queue waits for room (`block`, `timeout` in seconds).
   * @throws {Full} when the queue stayed full.
   * @throws {UnsendableError} when `obj` cannot cross; nothing is put.
   */
  async put(obj: T, { block = true, timeout = null }: WaitOptions = {}): Promise<void> {
    this.#checkOpen();
    const message = pack(obj);
    const deadline = new Deadline(block ? timeout : 0);
    const keys = [this.#items, `${this.base}unfinished`];
    const args = [message, this.#maxsize, this.joinable ? '1' : '0'];
    if (this.#maxsize === 0 && !this.joinable) {
      await this.#conn.client.rpush(this.#items, message);
      return;
    }
    for (let pause = 0.005; ; pause = Math.min(pause * 2, POLL_SECONDS)) {
      if ((await this.#conn.run(PUT, keys, args)) !== -1) return;
      if (deadline.expired) throw new Full();
      await sleep(Math.min(pause, deadline.remaining()));
    }
  }

  /** `put(obj, { block: false })`. */
  putNowait(obj: T): Promise<void> {
    return this.put(obj, { block: false });
  }

  /**
   * Takes the message at the head of the queue, waiting for one (`block`,
   * `timeout` in seconds; null waits for ever, in slices that also recover
   * messages from consumers whose lease lapsed).
   * @throws {Empty} when nothing came in time.
   */
  async get({ block = true, timeout = null }: WaitOptions = {}): Promise<T> {
    this.#checkOpen();
    const deadline = new Deadline(block ? timeout : 0);
    await this.#join();
    let reaped = false;
    for (;;) {
      const wait = deadline.remaining();
      const raw =
        wait === 0 || !reaped
          ? await this.#conn.client.lmoveBuffer(this.#items, this.held, 'LEFT', 'RIGHT')
          : await this.#conn.blocking((c) =>
              c.blmoveBuffer(this.#items, this.held, 'LEFT', 'RIGHT', Math.max(0.01, Math.min(wait, this.lease / 2, 2))),
            );
      if (raw) return this.taken(raw);
      await this.#conn.run(REAP, [this.#consumers, this.#items], [this.base]);
      if (reaped && deadline.expired) throw new Empty();
      reaped = true;
    }
  }

  /** `get({ block: false })`. */
  getNowait(): Promise<T> {
    return this.get({ block: false });
  }

  /** What `get` does with a message that arrived: a plain queue acknowledges it (without waiting for the reply). */
  protected taken(raw: Buffer): T {
    this.#conn.client.lrem(this.held, 1, raw).catch(() => {}); // lost: the lease hands it on again (at-least-once)
    return unpack(raw) as T;
  }

  /** Messages waiting in the queue (not those taken and unfinished). */
  async qsize(): Promise<number> {
    this.#checkOpen();
    return this.#conn.client.llen(this.#items);
  }

  async empty(): Promise<boolean> {
    return (await this.qsize()) === 0;
  }

  async full(): Promise<boolean> {
    return this.#maxsize > 0 && (await this.qsize()) >= this.#maxsize;
  }

  /**
   * Stops this handle: its lease ends now, and what this process took and did
   * not finish goes back to the head of the queue at once. The queue itself
   * stays in Redis for the other handles.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeat?.stop();
    if (this.#joining && !this.#conn.closed) {
      await this.#conn.run(LEAVE, [this.#consumers, this.#alive, this.held, this.#items], [this.#conn.id]);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) yield await this.get();
  }

  toString(): string {
    return `<${this.constructor.name} '${this.name}'>`;
  }

  /** Joins the consumers on the first `get`: from then on this process holds a lease that it renews. */
  #join(): Promise<unknown> {
    if (!this.#joining) {
      const renew = () => this.#conn.run(ALIVE, [this.#consumers, this.#alive], [this.#conn.id, Math.ceil(this.lease * 1000)]);
      this.#joining = renew();
      this.#heartbeat = this.#conn.every(this.lease / 3, renew);
    }
    return this.#joining;
  }

  #checkOpen(): void {
    this.#conn.checkOpen();
    if (this.#closed) throw new ValueError(`${this} is closed`);
  }
}

/**
 * weft's `JoinableQueue` on Redis: a message taken stays this consumer's until
 * `taskDone()`, so a consumer that dies or freezes (past its lease) before
 * then does not lose it: it goes to another consumer. `join()` waits until
 * every message put was marked done, by any consumer on any host.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const q = cluster.JoinableQueue<number>('example:joinable', { lease: 10 });
 * await q.put(1);
 * console.log(await q.get()); // 1
 * await q.taskDone();
 * await q.join({ timeout: 5 });
 * @throws {ValueError} from `taskDone` when this process holds no message (none taken, or its lease lapsed and the message went to another consumer).
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  protected override get joinable(): boolean {
    return true;
  }

  protected override taken(raw: Buffer): T {
    return unpack(raw) as T;
  }

  /** Marks the oldest message this process took as done. */
  async taskDone(): Promise<void> {
    const left = await this.conn.run(TASK_DONE, [this.held, `${this.base}unfinished`, `${this.base}joined`]);
    if (left === -1) {
      throw new ValueError(
        `taskDone() called with no message held by this process on ${this} (none taken, or its lease lapsed and another consumer has it)`,
      );
    }
  }

  /**
   * Waits until every message put was marked done (`timeout` in seconds; Python's
   * `join()` takes none, so by default it waits for ever).
   * @throws {TimeoutError} when `timeout` passed first.
   */
  async join({ timeout = null }: { timeout?: number | null } = {}): Promise<void> {
    const deadline = new Deadline(timeout);
    const unfinished = `${this.base}unfinished`;
    for (;;) {
      if (Number((await this.conn.client.get(unfinished)) ?? 0) <= 0) return;
      if (deadline.expired) throw new TimeoutError(`${this}.join() timed out with tasks unfinished`);
      await this.conn.nap(`${this.base}joined`, deadline.remaining());
    }
  }
}

/** Object names go inside a hash tag: no braces. */
export function checkName(name: string): void {
  if (typeof name !== 'string' || name === '' || /[{}]/.test(name)) {
    throw new ValueError(`name must be a non-empty string without braces, got ${JSON.stringify(name)}`);
  }
}

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}
