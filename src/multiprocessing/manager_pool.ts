/**
 * The Pool a manager serves, and what its methods return — the server half of
 * `SyncManager.Pool` in CPython's `managers.py`, which registers `pool.Pool`
 * with `PoolProxy`, and `AsyncResult` and `Iterator` for the results of its
 * `*_async` and `imap` methods. CPython keeps them in `managers.py`; here they
 * have their own module so that manager_types.ts stays about plain data.
 *
 * A weft {@link Pool} runs inside the server. Its calls are promises on the
 * server's event loop, so a long `apply` holds up no other client; a waiting
 * `next` is parked like a queue's `get` and withdrawn when its client goes,
 * and `get`/`wait` are the pool's own AsyncResult's. Tasks travel as task references and the
 * server imports their modules, as the pool's workers do: only module files
 * (a JavaScript or TypeScript extension) under the roots the manager's owner
 * allows, that is code already on the server's disk, and only functions they
 * declare with `task()`. A pool that is freed (its last reference dropped) or
 * outlived by its server's shutdown is terminated.
 * @module
 */
import { realpathSync, statSync } from 'node:fs';
import { dirname, extname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mainEntry } from '../layout.js';
import { Pool, type AsyncResult } from './pool.js';
import { loadTask, type TaskFunction } from './task.js';
import { park, type Waiter } from './manager_sync_types.js';
import { Referent, type CallContext, type TypeSpec } from './manager_types.js';

/** Values an `imap` iterator reads ahead of its client: results wait here, not in the pool. */
const AHEAD = 4096;

/** Extensions of the module files a task may come from: nothing else is imported (an extensionless file would run as CommonJS). */
const MODULE_EXTENSIONS = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']);

/** The directories tasks may come from, each ending in the path separator. */
let taskRoots: string[] = [];

/**
 * weft's own modules, never a task module whatever the roots: their tasks (the
 * manager server's, a pool worker's) take configuration a client must not
 * choose, such as the directory a server removes when it ends.
 */
const weftModules = (() => {
  const dir = dirname(fileURLToPath(mainEntry));
  try {
    return realpathSync(dir) + sep;
  } catch {
    return dir + sep;
  }
})();

/** Sets the directories (and their subdirectories) whose module files a served Pool may import tasks from. */
export function allowTaskRoots(dirs: string[]): void {
  taskRoots = dirs.map((dir) => {
    let real = dir;
    try {
      real = realpathSync(dir);
    } catch {
      // a root that does not exist allows nothing, and is harmless
    }
    return real.endsWith(sep) ? real : real + sep;
  });
}

/**
 * True for the URL of a module file under an allowed root, with a module
 * extension, as the file really is (symbolic links resolved). One answer for
 * every refusal: a client learns nothing of the server's files from it.
 */
function allowedModule(url: string): boolean {
  let file: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'file:' || parsed.search || parsed.hash) return false; // a query would import the file afresh
    file = realpathSync(fileURLToPath(parsed));
    if (!statSync(file).isFile()) return false;
  } catch {
    return false;
  }
  if (!MODULE_EXTENSIONS.has(extname(file)) || !MODULE_EXTENSIONS.has(extname(url)) || file.startsWith(weftModules)) return false;
  return taskRoots.some((root) => file.startsWith(root));
}

/** Imports the task a client named by its reference (a served Pool's, a Barrier's action). */
export function taskOf(ref: unknown, what: string): Promise<TaskFunction> {
  const r = ref as { url?: unknown; name?: unknown } | null;
  if (typeof r?.url !== 'string' || typeof r.name !== 'string') {
    throw new TypeError(`${what}: expected a task reference (a function declared with task() in a module file)`);
  }
  if (!allowedModule(r.url)) throw new TypeError('not an allowed task module');
  return loadTask({ url: r.url, name: r.name });
}

function arrayOf(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  throw new TypeError(`${what}: expected an array, got ${typeof value}`);
}

const chunks = (chunksize: unknown) => (chunksize === null ? undefined : (chunksize as number | undefined));

/** A served pool. */
class SPool {
  #turn: Promise<unknown> = Promise.resolve();
  constructor(readonly pool: Pool) {}

  /**
   * Runs `step` once every earlier call of this pool has reached it: calls keep
   * the order they arrived in, whatever their modules take to import (an
   * `applyAsync` sent before `close()` still runs).
   */
  after<R>(step: () => R | Promise<R>): Promise<R> {
    const run = this.#turn.then(step);
    this.#turn = run.catch(() => {});
    return run;
  }

  /** `after`, with the task the call names (imported meanwhile). */
  withTask<R>(ref: unknown, what: string, submit: (fn: TaskFunction) => R): Promise<R> {
    const fn = taskOf(ref, what);
    fn.catch(() => {}); // rejected before its turn: handled there, not an unhandled rejection
    return this.after(() => fn.then(submit));
  }
}

/** A served `imap` iterator: reads the pool's results ahead; `next` hands them out in batches. */
class SIterator {
  readonly waiters: Waiter<boolean>[] = [];
  #values: unknown[] = [];
  #failure: { error: unknown } | null = null;
  #done = false;
  #pulling = false;
  constructor(readonly source: AsyncGenerator<unknown, void, undefined>) {
    void this.#pull();
  }

  async #pull(): Promise<void> {
    if (this.#pulling) return;
    this.#pulling = true;
    try {
      while (!this.#done && this.#values.length < AHEAD) {
        const next = await this.source.next();
        if (next.done) this.#done = true;
        else this.#values.push(next.value);
        this.#wake();
      }
    } catch (error) {
      this.#failure = { error };
      this.#done = true;
    } finally {
      this.#pulling = false;
      this.#wake();
    }
  }

  #wake(): void {
    for (const w of [...this.waiters]) w.grant(true);
  }

  /** Up to `max` values, and whether they are the last; the task's error once the values before it are out. */
  async next(ctx: CallContext, max: number): Promise<[unknown[], boolean]> {
    while (!this.#values.length && !this.#done) await park(ctx, null, this.waiters, () => false);
    const values = this.#values.splice(0, max);
    void this.#pull();
    if (!values.length && this.#failure) {
      const { error } = this.#failure;
      this.#failure = null;
      throw error;
    }
    return [values, this.#done && !this.#values.length && !this.#failure];
  }

  /** Stops early: the pool drops this call's tasks not yet started. */
  close(): void {
    if (!this.#done) void this.source.return().catch(() => {});
    this.#done = true;
    this.#values = [];
    this.#failure = null;
    this.#wake();
  }
}

function madeByPool(typeid: string): () => never {
  return () => {
    throw new TypeError(`${typeid} objects are made by a Pool's methods, not by create()`);
  };
}

const poolSpec: TypeSpec = {
  async create([options]) {
    if (options !== undefined && options !== null && typeof options !== 'object') throw new TypeError('Pool(options): options must be an object');
    const o = (options ?? {}) as Record<string, unknown>;
    if (o.context !== undefined && typeof o.context !== 'string') throw new TypeError("Pool: context must be 'process' or 'thread'");
    const initializer = o.initializer == null ? null : await taskOf(o.initializer, 'initializer');
    return new SPool(new Pool({
      processes: o.processes as number | undefined,
      initializer,
      initargs: arrayOf(o.initargs, 'initargs'),
      maxTasksPerChild: o.maxTasksPerChild as number | null | undefined,
      context: o.context as 'process' | 'thread' | undefined,
    }));
  },
  methods: {
    // The turn (withTask) ends once the call is submitted; waiting for its value happens after it,
    // so a long apply does not hold up the calls behind it.
    apply: (p: SPool, [fn, args]) => p.withTask(fn, 'apply', (f) => p.pool.applyAsync(f, arrayOf(args, 'args'))).then((r) => r.get()),
    applyAsync: (p: SPool, [fn, args]) =>
      p.withTask(fn, 'applyAsync', (f) => new Referent('AsyncResult', p.pool.applyAsync(f, arrayOf(args, 'args')))),
    map: (p: SPool, [fn, items, size]) => p.withTask(fn, 'map', (f) => p.pool.mapAsync(f, arrayOf(items, 'map'), chunks(size))).then((r) => r.get()),
    mapAsync: (p: SPool, [fn, items, size]) =>
      p.withTask(fn, 'mapAsync', (f) => new Referent('AsyncResult', p.pool.mapAsync(f, arrayOf(items, 'mapAsync'), chunks(size)))),
    starmap: (p: SPool, [fn, items, size]) =>
      p.withTask(fn, 'starmap', (f) => p.pool.starmapAsync(f, arrayOf(items, 'starmap') as unknown[][], chunks(size))).then((r) => r.get()),
    starmapAsync: (p: SPool, [fn, items, size]) =>
      p.withTask(fn, 'starmapAsync', (f) => new Referent('AsyncResult', p.pool.starmapAsync(f, arrayOf(items, 'starmapAsync') as unknown[][], chunks(size)))),
    imap: (p: SPool, [fn, items, size]) =>
      p.withTask(fn, 'imap', (f) => new Referent('Iterator', new SIterator(p.pool.imap(f, arrayOf(items, 'imap'), chunks(size))))),
    imapUnordered: (p: SPool, [fn, items, size]) =>
      p.withTask(fn, 'imapUnordered', (f) => new Referent('Iterator', new SIterator(p.pool.imapUnordered(f, arrayOf(items, 'imapUnordered'), chunks(size))))),
    close: (p: SPool) => p.after(() => p.pool.close()),
    terminate: (p: SPool) => p.after(() => p.pool.terminate()),
    join: (p: SPool) => p.after(() => p.pool.join()),
    stats: (p: SPool) => p.pool.stats(),
  },
  dispose: (p: SPool) => p.pool.terminate(),
};

const resultSpec: TypeSpec = {
  create: madeByPool('AsyncResult'),
  methods: {
    ready: (r: AsyncResult<unknown>) => r.ready(),
    successful: (r: AsyncResult<unknown>) => r.successful(),
    wait: (r: AsyncResult<unknown>, [timeout]) => r.wait(timeout as number | null),
    get: (r: AsyncResult<unknown>, [timeout]) => r.get(timeout as number | null),
  },
};

const iteratorSpec: TypeSpec = {
  create: madeByPool('Iterator'),
  methods: {
    next: (it: SIterator, [max], ctx) => it.next(ctx, Number.isInteger(max) && (max as number) > 0 ? (max as number) : 1),
    close: (it: SIterator) => it.close(),
  },
  dispose: (it: SIterator) => it.close(),
};

/** The pool types, by typeid. */
export const poolTypes: Record<string, TypeSpec> = {
  Pool: poolSpec,
  AsyncResult: resultSpec,
  Iterator: iteratorSpec,
};
