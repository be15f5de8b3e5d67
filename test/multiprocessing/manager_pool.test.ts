/**
 * manager.Pool(): a process pool living in the manager's server, used through
 * its proxy from the parent and from children, with the server in either context.
 */
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { after, before, describe, test } from 'node:test';
import {
  EOFError, TimeoutError, ValueError, Process, Manager, Pool, RemoteError, type AsyncResultProxy, type PoolProxy,
} from 'weft';
import { eventually, pidAlive } from '../helpers/run.js';
import { add, init, readInit, sleepThen, square } from './fixtures/pool-tasks.js';
import { delayed, failOn, getFromDict, inThread, longApply, raise, setInDict, useFromChild } from './fixtures/manager-pool-tasks.js';

const sleep = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));

async function workerPids(pool: PoolProxy): Promise<number[]> {
  const pids = (await pool.stats()).workers.map((w) => w.pid);
  assert.ok(pids.length > 0 && pids.every(pidAlive), `pool workers ${pids} are running`);
  return pids;
}

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

for (const context of ['process', 'thread'] as const) {
  describe(`manager.Pool (server: ${context})`, () => {
    let m: Manager;
    let pool: PoolProxy;
    before(async () => {
      m = await Manager.start({ context });
      pool = await m.Pool({ processes: 2 });
    });
    after(() => m.shutdown());

    test('apply, map and starmap give the values in order', async () => {
      assert.equal(await pool.apply(square, [7]), 49);
      assert.equal(await pool.apply(add, [2, 3]), 5);
      const xs = Array.from({ length: 100 }, (_, i) => i);
      assert.deepEqual(await pool.map(square, xs), xs.map((x) => x * x));
      assert.deepEqual(await pool.map(square, new Set([1, 2, 3]), 1), [1, 4, 9]);
      assert.deepEqual(await pool.starmap(add, [[1, 2], [3, 4], [5, 6]]), [3, 7, 11]);
      assert.deepEqual(await pool.map(square, []), []);
    });

    test('imap yields in input order, imapUnordered as tasks finish; a long imap comes in batches', async () => {
      // Item 0 takes 0.6 s on one worker while the other runs items 1 and 2.
      const items: [number, number][] = [[0.6, 0], [0, 1], [0, 2]];
      assert.deepEqual(await drain(pool.imap(delayed, items)), [0, 1, 2]);
      assert.deepEqual(await drain(pool.imapUnordered(delayed, items)), [1, 2, 0]);
      const xs = Array.from({ length: 3000 }, (_, i) => i);
      assert.deepEqual(await drain(pool.imap(square, xs, 7)), xs.map((x) => x * x));
      assert.deepEqual((await drain(pool.imapUnordered(square, xs))).sort((a, b) => a - b), xs.map((x) => x * x));
      async function* gen() {
        yield 2;
        yield 3;
      }
      assert.deepEqual(await drain(pool.imap(square, gen())), [4, 9]);
      // A consumer that stops early: the server drops the rest and the pool goes on serving.
      for await (const v of pool.imap(square, xs)) if (v > 100) break;
      assert.equal(await pool.apply(square, [3]), 9);
    });

    test('applyAsync: ready, successful, get with a timeout, wait; mapAsync and starmapAsync', async () => {
      const r = await pool.applyAsync(sleepThen, [1, 7]);
      assert.equal(await r.ready(), false);
      await assert.rejects(r.successful(), ValueError);
      const t0 = performance.now();
      await assert.rejects(r.get(0.1), (e: Error) => e instanceof TimeoutError && /not ready within 0.1 s/.test(e.message));
      await r.wait(0.1);
      assert.ok(performance.now() - t0 >= 190, 'get(0.1) and wait(0.1) each waited their timeout');
      assert.equal(await r.ready(), false);
      assert.equal(await r.get(10), 7);
      assert.equal(await r.ready(), true);
      assert.equal(await r.successful(), true);
      const bad = await pool.applyAsync(raise, ['ValueError', 'late failure']);
      await bad.wait();
      assert.equal(await bad.successful(), false);
      await assert.rejects(bad.get(), { name: 'ValueError', message: 'late failure' });
      assert.deepEqual(await (await pool.mapAsync(square, [1, 2, 3])).get(), [1, 4, 9]);
      assert.deepEqual(await (await pool.starmapAsync(add, [[1, 2]])).get(), [3]);
    });

    test("a task's error reaches the caller with its class name and message", async () => {
      await assert.rejects(pool.apply(raise, ['ValueError', 'bad x']), (e: Error) => e instanceof ValueError && e.message === 'bad x');
      await assert.rejects(pool.apply(raise, ['TypeError', 'bad type']), (e: Error) => e.constructor === TypeError && e.message === 'bad type');
      await assert.rejects(pool.apply(raise, ['Custom', 'odd']), (e: Error) => e instanceof RemoteError && e.remoteName === 'OddError' && /odd/.test(e.message));
      await assert.rejects(pool.map(failOn, [1, 2, 3, 4], 1), { name: 'ValueError', message: 'no 3' });
      const seen: number[] = [];
      await assert.rejects(async () => {
        for await (const v of pool.imap(failOn, [1, 2, 3, 4])) seen.push(v);
      }, { name: 'ValueError', message: 'no 3' });
      assert.deepEqual(seen, [10, 20]);
    });

    test('a function not declared with task() is refused, naming the fix, before anything is sent', async () => {
      const plain = (x: number) => x;
      const fix = (e: Error) => e.name === 'TypeError' && /task plain was not declared with task\(\).*export const plain = task\(import\.meta, plain\)/.test(e.message);
      await assert.rejects(pool.apply(plain, [1]), fix);
      await assert.rejects(pool.applyAsync(plain, [1]), fix);
      let pulled = false;
      async function* input() {
        pulled = true;
        yield 1;
      }
      await assert.rejects(pool.map(plain, input()), fix);
      await assert.rejects(pool.starmapAsync(plain, [[1]]), fix);
      assert.throws(() => pool.imap(plain, [1]), fix);
      assert.throws(() => pool.imapUnordered(plain, [1]), fix);
      assert.equal(pulled, false, 'the input was not read');
      await assert.rejects(m.Pool({ initializer: plain }), (e: Error) => /initializer plain was not declared with task\(\)/.test(e.message));
    });

    test('a child process uses the proxy it was handed', async () => {
      const out = await m.Queue<unknown>();
      const p = new Process({ target: useFromChild, args: [pool, out], context });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.deepEqual(await out.get({ timeout: 5 }), [1, 4, 9]);
      assert.equal(await out.get({ timeout: 5 }), 5);
      assert.deepEqual(await out.get({ timeout: 5 }), [16, 25]);
    });

    test("one client's long apply does not hold up another client", async () => {
      const out = await m.Queue<unknown>();
      const d = await m.dict<string, number>({ k: 1 });
      const p = new Process({ target: longApply, args: [pool, out, 1.5], context });
      p.start();
      assert.equal(await out.get({ timeout: 10 }), 'calling');
      for (let i = 0; (await pool.stats()).running === 0; i++) {
        assert.ok(i < 500, 'the long apply reached a worker');
        await sleep(0.01);
      }
      const t0 = performance.now();
      assert.equal(await pool.apply(square, [4]), 16);
      assert.equal(await d.get('k'), 1);
      assert.ok(performance.now() - t0 < 800, `served in ${Math.round(performance.now() - t0)} ms while the other apply ran`);
      assert.equal(await out.qsize(), 0, 'the long apply was still running');
      assert.equal(await out.get({ timeout: 10 }), 42);
      await p.join();
    });

    test('a manager proxy may be a task argument; initializer, initargs and the workers\' context are kept', async () => {
      const d = await m.dict<string, number>();
      await pool.apply(setInDict, [d, 'k', 5]);
      assert.equal(await d.get('k'), 5);
      await using threads = await m.Pool({ processes: 1, context: 'thread', initializer: init, initargs: ['from initargs'] });
      assert.equal(await threads.apply(readInit), 'from initargs');
      assert.equal(await threads.apply(inThread), true);
      assert.equal(await pool.apply(inThread), false);
      await assert.rejects(m.Pool({ processes: 0 }), ValueError);
    });

    test('close and join: submitted calls finish, later ones are refused', async () => {
      const p = await m.Pool({ processes: 1 });
      await assert.rejects(p.join(), ValueError);
      const r = await p.applyAsync(sleepThen, [0.2, 1]);
      const pids = await workerPids(p);
      await p.close();
      await assert.rejects(p.apply(square, [1]), { name: 'ValueError', message: 'Pool not running' });
      await p.join();
      assert.equal(await r.get(), 1);
      assert.ok(!pids.some(pidAlive), 'the workers exited');
    });

    test('shutdown leaves no pool worker alive', async () => {
      const m2 = await Manager.start({ context });
      const p = await m2.Pool({ processes: 2 });
      const pending = assert.rejects(p.apply(sleepThen, [30, 0]), EOFError);
      const pids = await workerPids(p);
      await m2.shutdown();
      assert.deepEqual(pids.filter(pidAlive), [], 'no worker outlives shutdown()');
      await pending;
    });
  });
}

describe('manager.Pool: lifetime', () => {
  test('the last proxy released terminates the pool', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await using m = await Manager.start();
    let pool: PoolProxy | null = await m.Pool({ processes: 2 });
    let r: AsyncResultProxy<number> | null = await pool.applyAsync(square, [3]);
    const pids = await workerPids(pool);
    pool = null;
    for (let i = 0; i < 20; i++) {
      gc();
      await sleep(0.02);
    }
    // The AsyncResult holds its pool, as Python's ApplyResult does.
    assert.equal(await r.get(), 9);
    assert.ok(pids.every(pidAlive), 'a live AsyncResult keeps its pool');
    assert.equal((await m.stats()).objects, 2);
    r = null;
    await eventually(() => {
      gc();
      return !pids.some(pidAlive);
    }, 10, 'the pool workers to exit once nothing refers to the pool');
    assert.equal((await m.stats()).objects, 0);
  });

  test('a proxy given only to a queued task lives until the worker has it (local Pool, both contexts; the manager\'s Pool)', async () => {
    // The proxy is dropped at once and collected while its task waits behind
    // a busy worker. Were nothing to hold it, its referent would be released
    // on the server and the task would find "shared object … no longer exists".
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await using m = await Manager.start();
    for (const where of ['process', 'thread', 'manager'] as const) {
      const local = where === 'manager' ? null : new Pool({ processes: 1, context: where });
      const served = where === 'manager' ? await m.Pool({ processes: 1 }) : null;
      const apply = async <A extends unknown[]>(fn: (...args: A) => unknown, args: A): Promise<{ get(t?: number): Promise<unknown> }> =>
        local ? local.applyAsync(fn as never, args as never) : served!.applyAsync(fn as never, args as never);
      const busy = await apply(delayed, [[0.3, 0]]);
      const pending = await apply(getFromDict, [await m.dict<string, string>({ k: 'still here' }), 'k']);
      for (let i = 0; i < 8; i++) {
        gc();
        await sleep(0.02);
      }
      await busy.get();
      assert.equal(await pending.get(5), 'still here', where);
      await (local ?? served!).terminate();
    }
  });

  test('the workers die with a server killed by SIGKILL', async () => {
    await using m = await Manager.start();
    const pool = await m.Pool({ processes: 2 });
    const pids = await workerPids(pool);
    process.kill(m.pid!, 'SIGKILL');
    await eventually(() => !pids.some(pidAlive), 5, 'the pool workers to die with their server');
  });
});
