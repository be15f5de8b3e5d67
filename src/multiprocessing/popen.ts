/**
 * The one interface both start methods implement (CPython keeps one
 * `popen_*.py` per start method behind the same methods; `context.ts` picks).
 * @module
 */
import type { Preparation } from './spawn.js';

/** A started child, process or thread. */
export interface Popen {
  /** The child's id: its pid, or a worker thread's kernel tid (may wait a moment for the thread to start). */
  readonly pid: number;
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
}

/** What a start method needs: the preparation and the parent-side fds to hand over. */
export interface StartRequest {
  prep: Preparation;
  fds: number[];
  daemon: boolean;
}

/** A start method. */
export type StartMethod = (request: StartRequest) => Popen;
