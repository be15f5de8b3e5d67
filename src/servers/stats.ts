/**
 * What a server counts: connections accepted, connections open, messages (each
 * read that returned data) and bytes echoed. One-process servers count in
 * {@link Stats}; servers whose connections live in other processes or threads
 * add their children's counts from {@link SharedCounts} in shared memory.
 * @module
 */
import { Lock } from '../multiprocessing/synchronize.js';
import { SharedArray } from '../multiprocessing/sharedctypes.js';

/**
 * A snapshot of what a server served: `stats()` while it runs, and what
 * `stop()` resolves with.
 * @example
 * import { serve, type ServerStats } from 'weft/servers';
 * const server = await serve({ model: 'event', port: 0 });
 * const stats: ServerStats = server.stats();
 * console.log(stats.active, stats.messages); // 0 0
 * await server.stop();
 */
export interface ServerStats {
  /** Connections accepted and served (not those refused). */
  connections: number;
  /** Connections open now. */
  active: number;
  /** Reads that returned data, each echoed. */
  messages: number;
  /** Bytes echoed. */
  bytes: number;
  /** Connections closed at once: past --max-connections, or past select()'s fd limit. */
  refused: number;
}

/** Counts kept by the process that serves. */
export class Stats implements ServerStats {
  connections = 0;
  active = 0;
  messages = 0;
  bytes = 0;
  refused = 0;

  /** A copy, with `extra` (children's counts) added. */
  snapshot(extra: { messages: number; bytes: number } = { messages: 0, bytes: 0 }): ServerStats {
    return {
      connections: this.connections,
      active: this.active,
      messages: this.messages + extra.messages,
      bytes: this.bytes + extra.bytes,
      refused: this.refused,
    };
  }
}

/** A child adds its counts at most this often, and when it ends. */
const FLUSH_MS = 250;

/**
 * Messages and bytes counted by children, in shared memory. Each child adds
 * its own tally under the lock every {@link FLUSH_MS} ms of traffic and at its
 * end: a lock per message would cost more than the echo.
 */
export class SharedCounts {
  readonly #counts = new SharedArray('d', 2, { lock: new Lock() });

  /** What crosses to a child (a SharedArray travels with its lock). */
  get shared(): SharedArray<'d'> {
    return this.#counts;
  }

  /** The totals so far. */
  read(): { messages: number; bytes: number } {
    return { messages: this.#counts.get(0), bytes: this.#counts.get(1) };
  }
}

/** One child's counts not yet added to the shared totals ({@link SharedCounts.shared}, passed to the child). */
export class Tally {
  messages = 0;
  bytes = 0;
  #last = performance.now();

  constructor(private readonly counts: SharedArray<'d'>) {}

  /** Count one message of `n` bytes; adds to the totals when it is time. */
  count(n: number): void {
    this.messages++;
    this.bytes += n;
    if (performance.now() - this.#last >= FLUSH_MS) this.flush();
  }

  /** Add what was counted to the shared totals (blocks for the lock, briefly). */
  flush(): void {
    this.#last = performance.now();
    if (this.messages === 0) return;
    const lock = this.counts.getLock();
    lock.acquireSync();
    try {
      this.counts.set(0, this.counts.get(0) + this.messages);
      this.counts.set(1, this.counts.get(1) + this.bytes);
    } finally {
      lock.release();
    }
    this.messages = 0;
    this.bytes = 0;
  }
}
