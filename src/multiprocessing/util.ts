/**
 * Small facts about the running realm, the twin of CPython's
 * `multiprocessing/util.py`.
 * @module
 */
import { isMainThread } from 'node:worker_threads';
import { native } from '../native.js';

/**
 * This realm's id: the kernel id of the thread running it — the pid in a
 * process's main thread, a unique tid in a worker thread. Lock owners are
 * recorded by it, and `native.isAlive(id)` tells whether they still run.
 */
export const selfId: number = isMainThread ? process.pid : native.gettid();

/** True when `id` names a live process or thread. */
export function isAlive(id: number): boolean {
  return native.isAlive(id);
}
