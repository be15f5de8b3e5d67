// `npm run bench`: every benchmark, one after the other, each printing its
// table (and writing bench/results/*.json). Figures and the reading of them are
// in docs/PERFORMANCE.md. About 15 minutes on 2 cores.
//
// `npm run bench -- --load idle|hogs|quota|onecore|all [--rows ...] [--runs N] [--quick] [--markdown]`:
// the transport, Lock, Manager, Pool and first-call points with Python beside
// them, under each load (bench/lib/harness.ts; `--help` lists the options).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from './lib/harness.js';

const benches = [
  ['Queue, Pipe and start-up vs Python multiprocessing', 'multiprocessing/transport.js'],
  ['Lock + Value vs Python multiprocessing', 'multiprocessing/lock_value.js'],
  ['Manager vs Python multiprocessing.Manager', 'multiprocessing/manager.js'],
  ['Pool vs Python, piscina, tinypool, workerpool', 'multiprocessing/pool.js'],
  ['weft/coro vs gevent, greenlet, p-map, p-limit', 'coro/run.js'],
  ['weft/io servers vs Node net, Python selectors, uvloop, C epoll', 'io/run.js'],
  ['weft/redis vs raw ioredis and BullMQ (its own redis-server)', 'redis/run.js'],
] as const;

function runAll(): number {
  let failed = 0;
  for (const [title, file] of benches) {
    console.log(`\n## ${title}\n`);
    const r = spawnSync(process.execPath, [fileURLToPath(new URL(`./${file}`, import.meta.url))], {
      stdio: 'inherit',
    });
    if (r.status !== 0) {
      console.error(`bench ${file} failed (exit ${r.status ?? r.signal})`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

const args = process.argv.slice(2);
process.exitCode = args.length ? await main(args) : runAll();
