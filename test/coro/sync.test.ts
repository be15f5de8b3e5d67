import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  AsyncResult,
  BoundedSemaphore,
  Event,
  Lock,
  RLock,
  Semaphore,
  Timeout,
  joinAll,
  sleep,
  spawn,
  spawnLater,
} from 'weft/coro';
import { ValueError } from 'weft';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

test('Event wakes every waiter; wait(timeout) returns false when not set', async () => {
  const ev = new Event();
  const woke: number[] = [];
  const gs = [1, 2, 3].map((i) => spawn(async () => woke.push((await ev.wait()) ? i : -i)));
  await sleep(0.01);
  assert.deepEqual(woke, []);
  ev.set();
  await joinAll(gs);
  assert.deepEqual(woke.sort(), [1, 2, 3]);
  ev.clear();
  assert.equal(ev.isSet(), false);
  assert.equal(await ev.wait(0.01), false);
});

test('AsyncResult delivers a value or an exception to every getter', async () => {
  const r = new AsyncResult<number>();
  spawnLater(0.01, () => r.set(42));
  const [a, b] = await Promise.all([r.get(), r.get({ timeout: 1 })]);
  assert.deepEqual([a, b], [42, 42]);
  assert.ok(r.ready() && r.successful());
  const bad = new AsyncResult<number>();
  spawnLater(0.01, () => bad.setException(new ValueError('nope')));
  await assert.rejects(bad.get(), ValueError);
  assert.equal(bad.successful(), false);
  const never = new AsyncResult();
  await assert.rejects(never.get({ timeout: 0.01 }), Timeout);
  await assert.rejects(never.get({ block: false }), Timeout);
});

test('Semaphore bounds how many hold it at once, and serves waiters in order', async () => {
  const sem = new Semaphore(2);
  let inside = 0;
  let peak = 0;
  const order: number[] = [];
  const gs = [0, 1, 2, 3, 4, 5].map((i) =>
    spawn(() =>
      sem.with(async () => {
        order.push(i);
        inside++;
        peak = Math.max(peak, inside);
        await sleep(0.005);
        inside--;
      }),
    ),
  );
  await joinAll(gs);
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(sem.counter, 2);
});

test('Semaphore.acquire with blocking false or a timeout returns false', async () => {
  const sem = new Semaphore(1);
  assert.equal(await sem.acquire(), true);
  assert.equal(sem.locked(), true);
  assert.equal(await sem.acquire({ blocking: false }), false);
  assert.equal(await sem.acquire({ timeout: 0.01 }), false);
  sem.release();
  assert.equal(await sem.acquire({ timeout: 0.01 }), true);
  assert.throws(() => new Semaphore(-1), ValueError);
});

test('a greenlet killed while waiting for a semaphore gives up its place', async () => {
  const sem = new Semaphore(0);
  const victim = spawn(() => sem.acquire());
  const next = spawn(() => sem.acquire());
  await sleep(0);
  await victim.kill();
  sem.release();
  assert.equal(await next.get({ timeout: 0.5 }), true);
});

test('BoundedSemaphore and Lock refuse too many releases', async () => {
  const b = new BoundedSemaphore(2);
  assert.throws(() => b.release(), /released too many times/);
  const lock = new Lock();
  assert.throws(() => lock.release(), /release unlocked lock/);
  await lock.acquire();
  assert.equal(lock.locked(), true);
  lock.release();
  assert.equal(lock.locked(), false);
});

test('Lock gives mutual exclusion across waits', async () => {
  const lock = new Lock();
  const log: string[] = [];
  const worker = (name: string) => () =>
    lock.with(async () => {
      log.push(`${name} in`);
      await sleep(0.005);
      log.push(`${name} out`);
    });
  await joinAll([spawn(worker('a')), spawn(worker('b'))]);
  assert.deepEqual(log, ['a in', 'a out', 'b in', 'b out']);
});

test('RLock is re-entrant for its owner only', async () => {
  const r = new RLock();
  await r.acquire();
  await r.acquire();
  const other = spawn(() => r.acquire({ timeout: 0.01 }));
  assert.equal(await other.get(), false);
  r.release();
  assert.equal(r.locked(), true);
  r.release();
  assert.equal(r.locked(), false);
  const g = spawn(async () => {
    await r.acquire();
    await sleep(0.01);
    r.release();
  });
  await sleep(0);
  assert.throws(() => r.release(), /un-acquired/);
  await g.join();
});
