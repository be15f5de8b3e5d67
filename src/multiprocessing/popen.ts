/**
 * The one interface both start methods implement (CPython keeps one
 * `popen_*.py` per start method behind the same methods; `context.ts` picks).
 * @module
 */
import type { Readable } from 'node:stream';
import type { ResourceLimits } from 'node:worker_threads';
import type { StdioMode } from './process.js';
import type { Preparation } from './spawn.js';


/**
 * How a child is started when it is not a plain one. Any of `execArgv`, `argv`,
 * `stdio`, `resourceLimits` and `title` makes the start method boot a child of
 * its own for it instead of taking the one booted ahead (whose Node was
 * started with the parent's options); `env` and `cwd` are handed over with the
 * work, so they cost nothing, except that a process child whose variables
 * read by Node as it starts (`NODE_OPTIONS`, `NODE_EXTRA_CA_CERTS`…) differ from
 * the parent's is booted with them (popen_spawn.ts's `startupEnv`).
 */
export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  execArgv?: string[];
  argv?: string[];
  stdio?: StdioMode;
  resourceLimits?: ResourceLimits;
  title?: string;
}

/** Whether `options` need a child booted for them (see {@link ChildOptions}). */
export function needsOwnBoot(options: ChildOptions): boolean {
  return options.execArgv !== undefined || options.argv !== undefined || (options.stdio ?? 'inherit') !== 'inherit' ||
    options.resourceLimits !== undefined || options.title !== undefined;
}

/** A started child, process or thread. */
export interface Popen {
  /** The child's id: its pid, or a worker thread's kernel tid (may wait a moment for the thread to start). */
  readonly pid: number;
  /** The child's id if it is known already, else 0: never waits (a worker thread publishes its tid as it boots). */
  readonly knownPid: number;
  /** null while running; then 0, a positive exit status, or -signal. */
  readonly exitCode: number | null;
  /** Resolves with the exit code once the child ended. */
  readonly exited: Promise<number>;
  /** SIGTERM (a worker thread: stopped, reported as -15). */
  terminate(): void;
  /** SIGKILL (a worker thread: stopped, reported as -9). */
  kill(): void;
  /** Stop keeping the parent's event loop alive for this child (daemons). */
  unref(): void;
  /** The child's output with `stdio: 'pipe'`; null otherwise. */
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
}

/** What a start method needs: the preparation and the parent-side fds to hand over. */
export interface StartRequest {
  prep: Preparation;
  fds: number[];
  daemon: boolean;
  options: ChildOptions;
}

/** A start method. */
export type StartMethod = (request: StartRequest) => Popen;
