// What a Pool and a Process tell their watchers, over both start methods: typed events,
// the same messages on node:diagnostics_channel, and the figures of pool.stats().
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import { Pool, Process, WorkerLostError, type TaskEvent, type WorkerEvent } from 'weft';
import { eventually, runNode } from '../helpers/run.js';
import { napFor, twice } from './fixtures/options-tasks.js';
import { exitNow, failInit } from './fixtures/pool-tasks.js';

for (const context of ['process', 'thread'] as const) {
  describe(`Pool and Process events (${context})`, () => {
    test('task events: queued, start, finish and fail, with ids, worker, wait and run times', async () => {
      const pool = new Pool({ processes: 1, context });
      const seen: [string, TaskEvent][] = [];
      for (const name of ['taskQueued', 'taskStart', 'taskFinish', 'taskFail'] as const) pool.on(name, (e) => seen.push([name, e]));
      const workers: [string, WorkerEvent][] = [];
      pool.on('workerExit', (e) => workers.push(['exit', e]));
      assert.equal(await pool.apply(napFor, [0.1]), 0.1);
      await assert.rejects(pool.apply(exitNow, [3]), WorkerLostError);
      const kinds = seen.map(([k, e]) => `${k}#${e.id}`);
      assert.deepEqual(kinds, ['taskQueued#1', 'taskStart#1', 'taskFinish#1', 'taskQueued#2', 'taskStart#2', 'taskFail#2']);
      const finish = seen[2]![1];
      assert.equal(finish.task, 'napFor');
      assert.ok(finish.worker > 0);
      assert.ok(finish.run >= 0.09 && finish.run < 5, `run ${finish.run}`);
      assert.ok(finish.wait >= 0 && finish.wait < 5, `wait ${finish.wait}`);
      assert.equal(finish.pool, pool);
      const fail = seen[5]![1];
      assert.ok(fail.error instanceof WorkerLostError);
      await eventually(() => workers.length === 1, 10, 'the lost worker to be reported');
      assert.ok(workers[0]![1].exitCode !== 0);
      pool.close();
      await pool.join();
    });

    test('worker events: start and exit with pid, name, exit code and signal', async () => {
      const pool = new Pool({ processes: 2, context, name: 'weft-ev' });
      const exits: WorkerEvent[] = [];
      pool.on('workerExit', (e) => exits.push(e));
      const starts: WorkerEvent[] = [];
      pool.on('workerStart', (e) => starts.push(e));
      await Promise.resolve();
      assert.equal(starts.length, 2);
      assert.equal(await pool.apply(twice, [2]), 4);
      pool.close();
      await pool.join();
      await eventually(() => exits.length === 2, 10, 'both workers to exit');
      assert.deepEqual(exits.map((e) => e.name).sort(), ['weft-ev-1', 'weft-ev-2']);
      for (const e of exits) {
        assert.equal(e.exitCode, 0);
        assert.equal(e.signal, null);
      }
      const killed = new Pool({ processes: 1, context });
      killed.on('workerStart', (e) => starts.push(e));
      const gone = new Promise<WorkerEvent>((resolve) => killed.once('workerExit', resolve));
      void killed.apply(napFor, [30]).catch(() => {});
      await eventually(() => killed.stats().running === 1, 10, 'the task to be sent');
      await killed.terminate();
      const e = await gone;
      assert.equal(e.signal, 'SIGTERM');
      assert.equal(e.exitCode, -15);
      // Workers started in the constructor are announced on the next microtask, to listeners added right after it.
      assert.deepEqual(starts.map((e) => e.name.replace(/\d+$/, 'N')), ['weft-ev-N', 'weft-ev-N', 'PoolWorker-N'], 'no replacement after terminate()');
      assert.ok(starts.every((e) => e.exitCode === null && e.signal === null));
    });

    test("'error' when the initializer fails: to listeners only", async () => {
      const pool = new Pool({ processes: 1, context, initializer: failInit, initargs: [] });
      const errors: unknown[] = [];
      pool.on('error', (e) => errors.push(e.error));
      await assert.rejects(pool.apply(twice, [1]));
      assert.equal(errors.length, 1);
      await pool.terminate();
      const quiet = new Pool({ processes: 1, context, initializer: failInit, initargs: [] });
      await assert.rejects(quiet.apply(twice, [1]), 'no listener: no throw from emit');
      await quiet.terminate();
    });

    test('diagnostics_channel: weft:pool:* and weft:process:* carry the same messages', async () => {
      const got: string[] = [];
      const names = ['weft:pool:task:queued', 'weft:pool:task:start', 'weft:pool:task:finish', 'weft:pool:worker:start', 'weft:pool:worker:exit', 'weft:process:start', 'weft:process:exit'];
      const handlers = names.map((name) => {
        const h = (m: unknown) => got.push(`${name}:${(m as { id?: number }).id ?? ''}`);
        diagnostics.subscribe(name, h);
        return [name, h] as const;
      });
      try {
        const pool = new Pool({ processes: 1, context });
        assert.equal(await pool.apply(twice, [3]), 6);
        pool.close();
        await pool.join();
        await eventually(() => got.includes('weft:pool:worker:exit:'), 10, 'the worker exit on its channel');
        for (const name of ['weft:pool:task:queued:1', 'weft:pool:task:start:1', 'weft:pool:task:finish:1', 'weft:pool:worker:start:', 'weft:process:start:', 'weft:process:exit:']) {
          assert.ok(got.includes(name), `${name} in ${got.join(' ')}`);
        }
      } finally {
        for (const [name, h] of handlers) diagnostics.unsubscribe(name, h);
      }
    });

    test('Process emits start and exit (pid, exit code, signal)', async () => {
      const p = new Process({ target: napFor, args: [30], context });
      const started = new Promise<number>((resolve) => p.once('start', (e) => resolve(e.pid)));
      const exited = new Promise<{ exitCode: number; signal: string | null; pid: number }>((resolve) => p.once('exit', resolve));
      p.start();
      assert.ok((await started) > 0);
      p.kill();
      const e = await exited;
      assert.equal(e.exitCode, -9);
      assert.equal(e.signal, 'SIGKILL');
      assert.equal(e.pid, p.pid);
    });

    test('stats(): wait and run percentiles, utilization per worker and overall, the queue over the last minute', async () => {
      await using pool = new Pool({ processes: 1, context });
      const empty = pool.stats();
      assert.equal(empty.runTime.count, 0);
      assert.equal(empty.queueLastMinute.length, 60);
      await Promise.all([0.05, 0.05, 0.05, 0.05, 0.2].map((s) => pool.apply(napFor, [s])));
      const s = pool.stats();
      assert.equal(s.runTime.count, 5);
      assert.ok(s.runTime.p50 >= 0.045 && s.runTime.p50 < 0.15, `p50 ${s.runTime.p50}`);
      assert.ok(s.runTime.p99 >= 0.19 && s.runTime.p99 < 0.5, `p99 ${s.runTime.p99}`);
      assert.ok(s.runTime.max >= s.runTime.p99);
      // One worker: the fifth task waited behind the other four (about 0.2 s).
      assert.ok(s.waitTime.max >= 0.15 && s.waitTime.max < 30, `longest wait ${s.waitTime.max}`);
      assert.ok(s.waitTime.p50 <= s.waitTime.max);
      const [w] = s.workers;
      assert.ok(w!.utilization > 0 && w!.utilization <= 1, `utilization ${w!.utilization}`);
      assert.ok(s.utilization > 0 && s.utilization <= 1);
      assert.ok(Math.max(...s.queueLastMinute) >= 1, `queue over the last minute: ${s.queueLastMinute.join(',')}`);
    });
  });
}

describe('WEFT_DEBUG', () => {
  const fixtures = new URL('./fixtures/options-tasks.js', import.meta.url).href;
  const script = `
    import { Pool } from 'weft';
    import { flaky, twice } from ${JSON.stringify(fixtures)};
    const pool = new Pool({ processes: 1, retries: 1 });
    await pool.apply(twice, [1]);
    await pool.apply(flaky, [process.env.COUNTER, 1, 2]);
    pool.close();
    await pool.join();
  `;

  test('WEFT_DEBUG=pool,process logs lifecycle lines to stderr with timestamps and pids; unset, nothing', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'weft-debug-'));
    try {
      const on = await runNode(['--input-type=module', '-e', script], { env: { WEFT_DEBUG: 'pool,process', COUNTER: join(dir, 'a') }, timeout: 60 });
      assert.equal(on.code, 0, on.stderr);
      const lines = on.stderr.split('\n').filter((l) => / weft:(pool|process) /.test(l));
      assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z weft:(pool|process) \d+ /.test(l)), lines.join('\n'));
      const text = lines.join('\n');
      for (const what of [/weft:pool \d+ <Pool state=RUN pool_size=1>: worker PoolWorker-1 started \(pid \d+\)/, /worker PoolWorker-1 exited \(pid \d+, exit code 3\)/,
        /task flaky failed: retry 1 of 1 in 0 s/, /: close/, /weft:process \d+ <Process name='PoolWorker-2' pid=\d+ started daemon> started/]) {
        assert.match(text, what);
      }
      const off = await runNode(['--input-type=module', '-e', script], { env: { WEFT_DEBUG: undefined, COUNTER: join(dir, 'b') }, timeout: 60 });
      assert.equal(off.code, 0, off.stderr);
      assert.doesNotMatch(off.stderr, /weft:pool/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
