/**
 * How long a wait spins before it sleeps: the one policy behind every wait of
 * weft (no Python twin: CPython's waits go to the kernel at once).
 *
 * Spinning pays on an idle machine, where the peer runs on the other core and
 * answers within microseconds: a futex sleep and wake-up cost tens of them, and
 * an async wait (a helper thread and an event-loop turn) 50–200 µs. On a busy
 * machine spinning is the worst choice: the spinner burns its share of the core
 * while the peer it waits for may be waiting for that very core, and the
 * kernel's scheduler favours a task that slept over one that ran. So a wait
 * spins only while spinning pays, judged from what it observes:
 *
 * - every waited-on word keeps a {@link SpinEstimate}: how often its recent
 *   spins were answered, how long those answers took, how long its waits took
 *   to be answered in the end. A wait spins a little longer than recent answers
 *   took, and not at all when recent spins were not answered;
 * - between batches of looks a spin yields the CPU (sched_yield), which is
 *   nearly free when nothing else wants the core and, when a peer of this
 *   wait does (a manager's server and two clients on two cores), lets the one
 *   being waited for run at once. A yield that comes back late (a CPU-bound
 *   process took the core for a time slice), or a gap between two looks much
 *   longer than a look takes (the spinner was descheduled), means spinning
 *   here only feeds another runnable thread: the spin stops at once and
 *   counts as four misses, and for a while no spin of this thread yields.
 * - an async wait whose answers usually come within {@link NAP_MAX_MS} naps
 *   first: blocking futex sleeps, each no longer than the time its site may
 *   hold the thread (`capMs`), with a turn of the event loop between two,
 *   instead of sleeping on a helper thread at once. A nap holds the event loop
 *   no longer than the spin it replaces, costs no CPU, and wakes in one hop;
 * - a wait whose answers take longer sleeps off the thread at once, and an
 *   idle waiter spends no CPU.
 *
 * Each constant below says what it bounds; the estimates adapt within them.
 * @module
 */

import { native } from '../native.js';

/**
 * A gap between two looks this long means the spinner was descheduled, in ms.
 * A batch of looks takes well under a microsecond and the scheduler's tick is
 * 1–4 ms, so any value between is a clear sign; 0.05 ms is 50 µs.
 */
const PREEMPTED_MS = 0.05;

/**
 * Looks at the condition between two readings of the clock and two yields,
 * unless a site says: a queue or pipe has two ends and no third to make room
 * for, while a manager's server and two busy clients are three processes on
 * two cores and yield after every look (manager_wire.ts).
 */
export const LOOKS = 32;

/**
 * How long a yield stays "recent" once one came back late, in ms: for that
 * long no spin of this thread yields, since the next yield would most likely
 * hand the core to the same CPU-bound process (a whole time slice, 1–4 ms).
 */
const LATE_YIELD_HOLD_MS = 20;

/** When the last late yield was seen (performance.now()), per thread. */
let lateYieldAt = -Infinity;

/** Weight of the newest observation in each moving average (1/8: it follows a change within ~10 waits). */
const ALPHA = 1 / 8;

/**
 * A spin runs this much longer than recent answers took, and at least
 * {@link SLACK_MS} more. Generous on purpose: the time an answer takes is
 * heavy-tailed (the peer's own work, its cache misses, an interrupt), a spin
 * that stops just short of the answer pays a nap or an async sleep on top,
 * and on an idle core the spin's CPU costs nothing else; where the core is
 * wanted, the late-yield and descheduling checks stop spins instead.
 */
const SLACK_FACTOR = 8;
const SLACK_MS = 0.02;

/**
 * Spins are made while the share of recent ones answered stays above this.
 * Low on purpose: a spin that runs out of time costs only its own CPU, which
 * on an idle core nothing else wanted; the checks that the core is wanted
 * (late yields, descheduled spins) weigh four times as much as a miss.
 */
const PAYING = 0.25;

/**
 * Every this many waits, a wait whose spins stopped paying spins once more up
 * to its cap, so that a site learns when its peer has become fast again; its
 * cost is at most one cap per {@link PROBE_EVERY} waits.
 */
const PROBE_EVERY = 8;

/**
 * The longest a wait naps in all before it sleeps on a helper thread, in ms.
 * A nap is a blocking futex sleep: the waker's FUTEX_WAKE reaches the waiting
 * thread itself, one wake-up, where an async sleep takes two (the helper
 * thread, then the event loop's). On a busy machine each wake-up waits for a
 * core, so naps are what keep an answer that comes in 0.1–1 ms from costing
 * twice that. Each nap lasts at most its site's cap and the event loop turns
 * between two, so timers and I/O wait no longer than they would for a spin.
 * 2 ms: past that, a wait that napped spends more in event-loop turns
 * (~10 µs each) than the second wake-up costs.
 */
const NAP_MAX_MS = 2;

/**
 * Spins while `done()` is false, for at most `ms`; true as soon as it is
 * true. Stops early, false, when the spinner was descheduled (a gap of
 * {@link PREEMPTED_MS} between two looks); `estimate`, when given, records the
 * outcome.
 */
export function spinUntil(done: () => boolean, ms: number, estimate?: SpinEstimate, looks = LOOKS): boolean {
  if (!(ms > 0)) return false;
  const start = performance.now();
  const end = start + ms;
  const yields = start - lateYieldAt > LATE_YIELD_HOLD_MS;
  let last = start;
  for (;;) {
    for (let i = 0; i < looks; i++) {
      if (done()) {
        estimate?.spun(performance.now() - start);
        return true;
      }
    }
    if (yields) native.schedYield();
    const now = performance.now();
    if (now - last > PREEMPTED_MS) {
      if (yields) lateYieldAt = now;
      estimate?.preempted();
      return false;
    }
    if (now >= end) {
      estimate?.missed();
      return false;
    }
    last = now;
  }
}

/**
 * What one waited-on word has seen of its waits, and how long its next wait
 * should spin and nap. Kept per process (each process learns from its own
 * waits), one per word; a loop that spins on many words at once keeps one
 * of its own.
 */
export class SpinEstimate {
  /** Share of recent spins that were answered. Starts at 1: spinning pays until seen otherwise. */
  #hitRate = 1;
  /** Typical time an answered spin took, in ms; -1 before the first (the first spin runs to its cap). */
  #hitMs = -1;
  /** Typical time from the start of a wait to its answer, however it came, in ms. */
  #answerMs = 0;
  #waits = 0;

  /** How long the next wait spins, in ms, for a site that may hold its thread `capMs`. */
  spinMs(capMs: number): number {
    if (this.#hitRate >= PAYING) return this.#hitMs < 0 ? capMs : Math.min(capMs, SLACK_FACTOR * this.#hitMs + SLACK_MS);
    return ++this.#waits % PROBE_EVERY === 0 ? capMs : 0;
  }

  /**
   * How long the next wait naps in all, in ms, after its spin:
   * {@link NAP_MAX_MS} while its answers usually come within that, else 0 (a
   * long wait goes straight to the async sleep, costing no CPU). Not "a little
   * longer than usual" as for spins: an answer that comes late on a busy
   * machine is exactly the one that two wake-ups, each waiting for a core,
   * would make later still.
   */
  napMs(): number {
    return this.#answerMs <= NAP_MAX_MS ? NAP_MAX_MS : 0;
  }

  /** A spin was answered after `ms`. */
  spun(ms: number): void {
    this.#hitRate += ALPHA * (1 - this.#hitRate);
    this.#hitMs = this.#hitMs < 0 ? ms : this.#hitMs + ALPHA * (ms - this.#hitMs);
  }

  /** A spin ran out of time. */
  missed(): void {
    this.#hitRate -= (ALPHA / 2) * this.#hitRate;
  }

  /** A spin was descheduled or its yield came back late: another thread wants this core, and spinning there only delays it. */
  preempted(): void {
    this.#hitRate -= 2 * ALPHA * this.#hitRate;
  }

  /**
   * A wait was answered `ms` after it began. Counted as at most twice
   * {@link NAP_MAX_MS}: beyond that the answer is "not soon" whatever its
   * time, and one long idle wait should not keep the next burst of quick ones
   * from napping for long.
   */
  answered(ms: number): void {
    this.#answerMs += ALPHA * (Math.min(ms, 2 * NAP_MAX_MS) - this.#answerMs);
  }
}
