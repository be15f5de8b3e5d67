/**
 * The serving side of `cluster.Pool()`: takes jobs from a pool's BullMQ queue
 * and runs them on a local weft `Pool` (processes or threads). What
 * `weft worker --redis URL` runs. No Python twin (Celery's worker is the
 * nearest); the task lookup is weft's own: a job names a module relative to
 * the worker's root and a task in it, the worker imports only modules under its
 * root, and nothing received is ever run as code.
 * @module
 */
import { realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker as BullWorker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ValueError } from '../errors.js';
import type { ContextName } from '../multiprocessing/context.js';
import { Pool as LocalPool } from '../multiprocessing/pool.js';
import { dumps, loads } from '../multiprocessing/reduction.js';
import { declaredTask, loadTask, type TaskFunction } from '../multiprocessing/task.js';
import type { Cluster } from './context.js';
import { FAILED, KEEP_FINISHED, LOST, VALUE, bullPrefix, checkQueueName, type JobData } from './pool.js';

/**
 * Options of {@link serve}.
 * @example
 * import { type ServeOptions } from 'weft/redis';
 * const options: ServeOptions = { queue: 'default', concurrency: 2, context: 'process', root: process.cwd(), lease: 30 };
 * console.log(options.concurrency); // 2
 */
export interface ServeOptions {
  /** The pool queue to serve (default `'default'`). */
  queue?: string;
  /** Tasks run at once: the local pool's size (default 1). */
  concurrency?: number;
  /** Where tasks run: `'process'` (default) or `'thread'`. */
  context?: ContextName;
  /** The directory task modules are named relative to; nothing outside it is imported (default `process.cwd()`). */
  root?: string;
  /** Seconds a job stays this worker's after it stops renewing (dies or freezes); then another worker takes it (default 30). */
  lease?: number;
}

/** What {@link Worker.stats} reports. */
export interface WorkerCounts {
  running: number;
  completed: number;
  failed: number;
}

/**
 * A running pool worker; `close()` stops it gracefully.
 * @example
 * import { connect, serve } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const worker = await serve(cluster, { queue: 'example-serve', concurrency: 1 });
 * console.log(worker.name.endsWith(`:${process.pid}`)); // true
 * await worker.close();
 */
export class Worker {
  /** `host:pid`, as a WorkerLostError names it. */
  readonly name = `${hostname()}:${process.pid}`;
  readonly #bull: BullWorker;
  readonly #pool: LocalPool;
  readonly #client: Redis;
  readonly #root: string;
  readonly #prefix: string;
  readonly #queue: string;
  readonly #counts: WorkerCounts = { running: 0, completed: 0, failed: 0 };
  readonly #tasks = new Map<string, Promise<TaskFunction>>();
  #closing: Promise<void> | null = null;

  /** @internal Made by {@link serve}. */
  constructor(cluster: Cluster, options: ServeOptions) {
    const queue = options.queue ?? 'default';
    checkQueueName(queue);
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ValueError(`concurrency must be a positive integer, got ${concurrency}`);
    const lease = options.lease ?? 30;
    if (!(lease > 0)) throw new RangeError(`lease must be a positive number of seconds, got ${lease}`);
    this.#root = realpathSync(options.root ?? process.cwd());
    this.#queue = queue;
    this.#prefix = bullPrefix(cluster._conn, queue);
    this.#pool = new LocalPool({ processes: concurrency, context: options.context ?? 'process' });
    this.#client = cluster._conn.duplicate({ maxRetriesPerRequest: null, enableAutoPipelining: false });
    this.#bull = new BullWorker(queue, (job: Job) => this.#run(job), {
      connection: this.#client,
      prefix: this.#prefix,
      // Twice the local pool: the next job is fetched from Redis while a pool process runs the last,
      // so no pool process waits for a round trip (one job per process: 14.8k tasks/s here, raw BullMQ 59k).
      concurrency: concurrency * 2,
      name: this.name,
      lockDuration: Math.ceil(lease * 1000),
      stalledInterval: Math.ceil((lease * 1000) / 2),
      // A job's own `retries` decides (see #run); BullMQ must never fail a stalled job by itself.
      maxStalledCount: 1_000_000,
      removeOnComplete: KEEP_FINISHED,
      removeOnFail: KEEP_FINISHED,
      autorun: false,
    });
    // A result refused because this worker lost the job's lease (it froze) is BullMQ's to report; ours to ignore.
    this.#bull.on('error', () => {});
  }

  /** @internal */
  start(): Promise<void> {
    void this.#bull.run().catch(() => {});
    return this.#bull.waitUntilReady().then(() => undefined);
  }

  /** Tasks running, completed and failed so far. */
  stats(): WorkerCounts {
    return { ...this.#counts };
  }

  /**
   * Stops taking jobs, lets the running ones finish (their results are
   * recorded), then stops the local pool. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#bull.close();
      this.#pool.close();
      await this.#pool.join();
      this.#client.disconnect();
    })();
    return this.#closing;
  }

  /** Stops at once: running jobs go back to the queue after their lease, the local pool is terminated. */
  async terminate(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#bull.close(true);
      await this.#pool.terminate();
      this.#client.disconnect();
    })();
    return this.#closing;
  }

  async #run(job: Job): Promise<string> {
    const data = job.data as JobData;
    const key = `${this.#prefix}:${this.#queue}:${job.id}`;
    if (job.stalledCounter > data.r) {
      // Its worker (recorded when it took the job) was lost more times than the task may be retried.
      const by = (await this.#client.hget(key, 'weftBy')) ?? 'unknown host:0';
      return encode([LOST, [by, data.r]]);
    }
    void this.#client.hset(key, 'weftBy', this.name).catch(() => {});
    this.#counts.running++;
    try {
      const fn = await this.#task(data.m, data.n);
      const input = loads(Buffer.from(data.a, 'base64')) as unknown[];
      const value =
        data.k === 'apply'
          ? await this.#pool.apply(fn, input as [])
          : data.k === 'map'
            ? await this.#pool.map(fn as (x: never) => unknown, input as never[], input.length || 1)
            : await this.#pool.starmap(fn, input as [][], input.length || 1);
      this.#counts.completed++;
      return encode([VALUE, value]);
    } catch (err) {
      this.#counts.failed++;
      return encode([FAILED, err]);
    } finally {
      this.#counts.running--;
    }
  }

  /** The task `name` of `module` (relative to the root), imported once. @throws {ValueError} for a module outside the root. */
  #task(module: string, name: string): Promise<TaskFunction> {
    const key = `${module}#${name}`;
    let found = this.#tasks.get(key);
    if (!found) {
      found = (async () => {
        const path = resolve(this.#root, module);
        let real: string;
        try {
          real = realpathSync(path);
        } catch {
          throw new ValueError(`task module ${module} is not under this worker's root ${this.#root}: is the same code checked out there?`);
        }
        if (isAbsolute(module) || !real.startsWith(this.#root + sep)) {
          throw new ValueError(`task module ${module} lies outside this worker's root ${this.#root}: refused`);
        }
        const ref = { url: pathToFileURL(real).href, name };
        return declaredTask(ref) ?? loadTask(ref);
      })();
      found.catch(() => this.#tasks.delete(key));
      this.#tasks.set(key, found);
    }
    return found;
  }
}

function encode(outcome: [number, unknown]): string {
  let bytes: Uint8Array;
  try {
    bytes = dumps(outcome, 'result');
  } catch (err) {
    bytes = dumps([FAILED, err]); // an unsendable result: its error goes back instead
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Serves a pool queue of `cluster` with a local weft Pool until `close()`:
 * what `weft worker --redis URL` runs. Resolves once it is taking jobs.
 * @example
 * import { connect, serve } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const worker = await serve(cluster, { queue: 'example-serve2', concurrency: 2, context: 'thread' });
 * console.log(worker.stats()); // { running: 0, completed: 0, failed: 0 }
 * await worker.close();
 * @throws {ValueError} for a concurrency that is not a positive integer, or a queue name with ':'.
 */
export async function serve(cluster: Cluster, options: ServeOptions = {}): Promise<Worker> {
  const worker = new Worker(cluster, options);
  await worker.start();
  return worker;
}
