/**
 * The waiting types a manager serves — `Queue`, `JoinableQueue`, `Lock`,
 * `RLock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`, `Barrier` —
 * the server half of what CPython's `SyncManager` registers (there, `queue.Queue`
 * and `threading` objects living in the server). Here they are small async
 * objects on the server's event loop: a waiting call is a pending promise, not
 * a blocked thread. Owners are connections (one per client process), and a
 * connection that closes gives back what it held: its locks are released and
 * its waits withdrawn, so a dead client cannot wedge the others.
 * Timeouts are in seconds; `null` waits for ever.
 * @module
 */
import { Empty, Full, RuntimeError, ValueError } from '../errors.js';
import type { CallContext, TypeSpec } from './manager_types.js';
import { taskOf } from './manager_pool.js';
import { BrokenBarrierError } from './synchronize.js';
import type { TaskFunction } from './task.js';

export { BrokenBarrierError };

function seconds(timeout: unknown): number | null {
  if (timeout === undefined || timeout === null) return null;
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) throw new TypeError(`timeout must be a number of seconds or null, got ${typeof timeout}`);
  return Math.max(0, timeout);
}

/**
 * Parks a call until `grant` is called or `timeout` passes (then `expire`'s
 * value); withdrawn silently if the caller's connection closes.
 */
export function park<T>(ctx: CallContext, timeout: unknown, queue: Waiter<T>[], expire: () => T, extra?: Partial<Waiter<T>>): Promise<T> {
  const limit = seconds(timeout);
  return new Promise<T>((resolve, reject) => {
    const w: Waiter<T> = {
      conn: ctx.conn,
      grant: (v) => {
        done();
        resolve(v);
      },
      fail: (e) => {
        done();
        reject(e);
      },
      ...extra,
    };
    const timer = limit === null ? undefined : setTimeout(() => {
      done();
      try {
        resolve(expire());
      } catch (err) {
        reject(err);
      }
    }, limit * 1000);
    const off = ctx.onClose(() => done());
    const done = () => {
      clearTimeout(timer);
      off();
      const i = queue.indexOf(w);
      if (i >= 0) queue.splice(i, 1);
    };
    queue.push(w);
  });
}

/** A parked call: what `grant` or `fail` settles. */
export interface Waiter<T> {
  conn: number;
  grant(v: T): void;
  fail(e: Error): void;
  item?: unknown;
  ctx?: CallContext;
}

/** Lock and RLock: an owner connection and a recursion count. */
class SLock {
  owner: number | null = null;
  count = 0;
  readonly waiters: Waiter<boolean>[] = [];
  #offClose: (() => void) | null = null;
  constructor(readonly recursive: boolean) {}

  #take(ctx: CallContext): void {
    this.owner = ctx.conn;
    this.count = 1;
    this.#offClose = ctx.onClose(() => {
      if (this.owner === ctx.conn) this.#handoff();
    });
  }

  #handoff(): void {
    this.#offClose?.();
    this.#offClose = null;
    this.owner = null;
    this.count = 0;
    // Hand the lock straight to the first waiter, so no later caller can slip in before it runs.
    const next = this.waiters[0];
    if (next) {
      this.#take(next.ctx!);
      next.grant(true);
    }
  }

  acquire(ctx: CallContext, blocking: unknown = true, timeout: unknown = null): boolean | Promise<boolean> {
    if (this.owner === null) {
      this.#take(ctx);
      return true;
    }
    if (this.recursive && this.owner === ctx.conn) {
      this.count++;
      return true;
    }
    if (blocking === false) return false;
    return park(ctx, timeout, this.waiters, () => false, { ctx });
  }

  release(ctx: CallContext): void {
    if (this.owner === null) throw new RuntimeError(this.recursive ? 'cannot release un-acquired lock' : 'release unlocked lock');
    if (this.recursive && this.owner !== ctx.conn) throw new RuntimeError('cannot release un-acquired lock');
    if (--this.count > 0) return;
    this.#handoff();
  }

  /** For Condition.wait: gives the lock away entirely and returns the count to restore. */
  releaseAll(ctx: CallContext): number {
    if (this.owner !== ctx.conn) throw new RuntimeError('cannot wait on un-acquired lock');
    const n = this.count;
    this.#handoff();
    return n;
  }

  async restore(ctx: CallContext, n: number): Promise<void> {
    await this.acquire(ctx, true, null);
    this.count += n - 1; // re-entrant: another task of the same client may hold it meanwhile
  }
}

function lockSpec(recursive: boolean): TypeSpec {
  return {
    create: () => new SLock(recursive),
    methods: {
      acquire: (l: SLock, [blocking, timeout], ctx) => l.acquire(ctx, blocking, timeout),
      release: (l: SLock, _a, ctx) => l.release(ctx),
      locked: (l: SLock) => l.owner !== null,
    },
  };
}

class SSemaphore {
  readonly waiters: Waiter<boolean>[] = [];
  constructor(public value: number, readonly bound: number | null) {}
}

function semaphoreSpec(bounded: boolean): TypeSpec {
  return {
    create([value = 1]) {
      if (!Number.isInteger(value) || (value as number) < 0) throw new ValueError('semaphore initial value must be >= 0');
      return new SSemaphore(value as number, bounded ? (value as number) : null);
    },
    methods: {
      acquire: (s: SSemaphore, [blocking, timeout], ctx) => {
        if (s.value > 0) {
          s.value--;
          return true;
        }
        if (blocking === false) return false;
        return park(ctx, timeout, s.waiters, () => false);
      },
      release: (s: SSemaphore, [n = 1]) => {
        if (!Number.isInteger(n) || (n as number) < 1) throw new ValueError('n must be one or more');
        for (let i = 0; i < (n as number); i++) {
          if (s.bound !== null && s.value + 1 > s.bound) throw new ValueError('Semaphore released too many times');
          const w = s.waiters[0];
          if (w) w.grant(true);
          else s.value++;
        }
      },
      getValue: (s: SSemaphore) => s.value,
    },
  };
}

class SEvent {
  flag = false;
  readonly waiters: Waiter<boolean>[] = [];
}

const eventSpec: TypeSpec = {
  create: () => new SEvent(),
  methods: {
    set: (e: SEvent) => {
      e.flag = true;
      for (const w of [...e.waiters]) w.grant(true);
    },
    clear: (e: SEvent) => void (e.flag = false),
    isSet: (e: SEvent) => e.flag,
    wait: (e: SEvent, [timeout], ctx) => (e.flag ? true : park(ctx, timeout, e.waiters, () => e.flag)),
  },
};

class SCondition {
  readonly lock = new SLock(true);
  readonly waiters: Waiter<boolean>[] = [];
}

const conditionSpec: TypeSpec = {
  create: () => new SCondition(),
  methods: {
    acquire: (c: SCondition, [blocking, timeout], ctx) => c.lock.acquire(ctx, blocking, timeout),
    release: (c: SCondition, _a, ctx) => c.lock.release(ctx),
    locked: (c: SCondition) => c.lock.owner !== null,
    wait: async (c: SCondition, [timeout], ctx) => {
      const saved = c.lock.releaseAll(ctx);
      const notified = await park(ctx, timeout, c.waiters, () => false);
      await c.lock.restore(ctx, saved);
      return notified;
    },
    notify: (c: SCondition, [n = 1], ctx) => {
      if (c.lock.owner !== ctx.conn) throw new RuntimeError('cannot notify on un-acquired lock');
      for (const w of c.waiters.slice(0, n as number)) w.grant(true);
    },
    notifyAll: (c: SCondition, _a, ctx) => {
      if (c.lock.owner !== ctx.conn) throw new RuntimeError('cannot notify on un-acquired lock');
      for (const w of [...c.waiters]) w.grant(true);
    },
  },
};

class SBarrier {
  count = 0;
  broken = false;
  readonly waiters: Waiter<number>[] = [];
  constructor(
    readonly parties: number,
    readonly timeout: number | null,
    /** Python's `action`: a task the server imports as a served Pool does, run when the barrier trips. */
    readonly action: Promise<TaskFunction> | null,
  ) {}
  breakAll(): void {
    this.broken = true;
    this.count = 0;
    for (const w of [...this.waiters]) w.fail(new BrokenBarrierError());
  }
}

const barrierSpec: TypeSpec = {
  create([parties, action, timeout]) {
    if (!Number.isInteger(parties) || (parties as number) < 1) throw new ValueError('parties must be > 0');
    const limit = seconds(timeout);
    const load = action === null || action === undefined ? null : taskOf(action, 'Barrier action');
    load?.catch(() => {}); // a module that fails to import fails the wait that trips the barrier, not the server
    return new SBarrier(parties as number, limit, load);
  },
  methods: {
    wait: (b: SBarrier, [timeout], ctx) => {
      if (b.broken) throw new BrokenBarrierError();
      const index = b.count++;
      if (b.count === b.parties) {
        b.count = 0;
        const release = () => {
          for (const w of [...b.waiters]) w.grant(0);
          return index;
        };
        if (!b.action) return release();
        // As threading.Barrier: the last party runs the action before anyone goes on;
        // if it throws, that party gets the error and the others BrokenBarrierError.
        return b.action.then((fn) => fn()).then(release, (err: unknown) => {
          b.breakAll();
          throw err;
        });
      }
      const limit = timeout === undefined || timeout === null ? b.timeout : timeout;
      return park(ctx, limit, b.waiters, () => {
        b.breakAll();
        throw new BrokenBarrierError();
      }).then(() => index);
    },
    abort: (b: SBarrier) => b.breakAll(),
    reset: (b: SBarrier) => {
      if (b.waiters.length) b.breakAll();
      b.broken = false;
      b.count = 0;
    },
    parties: (b: SBarrier) => b.parties,
    nWaiting: (b: SBarrier) => b.waiters.length,
    broken: (b: SBarrier) => b.broken,
  },
};

class SQueue {
  items: unknown[] = [];
  head = 0;
  unfinished = 0;
  readonly getters: Waiter<unknown>[] = [];
  readonly putters: Waiter<null>[] = [];
  readonly joiners: Waiter<null>[] = [];
  constructor(readonly maxsize: number) {}
  get size(): number {
    return this.items.length - this.head;
  }
  full(): boolean {
    return this.maxsize > 0 && this.size >= this.maxsize;
  }
  shift(): unknown {
    const v = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
}

function put(q: SQueue, item: unknown): void {
  q.unfinished++;
  const getter = q.getters[0];
  if (getter) getter.grant(item);
  else q.items.push(item);
}

function take(q: SQueue): unknown {
  const v = q.shift();
  const putter = q.putters[0];
  if (putter) {
    put(q, putter.item);
    putter.grant(null);
  }
  return v;
}

function queueSpec(joinable: boolean): TypeSpec {
  const methods: TypeSpec['methods'] = {
    put: (q: SQueue, [item, block, timeout], ctx) => {
      if (!q.full()) return put(q, item);
      if (block === false) throw new Full();
      return park<null>(ctx, timeout, q.putters, () => {
        throw new Full();
      }, { item });
    },
    get: (q: SQueue, [block, timeout], ctx) => {
      if (q.size > 0) return take(q);
      if (block === false) throw new Empty();
      return park<unknown>(ctx, timeout, q.getters, () => {
        throw new Empty();
      });
    },
    qsize: (q: SQueue) => q.size,
    empty: (q: SQueue) => q.size === 0,
    full: (q: SQueue) => q.full(),
  };
  if (joinable) {
    methods.taskDone = (q: SQueue) => {
      if (q.unfinished <= 0) throw new ValueError('task_done() called too many times');
      if (--q.unfinished === 0) for (const w of [...q.joiners]) w.grant(null);
    };
    methods.join = (q: SQueue, _a, ctx) => (q.unfinished === 0 ? null : park<null>(ctx, null, q.joiners, () => null));
  }
  return {
    create([maxsize = 0]) {
      if (typeof maxsize !== 'number') throw new TypeError('maxsize must be a number');
      return new SQueue(maxsize);
    },
    methods,
  };
}

/** The waiting types, by typeid. */
export const syncTypes: Record<string, TypeSpec> = {
  Queue: queueSpec(false),
  JoinableQueue: queueSpec(true),
  Lock: lockSpec(false),
  RLock: lockSpec(true),
  Semaphore: semaphoreSpec(false),
  BoundedSemaphore: semaphoreSpec(true),
  Event: eventSpec,
  Condition: conditionSpec,
  Barrier: barrierSpec,
};
