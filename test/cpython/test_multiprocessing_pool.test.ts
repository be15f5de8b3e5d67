/**
 * CPython 3.11's Lib/test/_test_multiprocessing.py: its _TestPool,
 * _TestPoolWorkerErrors and _TestPoolWorkerLifetime classes, ported with their
 * test names, under the processes, threads and manager variants as CPython
 * runs them (a test CPython skips for a variant is skipped here too).
 * Differences from the original, each for the reason given:
 * - Pool calls are async; `pool.imap(...)` is an async generator (`for await`); `with self.Pool(2) as p` is
 *   `await using p = new Pool(...)` (which terminates, as Python's `__exit__` does).
 * - The functions a pool runs are task()s of fixtures/mp_tasks.ts; Python's `RuntimeError` raised by a task is
 *   a TypeError (JavaScript's nearest built-in); its `__cause__` (RemoteTraceback with the source line) is the
 *   error's own stack here, which names the worker's function.
 * - test_map_unplicklable: an unsendable argument is refused with weft's UnsendableError, not the error of a
 *   `__reduce__`, which weft does not call (nothing is pickled).
 * - test_async_timeout: the task sleeps 5 s, not TIMEOUT2 + 30 s, before the pool is terminated;
 *   test_terminate queues 100 tasks of 30 s, not 10,000.
 * - test_make_pool (manager): the server's ValueError reaches the client as ValueError (Python: RemoteError);
 *   `len(p._pool)` is `p.stats().workers.length`.
 * - test_map_async_callbacks (manager): a manager's `mapAsync` takes no callbacks (they would run in the server);
 *   skipped for the manager. Python's `int('a')` is a task `int` that raises ValueError.
 * - test_unpickleable_result: a result that cannot be sent back (a function) rejects the call with
 *   UnsendableError naming it (Python: MaybeEncodingError).
 * - test_release_task_refs: WeakRefs and V8's collector (`gc()` through `--expose-gc`) stand for weakref and
 *   gc.collect(); the CountedObject count of copies made by a process pool has no JavaScript equivalent.
 * - Not ported: test_enter (Python's `__enter__` refuses a pool that is not running; an
 *   `await using` block calls nothing on entry), test_resource_warning (Python's ResourceWarning from `__del__`),
 *   test_worker_finalization_via_atexit_handler_of_multiprocessing (Python's atexit in workers).
 */
import { after, before, describe, test } from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import assert from 'node:assert/strict';
import { KeyError, Pool, TimeoutError, UnsendableError, ValueError, type PoolProxy, type TaskFunction } from 'weft';
import { TIMEOUT1, TIMEOUT2, assertTimingAlmostEqual, mixins, sleep, timed, type Mixin } from './mp_support.js';
import * as t from './fixtures/mp_tasks.js';

/** What a test calls on a Pool or a manager's PoolProxy: every result awaited. */
interface AnyResult<T> {
  get(timeout?: number | null): Promise<T>;
  wait(timeout?: number | null): Promise<void>;
}
interface AnyPool {
  apply(fn: TaskFunction, args: unknown[]): Promise<unknown>;
  applyAsync(fn: TaskFunction, args: unknown[]): AnyResult<unknown> | Promise<AnyResult<unknown>>;
  map(fn: TaskFunction, iterable: Iterable<unknown>, chunksize?: number): Promise<unknown[]>;
  mapAsync(fn: TaskFunction, iterable: Iterable<unknown>, chunksize?: number): AnyResult<unknown[]> | Promise<AnyResult<unknown[]>>;
  starmap(fn: TaskFunction, iterable: Iterable<unknown[]>, chunksize?: number): Promise<unknown[]>;
  starmapAsync(fn: TaskFunction, iterable: Iterable<unknown[]>, chunksize?: number): AnyResult<unknown[]> | Promise<AnyResult<unknown[]>>;
  imap(fn: TaskFunction, iterable: Iterable<unknown>, chunksize?: number): AsyncGenerator<unknown>;
  imapUnordered(fn: TaskFunction, iterable: Iterable<unknown>, chunksize?: number): AsyncGenerator<unknown>;
  close(): void | Promise<void>;
  terminate(): Promise<void>;
  join(): Promise<void>;
}

const { all, manager } = mixins(['processes', 'threads', 'manager']);

class SayWhenError extends ValueError {
  override name = 'SayWhenError';
}

function* exceptionThrowingGenerator(total: number, when: number): Generator<number> {
  if (when === -1) throw new SayWhenError('Somebody said when');
  for (let i = 0; i < total; i++) {
    if (i === when) throw new SayWhenError('Somebody said when');
    yield i;
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sqr = (x: number) => x * x;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function newPool(m: Mixin, processes: number): Promise<AnyPool> {
  if (m.TYPE === 'manager') return (await manager().Pool({ processes })) as PoolProxy as unknown as AnyPool;
  return new Pool({ processes, context: m.context }) as unknown as AnyPool;
}

/** V8's collector, which `--expose-gc` would give; test_release_task_refs needs it as CPython needs gc.collect(). */
const gc: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

for (const m of all) {
  describe(`_TestPool (${m.TYPE})`, () => {
    let pool: AnyPool;
    before(async () => {
      pool = await newPool(m, 4);
    });
    after(async () => {
      await pool.terminate();
      await pool.join();
    });

    test('test_apply', async () => {
      assert.equal(await pool.apply(t.sqr, [5]), sqr(5));
      assert.equal(await pool.apply(t.sqr, [3]), sqr(3)); // Python: papply(sqr, (), {'x': 3})
    });

    test('test_map', async () => {
      assert.deepEqual(await pool.map(t.sqr, range(10)), range(10).map(sqr));
      assert.deepEqual(await pool.map(t.sqr, range(100), 20), range(100).map(sqr));
    });

    test('test_starmap', async () => {
      let tuples = range(10).map((i) => [i, 9 - i]);
      assert.deepEqual(await pool.starmap(t.mul, tuples), tuples.map(([x, y]) => x! * y!));
      tuples = range(100).map((i) => [i, 99 - i]);
      assert.deepEqual(await pool.starmap(t.mul, tuples, 20), tuples.map(([x, y]) => x! * y!));
    });

    test('test_starmap_async', async () => {
      const tuples = range(100).map((i) => [i, 99 - i]);
      assert.deepEqual(await (await pool.starmapAsync(t.mul, tuples)).get(), tuples.map(([x, y]) => x! * y!));
    });

    test('test_map_async', async () => {
      assert.deepEqual(await (await pool.mapAsync(t.sqr, range(10))).get(), range(10).map(sqr));
    });

    if (m.TYPE !== 'manager') {
      test('test_map_async_callbacks', async () => {
        const local = pool as unknown as Pool;
        const callArgs: unknown[] = [];
        const push = (x: unknown) => void callArgs.push(x);
        await local.mapAsync(t.int, ['1'], { callback: push, errorCallback: push }).wait();
        assert.equal(callArgs.length, 1);
        assert.deepEqual(callArgs[0], [1]);
        await local.mapAsync(t.int, ['a'], { callback: push, errorCallback: push }).wait();
        assert.equal(callArgs.length, 2);
        assert.ok(callArgs[1] instanceof ValueError, `got ${String(callArgs[1])}`);
      });
    }

    if (m.TYPE !== 'threads') {
      test('test_map_unplicklable', async () => {
        const A = () => 'cannot pickle';
        await assert.rejects(pool.map(t.sqr, Array(10).fill(A)), UnsendableError);
      });
    }

    test('test_map_chunksize', async () => {
      assert.deepEqual(await (await pool.mapAsync(t.sqr, [], 1)).get(TIMEOUT1), []);
    });

    if (m.TYPE !== 'manager') {
      test('test_map_handle_iterable_exception', async () => {
        await assert.rejects(pool.map(t.sqr, exceptionThrowingGenerator(1, -1), 1), SayWhenError);
        await assert.rejects(pool.map(t.sqr, exceptionThrowingGenerator(1, -1), 1), SayWhenError); // reentrant
        await assert.rejects(pool.map(t.sqr, exceptionThrowingGenerator(10, 3), 1), SayWhenError);
        const specialIterable: Iterable<number> = {
          [Symbol.iterator]: () => ({
            next(): IteratorResult<number> {
              throw new SayWhenError();
            },
          }),
        };
        await assert.rejects(pool.map(t.sqr, specialIterable, 1), SayWhenError);
        await assert.rejects(pool.map(t.sqr, specialIterable, 1), SayWhenError);
      });
    }

    test('test_async', async () => {
      const res = await pool.applyAsync(t.sqr, [7, TIMEOUT1]);
      const [got, elapsed] = await timed(() => res.get());
      assert.equal(got, 49);
      assertTimingAlmostEqual(elapsed, TIMEOUT1);
    });

    test('test_async_timeout', async () => {
      const p = await newPool(m, 3);
      try {
        const res = await p.applyAsync(t.sqr, [6, TIMEOUT2 + 5]);
        const [, elapsed] = await timed(() => assert.rejects(res.get(TIMEOUT2), TimeoutError));
        assertTimingAlmostEqual(elapsed, TIMEOUT2);
      } finally {
        await p.terminate();
        await p.join();
      }
    });

    test('test_imap', async () => {
      assert.deepEqual(await collect(pool.imap(t.sqr, range(10))), range(10).map(sqr));
      let it = pool.imap(t.sqr, range(10));
      for (let i = 0; i < 10; i++) assert.equal((await it.next()).value, i * i);
      assert.equal((await it.next()).done, true); // StopIteration
      it = pool.imap(t.sqr, range(1000), 100);
      for (let i = 0; i < 1000; i++) assert.equal((await it.next()).value, i * i);
      assert.equal((await it.next()).done, true);
    });

    if (m.TYPE !== 'manager') {
      test('test_imap_handle_iterable_exception', async () => {
        let it = pool.imap(t.sqr, exceptionThrowingGenerator(1, -1), 1);
        await assert.rejects(it.next(), SayWhenError);
        it = pool.imap(t.sqr, exceptionThrowingGenerator(1, -1), 1); // reentrant
        await assert.rejects(it.next(), SayWhenError);
        it = pool.imap(t.sqr, exceptionThrowingGenerator(10, 3), 1);
        for (let i = 0; i < 3; i++) assert.equal((await it.next()).value, i * i);
        await assert.rejects(it.next(), SayWhenError);
        // SayWhenError seen at start of problematic chunk's results
        it = pool.imap(t.sqr, exceptionThrowingGenerator(20, 7), 2);
        for (let i = 0; i < 6; i++) assert.equal((await it.next()).value, i * i);
        await assert.rejects(it.next(), SayWhenError);
        it = pool.imap(t.sqr, exceptionThrowingGenerator(20, 7), 4);
        for (let i = 0; i < 4; i++) assert.equal((await it.next()).value, i * i);
        await assert.rejects(it.next(), SayWhenError);
      });
    }

    test('test_imap_unordered', async () => {
      const sorted = (xs: unknown[]) => (xs as number[]).sort((a, b) => a - b);
      assert.deepEqual(sorted(await collect(pool.imapUnordered(t.sqr, range(10)))), range(10).map(sqr));
      assert.deepEqual(sorted(await collect(pool.imapUnordered(t.sqr, range(1000), 100))), range(1000).map(sqr));
    });

    if (m.TYPE !== 'manager') {
      test('test_imap_unordered_handle_iterable_exception', async () => {
        let it = pool.imapUnordered(t.sqr, exceptionThrowingGenerator(1, -1), 1);
        await assert.rejects(it.next(), SayWhenError);
        it = pool.imapUnordered(t.sqr, exceptionThrowingGenerator(1, -1), 1); // reentrant
        await assert.rejects(it.next(), SayWhenError);
        for (const [total, when, chunksize] of [[10, 3, 1], [20, 7, 2]] as const) {
          it = pool.imapUnordered(t.sqr, exceptionThrowingGenerator(total, when), chunksize);
          const expected = range(total).map(sqr);
          await assert.rejects(async () => {
            for (let i = 0; i < total; i++) {
              const r = await it.next();
              assert.ok(!r.done && expected.includes(r.value as number), `unexpected ${String(r.value)}`);
              expected.splice(expected.indexOf(r.value as number), 1);
            }
          }, SayWhenError);
        }
      });
    }

    test('test_make_pool', async () => {
      const expected = (e: unknown) => e instanceof ValueError || (e instanceof Error && e.name === 'RemoteError');
      await assert.rejects(newPool(m, -1), expected);
      await assert.rejects(newPool(m, 0), expected);
      if (m.TYPE !== 'manager') {
        const p = new Pool({ processes: 3, context: m.context });
        try {
          assert.equal(p.stats().workers.length, 3);
        } finally {
          p.close();
          await p.join();
        }
      }
    });

    test('test_terminate', async () => {
      const p = await newPool(m, 3);
      const result = await p.mapAsync(t.sqr, range(100).map(() => [0, 30]).map(([x]) => x), 1);
      void result.get().catch(() => {}); // terminated: never completes
      await p.terminate();
      await p.join();
    });

    test('test_empty_iterable', async () => {
      const p = await newPool(m, 1);
      assert.deepEqual(await p.map(t.sqr, []), []);
      assert.deepEqual(await collect(p.imap(t.sqr, [])), []);
      assert.deepEqual(await collect(p.imapUnordered(t.sqr, [])), []);
      assert.deepEqual(await (await p.mapAsync(t.sqr, [])).get(), []);
      await p.close();
      await p.join();
    });

    if (m.TYPE === 'processes') {
      test('test_context', async () => {
        const L = range(10);
        let p: Pool;
        {
          await using q = new Pool({ processes: 2, context: m.context });
          p = q;
          assert.deepEqual(await q.mapAsync(t.sqr, L).get(), L.map(sqr));
        }
        await p.join();
        assert.throws(() => p.mapAsync(t.sqr, L), ValueError);
      });

      test('test_traceback', async () => {
        let exc: unknown;
        {
          await using p = new Pool({ processes: 1, context: m.context });
          exc = await p.apply(t.testTraceback, []).then(() => assert.fail('expected TypeError'), (e: unknown) => e);
        }
        assert.ok(exc instanceof TypeError, `got ${String(exc)}`);
        assert.equal(exc.message, '123');
        assert.match(String(exc.stack), /_test_traceback/);
        // the pool's own handling of the input must not make the error a remote one
        {
          await using p = new Pool({ processes: 1, context: m.context });
          await assert.rejects(p.map(t.sqr, exceptionThrowingGenerator(1, -1), 1), (e: unknown) => {
            assert.ok(e instanceof SayWhenError);
            assert.equal(e.cause, undefined);
            return true;
          });
        }
      });
    }

    test('test_release_task_refs', async () => {
      let objs: ({ i: number } | null)[] = range(10).map((i) => ({ i }));
      const refs = objs.map((o) => new WeakRef(o!));
      await pool.map(t.identity, objs);
      objs = null as never;
      for (let i = 0; i < 5 && refs.some((r) => r.deref() !== undefined); i++) {
        await sleep(0.02); // let the pool's cleanup run, then collect
        gc();
      }
      assert.deepEqual(refs.map((r) => r.deref()), Array(10).fill(undefined));
    });

    test('test_wrapped_exception', async () => {
      const p = await newPool(m, 1);
      try {
        await assert.rejects(p.apply(t.testTraceback, []), TypeError);
      } finally {
        await p.terminate();
        await p.join();
      }
    });

    test('test_map_no_failfast', async () => {
      const tStart = performance.now();
      await assert.rejects(async () => {
        const p = await newPool(m, 2);
        try {
          await p.map(t.raiseLargeValueError, [0, 1]);
        } finally {
          await sleep(0.5);
          await p.close();
          await p.join();
        }
      }, ValueError);
      assert.ok((performance.now() - tStart) / 1000 > 0.9, 'waited for all jobs');
    });
  });
}

describe('_TestPoolWorkerErrors', () => {
  test('test_async_error_callback (processes)', async () => {
    await using p = new Pool({ processes: 2 });
    const scratchpad: unknown[] = [];
    const res = p.applyAsync(t.raising, [], { errorCallback: (e) => void scratchpad.push(e) });
    await assert.rejects(res.get(), KeyError);
    assert.ok(scratchpad[0] instanceof KeyError);
  });

  test('test_unpickleable_result (processes)', async () => {
    await using p = new Pool({ processes: 2 });
    for (let iteration = 0; iteration < 20; iteration++) {
      const scratchpad: unknown[] = [];
      const res = p.applyAsync(t.unpickleableResult, [], { errorCallback: (e) => void scratchpad.push(e) });
      await assert.rejects(res.get(), UnsendableError);
      assert.ok(scratchpad[0] instanceof UnsendableError);
    }
  });
});

describe('_TestPoolWorkerLifetime', () => {
  test('test_pool_worker_lifetime (processes)', async () => {
    const p = new Pool({ processes: 3, maxTasksPerChild: 10 });
    assert.equal(p.stats().workers.length, 3);
    const origWorkerPids = p.stats().workers.map((w) => w.pid);
    let results = range(10).map((i) => p.applyAsync(t.sqr, [i]));
    for (const [j, res] of results.entries()) assert.equal(await res.get(), sqr(j));
    results = range(100).map((i) => p.applyAsync(t.sqr, [i]));
    for (const [j, res] of results.entries()) assert.equal(await res.get(), sqr(j));
    const finalWorkerPids = p.stats().workers.map((w) => w.pid);
    assert.ok(!origWorkerPids.some((pid) => pid !== undefined && finalWorkerPids.includes(pid)), 'every worker was replaced');
    assert.equal(p.stats().workers.length, 3);
    p.close();
    await p.join();
  });

  test('test_pool_worker_lifetime_early_close (processes)', async () => {
    const p = new Pool({ processes: 3, maxTasksPerChild: 1 });
    const results = range(6).map((i) => p.applyAsync(t.sqr, [i, 0.3]));
    p.close();
    await p.join();
    for (const [j, res] of results.entries()) assert.equal(await res.get(), sqr(j));
  });

  test('test_pool_maxtasksperchild_invalid (processes)', () => {
    for (const value of [0, -1, 0.5, '12']) {
      assert.throws(() => new Pool({ processes: 3, maxTasksPerChild: value as number }), ValueError);
    }
  });
});
