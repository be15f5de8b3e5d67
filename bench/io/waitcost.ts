/**
 * The seed's claim, measured: the cost of one select / poll / epoll wait with
 * 1 active and N idle connections. The idle connections' other ends live in a
 * Python child, so this process holds only its own ends (select's fds must stay
 * below 1024). Each wait has timeout 0 and finds the one active fd ready.
 */
import { spawn } from 'node:child_process';
import {
  DefaultSelector, EVENT_READ, POLLIN, BlockingIOError, createServer, epoll, EPOLLIN, poll, select, type socket,
} from 'weft/io';

export interface WaitCost {
  idle: number;
  /** µs per wait: median of the repeats, and [min, max]; null where the mechanism cannot run (select at fds >= 1024). */
  select: { median: number; min: number; max: number } | null;
  poll: { median: number; min: number; max: number };
  epoll: { median: number; min: number; max: number };
}

const CHILD = `
import socket, sys
n, port = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(('127.0.0.1', port)) for _ in range(n)]
socks[n // 2].send(b'x')
print('ok', flush=True)
sys.stdin.read()
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
  const sel = new DefaultSelector();
  sel.register(listener, EVENT_READ);
  try {
    while (conns.length < idle + 1) {
      await sel.selectAsync(10);
      for (;;) {
        try {
          conns.push(listener.accept()[0]);
        } catch (err) {
          if (err instanceof BlockingIOError) break;
          throw err;
        }
      }
    }
    sel.close();
    listener.close();
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
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
    sel.close();
    listener.close();
    for (const c of conns) c.close();
    child.stdin!.end();
    child.kill();
  }
}
