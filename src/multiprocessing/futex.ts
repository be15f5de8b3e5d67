/**
 * Waiting on a word of shared memory (no Python twin: CPython's semaphores hide
 * this in `_multiprocessing/semaphore.c`). Every lock, queue and event of weft
 * waits here, so one set of rules holds everywhere:
 *
 * - an async wait first lets the microtasks already queued run (one may be
 *   the very write that answers it), then may spin briefly (holders keep locks
 *   for nanoseconds, and the peer at the other end of a pipe on another core
 *   answers within microseconds, faster than any sleep and wake-up);
 * - how long it spins, if at all, it learns from what it observes
 *   ({@link SpinEstimate}): on an idle machine spins pay, on a machine whose
 *   cores are taken they hand the core to whoever else wants it, and the wait
 *   sleeps at once; a thread allowed on one CPU only never spins;
 * - a wait whose answer is due at once (a Manager call) and that no spin
 *   brought may nap ({@link Word.nap}): a blocking sleep in the kernel that
 *   the peer ends directly, for at most {@link NAP_MS};
 * - then it sleeps on the word with FUTEX_WAIT (shared, not private, so
 *   processes meet on it) — synchronously in `…Sync` calls; in async calls
 *   so that Node's event loop runs on: an io_uring futex wait that wakes the
 *   event loop's own thread where the kernel has one (Linux 6.7+), else a
 *   helper thread (native/futex.cc);
 * - sleeps are cut into slices so the caller can re-check conditions no
 *   futex can signal: a lock owner that died, a pipe peer that closed.
 * @module
 */
import { availableParallelism } from 'node:os';
import { debugLog } from '../debug.js';
import { native } from '../native.js';

/** How long one sleep lasts before the caller re-checks the world, in seconds. */
export const SLICE = 0.1;

/**
 * The longest a queue or pipe wait spins before it sleeps, in ms; how long it
 * actually spins is learnt ({@link SpinEstimate}). The other side of a busy
 * queue or pipe usually answers within that time, and longer spins block the
 * event loop for nothing (20,000 loads were measured at ~170 µs). Locks spin
 * less (synchronize.ts).
 */
export const SPIN_MS = 0.03;

/**
 * A gap this long between two looks of a spin, in ms, means this thread lost
 * its core meanwhile: another runnable thread took it, for a time slice
 * (0.75–4 ms) if it is CPU-bound. A batch of looks takes well under a
 * microsecond, and an interrupt tens of microseconds, so 0.1 ms tells them
 * apart.
 */
const PREEMPTED_MS = 0.1;

/**
 * For how long, in ms, a thread that saw its core taken sleeps at once
 * instead of spinning: at first {@link HOLD_MIN_MS}; doubled, up to
 * {@link HOLD_MAX_MS}, each time the spin that probes again afterwards finds
 * the core still taken, back to the minimum once a probe comes back on time.
 * While other threads want this core, a spin only delays them, and the peer
 * this wait expects may be one of them.
 */
const HOLD_MIN_MS = 20;
const HOLD_MAX_MS = 1000;

/** This thread's view of its core (module state is per thread: each worker has its own). */
const core = { takenUntil: -Infinity, hold: HOLD_MIN_MS };

/**
 * How often, in ms, a thread re-reads the CPUs it may run on (its affinity,
 * which `taskset -p` or a container runtime can change while it runs).
 */
const AFFINITY_CHECK_MS = 1000;

/**
 * The CPUs this thread may run on, as last read, and when: first read at the
 * first wait, not at import (the first `performance.now()` loads Node's
 * perf_hooks, ~1.4 ms of a child's boot that a child which never waits skips).
 */
const cpus = { count: 0, readAt: -Infinity };

/**
 * True when this thread may run on one CPU only (`taskset -c 0`, a container
 * pinned to a core). Its peer then runs on that CPU too, or on none that this
 * thread could ever watch it from: a spin holds the CPU the answer needs until
 * the scheduler takes it away, and never pays. Measured pinned to one core,
 * awaited Manager sets: 14–16k/s without spins against 11k/s with them, a
 * sixth of the core spent spinning.
 */
function pinnedToOneCpu(now: number): boolean {
  if (now - cpus.readAt > AFFINITY_CHECK_MS) {
    cpus.count = availableParallelism();
    cpus.readAt = now;
  }
  return cpus.count === 1;
}

/**
 * The longest a {@link Word.nap} lasts, in ms. It is a time-out for the
 * naps that miss, not a budget, and it is kept no shorter than the
 * scheduler's tick (4 ms at HZ=250, 10 ms at HZ=100). Measured pinned to one
 * core (HZ=250, awaited Manager sets, medians of interleaved runs): naps of
 * at most 1 ms 17.2k/s, the same as no naps (18.0k/s); 3 ms 22.0k/s; 5 ms
 * 28.3k/s; 10 ms 25.4–29.2k/s, although nearly every nap was answered within
 * 0.2 ms in all of them. The reading these figures fit: a time-out shorter
 * than the tick is the CPU's earliest timer, so arming it and cancelling it
 * reprogram the CPU's timer device, in a virtual machine an exit to the
 * hypervisor each time.
 */
export const NAP_MS = 10;

/**
 * A nap pays when its answer comes within this many ms: a call the server
 * takes milliseconds over (a big dict's copy) would hold the event loop that
 * long on every call, and its naps stop as unanswered ones do; its wait
 * sleeps off the loop instead. Awaited Manager sets on a core shared by three
 * processes were answered in a nap within 0.03–0.06 ms (median), 0.1–0.2 ms
 * (90th percentile).
 */
const NAP_DUE_MS = 1;

/**
 * A nap that does not pay (answered after {@link NAP_DUE_MS}, or not at all)
 * counts as this many misses of a spin: it held the event loop for
 * milliseconds. Two in a row stop the naps of that kind of call (the share
 * answered falls from 1 to 0.12, under {@link PAYING}), and so does a call
 * that is answered at once only every other time (a queue's `get` that
 * finds the queue empty half the time settles near 0.18), where a weight of
 * 4 would keep it napping, and holding its event loop, at ~0.26.
 */
const NAP_MISS_WEIGHT = 8;

/** Weight of the newest observation in each moving average: 1/8 follows a change within ~10 waits. */
const ALPHA = 1 / 8;

/**
 * A spin lasts this many times as long as recent answered spins took, and at
 * least {@link SLACK_MS} (within its site's cap): how long an answer takes is
 * heavy-tailed (the peer's own work, a cache miss, an interrupt), and a spin
 * that stops just short of the answer pays for a sleep and a wake-up on top,
 * tens of microseconds. What the estimate saves is the spin of a wait whose
 * peer is slow by nature (a task that computes, a queue that stays empty).
 */
const SLACK_FACTOR = 8;
const SLACK_MS = 0.02;

/**
 * A wait spins while the share of its recent spins that were answered stays
 * above this; below, it sleeps at once, except for a probe now and then: one
 * wait that spins up to its cap, so that the wait learns when its peer has
 * become fast again.
 */
const PAYING = 0.25;

/**
 * A wait that has stopped spinning probes every {@link PROBE_MIN_WAITS}th
 * wait at first; each probe that goes unanswered doubles the gap, up to
 * {@link PROBE_MAX_WAITS}, and any answered spin brings it back. A probe
 * costs its whole cap (0.03 ms for a pipe, 0.3 ms for the Manager server's
 * loop), and where other programs hold the cores they keep going unanswered:
 * beside a CPU hog per core in another scheduling group, probes every 8th wait
 * took 36% of the Manager server's CPU and 12–25% of its clients' and of a
 * pipe's two ends, and under one probe in a hundred was answered at the
 * Manager, one in six at a pipe. At 512 a probe costs under
 * 1 µs per wait, and a machine that frees up is seen within 512 waits (tens
 * of ms at the rates where spinning matters).
 */
const PROBE_MIN_WAITS = 8;
const PROBE_MAX_WAITS = 512;

/**
 * What the waits on one word have seen of their spins, and so how long the
 * next should spin: kept per word and per thread, since each side of a pipe
 * and each lock has its own peer. A loop that spins on many words at once
 * ({@link spinAny}) keeps one for all of them.
 */
export class SpinEstimate {
  /** Share of recent spins that were answered. Starts at 1: spinning pays until seen otherwise. */
  #hitRate = 1;
  /** How long recent answered spins took, in ms; -1 before the first (the first spin runs to its cap). */
  #hitMs = -1;
  /** Waits that did not spin since the last probe, and how many make the next one probe. */
  #sinceProbe = 0;
  #probeEvery = PROBE_MIN_WAITS;
  #probing = false;

  /** The spin under way (the last budget given) is a probe. */
  get probing(): boolean {
    return this.#probing;
  }

  /** How long the next spin may last, at most `cap` ms; 0 when it should not spin. */
  budget(cap: number, now: number): number {
    this.#probing = false;
    if (!(cap > 0)) return 0;
    if (coreShared(now) || !this.pays()) return 0;
    if (this.#probing || this.#hitMs < 0) return cap;
    return Math.min(cap, Math.max(SLACK_MS, this.#hitMs * SLACK_FACTOR));
  }

  /**
   * Whether the next wait should try (spin, or nap): yes while the share of
   * recent tries that were answered stays at {@link PAYING} or above, and for
   * a probe now and then below it.
   */
  pays(): boolean {
    this.#probing = false;
    if (this.#hitRate >= PAYING) return true;
    if (++this.#sinceProbe < this.#probeEvery) return false;
    this.#sinceProbe = 0;
    this.#probing = true;
    return true;
  }

  /** A try was answered after `ms`. */
  hit(ms: number): void {
    this.#hitRate += ALPHA * (1 - this.#hitRate);
    this.#hitMs = this.#hitMs < 0 ? ms : this.#hitMs + ALPHA * (ms - this.#hitMs);
    this.#probeEvery = PROBE_MIN_WAITS;
  }

  /** A try ran out of time; `weight`: how many ordinary misses it counts as. */
  miss(weight = 1): void {
    this.#hitRate *= (1 - ALPHA) ** weight;
    if (this.#probing) this.#probeEvery = Math.min(PROBE_MAX_WAITS, this.#probeEvery * 2);
  }
}

/**
 * True while this thread shares its core: it may run on one CPU only, or a
 * spin of its own lost the core lately ({@link HOLD_MIN_MS}). Whoever it
 * waits for then needs that very core, so a wait spins not at all.
 */
function coreShared(now: number): boolean {
  return now < core.takenUntil || pinnedToOneCpu(now);
}

/**
 * Looks at `changed()` for at most `ms`, and only as long as `estimate` says
 * spinning pays; true as soon as it holds. A spin that loses its core stops,
 * and this thread then sleeps at once for a while (see {@link HOLD_MIN_MS}).
 *
 * It never yields the core (sched_yield): a yield is free on an idle core, but
 * where a CPU-bound process waits for the core it hands it a whole time
 * slice, and the answer waited for comes a slice later. Measured under a CPU
 * hog per core, interleaved runs: pipe round trips 11.2–11.6k/s without
 * yields against 5.3–5.4k/s with them, awaited Manager sets 15.4–21.9k/s
 * against 6.0–7.1k/s; on the idle machine no slower.
 */
export function spinUntil(changed: () => boolean, ms: number, estimate: SpinEstimate): boolean {
  const start = performance.now();
  const budget = estimate.budget(ms, start);
  if (tally !== null) tally.asked++;
  if (budget === 0) return false;
  // The first spin after a hold tells whether this thread has its core back.
  const coreProbe = start >= core.takenUntil && core.takenUntil > -Infinity;
  const end = start + budget;
  let last = start;
  for (;;) {
    if (changed()) {
      const now = performance.now();
      estimate.hit(now - start);
      if (coreProbe) settle();
      if (tally !== null) count(tally, estimate, ANSWERED, now - start);
      return true;
    }
    const now = performance.now();
    if (now - last > PREEMPTED_MS) {
      core.hold = coreProbe ? Math.min(HOLD_MAX_MS, core.hold * 2) : HOLD_MIN_MS;
      core.takenUntil = now + core.hold;
      if (tally !== null) count(tally, estimate, LOST_CORE, now - start);
      return false;
    }
    if (now >= end) {
      estimate.miss();
      if (coreProbe) settle();
      if (tally !== null) count(tally, estimate, UNANSWERED, now - start);
      return false;
    }
    last = now;
  }
}

/**
 * What this thread's spins came to, counted only under `WEFT_DEBUG=spin` and
 * logged when the thread exits: whether weft spins for nothing on a machine
 * whose cores are taken (docs/PERFORMANCE.md, "Busy machines").
 */
interface Tally {
  /** Waits that asked whether to spin, and those that did. */
  asked: number;
  spun: number;
  answered: number;
  lostCore: number;
  probes: number;
  probesAnswered: number;
  /** Time spent spinning, in ms, and the part of it that ended in an answer. */
  spinMs: number;
  answeredMs: number;
  /** Naps taken, those answered, and the time spent in them, in ms. */
  naps: number;
  napsAnswered: number;
  napMs: number;
}
const ANSWERED = 0;
const UNANSWERED = 1;
const LOST_CORE = 2;

const spinLog = debugLog('spin');
const tally: Tally | null = spinLog === null ? null : startTally(spinLog);

function startTally(log: (message: string, ...args: unknown[]) => void): Tally {
  const t: Tally = { asked: 0, spun: 0, answered: 0, lostCore: 0, probes: 0, probesAnswered: 0, spinMs: 0, answeredMs: 0, naps: 0, napsAnswered: 0, napMs: 0 };
  const since = performance.now();
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    log(
      'over %s ms: %d waits asked to spin, %d spun (%d answered, %d lost the core), %d of them probes (%d answered); %s ms spinning, %s ms of it answered; %d naps (%d answered), %s ms napping; the process\'s CPU %s ms',
      (performance.now() - since).toFixed(0), t.asked, t.spun, t.answered, t.lostCore, t.probes, t.probesAnswered,
      t.spinMs.toFixed(1), t.answeredMs.toFixed(1), t.naps, t.napsAnswered, t.napMs.toFixed(1), ((cpu.user + cpu.system) / 1000).toFixed(0),
    );
  });
  return t;
}

function count(t: Tally, estimate: SpinEstimate, outcome: number, ms: number): void {
  t.spun++;
  t.spinMs += ms;
  if (outcome === ANSWERED) {
    t.answered++;
    t.answeredMs += ms;
  } else if (outcome === LOST_CORE) t.lostCore++;
  if (estimate.probing) {
    t.probes++;
    if (outcome === ANSWERED) t.probesAnswered++;
  }
}

function countNap(t: Tally, estimate: SpinEstimate, answered: boolean, ms: number): void {
  t.naps++;
  t.napMs += ms;
  if (answered) t.napsAnswered++;
  if (estimate.probing) {
    t.probes++;
    if (answered) t.probesAnswered++;
  }
}

/** A probe came back on time: the core is this thread's again. */
function settle(): void {
  core.takenUntil = -Infinity;
  core.hold = HOLD_MIN_MS;
}

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
  /** How long this thread's waits on the word spin. */
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
   * Spins until the word differs from `seen`, for at most `ms` and only as
   * long as spinning pays here ({@link SpinEstimate}); true if it did.
   * @param looks how many looks at the word between two readings of the clock.
   */
  spin(seen: number, ms = SPIN_MS, looks = 256): boolean {
    const { i32, index } = this;
    return spinUntil(
      () => {
        for (let i = 0; i < looks; i++) if (Atomics.load(i32, index) !== seen) return true;
        return false;
      },
      ms,
      this.estimate,
    );
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

  /**
   * Waits for the word to leave `seen` by sleeping in the kernel, blocking
   * this thread, for at most {@link NAP_MS}: true if it did. Only for a wait
   * whose answer is due at once (a Manager call the server answers without
   * waiting) that a spin did not bring, and only while `estimate` says its
   * naps pay: they are answered within {@link NAP_DUE_MS} (a nap answered
   * later, or not at all, weighs {@link NAP_MISS_WEIGHT} spins' misses; once
   * naps stop, a probe now and then).
   *
   * Why a nap: where no spin brings the answer, the peer is waiting for a
   * core (this one, on a shared core, which a spin would only hold), and an
   * async sleep then costs a wake-up through the event loop on both sides,
   * the most expensive part of a call when the cores are taken. A nap hands
   * the core over at once and is woken by the peer directly, as Python's
   * blocking `recv` is. Measured pinned to one core, two processes making
   * awaited Manager sets: 18.0k/s (median of 10 interleaved runs) with async
   * sleeps, 25.4k/s with naps (docs/PERFORMANCE.md, "Naps for answers due
   * at once"). The event loop waits meanwhile, for as long as the answer
   * takes (tens of microseconds there; a nap that misses, NAP_MS).
   */
  nap(seen: number, estimate: SpinEstimate): boolean {
    const start = performance.now();
    if (!estimate.pays()) return false;
    Atomics.add(this.i32, this.waitersIndex, 1);
    try {
      if (Atomics.load(this.i32, this.index) === seen) native.futexWait(this.i32, this.index, seen, NAP_MS / 1000);
    } finally {
      Atomics.sub(this.i32, this.waitersIndex, 1);
    }
    const changed = this.load() !== seen;
    const ms = performance.now() - start;
    // An answer that took its time held the event loop as long: a miss all the same.
    if (changed && ms <= NAP_DUE_MS) estimate.hit(ms);
    else estimate.miss(NAP_MISS_WEIGHT);
    if (tally !== null) countNap(tally, estimate, changed, ms);
    return changed;
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
 * from what was `seen`, false after `ms` at most, reading the clock after
 * every `looks` rounds. One loop that reads many connections spins on all of them,
 * so that a request on one is not held back while a wait spins on another;
 * it keeps one `estimate` for all of them.
 */
export function spinAny(words: Word[], seen: number[], ms: number, looks: number, estimate: SpinEstimate): boolean {
  return spinUntil(
    () => {
      for (let k = 0; k < looks; k++) {
        for (let i = 0; i < words.length; i++) if (words[i]!.load() !== seen[i]) return true;
      }
      return false;
    },
    ms,
    estimate,
  );
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
