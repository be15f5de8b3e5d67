/**
 * weft/servers: the lecture's server designs as echo servers — a process or a
 * thread per connection, select/poll/epoll loops, greenlets, Node's own loop,
 * prefork and io_uring — behind one `serve(options)`; `weft serve` runs them.
 * Only re-exports; see docs/servers.md. (Built, this module is also what the
 * servers' children import to find their tasks: it loads every design.)
 * @module weft/servers
 */
export { serve } from './serve.js';
export { MODELS, type EchoServer, type Model, type ServeOptions, type StopOptions } from './echo.js';
export type { ServerStats } from './stats.js';
export { Unavailable } from './uring.js';
