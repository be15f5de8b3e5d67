/**
 * The `process` server: a process per connection, the first design of the
 * lecture. This process accepts; each connection's socket is handed to a weft
 * child (its fd crosses as the child starts, as a Queue's do: SCM_RIGHTS to a
 * process, a dup to a thread), which echoes with blocking calls, Python's
 * way, until the peer closes. Children booted ahead by weft (its spares)
 * take connections as they come. `thread` is the same server with the thread
 * context (thread.ts). No Python twin.
 *
 * This process keeps its own copy of each socket until the child ends: to
 * stop gracefully it half-closes it for reading, which the child sees as the
 * peer's end of file once it has answered what was already sent.
 * @module
 */
import { freemem } from 'node:os';
import { isMainThread } from '../multiprocessing/util.js';
import { SHUT_RDWR, SOCK_STREAM } from '../io/constants.js';
import { createServer, socket } from '../io/socket.js';
import { DefaultSelector, EVENT_READ } from '../io/selectors.js';
import { BlockingIOError, ConnectionError, OSError } from '../errors.js';
import { ledger } from '../multiprocessing/ledger.js';
import { Process } from '../multiprocessing/process.js';
import { reduce, registerShareable, type Reduced, type Shareable } from '../multiprocessing/reduction.js';
import type { SharedArray } from '../multiprocessing/sharedctypes.js';
import { task } from '../multiprocessing/task.js';
import {
  BACKLOG, CHUNK, type EchoServer, STOP_TIMEOUT, type Settings, shutdownRead, taskModule, upperInPlace, within,
} from './echo.js';
import { SharedCounts, Stats, Tally } from './stats.js';

/** Memory (MemAvailable) below which no child is started for a new connection. */
const MIN_FREE_MEMORY = 1024 * 2 ** 20;

/** How a connection's socket crosses to its child: as its fd, rebuilt there as a weft/io socket. */
class HandedSocket implements Shareable {
  constructor(readonly sock: socket) {}

  [reduce](): Reduced {
    return { type: 'weft.servers.socket', state: this.sock.family, fds: [this.sock.fileno()] };
  }
}
registerShareable('weft.servers.socket', (family, fds) => new socket(family as number, SOCK_STREAM, 0, fds[0]!));

/**
 * A child's work: echo on `conn` until the peer (or the parent's graceful
 * stop) ends it. Blocking calls: the child has nothing else to do.
 */
export const serveConnection = task(
  taskModule,
  function serveConnection(conn: socket, counts: SharedArray<'d'>, upper: boolean): void {
    // Ctrl-C reaches the whole process group: the parent alone decides how its children stop.
    if (isMainThread) process.on('SIGINT', () => {});
    const tally = new Tally(counts);
    const buf = Buffer.allocUnsafe(CHUNK);
    const fd = conn.fileno();
    try {
      for (;;) {
        const n = conn.recvInto(buf);
        if (n === 0) break;
        tally.count(n);
        const data = buf.subarray(0, n);
        if (upper) upperInPlace(data);
        conn.sendAll(data);
      }
    } catch (err) {
      if (!(err instanceof ConnectionError)) throw err; // a reset or a closed peer ends the connection, nothing more
    } finally {
      tally.flush();
      // A worker thread's starter closes the fds it handed over that are still listed when the
      // thread ends: unlisted first, or it would close a number some other thread reuses.
      ledger.forget(fd);
      conn.close();
    }
  },
  'serveConnection',
);

/** A connection being served: its child, and this process's copy of the socket. */
interface Served {
  child: Process<typeof serveConnection>;
  sock: socket;
  ended: Promise<void>;
}

/** Serve each connection in a child of `context`. */
export async function servePerConnection(settings: Settings, context: 'process' | 'thread'): Promise<EchoServer> {
  const listener = createServer([settings.host, settings.port], { backlog: BACKLOG });
  listener.setBlocking(false);
  const [host, port] = listener.getSockName() as [string, number];
  const sel = new DefaultSelector<null>();
  sel.register(listener, EVENT_READ, null);
  const stats = new Stats();
  const counts = new SharedCounts();
  const served = new Set<Served>();
  let stopping = false;
  let lastMemoryLog = -Infinity;

  const start = (sock: socket): void => {
    const child = new Process({
      target: serveConnection,
      args: [new HandedSocket(sock) as unknown as socket, counts.shared, settings.upper], // crosses as its fd
      context,
      daemon: true,
    });
    child.start();
    stats.connections++;
    stats.active++;
    const entry: Served = {
      child,
      sock,
      ended: child.join().finally(() => {
        served.delete(entry);
        sock.close();
        stats.active--;
      }),
    };
    served.add(entry);
  };

  const acceptAll = (): void => {
    for (;;) {
      let sock: socket;
      try {
        [sock] = listener.accept();
      } catch (err) {
        if (err instanceof BlockingIOError || err instanceof ConnectionError) return;
        if (!(err instanceof OSError)) throw err;
        settings.log(`accept failed: ${err.message}`);
        return;
      }
      if (stats.active >= settings.maxConnections) {
        sock.close();
        stats.refused++;
        continue;
      }
      const free = freemem();
      if (free < MIN_FREE_MEMORY) {
        // A child per connection costs tens of MB: 10,000 idle connections would take the machine's memory
        // (and the OOM killer would pick among everyone's processes). Refuse, saying why, at most once a second.
        sock.close();
        stats.refused++;
        if (performance.now() - lastMemoryLog >= 1000) {
          lastMemoryLog = performance.now();
          settings.log(`refusing connections: ${Math.round(free / 2 ** 20)} MiB of memory left, under the ${MIN_FREE_MEMORY / 2 ** 20} MiB kept free (${stats.active} ${context === 'process' ? 'processes' : 'threads'} serve; ${stats.refused} refused so far)`);
        }
        continue;
      }
      try {
        start(sock);
      } catch (err) {
        sock.close(); // the others go on; say why this one was not served
        settings.log(`could not start a ${context} for a connection: ${(err as Error).message}`);
      }
    }
  };

  const done = (async () => {
    while (!stopping) for (const _ of await sel.selectAsync(0.1)) acceptAll();
  })();

  const stopAccepting = (): void => {
    if (stopping) return;
    stopping = true;
    sel.close();
    listener.close();
  };

  return {
    model: context,
    host,
    port,
    done,
    pids: () => [process.pid],
    stats: () => stats.snapshot(counts.read()),
    async stop({ graceful = true, timeout = STOP_TIMEOUT } = {}) {
      stopAccepting();
      await done;
      for (const { sock } of served) {
        if (graceful) shutdownRead(sock.fileno());
        else endNow(sock);
      }
      const left = [...served];
      const all = Promise.all(left.map((s) => s.ended));
      if ((await within(all, graceful ? timeout : 0.5)) === 'late') {
        for (const s of left) {
          endNow(s.sock);
          s.child.kill();
        }
        // Bounded too: a child whose end is never reported must not hold the stop (it dies with this process).
        if ((await within(all, 2)) === 'late') {
          settings.log(`${served.size} ${context === 'process' ? 'processes' : 'threads'} did not report their end; leaving them to end with this process`);
          for (const s of served) s.sock.close();
        }
      }
      return stats.snapshot(counts.read());
    },
  };
}

/** Both directions shut: a child blocked in recv or send wakes up (a thread cannot be killed out of a system call). */
function endNow(sock: socket): void {
  try {
    sock.shutdown(SHUT_RDWR);
  } catch (err) {
    if (!(err instanceof OSError)) throw err; // already gone
  }
}
