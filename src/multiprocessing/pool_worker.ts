/**
 * The pool's worker loop — the twin of `worker()` in CPython's
 * `multiprocessing/pool.py`. A worker runs the initializer, then drains every
 * task frame its ring holds, running tasks one at a time in order, and sends
 * results back in batches: when its ring runs dry, every 0.5 ms of work, or
 * every 64 KiB of results. Before each task it publishes the task's seq, so the
 * parent knows, if the worker dies, which task it was running and which ones it
 * never started; the results not sent yet wait in its block's pending area, where
 * the parent finds them if a later task ends the worker (SIGKILL, process.exit).
 * @module
 */
import { Deadline, waitFor } from './futex.js';
import { Feeder } from './feeder.js';
import {
  CALL,
  CALL_F64,
  CANCEL_MASK,
  DONE,
  FAILED,
  FINISHED,
  INIT_FAILED,
  MAP,
  MAP_F64,
  OK,
  OK_F64,
  OK_NUMBER,
  PID,
  RUNNING,
  ResultBuffer,
  resultFrame,
  SKIPPED,
  STOP,
  asSent,
  decodeTasks,
  numbersOf,
  packNumber,
  packNumbers,
  putNumbers,
  unpackNumbers,
  type PoolChannel,
} from './pool_wire.js';
import { native } from '../native.js';
import { dumps, loads } from './reduction.js';
import { EMPTY, PARTIAL, type Ring } from './ring.js';
import { loadTask, task, type TaskFunction, type TaskRef } from './task.js';
import { selfId } from './util.js';

const FLUSH_SECONDS = 0.0005;
/** How long an idle worker keeps waiting in short blocking sleeps before it parks off its thread. */
const NAP_SECONDS = 0.05;
const NAP_SLICE = 0.001;
/**
 * Whether an idle worker naps first: only where an async wait takes a helper
 * thread (futex.ts), whose wake-up is two hops (the helper, then the event
 * loop) to a nap's one. An io_uring wait wakes the worker's own thread in one
 * hop already, and measured no slower than naps under CPU hogs (sequential
 * apply, 2 interleaved runs: 2.3–5.0k calls/s against 2.0–4.1k with naps).
 */
const NAPS = native.futexWaitMechanism() === 'thread';

/**
 * Waits for the next task frame. Where {@link NAPS}, a freshly idle worker
 * sleeps in 1 ms blocking futex waits (one wake-up hop when work comes: the
 * latency of `apply`), yielding to its event loop between them so timers and
 * I/O that earlier tasks started still run, and after 50 ms idle parks on
 * futex.ts's async wait (no CPU while idle).
 */
async function nextFrame(ring: Ring): Promise<void> {
  const word = ring.data;
  const idleSince = performance.now();
  for (;;) {
    const seen = word.load();
    if (!ring.isEmpty()) return;
    if (word.spin(seen)) continue;
    if (!NAPS || performance.now() - idleSince > NAP_SECONDS * 1000) {
      await waitFor(word, new Deadline(null), () => (ring.isEmpty() ? undefined : true));
      return;
    }
    word.sleepSync(seen, NAP_SLICE);
    if (ring.isEmpty()) await new Promise((resolve) => setImmediate(resolve));
  }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';

/** Serialises a task's outcome; a value that cannot cross becomes that task's error. */
function encode(status: number, value: unknown): [number, Uint8Array] {
  try {
    return [status, dumps(value, status === OK ? 'result' : 'error')];
  } catch (err) {
    try {
      return [FAILED, dumps(err)];
    } catch {
      return [FAILED, dumps(new Error(String(err)))];
    }
  }
}

/**
 * The worker's target. `initializer` runs once with `initargs` before any
 * task; `maxTasks` (0: no limit) is Python's `maxtasksperchild`.
 */
export const poolWorker = task(
  import.meta,
  async function poolWorker(channel: PoolChannel, initializer: TaskRef | null, initargs: unknown[], maxTasks: number): Promise<void> {
    const { ring, slots, busy } = channel.worker;
    const { cancel, results } = channel.pool;
    const feeder = new Feeder(results);
    const out = new ResultBuffer(channel.worker, (frame) => feeder.send(frame));
    ring.getLock.tryAcquire(); // the only reader of this ring, for good
    Atomics.store(slots, PID, selfId);

    if (initializer) {
      try {
        const init = await loadTask(initializer);
        const r = init(...initargs);
        if (isThenable(r)) await r;
      } catch (err) {
        feeder.send(resultFrame(INIT_FAILED, 0, ...encode(FAILED, err)));
        await feeder.flush();
        throw err;
      }
    }

    const fns = new Map<string, TaskFunction>();
    let done = 0;
    let lastFlush = performance.now();
    const flush = () => {
      out.flush();
      lastFlush = performance.now();
    };

    for (;;) {
      let frame = ring.readNow();
      if (frame === EMPTY) {
        flush();
        await nextFrame(ring);
        continue;
      }
      if (frame === PARTIAL) {
        frame = await ring.read();
        if (frame === EMPTY) continue;
      }
      const { kind, refs, tasks } = decodeTasks(frame);
      if (kind === STOP) break;
      for (const t of tasks) {
        // A frame the result ring had no room for waits in this worker's memory, which
        // its death would take along: it reaches the ring before the next task starts.
        if (feeder.backlog) await feeder.flush();
        Atomics.store(slots, RUNNING, t.seq);
        if (Atomics.load(cancel, t.seq & CANCEL_MASK) === t.seq) {
          out.push(t.seq, SKIPPED, new Uint8Array(0));
        } else {
          const [url, name] = refs[t.ref]!;
          const key = `${url}#${name}`;
          let fn = fns.get(key);
          let status: number;
          let value: unknown;
          let started = performance.now();
          try {
            if (!fn) {
              fn = await loadTask({ url, name }); // its import is not counted as busy time
              fns.set(key, fn);
              started = performance.now();
            }
            status = OK;
            if (t.mode === CALL || t.mode === CALL_F64) {
              const args = (t.mode === CALL_F64 ? unpackNumbers(t.payload) : loads(t.payload)) as unknown[];
              value = fn(...args);
              if (isThenable(value)) value = await value;
              if (typeof value === 'number') {
                status = OK_NUMBER;
                value = packNumber(value);
              }
            } else {
              const mapped = t.mode === MAP_F64
                ? mapNumbers(fn, numbersOf(t.payload))
                : mapItems(fn, loads(t.payload) as ArrayLike<unknown>, t.mode !== MAP);
              const items = mapped instanceof Promise ? await mapped : mapped;
              const numbers = items instanceof Uint8Array ? items : packNumbers(items);
              if (numbers) {
                status = OK_F64;
                value = numbers;
              } else {
                value = items;
              }
            }
          } catch (err) {
            status = FAILED;
            value = err;
          }
          const [s, payload] = status === OK_F64 || status === OK_NUMBER ? [status, value as Uint8Array] : encode(status, value);
          const run = (performance.now() - started) / 1000;
          out.push(t.seq, s, payload, run);
          Atomics.store(slots, FINISHED, t.seq);
          busy[0] = busy[0]! + run;
        }
        Atomics.store(slots, DONE, ++done);
        // Flushed only once counted: whoever gets this result sees it in tasksDone.
        if (performance.now() - lastFlush > FLUSH_SECONDS * 1000) flush();
        if (maxTasks > 0 && done >= maxTasks) {
          flush();
          await feeder.flush();
          return;
        }
      }
    }
    flush();
    await feeder.flush();
  },
);

/**
 * A map chunk's results: `fn` over each item (spread over its arguments for
 * starmap). A small function of its own, without an await in its loop: V8
 * optimises its loop while the first chunk runs, where the same loop inside
 * the worker's main loop (a large async function) ran unoptimised for the
 * whole first map of a fresh worker. Goes async only at a task that returns
 * a promise.
 */
function mapItems(fn: TaskFunction, args: ArrayLike<unknown>, spread: boolean, items = new Array<unknown>(args.length), from = 0): unknown[] | Promise<unknown[]> {
  for (let i = from; i < args.length; i++) {
    const v = spread ? fn(...(args[i] as unknown[])) : fn(args[i]);
    if (isThenable(v)) return mapItemsAsync(fn, args, spread, items, i, v);
    items[i] = v;
  }
  return items;
}

/**
 * A chunk of numbers mapped: `fn` over each float64 of `f64`, its results
 * written as float64s while every one is a number — the packed payload, with
 * no array of arguments or of results in between, so a fresh worker runs one
 * loop cold instead of three. From the first result that is not a number it
 * goes on as {@link mapItems} (async from a promise).
 */
function mapNumbers(fn: TaskFunction, f64: Float64Array): Uint8Array | unknown[] | Promise<unknown[]> {
  const results = new Float64Array(f64.length);
  for (let i = 0; i < f64.length; i++) {
    const v = fn(asSent(f64[i]!));
    if (typeof v !== 'number') return mapNumbersOn(fn, f64, results, i, v);
    results[i] = v;
  }
  return new Uint8Array(results.buffer);
}

/** {@link mapNumbers} from item `i` on, whose result `v` is not a number: the results as an array. */
function mapNumbersOn(fn: TaskFunction, f64: Float64Array, results: Float64Array, i: number, v: unknown): unknown[] | Promise<unknown[]> {
  const args = putNumbers(f64, new Array<number>(f64.length));
  const items = new Array<unknown>(f64.length);
  for (let k = 0; k < i; k++) items[k] = results[k];
  if (isThenable(v)) return mapItemsAsync(fn, args, false, items, i, v);
  items[i] = v;
  return mapItems(fn, args, false, items, i + 1);
}

/** {@link mapItems} from item `i` on, whose result `pending` is a promise. */
async function mapItemsAsync(fn: TaskFunction, args: ArrayLike<unknown>, spread: boolean, items: unknown[], i: number, pending: PromiseLike<unknown>): Promise<unknown[]> {
  items[i] = await pending;
  for (let k = i + 1; k < args.length; k++) {
    let v = spread ? fn(...(args[k] as unknown[])) : fn(args[k]);
    if (isThenable(v)) v = await v;
    items[k] = v;
  }
  return items;
}
