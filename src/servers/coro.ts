/**
 * The `coro` server: weft/coro's StreamServer, a greenlet per connection on
 * Node's event loop (the seed's gevent server, examples/24-echo-server.ts).
 * No Python twin beyond gevent's StreamServer itself.
 * @module
 */
import { type CoroSocket, StreamServer } from '../coro/server.js';
import { ConnectionError } from '../errors.js';
import { BACKLOG, CHUNK, type EchoServer, STOP_TIMEOUT, type Settings, shutdownRead, upperInPlace } from './echo.js';
import { Stats } from './stats.js';

/** Serve with a greenlet per connection. */
export async function serveCoro(settings: Settings): Promise<EchoServer> {
  const stats = new Stats();
  const open = new Set<CoroSocket>();
  let stopping = false;
  const server = new StreamServer(
    [settings.host, settings.port],
    async (sock) => {
      if (stopping || stats.active >= settings.maxConnections) {
        stats.refused++;
        return; // StreamServer closes the socket
      }
      stats.connections++;
      stats.active++;
      open.add(sock);
      try {
        for (;;) {
          const data = await sock.recv(CHUNK);
          if (data.length === 0) break;
          stats.messages++;
          stats.bytes += data.length;
          if (settings.upper) upperInPlace(data);
          await sock.sendAll(data);
        }
      } catch (err) {
        if (!(err instanceof ConnectionError)) throw err; // a reset ends the connection, nothing more
      } finally {
        open.delete(sock);
        stats.active--;
      }
    },
    { backlog: BACKLOG },
  );
  await server.start();
  const [host, port] = server.address;
  let stopped: Promise<void> | undefined;
  const done = server.serveForever();
  return {
    model: 'coro',
    host,
    port,
    done,
    pids: () => [process.pid],
    stats: () => stats.snapshot(),
    async stop({ graceful = true, timeout = STOP_TIMEOUT } = {}) {
      stopping = true;
      if (graceful) for (const sock of open) shutdownRead(sock.fileno());
      stopped ??= server.stop(graceful ? timeout : 0);
      await stopped;
      await done;
      return stats.snapshot();
    },
  };
}
