/**
 * The `coro` server: weft/coro's StreamServer, a greenlet per connection on
 * Node's event loop (the seed's gevent server, examples/24-echo-server.ts).
 * No Python twin beyond gevent's StreamServer itself.
 * @module
 */
import { type CoroSocket, StreamServer } from '../coro/server.js';
import { ConnectionError } from '../errors.js';
import { BACKLOG, CHUNK, type EchoServer, type Settings, servedHere, shutdownRead, upperInPlace } from './echo.js';
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
  let stopped: Promise<void> | undefined;
  return servedHere('coro', server.address, stats, server.serveForever(), async ({ graceful, timeout }) => {
    stopping = true;
    if (graceful) for (const sock of open) shutdownRead(sock.fileno());
    stopped ??= server.stop(graceful ? timeout : 0);
    await stopped;
  });
}
