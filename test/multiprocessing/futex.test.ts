/**
 * futex.ts and native/futex.cc: the async wait that every lock, queue and pipe
 * of weft ends in, on both of its mechanisms (an io_uring futex wait where the
 * kernel has one, a helper thread elsewhere; WEFT_FUTEX_WAIT=thread forces
 * the second), and the spin policy before it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import { SpinEstimate, spinUntil } from '../../src/internals.js';
import { runNode, runProgram } from '../helpers/run.js';

const internals = new URL('../../src/internals.js', import.meta.url).href;

/** Whether this kernel should give io_uring futex waits: 6.7 or later, io_uring not disabled. */
function kernelHasRingFutex(): boolean {
  const [major, minor] = readFileSync('/proc/sys/kernel/osrelease', 'utf8').split('.').map(Number) as [number, number];
  let disabled = 0;
  try {
    disabled = Number(readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8'));
  } catch {
    // kernels before 6.6 have no such switch
  }
  return (major > 6 || (major === 6 && minor >= 7)) && disabled === 0;
}

/**
 * Exercises futexWaitAsync in a fresh process and prints what it saw: a word
 * that already differs, a time-out, a wake from a worker thread, 300 waits
 * in flight at once (more than the ring's queue holds), all woken, time-outs
 * that each end at their own time whatever was armed before them (the ring's
 * waits share one timer per thread), and 200 time-outs at once (more cancels
 * than the ring takes in one batch).
 */
const SCRIPT = `
const { native } = await import(${JSON.stringify(internals)});
const { Worker } = await import('node:worker_threads');
const EAGAIN = 11, ETIMEDOUT = 110;
const sab = new SharedArrayBuffer(4096);
const i32 = new Int32Array(sab);
const wait = (index, expected, seconds) => new Promise((resolve) => native.futexWaitAsync(i32, index, expected, seconds, resolve));
const out = { mechanism: native.futexWaitMechanism() };
i32[0] = 5;
out.differs = (await wait(0, 4, 1)) === -EAGAIN;
let t = performance.now();
out.timedOut = (await wait(0, 5, 0.05)) === -ETIMEDOUT;
out.timeoutMs = performance.now() - t;
// woken from another thread (its own event loop and, where used, its own ring)
const worker = new Worker(
  "const { workerData: { sab, internals } } = require('node:worker_threads');" +
  "import(internals).then(({ native }) => { const v = new Int32Array(sab);" +
  "  const go = () => { if (Atomics.load(v, 2) === 0) return setTimeout(go, 1); Atomics.store(v, 1, 1); native.futexWake(v, 1, 1); };" +
  "  go(); });",
  { eval: true, execArgv: [], workerData: { sab, internals: ${JSON.stringify(internals)} } },
);
const woken = wait(1, 0, 10);
Atomics.store(i32, 2, 1);
out.wokenByWorker = (await woken) === 0 && Atomics.load(i32, 1) === 1;
await worker.terminate();
// many at once: words 100..399, each woken by a store and a wake
const many = [];
for (let k = 0; k < 300; k++) many.push(wait(100 + k, 0, 10));
await new Promise((r) => setTimeout(r, 20));
t = performance.now();
for (let k = 0; k < 300; k++) { Atomics.store(i32, 100 + k, 1); native.futexWake(i32, 100 + k, 1); }
const results = await Promise.all(many);
out.manyWoken = results.every((r) => r === 0 || r === -EAGAIN);
out.manyMs = performance.now() - t;
// each time-out at its own time, though a 10 s wait was armed first
const long = wait(4, 0, 10);
t = performance.now();
// Node's own timers beside them tell whether this event loop was on time meanwhile: on a loaded machine a
// loop held up past 90 ms runs every expired time-out in the same turn.
const refs = Promise.all([90, 30, 60].map((ms) => new Promise((r) => setTimeout(() => r(performance.now() - t), ms))));
const ends = await Promise.all([0.09, 0.03, 0.06].map(async (s, k) => {
  const r = await wait(5 + k, 0, s);
  return r === -ETIMEDOUT ? performance.now() - t : r;
}));
out.ownTimeoutsMs = ends;
out.timersMs = await refs;
// 200 time-outs at once
t = performance.now();
const lots = await Promise.all(Array.from({ length: 200 }, (_, k) => wait(500 + k, 0, 0.05)));
out.lotsTimedOut = lots.every((r) => r === -ETIMEDOUT);
out.lotsMs = performance.now() - t;
Atomics.store(i32, 4, 1);
native.futexWake(i32, 4, 1);
out.longWoken = (await long) === 0;
// a pending wait keeps the loop alive; once it ends nothing does (this exits)
const last = wait(3, 0, 0.2);
out.lastTimedOut = (await last) === -ETIMEDOUT;
console.log(JSON.stringify(out));
`;

describe('futexWaitAsync', () => {
  for (const mechanism of ['default', 'thread'] as const) {
    test(`${mechanism} mechanism: differs, times out, wakes across threads, 300 in flight`, async (t) => {
      const env = mechanism === 'thread' ? { WEFT_FUTEX_WAIT: 'thread' } : { WEFT_FUTEX_WAIT: undefined };
      const run = await runNode(['--input-type=module', '-e', SCRIPT], { env, timeout: 60 });
      assert.equal(run.code, 0, run.stderr);
      const out = JSON.parse(run.stdout.trim()) as Record<string, number | boolean | string>;
      const expected = mechanism === 'thread' || !kernelHasRingFutex() ? 'thread' : 'io_uring';
      assert.equal(out.mechanism, expected, 'the mechanism this kernel should give');
      assert.equal(out.differs, true, 'a word that already differs: -EAGAIN at once');
      assert.equal(out.timedOut, true, 'a 50 ms wait on an unchanged word: -ETIMEDOUT');
      assert.ok((out.timeoutMs as number) >= 45 && (out.timeoutMs as number) < 2000, `timed out after ${out.timeoutMs} ms`);
      assert.equal(out.wokenByWorker, true, 'a wake from a worker thread ends the wait with 0');
      assert.equal(out.manyWoken, true, 'each of 300 waits in flight is woken once');
      const [ms90, ms30, ms60] = out.ownTimeoutsMs as unknown as number[];
      assert.ok(ms30! >= 28 && ms60! >= 58 && ms90! >= 88, `time-outs of 30, 60, 90 ms ended after ${ms30}, ${ms60}, ${ms90} ms`);
      assert.ok(ms30! < 2000 && ms60! < 2000 && ms90! < 2000, `each at its own time, not the 10 s wait's: ${ms30}, ${ms60}, ${ms90} ms`);
      // In order, each before the next was due, where the loop kept time (Node's timers beside them
      // within 15 ms of theirs); a loop held up past a deadline ends every expired wait in one turn.
      const [t90, t30, t60] = out.timersMs as unknown as number[];
      if (t30! < 45 && t60! < 75 && t90! < 105) {
        assert.ok(ms30! < 60 && ms60! < 90 && ms30! < ms60! && ms60! < ms90!, `each at its own time: ${ms30}, ${ms60}, ${ms90} ms (Node's timers: ${t30}, ${t60}, ${t90} ms)`);
      } else {
        t.diagnostic(`this loop ran late (Node's 30, 60, 90 ms timers fired at ${t30}, ${t60}, ${t90} ms): the order of the time-outs is not checked`);
      }
      assert.equal(out.lotsTimedOut, true, '200 waits of 50 ms at once all time out');
      assert.ok((out.lotsMs as number) >= 45 && (out.lotsMs as number) < 2000, `200 time-outs took ${out.lotsMs} ms`);
      assert.equal(out.longWoken, true, 'the 10 s wait, still pending through all that, is woken');
      assert.equal(out.lastTimedOut, true);
    });
  }

  test('a worker thread stopped while its waits sleep leaves nothing behind', async () => {
    const script = `
      const { Worker } = await import('node:worker_threads');
      const sab = new SharedArrayBuffer(64);
      for (let round = 0; round < 20; round++) {
        const w = new Worker(
          "const { workerData: { sab, internals } } = require('node:worker_threads');" +
          "import(internals).then(({ native }) => { const v = new Int32Array(sab);" +
          "  for (let i = 0; i < 8; i++) native.futexWaitAsync(v, i, 0, 30, () => {});" +
          "  require('node:worker_threads').parentPort.postMessage('waiting'); });",
          { eval: true, execArgv: [], workerData: { sab, internals: ${JSON.stringify(internals)} } },
        );
        await new Promise((resolve) => w.once('message', resolve));
        await w.terminate();
      }
      console.log('done');`;
    const run = await runNode(['--input-type=module', '-e', script], { timeout: 60 });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'done', 'twenty workers stopped mid-wait, and the process then exits by itself');
  });
});

describe('spin policy', () => {
  // A moment past any hold a busy machine may have put on this thread's spins.
  const later = () => performance.now() + 2000;

  test('a wait whose spins go unanswered stops spinning, except for a probe every 8th wait', () => {
    const estimate = new SpinEstimate();
    assert.equal(estimate.budget(0.03, later()), 0.03, 'before any spin, a wait spins up to its cap');
    for (let i = 0; i < 20; i++) estimate.miss();
    const budgets = Array.from({ length: 16 }, () => estimate.budget(0.03, later()));
    assert.equal(budgets.filter((b) => b > 0).length, 2, `budgets ${budgets.join(',')}`);
    assert.ok(budgets.every((b) => b === 0 || b === 0.03));
  });

  test('probes that go unanswered come ever further apart, up to every 512th wait; an answer brings them back', () => {
    // Where other programs hold the cores, probes every 8th wait cost the Manager server a third of its CPU.
    const estimate = new SpinEstimate();
    for (let i = 0; i < 20; i++) estimate.miss();
    /** Waits until the next probe, which then goes unanswered (or is answered, with `answer`). */
    const nextProbe = (answer = false): number => {
      for (let waits = 1; waits <= 10_000; waits++) {
        if (estimate.budget(0.03, later()) > 0) {
          if (answer) estimate.hit(0.005);
          else estimate.miss();
          return waits;
        }
      }
      return Infinity;
    };
    const gaps = Array.from({ length: 9 }, () => nextProbe());
    assert.deepEqual(gaps, [8, 16, 32, 64, 128, 256, 512, 512, 512]);
    assert.equal(nextProbe(true), 512);
    assert.equal(nextProbe(), 8, 'after an answered probe, the next comes 8 waits on');
    assert.equal(nextProbe(), 16);
  });

  test('a wait spins a few times as long as recent answers took, within its cap', () => {
    const estimate = new SpinEstimate();
    for (let i = 0; i < 30; i++) estimate.hit(0.005);
    const budget = estimate.budget(0.1, later());
    assert.ok(budget >= 0.03 && budget <= 0.05, `budget ${budget} ms for answers in 0.005 ms`);
    for (let i = 0; i < 30; i++) estimate.hit(0.0005);
    assert.equal(estimate.budget(0.1, later()), 0.02, 'at least 20 µs, however fast answers came');
    assert.equal(estimate.budget(0.001, later()), 0.001, 'never past the cap');
    assert.equal(estimate.budget(0, later()), 0, 'a cap of 0 means no spin');
  });

  test('a spin that loses its core stops, and the thread sleeps at once for a while after', () => {
    const spinner = new SpinEstimate();
    // A look that takes 0.3 ms looks to the spin like a core taken by another process.
    const slowLook = () => {
      const until = performance.now() + 0.3;
      while (performance.now() < until);
      return false;
    };
    assert.equal(spinUntil(slowLook, 5, spinner), false);
    const other = new SpinEstimate();
    let looks = 0;
    assert.equal(
      spinUntil(() => (looks++, false), 5, other),
      false,
    );
    assert.equal(looks, 0, 'while the core is taken, another wait of this thread does not spin at all');
    assert.equal(other.budget(5, later()), 5, 'once the hold is over, waits spin again');
  });

  test('a thread allowed on one CPU only never spins, and sees a change of its affinity within a second', async (t) => {
    if (availableParallelism() < 2) return t.skip('one CPU here: nothing to compare with');
    if (spawnSync('taskset', ['-c', '0', 'true']).status !== 0) return t.skip('taskset (util-linux) is missing');
    // A child, so that pinning it leaves this test runner's CPUs alone. It
    // spins freely, is pinned to CPU 0 while it runs, and after the re-read
    // interval spins no more; the same child pinned from its start never does.
    const script = `
      import { execFileSync } from 'node:child_process';
      import { SpinEstimate } from ${JSON.stringify(internals)};
      const before = new SpinEstimate().budget(0.03, performance.now());
      execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 1100));
      console.log(JSON.stringify({ before, after: new SpinEstimate().budget(0.03, performance.now()) }));`;
    const free = await runNode(['--input-type=module', '-e', script]);
    assert.equal(free.code, 0, free.stderr);
    assert.deepEqual(JSON.parse(free.stdout), { before: 0.03, after: 0 });
    const pinned = await runProgram('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', script]);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.deepEqual(JSON.parse(pinned.stdout), { before: 0, after: 0 });
  });
});

describe('naps', () => {
  /**
   * The start of a nap test's child script: a `word`; `timed(estimate, seen)`,
   * which naps on it and says whether the word changed and how long that
   * took; and a worker thread `peer` that, told to answer, bumps the word and
   * wakes it `delayMs` later (at once for 0). The eval'd worker is a module,
   * as its parent is started with --input-type=module.
   */
  const napPeer = (delayMs: number): string => {
    const answer = 'Atomics.add(i32, 0, 1); native.futexWake(i32, 0, 0);';
    return `
      import { Worker } from 'node:worker_threads';
      import { NAP_MS, SpinEstimate, Word, addonFile } from ${JSON.stringify(internals)};
      const sab = new SharedArrayBuffer(8);
      const word = new Word(new Int32Array(sab), 0, 1);
      const peer = new Worker(\`
        import { createRequire } from 'node:module';
        import { parentPort, workerData } from 'node:worker_threads';
        const native = createRequire(workerData.addonFile)(workerData.addonFile);
        const i32 = new Int32Array(workerData.sab);
        parentPort.on('message', () => ${delayMs > 0 ? `setTimeout(() => { ${answer} }, ${delayMs})` : `{ ${answer} }`});
        parentPort.postMessage('ready');\`, { eval: true, workerData: { sab, addonFile } });
      await new Promise((r) => peer.once('message', r));
      const timed = (estimate, seen = word.load()) => {
        const start = performance.now();
        const changed = word.nap(seen, estimate);
        return { changed, ms: performance.now() - start };
      };`;
  };

  test('a nap is ended by the peer that answers; one nobody answers ends after NAP_MS; two misses stop that record\'s naps', async (t) => {
    if (spawnSync('taskset', ['-c', '0', 'true']).status !== 0) return t.skip('taskset (util-linux) is missing');
    // A child pinned to one CPU, with a worker thread on the same CPU as the
    // peer: told to answer, it bumps the word and wakes it only once the nap
    // has handed it the core.
    const script = `${napPeer(0)}
      // The peer needs the CPU within NAP_MS, which a loaded machine may not give it: a few tries.
      let answered;
      let attempts = 0;
      for (let attempt = 0; attempt < 5; attempt++) {
        attempts++;
        const seen = word.load();
        peer.postMessage('answer');
        answered = timed(new SpinEstimate(), seen);
        if (answered.changed && answered.ms < NAP_MS) break;
        while (word.load() === seen) await new Promise((r) => setTimeout(r, 1)); // its late answer, before the next try
      }
      const record = new SpinEstimate();
      const misses = [timed(record), timed(record)];
      const stopped = timed(record);
      const fresh = timed(new SpinEstimate());
      await peer.terminate();
      console.log(JSON.stringify({ napMs: NAP_MS, attempts, answered, misses, stopped, fresh }));`;
    const run = await runProgram('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', script], { env: { WEFT_DEBUG: 'spin' } });
    assert.equal(run.code, 0, run.stderr);
    const r = JSON.parse(run.stdout) as {
      napMs: number; attempts: number;
      answered: { changed: boolean; ms: number }; misses: { changed: boolean; ms: number }[];
      stopped: { changed: boolean; ms: number }; fresh: { changed: boolean; ms: number };
    };
    assert.equal(r.answered.changed, true);
    assert.ok(r.answered.ms < r.napMs, `answered after ${r.answered.ms} ms: the peer's wake ends the nap, not its time-out`);
    for (const miss of r.misses) {
      assert.equal(miss.changed, false);
      // the kernel's time-out, give or take a timer's slack and a scheduler's delay
      assert.ok(miss.ms >= r.napMs * 0.9 && miss.ms < r.napMs + 200, `a nap nobody answered lasted ${miss.ms} ms`);
    }
    assert.equal(r.stopped.changed, false);
    assert.ok(r.stopped.ms < r.napMs / 2, `after two misses the record naps no more (took ${r.stopped.ms} ms)`);
    assert.equal(r.fresh.changed, false);
    assert.ok(r.fresh.ms >= r.napMs * 0.9, 'another record still naps');
    // the main thread's own count: every try, the two misses and the fresh record's nap, and none after the misses
    assert.match(run.stderr, new RegExp(`; ${r.attempts + 3} naps \\(\\d+ answered\\)`), run.stderr);
  });

  test('naps answered only after milliseconds stop as unanswered ones do: the event loop waited that long each time', async () => {
    // The peer answers each nap 3 ms in (a call the server takes its time over).
    const script = `${napPeer(3)}
      const record = new SpinEstimate();
      const naps = [];
      for (let i = 0; i < 4; i++) {
        const seen = word.load();
        peer.postMessage('answer');
        naps.push(timed(record, seen));
        while (word.load() === seen) await new Promise((r) => setTimeout(r, 1)); // the answer, napped for or not
      }
      await peer.terminate();
      console.log(JSON.stringify(naps));`;
    const run = await runNode(['--input-type=module', '-e', script], { env: { WEFT_DEBUG: 'spin' } });
    assert.equal(run.code, 0, run.stderr);
    const naps = JSON.parse(run.stdout) as { changed: boolean; ms: number }[];
    for (const nap of naps.slice(0, 2)) assert.ok(nap.ms >= 1, `a nap ended after ${nap.ms} ms, before the answer came`);
    // after two, the waits do not nap: the main thread's count says so, whatever the machine's timing
    assert.match(run.stderr, /weft:spin \d+ over \d+ ms: .*; 2 naps \(\d answered\)/, run.stderr);
  });
});
