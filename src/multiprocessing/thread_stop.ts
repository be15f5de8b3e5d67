/**
 * Stopping a worker thread safely (no Python twin: CPython stops a child
 * process with a signal, and the kernel cannot leave it half-stopped).
 *
 * Why: `worker.terminate()` is V8's TerminateExecution, and V8 can abort the
 * whole process (`Check failed: (location_) != nullptr` in
 * `SourceTextModule::ExecuteAsyncModule`) when a termination lands while an
 * ES module with top-level await is being evaluated. weft's task modules
 * usually are such modules (`if (isMainModule(import.meta)) { ... await
 * p.join() }` is top-level await, taken or not). Node fixed one path in 2022
 * (https://github.com/nodejs/node/issues/43182, V8 22698d267667); the same
 * check still fails from `AsyncModuleExecutionFulfilled`, reported on Node
 * 22.2 and 25.6 and open (https://github.com/nodejs/node/issues/53238,
 * https://github.com/nodejs/node/issues/62114). A thread's own worker threads
 * are terminated with it (Node stops them as it tears the thread down), so a
 * worker is terminated only when neither it nor any thread below it is
 * importing a task's module.
 *
 * How: every worker thread has one shared word counting the imports of task
 * modules under way in it and in every thread below it; a thread that imports
 * one adds one to its own word and to each ancestor's. A stop claims the word
 * when the count is 0 (no import starts below a claimed word: each checks for
 * a claim as it counts itself in), or marks it wanted (no new import starts
 * either) and waits for the count to fall to 0; past a grace period it
 * terminates anyway (a module whose evaluation never ends). What is not
 * waited for: a thread's boot (Node's bootstrap and weft's entry, which has no
 * top-level await, and V8 stops those cleanly) and the task itself, so a task
 * in a busy loop is stopped at once.
 * @module
 */

/** The thread is being terminated: no evaluation starts in it or below it. */
const STOPPING = 1 << 30;
/** A stop waits for the evaluations under way to finish. */
const WANTED = 1 << 29;
const COUNT = WANTED - 1;

/** Seconds a stop waits for a module evaluation to finish before terminating anyway. */
export const STOP_GRACE_SECONDS = 2;

/** This thread's word, then its ancestors' up to the first worker thread; empty in a main thread. */
let chain: Int32Array[] = [];

/** Called once in a worker thread, with the words its starter made for it. */
export function adoptChain(buffers: SharedArrayBuffer[]): void {
  chain = buffers.map((b) => new Int32Array(b));
}

/** The words of a new child of this thread: its own, then this thread's chain. */
export function childChain(): { word: Int32Array; buffers: SharedArrayBuffer[] } {
  const buffer = new SharedArrayBuffer(4);
  return { word: new Int32Array(buffer), buffers: [buffer, ...chain.map((w) => w.buffer as SharedArrayBuffer)] };
}

/**
 * Counts one evaluation in `words` (a thread's chain, its own word first);
 * false, counting nothing, when a stop of one of them is under way. Counted
 * from the top down and taken off from the bottom up, so that a thread
 * terminated half-way has always counted in a run of words from the top:
 * what its word still counts when it ended was counted above it too
 * ({@link childEnded}).
 */
function enter(words: Int32Array[]): boolean {
  for (let i = words.length - 1; i >= 0; i--) {
    if (Atomics.add(words[i]!, 0, 1) & (STOPPING | WANTED)) {
      leave(words.slice(i));
      return false;
    }
  }
  return true;
}

function leave(words: Int32Array[], n = 1): void {
  for (const word of words) {
    Atomics.sub(word, 0, n);
    Atomics.notify(word, 0);
  }
}

/**
 * Runs `evaluate` (an import) counted as an evaluation; where a stop of this
 * thread is under way, never runs it and never settles (termination follows).
 */
export async function evaluating<T>(evaluate: () => Promise<T>): Promise<T> {
  const words = chain;
  if (!enter(words)) return new Promise<T>(() => {});
  try {
    return await evaluate();
  } finally {
    leave(words);
  }
}

/** Claims `word` for a stop when nothing below it evaluates; true once claimed. */
function claim(word: Int32Array): boolean {
  for (;;) {
    const v = Atomics.load(word, 0);
    if (v & STOPPING) return true;
    if (v & COUNT) return false;
    if (Atomics.compareExchange(word, 0, v, v | STOPPING) === v) return true;
  }
}

/**
 * Calls `terminate` once nothing evaluates in the thread of `word` or below
 * it, or after {@link STOP_GRACE_SECONDS} regardless.
 */
export function stopWhenSafe(word: Int32Array, terminate: () => void): void {
  if (claim(word)) return terminate();
  Atomics.or(word, 0, WANTED);
  const deadline = performance.now() + STOP_GRACE_SECONDS * 1000;
  const poll = () => {
    if (claim(word)) return terminate();
    if (performance.now() >= deadline) {
      Atomics.or(word, 0, STOPPING);
      return terminate();
    }
    // Polled: an import takes milliseconds, and a timer is simpler to bound
    // and to let go of than a pending Atomics.waitAsync.
    setTimeout(poll, 2).unref();
  };
  poll();
}

/**
 * Waits, blocking, until nothing evaluates below any of `words` (or the grace
 * period passed) and claims them: a thread about to exit, whose worker threads
 * Node terminates on its way out.
 */
export function settleBeforeExit(words: Int32Array[]): void {
  const deadline = performance.now() + STOP_GRACE_SECONDS * 1000;
  for (const word of words) {
    Atomics.or(word, 0, WANTED);
    while (!claim(word)) {
      const left = deadline - performance.now();
      if (left <= 0) {
        Atomics.or(word, 0, STOPPING);
        break;
      }
      Atomics.wait(word, 0, Atomics.load(word, 0), left);
    }
  }
}

/**
 * A child of this thread ended: what it still counted (evaluations cut short
 * by the grace period) is taken off this thread's chain, which counted it too.
 */
export function childEnded(word: Int32Array): void {
  const left = Atomics.load(word, 0) & COUNT;
  if (left === 0) return;
  Atomics.sub(word, 0, left);
  leave(chain, left);
}
