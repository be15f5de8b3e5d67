/**
 * The feeder: CPython's `Queue._feed` thread, as an async loop. A send that
 * must not wait (an unbounded queue's `put`, a connection's `send`) writes
 * straight into the ring when it can; otherwise the message waits in a local
 * buffer that the feeder moves into the ring, in order, as space frees. A
 * child does not exit before its feeders are drained (util.registerFlush).
 * @module
 */
import { Deadline } from './futex.js';
import type { Ring } from './ring.js';
import { registerFlush } from './util.js';

/** Ordered, never-waiting writes into one ring from this realm. */
export class Feeder {
  readonly #ring: Ring;
  /** Called while waiting for space: a reason to give up (the reader is gone), or undefined. */
  readonly #abandon: () => Error | undefined;
  #pending: Uint8Array[] = [];
  #feeding: Promise<void> | null = null;
  #unregister: (() => void) | null = null;

  constructor(ring: Ring, abandon: () => Error | undefined = () => undefined) {
    this.#ring = ring;
    this.#abandon = abandon;
  }

  /** Number of messages waiting in the local buffer. */
  get backlog(): number {
    return this.#pending.length;
  }

  /** Sends `payload` now if the ring has room and nothing is queued before it, else buffers it. */
  send(payload: Uint8Array): void {
    const ring = this.#ring;
    if (this.#pending.length === 0 && ring.putLock.tryAcquire()) {
      let written: boolean;
      try {
        written = ring.writeNow(payload);
      } finally {
        ring.putLock.release();
      }
      if (written) return;
    }
    this.#pending.push(payload);
    this.#feeding ??= this.#feed();
  }

  async #feed(): Promise<void> {
    this.#unregister ??= registerFlush(() => this.flush());
    const ring = this.#ring;
    try {
      while (this.#pending.length) {
        await ring.putLock.acquire(new Deadline(null));
        try {
          while (this.#pending.length) {
            if (await ring.write(this.#pending[0]!, new Deadline(0.1))) {
              this.#pending.shift();
            } else if (this.#abandon()) {
              this.#pending = []; // nobody will ever read them, as with a pipe whose reader died
              return;
            }
          }
        } finally {
          ring.putLock.release();
        }
      }
    } finally {
      this.#feeding = null;
    }
  }

  /** Waits until every buffered message is in the ring (Python's `join_thread`). */
  async flush(): Promise<void> {
    while (this.#feeding) await this.#feeding;
  }
}
