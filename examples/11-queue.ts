// Seed: 1. Processes — Queue: the child puts "hahaha123", the parent gets it
//
// Memory is not shared between processes; a Queue is. The parent creates it
// and hands it to the child in `args`; the child's put crosses by
// serialisation through shared memory, and the parent's get receives it.
import { Process, Queue, isMainModule, task } from 'weft';

export const f = task(import.meta, async function f(qq: Queue<string>) {
  await qq.put('hahaha123');
});

if (isMainModule(import.meta)) {
  const q = new Queue<string>();
  const p = new Process({ target: f, args: [q] });
  p.start();
  console.log(await q.get());
  await p.join();
}
