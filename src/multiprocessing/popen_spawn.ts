/**
 * Start method `process`: a fresh Node.js process running `spawn_main.js`, the
 * twin of CPython's `popen_spawn_posix.py`. The preparation goes down a pipe on
 * fd 3; each shared object's fd is placed in a stdio slot from fd 4 on, so
 * nothing but the intended fds crosses (weft's own fds are close-on-exec).
 * The child inherits `execArgv`, so a loader such as tsx applies there too.
 * @module
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import v8 from 'node:v8';
import type { Popen, StartRequest } from './popen.js';

const mainScript = new URL('./spawn_main.js', import.meta.url);

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}

/** Starts a child process. */
export function startProcess({ prep, fds, daemon }: StartRequest): Popen {
  const child = spawn(process.execPath, [...process.execArgv, mainScript.pathname], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe', ...fds],
    env: process.env,
  });
  if (child.pid === undefined) {
    // spawn reports ENOENT/EAGAIN asynchronously; the pid is missing at once.
    throw new Error(`could not start a process for ${prep.name}`);
  }
  const control = child.stdio[3] as NodeJS.WritableStream & { unref?: () => void };
  control.on('error', () => {
    // The child died before reading its preparation; its exit code tells the story.
  });
  control.end(v8.serialize({ prep, fdCount: fds.length, parentPid: process.pid }));

  let exitCode: number | null = null;
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? -signalNumber(signal!);
      resolve(exitCode);
    });
  });
  const pid = child.pid;
  const popen: Popen = {
    pid,
    get exitCode() {
      return exitCode;
    },
    exited,
    terminate: () => void (exitCode === null && child.kill('SIGTERM')),
    kill: () => void (exitCode === null && child.kill('SIGKILL')),
    unref: () => {
      child.unref();
      control.unref?.();
    },
  };
  if (daemon) popen.unref();
  return popen;
}
