/**
 * The manager server's reader of shared-memory connections: one loop for all
 * of them. One wait per connection would not do: a wait spins (at most 30 µs)
 * before it sleeps, and while one connection's wait spins, a request that came
 * in on another waits for the spin to end. With two busy clients that cost
 * the server a sixth of its calls. This loop takes whatever is waiting on any
 * connection, spins on all of them at once, and sleeps on all of them when
 * none has anything.
 * @module
 */
import { native } from '../native.js';
import type { Connection } from './connection.js';
import type { Word } from './futex.js';

/** How long the loop spins on all connections before it sleeps (as a single wait does). */
const SPIN_MS = 0.03;
/** Sleeps end after this long anyway, to notice clients that died without a word. */
const SLICE = 0.1;
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
  /** A sleep armed on a connection's word, kept until it ends: arming another would take another helper thread. */
  readonly #sleeps = new Map<Connection, Promise<void>>();
  #running = false;
  /** Wakes a sleeping loop when a connection is added. */
  #kick: (() => void) | undefined = undefined;

  add(ring: Connection, target: PolledConnection): void {
    this.#conns.set(ring, target);
    if (this.#kick) this.#kick();
    if (!this.#running) void this.#run();
  }

  remove(ring: Connection): void {
    this.#conns.delete(ring);
    this.#sleeps.delete(ring);
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#conns.size > 0) {
        if (await this.#serve()) {
          await null; // answers written in microtasks leave before the next look
          continue;
        }
        const rings = [...this.#conns.keys()];
        const words = rings.map((r) => r._dataWord());
        const seen = words.map((w) => w.load());
        // a message that came between the look above and the loads is not a change of the word any more
        if (rings.some((r) => r._hasData())) continue;
        if (spinAny(words, seen)) continue;
        for (const r of rings) {
          if (r._atEof()) this.#end(r);
        }
        if (this.#conns.size === 0) break;
        await this.#sleep(rings, words, seen);
      }
    } finally {
      this.#running = false;
      this.#kick = undefined;
    }
  }

  /** Take what is waiting on every connection; true if anything was. */
  async #serve(): Promise<boolean> {
    let served = false;
    for (const [ring, target] of this.#conns) {
      for (let k = 0; k < BATCH; k++) {
        let got: Buffer | Promise<Buffer | undefined> | undefined;
        try {
          got = ring._recvBytesNow();
          if (got instanceof Promise) got = await got;
        } catch {
          this.#end(ring);
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

  #end(ring: Connection): void {
    const target = this.#conns.get(ring);
    this.#conns.delete(ring);
    this.#sleeps.delete(ring);
    target?.onEnd();
  }

  /** Sleep until a word changes, a connection is added, or the slice ends. */
  async #sleep(rings: Connection[], words: Word[], seen: number[]): Promise<void> {
    const waits: Promise<void>[] = [new Promise<void>((resolve) => (this.#kick = resolve))];
    rings.forEach((ring, i) => {
      let s = this.#sleeps.get(ring);
      if (s === undefined) {
        s = words[i]!.sleep(seen[i]!, SLICE).then(() => {
          if (this.#sleeps.get(ring) === s) this.#sleeps.delete(ring);
        });
        this.#sleeps.set(ring, s);
      }
      waits.push(s);
    });
    await Promise.race(waits);
    this.#kick = undefined;
  }
}

/** Spin until one of `words` differs from what was `seen`, for at most SPIN_MS; true if one did (yielding between looks, as `Word.spin`). */
function spinAny(words: Word[], seen: number[]): boolean {
  const end = performance.now() + SPIN_MS;
  do {
    for (let k = 0; k < 64; k++) {
      for (let i = 0; i < words.length; i++) if (words[i]!.load() !== seen[i]) return true;
    }
    native.schedYield();
  } while (performance.now() < end);
  return false;
}
