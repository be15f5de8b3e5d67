/**
 * Locks, semaphores, events, conditions and barriers that work across
 * processes and threads alike — the twin of CPython's
 * `Lib/multiprocessing/synchronize.py`.
 *
 * Each object lives in its own {@link SharedBlock} (one page of a memfd), so a
 * child process or worker thread handed the object as a `Process` arg maps the
 * same words. The fast paths are one compare-and-swap in JS, with no native
 * call; a contended lock spins a few microseconds, then sleeps on a shared
 * futex (`futex.ts`'s `Word`) in slices; a release wakes only when the
 * sleeper count is non-zero.
 *
 * The file is long because it holds seven classes, in Python's order, each in
 * its own section: the shared base and `park` (waiting), Lock and RLock,
 * Semaphore and BoundedSemaphore, Event, Condition, Barrier, and the
 * rebuilders a child uses to map them again.
 *
 * Word layouts (Int32 indexes into the block; `WAITERS` is always the sleeper
 * count of the futex word next to it):
 *
 * | class            | [0]                              | [1]     | [2]                 | [3]          |
 * |------------------|----------------------------------|---------|---------------------|--------------|
 * | Lock             | owner id (0 = free)              | WAITERS | abandoned flag      |              |
 * | RLock            | owner id (0 = free)              | WAITERS | abandoned flag      | depth        |
 * | Semaphore        | value                            | WAITERS | initial value       | bounded flag |
 * | Event            | generation << 1 \| flag          | WAITERS |                     |              |
 * | Condition        | (unused)                         |         | arrival counter     | slots in use |
 * | Barrier          | count \| gen << 16 \| broken<<30 | WAITERS | parties             | reset gen+1  |
 *
 * A Condition's block is 16 KiB: from word 8 on, one 4-word slot per waiter
 * (state FREE/WAITING/NOTIFIED, its sleeper count, arrival number, owner id).
 *
 * Owner ids are kernel thread ids (`util.selfId`: the pid in a process's main
 * thread, the tid in a worker thread), so a waiter can ask the kernel whether
 * the owner still runs and take over a lock whose owner died — see
 * `docs/synchronize.md`.
 * @module
 */
import { RuntimeError, TimeoutError, ValueError } from '../errors.js';
import { Deadline, spinUntil, Word } from './futex.js';
import { reduce, registerShareable, type Reduced, type Shareable } from './reduction.js';
import { SharedBlock } from './shared_memory.js';
import { loadTask, taskRef, type TaskRef } from './task.js';
import { currentProcess } from './process.js';
import { isAlive, selfId } from './util.js';
import { blockingStdio } from '../stdio.js';

/** Bytes asked of each block (the kernel rounds up to a page). */
const BLOCK_SIZE = 64;
const WAITERS = 1;

/** How often a waiter asks the kernel whether a lock's owner still lives, in ms. */
const OWNER_CHECK_MS = 25;

/**
 * The longest a contended Lock or RLock acquire watches the word before it
 * sleeps, in ms; how long it actually does is learnt (futex.ts). Holders keep
 * weft locks for about a microsecond, so most contended acquires end here,
 * without the cost of a futex sleep and wake-up (tens of microseconds).
 */
const LOCK_SPIN_MS = 0.01;

/**
 * The same cap for a semaphore: shorter, since a semaphore often signals an event
 * another process has yet to produce, and spinning then only burns CPU.
 */
const SEMAPHORE_SPIN_MS = 0.002;

/**
 * Waits until `ready()` returns a value, sleeping on `word` between checks
 * (the slices of futex.ts, so `ready` can re-check dead owners). Unlike
 * futex.ts's `waitFor` it does not spin first: locks spun in their fast path
 * already, and Event, Condition and Barrier wait for another process to act,
 * which takes a wake-up anyway. Spinning there hurts: on a busy machine the
 * kernel's scheduler favours tasks that sleep when they wake up, and a
 * process that spins loses that favour (measured: a semaphore ping-pong
 * between two processes took 10-20 µs per round trip without the spin and
 * 200-1000 µs with it, on this project's 2-core test machine under load).
 */
async function park<T>(word: Word, until: Deadline, ready: () => T | undefined): Promise<T | undefined> {
  for (;;) {
    const seen = word.load();
    const value = ready();
    if (value !== undefined) return value;
    if (until.expired) return undefined;
    await word.sleep(seen, until.slice());
  }
}

/** The blocking twin of {@link park}. */
function parkSync<T>(word: Word, until: Deadline, ready: () => T | undefined): T | undefined {
  for (;;) {
    const seen = word.load();
    const value = ready();
    if (value !== undefined) return value;
    if (until.expired) return undefined;
    blockingStdio();
    word.sleepSync(seen, until.slice());
  }
}

/**
 * Options of every `acquire`: Python's `acquire(block=True, timeout=None)`.
 * @example
 * import { Lock } from 'weft';
 * const lock = new Lock();
 * await lock.acquire();
 * console.log(await lock.acquire({ timeout: 0.05 })); // false
 * console.log(lock.acquireSync({ block: false })); // false
 * lock.release();
 */
export interface AcquireOptions {
  /** `false`: try once and return at once. Default `true`. */
  block?: boolean;
  /** Seconds to wait at most; `null`/omitted waits forever. Negative counts as 0, as in Python. */
  timeout?: number | null;
}

/**
 * Options of `hold()`.
 * @example
 * import { Lock, TimeoutError } from 'weft';
 * const lock = new Lock();
 * using held = await lock.hold({ timeout: 2 });
 * try { await lock.hold({ timeout: 0.05 }); } catch (e) { console.log(e instanceof TimeoutError); } // true
 */
export interface HoldOptions {
  /** Seconds to wait at most; `null`/omitted waits forever. */
  timeout?: number | null;
}

const TRUE = Promise.resolve(true);
const FALSE = Promise.resolve(false);

/** The block the next constructor adopts instead of creating one (set only by rebuilders). */
let adopting: SharedBlock | null = null;

function adopt<T>(block: SharedBlock, make: () => T): T {
  adopting = block;
  try {
    return make();
  } finally {
    adopting = null;
  }
}

/** A deadline in seconds; negative timeouts count as 0 (as in Python), NaN is refused by Deadline. */
function deadline(timeout: number | null | undefined): Deadline {
  return new Deadline(timeout == null ? null : timeout < 0 ? 0 : timeout);
}

function deadlineOf(options: AcquireOptions | undefined): Deadline {
  return options?.block === false ? new Deadline(0) : deadline(options?.timeout);
}

/**
 * One shared-memory object: a block, its Int32 view and its reduction.
 * Internal base of every class here.
 */
abstract class SharedObject implements Shareable {
  static #ids = 0;
  #id = 0;
  /** @internal */ protected readonly block: SharedBlock;
  /** @internal */ protected readonly i32: Int32Array;
  /** @internal */ protected readonly word: Word;
  /** @internal True when this realm created the block (and must initialise it). */
  protected readonly fresh: boolean;

  constructor(size = BLOCK_SIZE) {
    this.fresh = adopting === null;
    this.block = adopting ?? SharedBlock.create(size);
    this.i32 = new Int32Array(this.block.buffer);
    this.word = new Word(this.i32, 0, WAITERS);
  }

  /** @internal What a repr shows for Python's `id()`: unique among this realm's objects. */
  protected get address(): string {
    return `0x${(this.#id ||= ++SharedObject.#ids).toString(16).padStart(8, '0')}`;
  }

  /** Registered type name used by the rebuilder. */
  protected abstract get typeName(): string;

  /** @internal Extra state for the rebuilder. */
  protected reduceState(): unknown {
    return null;
  }

  /** @internal */
  [reduce](): Reduced {
    return { type: this.typeName, state: this.reduceState(), fds: [this.block.fd] };
  }
}

/**
 * The base of Lock, RLock, Semaphore and BoundedSemaphore: Python's `SemLock`.
 * Not constructed directly; useful as a type for "anything acquirable".
 * @example
 * import { Lock, Semaphore } from 'weft';
 * async function guarded(lock: Lock | Semaphore, work: () => void) {
 *   using held = await lock.hold();
 *   work();
 * }
 * await guarded(new Lock(), () => console.log('under a lock')); // under a lock
 * await guarded(new Semaphore(2), () => console.log('one of two')); // one of two
 */
export abstract class SemLock extends SharedObject {
  /** One attempt without waiting; true when acquired. */
  protected abstract tryAcquire(): boolean;

  /** True when an attempt could succeed now (read only: spinning on it does not bounce the cache line). */
  protected abstract looksFree(): boolean;

  /** How long {@link acquire} spins before it sleeps, in ms. */
  protected get spinMs(): number {
    return SEMAPHORE_SPIN_MS;
  }

  /**
   * Test-and-test-and-set: watch the word for a short while, attempt when it
   * looks free. How long is learnt per lock and thread (futex.ts's
   * SpinEstimate): not at all while this thread's core is taken by others.
   */
  #spinAcquire(): boolean {
    return spinUntil(
      () => {
        for (let i = 0; i < 64; i++) if (this.looksFree() && this.tryAcquire()) return true;
        return false;
      },
      this.spinMs,
      this.word.estimate,
    );
  }

  /** The slow path's check, run after each spin or sleep: `true` once acquired. */
  protected ready(): () => true | undefined {
    return () => (this.tryAcquire() ? true : undefined);
  }

  /**
   * Acquires, waiting without blocking the event loop; resolves `true` when
   * acquired, `false` when `block` is false or `timeout` seconds passed first.
   * @example
   * import { Lock } from 'weft';
   * const lock = new Lock();
   * let done = 0;
   * if (await lock.acquire({ timeout: 1 })) {
   *   try { done++; } finally { lock.release(); }
   * }
   * console.log(done); // 1
   * @throws {RangeError} when `timeout` is not a number.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    if (this.tryAcquire()) return TRUE;
    if (options?.block === false) return FALSE;
    if (this.#spinAcquire()) return TRUE;
    const deadline = deadlineOf(options);
    if (deadline.expired) return FALSE;
    return park(this.word, deadline, this.ready()).then((got) => got === true);
  }

  /**
   * Acquires, blocking this thread (and its event loop) while it waits; for
   * code that wants to block. Same results as {@link acquire}.
   * @example
   * import { Semaphore } from 'weft';
   * const sem = new Semaphore(1);
   * sem.acquireSync(); // blocks this thread while it waits
   * try {
   *   console.log(sem.getValue()); // 0
   * } finally {
   *   sem.release();
   * }
   * @throws {RangeError} when `timeout` is not a number.
   */
  acquireSync(options?: AcquireOptions): boolean {
    if (this.tryAcquire()) return true;
    if (options?.block === false) return false;
    if (this.#spinAcquire()) return true;
    const deadline = deadlineOf(options);
    if (deadline.expired) return false;
    return parkSync(this.word, deadline, this.ready()) === true;
  }

  /** Releases one acquisition. */
  abstract release(): void;

  /**
   * Acquires and returns a handle that releases when disposed: Python's
   * `with lock:`. Use with `using` (TypeScript lowers it).
   * @example
   * import { Value } from 'weft';
   * const counter = new Value('i', 0);
   * const lock = counter.getLock();
   * {
   *   using held = await lock.hold({ timeout: 5 });
   *   counter.value += 1;
   * } // released here, also when the block throws
   * console.log(counter.value, lock.owner); // 1 null
   * @throws {TimeoutError} when not acquired within `timeout` seconds.
   */
  hold(options?: HoldOptions): Promise<Disposable> {
    const acquired = this.acquire(options);
    // taken at once or after the short spin (acquire's shared TRUE): no hop through its promise
    if (acquired === TRUE) return Promise.resolve(new Held(this));
    return acquired.then((got) => {
      if (!got) throw new TimeoutError(`could not acquire the ${this.constructor.name} within ${options?.timeout} s`);
      return new Held(this);
    });
  }
}

/** What `hold()` returns: releases once, on the first dispose. */
class Held implements Disposable {
  #lock: SemLock | null;
  constructor(lock: SemLock) {
    this.#lock = lock;
  }
  [Symbol.dispose](): void {
    const lock = this.#lock;
    if (lock === null) return;
    this.#lock = null;
    lock.release();
  }
}

// ---------------------------------------------------------------------------
// Lock and RLock

const OWNER = 0;
const ABANDONED = 2;
const DEPTH = 3;

/** The part Lock and RLock share: an owner word, abandonment take-over, and what Condition needs. */
abstract class OwnedLock extends SemLock {
  /**
   * True while the current holding was taken over from an owner that died
   * holding the lock (SIGKILL, a terminated worker thread): whatever the lock
   * protected may be half-updated. Set by the acquire that took over, cleared
   * by the next `release()`. Python has no such notion (its lock stays locked
   * forever).
   * @example
   * import { Lock, Process, isMainModule, task } from 'weft';
   * export const die = task(import.meta, async (lock: Lock) => { await lock.acquire(); process.exit(1); });
   * if (isMainModule(import.meta)) {
   *   const lock = new Lock();
   *   const p = new Process({ target: die, args: [lock] });
   *   p.start();
   *   await p.join();
   *   await lock.acquire(); // taken over from the dead holder
   *   console.log(lock.abandoned); // true
   *   lock.release();
   * }
   */
  get abandoned(): boolean {
    return Atomics.load(this.i32, ABANDONED) === 1;
  }

  /** The id (pid or thread id) of the holder, or `null` when free. */
  get owner(): number | null {
    const id = Atomics.load(this.i32, OWNER);
    return id === 0 ? null : id;
  }

  protected override get spinMs(): number {
    return LOCK_SPIN_MS;
  }

  /** Called once the caller became owner by taking over from a dead one. */
  protected tookOver(): void {
    Atomics.store(this.i32, ABANDONED, 1);
  }

  protected override ready(): () => true | undefined {
    let nextCheck = performance.now() + OWNER_CHECK_MS;
    return () => {
      if (this.tryAcquire()) return true;
      const now = performance.now();
      if (now < nextCheck) return undefined;
      nextCheck = now + OWNER_CHECK_MS;
      const owner = Atomics.load(this.i32, OWNER);
      if (owner !== 0 && owner !== selfId && !isAlive(owner) &&
          Atomics.compareExchange(this.i32, OWNER, owner, selfId) === owner) {
        this.tookOver();
        return true;
      }
      return undefined;
    };
  }

  /** Frees the owner word and wakes one sleeper if any. */
  protected unlock(): void {
    if (Atomics.load(this.i32, ABANDONED) !== 0) Atomics.store(this.i32, ABANDONED, 0);
    Atomics.store(this.i32, OWNER, 0);
    this.word.wake(1);
  }

  /** @internal Condition: true when this realm holds the lock. */
  isMine(): boolean {
    return Atomics.load(this.i32, OWNER) === selfId;
  }

  /** @internal Condition.wait: release completely, returning what restore() needs. */
  abstract releaseAll(): number;
  /** @internal Condition.wait: re-acquire as saved by releaseAll(). */
  abstract restore(saved: number): Promise<void>;
}

/** Who holds `lock`, as Python's SemLock reprs name it. */
function ownerName(lock: OwnedLock): string {
  if (lock.owner === null) return 'None';
  return lock.isMine() ? currentProcess().name : 'SomeOtherProcess';
}

/**
 * A non-recursive lock shared by processes and threads: Python's
 * `multiprocessing.Lock`. Like Python's (a semaphore underneath), any process
 * may release it. The holder's id is recorded; when the holder dies holding
 * it, the next acquirer takes it over within a fraction of a second and sees
 * `abandoned === true`.
 *
 * @example
 * import { Lock, Process, Value, isMainModule, task } from 'weft';
 * export const add = task(import.meta, async (lock: Lock, total: Value<'i'>, n: number) => {
 *   using held = await lock.hold();
 *   total.value += n; // read, add, write: safe under the lock
 * });
 * if (isMainModule(import.meta)) {
 *   const lock = new Lock();
 *   const total = new Value('i', 0, { lock: false });
 *   const ps = [1, 2, 3].map((n) => new Process({ target: add, args: [lock, total, n] }));
 *   for (const p of ps) p.start();
 *   for (const p of ps) await p.join();
 *   console.log(total.value); // 6
 * }
 */
export class Lock extends OwnedLock {
  protected get typeName(): string {
    return 'weft.Lock';
  }

  protected tryAcquire(): boolean {
    return Atomics.compareExchange(this.i32, OWNER, 0, selfId) === 0;
  }

  protected looksFree(): boolean {
    return Atomics.load(this.i32, OWNER) === 0;
  }

  /**
   * Releases the lock; any process or thread may (Python's Lock is a semaphore).
   * @example
   * import { Lock, ValueError } from 'weft';
   * const lock = new Lock();
   * await lock.acquire();
   * lock.release();
   * try { lock.release(); } catch (e) { if (e instanceof ValueError) console.log(e.message); } // semaphore or lock released too many times
   * @throws {ValueError} when the lock is not held ("semaphore or lock released too many times").
   */
  release(): void {
    if (Atomics.load(this.i32, OWNER) === 0) throw new ValueError('semaphore or lock released too many times');
    this.unlock();
  }

  /** @internal */
  releaseAll(): number {
    this.release();
    return 1;
  }

  /** @internal */
  async restore(): Promise<void> {
    await this.acquire();
  }

  /**
   * Python's repr: `<Lock(owner=MainProcess)>` when this process (or thread child) holds it, named as
   * `currentProcess().name`; `<Lock(owner=None)>` when free; `<Lock(owner=SomeOtherProcess)>`.
   */
  override toString(): string {
    return `<Lock(owner=${ownerName(this)})>`;
  }
}

/**
 * A recursive lock: Python's `multiprocessing.RLock`. The realm (process, or
 * worker thread) that acquired it may acquire it again and must release it as
 * many times; only that realm may release it. All async code of one realm
 * counts as one owner, as all code of one Python thread does. Abandonment as
 * for {@link Lock}.
 *
 * @example
 * import { RLock } from 'weft';
 * const rlock = new RLock();
 * await rlock.acquire();
 * await rlock.acquire(); // re-entered, depth 2
 * rlock.release();
 * rlock.release();
 * console.log(rlock.owner); // null
 */
export class RLock extends OwnedLock {
  protected get typeName(): string {
    return 'weft.RLock';
  }

  protected looksFree(): boolean {
    const owner = Atomics.load(this.i32, OWNER);
    return owner === 0 || owner === selfId;
  }

  protected tryAcquire(): boolean {
    const i32 = this.i32;
    const owner = Atomics.compareExchange(i32, OWNER, 0, selfId);
    if (owner === 0) {
      Atomics.store(i32, DEPTH, 1);
      return true;
    }
    if (owner === selfId) {
      Atomics.add(i32, DEPTH, 1);
      return true;
    }
    return false;
  }

  protected override tookOver(): void {
    Atomics.store(this.i32, DEPTH, 1);
    super.tookOver();
  }

  /**
   * Releases one level; the lock is free once every acquire was matched.
   * @example
   * import { RLock } from 'weft';
   * const rlock = new RLock();
   * try { rlock.release(); } catch (e) { console.log((e as Error).message); } // cannot release un-acquired lock
   * @throws {RuntimeError} when this realm does not hold the lock ("cannot release un-acquired lock").
   */
  release(): void {
    if (Atomics.load(this.i32, OWNER) !== selfId) throw new RuntimeError('cannot release un-acquired lock');
    if (Atomics.sub(this.i32, DEPTH, 1) === 1) this.unlock();
  }

  /** How many times the owner holds it (0 when free). */
  get depth(): number {
    return Atomics.load(this.i32, OWNER) === 0 ? 0 : Atomics.load(this.i32, DEPTH);
  }

  /** @internal */
  releaseAll(): number {
    if (!this.isMine()) throw new RuntimeError('cannot release un-acquired lock');
    const depth = Atomics.load(this.i32, DEPTH);
    Atomics.store(this.i32, DEPTH, 0);
    this.unlock();
    return depth;
  }

  /** @internal */
  async restore(depth: number): Promise<void> {
    await this.acquire();
    Atomics.store(this.i32, DEPTH, depth);
  }

  /** Python's repr: `<RLock(MainProcess, 2)>`, `<RLock(None, 0)>` or `<RLock(SomeOtherProcess, nonzero)>`. */
  override toString(): string {
    const owner = ownerName(this);
    return `<RLock(${owner}, ${owner === 'SomeOtherProcess' ? 'nonzero' : this.depth})>`;
  }
}

// ---------------------------------------------------------------------------
// Semaphore and BoundedSemaphore

const VALUE = 0;
const MAX = 2;
const BOUNDED = 3;
/** Largest semaphore value: the word is a signed 32-bit integer. */
const SEM_VALUE_MAX = 0x7fffffff;

/**
 * A counting semaphore: Python's `multiprocessing.Semaphore(value=1)`.
 * `acquire` takes one unit (waiting while none is left), `release` gives one back.
 *
 * @example
 * import { Semaphore } from 'weft';
 * const slots = new Semaphore(2); // at most two at a time
 * let running = 0;
 * let most = 0;
 * const download = async () => { most = Math.max(most, ++running); await new Promise((r) => setTimeout(r, 10)); running--; };
 * await Promise.all([1, 2, 3, 4].map(async () => { using slot = await slots.hold(); await download(); }));
 * console.log(most); // 2
 */
export class Semaphore extends SemLock {
  /**
   * @param value the initial count (default 1).
   * @throws {ValueError} when `value` is negative or not an integer up to 2^31-1.
   */
  constructor(value = 1) {
    if (!Number.isInteger(value) || value < 0 || value > SEM_VALUE_MAX) {
      throw new ValueError(`semaphore initial value must be an integer from 0 to ${SEM_VALUE_MAX}, got ${value}`);
    }
    super();
    if (this.fresh) {
      Atomics.store(this.i32, VALUE, value);
      Atomics.store(this.i32, MAX, value);
      Atomics.store(this.i32, BOUNDED, this.isBounded() ? 1 : 0);
    }
  }

  /** @internal Whether release() stops at the initial value. */
  protected isBounded(): boolean {
    return false;
  }

  protected get typeName(): string {
    return 'weft.Semaphore';
  }

  protected looksFree(): boolean {
    return Atomics.load(this.i32, VALUE) > 0;
  }

  protected tryAcquire(): boolean {
    const i32 = this.i32;
    let v = Atomics.load(i32, VALUE);
    while (v > 0) {
      const seen = Atomics.compareExchange(i32, VALUE, v, v - 1);
      if (seen === v) return true;
      v = seen;
    }
    return false;
  }

  /**
   * Gives one unit back and wakes one waiter.
   * @example
   * import { Semaphore } from 'weft';
   * const sem = new Semaphore(0);
   * sem.release();
   * console.log(sem.getValue()); // 1
   * @throws {ValueError} for a BoundedSemaphore already at its initial value
   *   ("Semaphore released too many times"), or when the count would pass 2^31-1.
   */
  release(): void {
    const i32 = this.i32;
    const max = Atomics.load(i32, BOUNDED) ? Atomics.load(i32, MAX) : SEM_VALUE_MAX;
    let v = Atomics.load(i32, VALUE);
    for (;;) {
      if (v >= max) throw new ValueError('Semaphore released too many times');
      const seen = Atomics.compareExchange(i32, VALUE, v, v + 1);
      if (seen === v) break;
      v = seen;
    }
    this.word.wake(1);
  }

  /**
   * The current count: Python's `get_value()`.
   * @example
   * import { Semaphore } from 'weft';
   * console.log(new Semaphore(3).getValue()); // 3
   */
  getValue(): number {
    return Atomics.load(this.i32, VALUE);
  }

  /** Python's repr: `<Semaphore(value=2)>`. */
  override toString(): string {
    return `<${this.constructor.name}(value=${this.getValue()})>`;
  }
}

/**
 * A semaphore that refuses to be released above its initial value: Python's
 * `multiprocessing.BoundedSemaphore`.
 *
 * @example
 * import { BoundedSemaphore } from 'weft';
 * const sem = new BoundedSemaphore(1);
 * await sem.acquire();
 * sem.release();
 * try { sem.release(); } catch (e) { console.log(String(e)); } // ValueError: Semaphore released too many times
 */
export class BoundedSemaphore extends Semaphore {
  protected override isBounded(): boolean {
    return true;
  }

  protected override get typeName(): string {
    return 'weft.BoundedSemaphore';
  }

  /**
   * Gives one unit back and wakes one waiter.
   * @example
   * import { BoundedSemaphore } from 'weft';
   * const sem = new BoundedSemaphore(2);
   * await sem.acquire();
   * sem.release();
   * console.log(sem.getValue()); // 2
   * @throws {ValueError} when the count is already at the initial value ("Semaphore released too many times").
   */
  override release(): void {
    super.release();
  }

  /** Python's repr: `<BoundedSemaphore(value=1, maxvalue=1)>`. */
  override toString(): string {
    return `<BoundedSemaphore(value=${this.getValue()}, maxvalue=${Atomics.load(this.i32, MAX)})>`;
  }
}

// ---------------------------------------------------------------------------
// Event

const FLAG = 0;

/**
 * A flag processes and threads can wait for: Python's `multiprocessing.Event`.
 *
 * @example
 * import { Event, Process, isMainModule, task } from 'weft';
 * export const child = task(import.meta, (ready: Event) => ready.set());
 * if (isMainModule(import.meta)) {
 *   const ready = new Event();
 *   new Process({ target: child, args: [ready] }).start();
 *   if (await ready.wait(5)) console.log('child is ready'); // child is ready
 * }
 */
export class Event extends SharedObject {
  protected get typeName(): string {
    return 'weft.Event';
  }

  /** True once set, until cleared. */
  isSet(): boolean {
    return (Atomics.load(this.i32, FLAG) & 1) === 1;
  }

  /**
   * Sets the flag and wakes every waiter.
   * @example
   * import { Event } from 'weft';
   * const event = new Event();
   * setTimeout(() => event.set(), 10); // wakes every waiter
   * console.log(await event.wait(), event.isSet()); // true true
   */
  set(): void {
    const i32 = this.i32;
    let s = Atomics.load(i32, FLAG);
    for (;;) {
      if (s & 1) return;
      // a new generation, so a waiter that misses a set-then-clear still wakes
      const seen = Atomics.compareExchange(i32, FLAG, s, ((s >>> 1) + 1) << 1 | 1);
      if (seen === s) break;
      s = seen;
    }
    this.word.wake();
  }

  /**
   * Clears the flag; later waits block until the next `set()`.
   * @example
   * import { Event } from 'weft';
   * const event = new Event();
   * event.set();
   * event.clear();
   * console.log(event.isSet()); // false
   */
  clear(): void {
    Atomics.and(this.i32, FLAG, ~1);
  }

  #ready(start: number): () => true | undefined {
    return () => {
      const s = Atomics.load(this.i32, FLAG);
      return s & 1 || s >>> 1 !== start >>> 1 ? true : undefined;
    };
  }

  /**
   * Waits until the flag is set, without blocking the event loop; `true` when
   * it is (or was set while waiting, as `threading.Event`), `false` when
   * `timeout` seconds passed first.
   * @example
   * import { Event } from 'weft';
   * const event = new Event();
   * console.log(await event.wait(0.05)); // false
   * @throws {RangeError} when `timeout` is not a non-negative number.
   */
  async wait(timeout: number | null = null): Promise<boolean> {
    const start = Atomics.load(this.i32, FLAG);
    if (start & 1) return true;
    return (await park(this.word, deadline(timeout), this.#ready(start))) === true;
  }

  /**
   * The blocking twin of {@link wait}, for code that wants to block.
   * @example
   * import { Event } from 'weft';
   * const event = new Event();
   * event.set();
   * console.log(event.waitSync(1)); // true
   * @throws {RangeError} when `timeout` is not a non-negative number.
   */
  waitSync(timeout: number | null = null): boolean {
    const start = Atomics.load(this.i32, FLAG);
    if (start & 1) return true;
    return parkSync(this.word, deadline(timeout), this.#ready(start)) === true;
  }

  /** Python's repr: `<Event at 0x00000001 set>` / `<Event at 0x00000001 unset>`. */
  override toString(): string {
    return `<Event at ${this.address} ${this.isSet() ? 'set' : 'unset'}>`;
  }
}

// ---------------------------------------------------------------------------
// Condition

/** Condition header words; waiter slots follow. */
const SEQ = 2;
const HIGH = 3;
const SLOTS_BASE = 8;
/** A slot: [state, sleepers of state, arrival number, owner id]. */
const SLOT_INTS = 4;
const FREE = 0;
const WAITING = 1;
const NOTIFIED = 2;
/** Bytes of a Condition's block: room for about a thousand waiters at once. */
const CONDITION_BLOCK_SIZE = 16384;

/**
 * A condition variable over a Lock or RLock: Python's
 * `multiprocessing.Condition`. `wait` and `notify` require the lock to be held
 * by the caller's realm (process or worker thread).
 *
 * Waiters queue in arrival order, each on its own word: `notify(n)` wakes the
 * `n` longest-waiting ones, as `threading.Condition` does, and a waiter that
 * arrives later cannot take their turn.
 *
 * Unlike Python, the default lock is a {@link Lock}, not an RLock: an RLock
 * is owned by a whole realm, so two async functions of one process would both
 * "hold" it at once; a Lock makes them take turns, as Python threads do.
 *
 * @example
 * import { Condition } from 'weft';
 * const cond = new Condition();
 * const items: number[] = [];
 * const consumer = (async () => {
 *   using held = await cond.hold();
 *   await cond.waitFor(() => items.length > 0, 5);
 *   return items.shift();
 * })();
 * {
 *   using held = await cond.hold(); // the producer
 *   items.push(1);
 *   cond.notify();
 * }
 * console.log(await consumer); // 1
 */
export class Condition extends SharedObject {
  /** The lock `wait` releases and re-acquires. */
  readonly lock: Lock | RLock;

  /** @param lock the lock to use; a new Lock by default (see above). */
  constructor(lock?: Lock | RLock) {
    const inner = adopting ? null : lock ?? new Lock();
    super(CONDITION_BLOCK_SIZE);
    this.lock = inner ?? conditionLock!;
  }

  protected get typeName(): string {
    return 'weft.Condition';
  }

  /** @internal */
  override [reduce](): Reduced {
    const inner = this.lock[reduce]();
    return { type: this.typeName, state: { lock: inner.type }, fds: [this.block.fd, ...(inner.fds ?? [])] };
  }

  /**
   * Acquires the underlying lock.
   * @example
   * import { Condition } from 'weft';
   * const cond = new Condition();
   * console.log(await cond.acquire()); // true
   * cond.release();
   * @throws {RangeError} when `timeout` is not a number.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.lock.acquire(options);
  }

  /**
   * Acquires the underlying lock, blocking the thread.
   * @example
   * import { Condition } from 'weft';
   * const cond = new Condition();
   * console.log(cond.acquireSync()); // true
   * cond.release();
   * @throws {RangeError} when `timeout` is not a number.
   */
  acquireSync(options?: AcquireOptions): boolean {
    return this.lock.acquireSync(options);
  }

  /**
   * Releases the underlying lock.
   * @example
   * import { Condition } from 'weft';
   * const cond = new Condition();
   * await cond.acquire();
   * cond.release();
   * try { cond.notify(); } catch (e) { console.log((e as Error).message); } // cannot notify on un-acquired lock
   * @throws {RuntimeError} / {ValueError} as the lock's `release()`.
   */
  release(): void {
    this.lock.release();
  }

  /**
   * Holds the underlying lock for a `using` block.
   * @example
   * import { Condition } from 'weft';
   * const cond = new Condition();
   * {
   *   using held = await cond.hold();
   *   cond.notifyAll(); // allowed: the lock is held
   * }
   * console.log(await cond.acquire({ block: false })); // true
   * cond.release();
   * @throws {TimeoutError} when not acquired within `timeout` seconds.
   */
  hold(options?: HoldOptions): Promise<Disposable> {
    return this.lock.hold(options);
  }

  #check(what: string): void {
    if (!this.lock.isMine()) throw new RuntimeError(`cannot ${what} on un-acquired lock`);
  }

  get #capacity(): number {
    return Math.floor((this.i32.length - SLOTS_BASE) / SLOT_INTS);
  }

  /** Takes a free slot (under the lock), reclaiming those of dead waiters when full. */
  #allocate(): number {
    const i32 = this.i32;
    const high = Atomics.load(i32, HIGH);
    for (let i = 0; i < high; i++) {
      if (Atomics.load(i32, SLOTS_BASE + i * SLOT_INTS) === FREE) return i;
    }
    if (high < this.#capacity) {
      Atomics.store(i32, HIGH, high + 1);
      return high;
    }
    for (let i = 0; i < high; i++) {
      const base = SLOTS_BASE + i * SLOT_INTS;
      if (!isAlive(Atomics.load(i32, base + 3))) {
        Atomics.store(i32, base, FREE);
        return i;
      }
    }
    throw new RuntimeError(`more than ${this.#capacity} waiters on one Condition`);
  }

  /**
   * Releases the lock, waits for a notify (or `timeout` seconds), re-acquires
   * the lock; `true` when notified, `false` on timeout.
   * @example
   * import { Condition } from 'weft';
   * const cond = new Condition();
   * let done = false;
   * setTimeout(async () => { using held = await cond.hold(); done = true; cond.notify(); }, 10);
   * using held = await cond.hold();
   * while (!done) await cond.wait();
   * console.log(done); // true
   * @throws {RuntimeError} when the caller's realm does not hold the lock
   *   ("cannot wait on un-acquired lock"), or more than about a thousand wait at once.
   */
  async wait(timeout: number | null = null): Promise<boolean> {
    this.#check('wait');
    const until = deadline(timeout);
    const i32 = this.i32;
    const slot = this.#allocate();
    const base = SLOTS_BASE + slot * SLOT_INTS;
    Atomics.store(i32, base + 2, Atomics.add(i32, SEQ, 1));
    Atomics.store(i32, base + 3, selfId);
    Atomics.store(i32, base, WAITING);
    const saved = this.lock.releaseAll();
    let notified = false;
    try {
      const word = new Word(i32, base, base + 1);
      notified = (await park(word, until, () => (Atomics.load(i32, base) === NOTIFIED ? true : undefined))) === true;
    } finally {
      await this.lock.restore(saved);
      // Under the lock again: a notify that chose us after the timeout still counts.
      if (Atomics.load(i32, base) === NOTIFIED) notified = true;
      Atomics.store(i32, base, FREE);
    }
    return notified;
  }

  /**
   * Waits until `predicate()` returns a truthy value, or `timeout` seconds
   * pass; returns the predicate's last result (Python's `wait_for`).
   * @example
   * import { Condition } from 'weft';
   * const cond = new Condition();
   * const queue: number[] = [];
   * using held = await cond.hold();
   * console.log(await cond.waitFor(() => queue.length > 0, 0.05)); // false
   * @throws {RuntimeError} when the caller's realm does not hold the lock.
   */
  async waitFor<T>(predicate: () => T, timeout: number | null = null): Promise<T> {
    let result = predicate();
    const until = deadline(timeout);
    while (!result) {
      const left = until.remaining();
      if (left === 0) break;
      await this.wait(left === Infinity ? null : left);
      result = predicate();
    }
    return result;
  }

  /**
   * Wakes the `n` longest-waiting waiters (1 by default).
   * @example
   * import { Condition } from 'weft';
   * const cond = new Condition();
   * const waiter = async () => { using held = await cond.hold(); return await cond.wait(0.3); };
   * const results = Promise.all([waiter(), waiter(), waiter()]);
   * await new Promise((r) => setTimeout(r, 50)); // let all three wait
   * { using held = await cond.hold(); cond.notify(2); }
   * const notified = (await results).filter(Boolean).length; // the third timed out
   * console.log(notified); // 2
   * @throws {RuntimeError} when the caller's realm does not hold the lock ("cannot notify on un-acquired lock").
   */
  notify(n = 1): void {
    this.#check('notify');
    const i32 = this.i32;
    const high = Atomics.load(i32, HIGH);
    for (let k = 0; k < n; k++) {
      let oldest = -1;
      let oldestSeq = 0;
      for (let i = 0; i < high; i++) {
        const base = SLOTS_BASE + i * SLOT_INTS;
        if (Atomics.load(i32, base) !== WAITING) continue;
        const seq = Atomics.load(i32, base + 2);
        if (oldest < 0 || ((seq - oldestSeq) | 0) < 0) {
          oldest = base;
          oldestSeq = seq;
        }
      }
      if (oldest < 0) return;
      const owner = Atomics.load(i32, oldest + 3);
      if (owner !== selfId && !isAlive(owner)) {
        Atomics.store(i32, oldest, FREE); // a waiter that died: its turn goes to the next
        k--;
        continue;
      }
      Atomics.store(i32, oldest, NOTIFIED);
      new Word(i32, oldest, oldest + 1).wake(1);
    }
  }

  /**
   * Wakes every waiter.
   * @example
   * import { Condition } from 'weft';
   * const cond = new Condition();
   * const waiter = async () => { using held = await cond.hold(); return await cond.wait(1); };
   * const results = Promise.all([waiter(), waiter()]);
   * await new Promise((r) => setTimeout(r, 50)); // let both wait
   * { using held = await cond.hold(); cond.notifyAll(); }
   * console.log(await results); // [ true, true ]
   * @throws {RuntimeError} when the caller's realm does not hold the lock.
   */
  notifyAll(): void {
    this.#check('notify');
    const i32 = this.i32;
    const high = Atomics.load(i32, HIGH);
    for (let i = 0; i < high; i++) {
      const base = SLOTS_BASE + i * SLOT_INTS;
      if (Atomics.load(i32, base) !== WAITING) continue;
      Atomics.store(i32, base, NOTIFIED);
      new Word(i32, base, base + 1).wake(1);
    }
  }

  /** The number of realms waiting now. */
  #waiting(): number {
    const i32 = this.i32;
    let count = 0;
    for (let i = 0, high = Atomics.load(i32, HIGH); i < high; i++) {
      if (Atomics.load(i32, SLOTS_BASE + i * SLOT_INTS) === WAITING) count++;
    }
    return count;
  }

  /** Python's repr: `<Condition(<Lock(owner=None)>, 0)>`. */
  override toString(): string {
    return `<Condition(${this.lock}, ${this.#waiting()})>`;
  }
}

/** The lock a Condition being rebuilt adopts (set only by its rebuilder). */
let conditionLock: Lock | RLock | null = null;

// ---------------------------------------------------------------------------
// Barrier

const STATE = 0;
const PARTIES = 2;
const RESET_GEN = 3;
const COUNT_MASK = 0xffff;
const GEN_SHIFT = 16;
const GEN_MASK = 0x3fff;
const BROKEN = 1 << 30;

/**
 * Python's `threading.BrokenBarrierError`: the barrier was aborted, reset,
 * timed out, or its action threw.
 * @example
 * import { Barrier, BrokenBarrierError } from 'weft';
 * const barrier = new Barrier(2);
 * try {
 *   await barrier.wait(0.05); // nobody else comes: the timeout breaks the barrier
 * } catch (e) {
 *   if (e instanceof BrokenBarrierError) console.log(e.message); // barrier is broken
 *   barrier.reset();
 * }
 */
export class BrokenBarrierError extends RuntimeError {
  override name = 'BrokenBarrierError';
  constructor(message = 'barrier is broken') {
    super(message);
  }
}

/**
 * A barrier for a fixed number of parties: Python's `multiprocessing.Barrier`.
 * Each `wait()` blocks until `parties` callers are waiting, then all go on;
 * each gets a distinct index from 0 to parties-1 (arrival order). The last to
 * arrive runs `action` first. A timeout breaks the barrier, as in Python.
 *
 * To cross to a child the action must be declared with `task(import.meta, fn)`.
 *
 * @example
 * import { Barrier } from 'weft';
 * const barrier = new Barrier(3);
 * const arrive = async () => { if ((await barrier.wait()) === 0) console.log('all three arrived'); }; // all three arrived
 * await Promise.all([arrive(), arrive(), arrive()]); // three processes or threads work the same way
 */
export class Barrier extends SharedObject {
  #action: (() => unknown) | undefined;
  #actionRef: TaskRef | undefined;
  #actionLoad: Promise<() => unknown> | undefined;
  /** Default timeout of `wait()`, in seconds (`null`: forever). */
  readonly timeout: number | null;

  /**
   * @param parties how many callers the barrier waits for (1 to 65535).
   * @param action run by the last caller to arrive, before the others go on.
   * @param timeout default timeout of `wait()` in seconds.
   * @throws {ValueError} when `parties` is not an integer from 1 to 65535.
   */
  constructor(parties: number, action?: (() => unknown) | null, timeout: number | null = null) {
    if (!adopting && (!Number.isInteger(parties) || parties < 1 || parties > COUNT_MASK)) {
      throw new ValueError(`parties must be an integer from 1 to ${COUNT_MASK}, got ${parties}`);
    }
    super();
    if (this.fresh) Atomics.store(this.i32, PARTIES, parties);
    this.#action = action ?? undefined;
    this.timeout = timeout;
  }

  protected get typeName(): string {
    return 'weft.Barrier';
  }

  protected override reduceState(): unknown {
    let action: TaskRef | null = null;
    if (this.#action) {
      action = taskRef(this.#action) ?? null;
      if (!action) {
        throw new TypeError(
          'a Barrier action must be declared with task(import.meta, fn) to cross to another process or thread',
        );
      }
    } else if (this.#actionRef) {
      action = this.#actionRef;
    }
    return { action, timeout: this.timeout };
  }

  /** @internal Set by the rebuilder. */
  setActionRef(ref: TaskRef): void {
    this.#actionRef = ref;
    this.#actionLoad = loadTask(ref) as Promise<() => unknown>;
    this.#actionLoad.catch(() => {}); // reported when the action is needed
  }

  /** The number of parties. */
  get parties(): number {
    return Atomics.load(this.i32, PARTIES);
  }

  /** How many callers are waiting now (0 when broken). */
  get nWaiting(): number {
    const s = Atomics.load(this.i32, STATE);
    return s & BROKEN ? 0 : Math.min(s & COUNT_MASK, this.parties);
  }

  /** True once aborted, timed out or its action threw, until `reset()`. */
  get broken(): boolean {
    return (Atomics.load(this.i32, STATE) & BROKEN) !== 0;
  }

  /**
   * Waits until all parties wait; resolves with this caller's index.
   * @example
   * import { Barrier } from 'weft';
   * const barrier = new Barrier(2);
   * console.log(await Promise.all([barrier.wait(10), barrier.wait(10)])); // [ 0, 1 ]
   * @throws {BrokenBarrierError} when the barrier is or becomes broken, is
   *   reset while waiting, or `timeout` passes (which breaks it for all).
   * @throws {RangeError} when `timeout` is not a non-negative number.
   */
  async wait(timeout: number | null = null): Promise<number> {
    const i32 = this.i32;
    const parties = this.parties;
    const until = deadline(timeout ?? this.timeout);
    for (;;) {
      const s = Atomics.load(i32, STATE);
      if (s & BROKEN) throw new BrokenBarrierError();
      const count = s & COUNT_MASK;
      const gen = (s >>> GEN_SHIFT) & GEN_MASK;
      if (count >= parties) {
        // the last arrival is running the action: wait for the next generation
        const r = await park(this.word, until, () => (Atomics.load(i32, STATE) !== s ? true : undefined));
        if (r === undefined) this.#timedOut(gen);
        continue;
      }
      if (Atomics.compareExchange(i32, STATE, s, s + 1) !== s) continue;
      if (count + 1 === parties) {
        await this.#runAction();
        // a normal release: forget an old reset, or one 2^14 generations ago would read as ours
        Atomics.store(i32, RESET_GEN, 0);
        const next = ((gen + 1) & GEN_MASK) << GEN_SHIFT;
        if (Atomics.compareExchange(i32, STATE, s + 1, next) !== s + 1) throw new BrokenBarrierError();
        this.word.wake();
        return count;
      }
      const outcome = await park(this.word, until, () => {
        const now = Atomics.load(i32, STATE);
        if (((now >>> GEN_SHIFT) & GEN_MASK) !== gen) {
          return Atomics.load(i32, RESET_GEN) === gen + 1 ? 'reset' : 'passed';
        }
        return now & BROKEN ? 'broken' : undefined;
      });
      if (outcome === 'passed') return count;
      if (outcome === undefined) this.#timedOut(gen);
      throw new BrokenBarrierError();
    }
  }

  async #runAction(): Promise<void> {
    let action = this.#action;
    try {
      if (!action && this.#actionLoad) action = await this.#actionLoad;
      if (action) await action();
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  #timedOut(gen: number): never {
    const i32 = this.i32;
    let s = Atomics.load(i32, STATE);
    while (((s >>> GEN_SHIFT) & GEN_MASK) === gen && !(s & BROKEN)) {
      const seen = Atomics.compareExchange(i32, STATE, s, s | BROKEN);
      if (seen === s) break;
      s = seen;
    }
    this.word.wake();
    throw new BrokenBarrierError();
  }

  /**
   * Returns the barrier to its empty state; callers waiting now get BrokenBarrierError.
   * @example
   * import { Barrier } from 'weft';
   * const barrier = new Barrier(2);
   * const waiting = barrier.wait().catch((e: Error) => e.name);
   * await new Promise((r) => setTimeout(r, 10));
   * barrier.reset(); // the caller waiting gets BrokenBarrierError
   * console.log(await waiting, barrier.broken); // BrokenBarrierError false
   */
  reset(): void {
    const i32 = this.i32;
    let s = Atomics.load(i32, STATE);
    for (;;) {
      const gen = (s >>> GEN_SHIFT) & GEN_MASK;
      Atomics.store(i32, RESET_GEN, gen + 1);
      const seen = Atomics.compareExchange(i32, STATE, s, ((gen + 1) & GEN_MASK) << GEN_SHIFT);
      if (seen === s) break;
      s = seen;
    }
    this.word.wake();
  }

  /**
   * Breaks the barrier: callers waiting now and later get BrokenBarrierError until `reset()`.
   * @example
   * import { Barrier } from 'weft';
   * const barrier = new Barrier(2);
   * barrier.abort();
   * console.log(barrier.broken); // true
   * await barrier.wait().catch((e: Error) => console.log(e.name)); // BrokenBarrierError
   */
  abort(): void {
    Atomics.or(this.i32, STATE, BROKEN);
    this.word.wake();
  }

  /** Python's repr: `<Barrier at 0x00000001: waiters=1/3>`, or `<Barrier at 0x00000001: broken>`. */
  override toString(): string {
    return `<Barrier at ${this.address}: ${this.broken ? 'broken' : `waiters=${this.nWaiting}/${this.parties}`}>`;
  }
}

// ---------------------------------------------------------------------------
// Rebuilding in a child

/**
 * @internal Rebuilds a Lock or RLock from its registered type and fds (used by
 * sharedctypes for a Value's lock). Not re-exported by the package.
 */
export function rebuildLock(type: string, fds: number[]): Lock | RLock {
  const block = SharedBlock.adopt(fds[0]!);
  return adopt(block, () => (type === 'weft.RLock' ? new RLock() : new Lock()));
}

registerShareable('weft.Lock', (_state, fds) => rebuildLock('weft.Lock', fds));
registerShareable('weft.RLock', (_state, fds) => rebuildLock('weft.RLock', fds));
registerShareable('weft.Semaphore', (_state, fds) => adopt(SharedBlock.adopt(fds[0]!), () => new Semaphore()));
registerShareable('weft.BoundedSemaphore', (_state, fds) => adopt(SharedBlock.adopt(fds[0]!), () => new BoundedSemaphore()));
registerShareable('weft.Event', (_state, fds) => adopt(SharedBlock.adopt(fds[0]!), () => new Event()));
registerShareable('weft.Condition', (state, fds) => {
  const lock = rebuildLock((state as { lock: string }).lock, fds.slice(1));
  conditionLock = lock;
  try {
    return adopt(SharedBlock.adopt(fds[0]!), () => new Condition());
  } finally {
    conditionLock = null;
  }
});
registerShareable('weft.Barrier', (state, fds) => {
  const { action, timeout } = state as { action: TaskRef | null; timeout: number | null };
  const barrier = adopt(SharedBlock.adopt(fds[0]!), () => new Barrier(1, null, timeout));
  if (action) barrier.setActionRef(action);
  return barrier;
});
