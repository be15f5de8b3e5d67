/**
 * weft/io: Python's `socket`, `select` and `selectors` modules over the native
 * addon. Blocking calls block the calling thread, as in Python; selectors'
 * `selectAsync` waits without blocking Node's event loop.
 * @module weft/io
 */
export * from './constants.js';
export {
  socket, socketpair, fromFd, createConnection, createServer,
  type Address, type BytesLike, type CreateServerOptions,
} from './socket.js';
export { select, poll, Poll, epoll, type FileLike } from './select.js';
export {
  BaseSelector, SelectSelector, PollSelector, EpollSelector, DefaultSelector, SelectorKey, SelectorMapping,
  EVENT_READ, EVENT_WRITE, type Ready,
} from './selectors.js';
export {
  OSError, BlockingIOError, ConnectionError, ConnectionResetError, ConnectionRefusedError, ConnectionAbortedError,
  BrokenPipeError, TimeoutError, InterruptedError, FileExistsError, FileNotFoundError, gaierror, herror,
  MemoryError, OverflowError, ValueError, KeyError, RuntimeError,
} from '../errors.js';
export {
  IoUring, type IoUringAvailability, type IoUringOptions, type IoUringOp, type Completion, type CompletionCallback, type LeanCallback,
  type AncillaryData, type SendmsgOptions, type FixedFile, type RingFile,
} from './uring.js';
export { Proactor } from './proactor.js';
