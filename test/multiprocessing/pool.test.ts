// Pool over both start methods: the API, ordering, errors, and the faults
// Python's Pool gets wrong (a worker dying mid-task hangs it forever).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { TimeoutError, UnsendableError, ValueError, AbortError, AsyncResult, Pool, WorkerLostError } from 'weft';
import { fileURLToPath } from 'node:url';
import { eventually, openFds, pidAlive, runNode, sleep } from '../helpers/run.js';
import {
  CustomError,
  abort,
  add,
  countCalls,
  dieHard,
  echo,
  exitNow,
  nap,
  numberThenText,
  fail,
  failInit,
  init,
  makeFunction,
  readInit,
  sleepThen,
  sometimesAsync,
  square,
  whoami,
} from './fixtures/pool-tasks.js';

/** A worker is gone: its process (process context) or its thread (thread context). */
const gone = (context: 'process' | 'thread', id: number) =>
  context === 'process' ? !pidAlive(id) : !existsSync(`/proc/self/task/${id}`);

async function* naturals(pulled: { n: number; returned: boolean }) {
  try {
    for (let i = 0; ; i++) {
      pulled.n++;
      yield i;
    }
  } finally {
    pulled.returned = true;
  }
}

for (const context of ['process', 'thread'] as const) {
  describe(`Pool (${context})`, () => {
    let pool: Pool;
    before(() => {
      pool = new Pool({ processes: 2, context });
    });
    after(async () => {
      await pool.terminate();
    });

    test('apply, applyAsync with callbacks, map, starmap, typed from the task', async () => {
      const n: number = await pool.apply(square, [7]);
      assert.equal(n, 49);
      const seen: number[] = [];
      const r: AsyncResult<number> = pool.applyAsync(add, [2, 3], { callback: (v) => seen.push(v) });
      assert.equal(await r.get(), 5);
      assert.deepEqual(seen, [5]);
      assert.equal(r.ready(), true);
      assert.equal(r.successful(), true);
      const squares: number[] = await pool.map(square, [1, 2, 3, 4, 5]);
      assert.deepEqual(squares, [1, 4, 9, 16, 25]);
      assert.deepEqual(await pool.starmap(add, [[1, 2], [3, 4]]), [3, 7]);
      assert.deepEqual(await pool.map(square, []), []);
      // @ts-expect-error square takes a number
      void pool.applyAsync(square, ['x']).wait();
    });

    test('map keeps order over many chunks; mapAsync calls back with the list', async () => {
      const items = Array.from({ length: 10_000 }, (_, i) => i);
      assert.deepEqual(await pool.map(square, items, 7), items.map((i) => i * i));
      let got: number[] | null = null;
      const r = pool.mapAsync(square, new Set([3, 1, 2]), { callback: (v) => (got = v) });
      assert.deepEqual(await r.get(), [9, 1, 4]);
      assert.deepEqual(got, [9, 1, 4]);
      assert.deepEqual(await pool.starmapAsync(add, [[1, 1]]).get(), [2]);
    });

    test('a chunk whose task returns a promise for some items only: every result in order, a rejection fails the map', async () => {
      const items = Array.from({ length: 50 }, (_, i) => i);
      assert.deepEqual(await pool.map(sometimesAsync, items, 25), items.map((i) => 2 * i));
      assert.deepEqual(await pool.starmap(sometimesAsync, [[4], [5], [6, -1], [7, -1]]), [8, 10, 12, 14]);
      await assert.rejects(pool.starmap(sometimesAsync, items.map((i) => [i, 31]), 50), { message: 'no 31' });
      await assert.rejects(pool.starmap(sometimesAsync, [[1, 3], [3, 3], [4, 3]]), { message: 'no 3' });
    });

    test('a map of numbers: every float64 comes back as sent, and results that stop being numbers midway a chunk', async () => {
      const odd = [-0, 0, NaN, Infinity, -Infinity, 0.5, 2 ** 31, -(2 ** 31), 2 ** 53, Number.MIN_VALUE, -7];
      const back = await pool.map(echo, odd, odd.length);
      assert.equal(back.length, odd.length);
      back.forEach((v, i) => assert.ok(Object.is(v, odd[i]), `item ${i}: ${v} for ${odd[i]}`));
      const viaImap: number[] = [];
      for await (const v of pool.imap(echo, odd, 4)) viaImap.push(v as number);
      viaImap.forEach((v, i) => assert.ok(Object.is(v, odd[i]), `imap item ${i}: ${v} for ${odd[i]}`));
      const items = Array.from({ length: 8 }, (_, i) => i);
      const expected = items.map((i) => (i < 3 ? i * 10 : `n${i}`));
      assert.deepEqual(await pool.map(numberThenText, items, 8), expected);
      const mixed: (number | string)[] = [];
      for await (const v of pool.imap(numberThenText, items, 8)) mixed.push(v);
      assert.deepEqual(mixed, expected);
    });

    test('imap yields in order, imapUnordered as they finish; async iterables as input', async () => {
      const delays = [0.2, 0.0, 0.1, 0.0];
      const ordered: number[] = [];
      for await (const v of pool.imap(nap, delays)) ordered.push(v);
      assert.deepEqual(ordered, delays);
      const values: number[] = [];
      async function* input() {
        for (let i = 0; i < 50; i++) yield i;
      }
      for await (const v of pool.imap(square, input(), 3)) values.push(v);
      assert.deepEqual(values, Array.from({ length: 50 }, (_, i) => i * i));
      const unordered: number[] = [];
      for await (const v of pool.imapUnordered(square, [1, 2, 3, 4])) unordered.push(v);
      assert.deepEqual(unordered.sort((a, b) => a - b), [1, 4, 9, 16]);
      // order of completion: the slow item comes last
      const finish: number[] = [];
      for await (const v of pool.imapUnordered(nap, [0.5, 0])) finish.push(v);
      assert.deepEqual(finish, [0, 0.5]);
    });

    test('imap reads an endless input lazily and closes it when the consumer stops', async () => {
      const pulled = { n: 0, returned: false };
      const got: number[] = [];
      for await (const v of pool.imap(square, naturals(pulled))) {
        got.push(v);
        if (got.length === 20) break;
      }
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i * i));
      assert.equal(pulled.returned, true);
      assert.ok(pulled.n < 20_000, `pulled ${pulled.n} items ahead`);
    });

    test('imap and imapUnordered whose input throws: the results of the whole chunks before it are yielded, then the error', async () => {
      class InputError extends Error {}
      function* failingAfter(n: number) {
        for (let i = 1; i <= n; i++) yield i;
        throw new InputError(`input broke after ${n}`);
      }
      async function* failingAfterAsync(n: number) {
        yield* failingAfter(n);
      }
      // Python's feeder builds a chunk before sending it, so the chunk the input failed in ([5] in
      // chunks of 2) is never run: its results are not yielded.
      for (const [how, input, chunksize, expected] of [
        ['sync', () => failingAfter(5), 1, [1, 4, 9, 16, 25]],
        ['async', () => failingAfterAsync(5), 1, [1, 4, 9, 16, 25]],
        ['sync, chunks of 2', () => failingAfter(5), 2, [1, 4, 9, 16]],
      ] as const) {
        const ordered: number[] = [];
        await assert.rejects(async () => {
          for await (const v of pool.imap(square, input(), chunksize)) ordered.push(v);
        }, (e: Error) => e instanceof InputError && e.message === 'input broke after 5', how);
        assert.deepEqual(ordered, expected, how);
        const unordered: number[] = [];
        await assert.rejects(async () => {
          for await (const v of pool.imapUnordered(square, input(), chunksize)) unordered.push(v);
        }, InputError, how);
        assert.deepEqual(unordered.sort((a, b) => a - b), expected, how);
      }
    });

    test("a task's error keeps its class name, message, remote stack and cause; the worker lives on", async () => {
      const before = pool.stats().workers.map((w) => w.pid);
      const err = await pool.apply(fail, ['boom']).catch((e: unknown) => e);
      assert.ok(err instanceof Error);
      assert.equal(err.constructor.name, CustomError.name);
      assert.equal(err.message, 'boom');
      assert.equal((err as CustomError).code, 'E_CUSTOM');
      assert.match(err.stack!, /pool-tasks/);
      assert.ok(err.cause instanceof RangeError);
      assert.equal((err.cause as Error).message, 'the cause');
      const r = pool.applyAsync(fail, ['again'], { errorCallback: (e) => assert.equal(e.message, 'again') });
      await r.wait();
      assert.equal(r.successful(), false);
      assert.deepEqual(pool.stats().workers.map((w) => w.pid), before);
    });

    test('an argument or result that cannot be sent fails only that task', async () => {
      const bad = pool.applyAsync(echo, [() => 1]);
      const good = pool.applyAsync(square, [3]);
      await assert.rejects(bad.get(), (e: Error) => e instanceof UnsendableError && /args\[0\]/.test(e.message));
      assert.equal(await good.get(), 9);
      await assert.rejects(pool.apply(makeFunction, []), (e: Error) => e.name === 'UnsendableError' && /result/.test(e.message));
      const results: unknown[] = [];
      await assert.rejects(async () => {
        for await (const v of pool.imap(echo, [1, Symbol('no'), 3])) results.push(v);
      }, UnsendableError);
      assert.deepEqual(results, [1]);
    });

    test('AsyncResult.get(timeout) gives up waiting but the task goes on', async () => {
      const r = pool.applyAsync(sleepThen, [0.4, 8]);
      await assert.rejects(r.get(0.05), TimeoutError);
      assert.equal(r.ready(), false);
      assert.throws(() => r.successful(), ValueError);
      assert.equal(await r.get(), 8);
    });

    test('a function not declared with task() is refused with a TypeError naming the fix', () => {
      const plain = (x: number) => x;
      assert.throws(() => pool.applyAsync(plain, [1]), (e: Error) => e instanceof TypeError && /task\(\)/.test(e.message));
      assert.throws(() => pool.mapAsync(plain, [1]), TypeError);
      assert.throws(() => pool.imap(plain, [1]), TypeError);
      assert.throws(() => pool.map(square, [1], 0), ValueError);
    });

    test('stats() counts tasks and reports each worker', async () => {
      await pool.map(square, [1, 2, 3, 4], 1);
      const s = pool.stats();
      assert.equal(s.queued, 0);
      assert.equal(s.running, 0);
      assert.ok(s.completed >= 4);
      assert.equal(s.workers.length, 2);
      for (const w of s.workers) assert.ok(w.pid > 0 && w.busySeconds >= 0 && w.tasksDone >= 0);
    });

    test('a task is counted in tasksDone by the time its result arrives', async () => {
      await using one = new Pool({ processes: 1, context });
      for (let i = 0; i < 10; i++) {
        await one.apply(sleepThen, [0.002, i]); // longer than the worker's flush interval
        assert.equal(one.stats().workers[0]!.tasksDone, i + 1);
      }
    });
  });

  describe(`Pool faults (${context})`, () => {
    test('a worker that exits mid-task rejects that task with WorkerLostError; the rest complete', async () => {
      await using pool = new Pool({ processes: 2, context });
      const others = Array.from({ length: 40 }, (_, i) => pool.applyAsync(sleepThen, [0.01, i]));
      const dying = pool.applyAsync(exitNow, [3]);
      const more = Array.from({ length: 40 }, (_, i) => pool.applyAsync(square, [i]));
      const err = await dying.get().catch((e: unknown) => e);
      assert.ok(err instanceof WorkerLostError, String(err));
      assert.equal(err.exitCode, 3);
      assert.equal(err.signal, null);
      assert.ok(err.pid > 0);
      assert.deepEqual(await Promise.all(others.map((r) => r.get())), Array.from({ length: 40 }, (_, i) => i));
      assert.deepEqual(await Promise.all(more.map((r) => r.get())), Array.from({ length: 40 }, (_, i) => i * i));
      assert.equal(pool.stats().workers.length, 2);
      assert.ok(!pool.stats().workers.some((w) => w.pid === err.pid), 'the dead worker was replaced');
    });

    test('a finished task keeps its result when its worker dies on the next one (50 rounds of 8 tasks, 2 workers)', async () => {
      await using pool = new Pool({ processes: 2, context });
      const how = context === 'process' ? 'SIGKILL' : 'process.exit(1)';
      for (let round = 0; round < 50; round++) {
        // Second of a later frame of two (the pool sends each worker at most 2 of 8): its
        // worker has just run the task before it, whose result is not sent yet.
        const killer = round % 2 ? 7 : 5;
        const calls = Array.from({ length: 8 }, (_, i) => (i === killer ? pool.applyAsync(dieHard, []) : pool.applyAsync(square, [i])));
        const outcomes = await Promise.allSettled(calls.map((r) => r.get(30)));
        outcomes.forEach((o, i) => {
          if (i === killer) {
            assert.ok(o.status === 'rejected' && o.reason instanceof WorkerLostError, `round ${round}: the task that ran ${how}`);
          } else {
            assert.deepEqual(o, { status: 'fulfilled', value: i * i }, `round ${round}, task ${i} (the killer was ${killer})`);
          }
        });
      }
    });

    if (context === 'process') {
      test('SIGKILL of a busy worker: WorkerLostError naming the signal; replaced; never hangs', async () => {
        await using pool = new Pool({ processes: 2, context });
        await pool.map(square, [1, 2], 1); // both workers up
        const long = pool.applyAsync(sleepThen, [30, 1]);
        await eventually(() => pool.stats().running === 1, 5, 'the long task to be sent');
        await new Promise((r) => setTimeout(r, 200));
        const pids = pool.stats().workers.map((w) => w.pid);
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        const err = await long.get().catch((e: unknown) => e);
        assert.ok(err instanceof WorkerLostError, String(err));
        assert.equal(err.signal, 'SIGKILL');
        assert.equal(err.exitCode, -9);
        assert.match(err.message, /killed by SIGKILL/);
        assert.deepEqual(await pool.map(square, [1, 2, 3], 1), [1, 4, 9]);
      });

      test('a worker crashing natively (SIGABRT) rejects its task with WorkerLostError', async () => {
        await using pool = new Pool({ processes: 1, context });
        const err = await pool.apply(abort, []).catch((e: unknown) => e);
        assert.ok(err instanceof WorkerLostError, String(err));
        assert.equal(err.signal, 'SIGABRT');
        assert.equal(await pool.apply(square, [4]), 16);
      });
    }

    test('timeout: a running task is stopped (its worker replaced), a queued one dropped', async () => {
      await using pool = new Pool({ processes: 1, context });
      const first = await pool.apply(whoami, []);
      const started = performance.now();
      const running = pool.apply(sleepThen, [30, 1], { timeout: 0.3 });
      const queued = pool.apply(countCalls, [], { timeout: 0.3 });
      await assert.rejects(running, TimeoutError);
      await assert.rejects(queued, TimeoutError);
      assert.ok(performance.now() - started < 5000);
      // the new worker never ran the dropped task: its first call counts 1
      assert.equal(await pool.apply(countCalls, []), 1);
      assert.notEqual(await pool.apply(whoami, []), first);
    });

    test('signal: aborting stops the call with AbortError carrying the reason', async () => {
      await using pool = new Pool({ processes: 1, context });
      const ac = new AbortController();
      const r = pool.apply(sleepThen, [30, 1], { signal: ac.signal });
      setTimeout(() => ac.abort(new Error('stop now')), 100);
      await assert.rejects(r, (e: Error) => e instanceof AbortError && (e.cause as Error).message === 'stop now');
      await assert.rejects(pool.map(square, [1, 2], { signal: AbortSignal.abort() }), AbortError);
      assert.equal(await pool.apply(square, [5]), 25);
    });

    test('maxTasksPerChild recycles workers without losing a task', async () => {
      await using pool = new Pool({ processes: 2, context, maxTasksPerChild: 3 });
      const ids = await pool.map(whoami, Array.from({ length: 21 }, () => undefined as never), 1);
      assert.equal(ids.length, 21);
      assert.ok(new Set(ids).size >= 7, `only ${new Set(ids).size} distinct workers`);
      const values = await pool.map(square, Array.from({ length: 12 }, (_, i) => i), 1);
      assert.deepEqual(values, Array.from({ length: 12 }, (_, i) => i * i));
    });

    test('initializer runs in each worker with its initargs; a failing one fails tasks, no hang', async () => {
      await using good = new Pool({ processes: 2, context, initializer: init, initargs: ['ready'] });
      assert.deepEqual(await good.map(readInit, [undefined as never, undefined as never], 1), ['ready', 'ready']);
      await using bad = new Pool({ processes: 1, context, initializer: failInit });
      await assert.rejects(bad.apply(square, [1]), (e: Error) => e.name === 'TypeError' && /on purpose/.test(e.message));
    });

    test('close() then join() finishes the work; the workers exit; no submits after close; no fd left', async () => {
      // What a process keeps once it has used weft at all (the io_uring its async
      // waits sleep on, a child booted ahead for the next start) is counted in
      // the baseline: a first pool makes them.
      const warm = new Pool({ processes: 2, context });
      await warm.map(square, [1, 2], 1);
      warm.close();
      await warm.join();
      await sleep(0.5);
      const fds = openFds();
      const pool = new Pool({ processes: 2, context });
      await pool.map(square, [1, 2], 1);
      const ids = new Set(pool.stats().workers.map((w) => w.pid));
      const r = pool.mapAsync(nap, [0.1, 0.1, 0.1]);
      await assert.rejects(pool.join(), ValueError);
      pool.close();
      assert.throws(() => pool.applyAsync(square, [1]), ValueError);
      assert.throws(() => pool.imap(square, [1]), ValueError);
      await pool.join();
      assert.deepEqual(await r.get(), [0.1, 0.1, 0.1]);
      // A joined thread's /proc entry goes a moment after pthread_join returns: the kernel wakes
      // the joiner as the thread exits, and releases the task after that (on a loaded machine, later).
      for (const id of ids) await eventually(() => gone(context, id), 2, `worker ${id} to be gone`);
      await eventually(() => openFds() <= fds, 2, `fds back to ${fds} (now ${openFds()})`);
    });

    test('terminate() stops busy workers and leaves no process or thread behind', async () => {
      const pool = new Pool({ processes: 2, context });
      await pool.map(square, [1, 2], 1);
      const ids = pool.stats().workers.map((w) => w.pid);
      const r = pool.applyAsync(sleepThen, [30, 1]);
      await pool.terminate();
      await assert.rejects(r.get(), ValueError);
      for (const id of ids) await eventually(() => gone(context, id), 2, `worker ${id} to be gone`);
      await pool.join();
    });
  });
}

test('constructor options are checked', () => {
  assert.throws(() => new Pool({ processes: 0 }), ValueError);
  assert.throws(() => new Pool({ processes: 1, maxTasksPerChild: 0 }), ValueError);
  assert.throws(() => new Pool({ processes: 1, initializer: () => 1 }), TypeError);
});

test('examples/15-pool: ten tasks on five workers, callbacks print in the parent', async () => {
  const script = fileURLToPath(new URL('../../examples/15-pool.js', import.meta.url));
  const { code, stdout, stderr } = await runNode([script], { env: { WEFT_TOUR: '1' }, timeout: 30 });
  assert.equal(code, 0, stderr);
  const main = Number(/^main_process: (\d+)$/m.exec(stdout)?.[1]);
  const workers = [...stdout.matchAll(/^in process (\d+)$/gm)].map((m) => Number(m[1]));
  const callbacks = [...stdout.matchAll(/^---> (\d+) (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(workers.length, 10);
  assert.ok(new Set(workers).size <= 5 && !workers.includes(main));
  assert.deepEqual(callbacks.map(([i]) => i).sort((a, b) => a! - b!), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(callbacks.every(([, pid]) => pid === main), 'callbacks run in the parent');
  assert.ok(stdout.indexOf('end') < stdout.indexOf('in process'), "'end' prints before any task finishes");
});

test('a parent killed with SIGKILL leaves no worker behind', async () => {
  const { spawn } = await import('node:child_process');
  const tasks = fileURLToPath(new URL('./fixtures/pool-tasks.js', import.meta.url));
  const pool = fileURLToPath(new URL('../../src/index.js', import.meta.url));
  const code = `
    const { Pool } = await import(${JSON.stringify(pool)});
    const { sleepThen } = await import(${JSON.stringify(tasks)});
    const pool = new Pool({ processes: 2 });
    pool.applyAsync(sleepThen, [30, 1]);
    await pool.apply(sleepThen, [0, 1]);
    console.log(JSON.stringify(pool.stats().workers.map((w) => w.pid)));
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => child.stdout.once('data', (d) => resolve(String(d))));
  const pids = JSON.parse(line) as number[];
  assert.equal(pids.length, 2);
  child.kill('SIGKILL');
  for (const pid of pids) await eventually(() => !pidAlive(pid), 3, `worker ${pid} to die with its parent`);
});
