import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  Channel,
  Empty,
  Full,
  JoinableQueue,
  LifoQueue,
  PriorityQueue,
  Queue,
  StopIteration,
  sleep,
  spawn,
  joinAll,
} from 'weft/coro';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

test('Queue is first in, first out, and a getter waits for a putter', async () => {
  const q = new Queue<number>();
  const got: number[] = [];
  const consumer = spawn(async () => {
    for (let i = 0; i < 5; i++) got.push(await q.get());
  });
  for (let i = 0; i < 5; i++) {
    await q.put(i);
    if (i % 2) await sleep(0);
  }
  await consumer.join();
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
  assert.equal(q.empty(), true);
});

test('a bounded Queue blocks put until a get makes room', async () => {
  const q = new Queue<string>(2);
  const log: string[] = [];
  const producer = spawn(async () => {
    for (const x of ['a', 'b', 'c', 'd']) {
      await q.put(x);
      log.push(`put ${x}`);
    }
  });
  await sleep(0.01);
  assert.deepEqual(log, ['put a', 'put b']);
  assert.equal(q.full(), true);
  assert.equal(await q.get(), 'a');
  await sleep(0);
  assert.deepEqual(log, ['put a', 'put b', 'put c']);
  assert.equal(await q.get(), 'b');
  assert.equal(await q.get(), 'c');
  assert.equal(await q.get(), 'd');
  await producer.join();
});

test('get/put timeouts and the nowait forms raise Empty and Full', async () => {
  const q = new Queue<number>(1);
  assert.throws(() => q.getNowait(), Empty);
  await assert.rejects(q.get({ block: false }), Empty);
  const t0 = performance.now();
  await assert.rejects(q.get({ timeout: 0.03 }), Empty);
  assert.ok(performance.now() - t0 >= 25);
  q.putNowait(1);
  assert.throws(() => q.putNowait(2), Full);
  await assert.rejects(q.put(2, { timeout: 0.01 }), Full);
  assert.equal(q.qsize(), 1);
  assert.equal(q.getNowait(), 1);
  // the timed-out waiters are gone: a new item is not swallowed by them
  q.putNowait(3);
  assert.equal(q.getNowait(), 3);
});

test('a greenlet killed while waiting in get leaves the queue intact', async () => {
  const q = new Queue<number>();
  const victim = spawn(() => q.get());
  await sleep(0);
  await victim.kill();
  q.putNowait(1);
  assert.equal(await q.get({ timeout: 0.1 }), 1);
});

test('for await ends at StopIteration', async () => {
  const q = new Queue<number | typeof StopIteration>();
  spawn(async () => {
    for (let i = 1; i <= 3; i++) await q.put(i);
    await q.put(StopIteration);
  });
  const seen: unknown[] = [];
  for await (const x of q) seen.push(x);
  assert.deepEqual(seen, [1, 2, 3]);
});

test('Channel is a rendezvous: put returns only once a getter took the item', async () => {
  const ch = new Channel<string>();
  assert.equal(ch.maxsize, 0);
  assert.throws(() => ch.putNowait('x'), Full);
  let putDone = false;
  const p = spawn(async () => {
    await ch.put('hello');
    putDone = true;
  });
  await sleep(0.01);
  assert.equal(putDone, false);
  assert.equal(await ch.get(), 'hello');
  await p.join();
  assert.equal(putDone, true);
  await assert.rejects(ch.put('y', { timeout: 0.01 }), Full);
  assert.throws(() => ch.getNowait(), Empty);
});

test('PriorityQueue returns the smallest first, tuples ordered like Python', async () => {
  const q = new PriorityQueue<[number, string]>();
  for (const item of [[3, 'c'], [1, 'b'], [2, 'x'], [1, 'a']] as [number, string][]) q.putNowait(item);
  const out = [q.getNowait(), q.getNowait(), q.getNowait(), q.getNowait()];
  assert.deepEqual(out, [[1, 'a'], [1, 'b'], [2, 'x'], [3, 'c']]);
  const bad = new PriorityQueue<unknown>();
  bad.putNowait(1);
  assert.throws(() => bad.putNowait({}), /cannot order/);
});

test('LifoQueue returns the last item first', () => {
  const q = new LifoQueue<number>();
  [1, 2, 3].forEach((x) => q.putNowait(x));
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [3, 2, 1]);
});

test('JoinableQueue.join waits for taskDone of every item', async () => {
  const q = new JoinableQueue<number>();
  const done: number[] = [];
  const workers = [1, 2].map(() =>
    spawn(async () => {
      for (;;) {
        const x = await q.get();
        await sleep(0.005);
        done.push(x);
        q.taskDone();
      }
    }),
  );
  for (let i = 0; i < 6; i++) await q.put(i);
  assert.equal(q.unfinishedTasks > 0, true);
  assert.equal(await q.join(2), true);
  assert.deepEqual(done.sort(), [0, 1, 2, 3, 4, 5]);
  assert.throws(() => q.taskDone(), /too many times/);
  for (const w of workers) await w.kill();
  await joinAll(workers);
});

test('bad maxsize is refused with a clear error', () => {
  assert.throws(() => new Queue(-1), /maxsize must be an integer >= 0/);
  assert.equal(new Queue(0).maxsize, Infinity);
});
