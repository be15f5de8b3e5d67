/**
 * The feeder: CPython's `Queue._feed` thread, as an async loop. A send that
 * must not wait (an unbounded queue's `put`, a connection's `send`) writes
 * straight into the ring when it can; otherwise the message waits in a local
 * buffer that the feeder moves into the ring, in order, as space frees. A
 * child does not exit before its feeders are drained (util.registerFlush).
 * @module
 */
import { debugLog } from '../debug.js';
import { Deadline, waitFor } from './futex.js';
import type { Ring } from './ring.js';
import { registerFlush } from './util.js';

/** WEFT_DEBUG=queue (debug.ts): a labelled feeder's start, stop and lost reader. */
const log = debugLog('queue');

/** Ordered, never-waiting writes into one ring from this realm. */
export class Feeder {
  readonly #ring: Ring;
  /** Called while waiting for space: a reason to give up (the reader is gone), or undefined. */
  readonly #abandon: () => Error | undefined;
  #pending: Uint8Array[] = [];
  #feeding: Promise<void> | null = null;
  #unregister: (() => void) | null = null;
  /** What WEFT_DEBUG=queue calls this feeder's owner; null: it logs nothing (a pool's, which `pool` covers). */
  readonly #label: string | null;

  constructor(ring: Ring, abandon: () => Error | undefined = () => undefined, label: string | null = null) {
    this.#ring = ring;
    this.#abandon = abandon;
    this.#label = label;
  }

  /** Number of messages waiting in the local buffer. */
  get backlog(): number {
    return this.#pending.length;
  }

  /**
   * Sends `payload` now if the ring has room and nothing is queued before it,
   * else buffers it. Each call first moves what it can of the buffer into the
   * ring itself: a producer looping on `await put()` runs on microtasks only
   * and may not let the async feeder's wake-ups in for a long time.
   */
  send(payload: Uint8Array): void {
    const ring = this.#ring;
    if (ring.putLock.tryAcquire()) {
      try {
        const pending = this.#pending;
        while (pending.length && ring.writeNow(pending[0]!)) pending.shift();
        if (pending.length === 0 && ring.writeNow(payload)) return;
      } finally {
        ring.putLock.release();
      }
    }
    this.#pending.push(payload);
    this.#feeding ??= this.#feed();
  }

  /**
   * Moves the buffer into the ring. The put lock is held only while writing,
   * never while waiting for space, so that `send` in this same realm can keep
   * draining synchronously while this loop waits for its wake-up. (A message
   * too large for one chunk is the exception: its chunks must stay together.)
   */
  async #feed(): Promise<void> {
    this.#unregister ??= registerFlush(() => this.flush());
    const ring = this.#ring;
    const pending = this.#pending;
    if (this.#label) log?.('%s: feeder started: the ring is full, %d message(s) buffered', this.#label, pending.length);
    try {
      while (pending.length) {
        await ring.putLock.acquire(new Deadline(null));
        try {
          while (pending.length && ring.writeNow(pending[0]!)) pending.shift();
          if (pending.length && !ring.fitsOneChunk(pending[0]!.length)) {
            if (await ring.write(pending[0]!, new Deadline(null), this.#abandon)) pending.shift();
          }
        } finally {
          ring.putLock.release();
        }
        if (!pending.length) break;
        const head = pending[0]!.length;
        await waitFor(ring.space, new Deadline(null), () => (ring.fits(head) || this.#abandonNow() ? true : undefined));
      }
    } finally {
      this.#feeding = null;
      if (this.#label) log?.('%s: feeder stopped: %d message(s) left in the buffer', this.#label, pending.length);
    }
  }

  /** True (and the buffer dropped) when nobody will ever read it, as with a pipe whose reader died. */
  #abandonNow(): boolean {
    const reason = this.#abandon();
    if (!reason) return false;
    if (this.#label) log?.('%s: the reader is gone (%s): %d buffered message(s) dropped', this.#label, reason.message, this.#pending.length);
    this.#pending.length = 0;
    return true;
  }

  /** Waits until every buffered message is in the ring (Python's `join_thread`). */
  async flush(): Promise<void> {
    while (this.#feeding) await this.#feeding;
  }
}
