/**
 * The weft/coro side of the benchmark: `node points.js <point> [n]` measures
 * one point in a fresh process and prints one JSON line. Run by run.ts, which
 * puts it beside the gevent anchors (gevent_points.py) and the npm peers.
 * Each point runs a short warm-up first so the JIT has compiled the paths.
 */
import { OSError } from 'weft/io';
import { Pool, Queue, StreamServer, getCurrent, greenlet, joinAll, sleep, spawn, type CoroSocket } from 'weft/coro';

type Result = Record<string, number | string>;

const now = (): number => performance.now() / 1000;

async function spawnJoin(n: number): Promise<Result> {
  const noop = (): void => {};
  const once = async (k: number): Promise<number> => {
    const t0 = now();
    const gs = new Array(k);
    for (let i = 0; i < k; i++) gs[i] = spawn(noop);
    await joinAll(gs);
    return now() - t0;
  };
  await once(10_000);
  const s = await once(n);
  return { n, seconds: s, rate: n / s, unit: 'greenlets/s' };
}

/**
 * What a greenlet pays per `await` to know who it is: `getCurrent()` after
 * each of `n` awaits, in ns per hop, beside the same awaits with no greenlet
 * (`floorNs`). Where the greenlet context lives (V8's slot through the addon,
 * or AsyncLocalStorage) is what this point compares across Node versions.
 */
async function awaitHop(n: number): Promise<Result> {
  const body = async (k: number): Promise<void> => {
    const me = getCurrent();
    for (let i = 0; i < k; i++) {
      await null;
      if (getCurrent() !== me) throw new Error('getCurrent() lost the greenlet across await');
    }
  };
  const once = async (k: number): Promise<number> => {
    const t0 = now();
    await spawn(body, k).join();
    return now() - t0;
  };
  await once(50_000);
  const s = await once(n);
  const t0 = now();
  for (let i = 0; i < n; i++) await null;
  const floor = now() - t0;
  return { n, seconds: s, rate: n / s, unit: 'hops/s', nsPerHop: (s / n) * 1e9, floorNs: (floor / n) * 1e9 };
}

async function switchPingPong(n: number): Promise<Result> {
  const once = async (k: number): Promise<number> => {
    let count = 0;
    const a = greenlet(async () => {
      while (count < k) {
        count++;
        await b.switch();
      }
    });
    const b = greenlet(async () => {
      for (;;) {
        count++;
        await a.switch();
      }
    });
    const t0 = now();
    await a.switch();
    return now() - t0;
  };
  await once(20_000);
  const s = await once(n);
  return { n, seconds: s, rate: n / s, unit: 'switches/s' };
}

async function sleepingMemory(n: number): Promise<Result> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  // n greenlets asleep, measured from a collected heap once every one of them
  // has started and parked on its sleep. Both hubs start spawned greenlets
  // later, and gevent's a slice of time at a time, so the measure waits for a
  // count each greenlet bumps as it starts (gevent_points.py does the same):
  // measured a fixed 50 ms after spawning, gevent had started only some of
  // them and looked five times cheaper than it is.
  const warm = Array.from({ length: 1000 }, () => spawn(() => sleep(0.01)));
  await joinAll(warm);
  gc();
  await sleep(0.05);
  gc();
  const before = process.memoryUsage();
  const gs = new Array<ReturnType<typeof spawn>>(n);
  let started = 0;
  const sleeper = (): Promise<void> => {
    started++;
    return sleep(60);
  };
  for (let i = 0; i < n; i++) gs[i] = spawn(sleeper);
  while (started < n) await sleep(0.01);
  gc();
  const during = process.memoryUsage();
  for (const g of gs) void g.kill({ block: false });
  await joinAll(gs);
  const rss = (during.rss - before.rss) / n;
  return {
    n,
    rssPerGreenlet: rss,
    heapPerGreenlet: (during.heapUsed - before.heapUsed + during.external - before.external) / n,
    rate: rss,
    unit: 'bytes RSS/greenlet',
  };
}

async function queuePingPong(n: number): Promise<Result> {
  const once = async (k: number): Promise<number> => {
    const ping = new Queue<number>();
    const pong = new Queue<number>();
    const echo = spawn(async () => {
      for (let i = 0; i < k; i++) await pong.put(await ping.get());
    });
    const t0 = now();
    for (let i = 0; i < k; i++) {
      await ping.put(i);
      await pong.get();
    }
    const s = now() - t0;
    await echo.join();
    return s;
  };
  await once(20_000);
  const s = await once(n);
  return { n, seconds: s, rate: n / s, unit: 'round trips/s' };
}

const tiny = async (x: number): Promise<number> => x * 2;

async function poolImap(n: number): Promise<Result> {
  const once = async (k: number): Promise<number> => {
    const pool = new Pool(100);
    const t0 = now();
    let sum = 0;
    for await (const r of pool.imapUnordered(tiny, range(k))) sum += r;
    if (sum !== k * (k - 1)) throw new Error('wrong sum');
    return now() - t0;
  };
  await once(10_000);
  const s = await once(n);
  return { n, seconds: s, rate: n / s, unit: 'jobs/s' };
}

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

async function pMapPoint(n: number): Promise<Result> {
  const { default: pMap } = await import('p-map');
  const once = async (k: number): Promise<number> => {
    const t0 = now();
    const out = await pMap(range(k), tiny, { concurrency: 100 });
    if (out.length !== k) throw new Error('wrong length');
    return now() - t0;
  };
  await once(10_000);
  const s = await once(n);
  return { n, seconds: s, rate: n / s, unit: 'jobs/s' };
}

/** p-map in a process where weft/coro's context tracking is on (a greenlet was spawned): the cost all promises pay then. */
async function pMapWithContext(n: number): Promise<Result> {
  await spawn(() => 0).join();
  return pMapPoint(n);
}

async function pLimitPoint(n: number): Promise<Result> {
  const { default: pLimit } = await import('p-limit');
  const once = async (k: number): Promise<number> => {
    const limit = pLimit(100);
    const t0 = now();
    const jobs = new Array(k);
    for (let i = 0; i < k; i++) jobs[i] = limit(tiny, i);
    await Promise.all(jobs);
    return now() - t0;
  };
  await once(10_000);
  const s = await once(n);
  return { n, seconds: s, rate: n / s, unit: 'jobs/s' };
}

/** The echo server for the StreamServer point: prints its port, serves until stdin closes. */
async function echoServer(): Promise<Result> {
  let bytes = 0;
  const handle = async (sock: CoroSocket): Promise<void> => {
    try {
      for (;;) {
        const data = await sock.recv(65536);
        if (data.length === 0) return;
        bytes += data.length;
        await sock.sendAll(data);
      }
    } catch (e) {
      if (!(e instanceof OSError)) throw e; // the load generator resets its connections at the end
    }
  };
  const server = new StreamServer(['127.0.0.1', 0], handle, { backlog: 1024 });
  await server.start();
  const cpu0 = process.cpuUsage();
  process.stdout.write(`${server.address[1]}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve).on('close', resolve).resume();
  });
  const cpu = process.cpuUsage(cpu0);
  // CPU time per 1 KiB echoed: a figure the machine's other load does not change much
  process.stdout.write(`${JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6, kib: bytes / 1024 })}\n`);
  await server.stop(0.1);
  return { port: server.address[1] };
}

const points: Record<string, (n: number) => Promise<Result>> = {
  spawn: spawnJoin,
  switch: switchPingPong,
  hop: awaitHop,
  memory: sleepingMemory,
  queue: queuePingPong,
  imap: poolImap,
  pmap: pMapPoint,
  pmapctx: pMapWithContext,
  plimit: pLimitPoint,
  echoserver: echoServer,
};

const [name, count] = process.argv.slice(2);
const point = points[name ?? ''];
if (!point) {
  console.error(`usage: points.js <${Object.keys(points).join('|')}> [n]`);
  process.exit(2);
}
const result = await point(Number(count ?? 100_000));
if (name !== 'echoserver') console.log(JSON.stringify(result));
