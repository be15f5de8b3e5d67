/**
 * The manager server's reader of shared-memory connections: one loop for all
 * of them. One wait per connection would not do: a wait spins (at most 30 µs)
 * before it sleeps, and while one connection's wait spins, a request that came
 * in on another waits for the spin to end. With two busy clients that cost
 * the server a sixth of its calls. This loop takes whatever is waiting on any
 * connection, spins on all of them at once (SERVER_SPIN_MS), and sleeps on all of them when
 * none has anything.
 *
 * What it does per call is kept small, since on a machine whose cores are
 * taken every call meets the server asleep: whether a client is gone (a
 * system call per connection) is asked once a slice, busy or not, rather than
 * before each sleep, and a sleep is one promise, resolved by whichever word
 * changes first.
 * @module
 */
import type { Connection } from './connection.js';
import { SLICE, SpinEstimate, spinAny, type Word } from './futex.js';
import { SERVER_SPIN_MS } from './manager_wire.js';

const hasData = (ring: Connection): boolean => ring._hasData();

/** Messages taken from one connection before the next gets its turn. */
const BATCH = 8;

/** What the loop does with one connection's messages, and when it ends. */
export interface PolledConnection {
  onBytes(bytes: Buffer): void;
  /** The connection ended (EOF or an error): stop reading it. */
  onEnd(): void;
}

/**
 * Reads every shared-memory connection of one manager server.
 * @internal
 */
export class ManagerPoller {
  readonly #conns = new Map<Connection, PolledConnection>();
  /** Connections whose word has a sleep armed, kept until it ends: arming another would be one more wait in flight on that word. */
  readonly #armed = new Set<Connection>();
  /**
   * Connections whose message is still being written, chunk by chunk: its read
   * finishes on its own, and the loop goes on with the others meanwhile (one
   * slow writer must not hold up every client).
   */
  readonly #partial = new Set<Connection>();
  #running = false;
  /** How long the loop's spins over all connections pay. */
  readonly #estimate = new SpinEstimate();
  /** The connections the loop spins and sleeps on, and their words: kept between looks, remade when a connection comes, goes or has a message half-read. */
  #watch: { rings: Connection[]; words: Word[]; seen: number[] } | null = null;
  /** Ends the loop's sleep: a word changed, or a connection came or finished a message. */
  #wake: (() => void) | null = null;
  /**
   * When the loop last asked whether its clients are gone, in ms
   * (performance.now): once a slice, busy or not. A client that dies leaves
   * its word still, so a sleeping loop finds out when its slice ends; a loop
   * kept busy by other clients finds out as soon.
   */
  #eofCheckedAt = -Infinity;

  #watched(): { rings: Connection[]; words: Word[]; seen: number[] } {
    if (this.#watch === null) {
      const rings = [...this.#conns.keys()].filter((r) => !this.#partial.has(r));
      this.#watch = { rings, words: rings.map((r) => r._dataWord()), seen: rings.map(() => 0) };
    }
    return this.#watch;
  }

  add(ring: Connection, target: PolledConnection): void {
    this.#conns.set(ring, target);
    this.#watch = null;
    this.#rouse();
    if (!this.#running) void this.#run();
  }

  /** Stops reading a connection (its server closed it). */
  remove(ring: Connection): void {
    this.#watch = null;
    this.#conns.delete(ring);
    this.#armed.delete(ring);
    this.#partial.delete(ring);
  }

  /** The connection ended (EOF or an error): stop reading it, and tell its reader. */
  #end(ring: Connection): void {
    const target = this.#conns.get(ring);
    this.remove(ring);
    target?.onEnd();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#conns.size > 0) {
        const now = performance.now();
        if (now - this.#eofCheckedAt >= SLICE * 1000) {
          this.#eofCheckedAt = now;
          this.#endGone();
          continue;
        }
        if (this.#serve()) {
          await null; // answers written in microtasks leave before the next look
          continue;
        }
        const { rings, words, seen } = this.#watched();
        for (let i = 0; i < words.length; i++) seen[i] = words[i]!.load();
        // a message that came between the look above and the loads is not a change of the word any more
        if (rings.some(hasData)) {
          await null;
          continue;
        }
        if (spinAny(words, seen, SERVER_SPIN_MS, 16, this.#estimate)) continue;
        await this.#sleep(rings, words, seen);
      }
    } finally {
      this.#running = false;
      this.#wake = null;
    }
  }

  /** Ends the connections whose client is gone, with nothing left to read. */
  #endGone(): void {
    for (const ring of [...this.#conns.keys()]) {
      if (!this.#partial.has(ring) && ring._atEof()) this.#end(ring);
    }
  }

  /** Take what is waiting on every connection; true if anything was. */
  #serve(): boolean {
    let served = false;
    for (const [ring, target] of this.#conns) {
      if (this.#partial.has(ring)) continue;
      for (let k = 0; k < BATCH; k++) {
        let got: Buffer | Promise<Buffer | undefined> | undefined;
        try {
          got = ring._recvBytesNow();
        } catch {
          this.#end(ring);
          break;
        }
        if (got instanceof Promise) {
          this.#finishPartial(ring, target, got);
          break;
        }
        if (got === undefined) break;
        served = true;
        target.onBytes(got);
        if (!this.#conns.has(ring)) break;
      }
    }
    return served;
  }

  #finishPartial(ring: Connection, target: PolledConnection, rest: Promise<Buffer | undefined>): void {
    this.#partial.add(ring);
    this.#watch = null;
    rest.then(
      (bytes) => {
        this.#partial.delete(ring);
        this.#watch = null;
        if (bytes !== undefined && this.#conns.has(ring)) target.onBytes(bytes);
        this.#rouse();
      },
      () => {
        this.#end(ring);
        this.#rouse();
      },
    );
  }

  /** Sleep until a word changes, a connection is added, or the slice ends. */
  #sleep(rings: Connection[], words: Word[], seen: number[]): Promise<void> {
    const asleep = new Promise<void>((resolve) => (this.#wake = resolve));
    for (let i = 0; i < rings.length; i++) {
      const ring = rings[i]!;
      if (this.#armed.has(ring)) continue;
      this.#armed.add(ring);
      void words[i]!.sleep(seen[i]!, SLICE).then(() => {
        this.#armed.delete(ring);
        this.#rouse();
      });
    }
    return asleep;
  }

  /** Ends the loop's sleep, if it sleeps. */
  #rouse(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
