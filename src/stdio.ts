/**
 * Internal: stdout and stderr that still drain while this thread blocks.
 *
 * Node writes to a pipe or a socket asynchronously: what the pipe cannot take
 * at once (a reader a little behind, 64 KiB of buffer) waits in libuv's queue
 * for the event loop. A thread blocked in `select()`, a blocking `recv()` or a
 * `…Sync` wait runs no event loop, so that output waits with it: a server
 * whose main loop blocks in `select()` stops printing for good once its reader
 * falls behind once. Python's `print` blocks until the pipe takes the line;
 * this makes Node's stdout and stderr do the same, from the first blocking
 * call on, as the `set-blocking` package does for CLIs that exit mid-write.
 *
 * Only the main thread's stdio has a libuv handle (a worker's goes through
 * its parent, and is not even made here), and files and terminals are
 * written synchronously already.
 * Output already queued when the first blocking call comes stays queued until
 * the event loop next runs; later lines follow it in order.
 * @module
 */

import { isMainThread } from './multiprocessing/util.js';

/** Set once stdio blocks; set from the start in a worker thread, whose stdio has no handle to change. */
let done = !isMainThread;

/** libuv's stream handle behind `process.stdout` when it is a pipe, socket or terminal. */
type StdioHandle = { setBlocking?(blocking: boolean): number };

/**
 * Makes the main thread's stdout and stderr blocking when they are pipes or
 * sockets; a no-op after its first call. Called by every weft call that may
 * block the calling thread, before it blocks.
 */
export function blockingStdio(): void {
  if (done) return;
  done = true;
  for (const stream of [process.stdout, process.stderr]) {
    const handle = (stream as unknown as { _handle?: StdioHandle })._handle;
    handle?.setBlocking?.(true);
  }
}
