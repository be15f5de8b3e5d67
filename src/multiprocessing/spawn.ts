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

/** What a starter hands a booted child besides the fds: its work, and the starter's environment and directory as of `start()`. */
export interface Handed {
  prep: Preparation;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * A process child's {@link Handed} as bytes (they reach it in a memfd): the
 * preparation's two binaries (the args, the authkey) as they are, after the
 * rest as JSON. So the child reads its work without loading `node:v8`, which
 * `v8.serialize` would need (lazy.ts says what that costs a booting process),
 * and with a parser that is native code from the start (msgpackr, cold in a
 * fresh process, took ~1.3 ms to read it with an environment of 35
 * variables; JSON.parse ~0.1 ms). JSON keeps every
 * field as it is: strings (a lone surrogate is written as an escape), numbers,
 * booleans, and an environment of strings (process.ts's options drop its
 * undefined values and turn the rest into strings).
 */
export function packHanded({ prep, env, cwd }: Handed): Uint8Array {
  const { args, authkey, ...rest } = prep;
  const parts = [Buffer.from(JSON.stringify({ prep: rest, env, cwd })), args, authkey];
  const out = new Uint8Array(parts.reduce((n, part) => n + 4 + part.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length, true);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

/** {@link packHanded} undone; the binaries are copied out of `bytes`. */
export function unpackHanded(bytes: Uint8Array): Handed {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = view.getUint32(at, true);
    parts.push(bytes.slice(at + 4, at + 4 + length));
    at += 4 + length;
  }
  const [meta, args, authkey] = parts as [Uint8Array, Uint8Array, Uint8Array];
  const json = Buffer.from(meta.buffer, meta.byteOffset, meta.length).toString();
  const { prep, env, cwd } = JSON.parse(json) as Omit<Handed, 'prep'> & { prep: Omit<Preparation, 'args' | 'authkey'> };
  return { prep: { ...prep, args, authkey }, env, cwd };
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
