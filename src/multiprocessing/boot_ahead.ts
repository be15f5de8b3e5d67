/**
 * How many children weft keeps booted ahead of need, for each start method
 * (popen_spawn.ts, popen_thread.ts; the idea is CPython's forkserver, which
 * keeps a warm interpreter to fork from).
 *
 * One after a start, once every child started so far has booted. A boot costs
 * 30–60 ms of CPU, and a spare booting in the background takes a core from the
 * children at work: with two booted at every start, two children contending on
 * a Lock ran at 0.66–0.77x Python's increments, 1.1–1.6x with one. Children
 * started side by side usually outrun the spares (the second boots from
 * nothing), and a spare booting beside them made three boots on two cores: two
 * children started together in a fresh parent were both running after 568 ms
 * with it, 454 ms without (medians of 8 interleaved runs, a busy machine). So
 * the spare boots when they have.
 *
 * Two after a child that ran alone and briefly. A program that starts and
 * joins small processes one after another (`p.start(); await p.join()` in a
 * loop) waits for each boot in turn, and two boots side by side take ~40 ms
 * each where one alone takes ~78 (node with weft, 2 cores), so a second boot
 * makes such starts nearly twice as fast. It begins as that child ends, on the
 * core the child leaves free. Children that ran side by side never trigger it:
 * the next ones will likely be side by side too and need the cores themselves.
 * An unused spare is let go after a few idle seconds.
 *
 * {@link Spares} keeps one start method's children booted ahead; how a child
 * is booted and let go is the start method's own (popen_spawn.ts, popen_thread.ts).
 * @module
 */

/** Children kept booted ahead after a start. */
export const AFTER_START = 1;

/** Seconds a spare waits for work before it is let go. */
const SPARE_IDLE_SECONDS = 10;

/** A child that ends this soon after its start counts as brief. */
export const SHORT_LIFE_MS = 500;

/** One started child, as {@link BootAhead} sees it. */
export interface Life {
  readonly startedAt: number;
  /** No other child of this start method ran at any moment of its life. */
  alone: boolean;
}

/** The lives of one start method's children, and the boots ahead they call for. */
export class BootAhead {
  readonly #running = new Set<Life>();

  /** A child was handed its work. */
  started(): Life {
    const life: Life = { startedAt: performance.now(), alone: this.#running.size === 0 };
    for (const other of this.#running) other.alone = false;
    this.#running.add(life);
    return life;
  }

  /** That child ended (at `now`): the number of children to keep booted ahead now (0: no more than already are). */
  ended(life: Life, now = performance.now()): number {
    this.#running.delete(life);
    return life.alone && now - life.startedAt < SHORT_LIFE_MS ? 2 : 0;
  }
}

/** One start method's children booted ahead of need, oldest first. */
export class Spares<S> {
  readonly #ready: S[] = [];
  readonly #idle = new Map<S, NodeJS.Timeout>();
  readonly #ahead = new BootAhead();
  /** Children handed their work that are still booting. */
  readonly #booting = new Set<Promise<unknown>>();

  /**
   * @param boot starts booting a new child.
   * @param letGo ends a spare that waited too long (it is no longer offered by then).
   */
  constructor(
    private readonly boot: () => S,
    private readonly letGo: (spare: S) => void,
  ) {}

  /** The spare booted longest ago, no longer offered; undefined when there is none. */
  take(): S | undefined {
    const spare = this.#ready.shift();
    if (spare !== undefined) this.#stopIdle(spare);
    return spare;
  }

  /** A spare that ended (it died, or was let go) is no longer offered. Idempotent. */
  forget(spare: S): void {
    const i = this.#ready.indexOf(spare);
    if (i >= 0) this.#ready.splice(i, 1);
    this.#stopIdle(spare);
  }

  /** Every spare still offered (to end them with their parent). */
  all(): S[] {
    return [...this.#ready];
  }

  /**
   * A child was handed its work: its life, and the next spare booting once
   * `booted` (that child's boot; omitted: done) and every other child's still
   * booting have settled.
   */
  started(booted?: Promise<unknown>): Life {
    const life = this.#ahead.started();
    if (booted === undefined) {
      if (this.#booting.size === 0) this.#replenish(AFTER_START);
      return life;
    }
    this.#booting.add(booted);
    const settled = () => {
      this.#booting.delete(booted);
      if (this.#booting.size === 0) this.#replenish(AFTER_START);
    };
    booted.then(settled, settled);
    return life;
  }

  /** That child ended: a second spare boots when its life calls for one. */
  ended(life: Life): void {
    this.#replenish(this.#ahead.ended(life));
  }

  #stopIdle(spare: S): void {
    clearTimeout(this.#idle.get(spare));
    this.#idle.delete(spare);
  }

  /**
   * Boots spares until `count` are booting or ready, on the next turn of the
   * loop: `start()` itself stays quick, and the count is checked then, after
   * the start that usually follows a join has taken its spare (checked at the
   * end of the child instead, a loop of start and join fell back to one boot
   * in flight every other turn: thread starts 22 ms instead of 12–14).
   */
  #replenish(count: number): void {
    setImmediate(() => {
      while (this.#ready.length < count) {
        const spare = this.boot();
        const idle = setTimeout(() => {
          this.forget(spare);
          this.letGo(spare);
        }, SPARE_IDLE_SECONDS * 1000);
        this.#idle.set(spare, idle.unref());
        this.#ready.push(spare);
      }
    }).unref();
  }
}
