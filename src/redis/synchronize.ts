/**
 * `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`, `Event` and `Barrier` on
 * Redis — the twins of weft's (CPython's `multiprocessing/synchronize.py`)
 * for processes on many hosts. A lock or a semaphore permit is a lease: the
 * holder's process renews it every third of its length while it holds it, so a
 * holder that dies or freezes past the lease loses it and the next waiter
 * takes it. Each acquire gets a fencing `token` that grows with every acquire
 * of the lock, so a resource can refuse a stale holder that woke up late.
 *
 * Waiters sleep in `BLPOP` on the object's `wake` list, where a release pushes
 * a token, and look again at least every quarter second (a holder that died
 * never pushes one).
 * @module
 */
import { RuntimeError, TimeoutError, ValueError } from '../errors.js';
import { Deadline } from '../multiprocessing/futex.js';
import type { AcquireOptions, HoldOptions } from '../multiprocessing/synchronize.js';
import { BrokenBarrierError } from '../multiprocessing/synchronize.js';
import { Script, type RedisConnection } from './connection.js';
import { checkName } from './queues.js';

/**
 * Options of `cluster.Lock`, `RLock`, `Semaphore` and `BoundedSemaphore`.
 * @example
 * import { connect, type LeaseOptions } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const options: LeaseOptions = { lease: 5 };
 * const lock = cluster.Lock('example:leased', options);
 * console.log(lock.lease); // 5
 */
export interface LeaseOptions {
  /** Seconds a holder keeps the lock once its process stops renewing (dies or freezes); default 10. */
  lease?: number;
}

const DEFAULT_LEASE = 10;

// Wakes one waiter (a lock, a permit): at most one token waits, for a second.
const WAKE_ONE = `
redis.call('LPUSH', KEYS[#KEYS], '1')
redis.call('LTRIM', KEYS[#KEYS], 0, 0)
redis.call('PEXPIRE', KEYS[#KEYS], 1000)`;

// KEYS owner, fence, depth — ARGV holder, lease ms, recursive
const LOCK_ACQUIRE = new Script(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] and ARGV[3] == '1' then
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]))
end
if cur then return 0 end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[3], 1)
return fence`);
// KEYS owner — ARGV holder, lease ms
const LOCK_RENEW = new Script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`);
// KEYS owner, depth, wake — ARGV holder; -1 when not the holder, else the depth left
const LOCK_RELEASE = new Script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local depth = redis.call('DECR', KEYS[2])
if depth > 0 then return depth end
redis.call('DEL', KEYS[1], KEYS[2])
${WAKE_ONE}
return 0`);

/**
 * A hold to give back with `await using`: `await using held = await lock.hold()`.
 * @example
 * import { connect, type Held } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const lock = cluster.Lock('example:held', { lease: 5 });
 * {
 *   await using held: Held = await lock.hold();
 *   console.log(held.token > 0); // true
 * } // released here
 */
export interface Held extends AsyncDisposable {
  /** The fencing token of this hold. */
  readonly token: number;
}

function checkLease(lease: number): number {
  if (!(lease > 0) || !Number.isFinite(lease)) throw new RangeError(`lease must be a positive number of seconds, got ${lease}`);
  return lease;
}

/** What Lock, RLock and the semaphores share: acquire with waits, hold, a renewal while held. */
abstract class Leased {
  protected readonly conn: RedisConnection;
  readonly name: string;
  /** Seconds a holder keeps it without renewing. */
  readonly lease: number;
  protected readonly wake: string;
  #renewal: { stop(): void } | null = null;

  constructor(conn: RedisConnection, kind: string, name: string, options: LeaseOptions) {
    checkName(name);
    this.conn = conn;
    this.name = name;
    this.lease = checkLease(options.lease ?? DEFAULT_LEASE);
    this.wake = conn.key(kind, name, 'wake');
  }

  /** One attempt: the fencing token when acquired, 0 when not. */
  protected abstract tryAcquire(): Promise<number>;
  /** Renews what this process holds; false when it holds nothing any more. */
  protected abstract renew(): Promise<boolean>;

  /**
   * Acquires, waiting (`block`, `timeout` in seconds) as Python's `acquire`;
   * resolves to true when acquired.
   */
  async acquire({ block = true, timeout = null }: AcquireOptions = {}): Promise<boolean> {
    this.conn.checkOpen();
    const deadline = new Deadline(block ? (timeout === null ? null : Math.max(0, timeout)) : 0);
    for (;;) {
      const token = await this.tryAcquire();
      if (token > 0) {
        this.acquired(token);
        return true;
      }
      if (deadline.expired) return false;
      await this.conn.nap(this.wake, deadline.remaining());
    }
  }

  /**
   * Acquires (waiting at most `timeout` seconds) and returns a hold that
   * releases at the end of an `await using` block.
   * @throws {TimeoutError} when `timeout` passed first.
   */
  async hold({ timeout = null }: HoldOptions = {}): Promise<Held> {
    if (!(await this.acquire({ timeout }))) throw new TimeoutError(`${this} was not acquired within ${timeout} s`);
    const token = this.lastToken;
    return { token, [Symbol.asyncDispose]: () => this.release() };
  }

  /** The token of the latest acquire by this handle. */
  protected lastToken = 0;

  protected acquired(token: number): void {
    this.lastToken = token;
    this.#renewal ??= this.conn.every(this.lease / 3, async () => {
      if (!(await this.renew())) this.stopRenewal();
    });
  }

  protected stopRenewal(): void {
    this.#renewal?.stop();
    this.#renewal = null;
  }

  abstract release(): Promise<void>;

  toString(): string {
    return `<${this.constructor.name} '${this.name}'>`;
  }
}

/**
 * A lock shared by processes on any host: weft's `Lock` on Redis, leased to
 * its holder. Unlike Python's, only the holding process may release it (a
 * lease belongs to someone).
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const lock = cluster.Lock('example:lock', { lease: 10 });
 * {
 *   await using held = await lock.hold({ timeout: 5 });
 *   console.log(held.token === lock.token); // true
 * }
 * console.log(await lock.locked()); // false
 * @throws {ValueError} from `release` when this process does not hold the lock (never acquired, or its lease lapsed).
 */
export class Lock extends Leased {
  readonly #keys: string[];
  #token: number | null = null;

  /** @internal Made by `cluster.Lock(name)`. */
  constructor(conn: RedisConnection, name: string, options: LeaseOptions = {}) {
    super(conn, 'lock', name, options);
    this.#keys = ['owner', 'fence', 'depth', 'wake'].map((p) => conn.key('lock', name, p));
  }

  protected get recursive(): boolean {
    return false;
  }

  /**
   * The fencing token of the current hold: it grows with every acquire of this
   * lock by anyone, so a resource that remembers the highest token it saw can
   * refuse a holder whose lease lapsed. Null when this handle does not hold it.
   */
  get token(): number | null {
    return this.#token;
  }

  protected async tryAcquire(): Promise<number> {
    const args = [this.conn.id, Math.ceil(this.lease * 1000), this.recursive ? '1' : '0'];
    return (await this.conn.run(LOCK_ACQUIRE, this.#keys.slice(0, 3), args)) as number;
  }

  protected override acquired(token: number): void {
    this.#token = token;
    super.acquired(token);
  }

  protected async renew(): Promise<boolean> {
    const ok = (await this.conn.run(LOCK_RENEW, [this.#keys[0]!], [this.conn.id, Math.ceil(this.lease * 1000)])) === 1;
    if (!ok) this.#token = null;
    return ok;
  }

  /** Releases the lock. @throws {ValueError} when this process does not hold it. */
  async release(): Promise<void> {
    this.conn.checkOpen();
    const [owner, , depth, wake] = this.#keys as [string, string, string, string];
    const left = (await this.conn.run(LOCK_RELEASE, [owner, depth, wake], [this.conn.id])) as number;
    if (left === -1) {
      this.#token = null;
      this.stopRenewal();
      throw this.notHeld();
    }
    if (left === 0) {
      this.#token = null;
      this.stopRenewal();
    }
  }

  protected notHeld(): Error {
    return new ValueError(`${this} released but not held by this process (never acquired here, or its lease lapsed)`);
  }

  /** Whether anyone holds it. */
  async locked(): Promise<boolean> {
    this.conn.checkOpen();
    return (await this.conn.client.exists(this.#keys[0]!)) === 1;
  }

  /** Runs `fn` holding the lock and always releases it. */
  async withLock<R>(fn: () => R | Promise<R>): Promise<R> {
    await using _held = await this.hold();
    return await fn();
  }
}

/**
 * A recursive lock: weft's `RLock` on Redis. The process that holds it may
 * acquire it again and must release it as many times.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const rlock = cluster.RLock('example:rlock');
 * await rlock.acquire();
 * await rlock.acquire(); // re-entered, depth 2
 * await rlock.release();
 * await rlock.release();
 * console.log(await rlock.locked()); // false
 * @throws {RuntimeError} from `release` when this process does not hold it ("cannot release un-acquired lock").
 */
export class RLock extends Lock {
  protected override get recursive(): boolean {
    return true;
  }
  protected override notHeld(): Error {
    return new RuntimeError('cannot release un-acquired lock');
  }
}

// KEYS holders, value, fence — ARGV member, lease ms, initial value
const SEM_LIB = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local value = redis.call('GET', KEYS[2])
if not value then redis.call('SET', KEYS[2], ARGV[3]); value = ARGV[3] end
value = tonumber(value)
`;
const SEM_ACQUIRE = new Script(`${SEM_LIB}
if redis.call('ZCARD', KEYS[1]) >= value then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('INCR', KEYS[3])`);
const SEM_RENEW = new Script(`${SEM_LIB}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1`);
// ... and KEYS[4] wake — ARGV[4] '1' when bounded. Releases ARGV[1] if held, else adds a permit.
const SEM_RELEASE = new Script(`${SEM_LIB}
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  if ARGV[4] == '1' then return -1 end
  redis.call('INCR', KEYS[2])
end
${WAKE_ONE}
return 1`);
const SEM_VALUE = new Script(`${SEM_LIB}
return value - redis.call('ZCARD', KEYS[1])`);

/**
 * A counting semaphore: weft's `Semaphore` on Redis. Each permit taken is a
 * lease of its own, renewed while the taker's process lives; `release` gives
 * back the latest permit this handle took, or (as Python's) adds one when it
 * holds none.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const sem = cluster.Semaphore('example:sem', 2);
 * if (await sem.acquire({ timeout: 1 })) await sem.release();
 * console.log(await sem.getValue()); // 2
 */
export class Semaphore extends Leased {
  readonly #keys: string[];
  readonly #initial: number;
  /** Permits this handle holds, latest last. */
  readonly #held: string[] = [];
  #taken = 0;

  /** @internal Made by `cluster.Semaphore(name, value)`. */
  constructor(conn: RedisConnection, name: string, value = 1, options: LeaseOptions = {}) {
    super(conn, 'sem', name, options);
    if (!Number.isInteger(value) || value < 0) throw new ValueError(`semaphore initial value must be a non-negative integer, got ${value}`);
    this.#initial = value;
    this.#keys = ['holders', 'value', 'fence', 'wake'].map((p) => conn.key('sem', name, p));
  }

  protected get bounded(): boolean {
    return false;
  }

  #args(member: string): (string | number)[] {
    return [member, Math.ceil(this.lease * 1000), this.#initial, this.bounded ? '1' : '0'];
  }

  protected async tryAcquire(): Promise<number> {
    const member = `${this.conn.id}:${++this.#taken}`;
    const token = (await this.conn.run(SEM_ACQUIRE, this.#keys.slice(0, 3), this.#args(member))) as number;
    if (token > 0) this.#held.push(member);
    return token;
  }

  protected async renew(): Promise<boolean> {
    for (const member of [...this.#held]) {
      if ((await this.conn.run(SEM_RENEW, this.#keys.slice(0, 3), this.#args(member))) === 0) {
        this.#held.splice(this.#held.indexOf(member), 1);
      }
    }
    return this.#held.length > 0;
  }

  /** Gives back a permit (the latest this handle took; else adds one). @throws {ValueError} for a bounded semaphore above its initial value. */
  async release(): Promise<void> {
    this.conn.checkOpen();
    const member = this.#held.pop() ?? '';
    if (this.#held.length === 0) this.stopRenewal();
    if ((await this.conn.run(SEM_RELEASE, this.#keys, this.#args(member))) === -1) {
      throw new ValueError('Semaphore released too many times');
    }
  }

  /** Permits free now. */
  async getValue(): Promise<number> {
    this.conn.checkOpen();
    return (await this.conn.run(SEM_VALUE, this.#keys.slice(0, 3), this.#args(''))) as number;
  }
}

/**
 * A semaphore that refuses to be released above its initial value: weft's `BoundedSemaphore` on Redis.
 * @example
 * import { ValueError } from 'weft';
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const sem = cluster.BoundedSemaphore('example:bounded', 1);
 * try { await sem.release(); } catch (e) { console.log(e instanceof ValueError); } // true
 * @throws {ValueError} from `release` when no permit is held by this handle.
 */
export class BoundedSemaphore extends Semaphore {
  protected override get bounded(): boolean {
    return true;
  }
}

// KEYS flag, waiters, wake
const EVENT_SET = new Script(`
redis.call('SET', KEYS[1], '1')
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
for i = 1, math.min(n, 1000) do redis.call('LPUSH', KEYS[3], '1') end
redis.call('PEXPIRE', KEYS[3], 1000)
return 1`);

/**
 * An event flag: weft's `Event` on Redis.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const ev = cluster.Event('example:event');
 * await ev.set();
 * console.log(await ev.wait(1)); // true
 * await ev.clear();
 */
export class Event {
  readonly #conn: RedisConnection;
  readonly #keys: string[];
  readonly name: string;

  /** @internal Made by `cluster.Event(name)`. */
  constructor(conn: RedisConnection, name: string) {
    checkName(name);
    this.#conn = conn;
    this.name = name;
    this.#keys = ['flag', 'waiters', 'wake'].map((p) => conn.key('event', name, p));
  }
  async set(): Promise<void> {
    this.#conn.checkOpen();
    await this.#conn.run(EVENT_SET, this.#keys);
  }
  async clear(): Promise<void> {
    this.#conn.checkOpen();
    await this.#conn.client.del(this.#keys[0]!);
  }
  async isSet(): Promise<boolean> {
    this.#conn.checkOpen();
    return (await this.#conn.client.exists(this.#keys[0]!)) === 1;
  }
  /** Resolves to the flag: true once set, false if `timeout` seconds pass first. */
  async wait(timeout: number | null = null): Promise<boolean> {
    const deadline = new Deadline(timeout === null ? null : Math.max(0, timeout));
    const [, waiters, wake] = this.#keys as [string, string, string];
    for (;;) {
      if (await this.isSet()) return true;
      if (deadline.expired) return false;
      await this.#conn.client.incr(waiters);
      try {
        await this.#conn.nap(wake, deadline.remaining());
      } finally {
        await this.#conn.client.decr(waiters);
      }
    }
  }
  toString(): string {
    return `<Event '${this.name}'>`;
  }
}

// KEYS count, gen, broken, wake, resetgen — ARGV parties. Returns {index, generation}; generation -1: this call tripped it.
const BARRIER_ARRIVE = new Script(`
if redis.call('EXISTS', KEYS[3]) == 1 then return {-1, 0} end
local g = tonumber(redis.call('GET', KEYS[2]) or '0')
local c = redis.call('INCR', KEYS[1])
if c >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 0)
  redis.call('INCR', KEYS[2])
  for i = 1, c do redis.call('LPUSH', KEYS[4], '1') end
  redis.call('PEXPIRE', KEYS[4], 1000)
  return {c - 1, -1}
end
return {c - 1, g}`);
const BARRIER_BREAK = new Script(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] == 'reset' then
  redis.call('SET', KEYS[5], redis.call('GET', KEYS[2]) or '0')
  redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], 0)
  redis.call('DEL', KEYS[3])
else
  redis.call('SET', KEYS[3], '1')
end
for i = 1, math.min(n, 1000) do redis.call('LPUSH', KEYS[4], '1') end
redis.call('PEXPIRE', KEYS[4], 1000)
return 1`);

/**
 * A barrier for a fixed number of parties: weft's `Barrier` on Redis, for
 * parties on any host. A `wait` that times out breaks it, as in Python.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const barrier = cluster.Barrier('example:barrier', 2);
 * const [a, b] = await Promise.all([barrier.wait(5), barrier.wait(5)]);
 * console.log(a + b); // 1
 * @throws {BrokenBarrierError} from `wait` when the barrier is aborted, reset or times out.
 */
export class Barrier {
  readonly #conn: RedisConnection;
  readonly #keys: string[];
  readonly name: string;
  readonly #parties: number;

  /** @internal Made by `cluster.Barrier(name, parties)`. */
  constructor(conn: RedisConnection, name: string, parties: number) {
    checkName(name);
    if (!Number.isInteger(parties) || parties < 1) throw new ValueError(`parties must be a positive integer, got ${parties}`);
    this.#conn = conn;
    this.name = name;
    this.#parties = parties;
    this.#keys = ['count', 'gen', 'broken', 'wake', 'resetgen'].map((p) => conn.key('barrier', name, p));
  }
  /** Waits until `parties` have called `wait`; resolves to this party's index (0 … parties - 1). */
  async wait(timeout: number | null = null): Promise<number> {
    this.#conn.checkOpen();
    const deadline = new Deadline(timeout === null ? null : Math.max(0, timeout));
    const [index, gen] = (await this.#conn.run(BARRIER_ARRIVE, this.#keys, [this.#parties])) as [number, number];
    if (index === -1) throw new BrokenBarrierError();
    if (gen === -1) return index;
    const [, genKey, brokenKey, wake, resetKey] = this.#keys as [string, string, string, string, string];
    for (;;) {
      const [now, broken, resetGen] = await this.#conn.client.mget(genKey, brokenKey, resetKey);
      if (Number(now) !== gen) {
        if (Number(resetGen) === gen && resetGen !== null) throw new BrokenBarrierError();
        return index;
      }
      if (broken !== null) throw new BrokenBarrierError();
      if (deadline.expired) {
        await this.abort();
        throw new BrokenBarrierError();
      }
      await this.#conn.nap(wake, deadline.remaining());
    }
  }
  /** Breaks the barrier: waiting and later `wait` calls throw BrokenBarrierError until `reset`. */
  async abort(): Promise<void> {
    this.#conn.checkOpen();
    await this.#conn.run(BARRIER_BREAK, this.#keys, ['abort']);
  }
  /** Back to its empty state; parties waiting now throw BrokenBarrierError. */
  async reset(): Promise<void> {
    this.#conn.checkOpen();
    await this.#conn.run(BARRIER_BREAK, this.#keys, ['reset']);
  }
  async parties(): Promise<number> {
    return this.#parties;
  }
  async nWaiting(): Promise<number> {
    this.#conn.checkOpen();
    return Number((await this.#conn.client.get(this.#keys[0]!)) ?? 0);
  }
  async broken(): Promise<boolean> {
    this.#conn.checkOpen();
    return (await this.#conn.client.exists(this.#keys[2]!)) === 1;
  }
  toString(): string {
    return `<Barrier '${this.name}' parties=${this.#parties}>`;
  }
}
