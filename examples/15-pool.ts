// Seed: 1. Processes — Pool: ten tasks on five workers, callbacks in the parent
/**
 * The seed's process pool: `Pool(processes=5)`, ten `apply_async(Foo, (i,),
 * callback=Bar)`; `Foo` sleeps 2 s and prints the pid of the worker it runs
 * in, `Bar` runs in the parent and prints the parent's pid. `close()` then
 * `join()` waits for every task and worker. (The seed remarks that without
 * the join Python's program ends before the tasks run; weft's pool keeps the
 * program alive while tasks are unfinished, and `join()` is what waits for the
 * workers to exit.)
 *
 *   node dist/examples/15-pool.js              # 2 s tasks, as in the seed
 *   node dist/examples/15-pool.js --sleep 0.2  # shorter tasks (WEFT_TOUR=1 uses 0.2 too)
 */
import { parseArgs } from 'node:util';
import { Pool, currentProcess, isMainModule, task } from 'weft';

export const foo = task(import.meta, async function foo(i: number, seconds: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  console.log('in process', currentProcess().pid);
  return i;
});

function bar(arg: number): void {
  console.log('--->', arg, process.pid);
}

if (isMainModule(import.meta)) {
  const { values } = parseArgs({ options: { sleep: { type: 'string' } } });
  const seconds = values.sleep !== undefined ? Number(values.sleep) : process.env.WEFT_TOUR ? 0.2 : 2;
  const pool = new Pool({ processes: 5 });
  console.log('main_process:', process.pid);
  for (let i = 0; i < 10; i++) {
    // await pool.apply(foo, [i, seconds]);  // the synchronous form: one task at a time
    pool.applyAsync(foo, [i, seconds], { callback: bar });
  }
  console.log('end');
  pool.close();
  await pool.join(); // wait for the tasks and the workers
}
