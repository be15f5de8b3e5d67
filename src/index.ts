/**
 * weft: Python's `multiprocessing` for TypeScript — processes and worker
 * threads behind one API, with queues, pipes, locks and shared values in
 * shared memory. Re-exports only; see each module for the details.
 * @module weft
 */
export { task, isMainModule, type TaskFunction, type TaskModule, type TaskRef } from './multiprocessing/task.js';
export {
  Process,
  type ProcessOptions,
  type StdioMode,
  currentProcess,
  parentProcess,
  activeChildren,
  cpuCount,
  type CurrentProcess,
  type ParentProcess,
} from './multiprocessing/process.js';
export { getContext, BaseContext, type ContextName } from './multiprocessing/context.js';
export { UnsendableError } from './multiprocessing/reduction.js';
export { registerType, type TypeReduction } from './multiprocessing/copyreg.js';
export { transfer, type Transferable } from './multiprocessing/transfer.js';
export {
  OSError,
  BlockingIOError,
  BrokenPipeError,
  ConnectionError,
  ConnectionResetError,
  TimeoutError,
  ValueError,
  MemoryError,
  KeyError,
  EOFError,
  Empty,
  Full,
} from './errors.js';
export { Queue, JoinableQueue, SimpleQueue, type QueueOptions, type WaitOptions } from './multiprocessing/queues.js';
export { Pipe, Connection, BufferTooShort, wait, type PipeOptions, type Waitable } from './multiprocessing/connection.js';
export {
  Lock,
  RLock,
  Semaphore,
  BoundedSemaphore,
  Condition,
  Event,
  Barrier,
  BrokenBarrierError,
  type AcquireOptions,
  type HoldOptions,
} from './multiprocessing/synchronize.js';
export { Value, SharedArray, RawValue, RawArray, type Typecode, type ItemType, type SharedOptions } from './multiprocessing/sharedctypes.js';
export {
  Manager,
  AuthenticationError,
  RemoteError,
  IndexError,
  BaseProxy,
  DictProxy,
  ListProxy,
  NamespaceProxy,
  ValueProxy,
  ArrayProxy,
  QueueProxy,
  JoinableQueueProxy,
  LockProxy,
  SemaphoreProxy,
  EventProxy,
  ConditionProxy,
  BarrierProxy,
  AutoProxy,
  PoolProxy,
  AsyncResultProxy,
  type Key,
  type Remote,
  type Authkey,
  type ManagerStartOptions,
  type ServeOptions,
  type ConnectOptions,
  type RegisterOptions,
  type ManagerStats,
  type ProxyWaitOptions,
} from './multiprocessing/managers.js';
export {
  Pool,
  AsyncResult,
  WorkerLostError,
  AbortError,
  type PoolOptions,
  type CallOptions,
  type ApplyOptions,
  type MapOptions,
  type PoolStats,
  type WorkerStats,
  type TaskResult,
  type PoolEvents,
  type TaskEvent,
  type WorkerEvent,
  type TimeSummary,
} from './multiprocessing/pool.js';
export type { ProcessEvents } from './multiprocessing/pool_events.js';
