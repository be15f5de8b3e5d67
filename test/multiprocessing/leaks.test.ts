// Nothing leaks: fds and shared memory of queues and pipes are released when
// the objects are collected and when the processes and threads that used them
// exit — SIGKILL and terminate() included. A leak would grow with the loop
// count (hundreds of fds); the slack of a few covers fds the test runner and
// libuv open lazily.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Pipe, Pool, Process, Queue } from 'weft';
import { openFds } from '../helpers/run.js';
import { echo } from './fixtures/pipes.js';
import { echoQueue } from './fixtures/queues.js';
import { echo as same, square } from './fixtures/pool-tasks.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const memfdMappings = () => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('memfd:weft')).length;

async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

describe('leaks', () => {
  test('queues and pipes made and dropped: fds and mappings come back to the baseline', async () => {
    await collect();
    const fds = openFds();
    const maps = memfdMappings();
    for (let i = 0; i < 200; i++) {
      const q = new Queue<number>({ capacity: 4096 });
      await q.put(i);
      assert.equal(await q.get(), i);
      const [a, b] = Pipe({ capacity: 4096 });
      a.send(i);
      assert.equal(await b.recv(), i);
      a.close();
      b.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    await collect();
    assert.ok(openFds() <= fds + 8, `fds: ${fds} before, ${openFds()} after`);
    assert.ok(memfdMappings() <= maps + 8, `memfd mappings: ${maps} before, ${memfdMappings()} after`);
  });

  for (const context of ['process', 'thread'] as const) {
    test(`children (${context}) that are killed mid-use leave no fd behind in the parent`, async () => {
      // Boot the spare children first: they hold a few fds of their own for as long as they wait.
      const warm = new Process({ target: echoQueue, args: [new Queue(), new Queue()], context });
      warm.start();
      warm.kill();
      await warm.join();
      await new Promise((r) => setTimeout(r, 500));
      await collect();
      const fds = openFds();
      for (let i = 0; i < 10; i++) {
        const [a, b] = Pipe({ capacity: 4096 });
        const input = new Queue<unknown>({ capacity: 4096 });
        const output = new Queue<unknown>({ capacity: 4096 });
        const p1 = new Process({ target: echo, args: [b], context });
        const p2 = new Process({ target: echoQueue, args: [input, output], context });
        p1.start();
        p2.start();
        a.send('x');
        assert.equal(await a.recv(), 'x');
        await input.put('y');
        assert.equal(await output.get(), 'y');
        p1.kill();
        p2.terminate();
        await Promise.all([p1.join(), p2.join()]);
        a.close();
      }
      await new Promise((r) => setTimeout(r, 50));
      await collect();
      assert.ok(openFds() <= fds + 8, `fds: ${fds} before, ${openFds()} after`);
    });
  }

  test('Pool.map, like apply and imap, keeps no input alive once it returned (CPython issue 29861)', async () => {
    await using pool = new Pool({ processes: 2, context: 'thread' });
    const alive: Record<string, WeakRef<object>[]> = {};
    const calls: Record<string, (inputs: { i: number }[]) => Promise<unknown>> = {
      map: (inputs) => pool.map(same, inputs),
      mapAsync: (inputs) => pool.mapAsync(same, inputs).get(),
      starmap: (inputs) => pool.starmap(same, inputs.map((x) => [x])),
      apply: (inputs) => Promise.all(inputs.map((x) => pool.apply(same, [x]))),
      imap: async (inputs) => {
        for await (const v of pool.imap(same, inputs)) void v;
      },
    };
    // The inputs live in a frame of their own: a suspended frame of this test may keep a stale register.
    const run = async (name: string, call: (inputs: { i: number }[]) => Promise<unknown>) => {
      const inputs = Array.from({ length: 10 }, (_, i) => ({ i }));
      alive[name] = inputs.map((x) => new WeakRef(x));
      await call(inputs);
    };
    for (const [name, call] of Object.entries(calls)) await run(name, call);
    await pool.map(square, Array.from({ length: 5000 }, (_, i) => i)); // later work, as in the CPython report
    await collect();
    const left = Object.fromEntries(Object.entries(alive).map(([name, refs]) => [name, refs.filter((r) => r.deref() !== undefined).length]));
    assert.deepEqual(left, { map: 0, mapAsync: 0, starmap: 0, apply: 0, imap: 0 });
  });
});
