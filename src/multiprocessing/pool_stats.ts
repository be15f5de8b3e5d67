/**
 * The figures behind `Pool.stats()` (no CPython twin: Python's Pool reports
 * nothing): wait and run times of tasks, and the queue's length over the
 * last minute.
 *
 * Times are counted on the pool's hot path, so they go into log-linear
 * buckets first (a shift, a `clz32` and an increment: ~10 ns a value where
 * hdr-histogram-js's `recordValue` measured ~500 ns on this machine, a sixth
 * of a whole tiny task), and become an HDR histogram only when `stats()` asks:
 * each bucket is recorded there once, with its count. 128 buckets per power of
 * two keep a value within 0.8% of what was measured, finer than the timer.
 * @module
 */
import { createRequire } from 'node:module';

/** hdr-histogram-js, loaded at the first `stats()`: its load takes ~30 ms, which every weft child would pay. */
let hdr: typeof import('hdr-histogram-js') | undefined;
const loadHdr = () => (hdr ??= createRequire(import.meta.url)('hdr-histogram-js') as typeof import('hdr-histogram-js'));

/** Sub-buckets per power of two, as bits. */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
/** Values are microseconds in 32 bits: up to ~71 minutes (longer ones count as the longest). */
const MAX_US = 0xffffffff;

/**
 * Percentiles of a time, in seconds.
 * @example
 * import { Pool, isMainModule, task, type TimeSummary } from 'weft';
 * export const square = task(import.meta, (x: number) => x * x);
 * if (isMainModule(import.meta)) {
 *   await using pool = new Pool({ processes: 1 });
 *   await pool.map(square, [1, 2, 3], 1);
 *   const run: TimeSummary = pool.stats().runTime;
 *   console.log(run.count, run.p50 <= run.p99); // 3 true
 * }
 */
export interface TimeSummary {
  /** Tasks measured. */
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** A histogram of times in seconds, cheap to add to. */
export class TimeBuckets {
  readonly #counts = new Float64Array((32 - SUB_BITS + 1) * SUB);
  #count = 0;

  add(seconds: number): void {
    let us = Math.round(seconds * 1e6);
    if (!(us > 0)) us = 0;
    else if (us > MAX_US) us = MAX_US;
    this.#counts[bucketOf(us)]!++;
    this.#count++;
  }

  /** The percentiles, computed by hdr-histogram-js from the buckets. */
  summary(): TimeSummary {
    if (this.#count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
    const h = loadHdr().build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_US + 1, numberOfSignificantValueDigits: 3 });
    try {
      const counts = this.#counts;
      for (let i = 0; i < counts.length; i++) if (counts[i]) h.recordValueWithCount(Math.max(1, valueOf(i)), counts[i]!);
      const s = (us: number) => us / 1e6;
      return {
        count: this.#count,
        mean: s(h.mean),
        p50: s(h.getValueAtPercentile(50)),
        p90: s(h.getValueAtPercentile(90)),
        p99: s(h.getValueAtPercentile(99)),
        max: s(h.maxValue),
      };
    } finally {
      h.destroy();
    }
  }
}

/** Values below SUB have a bucket each; above, SUB buckets per power of two. */
function bucketOf(us: number): number {
  if (us < SUB) return us;
  const exp = 31 - Math.clz32(us); // >= SUB_BITS
  const shift = exp - SUB_BITS;
  return (shift + 1) * SUB + ((us >>> shift) & (SUB - 1));
}

/** The middle of a bucket. */
function valueOf(bucket: number): number {
  if (bucket < SUB) return bucket;
  const shift = Math.floor(bucket / SUB) - 1;
  const low = (SUB + (bucket % SUB)) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

/**
 * The queue's longest length in each of the last 60 seconds, oldest first.
 * Noted when tasks are handed out (once per batch), so a second in which
 * nothing was queued or sent reads 0.
 */
export class QueueHistory {
  readonly #peaks = new Float64Array(60);
  readonly #seconds = new Float64Array(60).fill(-1);

  note(now: number, length: number): void {
    const second = Math.floor(now / 1000);
    const i = second % 60;
    if (this.#seconds[i] !== second) {
      this.#seconds[i] = second;
      this.#peaks[i] = length;
    } else if (length > this.#peaks[i]!) {
      this.#peaks[i] = length;
    }
  }

  /** 60 peaks, the oldest second first and the current one last. */
  lastMinute(now: number): number[] {
    const second = Math.floor(now / 1000);
    const out = new Array<number>(60);
    for (let k = 0; k < 60; k++) {
      const s = second - 59 + k;
      const i = ((s % 60) + 60) % 60;
      out[k] = this.#seconds[i] === s ? this.#peaks[i]! : 0;
    }
    return out;
  }
}
