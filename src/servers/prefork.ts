/**
 * The `prefork` server: N processes (default: one per CPU), each running the
 * epoll loop of reactor.ts on its own listening socket bound to the one port
 * with SO_REUSEPORT, so that the kernel spreads connections over them and
 * every core serves. No Python twin (gunicorn's and nginx's workers are its
 * kin; they share one socket, SO_REUSEPORT gives each its own accept queue).
 *
 * The parent serves nothing: it binds the port first (so that port 0 yields
 * one port for all), starts the workers, and lets its own socket go once
 * every worker listens. Workers talk to it through shared memory only: a
 * control array (stop requests, readiness) and one slot of counts each.
 * @module
 */
import { isMainThread } from '../multiprocessing/util.js';
import { createServer } from '../io/socket.js';
import { Process } from '../multiprocessing/process.js';
import { SharedArray } from '../multiprocessing/sharedctypes.js';
import { task } from '../multiprocessing/task.js';
import { BACKLOG, type EchoServer, STOP_TIMEOUT, type Settings, taskModule, within } from './echo.js';
import { Reactor } from './reactor.js';
import type { ServerStats } from './stats.js';

/** control[0]: 0 serve, 1 stop gracefully, 2 stop at once; control[1]: the graceful timeout; control[2 + i]: worker i listens. */
const STOP = 0;
const TIMEOUT = 1;
const READY = 2;

/** Counts per worker, in its slot of the shared array. */
const FIELDS = ['connections', 'active', 'messages', 'bytes', 'refused'] as const;

/** Seconds the workers get to start listening (a Node process boots in ~50 ms idle, in seconds on a loaded machine). */
const START_TIMEOUT = 60;

/** A worker's work: an epoll loop on its own socket, until the parent asks it to stop. */
export const preforkWorker = task(
  taskModule,
  async function preforkWorker(
    index: number,
    address: [string, number],
    upper: boolean,
    maxConnections: number,
    control: SharedArray<'i'>,
    counts: SharedArray<'d'>,
  ): Promise<void> {
    if (isMainThread) process.on('SIGINT', () => {}); // Ctrl-C reaches the group: the parent decides
    const listener = createServer(address, { backlog: BACKLOG, reusePort: true });
    const slot = index * FIELDS.length;
    const reactor = new Reactor(listener, {
      model: 'epoll',
      upper,
      // Every worker's open connections, read without a lock: a limit kept to within a few.
      full: () => {
        let active = 0;
        for (let i = 1; i < counts.length; i += FIELDS.length) active += counts.get(i);
        return active >= maxConnections;
      },
      log: (line) => console.error(`weft serve: worker ${process.pid}: ${line}`),
      stopAsked: () => {
        const stop = control.get(STOP);
        return stop === 0 ? undefined : { graceful: stop === 1, timeout: control.get(TIMEOUT) };
      },
      afterRound: (stats) => FIELDS.forEach((f, i) => counts.set(slot + i, stats[f])),
    });
    control.set(READY + index, 1);
    await reactor.run();
  },
  'preforkWorker',
);

/** Serve from `settings.workers` processes on one port. */
export async function servePrefork(settings: Settings): Promise<EchoServer> {
  const workers = settings.workers;
  const reserved = createServer([settings.host, settings.port], { backlog: BACKLOG, reusePort: true });
  const [host, port] = reserved.getSockName() as [string, number];
  const control = new SharedArray('i', READY + workers, { lock: false });
  const counts = new SharedArray('d', FIELDS.length * workers, { lock: false });
  const children: Process<typeof preforkWorker>[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const child = new Process({
        target: preforkWorker,
        args: [i, [host, port], settings.upper, settings.maxConnections, control, counts],
        daemon: true,
        name: `prefork-${i}`,
      });
      child.start();
      children.push(child);
    }
    const deadline = performance.now() + START_TIMEOUT * 1000;
    for (;;) {
      if (children.every((_, i) => control.get(READY + i) === 1)) break;
      const dead = children.find((c) => c.exitCode !== null);
      if (dead) throw new Error(`prefork worker ${dead.pid} exited with ${dead.exitCode} before it listened`);
      if (performance.now() > deadline) throw new Error(`prefork workers did not listen within ${START_TIMEOUT} s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } catch (err) {
    for (const c of children) c.kill();
    throw err;
  } finally {
    reserved.close(); // every worker listens now (or none will): the port stays theirs
  }
  const total = (): ServerStats => {
    const sum = { connections: 0, active: 0, messages: 0, bytes: 0, refused: 0 };
    for (let w = 0; w < workers; w++) FIELDS.forEach((f, i) => (sum[f] += counts.get(w * FIELDS.length + i)));
    return sum;
  };
  const done = Promise.all(children.map((c) => c.join())).then(() => {
    const failed = children.find((c) => c.exitCode !== 0);
    if (failed && control.get(STOP) !== 2) throw new Error(`prefork worker ${failed.pid} exited with ${failed.exitCode}`);
  });
  return {
    model: 'prefork',
    host,
    port,
    done,
    pids: () => [process.pid, ...children.map((c) => c.pid!)],
    stats: total,
    async stop({ graceful = true, timeout = STOP_TIMEOUT } = {}) {
      control.set(TIMEOUT, Math.ceil(timeout));
      control.set(STOP, graceful ? 1 : 2);
      // The workers' own deadline, one wait of theirs, and a margin for their exit; then they are killed,
      // and a worker whose end is never reported does not hold the stop (it dies with this process).
      if ((await within(done, (graceful ? timeout : 0) + 2)) === 'late') {
        for (const c of children) c.kill();
        await within(done, 2);
      }
      return total();
    },
  };
}
