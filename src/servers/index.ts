/**
 * The lecture's server designs as echo servers: a process or a thread per
 * connection, select/poll/epoll loops, greenlets, Node's own loop, prefork
 * and io_uring, behind one `serve(options)`. `weft serve` runs them. Their
 * children import this module to find their tasks (serve.ts loads every design).
 * @module
 */
export { serve } from './serve.js';
export { MODELS, type EchoServer, type Model, type ServeOptions, type StopOptions } from './echo.js';
export type { ServerStats } from './stats.js';
export { Unavailable } from './uring.js';
