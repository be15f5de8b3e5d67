/**
 * What every weft child does, process or worker thread (CPython's
 * `spawn_main`), run by the child's entry file (`spawn_main.ts`). A child
 * boots (Node, then weft) before it has work; then a process child receives
 * its {@link Preparation} and its shared objects' fds over the socket on fd 3
 * (SCM_RIGHTS), and a worker thread receives both in one message, with fds
 * dup'd for it by its starter.
 * @module
 */
import { constants } from 'node:os';
import { lazy } from '../lazy.js';
import { native } from '../native.js';
import { ledger } from './ledger.js';
import { SharedBlock } from './shared_memory.js';
import { mainEntry } from '../layout.js';
import { runChild, unpackHanded, type Handed } from './spawn.js';
import { importModule } from './task.js';
import { adoptChain } from './thread_stop.js';
import { isMainThread } from './util.js';

/** The starter's environment as of `start()`, not as of when this child booted. */
function adoptEnvironment(env: NodeJS.ProcessEnv): void {
  for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
  Object.assign(process.env, env);
}

/**
 * Boots this child: waits for its work, then runs it to the end (the process
 * or thread exits there). `atExit` runs as a child that took work exits
 * (weft's loader passes one that writes a warm code cache, scripts/bundle.mjs).
 */
export async function bootChild(atExit?: () => void): Promise<void> {
  // A task's module imports 'weft': load that entry now, while there is no work
  // yet, rather than after the work came (about 1 ms of a start).
  const preloaded = importModule(mainEntry.href);
  if (isMainThread) {
    await preloaded;
    // Die with the parent, SIGKILL included (prctl PR_SET_PDEATHSIG); if it is
    // already gone, the check after closes the race.
    native.setParentDeathSignal(constants.signals.SIGKILL);
    if (String(process.ppid) !== process.env.WEFT_PARENT_PID) process.exit(1);
    // Booted: wait (blocking, nothing else to do) for the work and its fds.
    const got = native.recvFds(3);
    native.fdClose(3);
    if (typeof got === 'number' || got.length === 0) process.exit(0); // the parent let this spare go
    if (atExit) process.once('exit', atExit);
    const [prepFd, ...fds] = got;
    const block = SharedBlock.adopt(prepFd!);
    const length = new DataView(block.buffer).getUint32(0, true);
    const { prep, env, cwd } = unpackHanded(new Uint8Array(block.buffer, 4, length));
    block.close();
    adoptEnvironment(env);
    try {
      process.chdir(cwd);
    } catch {
      // the parent's directory is gone: stay where we are, as a forked child would
    }
    await runChild(prep, fds);
  } else {
    const { parentPort, workerData } = lazy.workerThreads;
    const data = workerData as { ledger: SharedArrayBuffer; tid: SharedArrayBuffer; chain: SharedArrayBuffer[] };
    ledger.attach(data.ledger);
    adoptChain(data.chain);
    const tid = new Int32Array(data.tid);
    Atomics.store(tid, 0, native.gettid());
    Atomics.notify(tid, 0);
    parentPort!.once('message', (work: Handed & { fds: number[] }) => {
      if (atExit) process.once('exit', atExit);
      adoptEnvironment(work.env);
      void preloaded.then(() => runChild(work.prep, work.fds));
    });
  }
}
