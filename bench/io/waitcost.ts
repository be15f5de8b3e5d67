/**
 * The seed's claim, measured: the cost of one select / poll / epoll wait with
 * 1 active and N idle connections. The idle connections' other ends live in a
 * Python child, so this process holds only its own ends (select's fds must stay
 * below 1024). Each wait has timeout 0 and finds the one active fd ready.
 */
import { spawn } from 'node:child_process';
import { BlockingIOError, EPOLLIN, POLLIN, createServer, epoll, poll, select, type socket } from 'weft/io';

export interface WaitCost {
  idle: number;
  /** µs per wait: median of the repeats, and [min, max]; null where the mechanism cannot run (select at fds >= 1024). */
  select: { median: number; min: number; max: number } | null;
  poll: { median: number; min: number; max: number };
  epoll: { median: number; min: number; max: number };
}

const CHILD = `
import socket, sys, time
n, port = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(('127.0.0.1', port)) for _ in range(n)]
socks[n // 2].send(b'x')
time.sleep(3600)
`;

/**
 * µs per call of `fn`: the median over batches of about `ms / 12` milliseconds
 * each (a batch the scheduler preempted does not move the median), after a warm-up.
 */
function perCall(fn: () => void, ms: number): number {
  const batch = (budget: number): number => {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < budget || calls < 10) {
      for (let i = 0; i < 5; i++) fn();
      calls += 5;
      t = performance.now();
    }
    return ((t - t0) * 1000) / calls;
  };
  batch(ms / 12); // warm-up: JIT and caches
  const xs: number[] = [];
  for (let b = 0; b < 12; b++) xs.push(batch(ms / 12));
  return stats(xs).median;
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

/** Open `idle + 1` connections (one with a byte waiting) and time each mechanism. */
export async function measure(idle: number, repeats: number, ms = 60): Promise<WaitCost> {
  const listener = createServer(['127.0.0.1', 0], { backlog: 4096 });
  listener.setBlocking(false);
  const port = (listener.getSockName() as [string, number])[1];
  const child = spawn('/usr/bin/python3', ['-c', CHILD, String(idle + 1), String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const conns: socket[] = [];
  try {
    // Accept as the child connects (its backlog is bounded), polling every
    // millisecond: a selector would cost one more fd below select's 1024.
    const deadline = performance.now() + 60_000;
    while (conns.length < idle + 1) {
      try {
        conns.push(listener.accept()[0]);
      } catch (err) {
        if (!(err instanceof BlockingIOError)) throw err;
        if (performance.now() > deadline) throw new Error(`only ${conns.length} of ${idle + 1} connections arrived`);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    listener.close();
    const p = poll();
    const ep = new epoll();
    for (const c of conns) {
      p.register(c, POLLIN);
      ep.register(c, EPOLLIN);
    }
    const maxFd = Math.max(...conns.map((c) => c.fileno()));
    if (p.poll(1000).length !== 1 || ep.poll(1).length !== 1) throw new Error('expected exactly one ready connection');
    const sel3: number[] = [];
    const pol: number[] = [];
    const epl: number[] = [];
    for (let r = 0; r < repeats; r++) {
      if (maxFd < 1024) sel3.push(perCall(() => select(conns, [], [], 0), ms));
      pol.push(perCall(() => p.poll(0), ms));
      epl.push(perCall(() => ep.poll(0), ms));
    }
    ep.close();
    return { idle, select: sel3.length ? stats(sel3) : null, poll: stats(pol), epoll: stats(epl) };
  } finally {
    listener.close();
    for (const c of conns) c.close();
    child.kill();
  }
}

// Run alone (`node dist/bench/io/waitcost.js REPEATS`): a fresh process holds
// the fewest fds, so select can take 1 active + 1000 idle connections below 1024.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const repeats = Number(process.argv[2] ?? 3);
  const out: WaitCost[] = [];
  for (const idle of [10, 100, 1000, 10_000]) out.push(await measure(idle, repeats));
  console.log(JSON.stringify(out));
}
