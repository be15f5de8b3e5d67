/**
 * The serving side of `cluster.Pool()`: what `weft worker --redis URL` runs.
 * It starts `concurrency` consumers (processes or threads, consumer.ts), each
 * of which takes jobs from the pool's BullMQ queue and runs their tasks
 * itself; this process supervises: it starts again a consumer that died,
 * stops them gracefully on `close()`, and sums their counts. Every consumer
 * dies with it (a process child by PR_SET_PDEATHSIG, a thread with its
 * process), so a `weft worker` SIGKILLed loses its running jobs to other
 * workers after their lease. No Python twin (Celery's worker is the nearest);
 * the task lookup is weft's own: a job names a module relative to the worker's
 * root and a task in it, the worker imports only modules under its root, and
 * nothing received is ever run as code.
 * @module
 */
import { realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { ValueError } from '../errors.js';
import type { ContextName } from '../multiprocessing/context.js';
import { Process } from '../multiprocessing/process.js';
import { RawArray } from '../multiprocessing/sharedctypes.js';
import { Event as LocalEvent } from '../multiprocessing/synchronize.js';
import { COMPLETED, FAILED_COUNT, READY, RUNNING, SLOT, consume, type ConsumerSpec } from './consumer.js';
import type { Cluster } from './context.js';
import { checkQueueName } from './pool.js';

/** Seconds before a consumer that died is started again (a Redis server that is down must not make it spin). */
const RESTART_DELAY = 0.5;

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
  /** Tasks run at once: the number of consumers, each a process (or thread) that takes jobs and runs them (default 1). */
  concurrency?: number;
  /** Where tasks run: `'process'` (default) or `'thread'`. */
  context?: ContextName;
  /** The directory task modules are named relative to; nothing outside it is imported (default `process.cwd()`). */
  root?: string;
  /** Seconds a job stays this worker's after it stops renewing (dies or freezes); then another worker takes it (default 30). */
  lease?: number;
}

/**
 * What {@link Worker.stats} reports, summed over the worker's consumers.
 * @example
 * import { type WorkerCounts } from 'weft/redis';
 * const counts: WorkerCounts = { running: 1, completed: 3, failed: 1 };
 * console.log(counts.completed + counts.failed); // 4
 */
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
  readonly #context: ContextName;
  readonly #spec: Omit<ConsumerSpec, 'slot'>;
  /** Per consumer: ready, running, completed, failed (consumer.ts's SLOT). */
  readonly #counts: RawArray<'i'>;
  readonly #stop = new LocalEvent();
  readonly #consumers: Process[] = [];
  #restarts = new Set<NodeJS.Timeout>();
  #stopping = false;
  #started = false;
  #closing: Promise<void> | null = null;

  /** @internal Made by {@link serve}. */
  constructor(cluster: Cluster, options: ServeOptions) {
    const queue = options.queue ?? 'default';
    checkQueueName(queue);
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new ValueError(`concurrency must be a positive integer, got ${concurrency}`);
    const lease = options.lease ?? 30;
    if (!(lease > 0)) throw new RangeError(`lease must be a positive number of seconds, got ${lease}`);
    const context = options.context ?? 'process';
    if (context !== 'process' && context !== 'thread') throw new ValueError(`context must be 'process' or 'thread', got ${String(context)}`);
    this.#context = context;
    const root = realpathSync(options.root ?? process.cwd());
    this.#spec = { url: cluster._given.url, connect: cluster._given.options, queue, root, lease, name: this.name };
    this.#counts = new RawArray('i', SLOT * concurrency);
  }

  /** @internal Starts every consumer; resolves once all take jobs. @throws {Error} when one exits first (its error is on stderr). */
  async start(): Promise<void> {
    const n = this.#counts.length / SLOT;
    for (let slot = 0; slot < n; slot++) this.#consumers.push(this.#spawn(slot));
    for (;;) {
      const failed = this.#consumers.find((p) => p.exitCode !== null);
      if (failed) {
        await this.terminate();
        throw new Error(`a consumer of weft worker ${this.name} exited while starting (exit code ${failed.exitCode}); its error is above`);
      }
      if (this.#consumers.every((_, slot) => this.#counts.get(slot * SLOT + READY) === 1)) {
        this.#started = true;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  #spawn(slot: number): Process {
    const p = new Process({
      target: consume,
      args: [{ ...this.#spec, slot }, this.#counts, this.#stop],
      context: this.#context,
      name: `weft-worker-${slot}`,
      daemon: true,
    });
    p.start();
    p.once('exit', () => {
      if (this.#stopping || !this.#started) return; // stopping, or start() reports it
      // Died while serving: its job goes to a worker after the lease; this slot gets a new consumer.
      this.#counts.set(slot * SLOT + READY, 0);
      this.#counts.set(slot * SLOT + RUNNING, 0);
      const timer = setTimeout(() => {
        this.#restarts.delete(timer);
        if (!this.#stopping) this.#consumers[slot] = this.#spawn(slot);
      }, RESTART_DELAY * 1000);
      this.#restarts.add(timer);
    });
    return p;
  }

  /** Tasks running, completed and failed so far, over every consumer. */
  stats(): WorkerCounts {
    const sum = (i: number) => {
      let total = 0;
      for (let base = 0; base < this.#counts.length; base += SLOT) total += this.#counts.get(base + i);
      return total;
    };
    return { running: sum(RUNNING), completed: sum(COMPLETED), failed: sum(FAILED_COUNT) };
  }

  /**
   * Stops taking jobs, lets the running ones finish (their results are
   * recorded), then waits for every consumer to end. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#end(() => this.#stop.set());
    return this.#closing;
  }

  /** Stops at once: running jobs go to another worker after their lease. */
  terminate(): Promise<void> {
    this.#closing ??= this.#end(() => {
      for (const p of this.#consumers) if (p.exitCode === null) p.kill();
    });
    return this.#closing;
  }

  async #end(how: () => void): Promise<void> {
    this.#stopping = true;
    for (const t of this.#restarts) clearTimeout(t);
    how();
    await Promise.all(this.#consumers.map((p) => p.join()));
  }
}

/**
 * Serves a pool queue of `cluster` with `concurrency` consumers until `close()`:
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
