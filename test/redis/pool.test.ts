/**
 * weft/redis Pool with `weft worker` processes on a real redis-server: weft
 * Pool's API, and the guarantees: a worker SIGKILLed mid-task (retried, or
 * WorkerLostError naming its host and pid), a worker frozen past its lease
 * (one result), SIGTERM (the running task finishes).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { task } from 'weft';
import { AbortError, TimeoutError, ValueError, WorkerLostError, connect, type Cluster } from 'weft/redis';
import { RedisServer } from './server.js';
import { WeftWorker, root } from './workers.js';
import { add, echo, fail, hang, quickUntil, square } from './fixtures/tasks.js';

/** The check of a rejection: a WorkerLostError naming this host and the worker `pid`, in its fields and its message. */
function lostBy(pid: number | undefined): (e: Error) => true {
  return (e) => {
    assert.ok(e instanceof WorkerLostError, String(e));
    assert.equal(e.host, hostname());
    assert.equal(e.pid, pid);
    assert.match(e.message, new RegExp(`weft worker ${pid} on ${hostname()} was lost`));
    return true;
  };
}

let server: RedisServer;
let cluster: Cluster;
const workers: WeftWorker[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'weft-redis-pool-'));
/** Two workers on queue 'shared' for every test; one killed or frozen is replaced for the next. */
let shared: WeftWorker[] = [];
let term: WeftWorker;
before(async () => {
  server = await RedisServer.start();
  cluster = await connect(server.url);
  // Booted together: a worker's start (Node, weft, its local pool) is the slow part of this suite.
  [shared, [term]] = await Promise.all([startWorkers('shared', 2), startWorkers('term', 1, { lease: 5 })]) as [WeftWorker[], WeftWorker[]];
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await cluster.close();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** The two shared workers, live: a dead or frozen one is replaced by a fresh one. */
async function pair(): Promise<[WeftWorker, WeftWorker]> {
  shared = shared.map((w) => (w.child.exitCode === null && w.child.signalCode === null && !w.frozen ? w : new WeftWorker(server.url, 'shared')));
  for (const w of shared) if (!workers.includes(w)) workers.push(w);
  await Promise.all(shared.map((w) => w.ready()));
  return shared as [WeftWorker, WeftWorker];
}

async function startWorkers(queue: string, n: number, options = {}): Promise<WeftWorker[]> {
  const started = Array.from({ length: n }, () => new WeftWorker(server.url, queue, options));
  workers.push(...started);
  return Promise.all(started.map((w) => w.ready()));
}

/** The pid a `hang` task recorded in `file`, once it did (10 s at most). */
async function runner(file: string, nth = 1): Promise<number> {
  for (const t0 = Date.now(); Date.now() - t0 < 10_000; await new Promise((r) => setTimeout(r, 20))) {
    let lines: string[] = [];
    try {
      lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      // not started yet
    }
    if (lines.length >= nth) return Number(lines[nth - 1]);
  }
  throw new Error(`no task started (${nth}) within 10 s`);
}

describe('Pool', () => {
  test("weft Pool's methods, values through weft's codec", async () => {
    await pair();
    await using pool = cluster.Pool({ queue: 'shared', root });
    assert.equal(await pool.apply(square, [7]), 49);
    assert.deepEqual(await pool.map(square, [1, 2, 3, 4, 5], 2), [1, 4, 9, 16, 25]);
    assert.deepEqual(await pool.map(square, new Set([3])), [9]);
    assert.deepEqual(await pool.map(square, numbers(), 2), [0, 1, 4, 9, 16]); // an async iterable, awaited item by item
    assert.deepEqual(await pool.starmap(add, [[1, 2], [3, 4]]), [3, 7]);
    const value = new Map<string, unknown>([['when', new Date(1)], ['big', 2n ** 70n], ['bytes', Buffer.from('x')]]);
    assert.deepEqual(await pool.apply(echo, [value]), value);
    // Plain values ride as JSON; what JSON would change (Infinity, -0, NaN, undefined) goes through the codec, either way.
    assert.deepEqual(await pool.map(square, [1e200, 2]), [Infinity, 4]);
    const odd = (await pool.map(echo, [-0, NaN, { u: undefined }, [1, 2]])) as [number, number, object, number[]];
    assert.ok(Object.is(odd[0], -0) && Number.isNaN(odd[1]) && 'u' in odd[2], String(odd));
    assert.deepEqual(await pool.apply(echo, [{ nested: [{ a: 'x', b: null, c: true }] }]), { nested: [{ a: 'x', b: null, c: true }] });
    const ordered = [];
    for await (const v of pool.imap(square, [1, 2, 3, 4], 3)) ordered.push(v);
    assert.deepEqual(ordered, [1, 4, 9, 16]);
    async function* numbers() {
      for (let i = 0; i < 5; i++) yield i;
    }
    const unordered = [];
    for await (const v of pool.imapUnordered(square, numbers())) unordered.push(v);
    assert.deepEqual(unordered.sort((a, b) => a - b), [0, 1, 4, 9, 16]);
    let called: unknown;
    const r = pool.applyAsync(square, [4], { callback: (v) => (called = v) });
    await r.wait();
    assert.equal(called, 16);
    assert.equal(r.successful(), true);
    await assert.rejects(pool.apply(fail, ['bad']), (e: Error) => {
      assert.ok(e instanceof RangeError, String(e));
      assert.equal(e.message, 'bad');
      assert.equal((e.cause as Error).message, 'underneath');
      return true;
    });
  });

  test('bad calls are refused here, with the fix', async () => {
    await using pool = cluster.Pool({ queue: 'shared', root });
    const local = (x: number) => x;
    await assert.rejects(pool.apply(local, [1]), (e: Error) => e instanceof TypeError && /task\(\)/.test(e.message));
    await using elsewhere = cluster.Pool({ queue: 'shared', root: scratch });
    const outside = (e: Error) => e instanceof ValueError && /outside the pool's root/.test(e.message);
    await assert.rejects(elsewhere.apply(square, [1]), outside);
    await assert.rejects(elsewhere.map(square, [1, 2, 3], 1), outside);
    await assert.rejects(elsewhere.imap(square, [1]).next(), outside);
    assert.throws(() => pool.map(square, [1], 0), ValueError);
    pool.close();
    await assert.rejects(pool.apply(square, [1]), (e: Error) => e instanceof ValueError && /not running/.test(e.message));
    await pool.join();
  });

  test('timeout and signal stop a call', async () => {
    await pair();
    await using pool = cluster.Pool({ queue: 'shared', root });
    const file = join(scratch, 'timeout');
    await assert.rejects(pool.apply(hang, [file, 5], { timeout: 0.3 }), TimeoutError);
    const ac = new AbortController();
    const call = pool.apply(hang, [file, 5], { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(call, AbortError);
  });

  test('a worker SIGKILLed mid-task, retries 1: the task runs again on another worker, one result', async () => {
    const [a, b] = await pair();
    await using pool = cluster.Pool({ queue: 'shared', root, retries: 1 });
    const file = join(scratch, 'retry');
    const call = pool.apply(hang, [file, 0.5]);
    const first = await runner(file);
    const victim = [a!, b!].find((w) => w.pid === first)!;
    assert.ok(victim, `a weft worker (${a!.pid}, ${b!.pid}) runs it, not ${first}`);
    victim.kill();
    const other = [a!, b!].find((w) => w !== victim)!;
    assert.equal(await call, `slept in ${other.pid}`);
    assert.equal(await runner(file, 2), other.pid);
  });

  test('a worker SIGKILLed mid-task, retries 0: WorkerLostError naming its host and pid', async () => {
    const [a, b] = await pair();
    await using pool = cluster.Pool({ queue: 'shared', root });
    const file = join(scratch, 'lost');
    const call = pool.apply(hang, [file, 30]);
    const first = await runner(file);
    [a!, b!].find((w) => w.pid === first)!.kill();
    await assert.rejects(call, lostBy(first));
  });

  test('a worker lost in a chunk of a task that was small until then: WorkerLostError still names it', async () => {
    const [a, b] = await pair();
    await using pool = cluster.Pool({ queue: 'shared', root });
    // Chunks that finish at once: each worker now sends its name with a chunk's result, not ahead of it.
    assert.equal((await pool.map(quickUntil, Array.from({ length: 400 }, (_, i) => i), 4)).length, 400);
    const file = join(scratch, 'lost-small');
    const call = pool.map(quickUntil, [1, 2, file], 3);
    const first = await runner(file);
    [a!, b!].find((w) => w.pid === first)!.kill();
    await assert.rejects(call, lostBy(first));
  });

  test('a worker frozen past its lease: another takes the task; the caller sees one result', async () => {
    const [a, b] = await pair();
    await using pool = cluster.Pool({ queue: 'shared', root, retries: 1 });
    const file = join(scratch, 'frozen');
    const call = pool.apply(hang, [file, 1.5]);
    const first = await runner(file);
    const frozen = [a!, b!].find((w) => w.pid === first)!;
    const other = [a!, b!].find((w) => w !== frozen)!;
    frozen.freeze();
    try {
      assert.equal(await call, `slept in ${other.pid}`);
    } finally {
      frozen.thaw(); // it finishes too; its late result is refused (its lease is gone) and settles nothing
    }
  });

  test('SIGTERM: the worker finishes its running task, then exits 0', async () => {
    const w = term;
    await using pool = cluster.Pool({ queue: 'term', root });
    const file = join(scratch, 'term');
    const call = pool.apply(hang, [file, 0.5]);
    await runner(file);
    w!.kill('SIGTERM');
    assert.equal(await call, `slept in ${w!.pid}`);
    assert.deepEqual(await w!.exited, { code: 0, signal: null });
    assert.match(w!.log, /completed 1/);
  });
});

// Declared here only to prove the refusal above; never sent.
export const notUnderRoot = task(import.meta, (x: number) => x);
