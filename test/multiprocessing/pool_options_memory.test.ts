// maxQueue holds memory flat: a producer submitting more tasks than the worker keeps up with
// (WEFT_MAXQUEUE_TASKS, 200k by default; the 10M works too, only slower:
// `WEFT_MAXQUEUE_TASKS=10000000 node --test dist/test/multiprocessing/pool_options_memory.test.js`)
// waits for room instead of piling tasks up in this process. The worker stalls for 50 ms a
// hundred times in the run (every TASKS/100 tasks), so the producer outruns it then whatever
// the machine's speed or load (a task slow enough to be outrun all along would make the run
// take many minutes).
//
// Why 200k suffices: without a bound every submitted task stays in this process until a worker
// takes it (a Job, its AsyncResult and its encoded arguments, some 300 bytes), so 200k tasks
// queued ahead would add ~60 MB; with maxQueue the heap holds at most MAX_QUEUE of them plus
// the ≤1024 in flight per worker, whatever the count. The live heap measured after the first
// 10% (heap and pools grown to their working size) and at the end may then differ by GC noise
// only: the 8 MiB allowed is under 50 bytes a task over the remaining 180k, less than any
// per-task leak could be (a Job alone is over 100 bytes), so a longer run would show nothing
// more. RSS, which also holds what the allocator keeps, is checked coarsely.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Pool } from 'weft';
import { busyFor } from './fixtures/options-tasks.js';

const TASKS = Number(process.env.WEFT_MAXQUEUE_TASKS ?? 200_000);
/** A stall every this many tasks: a hundred in the run. */
const STALL_EVERY = Math.max(1, Math.floor(TASKS / 100));
const MAX_QUEUE = 100;

// A full collection before each reading, so RSS compares live memory, not garbage not yet collected.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

for (const context of ['process', 'thread'] as const) {
  test(`maxQueue keeps memory flat while a producer outruns the workers (${context}, ${TASKS} tasks)`, { timeout: 600_000 }, async () => {
    const pool = new Pool({ processes: 1, context, maxQueue: MAX_QUEUE });
    let done = 0;
    let waits = 0;
    let filling = false;
    let most = 0;
    const callback = () => void done++;
    let rssWarm = 0;
    let heapWarm = 0;
    const started = performance.now();
    try {
      for (let i = 0; i < TASKS; i++) {
        if (i % STALL_EVERY === 0) most = Math.max(most, pool.stats().queued);
        if (pool.needsDrain && !filling) waits++; // a submit found the queue full since it last emptied
        filling = pool.needsDrain;
        await pool.submit(busyFor, [i % STALL_EVERY === 0 ? 50_000 : 1], { callback });
        if (i === Math.floor(TASKS / 10)) {
          gc();
          rssWarm = process.memoryUsage.rss();
          heapWarm = process.memoryUsage().heapUsed;
        }
      }
      pool.close();
      await pool.join();
    } finally {
      await pool.terminate();
    }
    gc();
    const rssEnd = process.memoryUsage.rss();
    const heapEnd = process.memoryUsage().heapUsed;
    const growth = (rssEnd - rssWarm) / 2 ** 20;
    console.log(`# ${context}: ${TASKS} tasks in ${((performance.now() - started) / 1000).toFixed(1)} s; the queue filled ${waits} times; ` +
      `RSS ${(rssWarm / 2 ** 20).toFixed(0)} MiB after 10%, ${(rssEnd / 2 ** 20).toFixed(0)} MiB at the end (${growth.toFixed(1)} MiB); ` +
      `heap used ${(heapWarm / 2 ** 20).toFixed(1)} then ${(heapEnd / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(done, TASKS);
    assert.ok(most <= MAX_QUEUE, `the queue never holds more than maxQueue: saw ${most}`);
    // How often the stalls fill the queue depends on how many tasks the worker was handed ahead of
    // a stall (fewer after it): on an idle machine about a quarter of them did. Ten fills is already
    // the producer held back by maxQueue again and again, which is what the memory reading is about.
    assert.ok(waits >= 10, `the producer outran the worker at its stalls (the queue filled ${waits} times), or this test tests nothing`);
    // RSS is the coarse reading: over 1M tasks on Node 24 it grew 65-107 MiB with the live heap
    // flat (what the allocator keeps after collections). The heap is the strict one.
    assert.ok(growth < 192, `RSS grew ${growth.toFixed(1)} MiB over ${TASKS * 0.9} tasks`);
    // The live heap, the stricter reading (RSS also holds what the allocator keeps after a collection).
    assert.ok((heapEnd - heapWarm) / 2 ** 20 < 8, `heap used grew ${((heapEnd - heapWarm) / 2 ** 20).toFixed(1)} MiB`);
  });
}
