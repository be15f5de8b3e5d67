/**
 * weft: Python's `multiprocessing` for TypeScript — processes and worker
 * threads behind one API, with queues, pipes, locks and shared values in
 * shared memory. Re-exports only; see each module for the details.
 * @module
 */
export { task, isMainModule, type TaskFunction, type TaskRef } from './multiprocessing/task.js';
export {
  Process,
  type ProcessOptions,
  currentProcess,
  parentProcess,
  activeChildren,
  cpuCount,
  type CurrentProcess,
  type ParentProcess,
} from './multiprocessing/process.js';
export { getContext, BaseContext, type ContextName } from './multiprocessing/context.js';
export { UnsendableError } from './multiprocessing/reduction.js';
export {
  OSError,
  BlockingIOError,
  BrokenPipeError,
  ConnectionError,
  ConnectionResetError,
  TimeoutError,
  ValueError,
  KeyError,
  EOFError,
  Empty,
  Full,
} from './errors.js';
export { Queue, JoinableQueue, SimpleQueue, type QueueOptions, type WaitOptions } from './multiprocessing/queues.js';
export { Pipe, Connection, type PipeOptions } from './multiprocessing/connection.js';
