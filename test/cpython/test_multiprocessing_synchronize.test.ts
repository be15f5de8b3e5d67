/**
 * CPython 3.11's Lib/test/_test_multiprocessing.py: its _TestLock,
 * _TestSemaphore and _TestEvent classes, ported with their test names. CPython
 * installs them for processes, threads and a manager; weft's primitives live
 * in shared memory and are the same objects in either context, so the
 * processes/threads variants differ only where a child runs (test_event runs
 * in both). The manager variant is not ported yet. Differences from the
 * original, each for the reason given:
 * - `acquire()` is async (it must not block Node's event loop); `acquire(False)` is `acquire({ block: false })`.
 * - `with lock:` is `using _ = await lock.hold()`.
 * - test_repr (_TestEvent): not ported; `String(event)` is not Python's repr, a difference weft has yet to close.
 * - test_bounded_semaphore: CPython keeps the over-release check commented out
 *   ("Currently fails on OS/X"); weft raises ValueError there, so it is asserted.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedSemaphore, Event, Lock, Process, RLock, Semaphore, ValueError, type ContextName } from 'weft';
import { testEvent } from './fixtures/mp_tasks.js';

const TIMEOUT1 = 0.1;
const TIMEOUT2 = 0.1;
const TIMEOUT3 = 0.1;

/** assertTimingAlmostEqual: CPython allows 0.1 s either way; a loaded two-core machine gets 0.5 s above. */
function assertTimingAlmostEqual(seconds: number, expected: number): void {
  assert.ok(seconds >= expected - 0.1 && seconds <= expected + 0.5, `took ${seconds} s, expected about ${expected}`);
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, (performance.now() - t0) / 1000];
}

describe('_TestLock', () => {
  test('test_lock', async () => {
    const lock = new Lock();
    assert.equal(await lock.acquire(), true);
    assert.equal(await lock.acquire({ block: false }), false);
    assert.equal(lock.release(), undefined);
    assert.throws(() => lock.release(), ValueError);
  });

  test('test_rlock', async () => {
    const lock = new RLock();
    assert.equal(await lock.acquire(), true);
    assert.equal(await lock.acquire(), true);
    assert.equal(await lock.acquire(), true);
    assert.equal(lock.release(), undefined);
    assert.equal(lock.release(), undefined);
    assert.equal(lock.release(), undefined);
    assert.throws(() => lock.release(), (e: unknown) => e instanceof Error && e.name === 'RuntimeError');
  });

  test('test_lock_context', async () => {
    const lock = new Lock();
    {
      using _held = await lock.hold();
    }
    assert.equal(await lock.acquire({ block: false }), true, 'the context did not release the lock');
    lock.release();
  });
});

describe('_TestSemaphore', () => {
  async function testSemaphore(sem: Semaphore): Promise<void> {
    assert.equal(sem.getValue(), 2);
    assert.equal(await sem.acquire(), true);
    assert.equal(sem.getValue(), 1);
    assert.equal(await sem.acquire(), true);
    assert.equal(sem.getValue(), 0);
    assert.equal(await sem.acquire({ block: false }), false);
    assert.equal(sem.getValue(), 0);
    assert.equal(sem.release(), undefined);
    assert.equal(sem.getValue(), 1);
    assert.equal(sem.release(), undefined);
    assert.equal(sem.getValue(), 2);
  }

  test('test_semaphore', async () => {
    const sem = new Semaphore(2);
    await testSemaphore(sem);
    assert.equal(sem.release(), undefined);
    assert.equal(sem.getValue(), 3);
    assert.equal(sem.release(), undefined);
    assert.equal(sem.getValue(), 4);
  });

  test('test_bounded_semaphore', async () => {
    const sem = new BoundedSemaphore(2);
    await testSemaphore(sem);
    assert.throws(() => sem.release(), ValueError);
    assert.equal(sem.getValue(), 2);
  });

  test('test_timeout', async () => {
    const sem = new Semaphore(0);
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
});

describe('_TestEvent', () => {
  for (const context of ['process', 'thread'] as ContextName[]) {
    test(`test_event (${context === 'process' ? 'processes' : 'threads'})`, async () => {
      const event = new Event();
      assert.equal(event.isSet(), false);
      let [got, elapsed] = await timed(() => event.wait(0.0));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, 0.0);
      [got, elapsed] = await timed(() => event.wait(TIMEOUT1));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, TIMEOUT1);
      event.set();
      assert.equal(event.isSet(), true);
      [got, elapsed] = await timed(() => event.wait());
      assert.equal(got, true);
      assertTimingAlmostEqual(elapsed, 0.0);
      [got, elapsed] = await timed(() => event.wait(TIMEOUT1));
      assert.equal(got, true);
      assertTimingAlmostEqual(elapsed, 0.0);
      event.clear();
      const p = new Process({ target: testEvent, args: [event], context, daemon: true });
      p.start();
      assert.equal(await event.wait(30), true); // CPython waits forever; bounded here
      await p.join(30);
      assert.equal(p.exitCode, 0);
    });
  }
});
