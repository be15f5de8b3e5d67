/**
 * weft/redis Queue and JoinableQueue against a real redis-server: FIFO over
 * weft's codec, timeouts, bounds, many calls in flight, and the lease: a
 * consumer killed or frozen after taking a message does not lose it.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Empty, Full, ValueError, connect, type Cluster } from 'weft/redis';
import { RedisServer, startFixture } from './server.js';

let server: RedisServer;
let cluster: Cluster;
let other: Cluster;
before(async () => {
  server = await RedisServer.start();
  cluster = await connect(server.url);
  other = await connect(server.url); // a second process's view, on its own connection
});
after(async () => {
  await cluster.close();
  await other.close();
  await server.stop();
});

const consumer = fileURLToPath(new URL('./fixtures/consumer.js', import.meta.url));

/** Starts the consumer fixture and resolves once it took a message (its line `got …`). */
async function startConsumer(name: string, lease: number): Promise<{ child: ChildProcess; got: string; lines: string[] }> {
  const { child, rest, lines } = await startFixture(consumer, [server.url, name, String(lease)], 'got ', 'consumer');
  return { child, got: rest, lines };
}

describe('Queue', () => {
  test('FIFO between two connections, values through weft codec', async () => {
    const q = cluster.Queue<unknown>('fifo');
    const r = other.Queue<unknown>('fifo');
    const err = new RangeError('out', { cause: new Error('inner') });
    const values = [1, 'two', { three: [3] }, new Map([[1, new Set([2n])]]), new Date(5), Buffer.from('six'), err, null];
    for (const v of values) await q.put(v);
    assert.equal(await r.qsize(), values.length);
    const got = [];
    for (let i = 0; i < values.length; i++) got.push(await r.get({ timeout: 1 }));
    assert.deepEqual(got.slice(0, 6), values.slice(0, 6));
    const e = got[6] as RangeError;
    assert.ok(e instanceof RangeError);
    assert.equal(e.message, 'out');
    assert.equal((e.cause as Error).message, 'inner');
    assert.equal(got[7], null);
    assert.equal(await r.empty(), true);
  });

  test('get waits for a put, and times out with Empty', async () => {
    const q = cluster.Queue<string>('waits');
    await assert.rejects(q.getNowait(), Empty);
    const t0 = performance.now();
    await assert.rejects(q.get({ timeout: 0.3 }), Empty);
    const waited = (performance.now() - t0) / 1000;
    assert.ok(waited >= 0.28 && waited < 2, `waited ${waited} s`);
    const pending = q.get({ timeout: 5 });
    setTimeout(() => void other.Queue<string>('waits').put('late'), 50);
    assert.equal(await pending, 'late');
  });

  test('a bounded queue refuses with Full, and a blocked put goes in once there is room', async () => {
    const q = cluster.Queue<number>('bounded', { maxsize: 2 });
    await q.put(1);
    await q.putNowait(2);
    assert.equal(await q.full(), true);
    await assert.rejects(q.put(3, { timeout: 0.1 }), Full);
    const put = q.put(3, { timeout: 5 });
    assert.equal(await q.get(), 1);
    await put;
    assert.deepEqual([await q.get(), await q.get()], [2, 3]);
    assert.throws(() => cluster.Queue('bad', { maxsize: -1 }), RangeError);
  });

  test('a thousand puts and gets in flight at once on one connection keep their order', async () => {
    const q = cluster.Queue<number>('inflight');
    const n = 1000;
    await Promise.all(Array.from({ length: n }, (_, i) => q.put(i)));
    const got = await Promise.all(Array.from({ length: n }, () => q.get({ timeout: 5 })));
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
  });

  test("every key of a queue carries the queue's hash tag (one cluster slot)", async () => {
    const q = cluster.JoinableQueue<number>('tagged');
    await q.put(1);
    await q.get();
    await q.taskDone();
    const keys = await cluster._conn.client.keys('weft:*tagged*');
    assert.ok(keys.length >= 2, String(keys));
    for (const k of keys) assert.match(k, /^weft:\{q:tagged\}:/);
  });

  test('names with braces are refused', () => {
    assert.throws(() => cluster.Queue('a{b}'), ValueError);
  });
});

describe('JoinableQueue', () => {
  test('join waits for every taskDone, from any connection', async () => {
    const q = cluster.JoinableQueue<number>('join');
    const r = other.JoinableQueue<number>('join');
    await q.put(1);
    await q.put(2);
    let joined = false;
    const join = q.join({ timeout: 5 }).then(() => (joined = true));
    assert.equal(await r.get(), 1);
    await r.taskDone();
    assert.equal(await r.get(), 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(joined, false);
    await r.taskDone();
    await join;
    await assert.rejects(r.taskDone(), ValueError);
  });

  test('a consumer SIGKILLed after get, before taskDone: the message goes to another consumer after its lease', async () => {
    const name = 'killed';
    const q = cluster.JoinableQueue<string>(name, { lease: 1 });
    await q.put('precious');
    const { child, got } = await startConsumer(name, 1);
    assert.equal(got, 'precious');
    assert.equal(await q.qsize(), 0, 'the consumer holds it');
    process.kill(child.pid!, 'SIGKILL');
    await once(child, 'exit');
    const t0 = performance.now();
    assert.equal(await q.get({ timeout: 5 }), 'precious');
    const took = (performance.now() - t0) / 1000;
    assert.ok(took < 3, `handed on after ${took} s`);
    await q.taskDone();
    await q.join({ timeout: 1 });
  });

  test('a consumer frozen past its lease: another takes the message, the late taskDone is refused', async () => {
    const name = 'frozen';
    const q = cluster.JoinableQueue<string>(name, { lease: 1 });
    await q.put('once');
    const { child, got, lines } = await startConsumer(name, 1);
    assert.equal(got, 'once');
    process.kill(child.pid!, 'SIGSTOP');
    try {
      assert.equal(await q.get({ timeout: 5 }), 'once');
      await q.taskDone();
    } finally {
      process.kill(child.pid!, 'SIGCONT');
    }
    child.stdin!.end('go\n');
    await once(child, 'exit');
    assert.match(lines.join('\n'), /taskDone failed: ValueError: .*lease lapsed/);
    await q.join({ timeout: 1 });
    assert.equal(await q.qsize(), 0);
  });

  test('a live consumer keeps its message past the lease (it renews)', async () => {
    const name = 'renewed';
    const q = cluster.JoinableQueue<string>(name, { lease: 0.6 });
    await q.put('mine');
    const { child, got, lines } = await startConsumer(name, 0.6);
    assert.equal(got, 'mine');
    await assert.rejects(q.get({ timeout: 1.5 }), Empty);
    child.stdin!.end('go\n');
    await once(child, 'exit');
    assert.ok(lines.includes('done'), lines.join('\n'));
    await q.join({ timeout: 1 });
  });

  test('close() hands back what this handle holds at once', async () => {
    const name = 'closing';
    const own = await connect(server.url);
    const q = own.JoinableQueue<string>(name);
    await q.put('back');
    assert.equal(await q.get(), 'back');
    await q.close();
    await own.close();
    assert.equal(await cluster.JoinableQueue<string>(name).get({ timeout: 1 }), 'back');
  });
});
