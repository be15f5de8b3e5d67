/**
 * The `thread` server: a worker thread per connection, the lecture's second
 * design. It is the process server (process.ts) with weft's thread context:
 * the same child code, the socket's fd dup'd into the thread instead of sent
 * to a process. No Python twin.
 * @module
 */
import type { EchoServer, Settings } from './echo.js';
import { servePerConnection } from './process.js';

/** Serve each connection in a worker thread of this process. */
export function serveThreads(settings: Settings): Promise<EchoServer> {
  return servePerConnection(settings, 'thread');
}
