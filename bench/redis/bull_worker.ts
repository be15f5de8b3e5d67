// The raw BullMQ anchor of the Pool benchmark: a BullMQ Worker in a process of
// its own doing the same work as a weft worker's task (a chunk of numbers
// squared), JSON in and out, the task run in this process, finished jobs kept
// in Redis as a weft worker keeps them (so a result outlives a producer's reconnect).
//   node bull_worker.js URL QUEUE
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { KEEP_FINISHED } from '../../src/internals.js';
import { square } from './tasks.js';

const [url, queue] = process.argv.slice(2) as [string, string];
const worker = new Worker(queue, async (job) => (job.data.items as number[]).map(square), {
  connection: new Redis(url, { maxRetriesPerRequest: null }),
  concurrency: 1,
  removeOnComplete: KEEP_FINISHED,
  removeOnFail: KEEP_FINISHED,
});
await worker.waitUntilReady();
console.log('ready');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
