/**
 * Waiting on a word of shared memory (no Python twin: CPython's semaphores hide
 * this in `_multiprocessing/semaphore.c`). Every lock, queue and event of weft
 * waits here, so one set of rules holds everywhere:
 *
 * - an async wait first lets the microtasks already queued run (one may be
 *   the very write that answers it);
 * - then it spins, naps in a blocking futex sleep, or does neither, as far as
 *   spinning and napping have paid on that word lately (spin.ts: the policy,
 *   and when a spin may yield the CPU);
 * - then it sleeps on the word with FUTEX_WAIT (shared, not private, so
 *   processes meet on it) — synchronously in `…Sync` calls, on a helper thread
 *   in async calls so Node's event loop runs on;
 * - sleeps are cut into slices so the caller can re-check conditions no
 *   futex can signal: a lock owner that died, a pipe peer that closed.
 * @module
 */
import { native } from '../native.js';
import { SpinEstimate, spinUntil } from './spin.js';

/** How long one sleep lasts before the caller re-checks the world, in seconds. */
export const SLICE = 0.1;

/**
 * The longest a queue, pipe or ring wait holds its thread (spinning, then
 * napping) before it sleeps off the event loop, in ms: 0.1, as long as a small
 * JSON.parse. It bounds what spin.ts adapts: an idle machine's spins end
 * within microseconds of the answer, and a wait whose answers take longer
 * than this sleeps at once. Fixed because it is a promise to the caller (how
 * long an awaited call may hold the event loop), not a tuning of speed.
 */
export const WAIT_CAP_MS = 0.1;

/** A deadline in seconds, Python style: `null` means forever. */
export class Deadline {
  readonly at: number;
  constructor(timeout: number | null | undefined) {
    if (timeout != null && !(timeout >= 0)) {
      throw new RangeError(`timeout must be a non-negative number of seconds or null, got ${timeout}`);
    }
    this.at = timeout == null ? Infinity : performance.now() / 1000 + timeout;
  }
  /** Seconds left (0 once expired, Infinity when there is no deadline). */
  remaining(): number {
    return this.at === Infinity ? Infinity : Math.max(0, this.at - performance.now() / 1000);
  }
  get expired(): boolean {
    return this.remaining() === 0;
  }
  /** The next sleep: a slice, or less when the deadline is nearer. */
  slice(): number {
    return Math.min(SLICE, this.remaining());
  }
}

/**
 * A 32-bit word in shared memory that can be waited on, and a count of its
 * sleepers so that a wake costs no system call when nobody sleeps.
 */
export class Word {
  readonly i32: Int32Array;
  readonly index: number;
  readonly waitersIndex: number;
  /** What waits on this word in this process have seen: how long the next one spins and naps. */
  readonly estimate = new SpinEstimate();

  constructor(i32: Int32Array, index: number, waitersIndex: number) {
    // The native side sleeps on the view's memory from a helper thread: it
    // must be shared memory, which no one can detach or transfer meanwhile.
    if (!(i32.buffer instanceof SharedArrayBuffer)) throw new TypeError('a Word lives in a SharedArrayBuffer');
    this.i32 = i32;
    this.index = index;
    this.waitersIndex = waitersIndex;
  }

  load(): number {
    return Atomics.load(this.i32, this.index);
  }

  /** Wakes up to `count` sleepers (all when omitted). */
  wake(count = 0): void {
    if (Atomics.load(this.i32, this.waitersIndex) > 0) {
      native.futexWake(this.i32, this.index, count);
    }
  }

  /**
   * Spins until the word differs from `seen`, for at most `ms` (spin.ts: it
   * stops early when descheduled); true if it did. The outcome feeds this
   * word's estimate.
   */
  spin(seen: number, ms: number, looks?: number): boolean {
    const { i32, index } = this;
    return spinUntil(() => Atomics.load(i32, index) !== seen, ms, this.estimate, looks);
  }

  /** Sleeps (blocking the thread) while the word equals `seen`, for at most `seconds`. */
  sleepSync(seen: number, seconds: number): void {
    Atomics.add(this.i32, this.waitersIndex, 1);
    try {
      if (Atomics.load(this.i32, this.index) === seen) {
        native.futexWait(this.i32, this.index, seen, seconds);
      }
    } finally {
      Atomics.sub(this.i32, this.waitersIndex, 1);
    }
  }

  /** Sleeps without blocking the event loop while the word equals `seen`, for at most `seconds`. */
  sleep(seen: number, seconds: number): Promise<void> {
    Atomics.add(this.i32, this.waitersIndex, 1);
    if (Atomics.load(this.i32, this.index) !== seen) {
      Atomics.sub(this.i32, this.waitersIndex, 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      native.futexWaitAsync(this.i32, this.index, seen, seconds, () => {
        Atomics.sub(this.i32, this.waitersIndex, 1);
        resolve();
      });
    });
  }
}

/**
 * {@link Word.spin} over several words at once, for at most `ms`: true as
 * soon as one differs from what was `seen`. One loop that reads many
 * connections spins on all of them, so that a request on one is not held back
 * while a wait spins on another. `estimate` is the loop's own.
 */
export function spinAny(words: Word[], seen: number[], ms: number, estimate: SpinEstimate, looks?: number): boolean {
  return spinUntil(() => {
    for (let i = 0; i < words.length; i++) if (words[i]!.load() !== seen[i]) return true;
    return false;
  }, ms, estimate, looks);
}

/** How a {@link waitFor} waits before it sleeps off the thread. */
export interface WaitOptions<T> {
  /**
   * A check that costs a system call (is a peer or an owner dead?): runs only
   * before each async sleep slice, and ends the wait with its value the same
   * way as `ready`.
   */
  beforeSleep?: () => T | undefined;
  /**
   * The longest the wait spins, and the longest one nap lasts, in ms: how long
   * it may hold its thread at a time. {@link WAIT_CAP_MS} unless a site says.
   */
  capMs?: number;
  /** Whether it spins at all (false: it naps at once if naps pay). Default true. */
  spin?: boolean;
  /** Time the caller already spent waiting, in ms (its own spin), counted in the estimate. */
  spentMs?: number;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Waits until `ready()` returns a value other than `undefined`, sleeping on
 * `word` between checks, and returns that value; `undefined` when the deadline
 * passes first. `ready` runs at every check, so it must be cheap.
 *
 * The wait first lets the microtasks already queued run; then it spins, and
 * naps (blocking futex sleeps of at most `capMs`, with a turn of the event
 * loop between two) for as long as spin.ts's estimate of this word says each
 * pays; then it sleeps on a helper thread, in slices.
 */
export async function waitFor<T>(
  word: Word,
  deadline: Deadline,
  ready: () => T | undefined,
  options: WaitOptions<T> = {},
): Promise<T | undefined> {
  const { beforeSleep, capMs = WAIT_CAP_MS, spin = true, spentMs = 0 } = options;
  const estimate = word.estimate;
  let start = 0;
  let napUntil = 0;
  for (let round = 0; ; round++) {
    const seen = word.load();
    const value = ready();
    if (value !== undefined) {
      if (round > 1) estimate.answered(performance.now() - start);
      return value;
    }
    if (deadline.expired) return undefined;
    // First let the microtasks already queued run: one of them may be the
    // very write that answers this wait (a reply flushed in a microtask), and
    // spinning before it would only hold it back.
    if (round === 0) {
      await null;
      continue;
    }
    const now = performance.now();
    if (round === 1) {
      // One spin per wait: the word may change for other reasons than this
      // wait's answer (another reader took the message), and a wait that goes
      // on after that shows its answer is not coming within a spin.
      start = now - spentMs;
      napUntil = now + estimate.napMs();
      if (spin && word.spin(seen, Math.min(capMs, deadline.remaining() * 1000, estimate.spinMs(capMs)))) continue;
    }
    const napLeft = Math.min(napUntil - performance.now(), deadline.remaining() * 1000);
    if (napLeft > 0) {
      word.sleepSync(seen, Math.min(capMs, napLeft) / 1000);
      if (word.load() === seen) await turn(); // timers and I/O of this thread run between naps
      continue;
    }
    if (beforeSleep !== undefined) {
      const last = beforeSleep();
      if (last !== undefined) return last;
    }
    await word.sleep(seen, deadline.slice());
  }
}
