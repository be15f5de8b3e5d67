/**
 * weft/redis Lock, RLock, Semaphore, Event and Barrier against a real
 * redis-server: Python's semantics, and the lease: a holder that dies or
 * freezes loses the lock, a live one keeps it, and the fencing token grows.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BrokenBarrierError, RuntimeError, TimeoutError, ValueError, connect, type Cluster } from 'weft/redis';
import { RedisServer, startFixture } from './server.js';

let server: RedisServer;
let cluster: Cluster;
let other: Cluster;
before(async () => {
  server = await RedisServer.start();
  cluster = await connect(server.url);
  other = await connect(server.url);
});
after(async () => {
  await cluster.close();
  await other.close();
  await server.stop();
});

const holder = fileURLToPath(new URL('./fixtures/holder.js', import.meta.url));

async function startHolder(name: string, lease: number): Promise<{ child: ChildProcess; token: number; lines: string[] }> {
  const { child, rest, lines } = await startFixture(holder, [server.url, name, String(lease)], 'held ', 'holder');
  return { child, token: Number(rest), lines };
}

describe('Lock', () => {
  test("Python's acquire and release; the token grows with every acquire", async () => {
    const lock = cluster.Lock('basic');
    const mirror = other.Lock('basic');
    assert.equal(await lock.acquire(), true);
    const first = lock.token!;
    assert.ok(first > 0);
    assert.equal(await lock.locked(), true);
    assert.equal(await mirror.acquire({ block: false }), false);
    assert.equal(await mirror.acquire({ timeout: 0.1 }), false);
    const waiting = mirror.acquire({ timeout: 5 });
    await lock.release();
    assert.equal(lock.token, null);
    assert.equal(await waiting, true, 'a release wakes the waiter');
    assert.ok(mirror.token! > first);
    await mirror.release();
    await assert.rejects(lock.release(), (e: Error) => e instanceof ValueError && /not held/.test(e.message));
    {
      await using held = await lock.hold({ timeout: 1 });
      assert.equal(held.token, lock.token);
      await assert.rejects(mirror.hold({ timeout: 0.05 }), TimeoutError);
    }
    assert.equal(await lock.locked(), false);
  });

  test('mutual exclusion: read-modify-write from two connections under the lock loses nothing', async () => {
    const d = await cluster.dict<string, number>('guarded');
    await d.set('n', 0);
    const work = (c: Cluster) => {
      const lock = c.Lock('mutex');
      return Promise.all(
        [...Array(20)].map(() => lock.withLock(async () => {
          const n = (await d.get('n'))!;
          await new Promise((r) => setImmediate(r));
          await d.set('n', n + 1);
        })),
      );
    };
    await Promise.all([work(cluster), work(other)]);
    assert.equal(await d.get('n'), 40);
  });

  test('a holder SIGKILLed: the lock is free after its lease, with a larger token', async () => {
    const { child, token } = await startHolder('killed', 1);
    const lock = cluster.Lock('killed');
    assert.equal(await lock.acquire({ block: false }), false);
    process.kill(child.pid!, 'SIGKILL');
    await once(child, 'exit');
    assert.equal(await lock.acquire({ timeout: 5 }), true);
    assert.ok(lock.token! > token, `${lock.token} > ${token}`);
    await lock.release();
  });

  test('a live holder keeps its lock past the lease (renewed)', async () => {
    const { child, lines } = await startHolder('renewed', 0.6);
    assert.equal(await cluster.Lock('renewed').acquire({ timeout: 1.5 }), false);
    child.stdin!.end('go\n');
    await once(child, 'exit');
    assert.ok(lines.includes('released'), lines.join('\n'));
  });

  test('a holder frozen past its lease loses the lock, and its late release is refused', async () => {
    const { child, token, lines } = await startHolder('frozen', 1);
    process.kill(child.pid!, 'SIGSTOP');
    const lock = cluster.Lock('frozen');
    try {
      assert.equal(await lock.acquire({ timeout: 5 }), true);
      assert.ok(lock.token! > token);
    } finally {
      process.kill(child.pid!, 'SIGCONT');
    }
    child.stdin!.end('go\n');
    await once(child, 'exit');
    assert.match(lines.join('\n'), /release failed: ValueError: .*lease lapsed/);
    assert.equal(await lock.locked(), true, 'the new holder still has it');
    await lock.release();
  });

  test('RLock: re-entered by its process, released as many times; others may not release it', async () => {
    const r = cluster.RLock('re');
    await r.acquire();
    await r.acquire();
    assert.equal(await other.RLock('re').acquire({ block: false }), false);
    await assert.rejects(other.RLock('re').release(), (e: Error) => e instanceof RuntimeError && e.message === 'cannot release un-acquired lock');
    await r.release();
    assert.equal(await r.locked(), true);
    await r.release();
    assert.equal(await r.locked(), false);
  });

  test('a lease that is not a positive number is refused', () => {
    assert.throws(() => cluster.Lock('x', { lease: 0 }), RangeError);
  });
});

describe('Semaphore', () => {
  test('value permits; a release wakes a waiter; bounded refuses a release above its value', async () => {
    const s = cluster.Semaphore('sem', 2);
    const t = other.Semaphore('sem', 2);
    assert.equal(await s.acquire(), true);
    assert.equal(await t.acquire(), true);
    assert.equal(await s.getValue(), 0);
    assert.equal(await t.acquire({ timeout: 0.1 }), false);
    const waiting = t.acquire({ timeout: 5 });
    await s.release();
    assert.equal(await waiting, true);
    await t.release();
    await t.release();
    assert.equal(await s.getValue(), 2);
    await s.release(); // Python's Semaphore: a release without an acquire adds a permit
    assert.equal(await s.getValue(), 3);
    const b = cluster.BoundedSemaphore('bounded', 1);
    await b.acquire();
    await b.release();
    await assert.rejects(b.release(), (e: Error) => e instanceof ValueError && /too many times/.test(e.message));
  });
});

describe('Event and Barrier', () => {
  test('Event: wait wakes when another connection sets it; times out with false', async () => {
    const ev = cluster.Event('ev');
    assert.equal(await ev.wait(0.1), false);
    const t0 = performance.now();
    const waits = Promise.all([ev.wait(5), ev.wait(5)]);
    setTimeout(() => void other.Event('ev').set(), 100);
    assert.deepEqual(await waits, [true, true]);
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(await ev.isSet(), true);
    await ev.clear();
    assert.equal(await ev.isSet(), false);
  });

  test('Barrier: parties on two connections pass together with distinct indices', async () => {
    const a = cluster.Barrier('bar', 3);
    const b = other.Barrier('bar', 3);
    for (let round = 0; round < 2; round++) {
      const indices = await Promise.all([a.wait(5), b.wait(5), a.wait(5)]);
      assert.deepEqual(indices.sort(), [0, 1, 2]);
    }
    assert.equal(await a.nWaiting(), 0);
    assert.equal(await a.parties(), 3);
  });

  test('Barrier: a timeout breaks it for everyone; reset mends it; abort breaks it', async () => {
    const a = cluster.Barrier('broken', 3);
    const b = other.Barrier('broken', 3);
    const other1 = b.wait(5);
    await assert.rejects(a.wait(0.2), BrokenBarrierError);
    await assert.rejects(other1, BrokenBarrierError);
    assert.equal(await a.broken(), true);
    await assert.rejects(b.wait(1), BrokenBarrierError);
    await a.reset();
    assert.equal(await a.broken(), false);
    const c = cluster.Barrier('broken', 2);
    const [i, j] = await Promise.all([c.wait(5), other.Barrier('broken', 2).wait(5)]);
    assert.equal(i + j, 1);
    await c.abort();
    await assert.rejects(c.wait(1), BrokenBarrierError);
  });
});
