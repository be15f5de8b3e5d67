/**
 * Start method `thread`: a worker thread running `spawn_main.js` (no CPython
 * twin; it plays the role of a `popen_*` module). Shared objects' fds are
 * process-wide, so the worker gets its own copies (dup'd here) listed in a
 * ledger; when the worker ends — normally, by an error or by `terminate()` —
 * the starter closes whatever the ledger still lists, which is what the kernel
 * does for a dead process.
 * @module
 */
import { Worker } from 'node:worker_threads';
import { check } from '../errors.js';
import { native } from '../native.js';
import { leftovers, newLedgerBuffer } from './ledger.js';
import { childMain, type Popen, type StartRequest } from './popen.js';
import { childExecArgv } from './popen_spawn.js';


const SIGTERM = 15;
const SIGKILL = 9;

const nodeMajor = Number(process.versions.node.split('.')[0]);

/** Starts a worker thread. */
export function startThread({ prep, fds, daemon }: StartRequest): Popen {
  if (nodeMajor < 22 && [childMain.href, prep.task.url].some((url) => /\.[mc]?ts$/.test(url))) {
    // Node 20 does not apply module loader hooks (tsx's) inside worker threads.
    throw new Error(
      `cannot start a worker thread for ${prep.task.url}: Node ${process.versions.node} worker threads cannot load ` +
        "TypeScript through a loader (Node 22 can). Use getContext('process'), or run the compiled JavaScript.",
    );
  }
  // The worker's own copies of the fds, made now: the starter may close its
  // copies as soon as start() returns. They are in the ledger from the outset.
  const ledgerBuffer = newLedgerBuffer();
  const own = fds.map((fd) => check(native.fdDup(fd)));
  new Int32Array(ledgerBuffer).set(own.map((fd) => fd + 1));
  const tid = new SharedArrayBuffer(4);
  const worker = new Worker(childMain, {
    workerData: { prep, fds: own, ledger: ledgerBuffer, tid },
    execArgv: childExecArgv(),
    stdin: false,
  });
  let exitCode: number | null = null;
  let stoppedBy = 0;
  const exited = new Promise<number>((resolve) => {
    worker.on('error', () => {
      // An uncaught error escaping spawn_main's own handler; 'exit' follows with code 1.
    });
    worker.on('exit', (code) => {
      for (const fd of leftovers(ledgerBuffer)) native.fdClose(fd);
      exitCode = stoppedBy ? -stoppedBy : code;
      resolve(exitCode);
    });
  });
  const stop = (signal: number) => {
    if (exitCode !== null || stoppedBy) return;
    stoppedBy = signal;
    void worker.terminate();
  };
  const popen: Popen = {
    get pid() {
      const view = new Int32Array(tid);
      // The tid is published by the thread as its first act; wait for it.
      if (Atomics.load(view, 0) === 0) Atomics.wait(view, 0, 0, 10_000);
      return Atomics.load(view, 0);
    },
    get exitCode() {
      return exitCode;
    },
    exited,
    terminate: () => stop(SIGTERM),
    kill: () => stop(SIGKILL),
    unref: () => worker.unref(),
  };
  if (daemon) popen.unref();
  return popen;
}
