/**
 * Start method `process`: a fresh Node.js process running `spawn_main.js`, the
 * twin of CPython's `popen_spawn_posix.py`. The preparation goes down a pipe on
 * fd 3; each shared object's fd is placed in a stdio slot from fd 4 on, so
 * nothing but the intended fds crosses (weft's own fds are close-on-exec).
 * The child inherits the parent's loader options (`--import tsx`), so a task
 * declared in a `.ts` file runs there too.
 * @module
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import v8 from 'node:v8';
import { childMain, type Popen, type StartRequest } from './popen.js';


/**
 * The parent's Node options a child should share — loaders (`--import tsx`),
 * conditions, memory limits, warnings — without those that name what to run
 * or how to run it once (`-e`, `-p`, `--test`, `--watch`, `--inspect`):
 * CPython's `_args_from_interpreter_flags`. Passing `-e` on would make every
 * child run the parent's script again.
 */
export function childExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const takesValue = new Set(['-e', '--eval', '-p', '--print', '--input-type', '--test-reporter',
    '--test-reporter-destination', '--test-name-pattern', '--test-skip-pattern', '--test-concurrency',
    '--test-timeout', '--test-shard', '--watch-path', '--inspect-port', '--debug-port']);
  const alone = /^(-c|--check|-i|--interactive|--test(-.*)?|--watch(-.*)?|--inspect(-.*)?|--debug(-.*)?)$/;
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (takesValue.has(flag)) {
      if (eq < 0) i++; // the value is the next argument
      continue;
    }
    if (!alone.test(flag)) out.push(arg);
  }
  return out;
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}

/** Starts a child process. */
export function startProcess({ prep, fds, daemon }: StartRequest): Popen {
  const child = spawn(process.execPath, [...childExecArgv(), childMain.pathname], {
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
