/**
 * Entry point of every weft child, process or worker thread (CPython's
 * `spawn_main`). A process child reads its {@link Preparation} from fd 3 and
 * finds its shared objects' fds in the slots after it; a worker thread gets both
 * in `workerData`, with fds dup'd for it by its starter.
 * @module
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { isMainThread, workerData } from 'node:worker_threads';
import { constants } from 'node:os';
import { check } from '../errors.js';
import { native } from '../native.js';
import { ledger } from './ledger.js';
import { runChild, type Preparation } from './spawn.js';

/** First stdio slot of a process child that carries a shared object's fd. */
export const FIRST_FD_SLOT = 4;

if (isMainThread) {
  // Die with the parent, SIGKILL included (prctl PR_SET_PDEATHSIG); if it is
  // already gone, the check after closes the race.
  native.setParentDeathSignal(constants.signals.SIGKILL);
  const { prep, fdCount, parentPid } = v8.deserialize(readFileSync(3)) as { prep: Preparation; fdCount: number; parentPid: number };
  if (process.ppid !== parentPid) process.exit(1);
  const fds: number[] = [];
  for (let i = 0; i < fdCount; i++) {
    const fd = FIRST_FD_SLOT + i;
    check(native.fdSetCloexec(fd, true));
    fds.push(fd);
  }
  await runChild(prep, fds);
} else {
  const data = workerData as { prep: Preparation; fds: number[]; ledger: SharedArrayBuffer; tid: SharedArrayBuffer };
  ledger.attach(data.ledger);
  const tid = new Int32Array(data.tid);
  Atomics.store(tid, 0, native.gettid());
  Atomics.notify(tid, 0);
  await runChild(data.prep, data.fds);
}
