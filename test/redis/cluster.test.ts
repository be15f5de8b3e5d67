/**
 * weft/redis on a Redis Cluster: three masters started here (cluster mode,
 * `redis-cli --cluster create`), `connect('redis+cluster://…')`, and a Queue,
 * a dict, a Lock and a Pool with a `weft worker` all used through it; then
 * every key weft wrote is read back from the nodes to prove that each object's
 * keys sit in one hash slot (what lets its Lua scripts and BullMQ's run there),
 * while the objects themselves spread over the nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ValueError, connect, type Cluster } from 'weft/redis';
import { RedisClusterFixture } from './server.js';
import { WeftWorker, root } from './workers.js';
import { square } from './fixtures/tasks.js';

const prefix = 'ct:';
let fixture: RedisClusterFixture;
let cluster: Cluster;
let worker: WeftWorker;
before(async () => {
  fixture = await RedisClusterFixture.start(3);
  cluster = await connect(fixture.url, { prefix });
  worker = await new WeftWorker(fixture.url, 'cq', { prefix }).ready();
});
after(async () => {
  await worker?.stop();
  await cluster?.close();
  await fixture?.stop();
});

describe('Redis Cluster', () => {
  test('Queue, dict, Lock and Pool through a 3-master cluster', async () => {
    const q = cluster.JoinableQueue<Map<string, number>>('jobs');
    await q.put(new Map([['a', 1]]));
    await q.put(new Map([['b', 2]]));
    assert.deepEqual(await q.get({ timeout: 5 }), new Map([['a', 1]]));
    q.taskDone();
    assert.deepEqual(await q.get({ timeout: 5 }), new Map([['b', 2]]));
    q.taskDone();
    await q.join();

    const hits = await cluster.dict<string, number>('hits');
    await Promise.all(Array.from({ length: 20 }, () => hits.incr('home')));
    assert.equal(await hits.get('home'), 20);

    const lock = cluster.Lock('report', { lease: 5 });
    assert.equal(await lock.acquire(), true);
    const first = lock.token!;
    await lock.release();
    assert.equal(await lock.acquire(), true);
    assert.ok(lock.token! > first, 'the fencing token grows');
    await lock.release();

    await using pool = cluster.Pool({ queue: 'cq', root });
    assert.deepEqual(await pool.map(square, [1, 2, 3, 4, 5, 6], 2), [1, 4, 9, 16, 25, 36]);
    assert.equal(await pool.apply(square, [12]), 144);
  });

  test("each object's keys share one hash slot; the objects spread over the nodes", async () => {
    const nodes = fixture.nodes.map((n) => new Redis(n.port, '127.0.0.1'));
    try {
      /** object (its hash tag) -> the slots of its keys, and the nodes holding them */
      const objects = new Map<string, { slots: Set<number>; nodes: Set<number>; keys: string[] }>();
      for (const [i, node] of nodes.entries()) {
        for (const key of await node.keys(`${prefix}*`)) {
          const tag = /\{([^}]+)\}/.exec(key)?.[1];
          assert.ok(tag, `${key} has a hash tag`);
          const o = objects.get(tag) ?? { slots: new Set(), nodes: new Set(), keys: [] };
          o.slots.add(Number(await node.cluster('KEYSLOT', key)));
          o.nodes.add(i);
          o.keys.push(key);
          objects.set(tag, o);
        }
      }
      for (const tag of ['q:jobs', 'dict:hits', 'lock:report', 'pool:cq']) assert.ok(objects.has(tag), `keys of ${tag} were written: ${[...objects.keys()]}`);
      const pool = objects.get('pool:cq')!;
      assert.ok(pool.keys.length >= 3, `BullMQ's keys of the pool queue: ${pool.keys}`);
      for (const [tag, o] of objects) {
        assert.equal(o.slots.size, 1, `${tag}: keys ${o.keys} in slots ${[...o.slots]}`);
        assert.equal(o.nodes.size, 1);
      }
      const used = new Set([...objects.values()].flatMap((o) => [...o.nodes]));
      assert.ok(used.size >= 2, `the objects sit on ${used.size} node(s) of 3: the cluster is really sharded`);
    } finally {
      for (const n of nodes) n.disconnect();
    }
  });

  test('a cluster URL naming a database other than 0 is refused', async () => {
    await assert.rejects(connect(fixture.url + '/2'), (e: Error) => e instanceof ValueError && /only database 0/.test(e.message));
  });
});
