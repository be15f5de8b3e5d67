/**
 * The seed's Queue and Pool examples (examples/11-queue.ts, 15-pool.ts) with
 * weft/redis: the same logic, the objects made on a cluster, run as programs
 * against a real redis-server and `weft worker` processes.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { runNode } from '../helpers/run.js';
import { RedisServer } from './server.js';
import { WeftWorker, root } from './workers.js';

let server: RedisServer;
let worker: WeftWorker;
before(async () => {
  server = await RedisServer.start();
  worker = await new WeftWorker(server.url, 'example-15', { concurrency: 5 }).ready();
});
after(async () => {
  await worker.stop();
  await server.stop();
});

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url));

describe('the seed examples on weft/redis', () => {
  test('11-queue: the parent gets what the child put, through Redis', async () => {
    const r = await runNode([fixture('11-queue'), server.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hahaha123\n');
  });

  test('15-pool: ten tasks on a worker of five, callbacks in the parent', async () => {
    const r = await runNode([fixture('15-pool'), server.url, 'example-15', '0.3'], { cwd: root, timeout: 60 });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const main = Number(/^main_process: (\d+)$/.exec(lines[0]!)![1]);
    assert.equal(lines[1], 'end');
    const callbacks = lines.filter((l) => l.startsWith('--->'));
    assert.deepEqual(callbacks.map((l) => Number(l.split(' ')[1])).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const l of callbacks) assert.equal(Number(l.split(' ')[2]), main, 'callbacks run in the parent');
    // foo printed in the worker's pool processes (the worker's output), not here.
    assert.equal(lines.filter((l) => l.startsWith('in process')).length, 0);
    const printed = worker.log.split('\n').filter((l) => l.startsWith('in process'));
    assert.equal(printed.length, 10, worker.log);
    assert.ok(new Set(printed).size > 1, 'several pool processes ran them');
  });
});
