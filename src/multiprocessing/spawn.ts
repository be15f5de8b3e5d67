/**
 * What a parent hands a child and what the child does with it — the twin of
 * CPython's `multiprocessing/spawn.py`. The parent serialises a
 * {@link Preparation} (the task reference, the pickled-in-spirit args and the
 * fds of the shared objects among them); the child imports the task's module,
 * rebuilds the args, runs the target, flushes its queues and exits with
 * Python's codes: 0, 1 when the target (or an error nothing caught) threw, or what
 * it passed to `process.exit` or set as `process.exitCode`.
 * @module
 */
import { lazy } from '../lazy.js';
import { loads } from './reduction.js';
import { loadTask, markChild, type TaskRef } from './task.js';
import { flushAll } from './util.js';
import { setChildState, setBootstrapping } from './process.js';

/** Everything a child needs to run its target. */
export interface Preparation {
  task: TaskRef;
  /** `dumps(args, 'args', channel)`. */
  args: Uint8Array;
  name: string;
  daemon: boolean;
  identity: number[];
  parentPid: number;
  parentName: string;
  authkey: Uint8Array;
  context: 'process' | 'thread';
  /** The child's `process.title` (a process child only: a thread would rename its whole process). */
  title?: string | undefined;
}

/** Runs a child to completion; `fds` are the child's own fds for the shared objects. */
export async function runChild(prep: Preparation, fds: number[]): Promise<void> {
  markChild();
  setChildState(prep);
  if (prep.title !== undefined && prep.context === 'process') process.title = prep.title;
  // An error nothing catches (thrown by a timer, a promise nobody awaits), during the
  // target or after it returned: reported as the target's own error is, exit code 1.
  // Where the task added a handler of its own, that one decides instead.
  process.on('uncaughtException', (err) => {
    if (process.listenerCount('uncaughtException') > 1) return;
    process.stderr.write(`Process ${prep.name}:\n${lazy.util.inspect(err)}\n`);
    process.exit(1);
  });
  let code = 0;
  try {
    setBootstrapping(true);
    let target;
    try {
      target = await loadTask(prep.task);
    } finally {
      setBootstrapping(false);
    }
    const args = loads(prep.args, fds) as unknown[];
    await target(...args);
  } catch (err) {
    process.stderr.write(`Process ${prep.name}:\n${lazy.util.inspect(err)}\n`);
    code = 1;
  }
  try {
    await flushAll();
  } catch (err) {
    process.stderr.write(`Process ${prep.name}: while flushing queues at exit:\n${lazy.util.inspect(err)}\n`);
    code ||= 1;
  }
  if (code !== 0) process.exit(code);
  // The target returned: the child ends as a Node program does, once nothing is left to
  // run (Python's process joins its non-daemon threads), so timers the target started
  // still fire, and the exit code is `process.exitCode` (Python's `sys.exit(20)`).
}
