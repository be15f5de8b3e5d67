// Helpers shared by the suites: run a script in a fresh node and capture its output.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Laid over this process's environment; a variable set to `undefined` is removed. */
  env?: Record<string, string | undefined>;
  /** Seconds before it is killed and the promise rejects (default 30). */
  timeout?: number;
  input?: string;
  cwd?: string;
}

/** Runs `node [args]` with a time limit; resolves with its exit status and output. */
export function runNode(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runProgram(process.execPath, args, options);
}

/** Runs `command [args]` with a time limit; resolves with its exit status and output. */
export function runProgram(command: string, args: string[], { env = {}, timeout = 30, input, cwd }: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command === process.execPath ? 'node' : command} ${args.join(' ')} ran past ${timeout} s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeout * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A child that exits without reading its input closes the pipe first: EPIPE here is no failure of the run.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Number of fds this process has open. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** True when `pid` names a running process (a zombie left unreaped counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Resolves once `check()` is true, or rejects after `seconds`. */
export async function eventually(check: () => boolean, seconds: number, what: string): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (seconds: number) => new Promise<void>((r) => setTimeout(r, seconds * 1000));
