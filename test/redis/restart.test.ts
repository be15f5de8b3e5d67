/**
 * weft/redis across a redis-server crash and restart with AOF (appendfsync
 * always): no message a `put` acknowledged and no finished task result is
 * lost, clients reconnect by themselves, and calls pending meanwhile complete.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type Cluster } from 'weft/redis';
import { RedisServer } from './server.js';
import { WeftWorker, root } from './workers.js';
import { hang, square } from './fixtures/tasks.js';

let server: RedisServer;
let cluster: Cluster;
let worker: WeftWorker;
const scratch = mkdtempSync(join(tmpdir(), 'weft-redis-restart-'));
before(async () => {
  server = await RedisServer.start(['--appendonly', 'yes', '--appendfsync', 'always']);
  cluster = await connect(server.url);
  worker = await new WeftWorker(server.url, 'restart', { lease: 5 }).ready();
});
after(async () => {
  await worker.stop();
  await cluster.close();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** SIGKILLs redis-server (a crash) and starts it again on the same port and AOF. */
async function crashAndRestart(downFor = 0.3): Promise<void> {
  await server.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, downFor * 1000));
  await server.restart();
}

describe('redis-server restarted with AOF', () => {
  test('acknowledged puts survive; a get pending across the restart completes', async () => {
    const q = cluster.JoinableQueue<number>('survivors');
    for (let i = 0; i < 100; i++) await q.put(i);
    const d = await cluster.dict<string, number>('counts');
    await d.incr('n', 5);
    await crashAndRestart();
    const got = [];
    for (let i = 0; i < 100; i++) got.push(await q.get({ timeout: 10 }));
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
    assert.equal(await d.get('n'), 5);
    const empty = cluster.Queue<string>('late');
    const pending = empty.get({ timeout: 20 });
    await crashAndRestart();
    await empty.put('after the restart');
    assert.equal(await pending, 'after the restart');
  });

  test('a task running across the restart: its result reaches the caller', async () => {
    await using pool = cluster.Pool({ queue: 'restart', root });
    assert.equal(await pool.apply(square, [2], { timeout: 30 }), 4);
    const file = join(scratch, 'across');
    const call = pool.apply(hang, [file, 1.5], { timeout: 60 });
    for (const t0 = Date.now(); Date.now() - t0 < 10_000; await new Promise((r) => setTimeout(r, 20))) {
      try {
        if (readFileSync(file, 'utf8')) break;
      } catch {
        // not started yet
      }
    }
    await crashAndRestart();
    assert.equal(await call, `slept in ${worker.pid}`);
    assert.equal(await pool.apply(square, [3], { timeout: 30 }), 9, 'the worker serves on after the restart');
  });

  test('a server that stays down: pending calls reject, none hangs', async () => {
    const own = await connect(server.url);
    const d = await own.dict<string, number>('down');
    await d.set('x', 1);
    await server.kill('SIGKILL');
    const t0 = performance.now();
    const calls = [d.get('x'), own.Queue('down').get({ timeout: 60 }), own.Lock('down').acquire({ timeout: 60 })];
    for (const call of calls) await assert.rejects(call, (e: Error) => /max retries|Connection is closed|ECONNREFUSED/i.test(e.message));
    const took = (performance.now() - t0) / 1000;
    assert.ok(took < 30, `rejected after ${took} s`);
    await own.close();
    await server.restart();
  });
});
