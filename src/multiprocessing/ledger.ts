/**
 * The fd ledger of a worker thread (no Python twin: Python has no thread
 * context). fds are process-wide, so a worker that is terminated cannot close
 * the fds it dup'd for itself; it records each one in a SharedArrayBuffer its
 * starter holds, and the starter closes whatever is left when the worker exits.
 * In a process (or the main thread) the ledger is a no-op: the kernel closes a
 * dead process's fds.
 * @module
 */

const SLOTS = 4096;

class Ledger {
  #slots: Int32Array | null = null;

  /** Called once in a worker, with the buffer its starter will sweep. */
  attach(buffer: SharedArrayBuffer): void {
    this.#slots = new Int32Array(buffer);
  }

  /** Records `fd` as this worker's (once: the starter pre-lists the fds it hands over). */
  remember(fd: number): void {
    const slots = this.#slots;
    if (!slots || slots.includes(fd + 1)) return;
    for (let i = 0; i < slots.length; i++) {
      if (Atomics.compareExchange(slots, i, 0, fd + 1) === 0) return;
    }
    throw new Error(`weft: more than ${SLOTS} shared objects open in one worker thread`);
  }

  forget(fd: number): void {
    const slots = this.#slots;
    if (!slots) return;
    for (let i = 0; i < slots.length; i++) {
      if (Atomics.compareExchange(slots, i, fd + 1, 0) === fd + 1) return;
    }
  }
}

/** This realm's ledger. */
export const ledger = new Ledger();

/** A fresh ledger buffer for a worker about to start. */
export function newLedgerBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * 4);
}

/** Lists `fd` in a worker's ledger from the starter's side, before handing it over. */
export function ledgerAdd(buffer: SharedArrayBuffer, fd: number): void {
  const slots = new Int32Array(buffer);
  for (let i = 0; i < slots.length; i++) if (Atomics.compareExchange(slots, i, 0, fd + 1) === 0) return;
  throw new Error(`weft: more than ${SLOTS} shared objects handed to one worker thread`);
}

/** The fds a finished worker left open (each stored as fd + 1). */
export function leftovers(buffer: SharedArrayBuffer): number[] {
  return Array.from(new Int32Array(buffer).filter((v) => v !== 0), (v) => v - 1);
}
