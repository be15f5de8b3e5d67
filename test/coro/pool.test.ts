import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Group, Pool, getCurrent, sleep, spawn } from 'weft/coro';
import { ValueError } from 'weft';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

test('Pool.spawn waits for a free slot; freeCount and full follow', async () => {
  const pool = new Pool(2);
  let running = 0;
  let peak = 0;
  const job = async (seconds: number): Promise<void> => {
    running++;
    peak = Math.max(peak, running);
    await sleep(seconds);
    running--;
  };
  assert.equal(pool.freeCount(), 2);
  await pool.spawn(job, 0.01);
  await pool.spawn(job, 0.05); // still running when the third gets the first one's slot
  assert.equal(pool.full(), true);
  assert.equal(pool.freeCount(), 0);
  const t0 = performance.now();
  await pool.spawn(job, 0.01); // must wait for a slot
  assert.ok(performance.now() - t0 >= 5);
  assert.equal(pool.length, 2);
  assert.equal(await pool.join({ timeout: 1 }), true);
  assert.equal(peak, 2);
  assert.equal(pool.freeCount(), 2);
  assert.equal(pool.length, 0);
});

test('waitAvailable waits for a slot, or returns 0 on timeout', async () => {
  const pool = new Pool(1);
  await pool.spawn(() => sleep(0.02));
  assert.equal(await pool.waitAvailable(0.001), 0);
  assert.equal(await pool.waitAvailable(1), 1);
});

test('map keeps input order; imap yields in order; imapUnordered as they finish', async () => {
  const pool = new Pool(3);
  const delay = async (x: number): Promise<number> => {
    await sleep(0.03 * (5 - x)); // far apart, so a busy machine cannot reorder them
    return x * 10;
  };
  assert.deepEqual(await pool.map(delay, [1, 2, 3, 4]), [10, 20, 30, 40]);
  const ordered: number[] = [];
  for await (const r of pool.imap(delay, [1, 2, 3, 4])) ordered.push(r);
  assert.deepEqual(ordered, [10, 20, 30, 40]);
  const unordered: number[] = [];
  for await (const r of pool.imapUnordered(delay, [1, 2, 3])) unordered.push(r);
  assert.deepEqual(unordered, [30, 20, 10]);
});

test('imapUnordered pulls items lazily, never more than the pool size ahead', async () => {
  const pool = new Pool(2);
  let pulled = 0;
  function* items(): Generator<number> {
    for (let i = 0; i < 100; i++) {
      pulled++;
      yield i;
    }
  }
  let consumed = 0;
  for await (const r of pool.imapUnordered(async (x: number) => x, items())) {
    void r;
    consumed++;
    assert.ok(pulled - consumed <= 2 * 2 + 1, `pulled ${pulled} with ${consumed} consumed`);
    if (consumed === 5) break;
  }
  assert.ok(pulled <= 5 + 2 * 2, `pulled ${pulled} items for 5 results (maxsize 2 x pool size)`);
  await pool.join({ timeout: 1 });
});

test('imap works over async iterables and runs the items in greenlets of the pool, size at most', async () => {
  const pool = new Pool(4);
  async function* items(): AsyncGenerator<number> {
    for (let i = 0; i < 6; i++) {
      await sleep(0);
      yield i;
    }
  }
  const names = new Set<string>();
  let inPool = true;
  let running = 0;
  let peak = 0;
  const out = await pool.map(async (x: number) => {
    names.add(getCurrent().name);
    inPool &&= pool.has(getCurrent());
    running++;
    peak = Math.max(peak, running);
    await sleep(0.05);
    running--;
    return x + 1;
  }, items());
  assert.deepEqual(out, [1, 2, 3, 4, 5, 6]);
  assert.ok(inPool, 'every item runs in a greenlet of the pool');
  assert.ok(names.size >= 2 && names.size <= 4, `${names.size} greenlets`);
  assert.equal(peak, 4, 'items that wait run concurrently, up to the pool size');
});

test('an exception in map is raised to the caller (and not printed by the hub)', async () => {
  const pool = new Pool(2);
  await assert.rejects(
    pool.map(async (x: number) => {
      if (x === 3) throw new ValueError(`bad ${x}`);
      return x;
    }, [1, 2, 3, 4]),
    /bad 3/,
  );
  await pool.join({ timeout: 1 });
});

test('apply returns the result; Group has no limit; kill stops the members', async () => {
  const pool = new Pool(2);
  assert.equal(await pool.apply((a: number, b: number) => a + b, 2, 3), 5);
  const group = new Group();
  const log: string[] = [];
  for (let i = 0; i < 5; i++) {
    await group.spawn(async () => {
      try {
        await sleep(5);
      } finally {
        log.push('stopped');
      }
    });
  }
  assert.equal(group.length, 5);
  assert.equal(group.full(), false);
  await sleep(0);
  await group.kill();
  assert.equal(log.length, 5);
  assert.equal(group.length, 0);
});

test('Group.join({ raiseError }) raises the first failure; add and discard', async () => {
  const group = new Group();
  const ok = spawn(() => sleep(0.01));
  await group.add(ok);
  assert.equal(group.has(ok), true);
  group.discard(ok);
  assert.equal(group.has(ok), false);
  const quiet = await group.spawn(async () => {
    await sleep(0.005);
    throw new TypeError('fail');
  });
  quiet._quiet = true;
  await assert.rejects(group.join({ raiseError: true }), TypeError);
  await ok.join();
});

test('Pool size must be a positive integer', () => {
  assert.throws(() => new Pool(0), ValueError);
  assert.throws(() => new Pool(1.5), /integer >= 1/);
});

test('Group.map runs one greenlet per item, all at once', async () => {
  const group = new Group();
  const names = new Set<string>();
  let running = 0;
  let peak = 0;
  const out = await group.map(async (x: number) => {
    names.add(getCurrent().name);
    running++;
    peak = Math.max(peak, running);
    await sleep(0.02);
    running--;
    return -x;
  }, [1, 2, 3, 4, 5]);
  assert.deepEqual(out, [-1, -2, -3, -4, -5]);
  assert.equal(names.size, 5);
  assert.equal(peak, 5);
});

test('an input iterator that throws ends imap with its error; the pool is left clean', async () => {
  const pool = new Pool(2);
  function* items(): Generator<number> {
    yield 1;
    yield 2;
    throw new RangeError('input broke');
  }
  const seen: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const r of pool.imap(async (x: number) => x, items())) seen.push(r);
    })(),
    /input broke/,
  );
  assert.deepEqual(seen, [1, 2]);
  await pool.join({ timeout: 1 });
  assert.equal(pool.freeCount(), 2);
});

test('a failing job ends imapUnordered with its error, kills the running ones, and the stream stays done', async () => {
  const pool = new Pool(3);
  let finished = 0;
  const job = async (x: number): Promise<number> => {
    if (x === 2) {
      await sleep(0.005);
      throw new ValueError('job 2 failed');
    }
    if (x > 2) await sleep(10); // would run long
    finished++;
    return x;
  };
  const it = pool.imapUnordered(job, [1, 2, 3, 4, 5]);
  const first = await it.next();
  assert.deepEqual(first, { done: false, value: 1 });
  await assert.rejects(it.next(), /job 2 failed/);
  assert.equal(pool.length, 0, 'the jobs still running were killed before the error reached the reader');
  assert.deepEqual(await it.next(), { done: true, value: undefined });
  assert.equal(finished, 1);
});

test('next() called again before the last one settled answers each call in turn, once per result', async () => {
  for (const ordered of [true, false]) {
    const pool = new Pool(2);
    const job = async (x: number): Promise<number> => {
      await sleep(0.001 * (4 - x));
      return x;
    };
    const it = ordered ? pool.imap(job, [1, 2, 3]) : pool.imapUnordered(job, [1, 2, 3]);
    const answers = await Promise.all([it.next(), it.next(), it.next(), it.next()]);
    const values = answers.filter((a) => !a.done).map((a) => a.value as number);
    assert.equal(answers[3]!.done, true, 'the fourth call sees the end');
    assert.deepEqual(ordered ? values : [...values].sort(), [1, 2, 3]);
  }
});

test('breaking out of imap stops the jobs still running at once', async () => {
  const pool = new Pool(3);
  const job = async (x: number): Promise<number> => {
    if (x > 0) await sleep(10);
    return x;
  };
  for await (const r of pool.imap(job, [0, 1, 2, 3, 4])) {
    assert.equal(r, 0);
    break;
  }
  assert.equal(pool.length, 0);
  assert.equal(pool.freeCount(), 3);
});
