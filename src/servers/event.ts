/**
 * The `event` server: Node's own `net` module, one libuv event loop, the
 * baseline a Node user knows and the others are measured against. No Python
 * twin (asyncio's streams are its nearest kin).
 * @module
 */
import net from 'node:net';
import { once } from 'node:events';
import { type EchoServer, type Settings, servedHere, upperInPlace } from './echo.js';
import { Stats } from './stats.js';

/** Serve on Node's event loop. */
export async function serveEvent(settings: Settings): Promise<EchoServer> {
  const stats = new Stats();
  const sockets = new Set<net.Socket>();
  let stopping = false;
  let allClosed: (() => void) | undefined;
  const server = net.createServer((sock) => {
    if (stopping || stats.active >= settings.maxConnections) {
      stats.refused++;
      sock.destroy();
      return;
    }
    stats.connections++;
    stats.active++;
    sockets.add(sock);
    sock.on('data', (data: Buffer) => {
      stats.messages++;
      stats.bytes += data.length;
      if (settings.upper) upperInPlace(data);
      // A client that does not read its replies stops being read, as the selector servers do.
      if (!sock.write(data)) {
        sock.pause();
        sock.once('drain', () => sock.resume());
      }
    });
    sock.on('error', () => {}); // a reset: 'close' follows
    sock.on('close', () => {
      sockets.delete(sock);
      stats.active--;
      if (sockets.size === 0) allClosed?.();
    });
  });
  server.listen({ host: settings.host, port: settings.port, backlog: 4096 });
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  const { address: host, port } = server.address() as net.AddressInfo;
  const done = once(server, 'close').then(() => undefined);
  return servedHere('event', [host, port], stats, done, async ({ graceful, timeout }) => {
    stopping = true;
    server.close();
    if (sockets.size === 0) return;
    const closed = new Promise<void>((resolve) => (allClosed = resolve));
    if (graceful) {
      // What the kernel already holds is read in this turn of the loop and answered; end() then
      // flushes the replies and sends FIN. Node has no shutdown(SHUT_RD) to do it more exactly.
      await new Promise((resolve) => setImmediate(resolve));
      for (const s of sockets) s.end();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, graceful ? timeout * 1000 : 0)))]);
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
  });
}
