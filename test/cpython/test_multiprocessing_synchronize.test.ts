/**
 * CPython 3.11's Lib/test/_test_multiprocessing.py: its _TestLock,
 * _TestSemaphore, _TestCondition, _TestEvent and _TestBarrier classes, ported
 * with their test names and run under the processes, threads and manager
 * variants as CPython installs them (see mp_support.ts for what each variant
 * is in weft). Differences from the original, each for the reason given:
 * - `acquire()` is async (it must not block Node's event loop); `acquire(False)` is `acquire({ block: false })`;
 *   every call is awaited, so one body serves local objects and a manager's proxies.
 * - `with lock:` is `using _ = await lock.hold()` (a proxy: acquire/release).
 * - The `threading.Thread` CPython starts beside a Process in _TestCondition is a thread-context Process: a
 *   weft realm runs one thread of JavaScript, and its in-process concurrency (async functions) is not a thread.
 * - check_invariant reads CPython's semaphore internals (_sleeping_count...): weft's Condition has none; not ported.
 * - test_bounded_semaphore: CPython keeps the over-release check commented out
 *   ("Currently fails on OS/X"); weft raises ValueError there, so it is asserted.
 * - test_wait_result: the second half sends SIGINT to raise KeyboardInterrupt inside `wait`, a Python-only
 *   mechanism (Node has no KeyboardInterrupt; a signal runs a handler on the event loop); the first half is ported.
 * - test_repr (_TestEvent): weft prints `<Event at 0x... set>` as Python's processes do; a manager's proxies print
 *   `<EventProxy object, typeid 'Event' at ...>` in Python, weft's print their own form (asserted as is).
 * - _TestBarrier: Bunch's N-1 helpers are Processes that run `f` and are joined (CPython waits on a shared
 *   `finished` list, the same thing); sleeps of 1.0 s/0.5 s are halved; test_thousand makes 100 passes, not
 *   1,000 (each pass wakes five realms: 1,000 cost seconds on two cores), and each child sends on a Pipe of
 *   its own (a weft Pipe end is handed to one child). A Barrier's action, which Python
 *   pickles, is a task() here: it appends to a file all realms see, as AppendTrue appends to a shared list.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { Event, Pipe, Process, Value, ValueError, type Connection, type TaskFunction } from 'weft';
import {
  DELTA,
  TIMEOUT1,
  TIMEOUT2,
  TIMEOUT3,
  assertTimingAlmostEqual,
  mixins,
  sleep,
  timed,
  within,
  type AnySemaphore,
  type Mixin,
  type Variant,
} from './mp_support.js';
import * as t from './fixtures/mp_tasks.js';

const actionDir = mkdtempSync(join(tmpdir(), 'weft-barrier-action-'));
process.env.WEFT_TEST_BARRIER_ACTION_FILE = join(actionDir, 'results');
after(() => rmSync(actionDir, { recursive: true, force: true }));

const ALL: Variant[] = ['processes', 'threads', 'manager'];
const { all, manager } = mixins(ALL);

/** A Process of the variant, started as a daemon (CPython sets `p.daemon = True` in these tests). */
function start<F extends TaskFunction>(m: Mixin, target: F, args: Parameters<F>, context = m.context): Process<F> {
  const p = new Process({ target, args, context, daemon: true });
  p.start();
  return p;
}

async function joinAll(ps: Process[]): Promise<void> {
  for (const p of ps) {
    await p.join(30);
    assert.equal(p.exitCode, 0, `${p} ended with ${p.exitCode}`);
  }
}

describe('_TestLock', () => {
  for (const m of all) {
    test(`test_lock (${m.TYPE})`, async () => {
      const lock = await m.Lock();
      assert.equal(await lock.acquire(), true);
      assert.equal(await lock.acquire({ block: false }), false);
      assert.equal(await lock.release(), undefined);
      // CPython: assertRaises((ValueError, threading.ThreadError), lock.release)
      await assert.rejects(async () => lock.release(), (e: unknown) => e instanceof ValueError || (e instanceof Error && e.name === 'RuntimeError'));
    });

    test(`test_rlock (${m.TYPE})`, async () => {
      const lock = await m.RLock();
      assert.equal(await lock.acquire(), true);
      assert.equal(await lock.acquire(), true);
      assert.equal(await lock.acquire(), true);
      assert.equal(await lock.release(), undefined);
      assert.equal(await lock.release(), undefined);
      assert.equal(await lock.release(), undefined);
      await assert.rejects(async () => lock.release(), (e: unknown) => e instanceof Error && e.name === 'RuntimeError');
    });

    test(`test_lock_context (${m.TYPE})`, async () => {
      const lock = await m.Lock();
      if ('hold' in lock) {
        using _held = await lock.hold();
      } else {
        await lock.withLock(() => {});
      }
      assert.equal(await lock.acquire({ block: false }), true, 'the context did not release the lock');
      await lock.release();
    });
  }
});

describe('_TestSemaphore', () => {
  async function testSemaphore(sem: AnySemaphore): Promise<void> {
    assert.equal(await sem.getValue(), 2);
    assert.equal(await sem.acquire(), true);
    assert.equal(await sem.getValue(), 1);
    assert.equal(await sem.acquire(), true);
    assert.equal(await sem.getValue(), 0);
    assert.equal(await sem.acquire({ block: false }), false);
    assert.equal(await sem.getValue(), 0);
    assert.equal(await sem.release(), undefined);
    assert.equal(await sem.getValue(), 1);
    assert.equal(await sem.release(), undefined);
    assert.equal(await sem.getValue(), 2);
  }

  for (const m of all) {
    test(`test_semaphore (${m.TYPE})`, async () => {
      const sem = await m.Semaphore(2);
      await testSemaphore(sem);
      assert.equal(await sem.release(), undefined);
      assert.equal(await sem.getValue(), 3);
      assert.equal(await sem.release(), undefined);
      assert.equal(await sem.getValue(), 4);
    });

    test(`test_bounded_semaphore (${m.TYPE})`, async () => {
      const sem = await m.BoundedSemaphore(2);
      await testSemaphore(sem);
      await assert.rejects(async () => sem.release(), ValueError);
      assert.equal(await sem.getValue(), 2);
    });

    test(`test_timeout (${m.TYPE})`, async () => {
      const sem = await m.Semaphore(0);
      let [got, elapsed] = await timed(() => sem.acquire({ block: false }));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, 0.0);
      [got, elapsed] = await timed(() => sem.acquire({ block: false, timeout: null }));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, 0.0);
      [got, elapsed] = await timed(() => sem.acquire({ block: false, timeout: TIMEOUT1 }));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, 0);
      [got, elapsed] = await timed(() => sem.acquire({ block: true, timeout: TIMEOUT2 }));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, TIMEOUT2);
      [got, elapsed] = await timed(() => sem.acquire({ timeout: TIMEOUT3 }));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, TIMEOUT3);
    });
  }
});

describe('_TestCondition', () => {
  /** CPython's assertReachesEventually: up to ten DELTAs for `get()` to give `value`. */
  async function assertReachesEventually(get: () => Promise<number>, value: number): Promise<void> {
    for (let i = 0; i < 10 && (await get()) !== value; i++) await sleep(DELTA);
    await sleep(DELTA);
    assert.equal(await get(), value);
  }

  for (const m of all) {
    /** A Process and a "thread" (a thread-context Process) running f, as CPython starts them in pairs. */
    function startPair(args: Parameters<typeof t.conditionF>): Process[] {
      return [start(m, t.conditionF, args), start(m, t.conditionF, args, 'thread')];
    }

    test(`test_notify (${m.TYPE})`, async () => {
      const cond = await m.Condition();
      const sleeping = await m.Semaphore(0);
      const woken = await m.Semaphore(0);
      const ps = startPair([cond, sleeping, woken]);
      assert.equal(await sleeping.acquire({ timeout: 30 }), true);
      assert.equal(await sleeping.acquire({ timeout: 30 }), true);
      await sleep(DELTA);
      assert.equal(await woken.getValue(), 0);
      await cond.acquire();
      await cond.notify();
      await cond.release();
      await assertReachesEventually(() => Promise.resolve(woken.getValue()), 1);
      await cond.acquire();
      await cond.notify();
      await cond.release();
      await assertReachesEventually(() => Promise.resolve(woken.getValue()), 2);
      await joinAll(ps);
    });

    test(`test_notify_all (${m.TYPE})`, async () => {
      const cond = await m.Condition();
      const sleeping = await m.Semaphore(0);
      const woken = await m.Semaphore(0);
      const ps: Process[] = [];
      for (let i = 0; i < 3; i++) ps.push(...startPair([cond, sleeping, woken, TIMEOUT1]));
      for (let i = 0; i < 6; i++) assert.equal(await sleeping.acquire({ timeout: 30 }), true);
      for (let i = 0; i < 6; i++) assert.equal(await woken.acquire({ timeout: 30 }), true);
      assert.equal(await woken.getValue(), 0);
      for (let i = 0; i < 3; i++) ps.push(...startPair([cond, sleeping, woken]));
      for (let i = 0; i < 6; i++) assert.equal(await sleeping.acquire({ timeout: 30 }), true);
      await sleep(DELTA);
      assert.equal(await woken.getValue(), 0);
      await cond.acquire();
      await cond.notifyAll();
      await cond.release();
      await assertReachesEventually(() => Promise.resolve(woken.getValue()), 6);
      await joinAll(ps);
    });

    test(`test_notify_n (${m.TYPE})`, async () => {
      const cond = await m.Condition();
      const sleeping = await m.Semaphore(0);
      const woken = await m.Semaphore(0);
      const ps: Process[] = [];
      for (let i = 0; i < 3; i++) ps.push(...startPair([cond, sleeping, woken]));
      for (let i = 0; i < 6; i++) assert.equal(await sleeping.acquire({ timeout: 30 }), true);
      await sleep(DELTA);
      assert.equal(await woken.getValue(), 0);
      await cond.acquire();
      await cond.notify(2);
      await cond.release();
      await assertReachesEventually(() => Promise.resolve(woken.getValue()), 2);
      await cond.acquire();
      await cond.notify(4);
      await cond.release();
      await assertReachesEventually(() => Promise.resolve(woken.getValue()), 6);
      await cond.acquire();
      await cond.notify(3);
      await cond.release();
      assert.equal(await woken.getValue(), 6);
      await joinAll(ps);
    });

    test(`test_timeout (${m.TYPE})`, async () => {
      const cond = await m.Condition();
      await cond.acquire();
      const [res, elapsed] = await timed(() => cond.wait(TIMEOUT1));
      await cond.release();
      assert.equal(res, false);
      assertTimingAlmostEqual(elapsed, TIMEOUT1);
    });

    /** `self.Value('i', v)`: a shared Value, or the manager's. */
    async function newValue(v: number): Promise<t.AnyValue> {
      return m.TYPE === 'manager' ? manager().Value('i', v) : new Value('i', v);
    }

    test(`test_waitfor (${m.TYPE})`, async () => {
      const cond = await m.Condition();
      const state = await newValue(-1);
      const p = start(m, t.testWaitforF, [cond, state]);
      await cond.acquire();
      try {
        assert.ok(await t.waitForValue(cond, state, 0));
        assert.equal(await t.getValue(state), 0);
      } finally {
        await cond.release();
      }
      for (let i = 0; i < 4; i++) {
        await sleep(0.01);
        await cond.acquire();
        await t.setValue(state, (await t.getValue(state)) + 1);
        await cond.notify();
        await cond.release();
      }
      await p.join(30);
      assert.equal(p.exitCode, 0);
    });

    test(`test_waitfor_timeout (${m.TYPE})`, async () => {
      const cond = await m.Condition();
      const state = await newValue(0);
      const success = await newValue(0);
      const sem = await m.Semaphore(0);
      const p = start(m, t.testWaitforTimeoutF, [cond, state, success, sem]);
      assert.equal(await sem.acquire({ timeout: 30 }), true);
      for (let i = 0; i < 3; i++) {
        await sleep(0.01);
        await cond.acquire();
        await t.setValue(state, (await t.getValue(state)) + 1);
        await cond.notify();
        await cond.release();
      }
      await p.join(30);
      assert.equal(await t.getValue(success), 1);
    });

    test(`test_wait_result (${m.TYPE})`, async () => {
      const c = await m.Condition();
      await c.acquire();
      try {
        assert.equal(await c.wait(0), false);
        assert.equal(await c.wait(0.1), false);
        const p = start(m, t.testWaitResult, [c]);
        assert.equal(await c.wait(60), true);
        await p.join(30);
      } finally {
        await c.release();
      }
    });
  }
});

describe('_TestEvent', () => {
  for (const m of all) {
    test(`test_event (${m.TYPE})`, async () => {
      const event = await m.Event();
      assert.equal(await event.isSet(), false);
      let [got, elapsed] = await timed(() => event.wait(0.0));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, 0.0);
      [got, elapsed] = await timed(() => event.wait(TIMEOUT1));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, TIMEOUT1);
      await event.set();
      assert.equal(await event.isSet(), true);
      [got, elapsed] = await timed(() => event.wait());
      assert.equal(got, true);
      assertTimingAlmostEqual(elapsed, 0.0);
      [got, elapsed] = await timed(() => event.wait(TIMEOUT1));
      assert.equal(got, true);
      assertTimingAlmostEqual(elapsed, 0.0);
      await event.clear();
      const p = start(m, t.testEvent, [event]);
      assert.equal(await event.wait(30), true); // CPython waits forever; bounded here
      await p.join(30);
      assert.equal(p.exitCode, 0);
    });

    test(`test_repr (${m.TYPE})`, async () => {
      const event = await m.Event();
      if (event instanceof Event) {
        assert.match(String(event), /^<Event at .* unset>$/);
        event.set();
        assert.match(String(event), /^<Event at .* set>$/);
        event.clear();
        assert.match(String(event), /^<Event at .* unset>$/);
      } else {
        const shown = String(event);
        await event.set();
        assert.equal(String(event), shown, "a proxy's repr does not change with the referent's state");
      }
    });
  }
});

describe('_TestBarrier', () => {
  const N = t.N;
  const defaultTimeout = 30.0;

  for (const m of all) {
    /** CPython's DummyList: a list the Barrier's parties append to, in every process. */
    async function DummyList(): Promise<t.DummyList> {
      return m.TYPE === 'manager' ? manager().list<boolean>() : new Value('i', 0);
    }

    /** setUp's barrier; tearDown aborts it. */
    async function withBarrier(fn: (barrier: Awaited<ReturnType<Mixin['Barrier']>>) => Promise<void>): Promise<void> {
      const barrier = await m.Barrier(N, null, defaultTimeout);
      try {
        await fn(barrier);
      } finally {
        await barrier.abort();
      }
    }

    /** run_threads: f in N-1 children and here, all finished before it returns. */
    async function runThreads<F extends TaskFunction>(f: F, args: Parameters<F>): Promise<void> {
      const ps = Array.from({ length: N - 1 }, () => start(m, f, args));
      try {
        await within(60, Promise.resolve(f(...args)), 'the party run here');
      } finally {
        await joinAll(ps);
      }
    }

    for (const passes of [1, 10]) {
      test(`${passes === 1 ? 'test_barrier' : 'test_barrier_10'} (${m.TYPE})`, () =>
        withBarrier(async (barrier) => {
          const results: [t.DummyList, t.DummyList] = [await DummyList(), await DummyList()];
          await runThreads(t.multipass, [barrier, results, passes]);
        }));
    }

    test(`test_wait_return (${m.TYPE})`, () =>
      withBarrier(async (barrier) => {
        const queue = await m.Queue<number>();
        await runThreads(t.testWaitReturnF, [barrier, queue]);
        const results: number[] = [];
        for (let i = 0; i < N; i++) results.push(await queue.get({ timeout: 30 }));
        assert.equal(results.filter((r) => r === 0).length, 1);
      }));

    test(`test_action (${m.TYPE})`, async () => {
      writeFileSync(process.env.WEFT_TEST_BARRIER_ACTION_FILE!, '');
      const barrier = await m.Barrier(N, t.appendTrue);
      await runThreads(t.testActionF, [barrier]);
      assert.equal(await t.actionResults(), 1);
    });

    test(`test_abort (${m.TYPE})`, () =>
      withBarrier(async (barrier) => {
        const results1 = await DummyList();
        const results2 = await DummyList();
        await runThreads(t.testAbortF, [barrier, results1, results2]);
        assert.equal(await t.len(results1), 0);
        assert.equal(await t.len(results2), N - 1);
        assert.equal(await t.broken(barrier), true);
      }));

    test(`test_reset (${m.TYPE})`, () =>
      withBarrier(async (barrier) => {
        const [results1, results2, results3] = [await DummyList(), await DummyList(), await DummyList()];
        await runThreads(t.testResetF, [barrier, results1, results2, results3]);
        assert.equal(await t.len(results1), 0);
        assert.equal(await t.len(results2), N - 1);
        assert.equal(await t.len(results3), N);
      }));

    test(`test_abort_and_reset (${m.TYPE})`, () =>
      withBarrier(async (barrier) => {
        const [results1, results2, results3] = [await DummyList(), await DummyList(), await DummyList()];
        const barrier2 = await m.Barrier(N);
        await runThreads(t.testAbortAndResetF, [barrier, barrier2, results1, results2, results3]);
        assert.equal(await t.len(results1), 0);
        assert.equal(await t.len(results2), N - 1);
        assert.equal(await t.len(results3), N);
      }));

    test(`test_timeout (${m.TYPE})`, () =>
      withBarrier(async (barrier) => {
        const results = await DummyList();
        await runThreads(t.testTimeoutF, [barrier, results]);
        assert.equal(await t.len(results), await t.parties(barrier));
      }));

    test(`test_default_timeout (${m.TYPE})`, async () => {
      const barrier = await m.Barrier(N, null, 0.25);
      const results = await DummyList();
      await runThreads(t.testDefaultTimeoutF, [barrier, results]);
      assert.equal(await t.len(results), await t.parties(barrier));
    });

    test(`test_single_thread (${m.TYPE})`, async () => {
      const b = await m.Barrier(1);
      await b.wait();
      await b.wait();
    });

    if (m.TYPE !== 'manager') {
      // CPython: "test not appropriate for manager"
      test(`test_thousand (${m.TYPE})`, () =>
        withBarrier(async (barrier) => {
          const passes = 100;
          const lock = await m.Lock();
          // a Pipe end goes to one child: each child gets its own pipe, read in turn
          const pipes: [Connection, Connection][] = Array.from({ length: N }, () => Pipe({ duplex: false }));
          const ps = pipes.map(([, w]) => start(m, t.testThousandF, [barrier, passes, w, lock]));
          for (let i = 0; i < passes; i++) {
            for (const [r] of pipes) assert.equal(await r.recv(), i);
          }
          await joinAll(ps);
        }));
    }
  }
});
