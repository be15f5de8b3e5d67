/**
 * `monitor`: the twin of gevent's `src/gevent/_monitor.py`. gevent runs a
 * thread that notices when the hub has not switched for `max_blocking_time`
 * and prints the stack of the greenlet that hogs the loop. Here every
 * callback the event loop runs (a promise continuation, a timer, I/O) is
 * timed with `async_hooks` before/after hooks, which are installed only while
 * the monitor is on; a callback that ran longer than `maxBlockingTime` is
 * reported with the greenlet it ran in. The report comes when the blocking
 * code returns (JavaScript cannot interrupt it to look).
 * @module
 */
import { createHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { type Runner, context, monitorHooks, toMs } from './hub.js';
import { getCurrent } from './greenlet.js';

/**
 * What `monitor` reports about one blocking episode.
 * @example
 * import { monitor, spawn, type BlockingReport } from 'weft/coro';
 * const seen: BlockingReport[] = [];
 * using m = monitor({ maxBlockingTime: 0.05, report: (r) => seen.push(r) });
 * await spawn(() => { const end = Date.now() + 100; while (Date.now() < end); }).join();
 * console.log(seen.length, seen[0].seconds >= 0.05); // 1 true
 */
export interface BlockingReport {
  /** The name of the greenlet that was running (`MainGreenlet` outside any). */
  greenlet: string;
  /** How long the loop was blocked, in seconds. */
  seconds: number;
}

/**
 * The running monitor; stop it with `stop()` or `using`.
 * @example
 * import { monitor, type Monitor } from 'weft/coro';
 * {
 *   using m: Monitor = monitor(); // stopped when the block ends
 * }
 * monitor().stop(); // so another one may start
 */
export interface Monitor {
  /** Stop monitoring and remove the hooks. */
  stop(): void;
  /** Same as `stop()`. */
  [Symbol.dispose](): void;
}

let active: Monitor | undefined;

/**
 * Warn when synchronous code blocks the event loop longer than
 * `maxBlockingTime` seconds, naming the greenlet that ran it (gevent's
 * monitor thread with `max_blocking_time`). Only one monitor runs at a time.
 * @param options.maxBlockingTime the threshold in seconds (default 0.1)
 * @param options.report where a report goes (default: a warning line on stderr)
 * @throws {Error} when a monitor is already running
 * @example
 * import { monitor, spawn } from 'weft/coro';
 * const m = monitor({ maxBlockingTime: 0.05, report: (r) => console.log(`${r.greenlet} blocked the event loop`) }); // busy blocked the event loop
 * const g = spawn(() => { const end = Date.now() + 100; while (Date.now() < end); });
 * g.name = 'busy';
 * await g.join();
 * m.stop();
 */
export function monitor(
  options: { maxBlockingTime?: number; report?: (report: BlockingReport) => void } = {},
): Monitor {
  if (active !== undefined) throw new Error('monitor(): a monitor is already running; stop() it first');
  const limitMs = toMs(options.maxBlockingTime ?? 0.1);
  const limit = limitMs / 1000;
  const report =
    options.report ??
    ((r: BlockingReport) =>
      process.stderr.write(
        `weft/coro monitor: <Greenlet "${r.greenlet}"> blocked the event loop for ${r.seconds.toFixed(3)} s (max ${limit} s)\n`,
      ));
  let depth = 0;
  let started = 0;
  let firstSlices = 0; // time spent starting greenlets inside this callback, reported on its own
  let runner: Runner | undefined;
  const main = getCurrent();
  const name = (r: Runner | undefined): string => (r as { name?: string } | undefined)?.name ?? main.name;
  const hook = createHook({
    before() {
      if (depth++ > 0) return;
      started = performance.now();
      firstSlices = 0;
      runner = context.get();
    },
    after() {
      // the callback running when the hook was enabled ends without a `before`
      if (depth === 0) return;
      if (--depth > 0) return;
      const ms = performance.now() - started - firstSlices;
      if (ms > limitMs) report({ greenlet: name(runner), seconds: ms / 1000 });
    },
  });
  monitorHooks.onStart = (r, ms) => {
    firstSlices += ms;
    if (ms > limitMs) report({ greenlet: name(r), seconds: ms / 1000 });
  };
  hook.enable();
  const m: Monitor = {
    stop() {
      hook.disable();
      monitorHooks.onStart = undefined;
      if (active === m) active = undefined;
    },
    [Symbol.dispose]() {
      m.stop();
    },
  };
  active = m;
  return m;
}
