/**
 * The `uring` server: asynchronous I/O, the lecture's fifth I/O model, on
 * weft/io's Proactor over io_uring (examples/32-proactor-server.ts). The
 * kernel does each accept, recv and send and reports its completion; no
 * readiness is ever asked. Where io_uring is unavailable (an old kernel, a
 * container's seccomp profile) it refuses with IoUring.available()'s reason.
 * No Python twin (asyncio's proactor loop is Windows-only).
 * @module
 */
import { IoUring } from '../io/uring.js';
import { Proactor } from '../io/proactor.js';
import { createServer, type socket } from '../io/socket.js';
import { ConnectionError, OSError } from '../errors.js';
import { BACKLOG, type EchoServer, type Settings, servedHere, shutdownRead, upperInPlace } from './echo.js';
import { Stats } from './stats.js';

/**
 * Bytes asked per recv. Each connection has one recv pending with its own
 * buffer, so this is also what an idle connection holds: small, for the
 * benchmark of 10,000 idle connections.
 */
const RECV_SIZE = 4096;

/**
 * The model cannot run here; `reason` says why (a refusal, not a failure):
 * `serve({ model: 'uring' })` where io_uring is missing or forbidden.
 * @example
 * import { Unavailable } from 'weft/servers';
 * const refusal = new Unavailable('io_uring_setup: operation not permitted');
 * console.log(refusal.message); // io_uring is unavailable: io_uring_setup: operation not permitted
 */
export class Unavailable extends Error {
  constructor(readonly reason: string) {
    super(`io_uring is unavailable: ${reason}`);
    this.name = 'Unavailable';
  }
}

/**
 * Serve with io_uring completions on Node's event loop.
 * @throws {Unavailable} io_uring cannot be used here.
 */
export async function serveUring(settings: Settings): Promise<EchoServer> {
  const available = IoUring.available();
  if (!available.ok) throw new Unavailable(available.reason);
  const listener = createServer([settings.host, settings.port], { backlog: BACKLOG });
  const [host, port] = listener.getSockName() as [string, number];
  const proactor = new Proactor();
  const stats = new Stats();
  const open = new Map<socket, Promise<void>>();
  let stopping = false;

  const echo = async (conn: socket): Promise<void> => {
    try {
      for (;;) {
        const data = await proactor.recv(conn, RECV_SIZE);
        if (data.length === 0) break;
        stats.messages++;
        stats.bytes += data.length;
        if (settings.upper) upperInPlace(data);
        await proactor.sendAll(conn, data);
      }
    } catch (err) {
      // A reset ends the connection; ECANCELED is an immediate stop's.
      if (!(err instanceof ConnectionError) && !(stopping && err instanceof OSError)) throw err;
    } finally {
      conn.close();
      stats.active--;
    }
  };

  const done = (async () => {
    for (;;) {
      let conn: socket;
      try {
        [conn] = await proactor.accept(listener);
      } catch (err) {
        if (stopping) break; // the listener was shut down, or the ring closed
        if (err instanceof ConnectionError || (err instanceof OSError && err.code === 'ENOTCONN')) continue; // gone before its address was read
        throw err;
      }
      if (stopping || stats.active >= settings.maxConnections) {
        conn.close();
        stats.refused++;
        continue;
      }
      stats.connections++;
      stats.active++;
      const served = echo(conn).finally(() => open.delete(conn));
      open.set(conn, served);
    }
  })();

  let stopped: Promise<void> | undefined;
  const stopNow = (): void => {
    proactor.close(); // every pending operation completes with ECANCELED
    for (const conn of open.keys()) conn.close();
  };
  return servedHere('uring', [host, port], stats, done.finally(() => listener.close()), async ({ graceful, timeout }) => {
    stopping = true;
    if (!graceful) stopNow();
    stopped ??= (async () => {
      // SHUT_RD on a listening socket ends the pending accept (EINVAL); on a connection it
      // lets the recv read what was sent, then end of file.
      shutdownRead(listener.fileno());
      for (const conn of open.keys()) shutdownRead(conn.fileno());
      let timer: NodeJS.Timeout | undefined;
      const all = Promise.allSettled([done, ...open.values()]);
      await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, timeout * 1000)))]);
      clearTimeout(timer);
      stopNow();
      await all;
      listener.close();
    })();
    await stopped;
  });
}
