/**
 * Manager over TCP (serve / connect), custom types (register) and the waiting types.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  Empty, Full, KeyError, ValueError, Process, AuthenticationError, BrokenBarrierError, Manager, RemoteError, type DictProxy, type ListProxy,
} from 'weft';
import { RuntimeError } from 'weft/io';
import { lockedIncrements, meetAtBarrier, recordPid, sumQueue } from './fixtures/manager-tasks.js';
import { bump, makeCounter, type Counter } from './fixtures/manager-counter.js';

Manager.register('Counter', makeCounter);
Manager.register('LimitedCounter', makeCounter, { exposed: ['add', 'value'] });

const dirs = new Set<string>();
after(() => {
  for (const dir of dirs) assert.equal(existsSync(dir), false, `socket directory ${dir} was left behind`);
  // Socket directories are named after the process that made them: none of ours may remain.
  const mine = readdirSync(tmpdir()).filter((name) => name.startsWith(`weft-manager-${process.pid}-`));
  assert.deepEqual(mine, [], 'socket directories left in the temp dir');
});

async function started(): Promise<Manager> {
  const m = await Manager.start();
  dirs.add(dirname(m.address));
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Manager over TCP', () => {
  test('serve publishes objects; connect with the key reaches them, a wrong key does not', async () => {
    await using m = await started();
    const d = await m.dict<string, number>({ a: 1 });
    const l = await m.list<number>();
    const { host, port } = await m.serve({ port: 0, authkey: 'secret', exposed: { shared: d, pids: l }, allow: ['create'] });
    assert.equal(host, '127.0.0.1');
    assert.ok(port > 0);
    await assert.rejects(Manager.connect({ host, port, authkey: 'wrong' }), AuthenticationError);
    await using remote = await Manager.connect({ host, port, authkey: 'secret' });
    const rd = await remote.get<DictProxy<string, number>>('shared');
    assert.equal(await rd.get('a'), 1);
    await rd.set('b', 2);
    assert.equal(await d.get('b'), 2);
    assert.match(rd.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(remote.get('nope'), KeyError);
    // Remote proxies go on to children, which connect over TCP themselves.
    const rl = await remote.get<ListProxy<number>>('pids');
    const ps = [0, 1].map(() => new Process({ target: recordPid, args: [rd as unknown as DictProxy<number, number>, rl] }));
    for (const p of ps) p.start();
    for (const p of ps) await p.join();
    assert.deepEqual((await l.toArray()).sort(), ps.map((p) => p.pid).sort());
    // A remote client can make objects too, where the owner allows it.
    const fresh = await remote.dict({ z: 26 });
    assert.deepEqual(await fresh.toObject(), { z: 26 });
    await assert.rejects(m.serve({ authkey: '' }), ValueError);
  });

  test('hostile TCP peers are dropped; an idle limit drops silent clients', async () => {
    await using m = await started();
    const d = await m.dict({ k: 'v' });
    const { port } = await m.serve({ port: 0, authkey: 'k2', exposed: { d }, idleTimeout: 0.3 });
    for (let i = 0; i < 30; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      s.write(randomBytes(1 + (i * 37) % 300));
      s.resume();
      await Promise.race([new Promise((r) => s.once('close', r)), sleep(200)]);
      s.destroy();
    }
    const remote = await Manager.connect({ host: '127.0.0.1', port, authkey: 'k2' });
    const rd = await remote.get<DictProxy<string, string>>('d');
    assert.equal(await rd.get('k'), 'v');
    const before = (await m.stats()).connections;
    await sleep(900);
    assert.ok((await m.stats()).connections < before, 'the idle remote connection was dropped');
    assert.equal(await rd.get('k'), 'v', 'a dropped client reconnects on its next call');
    await remote.shutdown();
    assert.deepEqual(await d.toObject(), { k: 'v' });
  });
});

describe('Manager.register', () => {
  test('a registered type is made on the server and called through an AutoProxy', async () => {
    await using m = await started();
    const c = await m.create<Counter>('Counter', 5);
    assert.equal(await c.add(2), 7);
    assert.equal(await c.slowAdd(3), 10);
    await assert.rejects(c.fail(), (e: Error) => e instanceof RangeError && e.message === 'counter says no');
    await assert.rejects(c.callMethod('_secret'), /no exposed method '_secret'/);
    const p = new Process({ target: bump, args: [c] });
    p.start();
    await p.join();
    assert.equal(p.exitCode, 0);
    assert.equal(await c.value(), 110);
    const limited = await m.create<Counter>('LimitedCounter', 1);
    assert.equal(await limited.add(1), 2);
    await assert.rejects(limited.callMethod('slowAdd', [1]), /no exposed method 'slowAdd'/);
    assert.equal((limited as unknown as Record<string, unknown>).slowAdd, undefined);
  });

  test('errors of unknown classes arrive as RemoteError', async () => {
    await using m = await started();
    const c = await m.create<Counter>('Counter', 0);
    await assert.rejects(c.callMethod('failCustom'), (e: Error) => e instanceof RemoteError && e.remoteName === 'CounterError' && /custom trouble/.test(e.message) && /failCustom/.test(e.remoteStack));
  });
});

describe('Manager waiting types', () => {
  let m: Manager;
  test('start', async () => {
    m = await started();
  });

  test('Queue: FIFO, timeouts, bounds, consumers in children', async () => {
    const q = await m.Queue<number>(2);
    await q.put(1);
    await q.putNowait(2);
    assert.equal(await q.full(), true);
    await assert.rejects(q.putNowait(3), Full);
    await assert.rejects(q.put(3, { timeout: 0.05 }), Full);
    const late = q.put(3); // waits for room
    assert.equal(await q.get(), 1);
    await late;
    assert.equal(await q.qsize(), 2);
    assert.equal(await q.get(), 2);
    assert.equal(await q.getNowait(), 3);
    await assert.rejects(q.getNowait(), Empty);
    const t0 = Date.now();
    await assert.rejects(q.get({ timeout: 0.1 }), Empty);
    assert.ok(Date.now() - t0 >= 90);
    const work = await m.Queue<number>();
    const out = await m.Queue<number>();
    const ps = [0, 1].map(() => new Process({ target: sumQueue, args: [work, out, 50] }));
    for (const p of ps) p.start();
    for (let i = 1; i <= 100; i++) await work.put(i);
    const sums = [await out.get({ timeout: 10 }), await out.get({ timeout: 10 })];
    for (const p of ps) await p.join();
    assert.equal(sums[0]! + sums[1]!, 5050);
  });

  test('JoinableQueue: join waits for taskDone', async () => {
    const q = await m.JoinableQueue<string>();
    await q.put('a');
    let joined = false;
    const j = q.join().then(() => (joined = true));
    assert.equal(await q.get(), 'a');
    await sleep(20);
    assert.equal(joined, false);
    await q.taskDone();
    await j;
    await assert.rejects(q.taskDone(), ValueError);
  });

  test('Lock, RLock, Semaphore, BoundedSemaphore', async () => {
    const lock = await m.Lock();
    assert.equal(await lock.acquire(), true);
    assert.equal(await lock.acquire({ block: false }), false);
    assert.equal(await lock.acquire({ timeout: 0.05 }), false);
    await lock.release();
    await assert.rejects(lock.release(), RuntimeError);
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((i) => lock.withLock(async () => {
      order.push(i);
      await sleep(5);
      order.push(-i);
    })));
    assert.deepEqual(order, [1, -1, 2, -2, 3, -3]);
    const rlock = await m.RLock();
    assert.equal(await rlock.acquire(), true);
    assert.equal(await rlock.acquire(), true, 'an RLock is re-entrant for its owner');
    await rlock.release();
    await rlock.release();
    await assert.rejects(rlock.release(), RuntimeError);
    const sem = await m.Semaphore(2);
    assert.equal(await sem.acquire(), true);
    assert.equal(await sem.acquire(), true);
    assert.equal(await sem.acquire({ timeout: 0.05 }), false);
    await sem.release(2);
    assert.equal(await sem.getValue(), 2);
    const bsem = await m.BoundedSemaphore(1);
    await assert.rejects(bsem.release(), ValueError);
  });

  test('Event, Condition, Barrier', async () => {
    const ev = await m.Event();
    assert.equal(await ev.wait(0.05), false);
    const waiting = ev.wait(5);
    await ev.set();
    assert.equal(await waiting, true);
    assert.equal(await ev.isSet(), true);
    await ev.clear();
    assert.equal(await ev.isSet(), false);

    const cond = await m.Condition();
    await assert.rejects(cond.wait(0.01), RuntimeError);
    assert.equal(await cond.locked(), false);
    await cond.acquire();
    assert.equal(await cond.locked(), true);
    const notified = cond.wait(5);
    await sleep(10);
    await cond.acquire(); // the waiter gave the lock up
    await cond.notify();
    await cond.release();
    assert.equal(await notified, true);
    await cond.release();
    await cond.acquire();
    assert.equal(await cond.wait(0.05), false);
    await cond.release();

    const barrier = await m.Barrier(3);
    const indices = await Promise.all([barrier.wait(5), barrier.wait(5), barrier.wait(5)]);
    assert.deepEqual(indices.sort(), [0, 1, 2]);
    assert.equal(await barrier.parties(), 3);
    await assert.rejects(barrier.wait(0.05), BrokenBarrierError);
    assert.equal(await barrier.broken(), true);
    await barrier.reset();
    assert.equal(await barrier.broken(), false);
  });

  test('across processes: a Lock serialises read-modify-write, a Barrier meets, an Event wakes', async () => {
    const lock = await m.Lock();
    const ns = await m.Namespace({ x: 0 });
    const ps = [0, 1].map(() => new Process({ target: lockedIncrements, args: [lock, ns, 150] }));
    const barrier = await m.Barrier(3);
    const done = await m.Event();
    const out = await m.Queue<number>();
    const meet = [0, 1].map(() => new Process({ target: meetAtBarrier, args: [barrier, done, out] }));
    for (const p of [...ps, ...meet]) p.start();
    for (const p of ps) await p.join();
    assert.equal(await ns.get('x'), 300, 'no increment was lost');
    const mine = await barrier.wait(10);
    if (mine === 2) await done.set();
    assert.equal(await done.wait(10), true);
    const indices = [mine, await out.get({ timeout: 10 }), await out.get({ timeout: 10 })];
    assert.deepEqual(indices.sort(), [0, 1, 2]);
    for (const p of meet) await p.join();
  });

  test('shutdown', async () => {
    await m.shutdown();
  });
});
