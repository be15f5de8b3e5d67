/**
 * The one loader of weft's native addon (`build/Release/weft.node`, built by
 * `npm ci` through node-gyp). Everything platform-specific lives behind this
 * typed surface; the rest of weft never touches `process.platform`.
 *
 * Conventions: functions that can fail return `-errno` (a negative number) and
 * callers turn it into Python's exception through `errors.ts`.
 * @module
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { addonPath } from './layout.js';

/** The load engine of native/load.cc (opaque). */
export interface LoadEngine {
  readonly __loadEngine: unique symbol;
}

/** Typed surface of `weft.node`. Internal: not re-exported. */
export interface NativeAddon {
  // shm.cc
  shmCreate(size: number): number;
  shmMap(fd: number): SharedArrayBuffer | number;
  fdDup(fd: number): number;
  fdClose(fd: number): number;
  // futex.cc: the word is `view[index]`, `view` an Int32Array over a SharedArrayBuffer
  futexWait(view: Int32Array, index: number, expected: number, timeoutSeconds: number): number;
  futexWake(view: Int32Array, index: number, count: number): number;
  futexWaitAsync(
    view: Int32Array,
    index: number,
    expected: number,
    timeoutSeconds: number,
    callback: (result: number) => void,
  ): void;
  // proc.cc
  gettid(): number;
  schedYield(): void;
  isAlive(id: number): boolean;
  setParentDeathSignal(signal: number): number;
  socketPair(): [number, number] | number;
  peerClosed(fd: number): boolean;
  sendFds(socket: number, fds: number[]): number;
  recvFds(socket: number): number[] | number;
  // continuation.cc: absent when the running node has no accessor weft knows
  getContinuationData?: () => unknown;
  setContinuationData?: (value: unknown) => void;
  // load.cc (weft load's engine)
  loadCreate(fds: Int32Array, size: number, depth: number, rate: number): LoadEngine | number;
  /** Runs the load for `seconds`: [messages completed, their latencies in µs, errors so far]. */
  loadRun(engine: LoadEngine, seconds: number, measuring: boolean): [Float64Array, number];
  loadErrors(engine: LoadEngine): Record<string, number>;
  loadClose(engine: LoadEngine): void;
  // socket.cc and select.cc add their functions here.
  [name: string]: unknown;
}

const require = createRequire(import.meta.url);

function load(): NativeAddon {
  if (process.platform !== 'linux') {
    throw new Error(`weft needs Linux (memfd, futex, epoll); this is ${process.platform}`);
  }
  try {
    return require(fileURLToPath(addonPath)) as NativeAddon;
  } catch (err) {
    throw new Error(
      'weft: the native addon is not built (build/Release/weft.node). Run `npm ci` or `npm run build:native` ' +
        '(needs g++, make and python3).',
      { cause: err },
    );
  }
}

/** The loaded addon, shared by every module of this realm. */
export const native: NativeAddon = load();
