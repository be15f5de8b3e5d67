/**
 * `WEFT_DEBUG=pool,queue` (or `all`): lifecycle lines on stderr, with a
 * timestamp and the pid of the process (or tid of the thread) that writes
 * them — Node's `NODE_DEBUG` in spirit (no CPython twin; `multiprocessing`
 * has `log_to_stderr()`). A section not named costs one boolean test at each
 * place that would log.
 *
 * Sections: `pool` (workers started, exited and replaced; close, terminate,
 * a broken pool), `process` (children started and exited), `queue` (queues
 * created, received by a child and closed; a feeder started because the ring
 * was full and stopped once drained; a pipe whose other end is gone; a ring
 * lock taken over from a process that died holding it), `manager` (this
 * side: a server started, connected to, shut down; the server's side, in its
 * own pid: listening, clients connected and disconnected, a failed
 * handshake, stopping), `inspect` (the WEFT_INSPECT socket, inspect.ts),
 * `spin` (as each process or thread exits, what its waits' spins came to:
 * how many spun, were answered, lost the core or were probes, and the time
 * spent spinning; futex.ts).
 * Other sections are accepted, so a program may name those a later weft adds.
 * @module
 */
import { format } from 'node:util';
import { lazy } from './lazy.js';
import { isMainThread } from './multiprocessing/util.js';

const named = new Set((process.env.WEFT_DEBUG ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));

/** Whether `section` logs: named in WEFT_DEBUG, or `all` / `*` is. */
export function debugEnabled(section: string): boolean {
  return named.has(section) || named.has('all') || named.has('*');
}

/**
 * A logger for `section`, or null when WEFT_DEBUG does not name it (so a call
 * site pays nothing but `log?.(…)`). Lines read
 * `2026-12-06T18:40:00.123Z weft:pool 4242 worker 4250 started`.
 */
export function debugLog(section: string): ((message: string, ...args: unknown[]) => void) | null {
  if (!debugEnabled(section)) return null;
  return (message, ...args) => {
    process.stderr.write(`${new Date().toISOString()} weft:${section} ${selfTag()} ${format(message, ...args)}\n`);
  };
}

/** This process's pid; in a worker thread, `pid/thread N` (Node's threadId). */
function selfTag(): string {
  return isMainThread ? String(process.pid) : `${process.pid}/thread ${lazy.workerThreads.threadId}`;
}
