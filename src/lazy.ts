/**
 * Node built-ins that weft needs only on some paths — a Manager's handshake
 * and server, starting a process or a thread, printing a child's error,
 * structured-clone data — loaded at their first use. Every child process and
 * worker thread imports weft before it runs anything; `crypto`, `net` and
 * `child_process` bring dozens of Node's internal modules with them, and an
 * ESM import of `node:util` evaluates every lazy export it has (`parseArgs`,
 * `MIMEType`, …): together about 5 ms of a worker thread's boot here.
 * `node:v8` and `node:worker_threads` each load Node's streams (~3 ms of a
 * process's boot apiece, ~5 together), which a process child that only puts
 * plain data on a queue never needs. Types come from `import type`, free at run time.
 * @module
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type Builtins = {
  crypto: typeof import('node:crypto');
  net: typeof import('node:net');
  childProcess: typeof import('node:child_process');
  util: typeof import('node:util');
  v8: typeof import('node:v8');
  workerThreads: typeof import('node:worker_threads');
};

const names: Record<keyof Builtins, string> = {
  crypto: 'node:crypto',
  net: 'node:net',
  childProcess: 'node:child_process',
  util: 'node:util',
  v8: 'node:v8',
  workerThreads: 'node:worker_threads',
};

const loaded: Partial<Builtins> = {};

/** `lazy.crypto`, `lazy.net`, `lazy.childProcess`, `lazy.util`, `lazy.v8`, `lazy.workerThreads`: each module loaded when first read. */
export const lazy = new Proxy(loaded as Builtins, {
  get: (_, key: keyof Builtins) => (loaded[key] ??= require(names[key])),
});
