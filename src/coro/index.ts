/**
 * weft/coro: greenlets and a gevent-style hub on Node's event loop — the
 * twin of Python's gevent (and greenlet). Only re-exports; see docs/coro.md.
 * @module weft/coro
 */
export { sleep, idle, wait, getHub, type Hub } from './hub.js';
export {
  Greenlet,
  GreenletExit,
  spawn,
  spawnLater,
  joinAll,
  killAll,
  getCurrent,
  type ExceptionLike,
  type LinkCallback,
} from './greenlet.js';
export { Timeout, withTimeout } from './timeout.js';
export { Event, AsyncResult } from './event.js';
export { Semaphore, BoundedSemaphore, Lock, RLock } from './lock.js';
export {
  Queue,
  JoinableQueue,
  PriorityQueue,
  LifoQueue,
  Channel,
  StopIteration,
  type QueueWaitOptions,
} from './queue.js';
export { Group, Pool, type ImapOptions } from './pool.js';
export { Empty, Full } from '../errors.js';
export { greenlet, getCurrentRaw, type RawGreenlet } from './rawgreenlet.js';
export { prime } from './coroutine.js';
export { monitor, type Monitor, type BlockingReport } from './monitor.js';
export { StreamServer, CoroSocket, type Address, type StreamHandler, type StreamServerOptions } from './server.js';
export { fetchAll, HTTPError, type FetchResult, type FetchProgress, type FetchAllOptions } from './fetch.js';
