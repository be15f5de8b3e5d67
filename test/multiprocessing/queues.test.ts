// Queues across processes and threads: delivery, order, limits, data fidelity,
// unsendable values, and the crash paths (a producer or consumer SIGKILLed
// mid-operation must not corrupt the queue or hang anyone).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Empty, Full, JoinableQueue, Process, Queue, SimpleQueue, UnsendableError, ValueError } from 'weft';
import { consume, echoQueue, getForever, produce, produceSized, putForever, work } from './fixtures/queues.js';
import { sleep } from '../helpers/run.js';
import { dumps, loads } from '../../src/internals.js';

for (const context of ['process', 'thread'] as const) {
  describe(`Queue (${context})`, () => {
    test('a child producing 20k messages: all arrive, in order, intact', async () => {
      const q = new Queue<{ id: number; name: string; tags: number[] } | null>();
      const p = new Process({ target: produce, args: [q, 20_000], context });
      p.start();
      let next = 0;
      for (;;) {
        const m = await q.get();
        if (m === null) break;
        assert.equal(m.id, next++);
        assert.equal(m.name, 'hahaha123');
        assert.deepEqual(m.tags, [1, 2, 3]);
      }
      assert.equal(next, 20_000);
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    test('many producers and consumers: each message delivered exactly once, FIFO per producer', async () => {
      const q = new Queue<{ tag: string; i: number; pad: string }>();
      const out = new Queue<{ tag: string; i: number; pad: string }>();
      const n = 3000;
      const other = context === 'process' ? 'thread' : 'process';
      const procs = [
        new Process({ target: produceSized, args: [q, n, 100, 'a'], context }),
        new Process({ target: produceSized, args: [q, n, 5000, 'b'], context: other }),
        new Process({ target: consume, args: [q, out, n], context }),
        new Process({ target: consume, args: [q, out, n], context: other }),
      ];
      for (const p of procs) p.start();
      const seen = { a: new Set<number>(), b: new Set<number>() };
      for (let k = 0; k < 2 * n; k++) {
        const m = await out.get({ timeout: 30 });
        const set = seen[m.tag as 'a' | 'b'];
        assert.ok(!set.has(m.i), `duplicate ${m.tag}${m.i}`);
        set.add(m.i);
        assert.equal(m.pad.length, m.tag === 'a' ? 100 : 5000);
      }
      assert.equal(seen.a.size, n);
      assert.equal(seen.b.size, n);
      for (const p of procs) await p.join();
      assert.deepEqual(procs.map((p) => p.exitCode), [0, 0, 0, 0]);
    });

    test('a child that puts more than the ring holds, with nobody reading, exits only after all is delivered', async () => {
      const q = new Queue<{ tag: string; i: number; pad: string }>({ capacity: 1 << 16 });
      const p = new Process({ target: produceSized, args: [q, 200, 2000, 'x'], context });
      p.start();
      await sleep(0.3); // the child's puts returned at once; its feeder holds the rest
      for (let i = 0; i < 200; i++) assert.equal((await q.get({ timeout: 10 })).i, i);
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    test('a consumer SIGKILLed mid-get does not break the queue for others', async () => {
      const q = new Queue<{ i: number; pad: string }>({ capacity: 1 << 16 });
      const consumer = new Process({ target: getForever, args: [q], context });
      const producer = new Process({ target: putForever, args: [q, 3000], context });
      consumer.start();
      producer.start();
      await sleep(0.5);
      consumer.kill(); // likely holding the get lock, or mid-way through a message
      await consumer.join();
      // The queue keeps working: messages still come whole and in order from the producer.
      let last = -1;
      for (let k = 0; k < 200; k++) {
        const m = await q.get({ timeout: 5 });
        assert.equal(m.pad.length, 3000);
        assert.ok(m.i > last, `order: ${m.i} after ${last}`);
        last = m.i;
      }
      producer.kill();
      await producer.join();
    });

    test('a producer SIGKILLed mid-put: at most its message is lost, others go on', async () => {
      const q = new Queue<{ i: number; pad: string } | { tag: string; i: number; pad: string }>({ capacity: 1 << 14 });
      const dying = new Process({ target: putForever, args: [q, 6000], context }); // chunked: 6000 > 16 KiB / 4
      dying.start();
      await sleep(0.4);
      dying.kill();
      await dying.join();
      // Drain whatever it finished; every message must be whole.
      for (;;) {
        try {
          const m = q.getNowait() as { pad: string };
          assert.equal(m.pad.length, 6000);
        } catch (err) {
          assert.ok(err instanceof Empty);
          break;
        }
      }
      const next = new Process({ target: produceSized, args: [q, 50, 6000, 'next'], context });
      next.start();
      for (let i = 0; i < 50; i++) {
        const m = (await q.get({ timeout: 10 })) as { tag: string; i: number; pad: string };
        assert.equal(m.tag, 'next');
        assert.equal(m.i, i);
      }
      await next.join();
    });

    test('JoinableQueue: join() waits until every message was marked done by the workers', async () => {
      const q = new JoinableQueue<number>();
      for (let i = 0; i < 20; i++) await q.put(i);
      const a = new Process({ target: work, args: [q, 10], context });
      const b = new Process({ target: work, args: [q, 10], context });
      a.start();
      b.start();
      await q.join();
      assert.equal(q.qsize(), 0);
      await a.join();
      await b.join();
      assert.throws(() => q.taskDone(), ValueError);
    });

    test('queues pass onward to grandchildren (a queue echo through a child)', async () => {
      const input = new Queue<string | null>();
      const output = new Queue<string | null>();
      const p = new Process({ target: echoQueue, args: [input, output], context });
      p.start();
      await input.put('ping');
      assert.equal(await output.get({ timeout: 10 }), 'ping');
      await input.put(null);
      await p.join();
    });
  });
}

describe('Queue in one process', () => {
  test('bounded: putNowait → Full, put with timeout → Full after about that time', async () => {
    const q = new Queue<number>({ maxsize: 2 });
    q.putNowait(1);
    await q.put(2);
    assert.equal(q.full(), true);
    assert.equal(q.qsize(), 2);
    assert.throws(() => q.putNowait(3), Full);
    const t = performance.now();
    await assert.rejects(q.put(3, { timeout: 0.2 }), Full);
    const waited = (performance.now() - t) / 1000;
    assert.ok(waited >= 0.19 && waited < 1.5, `waited ${waited}`);
    await assert.rejects(q.put(3, { block: false }), Full);
    assert.equal(await q.get(), 1);
    await q.put(3);
    assert.deepEqual([q.getNowait(), q.getNowait()], [2, 3]);
  });

  test('empty: getNowait → Empty, get with timeout → Empty, and the event loop keeps running meanwhile', async () => {
    const q = new Queue<number>();
    assert.throws(() => q.getNowait(), Empty);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    await assert.rejects(q.get({ timeout: 0.3 }), Empty);
    clearInterval(timer);
    assert.ok(ticks >= 10, `only ${ticks} ticks: the wait blocked the loop`);
    assert.equal(q.empty(), true);
  });

  test('structured data survives: Map, Set, Date, RegExp, Buffer, typed arrays, BigInt, errors, cycles', async () => {
    class QuotaError extends Error {
      code = 'E_QUOTA';
    }
    const err = new QuotaError('over', { cause: new TypeError('inner') });
    const obj: Record<string, unknown> = {
      m: new Map([[1, { a: 1 }]]),
      s: new Set(['x']),
      d: new Date(1234),
      r: /a+b/gi,
      b: Buffer.from('bytes'),
      f: new Float32Array([1.5, 2.5]),
      n: 2n ** 70n,
      err,
      u: undefined,
    };
    obj.self = obj;
    const q = new Queue<Record<string, unknown>>();
    await q.put(obj);
    const got = await q.get();
    assert.deepEqual(got.m, obj.m);
    assert.deepEqual(got.s, obj.s);
    assert.equal((got.d as Date).getTime(), 1234);
    assert.equal(String(got.r), '/a+b/gi');
    assert.ok(Buffer.isBuffer(got.b) && (got.b as Buffer).toString() === 'bytes');
    assert.deepEqual([...(got.f as Float32Array)], [1.5, 2.5]);
    assert.equal(got.n, 2n ** 70n);
    assert.equal(got.self, got);
    const e = got.err as Error & { code: string; cause: Error };
    assert.equal(e.constructor.name, 'QuotaError');
    assert.equal(e.message, 'over');
    assert.equal(e.code, 'E_QUOTA');
    assert.equal(e.stack, err.stack);
    assert.ok(e.cause instanceof TypeError);
    assert.ok('u' in got);
  });

  test('plain messages of every size decode intact, and no decoded value shares memory with a later one', async () => {
    // Small plain messages are decoded from one reused buffer (reduction.ts):
    // sizes below, at and past its limit, then small ones again, must all come
    // back equal, and values taken earlier must not change as later ones decode.
    const q = new Queue<unknown>();
    const sizes = [1, 30, 5000, 65_536, 70_000, 200_000, 12, 3];
    const sent = sizes.map((n, i) => ({ i, s: 'é'.repeat(n >> 1) + 'x'.repeat(n & 1), list: [i, -i - 1, i / 3, null, true] }));
    for (const m of sent) await q.put(m);
    const got: unknown[] = [];
    for (const _ of sent) got.push(await q.get());
    assert.deepEqual(got, sent);
    // A binary field (never in weft's own plain messages, possible from a peer):
    // msgpack bin8 of 4 bytes after the plain tag. It must be a copy, not a view.
    const first = loads(Uint8Array.from([0, 0xc4, 4, 1, 2, 3, 4])) as Uint8Array;
    loads(dumps('y'.repeat(100)));
    assert.deepEqual([...first], [1, 2, 3, 4]);
  });

  test('a message larger than the ring is chunked and arrives whole', async () => {
    const q = new Queue<Buffer>({ capacity: 4096 });
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const put = q.put(big);
    const got = await q.get({ timeout: 10 });
    await put;
    assert.ok(big.equals(got));
  });

  test('getNowait never waits for a message still being written in chunks (same thread)', async () => {
    const q = new Queue<Buffer>({ capacity: 4096 });
    const big = Buffer.alloc(50_000, 7);
    await q.put(big); // chunked; most of it still waits in this process's feeder
    assert.throws(() => q.getNowait(), Empty);
    assert.ok(big.equals(await q.get({ timeout: 10 })));
  });

  test('unsendable values are refused at put, naming the path, and nothing is enqueued', async () => {
    const q = new Queue<unknown>();
    await assert.rejects(q.put({ a: [0, { cb: () => 1 }] }), (e: Error) => e instanceof UnsendableError && /obj\.a\[1\]\.cb/.test(e.message));
    await assert.rejects(q.put({ s: Symbol('x') }), UnsendableError);
    await assert.rejects(q.put({ q }), /only be shared .* args/);
    assert.equal(q.qsize(), 0);
    assert.equal(q.empty(), true);
  });

  test('a value nested 100k deep is refused at put naming where it gave up; 900 deep still crosses', async () => {
    const q = new Queue<unknown>();
    const nest = (depth: number) => {
      const root: Record<string, unknown> = {};
      let at = root;
      for (let i = 0; i < depth; i++) at = (at.next = {}) as Record<string, unknown>;
      return root;
    };
    await assert.rejects(q.put(nest(100_000)), (e: Error) =>
      e instanceof UnsendableError && /nested more than 1000 levels deep: gave up at obj\.next\.next.* … .*\.next\.next$/.test(e.message));
    assert.equal(q.qsize(), 0);
    const deep = nest(900);
    await q.put(deep);
    assert.deepEqual(await q.get({ timeout: 5 }), deep);
  });

  test('close(): later puts and gets throw ValueError; for await iterates messages', async () => {
    const q = new Queue<number>();
    for (const n of [1, 2, 3]) await q.put(n);
    const seen: number[] = [];
    for await (const n of q) {
      seen.push(n);
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, [1, 2, 3]);
    q.close();
    await assert.rejects(q.put(4), ValueError);
    assert.throws(() => q.getNowait(), ValueError);
  });

  test('SimpleQueue: put, get, empty', async () => {
    const q = new SimpleQueue<string>();
    assert.equal(q.empty(), true);
    await q.put('x');
    assert.equal(q.empty(), false);
    assert.equal(await q.get(), 'x');
  });

  test('bad options are refused with a clear error', () => {
    assert.throws(() => new Queue({ maxsize: -1 }), /maxsize/);
    assert.throws(() => new Queue({ capacity: 1000 }), /power of two/);
  });
});
