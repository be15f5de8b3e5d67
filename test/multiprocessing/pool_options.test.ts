// Pool options over both start methods: maxQueue and its back-pressure, 'drain',
// minWorkers/maxWorkers with idleTimeout, the workers' env/execArgv/argv/name/resourceLimits,
// and retries of tasks whose worker died (or that failed as a predicate says).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Full, Pool, ValueError, WorkerLostError } from 'weft';
import { eventually, sleep } from '../helpers/run.js';
import { busyFor, flaky, napFor, poolProbe, throwsFirst, twice } from './fixtures/options-tasks.js';

const nodeMajor = Number(process.versions.node.split('.')[0]);

for (const context of ['process', 'thread'] as const) {
  describe(`Pool options (${context})`, () => {
    let dir: string;
    let n = 0;
    const counter = () => join(dir, `calls-${++n}`);
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'weft-pool-options-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('maxQueue: applyAsync past it throws Full; submit waits for room; block: false rejects with Full', async () => {
      await using pool = new Pool({ processes: 1, context, maxQueue: 3 });
      const running = pool.applyAsync(napFor, [0.3]);
      await eventually(() => pool.stats().running === 1, 10, 'the first task to be sent');
      const queued = [1, 2, 3].map((x) => pool.applyAsync(twice, [x]));
      assert.equal(pool.stats().queued, 3);
      assert.throws(() => pool.applyAsync(twice, [4]), (e: Error) => e instanceof Full && /pool\.submit/.test(e.message));
      await assert.rejects(pool.submit(twice, [5], { block: false }), Full);
      await assert.rejects(pool.apply(twice, [5], { block: false }), Full);
      let admitted = false;
      const waiting = pool.submit(twice, [6]).then((r) => {
        admitted = true;
        return r;
      });
      await sleep(0.05);
      assert.equal(admitted, false, 'submit waits while the queue is full');
      assert.equal(await (await waiting).get(), 12);
      assert.deepEqual(await Promise.all(queued.map((r) => r.get())), [2, 4, 6]);
      assert.equal(await running.get(), 0.3);
    });

    test('maxQueue: a producer awaiting submit never has more than maxQueue tasks queued; map and imap respect it', async () => {
      await using pool = new Pool({ processes: 2, context, maxQueue: 8 });
      let most = 0;
      const results = [];
      for (let i = 0; i < 2000; i++) {
        results.push(await pool.submit(twice, [i]));
        most = Math.max(most, pool.stats().queued);
      }
      assert.ok(most <= 8, `at most 8 queued, saw ${most}`);
      assert.equal(await results[1999]!.get(), 3998);
      const items = Array.from({ length: 500 }, (_, i) => i);
      const sampler = setInterval(() => (most = Math.max(most, pool.stats().queued)), 1);
      try {
        assert.deepEqual(await pool.map(twice, items, 1), items.map((i) => 2 * i));
        let sum = 0;
        for await (const v of pool.imap(twice, items)) sum += v;
        assert.equal(sum, 2 * 499 * 250);
      } finally {
        clearInterval(sampler);
      }
      assert.ok(most <= 8, `map/imap: at most 8 queued, saw ${most}`);
      await assert.rejects(pool.map(twice, [1], { block: false }).then(() => pool.map(twice, items, { chunksize: 1, block: false })), Full);
    });

    test("'drain' comes once a queue that was full is empty again; needsDrain says it is due", async () => {
      await using pool = new Pool({ processes: 1, context, maxQueue: 2 });
      let drains = 0;
      pool.on('drain', () => drains++);
      await pool.apply(twice, [1]);
      assert.equal(drains, 0, 'no drain when the queue never filled');
      // The worker is busy first, so the queue fills whatever the machine's speed: a worker that keeps up
      // with the submits never lets it fill, and then no 'drain' is due.
      const rs = [await pool.submit(busyFor, [200_000])];
      let filled = false;
      for (let i = 0; i < 20; i++) {
        const submitted = pool.submit(twice, [i]);
        // Read before the await: a submit that waited for room resolves once the busy task is done,
        // and by then the worker may have emptied the queue again (no drain left due).
        filled ||= pool.needsDrain;
        rs.push(await submitted);
      }
      assert.ok(filled, 'the queue reached maxQueue');
      await Promise.all(rs.map((r) => r.get()));
      await eventually(() => drains >= 1, 10, "'drain'");
      assert.equal(pool.needsDrain, false);
    });

    test('minWorkers/maxWorkers: grows under load up to maxWorkers, shrinks to minWorkers after idleTimeout', async () => {
      await using pool = new Pool({ minWorkers: 1, maxWorkers: 3, idleTimeout: 0.3, context });
      assert.equal(pool.processes, 3);
      assert.equal(pool.stats().workers.length, 1);
      const naps = await Promise.all([0, 1, 2, 3, 4, 5].map(() => pool.submit(napFor, [0.3])));
      await eventually(() => pool.stats().workers.length === 3, 10, 'three workers under load');
      await Promise.all(naps.map((r) => r.get()));
      await eventually(() => pool.stats().workers.length === 1, 10, 'back to one worker after idling');
      assert.equal(await pool.apply(twice, [21]), 42, 'the pool still works after shrinking');
      await using empty = new Pool({ minWorkers: 0, maxWorkers: 1, context });
      assert.equal(empty.stats().workers.length, 0);
      assert.equal(await empty.apply(twice, [2]), 4, 'a pool with no worker starts one for its first task');
    });

    test('bad sizes, queue and retry options are refused, naming the value', () => {
      assert.throws(() => new Pool({ context, processes: 2, maxWorkers: 3 }), (e: Error) => e instanceof ValueError && /give one/.test(e.message));
      assert.throws(() => new Pool({ context, minWorkers: 3, maxWorkers: 2 }), /minWorkers must be an integer from 0 to maxWorkers \(2\), got 3/);
      assert.throws(() => new Pool({ context, processes: 1, maxQueue: 0 }), /maxQueue must be a positive integer or null, got 0/);
      assert.throws(() => new Pool({ context, processes: 1, idleTimeout: -1 }), /idleTimeout must be a non-negative/);
      assert.throws(() => new Pool({ context, processes: 1, retries: 1.5 }), /retries must be a non-negative integer, got 1.5/);
      assert.throws(() => new Pool({ context, processes: 1, retries: 1, retryDelay: -1 }), /retryDelay must be a non-negative/);
    });

    test('env, argv, execArgv and name reach every worker', async () => {
      await using pool = new Pool({
        processes: 2,
        context,
        env: { WEFT_OPTION_PROBE: 'pool', PATH: process.env.PATH },
        argv: ['--pool-arg'],
        execArgv: ['--no-deprecation'],
        name: 'weft-pw',
      });
      const seen = await Promise.all([pool.apply(poolProbe, []), pool.apply(poolProbe, [])]);
      for (const s of seen) {
        assert.equal(s.env, 'pool');
        assert.deepEqual(s.argv, ['--pool-arg']);
        assert.ok(s.execArgv.includes('--no-deprecation'));
        if (context === 'process') {
          assert.equal(s.title, 'weft-pw');
          assert.equal(s.comm, 'weft-pw'); // what ps and top show
        } else if (nodeMajor >= 24) {
          assert.equal(s.threadName, 'weft-pw');
        }
      }
      assert.notEqual(process.title, 'weft-pw');
    });

    if (context === 'thread') {
      test('resourceLimits bound each worker thread', async () => {
        await using pool = new Pool({ processes: 1, context, resourceLimits: { maxOldGenerationSizeMb: 48 } });
        const { heapLimitMb } = await pool.apply(poolProbe, []);
        assert.ok(heapLimitMb < 512, `heap limit ${heapLimitMb} MiB (old generation 48 + the young one; unlimited: ~4 GiB)`);
      });
    } else {
      test('resourceLimits and cwd-like thread-only options are refused for worker processes, naming the fix', () => {
        assert.throws(() => new Pool({ processes: 1, context, resourceLimits: { maxOldGenerationSizeMb: 48 } }), /--max-old-space-size/);
      });
    }

    test('retries: a task whose worker died runs again (pool default, per-call override); without retries it rejects with WorkerLostError', async () => {
      await using pool = new Pool({ processes: 1, context, retries: 2 });
      assert.equal(await pool.apply(flaky, [counter(), 2, 7]), 7);
      await assert.rejects(pool.apply(flaky, [counter(), 3, 7]), WorkerLostError);
      assert.equal(await pool.apply(flaky, [counter(), 3, 8], { retries: 3 }), 8);
      await assert.rejects(pool.apply(flaky, [counter(), 1, 9], { retries: 0 }), WorkerLostError);
      assert.deepEqual(await pool.starmap(flaky, [[counter(), 1, 5], [counter(), 0, 6]], { chunksize: 1 }), [5, 6], 'a map chunk is retried alone');
    });

    test('retryDelay waits between runs; retryIf retries other failures (a map chunk too)', async () => {
      await using pool = new Pool({ processes: 1, context });
      const c = counter();
      const started = performance.now();
      assert.equal(await pool.apply(flaky, [c, 1, 1], { retries: 1, retryDelay: 0.3 }), 1);
      assert.ok(performance.now() - started >= 300, 'waited retryDelay');
      assert.equal(readFileSync(c, 'utf8').length, 2);
      const retryIf = (e: unknown) => (e as Error).name === 'Flaky';
      assert.equal(await pool.apply(throwsFirst, [counter(), 2, 3], { retries: 2, retryIf }), 3);
      await assert.rejects(pool.apply(throwsFirst, [counter(), 1, 3], { retries: 2 }), { name: 'Flaky' }, 'by default only WorkerLostError is retried');
    });
  });
}
