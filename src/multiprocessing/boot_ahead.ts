/**
 * How many children weft keeps booted ahead of need, for each start method
 * (popen_spawn.ts, popen_thread.ts; the idea is CPython's forkserver, which
 * keeps a warm interpreter to fork from).
 *
 * One after a start, once every child started so far has booted and a core
 * stands free. A boot costs 30–60 ms of CPU (80 where Node 20 reads
 * `NODE_EXTRA_CA_CERTS`), and a spare booting in the background takes a core
 * from the children at work: with two booted at every start, two children
 * contending on a Lock ran at 0.66–0.77x Python's increments, 1.1–1.6x with
 * one. Children started side by side usually outrun the spares (the second
 * boots from nothing), and a spare booting beside them made three boots on two
 * cores: two children started together in a fresh parent were both running
 * after 568 ms with it, 454 ms without (medians of 8 interleaved runs, a busy
 * machine). So the spare waits until they have booted, and then until the
 * CPUs this process may run on idle by half a core over a look of
 * {@link LOOK_MS} (idle.ts). A Pool's two workers mapping on two cores leave
 * none, and the spare that booted beside them slowed the map: a fresh
 * parent's first map of 1M tiny items ran faster without it in 26 of 42
 * interleaved pairs with process workers (paired medians of four sets +1% to
 * +15%) and in 7 of 10 with thread workers (+6%). The spare is for the next
 * start; where the cores stay taken for {@link LATEST_MS} it boots anyway,
 * once, so that a later start still finds it.
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
import { TICK_MS, idleTicks } from './idle.js';

/** Children kept booted ahead after a start. */
export const AFTER_START = 1;

/**
 * How long, in ms, the idle time of the CPUs is watched before a spare boots
 * after a start: ten ticks of `/proc/stat` on each CPU, short beside a boot.
 */
export const LOOK_MS = 100;

/** A look that saw at least this many cores' worth of idle time found a core free. */
const FREE_CORES = 0.5;

/** After this long, in ms, of cores taken at every look, the spare boots anyway. */
export const LATEST_MS = 1000;

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

/** How {@link Spares} looks at the machine (tests pass fakes). */
export interface SparesOptions {
  /** The idle ticks so far of the CPUs this process may run on, or undefined when unknown (idle.ts). */
  idleTicks?: () => number | undefined;
  /** {@link LOOK_MS} */
  lookMs?: number;
  /** {@link LATEST_MS} */
  latestMs?: number;
}

/** One start method's children booted ahead of need, oldest first. */
export class Spares<S> {
  readonly #ready: S[] = [];
  readonly #idle = new Map<S, NodeJS.Timeout>();
  readonly #ahead = new BootAhead();
  /** Children handed their work that are still booting. */
  readonly #booting = new Set<Promise<unknown>>();
  /** A look for a free core is under way (one at a time). */
  #looking = false;
  readonly #idleTicks: () => number | undefined;
  readonly #lookMs: number;
  readonly #latestMs: number;

  /**
   * @param boot starts booting a new child.
   * @param letGo ends a spare that waited too long (it is no longer offered by then).
   */
  constructor(
    private readonly boot: () => S,
    private readonly letGo: (spare: S) => void,
    options: SparesOptions = {},
  ) {
    this.#idleTicks = options.idleTicks ?? (() => idleTicks());
    this.#lookMs = options.lookMs ?? LOOK_MS;
    this.#latestMs = options.latestMs ?? LATEST_MS;
  }

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
      if (this.#booting.size === 0) this.#whenCoreFree();
      return life;
    }
    this.#booting.add(booted);
    const settled = () => {
      this.#booting.delete(booted);
      if (this.#booting.size === 0) this.#whenCoreFree();
    };
    booted.then(settled, settled);
    return life;
  }

  /**
   * Boots the spare after a start once a look of {@link LOOK_MS} finds a core
   * free, or once {@link LATEST_MS} have passed; after one look where the
   * idle time cannot be read.
   */
  #whenCoreFree(): void {
    if (this.#looking || this.#ready.length >= AFTER_START) return;
    this.#looking = true;
    const latest = performance.now() + this.#latestMs;
    const look = () => {
      const before = this.#idleTicks();
      const since = performance.now();
      setTimeout(() => {
        const after = this.#idleTicks();
        const now = performance.now();
        const free = before === undefined || after === undefined ? Infinity : ((after - before) * TICK_MS) / Math.max(now - since, 1);
        if (free < FREE_CORES && now < latest) {
          look();
          return;
        }
        this.#looking = false;
        this.#replenish(AFTER_START);
      }, this.#lookMs).unref();
    };
    look();
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
