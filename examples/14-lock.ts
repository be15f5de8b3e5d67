// Seed: 1. Processes — Lock: ten processes print in turn
//
// Ten processes share one Lock; each takes it, prints `hello world i`, and
// lets it go, so no two lines interleave. The order depends on which process
// starts first. `using held = await l.hold()` is Python's `with l:` — the
// lock is released at the end of the block, also when the block throws
// (the seed's explicit acquire()/release() pair works too).
import { Lock, Process, isMainModule, task } from 'weft';

export const f = task(import.meta, async function f(l: Lock, i: number) {
  using held = await l.hold();
  console.log('hello world', i);
});

if (isMainModule(import.meta)) {
  const lock = new Lock();
  const procs: Process[] = [];
  for (let num = 0; num < 10; num++) {
    const p = new Process({ target: f, args: [lock, num] });
    p.start();
    procs.push(p);
  }
  for (const p of procs) await p.join();
}
