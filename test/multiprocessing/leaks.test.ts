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
import { Pipe, Process, Queue } from 'weft';
import { openFds } from '../helpers/run.js';
import { echo } from './fixtures/pipes.js';
import { echoQueue } from './fixtures/queues.js';

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
});
