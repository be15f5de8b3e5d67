/**
 * `serve(options)`: the one place that picks a server design by its name and
 * fills in the defaults; each design is a module of its own. No Python twin.
 * @module
 */
import { cpuCount } from '../multiprocessing/process.js';
import { MODELS, type EchoServer, type ServeOptions, type Settings } from './echo.js';
import { serveCoro } from './coro.js';
import { serveEvent } from './event.js';
import { servePrefork } from './prefork.js';
import { servePerConnection } from './process.js';
import { serveReactor } from './reactor.js';
import { serveThreads } from './thread.js';
import { serveUring } from './uring.js';

const servers: Record<ServeOptions['model'], (settings: Settings) => Promise<EchoServer>> = {
  process: (s) => servePerConnection(s, 'process'),
  thread: serveThreads,
  select: (s) => serveReactor(s, 'select'),
  poll: (s) => serveReactor(s, 'poll'),
  epoll: (s) => serveReactor(s, 'epoll'),
  coro: serveCoro,
  event: serveEvent,
  prefork: servePrefork,
  uring: serveUring,
};

/**
 * Start an echo server of the given design; resolves once it listens.
 * @example
 * import { serve } from 'weft/servers';
 * const server = await serve({ model: 'coro', port: 0 });
 * console.log(server.model, server.pids().length); // coro 1
 * await server.stop();
 * @throws {RangeError} an unknown model, or an option out of range.
 * @throws {Unavailable} `uring` where io_uring cannot be used (the reason says why).
 * @throws {OSError} binding failed (`EADDRINUSE`: the port is taken).
 */
export function serve(options: ServeOptions): Promise<EchoServer> {
  let settings: Settings;
  try {
    settings = check(options);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  return servers[settings.model](settings);
}

function check(options: ServeOptions): Settings {
  const { model, host = '127.0.0.1', port = 5566, workers = cpuCount(), maxConnections = Infinity, upper = false } = options;
  if (!MODELS.includes(model)) throw new RangeError(`model must be one of ${MODELS.join(', ')}, got ${String(model)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be an integer from 0 to 65535, got ${port}`);
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
  if (!(maxConnections === Infinity || (Number.isInteger(maxConnections) && maxConnections >= 1))) {
    throw new RangeError(`maxConnections must be a positive integer, got ${maxConnections}`);
  }
  const log = options.log ?? ((line: string) => console.error(line));
  return { model, host, port, workers, maxConnections, upper, log };
}
