/**
 * CPython 3.11's Lib/test/_test_multiprocessing.py: its _TestQueue class,
 * ported with its test names, under the processes, threads and manager
 * variants as CPython runs it. Differences from the original, each for the
 * reason given:
 * - `put(obj, block, timeout)` and `get(block, timeout)` take `{ block, timeout }`; every call is awaited, so one
 *   body serves local queues and a manager's proxies.
 * - test_queue_feeder_donot_stop_onexc: weft refuses an unsendable object at `put()` (UnsendableError, naming
 *   its path) instead of failing later in a feeder thread; the test asserts that and that the queue and its size
 *   stay right afterwards, which is what CPython checks.
 * - Not ported: test_no_import_lock_contention (Python's import lock; an ES module import takes no lock a queue
 *   could contend for) and test_queue_feeder_on_queue_feeder_error (the `_on_queue_feeder_error` hook of
 *   Python's feeder thread, which weft does not have: the error reaches the caller of `put()`).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Empty, Full, JoinableQueue, Process, Queue, UnsendableError, ValueError, type TaskFunction } from 'weft';
import { DELTA, TIMEOUT1, TIMEOUT2, TIMEOUT3, assertTimingAlmostEqual, mixins, sleep, timed, within, type Mixin } from './mp_support.js';
import * as t from './fixtures/mp_tasks.js';

const { all } = mixins(['processes', 'threads', 'manager']);

function start<F extends TaskFunction>(m: Mixin, target: F, args: Parameters<F>): Process<F> {
  const p = new Process({ target, args, context: m.context, daemon: true });
  p.start();
  return p;
}

/** The elapsed time of a call that must throw `error`. */
async function timedRejects(fn: () => unknown, error: new (...args: never[]) => Error): Promise<number> {
  const [, elapsed] = await timed(() => assert.rejects(async () => fn(), error));
  return elapsed;
}

describe('_TestQueue', () => {
  for (const m of all) {
    test(`test_put (${m.TYPE})`, async () => {
      const MAXSIZE = 6;
      const queue = await m.Queue<number>(MAXSIZE);
      const childCanStart = await m.Event();
      const parentCanContinue = await m.Event();
      const proc = start(m, t.testPut, [queue, childCanStart, parentCanContinue]);
      assert.equal(await queue.empty(), true);
      assert.equal(await queue.full(), false);
      await queue.put(1);
      await queue.put(2, { block: true });
      await queue.put(3, { block: true, timeout: null });
      await queue.put(4, { block: false });
      await queue.put(5, { block: false, timeout: null });
      await queue.putNowait(6);
      await sleep(DELTA);
      assert.equal(await queue.empty(), false);
      assert.equal(await queue.full(), true);
      assertTimingAlmostEqual(await timedRejects(() => queue.put(7, { block: false }), Full), 0);
      assertTimingAlmostEqual(await timedRejects(() => queue.put(7, { block: false, timeout: null }), Full), 0);
      assertTimingAlmostEqual(await timedRejects(() => queue.putNowait(7), Full), 0);
      assertTimingAlmostEqual(await timedRejects(() => queue.put(7, { block: true, timeout: TIMEOUT1 }), Full), TIMEOUT1);
      assertTimingAlmostEqual(await timedRejects(() => queue.put(7, { block: false, timeout: TIMEOUT2 }), Full), 0);
      assertTimingAlmostEqual(await timedRejects(() => queue.put(7, { timeout: TIMEOUT3 }), Full), TIMEOUT3);
      await childCanStart.set();
      assert.equal(await parentCanContinue.wait(30), true);
      assert.equal(await queue.empty(), true);
      assert.equal(await queue.full(), false);
      await proc.join(30);
      assert.equal(proc.exitCode, 0);
    });

    test(`test_get (${m.TYPE})`, async () => {
      const queue = await m.Queue<number>();
      const childCanStart = await m.Event();
      const parentCanContinue = await m.Event();
      const proc = start(m, t.testGet, [queue, childCanStart, parentCanContinue]);
      assert.equal(await queue.empty(), true);
      await childCanStart.set();
      assert.equal(await parentCanContinue.wait(30), true);
      await sleep(DELTA);
      assert.equal(await queue.empty(), false);
      assert.equal(await queue.get({ block: true, timeout: null }), 2);
      assert.equal(await queue.get({ block: true }), 3);
      assert.equal(await queue.get({ timeout: 1 }), 4);
      assert.equal(await queue.getNowait(), 5);
      assert.equal(await queue.empty(), true);
      assertTimingAlmostEqual(await timedRejects(() => queue.get({ block: false }), Empty), 0);
      assertTimingAlmostEqual(await timedRejects(() => queue.get({ block: false, timeout: null }), Empty), 0);
      assertTimingAlmostEqual(await timedRejects(() => queue.getNowait(), Empty), 0);
      assertTimingAlmostEqual(await timedRejects(() => queue.get({ block: true, timeout: TIMEOUT1 }), Empty), TIMEOUT1);
      assertTimingAlmostEqual(await timedRejects(() => queue.get({ block: false, timeout: TIMEOUT2 }), Empty), 0);
      assertTimingAlmostEqual(await timedRejects(() => queue.get({ timeout: TIMEOUT3 }), Empty), TIMEOUT3);
      await proc.join(30);
      assert.equal(proc.exitCode, 0);
    });

    test(`test_fork (${m.TYPE})`, async () => {
      const queue = await m.Queue<number>();
      for (let i = 0; i < 10; i++) await queue.put(i);
      await sleep(DELTA);
      const p = start(m, t.testFork, [queue]);
      for (let i = 0; i < 20; i++) assert.equal(await queue.get({ timeout: 30 }), i);
      await assert.rejects(async () => queue.get({ block: false }), Empty);
      await p.join(30);
    });

    test(`test_qsize (${m.TYPE})`, async () => {
      const q = await m.Queue<number>();
      assert.equal(await q.qsize(), 0);
      await q.put(1);
      assert.equal(await q.qsize(), 1);
      await q.put(5);
      assert.equal(await q.qsize(), 2);
      await q.get();
      assert.equal(await q.qsize(), 1);
      await q.get();
      assert.equal(await q.qsize(), 0);
    });

    test(`test_task_done (${m.TYPE})`, async () => {
      const queue = await m.JoinableQueue<number | null>();
      const workers = Array.from({ length: 4 }, () => start(m, t.testTaskDone, [queue]));
      for (let i = 0; i < 10; i++) await queue.put(i);
      await within(30, queue.join(), 'queue.join()');
      for (let i = 0; i < workers.length; i++) await queue.put(null);
      for (const p of workers) {
        await p.join(30);
        assert.equal(p.exitCode, 0);
      }
    });

    test(`test_timeout (${m.TYPE})`, async () => {
      const q = new Queue(); // CPython: multiprocessing.Queue() whatever the variant
      const elapsed = await timedRejects(() => q.get({ block: true, timeout: 0.2 }), Empty);
      assert.ok(elapsed >= 0.1, `waited ${elapsed} s`);
    });

    if (m.TYPE === 'processes') {
      test(`test_queue_feeder_donot_stop_onexc (${m.TYPE})`, async () => {
        let q = new Queue<unknown>();
        await assert.rejects(q.put(() => 'NotSerializable'), UnsendableError);
        await q.put(true);
        assert.equal(await q.get({ timeout: 30 }), true);
        q = new Queue<unknown>({ maxsize: 1 });
        await assert.rejects(q.put(() => 'NotSerializable'), UnsendableError);
        await q.put(true);
        assert.equal(q.qsize(), 1);
        assert.equal(await q.get({ timeout: 30 }), true);
        assert.equal(q.empty(), true);
      });
    }
  }

  test('test_closed_queue_put_get_exceptions', async () => {
    for (const q of [new Queue(), new JoinableQueue()]) {
      q.close();
      await assert.rejects(async () => q.put('foo'), (e: unknown) => e instanceof ValueError && /is closed/.test(e.message));
      await assert.rejects(async () => q.get(), (e: unknown) => e instanceof ValueError && /is closed/.test(e.message));
    }
  });
});
