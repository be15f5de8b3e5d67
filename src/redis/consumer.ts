/**
 * One consumer of a `weft worker`: a child (process or thread) that takes jobs
 * from a pool's BullMQ queue and runs their tasks itself, in the process that
 * took the job, as a raw BullMQ worker does. No Python twin (a Celery worker's
 * pool child is the nearest). The `weft worker` process only supervises its
 * consumers (worker.ts): it starts them, starts again one that died, tells
 * them to stop, and sums their counts for its status line.
 *
 * Why no hop: a job handed from the process that took it to a pool process and
 * back cost two wake-ups and two encodings per job; on two cores that halved
 * the throughput against raw BullMQ (docs/distributed.md, "Performance").
 * The price: a task that keeps its thread busy (synchronous CPU work) delays
 * its consumer's lock renewals, as in raw BullMQ, so `--lease` must exceed the
 * longest synchronous stretch of a task.
 * @module
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread } from '../multiprocessing/util.js';
import { Worker as BullWorker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { ValueError } from '../errors.js';
import { redisEntry } from '../layout.js';
import type { Event as LocalEvent } from '../multiprocessing/synchronize.js';
import type { RawArray } from '../multiprocessing/sharedctypes.js';
import { declaredTask, loadTask, task, type TaskFunction } from '../multiprocessing/task.js';
import { connect, type ConnectOptions } from './context.js';
import { FAILED, LOST, VALUE, decodeInput, encodeOutcome } from './job_wire.js';
import { KEEP_FINISHED, bullPrefix, type JobData } from './pool.js';

/** What a consumer is told by its `weft worker`. */
export interface ConsumerSpec {
  url: string;
  connect: ConnectOptions;
  queue: string;
  root: string;
  lease: number;
  /** The `weft worker`'s `host:pid`, recorded on each job it takes (what WorkerLostError names). */
  name: string;
  /** This consumer's slot in the counts. */
  slot: number;
}

/**
 * Milliseconds under which a task's jobs count as small: the next job of the
 * task sends its worker's name with its result, not ahead of it (see run).
 */
const FAST_MS = 1;

/** A slot of the shared counts: ready (0 or 1), running, completed, failed. */
export const READY = 0;
export const RUNNING = 1;
export const COMPLETED = 2;
export const FAILED_COUNT = 3;
export const SLOT = 4;

/**
 * The consumer's body, run as a weft child: serves the queue until `stop` is
 * set, then lets the running job finish (its result recorded) and returns.
 */
// Declared as a task of weft/redis's entry, not of this file: a child imports that entry to meet it (layout.ts).
export const consume = task({ url: redisEntry.href } as ImportMeta, async function consume(spec: ConsumerSpec, counts: RawArray<'i'>, stop: LocalEvent): Promise<void> {
  // A Ctrl-C on a terminal reaches the whole process group: the `weft worker`
  // decides how to stop (finish first), so its consumers ignore the signals themselves.
  if (isMainThread) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});
  const cluster = await connect(spec.url, spec.connect);
  const client = cluster._conn.duplicate({ maxRetriesPerRequest: null, enableAutoPipelining: false });
  const prefix = bullPrefix(cluster._conn, spec.queue);
  const root = realpathSync(spec.root);
  const tasks = new Map<string, Promise<TaskFunction>>();
  /** The tasks (`module#name`) whose last job here ran within FAST_MS. */
  const fast = new Set<string>();
  const base = spec.slot * SLOT;
  const add = (i: number, by: number) => counts.set(base + i, counts.get(base + i) + by);

  const run = async (job: Job): Promise<string | [unknown]> => {
    const data = job.data as JobData;
    if (job.stalledCounter > data.r) {
      // Its worker (recorded when it took the job) was lost more times than the task may be retried.
      const by = (await client.hget(`${prefix}:${spec.queue}:${job.id}`, 'weftBy')) ?? 'unknown host:0';
      return encodeOutcome(LOST, [by, data.r]);
    }
    const key = `${data.m}#${data.n}`;
    // The worker's name, for a WorkerLostError should this worker be lost while running the job; not awaited: it
    // needs no answer before the task runs. A chunk of a task whose last job here took under FAST_MS holds it back
    // to the end of this turn of the event loop, when the socket also has the job's result (BullMQ writes it on
    // this connection as soon as run() returns): one packet and one answer for both, not two of each, which cost
    // a small job ~30 µs of CPU (docs/distributed.md, "Performance"). Any other job sends it at once, before it starts.
    const stream = data.k !== 'apply' && fast.has(key) && client instanceof Redis ? client.stream : null;
    if (stream) {
      stream.cork();
      setImmediate(() => stream.uncork());
    }
    void client.hset(`${prefix}:${spec.queue}:${job.id}`, 'weftBy', spec.name).catch(() => {});
    add(RUNNING, 1);
    const t0 = performance.now();
    try {
      const fn = await taskOf(tasks, root, data.m, data.n);
      const value = await runTask(fn, data.k, decodeInput(data));
      add(COMPLETED, 1);
      return encodeOutcome(VALUE, value);
    } catch (err) {
      add(FAILED_COUNT, 1);
      return encodeOutcome(FAILED, err);
    } finally {
      add(RUNNING, -1);
      if (performance.now() - t0 < FAST_MS) fast.add(key);
      else fast.delete(key);
    }
  };

  const bull = new BullWorker(spec.queue, run, {
    connection: client,
    prefix,
    // One job at a time, as a weft Pool process runs one task; BullMQ fetches the
    // next job in the same round trip that records the last one's result.
    concurrency: 1,
    name: spec.name,
    lockDuration: Math.ceil(spec.lease * 1000),
    stalledInterval: Math.ceil((spec.lease * 1000) / 2),
    // A job's own `retries` decides (see run); BullMQ must never fail a stalled job by itself.
    maxStalledCount: 1_000_000,
    removeOnComplete: KEEP_FINISHED,
    removeOnFail: KEEP_FINISHED,
    autorun: false,
  });
  // A result refused because this consumer lost the job's lease (it froze) is BullMQ's to report; ours to ignore.
  bull.on('error', () => {});
  const running = bull.run().catch(() => {});
  await bull.waitUntilReady();
  counts.set(base + READY, 1);
  await stop.wait();
  await bull.close();
  await running;
  client.disconnect();
  await cluster.close();
}, 'consume');

/** Runs one job's work here: `fn(...args)`, or `fn` over a chunk's items in order (the first failure fails the chunk). */
async function runTask(fn: TaskFunction, kind: JobData['k'], input: unknown[]): Promise<unknown> {
  if (kind === 'apply') return await fn(...input);
  // Filled by push, not preallocated: an array with holes takes JSON.stringify's slow path when BullMQ stores the result.
  const out: unknown[] = [];
  for (let i = 0; i < input.length; i++) {
    const v = kind === 'map' ? fn(input[i]) : fn(...(input[i] as unknown[]));
    // Synchronous tasks are not awaited one by one: a chunk of a hundred small ones stays one turn of the loop.
    out.push(v instanceof Promise ? await v : v);
  }
  return out;
}

/** The task `name` of `module` (relative to `root`), imported once. @throws {ValueError} for a module outside the root. */
function taskOf(tasks: Map<string, Promise<TaskFunction>>, root: string, module: string, name: string): Promise<TaskFunction> {
  const key = `${module}#${name}`;
  let found = tasks.get(key);
  if (!found) {
    found = (async () => {
      const path = resolve(root, module);
      let real: string;
      try {
        real = realpathSync(path);
      } catch {
        throw new ValueError(`task module ${module} is not under this worker's root ${root}: is the same code checked out there?`);
      }
      if (isAbsolute(module) || !real.startsWith(root + sep)) {
        throw new ValueError(`task module ${module} lies outside this worker's root ${root}: refused`);
      }
      const ref = { url: pathToFileURL(real).href, name };
      return declaredTask(ref) ?? loadTask(ref);
    })();
    found.catch(() => tasks.delete(key));
    tasks.set(key, found);
  }
  return found;
}
