/**
 * Start method `thread`: a worker thread running `spawn_main.js` (no CPython
 * twin; it plays the role of a `popen_*` module). Shared objects' fds are
 * process-wide, so the worker gets its own copies (dup'd here) listed in a
 * ledger; when the worker ends — normally, by an error or by `terminate()` —
 * the starter closes whatever the ledger still lists, which is what the kernel
 * does for a dead process.
 * @module
 */
import type { Worker } from 'node:worker_threads';
import { check } from '../errors.js';
import { lazy } from '../lazy.js';
import { ADDON_ENV, addonFile, native } from '../native.js';
import { Spares, type Life } from './boot_ahead.js';
import { ledgerAdd, leftovers, newLedgerBuffer } from './ledger.js';
import { childMain } from '../layout.js';
import { needsOwnBoot, type ChildOptions, type Popen, type StartRequest } from './popen.js';
import { childExecArgv } from './popen_spawn.js';
import { childChain, childEnded, settleBeforeExit, stopWhenSafe } from './thread_stop.js';

const SIGTERM = 15;
const SIGKILL = 9;

/**
 * The parent's options a worker thread may take: module loading and warnings.
 * Node refuses process-wide ones in a worker (`--max-old-space-size`,
 * `--expose-gc`, … : ERR_WORKER_INVALID_EXEC_ARGV); the heap limit is passed
 * as a resource limit instead.
 */
function workerExecArgv(): string[] {
  const withValue = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--conditions', '-C']);
  const alone = /^(--enable-source-maps|--no-warnings|--no-deprecation|--experimental-[\w-]+)$/;
  const args = childExecArgv();
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const flag = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    if (withValue.has(flag)) {
      out.push(arg);
      if (!arg.includes('=') && i + 1 < args.length) out.push(args[++i]!);
    } else if (alone.test(flag)) {
      out.push(arg);
    }
  }
  return out;
}

const nodeMajor = Number(process.versions.node.split('.')[0]);
/** This thread's heap limit in MiB, read at its first thread start (node:v8 is lazy: lazy.ts). */
let heapLimitMb: number | undefined;

/** A worker thread booted ahead of need, waiting for its work message. */
interface Spare {
  worker: Worker;
  ledger: SharedArrayBuffer;
  tid: Int32Array;
  /** Counts the evaluations under way in it and below it (thread_stop.ts). */
  word: Int32Array;
  exitCode: number | null;
  /** 15 or 9 once terminate() or kill() stopped it: reported as -signal. */
  stoppedBy: number;
  exited: Promise<number>;
  /** Its life since its work was handed over; null while it waits. */
  life: Life | null;
}

/** Every worker thread started here that has not exited, spares included. */
const live = new Set<Spare>();

/** Ends a worker thread, once nothing is being evaluated in it or below it (thread_stop.ts says why). */
function stop(s: Spare): void {
  stopWhenSafe(s.word, () => void s.worker.terminate());
}

const spares = new Spares<Spare>(() => bootSpare(), stop);

// Node terminates this thread's worker threads as it exits (a program's end,
// process.exit): let their evaluations finish first.
process.on('exit', () => settleBeforeExit([...live].map((s) => s.word)));

/**
 * Boots a worker: a spare like every other, or one for `custom` options
 * (popen.ts's `needsOwnBoot`), which nobody else is offered.
 */
function bootSpare(custom?: ChildOptions): Spare {
  const ledgerBuffer = newLedgerBuffer();
  const tid = new SharedArrayBuffer(4);
  const { word, buffers: chain } = childChain();
  const piped = (custom?.stdio ?? 'inherit') !== 'inherit';
  heapLimitMb ??= Math.floor(lazy.v8.getHeapStatistics().heap_size_limit / 2 ** 20);
  const worker = new lazy.workerThreads.Worker(childMain, {
    workerData: { ledger: ledgerBuffer, tid, chain },
    // Node's default (a copy of this thread's environment), plus the addon's file (native.ts says why).
    env: { ...process.env, [ADDON_ENV]: addonFile },
    execArgv: [...workerExecArgv(), ...(custom?.execArgv ?? [])],
    argv: custom?.argv ?? [],
    stdin: false,
    stdout: piped,
    stderr: piped,
    // With an explicit heap limit, a worker that runs out of memory is stopped
    // alone (ERR_WORKER_OUT_OF_MEMORY, exit code 1); without one, V8 aborts the
    // whole process. The limit is the starter's own unless the caller set one.
    resourceLimits: { maxOldGenerationSizeMb: heapLimitMb, ...custom?.resourceLimits },
    ...(custom?.title !== undefined && { name: custom.title }),
  });
  if (custom?.stdio === 'ignore') {
    worker.stdout.resume();
    worker.stderr.resume();
  }
  worker.unref();
  let settle: (code: number) => void = () => {};
  const s: Spare = {
    worker,
    ledger: ledgerBuffer,
    tid: new Int32Array(tid),
    word,
    exitCode: null,
    stoppedBy: 0,
    exited: new Promise((r) => (settle = r)),
    life: null,
  };
  worker.on('error', () => {
    // An uncaught error escaping spawn_main's own handler; 'exit' follows with code 1.
  });
  live.add(s);
  worker.on('exit', (code) => {
    live.delete(s);
    childEnded(word);
    for (const fd of leftovers(ledgerBuffer)) native.fdClose(fd);
    s.exitCode = s.stoppedBy ? -s.stoppedBy : code;
    spares.forget(s);
    settle(s.exitCode);
    if (s.life) spares.ended(s.life);
  });
  return s;
}

/**
 * Throws when a worker thread could not import the module at `url`: Node 20
 * applies no module loader hooks (tsx's) inside worker threads, so a `.ts`
 * file would fail there with Node's bare ERR_UNKNOWN_FILE_EXTENSION.
 */
export function checkThreadImport(url: string): void {
  if (nodeMajor < 22 && /\.[mc]?ts$/.test(url)) {
    throw new Error(
      `a worker thread cannot import ${url}: Node ${process.versions.node} worker threads cannot load ` +
        "TypeScript through a loader (Node 22 can), so use getContext('process') or run the compiled JavaScript",
    );
  }
}

/**
 * Starts a worker thread: hands the work to the worker booted ahead (Node's
 * worker start-up and weft's import already done) and boots the next one in
 * the background. An unused spare is let go after a few idle seconds.
 */
export function startThread({ prep, fds, daemon, options }: StartRequest): Popen {
  checkThreadImport(childMain.href);
  checkThreadImport(prep.task.url);
  const own = needsOwnBoot(options);
  let s = own ? null : spares.take() ?? null;
  if (!s || s.exitCode !== null) s = bootSpare(own ? options : undefined);
  // The worker's own copies of the fds, made now (the starter may close its
  // copies as soon as start() returns), in its ledger from the outset.
  const ownFds = fds.map((fd) => check(native.fdDup(fd)));
  for (const fd of ownFds) ledgerAdd(s.ledger, fd);
  s.worker.postMessage({ prep, fds: ownFds, env: { ...(options.env ?? process.env) }, cwd: process.cwd() });
  if (!daemon) s.worker.ref();
  s.life = spares.started();
  const owned = s;
  const end = (signal: number) => {
    if (owned.exitCode !== null || owned.stoppedBy) return;
    owned.stoppedBy = signal;
    stop(owned);
  };
  return {
    get pid() {
      // The tid is published by the thread as its first act; wait for it.
      if (Atomics.load(owned.tid, 0) === 0) Atomics.wait(owned.tid, 0, 0, 10_000);
      return Atomics.load(owned.tid, 0);
    },
    get knownPid() {
      return Atomics.load(owned.tid, 0);
    },
    get exitCode() {
      return owned.exitCode;
    },
    exited: owned.exited,
    terminate: () => end(SIGTERM),
    kill: () => end(SIGKILL),
    unref: () => owned.worker.unref(),
    stdout: options.stdio === 'pipe' ? owned.worker.stdout : null,
    stderr: options.stdio === 'pipe' ? owned.worker.stderr : null,
  };
}
