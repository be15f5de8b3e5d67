/**
 * Contexts: the one place that knows how children start — the twin of
 * CPython's `multiprocessing/context.py`. `'process'` (the default) starts a
 * Node.js process per child; `'thread'` a worker thread. Everything else in
 * weft works the same in both (and across both at once), because queues,
 * locks and shared values live in shared memory with futex waits either way.
 * @module
 */
import { ValueError } from '../errors.js';
import type { Popen, StartRequest } from './popen.js';
import { startProcess } from './popen_spawn.js';
import { checkThreadImport, startThread } from './popen_thread.js';
import { Process, type ProcessOptions, activeChildren, cpuCount, currentProcess, parentProcess } from './process.js';
import type { TaskFunction, TaskRef } from './task.js';
import { Pipe } from './connection.js';
import { JoinableQueue, Queue, SimpleQueue } from './queues.js';
import { Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore } from './synchronize.js';
import { RawArray, RawValue, SharedArray, Value } from './sharedctypes.js';
import { Manager, type ManagerStartOptions } from './managers.js';
import { Pool, type PoolOptions } from './pool.js';

/**
 * The start methods: an OS process per child, or a worker thread per child.
 * @example
 * import { getContext, type ContextName } from 'weft';
 * const names: ContextName[] = ['process', 'thread'];
 * console.log(names.map((name) => getContext(name).getStartMethod())); // [ 'process', 'thread' ]
 */
export type ContextName = 'process' | 'thread';

const startMethods: Record<ContextName, (request: StartRequest) => Popen> = {
  process: startProcess,
  thread: startThread,
};

/** Per start method: throws when its children could not import a module (a pool checks each task it is given). */
const importChecks: Record<ContextName, (url: string) => void> = {
  process: () => {},
  thread: checkThreadImport,
};

/**
 * A start method and every class and function of weft bound to it:
 * `ctx.Process`, `ctx.Queue`, `ctx.Pipe`, `ctx.Lock`, `ctx.Value`, …
 *
 * @example
 * import { getContext, isMainModule, task, type Queue } from 'weft';
 * export const producer = task(import.meta, (q: Queue<string>) => q.put('from a thread'));
 * if (isMainModule(import.meta)) {
 *   const ctx = getContext('thread');
 *   const q = new ctx.Queue<string>();
 *   const p = new ctx.Process({ target: producer, args: [q] });
 *   p.start();
 *   console.log(await q.get()); // from a thread
 *   await p.join();
 * }
 */
export class BaseContext {
  /** The start method's name. */
  readonly name: ContextName;
  /** `Process` whose children start with this context. */
  readonly Process: new <F extends TaskFunction>(options: ProcessOptions<F>) => Process<F>;
  readonly currentProcess = currentProcess;
  readonly parentProcess = parentProcess;
  readonly activeChildren = activeChildren;
  readonly cpuCount = cpuCount;
  // Queues, pipes, locks and shared values work alike under both start methods
  // (and across them), so the context hands out the same classes.
  readonly Queue = Queue;
  readonly JoinableQueue = JoinableQueue;
  readonly SimpleQueue = SimpleQueue;
  readonly Pipe = Pipe;
  readonly Lock = Lock;
  readonly RLock = RLock;
  readonly Semaphore = Semaphore;
  readonly BoundedSemaphore = BoundedSemaphore;
  readonly Condition = Condition;
  readonly Event = Event;
  readonly Barrier = Barrier;
  readonly Value = Value;
  readonly SharedArray = SharedArray;
  readonly RawValue = RawValue;
  readonly RawArray = RawArray;
  /** `Pool` whose workers start with this context. */
  readonly Pool: new (options?: PoolOptions) => Pool;

  constructor(name: ContextName) {
    this.name = name;
    const ctx = this;
    this.Process = class extends Process {
      constructor(options: ProcessOptions) {
        super({ ...options, context: ctx });
      }
    } as BaseContext['Process'];
    this.Pool = class extends Pool {
      constructor(options: PoolOptions = {}) {
        super({ ...options, context: ctx });
      }
    };
  }

  /** Starts a manager whose server runs with this context: `await ctx.Manager()`. */
  Manager(options: Omit<ManagerStartOptions, 'context'> = {}): Promise<Manager> {
    return Manager.start({ ...options, context: this });
  }

  /** @internal Starts a child with this context's start method. */
  start(request: StartRequest): Popen {
    return startMethods[this.name](request);
  }

  /** @internal Throws when this context's children could not import the module of `ref`. */
  checkTask(ref: TaskRef): void {
    importChecks[this.name](ref.url);
  }

  /** Python's `get_start_method()`. */
  getStartMethod(): ContextName {
    return this.name;
  }
}

const contexts = new Map<ContextName, BaseContext>();

/**
 * The context for a start method: `'process'` (default) or `'thread'`.
 * @example
 * import { getContext, isMainModule, task } from 'weft';
 * export const hello = task(import.meta, (who: string) => console.log(`hello from a ${who}`)); // hello from a thread
 * if (isMainModule(import.meta)) {
 *   const { Process } = getContext('thread');
 *   const p = new Process({ target: hello, args: ['thread'] });
 *   p.start();
 *   await p.join();
 *   console.log(p.context); // thread
 * }
 * @throws {ValueError} for any other name.
 */
export function getContext(method: ContextName = 'process'): BaseContext {
  if (method !== 'process' && method !== 'thread') {
    throw new ValueError(`cannot find context for '${String(method)}': use 'process' or 'thread'`);
  }
  let ctx = contexts.get(method);
  if (!ctx) {
    ctx = new BaseContext(method);
    contexts.set(method, ctx);
  }
  return ctx;
}
