// The untimed warm-up before a steady-state point's clock starts.
//
// A fresh Node process is slow at first, for reasons that have nothing to do
// with the steady state a throughput row claims to measure: V8 compiles the
// hot paths in tiers (bytecode, then optimised code compiled on a background
// thread that takes a core from the measurement), young-generation
// collections sweep the start-up garbage, and weft boots a spare child after
// a start (boot_ahead.ts), ~100 ms of CPU beside the work. Measured round
// trips of a Pipe in chunks of 2,000 from the child's first answer: idle
// 7.5k, 34k, 92k, 168k/s; under a CPU hog per core 12k, 25k, 42k, then
// 40-100k/s; pinned to one core 11k, 16-24k, then ~40k/s. A few hundred
// warm-up round trips left most of that ramp inside the clock, and on a busy
// machine the ramp is longer. So every steady-state point warms up for a
// time, not a count, and its Python twin does the same. What a fresh process
// costs is measured on purpose elsewhere: the `first` rows (start + first map,
// short-lived children, bursts of starts).

/** Seconds of untimed work before the clock starts (both runtimes). */
export const WARMUP_SECONDS = 1;

/**
 * Runs `step` until `seconds` have passed and it ran at least `minimum`
 * times; returns how many times it ran.
 * @example
 *   await warmUp(async () => { a.send(0); await a.recv(); });
 */
export async function warmUp(step: () => Promise<unknown> | unknown, seconds = WARMUP_SECONDS, minimum = 200): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (n < minimum || performance.now() < end) {
    await step();
    n++;
  }
  return n;
}
