/**
 * Node built-ins that weft needs only on some paths — a Manager's handshake
 * and server, starting a process, printing a child's error — loaded at their
 * first use. Every child process and worker thread imports weft before it runs
 * anything; `crypto`, `net` and `child_process` bring dozens of Node's internal
 * modules with them, and an ESM import of `node:util` evaluates every lazy
 * export it has (`parseArgs`, `MIMEType`, …): together about 5 ms of a worker
 * thread's boot here. Types come from `import type`, free at run time.
 * @module
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type Builtins = {
  crypto: typeof import('node:crypto');
  net: typeof import('node:net');
  childProcess: typeof import('node:child_process');
  util: typeof import('node:util');
};

const names: Record<keyof Builtins, string> = {
  crypto: 'node:crypto',
  net: 'node:net',
  childProcess: 'node:child_process',
  util: 'node:util',
};

const loaded: Partial<Builtins> = {};

/** `lazy.crypto`, `lazy.net`, `lazy.childProcess`, `lazy.util`: each module loaded when first read. */
export const lazy = new Proxy(loaded as Builtins, {
  get: (_, key: keyof Builtins) => (loaded[key] ??= require(names[key])),
});
