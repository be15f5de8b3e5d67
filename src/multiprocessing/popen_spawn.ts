/**
 * Start method `process`: a Node.js process running `spawn_main.js`, the twin
 * of CPython's `popen_spawn_posix.py` (with a touch of `popen_forkserver.py`:
 * the child is booted ahead of need). The preparation and the shared objects'
 * fds reach it over a Unix socket on its fd 3 as SCM_RIGHTS, so nothing but
 * the intended fds crosses (weft's own fds are close-on-exec).
 * The child inherits the parent's loader options (`--import tsx`), so a task
 * declared in a `.ts` file runs there too.
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { check } from '../errors.js';
import { childMain } from '../layout.js';
import { lazy } from '../lazy.js';
import { ADDON_ENV, addonFile, native } from '../native.js';
import { SharedBlock } from './shared_memory.js';
import { Spares, type Life } from './boot_ahead.js';
import { needsOwnBoot, type ChildOptions, type Popen, type StartRequest } from './popen.js';
import { packHanded } from './spawn.js';


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

/** A child process booted ahead of need, blocked reading its work from fd 3. */
interface Spare {
  child: ChildProcess;
  /** Our end of the socket pair whose other end is the child's fd 3; -1 once the child has booted or is gone. */
  socket: number;
  /** Ends the watch on a child handed its work until it has booted ({@link booted}); null when there is none. */
  booting: (() => void) | null;
  exitCode: number | null;
  exited: Promise<number>;
  /** Its life since its work was handed over; null while it waits. */
  life: Life | null;
  /** The variables its Node read as it started ({@link startupEnv}). */
  startupEnv: string;
}

/**
 * The variables of `env` that Node reads as it starts, as one string to
 * compare: `NODE_OPTIONS`, `NODE_EXTRA_CA_CERTS`, `NODE_PATH`, `UV_THREADPOOL_SIZE`,
 * `OPENSSL_CONF`, `SSL_CERT_FILE`… A child booted ahead was started with the
 * parent's environment of that moment and takes the rest of its environment
 * with its work (child.ts), which is too late for these: a start whose
 * environment differs here needs a child booted with it.
 */
export function startupEnv(env: NodeJS.ProcessEnv): string {
  return Object.keys(env)
    .filter((k) => /^(NODE_|UV_|OPENSSL_|SSL_CERT_)/.test(k))
    .sort()
    .map((k) => `${k}=${env[k]}`)
    .join('\0');
}

const spares = new Spares<Spare>(() => spawnSpare(), discard);

/**
 * Boots a child: a spare like every other (the parent's loader options and
 * environment, stdout and stderr inherited), or one for `custom` options
 * (popen.ts's `needsOwnBoot`), which nobody else is offered.
 */
function spawnSpare(custom?: ChildOptions): Spare {
  const pair = native.socketPair();
  if (typeof pair === 'number') check(pair);
  const [mine, theirs] = pair as [number, number];
  const out = custom?.stdio ?? 'inherit';
  const env = custom?.env ?? process.env;
  let child: ChildProcess;
  try {
    child = lazy.childProcess.spawn(process.execPath, [...childExecArgv(), ...(custom?.execArgv ?? []), fileURLToPath(childMain), ...(custom?.argv ?? [])], {
      stdio: ['ignore', out, out, theirs],
      env: { ...env, WEFT_PARENT_PID: String(process.pid), [ADDON_ENV]: addonFile },
    });
  } finally {
    native.fdClose(theirs);
  }
  if (child.pid === undefined) {
    // spawn reports ENOENT/EAGAIN asynchronously; the pid is missing at once.
    native.fdClose(mine);
    throw new Error('could not start a child process');
  }
  child.unref();
  let settle: (code: number) => void = () => {};
  const s: Spare = {
    child, socket: mine, booting: null, exitCode: null, exited: new Promise((r) => (settle = r)), life: null,
    startupEnv: startupEnv(env),
  };
  child.on('exit', (code, signal) => {
    s.exitCode = code ?? -signalNumber(signal!);
    discard(s);
    settle(s.exitCode);
    if (s.life) spares.ended(s.life);
  });
  return s;
}

function discard(s: Spare): void {
  spares.forget(s);
  s.booting?.();
  if (s.socket >= 0) native.fdClose(s.socket);
  s.socket = -1;
  if (s.exitCode === null) s.child.kill('SIGKILL');
}

process.on('exit', () => {
  for (const s of spares.all()) discard(s);
});

/**
 * Hands the work to a booted child: the preparation in a memfd, it and the
 * shared objects' fds passed over the socket (SCM_RIGHTS). A small message,
 * so the send never blocks; false when the child is already gone.
 */
function hand(s: Spare, { prep, fds, options }: StartRequest): boolean {
  const payload = packHanded({ prep, env: { ...(options.env ?? process.env) }, cwd: options.cwd ?? process.cwd() });
  const block = SharedBlock.create(payload.length + 4);
  new DataView(block.buffer).setUint32(0, payload.length, true);
  new Uint8Array(block.buffer, 4, payload.length).set(payload);
  const result = native.sendFds(s.socket, [block.fd, ...fds]);
  block.close();
  return result === 0;
}

/** The first and the longest pause between two looks at a booting child. */
const BOOT_POLL_MS = { first: 1, longest: 64 };

/**
 * Settles when the child has booted: it takes its work and closes its end of
 * the socket as soon as it is booted (child.ts), and nothing is ever written
 * back, so our end reads EOF then; or when the child is gone ({@link discard}).
 * Our end is closed at that point. A poll, for lack of an event (libuv would
 * have to own the fd), with pauses that double: a child booted ahead settles
 * at the first or second look, and each of the hundred children of a burst,
 * which may boot for seconds, is looked at some 16 times a second, not 500.
 * In bursts of 50 starts, pauses of at most 32 ms added ~1.2 ms of the
 * starter's CPU per start; at most 64 ms, nothing above the noise (the
 * starter's CPU for the 50: 676 ms, 670 without the watch; 3 runs each).
 */
function booted(s: Spare): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let pause = BOOT_POLL_MS.first;
    const done = () => {
      clearTimeout(timer);
      s.booting = null;
      if (s.socket >= 0) native.fdClose(s.socket);
      s.socket = -1;
      resolve();
    };
    const look = () => {
      if (native.peerClosed(s.socket)) return done();
      timer = setTimeout(look, pause).unref();
      pause = Math.min(pause * 2, BOOT_POLL_MS.longest);
    };
    s.booting = done;
    look();
  });
}

/**
 * Starts a child process. Like Python's forkserver, weft keeps one child
 * booted ahead (node started, weft loaded): `start()` hands it the work and,
 * once the children started have booted, boots the next one in the background
 * (boot_ahead.ts), so a start costs the import of the task's module rather
 * than a whole Node start-up. An unused spare is let go
 * after a few idle seconds; it dies with its parent like any child.
 */
export function startProcess(request: StartRequest): Popen {
  // A title is set by the child itself (spawn.ts): a spare can take it.
  const current = startupEnv(process.env);
  const wanted = request.options.env ? startupEnv(request.options.env) : current;
  const own = needsOwnBoot({ ...request.options, title: undefined }) || wanted !== current;
  let s = own ? null : spares.take() ?? null;
  // A spare booted before the parent changed, say, its NODE_OPTIONS is let go.
  if (!s || s.exitCode !== null || s.startupEnv !== wanted || !hand(s, request)) {
    if (s) discard(s);
    s = spawnSpare(own ? request.options : undefined);
    if (!hand(s, request)) {
      discard(s);
      throw new Error(`could not start a process for ${request.prep.name}`);
    }
  }
  s.life = spares.started(booted(s));
  const child = s.child;
  const owned = s;
  const popen: Popen = {
    pid: child.pid!,
    knownPid: child.pid!,
    get exitCode() {
      return owned.exitCode;
    },
    exited: owned.exited,
    terminate: () => void (owned.exitCode === null && child.kill('SIGTERM')),
    kill: () => void (owned.exitCode === null && child.kill('SIGKILL')),
    unref: () => child.unref(),
    stdout: request.options.stdio === 'pipe' ? child.stdout : null,
    stderr: request.options.stdio === 'pipe' ? child.stderr : null,
  };
  if (!request.daemon) child.ref();
  return popen;
}
