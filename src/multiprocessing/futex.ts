/**
 * Waiting on a word of shared memory (no Python twin: CPython's semaphores hide
 * this in `_multiprocessing/semaphore.c`). Every lock, queue and event of weft
 * waits here, so one set of rules holds everywhere:
 *
 * - an async wait first lets the microtasks already queued run (one may be
 *   the very write that answers it), then spins briefly (holders keep locks
 *   for nanoseconds, and a futex sleep plus a cross-core wake-up costs tens of
 *   microseconds);
 * - then it sleeps on the word with FUTEX_WAIT (shared, not private, so
 *   processes meet on it) — synchronously in `…Sync` calls, on a helper thread
 *   in async calls so Node's event loop runs on;
 * - sleeps are cut into slices so the caller can re-check conditions no
 *   futex can signal: a lock owner that died, a pipe peer that closed.
 * @module
 */
import { native } from '../native.js';

/** How long one sleep lasts before the caller re-checks the world, in seconds. */
export const SLICE = 0.1;

/**
 * How long a queue or pipe wait spins before it sleeps, in ms. A round trip
 * through a futex sleep costs more (a helper thread and an event-loop turn),
 * and the other side of a busy queue or pipe usually answers within that
 * time; longer spins block the event loop for nothing (20,000 loads were
 * measured at ~170 µs). Locks spin less (synchronize.ts).
 */
export const SPIN_MS = 0.03;

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
   * Spins until the word differs from `seen`, for at most `ms`; true if it
   * did. Between looks it yields the CPU (sched_yield, nearly free when
   * nothing else is ready to run): with more busy processes than cores, the
   * one this spin waits for may be waiting for this core. Two Manager clients
   * and their server on two cores made 14% more calls with it.
   * @param looks how many looks at the word between two yields.
   */
  spin(seen: number, ms = SPIN_MS, looks = 256): boolean {
    const end = performance.now() + ms;
    do {
      for (let i = 0; i < looks; i++) if (Atomics.load(this.i32, this.index) !== seen) return true;
      native.schedYield();
    } while (performance.now() < end);
    return false;
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
 * {@link Word.spin} over several words at once: true as soon as one differs
 * from what was `seen`, false after `ms`, yielding the CPU after every
 * `looks` rounds. One loop that reads many connections spins on all of them,
 * so that a request on one is not held back while a wait spins on another.
 */
export function spinAny(words: Word[], seen: number[], ms = SPIN_MS, looks = 64): boolean {
  const end = performance.now() + ms;
  do {
    for (let k = 0; k < looks; k++) {
      for (let i = 0; i < words.length; i++) if (words[i]!.load() !== seen[i]) return true;
    }
    native.schedYield();
  } while (performance.now() < end);
  return false;
}

/**
 * Waits until `ready()` returns a value other than `undefined`, sleeping on
 * `word` between checks, and returns that value; `undefined` when the deadline
 * passes first. `ready` runs at every check, so it must be cheap; a check that
 * costs a system call (is a peer or an owner dead?) goes in `beforeSleep`, which
 * runs only when the spin found nothing, before each sleep slice, and ends the
 * wait with its value the same way.
 */
export async function waitFor<T>(
  word: Word,
  deadline: Deadline,
  ready: () => T | undefined,
  beforeSleep?: () => T | undefined,
): Promise<T | undefined> {
  for (let round = 0; ; round++) {
    const seen = word.load();
    const value = ready();
    if (value !== undefined) return value;
    if (deadline.expired) return undefined;
    // First let the microtasks already queued run: one of them may be the
    // very write that answers this wait (a reply flushed in a microtask), and
    // spinning before it would only hold it back.
    if (round === 0) {
      await null;
      continue;
    }
    if (word.spin(seen)) continue;
    if (beforeSleep !== undefined) {
      const last = beforeSleep();
      if (last !== undefined) return last;
    }
    await word.sleep(seen, deadline.slice());
  }
}
