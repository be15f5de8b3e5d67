/**
 * What the _test_multiprocessing ports share: CPython's timing helpers and its
 * three mixins. CPython installs each test class once per start type —
 * `processes`, `threads` (multiprocessing.dummy) and `manager` — and each
 * mixin hands out that type's Process, Queue, Lock and the rest. weft's
 * equivalents: `processes` is the process context, `threads` the thread
 * context (worker threads, weft's in-process children; the same shared-memory
 * primitives), `manager` a Manager's proxies with process children, as
 * CPython's ManagerMixin.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import {
  Barrier,
  BoundedSemaphore,
  Condition,
  Event,
  JoinableQueue,
  Lock,
  Manager,
  Queue,
  RLock,
  Semaphore,
  type BarrierProxy,
  type ConditionProxy,
  type ContextName,
  type EventProxy,
  type JoinableQueueProxy,
  type LockProxy,
  type QueueProxy,
  type SemaphoreProxy,
  type TaskFunction,
} from 'weft';

export type Variant = 'processes' | 'threads' | 'manager';

/** CPython's TIMEOUT1..3 and DELTA (seconds), as it sets them. */
export const TIMEOUT1 = 0.1;
export const TIMEOUT2 = 0.1;
export const TIMEOUT3 = 0.1;
export const DELTA = 0.1;

/**
 * assertTimingAlmostEqual. CPython checks it only with CHECK_TIMINGS set (off by default: "some calls block a bit
 * longer than expected"); here a wait must never end early (0.1 s of slack, as CPython's), and must end within
 * 5 s of its due time even on a machine loaded many times over, which still catches a wait that ignores its
 * timeout.
 */
export function assertTimingAlmostEqual(seconds: number, expected: number): void {
  assert.ok(seconds >= expected - 0.1 && seconds <= expected + 5, `took ${seconds} s, expected about ${expected}`);
}

/** CPython's TimingWrapper: the result and the seconds it took. */
export async function timed<T>(fn: () => T | Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, (performance.now() - t0) / 1000];
}

export const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

/** `promise`, or an assertion failure after `seconds`: CPython's unbounded waits, bounded (a test must not hang). */
export async function within<T>(seconds: number, promise: Promise<T>, what = 'the wait'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `${what} took more than ${seconds} s` })), seconds * 1000);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Where a variant's children run: CPython's ManagerMixin starts processes. */
export function contextOf(variant: Variant): ContextName {
  return variant === 'threads' ? 'thread' : 'process';
}

/** The queue, lock and event types a test meets, local or proxied: every call awaited works on both. */
export type AnyQueue<T = unknown> = Queue<T> | QueueProxy<T>;
export type AnyJoinableQueue<T = unknown> = JoinableQueue<T> | JoinableQueueProxy<T>;
export type AnyLock = Lock | RLock | LockProxy;
export type AnySemaphore = Semaphore | BoundedSemaphore | SemaphoreProxy;
export type AnyEvent = Event | EventProxy;
export type AnyCondition = Condition | ConditionProxy;
export type AnyBarrier = Barrier | BarrierProxy;

/** A mixin's factories (CPython's `self.Queue`, `self.Lock`...). */
export interface Mixin {
  readonly TYPE: Variant;
  readonly context: ContextName;
  Queue<T = unknown>(maxsize?: number): Promise<AnyQueue<T>>;
  JoinableQueue<T = unknown>(maxsize?: number): Promise<AnyJoinableQueue<T>>;
  Lock(): Promise<AnyLock>;
  RLock(): Promise<AnyLock>;
  Semaphore(value?: number): Promise<AnySemaphore>;
  BoundedSemaphore(value?: number): Promise<AnySemaphore>;
  Event(): Promise<AnyEvent>;
  Condition(): Promise<AnyCondition>;
  Barrier(parties: number, action?: TaskFunction | null, timeout?: number | null): Promise<AnyBarrier>;
}

function localMixin(TYPE: 'processes' | 'threads'): Mixin {
  return {
    TYPE,
    context: contextOf(TYPE),
    Queue: async (maxsize = 0) => new Queue({ maxsize }),
    JoinableQueue: async (maxsize = 0) => new JoinableQueue({ maxsize }),
    Lock: async () => new Lock(),
    RLock: async () => new RLock(),
    Semaphore: async (value = 1) => new Semaphore(value),
    BoundedSemaphore: async (value = 1) => new BoundedSemaphore(value),
    Event: async () => new Event(),
    Condition: async () => new Condition(),
    Barrier: async (parties, action = null, timeout = null) => new Barrier(parties, action, timeout),
  };
}

function managerMixin(manager: () => Manager): Mixin {
  return {
    TYPE: 'manager',
    context: 'process',
    Queue: (maxsize = 0) => manager().Queue(maxsize),
    JoinableQueue: (maxsize = 0) => manager().JoinableQueue(maxsize),
    Lock: () => manager().Lock(),
    RLock: () => manager().RLock(),
    Semaphore: (value = 1) => manager().Semaphore(value),
    BoundedSemaphore: (value = 1) => manager().BoundedSemaphore(value),
    Event: () => manager().Event(),
    Condition: () => manager().Condition(),
    Barrier: (parties, action = null, timeout = null) => manager().Barrier(parties, action, timeout),
  };
}

/**
 * The mixins of `allowed` (CPython's ALLOWED_TYPES). A manager is started
 * once for the file, before its tests, and shut down after them (CPython's
 * ManagerMixin.setUpClass/tearDownClass); `manager()` gives it to tests.
 */
export function mixins(allowed: readonly Variant[]): { all: Mixin[]; manager: () => Manager } {
  let started: Manager | null = null;
  const manager = () => {
    assert.ok(started, 'the manager is started before the tests run');
    return started;
  };
  if (allowed.includes('manager')) {
    before(async () => {
      started = await Manager.start();
    });
    after(async () => {
      await started?.shutdown();
    });
  }
  const all = allowed.map((TYPE) => (TYPE === 'manager' ? managerMixin(manager) : localMixin(TYPE)));
  return { all, manager };
}
