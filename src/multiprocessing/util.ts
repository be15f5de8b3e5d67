/**
 * Small facts about the running realm, the twin of CPython's
 * `multiprocessing/util.py`.
 * @module
 */
import { native } from '../native.js';

/**
 * This realm's id: the kernel id of the thread running it — the pid in a
 * process's main thread, a unique tid in a worker thread. Lock owners are
 * recorded by it, and `native.isAlive(id)` tells whether they still run.
 */
export const selfId: number = native.gettid();

/**
 * Node's `isMainThread`, read without loading `node:worker_threads` (and with
 * it Node's streams: lazy.ts): Node runs the main thread's JavaScript on the
 * process's first thread, whose kernel id is the pid.
 */
export const isMainThread: boolean = selfId === process.pid;

/** True when `id` names a live process or thread. */
export function isAlive(id: number): boolean {
  return native.isAlive(id);
}

const flushers = new Set<() => Promise<void>>();

/**
 * Registers work a child must finish before it exits, like the feeder threads
 * CPython joins at exit (`util._exit_function`): a queue's locally buffered
 * messages. Returns a function that unregisters it.
 */
export function registerFlush(flush: () => Promise<void>): () => void {
  flushers.add(flush);
  return () => flushers.delete(flush);
}

/** Runs every registered flush; called by a child after its target returns. */
export async function flushAll(): Promise<void> {
  await Promise.all([...flushers].map((flush) => flush()));
}
