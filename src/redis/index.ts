/**
 * weft/redis: weft past one machine — queues, shared dicts and values, locks
 * and a Pool on a Redis server, made through a {@link Cluster} context with
 * the method names of weft's own. Only re-exports; see docs/distributed.md.
 * @module weft/redis
 */
export { connect, Cluster, type ConnectOptions } from './context.js';
export { Queue, JoinableQueue, type QueueOptions } from './queues.js';
export { DictProxy, ListProxy, NamespaceProxy, ValueProxy } from './proxies.js';
export { Pool, WorkerLostError, type PoolOptions } from './pool.js';
export { serve, Worker, type ServeOptions, type WorkerCounts } from './worker.js';
export { AbortError, AsyncResult } from '../multiprocessing/pool_result.js';
export { Lock, RLock, Semaphore, BoundedSemaphore, Event, Barrier, type LeaseOptions, type Held } from './synchronize.js';
// The errors weft/redis throws, for `instanceof` without a second import.
export { AuthenticationError, IndexError } from '../multiprocessing/manager_wire.js';
export { BrokenBarrierError } from '../multiprocessing/synchronize.js';
export {
  ConnectionRefusedError,
  Empty,
  Full,
  KeyError,
  PermissionError,
  RuntimeError,
  TimeoutError,
  ValueError,
} from '../errors.js';
