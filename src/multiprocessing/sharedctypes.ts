/**
 * Numbers and arrays of numbers in shared memory — the twin of CPython's
 * `Lib/multiprocessing/sharedctypes.py`: `RawValue` and `RawArray` (plain
 * shared storage), and `Value` and `SharedArray` (Python's `Array`, a name
 * JavaScript already uses), the synchronized wrappers that add a lock.
 *
 * A Value or SharedArray owns one {@link SharedBlock}; a child process or
 * worker thread handed it as a `Process` arg maps the same bytes, so a write
 * anywhere is seen everywhere. Like Python's, reads and writes are plain
 * loads and stores: `v.value += 1` is a read then a write, and needs the lock
 * (`getLock()`, an RLock by default) when several writers race. As in Python,
 * `new Value(code, x, { lock: false })` gives the raw object, a RawValue
 * without `getLock()` (TypeScript types it as Value: write `new RawValue()`
 * to have the type say so).
 *
 * Typecodes are Python's (the `array` module and ctypes on 64-bit Linux):
 *
 * | code | C type             | bytes | JS type |
 * |------|--------------------|-------|---------|
 * | c    | char               | 1     | Buffer of length 1 (Python's `bytes`) |
 * | b B  | signed/unsigned char | 1   | number  |
 * | h H  | short              | 2     | number  |
 * | i I  | int                | 4     | number  |
 * | l L  | long               | 8     | number (exact up to 2^53) |
 * | q Q  | long long          | 8     | bigint  |
 * | f    | float              | 4     | number  |
 * | d    | double             | 8     | number  |
 *
 * Integers wrap on overflow as in C (and ctypes); a non-integer written to an
 * integer code throws TypeError, as ctypes does.
 * @module
 */
import { reduce, registerShareable, type Reduced, type Shareable } from './reduction.js';
import { SharedBlock } from './shared_memory.js';
import { Lock, RLock, rebuildLock } from './synchronize.js';

/**
 * Python's typecodes, as accepted by {@link Value} and {@link SharedArray}.
 * @example
 * import { Value, type Typecode } from 'weft';
 * const code: Typecode = 'd'; // a C double
 * const v = new Value(code, 0.5);
 * console.log(v.value, String(v)); // 0.5 <Synchronized wrapper for c_double(0.5)>
 */
export type Typecode = 'c' | 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'l' | 'L' | 'q' | 'Q' | 'f' | 'd';

/**
 * The JS type of a typecode's items: `bigint` for 'q' and 'Q', a one-byte
 * Buffer for 'c' (Python's `bytes` of length 1), `number` otherwise.
 * @example
 * import { Value, type ItemType } from 'weft';
 * const big: ItemType<'q'> = 1n; // 64-bit codes take and give a bigint
 * console.log(new Value('q', big).value); // 1n
 * const char: ItemType<'c'> = Buffer.from('x');
 * console.log(String(new Value('c', char))); // <Synchronized wrapper for c_char(b'x')>
 */
export type ItemType<C extends Typecode> = C extends 'q' | 'Q' ? bigint : C extends 'c' ? Buffer : number;

type View = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array |
  BigUint64Array | Float32Array | Float64Array;

interface Codec {
  size: number;
  ctype: string;
  view: (buffer: SharedArrayBuffer, length: number) => View;
  /** JS value → stored value; throws TypeError for the wrong kind. */
  encode: (v: unknown) => number | bigint;
  /** Stored value → JS value. */
  decode: (v: number | bigint) => number | bigint | Buffer;
}

function int(code: string): (v: unknown) => number {
  return (v) => {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'bigint') return Number(v);
    throw new TypeError(`typecode '${code}' holds integers: int expected instead of ${describe(v)}`);
  };
}

function big(code: string): (v: unknown) => bigint {
  return (v) => {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
    throw new TypeError(`typecode '${code}' holds integers: int expected instead of ${describe(v)}`);
  };
}

function float(code: string): (v: unknown) => number {
  return (v) => {
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    throw new TypeError(`typecode '${code}' holds numbers: must be real number, not ${describe(v)}`);
  };
}

/** ctypes' c_char: one byte from a bytes-like of length 1, or an integer 0..255. */
function char(v: unknown): number {
  if (v instanceof Uint8Array && v.length === 1) return v[0]!;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) return v;
  throw new TypeError(`typecode 'c' holds one byte: one character bytes (a Buffer of length 1) or integer expected instead of ${describe(v)}`);
}

/** Python's repr of a byte string: `b'x'`, `b'\\x00'`. */
function bytesRepr(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x27 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b === 9) out += '\\t';
    else if (b === 10) out += '\\n';
    else if (b === 13) out += '\\r';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `b'${out}'`;
}

/** An item as Python's repr shows it. */
function repr(v: number | bigint | Buffer): string {
  return v instanceof Uint8Array ? bytesRepr(v) : String(v);
}

function describe(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? `int (${v})` : `float (${v})`;
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  return v === null ? 'null' : typeof v;
}

const same = (v: number | bigint): number | bigint => v;
const toNumber = (v: number | bigint): number => Number(v);

const codecs: Record<Typecode, Codec> = {
  c: { size: 1, ctype: 'c_char', view: (b, n) => new Uint8Array(b, 0, n), encode: char, decode: (v) => Buffer.of(Number(v)) },
  b: { size: 1, ctype: 'c_byte', view: (b, n) => new Int8Array(b, 0, n), encode: int('b'), decode: same },
  B: { size: 1, ctype: 'c_ubyte', view: (b, n) => new Uint8Array(b, 0, n), encode: int('B'), decode: same },
  h: { size: 2, ctype: 'c_short', view: (b, n) => new Int16Array(b, 0, n), encode: int('h'), decode: same },
  H: { size: 2, ctype: 'c_ushort', view: (b, n) => new Uint16Array(b, 0, n), encode: int('H'), decode: same },
  i: { size: 4, ctype: 'c_int', view: (b, n) => new Int32Array(b, 0, n), encode: int('i'), decode: same },
  I: { size: 4, ctype: 'c_uint', view: (b, n) => new Uint32Array(b, 0, n), encode: int('I'), decode: same },
  l: { size: 8, ctype: 'c_long', view: (b, n) => new BigInt64Array(b, 0, n), encode: big('l'), decode: toNumber },
  L: { size: 8, ctype: 'c_ulong', view: (b, n) => new BigUint64Array(b, 0, n), encode: big('L'), decode: toNumber },
  q: { size: 8, ctype: 'c_longlong', view: (b, n) => new BigInt64Array(b, 0, n), encode: big('q'), decode: same },
  Q: { size: 8, ctype: 'c_ulonglong', view: (b, n) => new BigUint64Array(b, 0, n), encode: big('Q'), decode: same },
  f: { size: 4, ctype: 'c_float', view: (b, n) => new Float32Array(b, 0, n), encode: float('f'), decode: same },
  d: { size: 8, ctype: 'c_double', view: (b, n) => new Float64Array(b, 0, n), encode: float('d'), decode: same },
};

const CODES = Object.keys(codecs) as Typecode[];

function codecOf(typecode: unknown): Codec {
  if (typeof typecode === 'string' && Object.hasOwn(codecs, typecode)) return codecs[typecode as Typecode];
  const shown = typeof typecode === 'string' ? `'${typecode}'` : String(typecode);
  throw new TypeError(`bad typecode ${shown} (must be ${CODES.slice(0, -1).join(', ')} or ${CODES.at(-1)})`);
}

/**
 * Options of {@link Value} and {@link SharedArray}.
 * @example
 * import { Lock, RawValue, SharedArray, Value, type SharedOptions } from 'weft';
 * const raw: SharedOptions = { lock: false }; // no lock: Python's lock=False gives the raw object
 * console.log(new Value('i', 0, raw) instanceof RawValue, 'getLock' in new Value('i', 0, raw)); // true false
 * const arr = new SharedArray('d', 8, { lock: new Lock() });
 * console.log(arr.getLock() instanceof Lock); // true
 */
export interface SharedOptions {
  /**
   * `true` (default): a new RLock guards the object (`getLock()`), as in
   * Python; a Lock or RLock: that one; `false`: no lock, and the constructor
   * returns the raw object (a {@link RawValue} or {@link RawArray}), as
   * Python's `lock=False` does. An RLock is owned by a whole process or
   * thread: when two async functions of one process hold it across an
   * `await`, give a `new Lock()` instead so they take turns.
   */
  lock?: boolean | Lock | RLock;
}

/** The block and lock a rebuilder hands to the next constructor. */
let adopting: { block: SharedBlock; lock: Lock | RLock | null } | null = null;

function adopt<T>(block: SharedBlock, lock: Lock | RLock | null, make: () => T): T {
  adopting = { block, lock };
  try {
    return make();
  } finally {
    adopting = null;
  }
}

/** The lock `options` ask for: null for none. */
function lockOf(options: SharedOptions | undefined): Lock | RLock | null {
  const lock = options?.lock ?? true;
  if (lock !== true && lock !== false && !(lock instanceof Lock) && !(lock instanceof RLock)) {
    throw new TypeError(`lock must be true, false, a Lock or an RLock, got ${describe(lock)}`);
  }
  return lock === true ? new RLock() : lock === false ? null : lock;
}

/** Storage shared by every class here: a block and a typed view of it. */
abstract class SharedCData implements Shareable {
  readonly typecode: Typecode;
  /** @internal */ protected readonly codec: Codec;
  /** @internal */ protected readonly view: View;
  /** @internal */ protected readonly block: SharedBlock;

  constructor(typecode: Typecode, length: number) {
    this.codec = codecOf(typecode);
    this.typecode = typecode;
    this.block = adopting ? adopting.block : SharedBlock.create(Math.max(8, length * this.codec.size));
    this.view = this.codec.view(this.block.buffer, length);
  }

  /** @internal */
  protected abstract get typeName(): string;

  /** @internal The lock that travels with this object. */
  protected get sharedLock(): Lock | RLock | null {
    return null;
  }

  /** @internal */
  [reduce](): Reduced {
    const lock = this.sharedLock?.[reduce]();
    return {
      type: this.typeName,
      state: { typecode: this.typecode, length: this.view.length, lock: lock?.type ?? null },
      fds: [this.block.fd, ...(lock?.fds ?? [])],
    };
  }
}

/**
 * One number (or byte) in shared memory, without a lock: Python's
 * `multiprocessing.RawValue`. Reads and writes are plain loads and stores.
 *
 * @example
 * import { RawValue } from 'weft';
 * const v = new RawValue('i', 5);
 * v.value += 1;
 * console.log(v.value, String(v), 'getLock' in v); // 6 c_int(6) false
 */
export class RawValue<C extends Typecode = Typecode> extends SharedCData {
  /**
   * @param typecode one of Python's typecodes (see the module notes).
   * @param initial the first value (0, or a zero byte for 'c', by default).
   * @throws {TypeError} for an unknown typecode (the message lists the valid ones),
   *   or an initial value of the wrong kind.
   */
  constructor(typecode: C, initial?: ItemType<C>) {
    super(typecode, 1);
    if (!adopting && initial !== undefined) this.value = initial;
  }

  /** The current value; a write is seen by every process and thread at once. */
  get value(): ItemType<C> {
    return this.codec.decode(this.view[0]!) as ItemType<C>;
  }
  /** @throws {TypeError} for a value of the wrong kind (a fraction for an integer code, a string). */
  set value(v: ItemType<C>) {
    this.view[0] = this.codec.encode(v) as never;
  }

  protected override get typeName(): string {
    return 'weft.RawValue';
  }

  /** Python's repr of the ctypes object: `c_int(5)`, `c_char(b'x')`. */
  override toString(): string {
    return `${this.codec.ctype}(${repr(this.value)})`;
  }
}

/**
 * One number (or byte) in shared memory and the lock that guards it: Python's
 * `multiprocessing.Value`, a synchronized wrapper (`getLock()`, `getObj()`).
 * With `{ lock: false }` the constructor returns a {@link RawValue}, as
 * Python's `Value(..., lock=False)` returns the raw object.
 *
 * @example
 * import { Value, Process, task, isMainModule } from 'weft';
 * export const add = task(import.meta, async (v: Value<'i'>) => {
 *   using held = await v.getLock().hold();
 *   v.value += 1;
 * });
 * if (isMainModule(import.meta)) {
 *   const counter = new Value('i', 0);
 *   const p = new Process({ target: add, args: [counter] });
 *   p.start();
 *   await p.join();
 *   console.log(counter.value); // 1
 * }
 */
export class Value<C extends Typecode = Typecode> extends RawValue<C> {
  readonly #lock!: Lock | RLock;
  #obj: RawValue<C> | undefined;

  /**
   * @param typecode one of Python's typecodes (see the module notes).
   * @param initial the first value (0 by default).
   * @param options the lock (see {@link SharedOptions}); `lock: false` returns a RawValue.
   * @throws {TypeError} for an unknown typecode (the message lists the valid ones),
   *   an initial value of the wrong kind, or a lock option that is not a boolean, Lock or RLock.
   */
  constructor(typecode: C, initial?: ItemType<C>, options?: SharedOptions) {
    const lock = adopting ? adopting.lock : lockOf(options);
    // Python's Value(lock=False) is the raw ctypes object, without get_lock()
    if (!lock) return new RawValue(typecode, initial) as never;
    super(typecode, initial);
    this.#lock = lock;
  }

  /**
   * The lock guarding this object (an RLock unless another was given).
   * @example
   * import { Value } from 'weft';
   * const counter = new Value('i', 0);
   * { using held = await counter.getLock().hold(); counter.value += 1; }
   * console.log(counter.value); // 1
   */
  getLock(): Lock | RLock {
    return this.#lock;
  }

  /**
   * The raw object this wrapper guards: a {@link RawValue} on the same memory.
   * @example
   * import { Value } from 'weft';
   * const v = new Value('i', 5);
   * v.getObj().value = 7;
   * console.log(v.value, String(v.getObj())); // 7 c_int(7)
   */
  getObj(): RawValue<C> {
    return (this.#obj ??= adopt(this.block, null, () => new RawValue(this.typecode as C)));
  }

  protected override get typeName(): string {
    return 'weft.Value';
  }

  protected override get sharedLock(): Lock | RLock {
    return this.#lock;
  }

  /** Python's repr: `<Synchronized wrapper for c_int(5)>`. */
  override toString(): string {
    return `<Synchronized wrapper for ${super.toString()}>`;
  }
}

/**
 * A fixed-length array of numbers (or bytes) in shared memory, without a
 * lock: Python's `multiprocessing.RawArray`. Read and write with `get(i)` /
 * `set(i, v)` (negative indexes count from the end, as in Python), iterate
 * with `for (const x of arr)`, copy out with `toArray()`.
 *
 * @example
 * import { RawArray } from 'weft';
 * const arr = new RawArray('d', [1.5, 2.5, 3.5]);
 * arr.set(0, 9);
 * console.log(arr.get(-1), arr.toArray(), 'getLock' in arr); // 3.5 [ 9, 2.5, 3.5 ] false
 */
export class RawArray<C extends Typecode = Typecode> extends SharedCData implements Iterable<ItemType<C>> {
  /**
   * @param typecode one of Python's typecodes (see the module notes).
   * @param lengthOrValues a length (zero-filled) or the initial items; for 'c', bytes (a Buffer) too, as Python's `b'abc'`.
   * @throws {TypeError} for an unknown typecode or an item of the wrong kind.
   * @throws {RangeError} for a negative or fractional length.
   */
  constructor(typecode: C, lengthOrValues: number | Iterable<ItemType<C>> | (C extends 'c' ? Uint8Array : never)) {
    const values = typeof lengthOrValues === 'number' ? null : [...(lengthOrValues as Iterable<unknown>)];
    const length = values ? values.length : (lengthOrValues as number);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`SharedArray length must be a non-negative integer, got ${length}`);
    }
    super(typecode, length);
    if (values && !adopting) values.forEach((v, i) => this.set(i, v as ItemType<C>));
  }

  /** The number of items. */
  get length(): number {
    return this.view.length;
  }

  #index(i: number): number {
    const n = this.view.length;
    const j = Number.isInteger(i) && i < 0 ? i + n : i;
    if (!Number.isInteger(j) || j < 0 || j >= n) {
      throw new RangeError(`index ${i} out of range for a SharedArray of length ${n}`);
    }
    return j;
  }

  /**
   * The item at `i` (negative counts from the end).
   * @example
   * import { SharedArray } from 'weft';
   * const arr = new SharedArray('i', [10, 20, 30]);
   * console.log(arr.get(0), arr.get(-1)); // 10 30
   * @throws {RangeError} when `i` is out of range (Python's IndexError).
   */
  get(i: number): ItemType<C> {
    return this.codec.decode(this.view[this.#index(i)]!) as ItemType<C>;
  }

  /**
   * Writes the item at `i` (negative counts from the end).
   * @example
   * import { SharedArray } from 'weft';
   * const arr = new SharedArray('i', 3);
   * arr.set(0, 42);
   * arr.set(-1, 7);
   * console.log([...arr]); // [ 42, 0, 7 ]
   * @throws {RangeError} when `i` is out of range.
   * @throws {TypeError} for a value of the wrong kind.
   */
  set(i: number, v: ItemType<C>): void {
    this.view[this.#index(i)] = this.codec.encode(v) as never;
  }

  /** A copy of the items as a plain array. */
  toArray(): ItemType<C>[] {
    return Array.from(this.view as ArrayLike<number | bigint>, (v) => this.codec.decode(v) as ItemType<C>);
  }

  *[Symbol.iterator](): Iterator<ItemType<C>> {
    for (let i = 0; i < this.view.length; i++) yield this.codec.decode(this.view[i]!) as ItemType<C>;
  }

  protected override get typeName(): string {
    return 'weft.RawArray';
  }

  /** The ctypes array type and the items: `c_int_Array_3 ([1, 2, 3])`. */
  override toString(): string {
    return `${this.codec.ctype}_Array_${this.length} ([${this.toArray().map(repr).join(', ')}])`;
  }
}

/**
 * A fixed-length array in shared memory and the lock that guards it: Python's
 * `multiprocessing.Array` (a name JavaScript already uses), a synchronized
 * wrapper (`getLock()`, `getObj()`) over a {@link RawArray}. With
 * `{ lock: false }` the constructor returns the RawArray, as Python does.
 *
 * @example
 * import { SharedArray } from 'weft';
 * const arr = new SharedArray('d', [1.5, 2.5, 3.5]);
 * arr.set(0, 9);
 * console.log(arr.get(-1)); // 3.5
 * console.log(arr.toArray()); // [ 9, 2.5, 3.5 ]
 */
export class SharedArray<C extends Typecode = Typecode> extends RawArray<C> {
  readonly #lock!: Lock | RLock;
  #obj: RawArray<C> | undefined;

  /**
   * @param typecode one of Python's typecodes (see the module notes).
   * @param lengthOrValues a length (zero-filled) or the initial items.
   * @param options the lock (see {@link SharedOptions}); `lock: false` returns a RawArray.
   * @throws {TypeError} for an unknown typecode, an item of the wrong kind, or a bad lock option.
   * @throws {RangeError} for a negative or fractional length.
   */
  constructor(typecode: C, lengthOrValues: number | Iterable<ItemType<C>> | (C extends 'c' ? Uint8Array : never), options?: SharedOptions) {
    const lock = adopting ? adopting.lock : lockOf(options);
    if (!lock) return new RawArray(typecode, lengthOrValues) as never;
    super(typecode, lengthOrValues);
    this.#lock = lock;
  }

  /**
   * The lock guarding this array (an RLock unless another was given).
   * @example
   * import { SharedArray } from 'weft';
   * const arr = new SharedArray('i', 2);
   * { using held = await arr.getLock().hold(); arr.set(0, arr.get(0) + 1); }
   * console.log(arr.get(0)); // 1
   */
  getLock(): Lock | RLock {
    return this.#lock;
  }

  /**
   * The raw array this wrapper guards: a {@link RawArray} on the same memory.
   * @example
   * import { SharedArray } from 'weft';
   * const arr = new SharedArray('i', [1, 2]);
   * arr.getObj().set(0, 5);
   * console.log(arr.get(0)); // 5
   */
  getObj(): RawArray<C> {
    return (this.#obj ??= adopt(this.block, null, () => new RawArray(this.typecode as C, this.length)));
  }

  protected override get typeName(): string {
    return 'weft.SharedArray';
  }

  protected override get sharedLock(): Lock | RLock {
    return this.#lock;
  }

  /** Python's repr: `<SynchronizedArray wrapper for c_int_Array_3 ([1, 2, 3])>` (`SynchronizedString` for 'c'). */
  override toString(): string {
    return `<Synchronized${this.typecode === 'c' ? 'String' : 'Array'} wrapper for ${super.toString()}>`;
  }
}

interface CState {
  typecode: Typecode;
  length: number;
  lock: string | null;
}

function rebuildParts(state: unknown, fds: number[]): [CState, SharedBlock, Lock | RLock | null] {
  const s = state as CState;
  const lock = s.lock ? rebuildLock(s.lock, fds.slice(1)) : null;
  return [s, SharedBlock.adopt(fds[0]!), lock];
}

registerShareable('weft.RawValue', (state, fds) => {
  const [s, block] = rebuildParts(state, fds);
  return adopt(block, null, () => new RawValue(s.typecode));
});
registerShareable('weft.Value', (state, fds) => {
  const [s, block, lock] = rebuildParts(state, fds);
  return adopt(block, lock, () => new Value(s.typecode));
});
registerShareable('weft.RawArray', (state, fds) => {
  const [s, block] = rebuildParts(state, fds);
  return adopt(block, null, () => new RawArray(s.typecode, s.length));
});
registerShareable('weft.SharedArray', (state, fds) => {
  const [s, block, lock] = rebuildParts(state, fds);
  return adopt(block, lock, () => new SharedArray(s.typecode, s.length));
});
