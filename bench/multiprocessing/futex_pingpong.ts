/**
 * The floor under every async wait of weft: two threads (this one and a
 * worker) taking turns on one word of shared memory with the addon's
 * `futexWaitAsync` and `futexWake` alone, no queue, no pipe, no spin. Each
 * turn is a sleep in Node's event loop and a wake-up by the other thread, so
 * the CPU per round trip is what a wait costs before any of weft's own code.
 * Pinned to one core, the two threads take turns on it, as a busy machine
 * makes them. Each timeout given is one measurement, so two builds, or a wait
 * with a time-out against one without, compare in one run.
 *
 * Usage: node dist/bench/multiprocessing/futex_pingpong.js [TIMEOUT_SECONDS ...]   (default: 0.1 -1; -1 is no time-out)
 * @example
 * // taskset -c 0 node dist/bench/multiprocessing/futex_pingpong.js 0.1 -1 0.1 -1
 * // timeout 0.1: 90.0k round trips/s, 11.1 us of CPU each
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { native } from '../../src/internals.js';

const ROUND_TRIPS = 20_000;
/** The word whose value says whose turn it is: even for this thread, odd for the worker. */
const TURN = 0;

/** Takes `n` turns as `me` (0 or 1): waits for the word to say so, then passes the turn on. */
async function play(i32: Int32Array, me: number, timeout: number, n: number): Promise<void> {
  for (let k = 0; k < n; k++) {
    for (;;) {
      const seen = Atomics.load(i32, TURN);
      if (seen % 2 === me) break;
      await new Promise((resolve) => native.futexWaitAsync(i32, TURN, seen, timeout, resolve));
    }
    Atomics.add(i32, TURN, 1);
    native.futexWake(i32, TURN, 0);
  }
}

if (isMainThread) {
  const timeouts = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [0.1, -1];
  for (const timeout of timeouts) {
    const i32 = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL(import.meta.url), { workerData: { sab: i32.buffer, timeout } });
    await new Promise((resolve) => worker.once('message', resolve));
    const cpu = process.cpuUsage();
    const start = performance.now();
    await play(i32, 0, timeout, ROUND_TRIPS);
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    await new Promise((resolve) => worker.once('exit', resolve));
    const perTrip = (used.user + used.system) / ROUND_TRIPS;
    console.log(`timeout ${timeout}: ${(ROUND_TRIPS / seconds / 1000).toFixed(1)}k round trips/s, ${perTrip.toFixed(1)} us of CPU each`);
  }
} else {
  const { sab, timeout } = workerData as { sab: SharedArrayBuffer; timeout: number };
  parentPort!.postMessage('ready');
  await play(new Int32Array(sab), 1, timeout, ROUND_TRIPS);
}
