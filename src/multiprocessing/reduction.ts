/**
 * How values cross between processes and threads — the twin of CPython's
 * `multiprocessing/reduction.py`, with structured-clone data instead of pickle
 * (nothing received is ever evaluated as code).
 *
 * Two kinds of payload:
 * - **plain data** (strings, numbers, booleans, null, undefined, plain objects and
 *   arrays, the bulk of queue traffic) goes through msgpackr, ~5x faster than
 *   `v8.serialize` for small messages;
 * - **everything else** structured clone can carry (Map, Set, Date, RegExp,
 *   Buffer and typed arrays, BigInt, circular references) goes through
 *   `v8.serialize`, after a walk that keeps what V8 would drop: an `Error`'s class
 *   name and own properties, and weft's own shareable objects (locks, queues,
 *   pipe ends, shared values, manager proxies), which travel as
 *   `{type, state, fds}` and are rebuilt by the type registered for them, and
 *   instances of the user's classes registered with `registerType`
 *   (copyreg.ts), which travel as their class's name and reduced state.
 *
 * The args of a process or thread being started take msgpack too when, their
 * shareable objects turned into records, they are plain data (a Queue and a
 * number): a child then rebuilds them without loading `node:v8` (lazy.ts says
 * what that costs a booting process).
 *
 * msgpack would change two things: a string with a lone UTF-16 surrogate (it
 * writes UTF-8, where `'\ud800'` becomes U+FFFD) and -0 (written as the integer
 * 0). Values holding either take the structured path, which keeps both.
 *
 * A value that cannot cross (a function, a symbol, a socket or any other class
 * instance with native state) is refused before anything is sent, with an error
 * naming its path in the message (`args[1].handler`).
 * @module
 */
import { EOFError, Empty, Full, KeyError, MemoryError, OverflowError, RuntimeError, ValueError } from '../errors.js';
// 'msgpackr/pack' is msgpackr without its optional native extractor, whose failed
// lookup (its install script is not run) costs ~45 ms at every process start.
import { Packr, RESERVE_START_SPACE } from 'msgpackr/pack';
import { lazy } from '../lazy.js';
import { registeredFor, registeredNamed } from './copyreg.js';
import { detach, isMarked, type MovedRecord, type Transferable, type TransferChannel } from './transfer.js';

declare global {
  // ES2024, in V8 since Node 20; tsconfig's lib stops at ES2023.
  interface String {
    isWellFormed(): boolean;
  }
}

/** Symbol under which a shareable weft object describes itself for transfer. */
export const reduce: unique symbol = Symbol.for('weft.reduce');

/** What a shareable object turns into on the wire. */
export interface Reduced {
  /** Name of the registered rebuilder, e.g. `'Lock'`. */
  type: string;
  /** Plain data the rebuilder needs. */
  state: unknown;
  /** fds the object lives on; they cross only when a process or thread starts. */
  fds?: number[];
  /** Runs once the child started with the object: for objects whose starter gives up its own share. */
  handOver?: () => void;
}

/** An object that can be passed to a child: it reduces to {@link Reduced}; `to` is the kind of child being started. */
export interface Shareable {
  [reduce](to?: 'process' | 'thread'): Reduced;
}

/** Rebuilds a shareable object in the receiving realm from its state and its (now local) fds. */
export type Rebuilder = (state: unknown, fds: number[]) => object;

const rebuilders = new Map<string, Rebuilder>();

/** Registers how to rebuild weft's shareable objects of `type` on the receiving side. */
export function registerShareable(type: string, rebuild: Rebuilder): void {
  rebuilders.set(type, rebuild);
}

function isShareable(value: object): value is Shareable {
  return typeof (value as Partial<Shareable>)[reduce] === 'function';
}

/**
 * Fd passing for one transfer: `collect` gathers the fds of shareable objects
 * on the sending side; `resolve` maps them to local fds on the receiving side.
 * Without a channel (queue and pipe messages) objects that live on fds are
 * refused, as Python refuses to pickle a Lock outside of process start.
 */
export interface FdChannel {
  collect(fd: number): number;
  handOver(fn: () => void): void;
  /** The kind of child being started: a queue passed to another process stops moving buffers without a copy. */
  to: 'process' | 'thread';
}

/** The key {@link dumps} marks its records with (errors, shareables); the manager's decoder reads it too. */
export const MARK = '\u0000weft';
/** A payload's first byte: msgpack data, `v8.serialize` data, raw bytes, or msgpack data with records (a start's args). */
export const PLAIN = 0;
export const STRUCTURED = 1;
const BYTES = 2;
const RECORDS = 3;

// copyBuffers: a binary field (none of weft's own messages has one, but a peer's may) is
// copied out rather than left as a view of the buffer it was read from (see unpackPlain).
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, copyBuffers: true });

/** Largest payload decoded through the reused buffer; larger ones are decoded where they are. */
const SCRATCH_MAX = 64 * 1024;
let scratch = Buffer.allocUnsafeSlow(4096);

/**
 * Decodes msgpack data at `payload[start..]`. msgpackr keeps a DataView on
 * every source it reads, as a property it adds to that object: for a fresh
 * small Uint8Array per message that costs more than the decoding itself (630
 * ns against 250 for a 30-byte message). So a small payload is copied into one
 * reused Buffer and decoded from there; what msgpackr builds from it (strings,
 * numbers, arrays, objects, and copied binaries) never refers to that buffer.
 */
export function unpackPlain(payload: Uint8Array, start: number): unknown {
  const end = payload.length;
  if (end > SCRATCH_MAX) return packr.unpack(payload, { start });
  if (end > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, 2 ** Math.ceil(Math.log2(end))));
  scratch.set(payload, 0);
  return packr.unpack(scratch, { start, end });
}

/**
 * Strings at least this long are not checked for lone surrogates one by one
 * (`isWellFormed` walks a two-byte string at ~0.5 ns a character, 15% of
 * packing CJK text). msgpackr writes them with `Buffer.utf8Write` (its own
 * encoder below 0x40 characters, pack.js), which turns a lone surrogate into
 * U+FFFD: so the packed message is searched for that character's UTF-8 bytes
 * instead (memmem, ~10x faster), and one that holds it takes the structured path.
 */
const LONG_STRING = 0x40;
const REPLACEMENT = Buffer.from('\ufffd');
/** Set by {@link isPlain} when it let a long string through unchecked. */
let longString = false;

function wellFormed(s: string): boolean {
  if (s.length < LONG_STRING) return s.isWellFormed();
  longString = true;
  return true;
}

/**
 * True for data msgpackr carries exactly: JSON-like trees, shallow enough to
 * have no cycle, with no -0, no lone surrogate (long strings: see
 * {@link LONG_STRING}), and, unless `records` (a tree {@link prepare} made), no key
 * that would read as one of the codec's records.
 */
function isPlain(value: unknown, depth: number, records = false): boolean {
  switch (typeof value) {
    case 'string':
      return wellFormed(value);
    case 'number':
      return value !== 0 || 1 / value > 0;
    case 'boolean':
    case 'undefined':
      return true;
    case 'object': {
      if (value === null) return true;
      if (depth > 16) return false;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return false;
        for (let i = 0; i < value.length; i++) if (!isPlain(value[i], depth + 1, records)) return false;
        return true;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      for (const key in value) {
        if (key === '__proto__' || (key === MARK && !records) || !wellFormed(key) || !isPlain((value as Record<string, unknown>)[key], depth + 1, records)) {
          return false;
        }
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * A value that cannot cross to another process or thread; the message names its path.
 * @example
 * import { Queue, UnsendableError } from 'weft';
 * const q = new Queue();
 * try { await q.put({ onDone: () => {} }); } catch (e) { if (e instanceof UnsendableError) console.log(e.message); } // cannot send a function (onDone) at obj.onDone
 */
export class UnsendableError extends TypeError {
  override name = 'UnsendableError';
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'})`;
  if (typeof value === 'symbol') return `a symbol (${String(value)})`;
  const name = (value as object)?.constructor?.name;
  return name ? `a ${name}` : 'an object';
}

const cloneable = new Set<unknown>([
  Object.prototype, Array.prototype, Map.prototype, Set.prototype, Date.prototype, RegExp.prototype,
  ArrayBuffer.prototype, SharedArrayBuffer.prototype, DataView.prototype, Buffer.prototype, null,
  Boolean.prototype, Number.prototype, String.prototype,
]);
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);

/**
 * How deeply a message may nest: deeper, the walk below and V8's own
 * serializer and deserializer (recursive too) would run out of stack
 * (`Maximum call stack size exceeded` at ~3,000 levels here), which names
 * nothing. The manager's decoder refuses deeper messages with the same limit.
 */
export const MAX_DEPTH = 1000;

/** A path for a message: a very deep one keeps its two ends. */
function shortPath(path: string): string {
  return path.length <= 160 ? path : `${path.slice(0, 60)} … ${path.slice(-60)}`;
}

/** One message's walk on the sending side. */
interface Walk {
  seen: Map<object, unknown>;
  /** Given only when a process or thread is being started. */
  fds: FdChannel | null;
  /** A queue's side channel for moved buffers, or null: they are copied. */
  channel: TransferChannel | null;
  /** Buffers marked by transfer(): each and its record (null: copied in the message). */
  moved: [Transferable, Record<string, unknown> | null][];
}

/**
 * A buffer marked by transfer(). With a channel it becomes a record, filled
 * once the whole message proved sendable (see dumps); without, it is copied
 * as any buffer. Either way it is detached once the message is made.
 */
function move(value: Transferable, w: Walk): unknown {
  const record = w.channel ? { [MARK]: 'moved' } : null;
  w.moved.push([value, record]);
  w.seen.set(value, record ?? value);
  return record ?? value;
}

/**
 * Copies `value` into something `v8.serialize` carries faithfully: errors and
 * shareables become marked records, everything unsendable throws with its path.
 */
function prepare(value: unknown, path: string, w: Walk, depth = 0): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) {
    return value;
  }
  if (typeof value !== 'object') throw new UnsendableError(`cannot send ${describe(value)} at ${path}`);
  const done = w.seen.get(value);
  if (done !== undefined) return done;
  if (depth >= MAX_DEPTH) {
    throw new UnsendableError(`cannot send a value nested more than ${MAX_DEPTH} levels deep: gave up at ${shortPath(path)}`);
  }
  const d = depth + 1;
  if (isShareable(value)) {
    const { type, state, fds: own = [], handOver } = value[reduce](w.fds?.to);
    if (own.length && !w.fds) {
      throw new UnsendableError(
        `${value.constructor.name} objects can only be shared with a process or thread by passing them in its ` +
          `args (found at ${path})`,
      );
    }
    const record = { [MARK]: 'shareable', type, state, fds: own.map((fd) => w.fds!.collect(fd)) };
    if (handOver) w.fds?.handOver(handOver);
    w.seen.set(value, record);
    return record;
  }
  if (isMarked(value)) return move(value, w);
  const proto = Object.getPrototypeOf(value);
  const registered = registeredFor(proto);
  if (registered) {
    const record: Record<string, unknown> = { [MARK]: 'custom', type: registered.name };
    w.seen.set(value, record);
    if (registered.isError) {
      const err = value as Error;
      record.message = err.message;
      record.stack = err.stack;
      if ('cause' in err) record.cause = prepare(err.cause, `${path}.cause`, w, d);
    }
    record.state = prepare(registered.reduce(value), `${path}<${registered.name} state>`, w, d);
    return record;
  }
  if (value instanceof Error) {
    const record: Record<string, unknown> = { [MARK]: 'error', className: value.constructor.name, name: value.name };
    w.seen.set(value, record);
    record.message = value.message;
    record.stack = value.stack;
    if ('cause' in value) record.cause = prepare(value.cause, `${path}.cause`, w, d);
    const props: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      if (key !== 'cause') props[key] = prepare((value as unknown as Record<string, unknown>)[key], `${path}.${key}`, w, d);
    }
    record.props = props;
    return record;
  }
  if (!cloneable.has(proto) && Object.getPrototypeOf(proto) !== typedArrayProto && !ArrayBuffer.isView(value)) {
    const fix = typeof proto?.constructor === 'function' && proto.constructor.prototype === proto
      ? ` (or a class registered with registerType(${proto.constructor.name || 'TheClass'}))` : '';
    throw new UnsendableError(`cannot send ${describe(value)} at ${path}: only structured-clone data crosses${fix}`);
  }
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    w.seen.set(value, out);
    for (let i = 0; i < value.length; i++) out[i] = prepare(value[i], `${path}[${i}]`, w, d);
    return out;
  }
  if (value instanceof Map) {
    const out = new Map();
    w.seen.set(value, out);
    let i = 0;
    for (const [k, v] of value) {
      out.set(prepare(k, `${path}.<key ${i}>`, w, d), prepare(v, `${path}.get(${String(k)})`, w, d));
      i++;
    }
    return out;
  }
  if (value instanceof Set) {
    const out = new Set();
    w.seen.set(value, out);
    let i = 0;
    for (const v of value) out.add(prepare(v, `${path}.<item ${i++}>`, w, d));
    return out;
  }
  if (proto === Object.prototype || proto === null) {
    const out: Record<string, unknown> = proto === null ? Object.create(null) : {};
    w.seen.set(value, out);
    for (const key of Object.keys(value)) {
      out[key] = prepare((value as Record<string, unknown>)[key], `${path}.${key}`, w, d);
    }
    return out;
  }
  return value; // Date, RegExp, buffers, boxed primitives: V8 copies them whole
}

const errorClasses = new Map<string, ErrorConstructor>(
  [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError].map((C) => [C.name, C]),
);
// weft's own errors that take a message come back as themselves, so `instanceof ValueError` holds for an
// error a child or a pool's worker threw, as `except ValueError` does in Python
for (const C of [ValueError, KeyError, RuntimeError, OverflowError, MemoryError, EOFError, Empty, Full, UnsendableError]) {
  errorClasses.set(C.name, C as unknown as ErrorConstructor);
}

/** A stand-in class with the sender's class name, so `err.constructor.name` survives. */
function errorClass(name: string): ErrorConstructor {
  let C = errorClasses.get(name);
  if (!C) {
    C = { [name]: class extends Error {} }[name] as unknown as ErrorConstructor;
    errorClasses.set(name, C);
  }
  return C;
}

/** What an instance of a registered class travels as. */
export interface CustomRecord {
  type: string;
  state: unknown;
  message?: string;
  stack?: string;
  cause?: unknown;
}

/** Marks a record whose rebuild is under way: met again, the state contains the object itself. */
export const REBUILDING = Symbol('rebuilding');

/**
 * Rebuilds an instance of a registered class from its record; `inner` revives
 * the values inside it. The default rebuild makes the object first, so state
 * that refers back to it (a cycle) comes out right; a custom `rebuild` needs
 * the state first, so such a cycle is refused.
 * @throws {TypeError} when this realm did not register the class.
 */
export function reviveCustom(record: CustomRecord, inner: (value: unknown) => unknown, seen: Map<object, unknown>): object {
  const entry = registeredNamed(String(record.type));
  let out: object;
  if (entry.rebuild === null) {
    out = entry.create();
    seen.set(record, out);
    const state = inner(record.state);
    if (state !== null && typeof state === 'object') {
      for (const [key, value] of Object.entries(state)) {
        Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
      }
    }
  } else {
    seen.set(record, REBUILDING);
    const state = inner(record.state);
    out = entry.rebuild(state);
    if (out === null || typeof out !== 'object') {
      throw new TypeError(`weft: the rebuild registered for class '${entry.name}' returned ${out === null ? 'null' : typeof out}, not an object`);
    }
    seen.set(record, out);
  }
  if (entry.isError && out instanceof Error) {
    const define = (key: string, value: unknown) => Object.defineProperty(out, key, { value, writable: true, configurable: true });
    if (typeof record.message === 'string' && out.message !== record.message) define('message', record.message);
    define('stack', record.stack);
    if ('cause' in record) define('cause', inner(record.cause));
  }
  return out;
}

/** One message's walk on the receiving side. */
interface Revival {
  seen: Map<object, unknown>;
  fds: number[] | null;
  channel: TransferChannel | null;
}

/** Receiving side: rebuilds errors, shareables, registered classes and moved buffers from their records. */
function revive(value: unknown, r: Revival): unknown {
  if (value === null || typeof value !== 'object') return value;
  const done = r.seen.get(value);
  if (done === REBUILDING) throw new TypeError('weft: an instance of a class with its own rebuild contains itself; it cannot be rebuilt');
  if (done !== undefined) return done;
  const mark = (value as Record<string, unknown>)[MARK];
  if (mark === 'shareable') {
    const record = value as { type: string; state: unknown; fds: number[] };
    const rebuild = rebuilders.get(record.type);
    if (!rebuild) throw new TypeError(`weft: no rebuilder for shared object type '${record.type}'`);
    const out = rebuild(revive(record.state, r), record.fds.map((i) => r.fds![i]!));
    r.seen.set(value, out);
    return out;
  }
  if (mark === 'moved') {
    const record = value as { id?: [number, number]; kind: string; length: number; inline?: Transferable };
    if (record.inline !== undefined) return record.inline;
    if (!r.channel) throw new TypeError('weft: corrupt message (a moved buffer outside a queue)');
    const out = r.channel.receive(record as MovedRecord);
    r.seen.set(value, out);
    return out;
  }
  if (mark === 'custom') return reviveCustom(value as CustomRecord, (v) => revive(v, r), r.seen);
  if (mark === 'error') {
    const record = value as { className: string; name: string; message: string; stack?: string; cause?: unknown; props: Record<string, unknown> };
    const err = new (errorClass(record.className))(record.message);
    r.seen.set(value, err);
    Object.defineProperty(err, 'stack', { value: record.stack, writable: true, configurable: true });
    if (record.name !== err.name) Object.defineProperty(err, 'name', { value: record.name, writable: true, configurable: true });
    if ('cause' in record) Object.defineProperty(err, 'cause', { value: revive(record.cause, r), writable: true, configurable: true });
    for (const [k, v] of Object.entries(record.props)) (err as unknown as Record<string, unknown>)[k] = revive(v, r);
    return err;
  }
  if (Array.isArray(value)) {
    r.seen.set(value, value);
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], r);
  } else if (value instanceof Map) {
    r.seen.set(value, value);
    const entries = [...value];
    value.clear();
    for (const [k, v] of entries) value.set(revive(k, r), revive(v, r));
  } else if (value instanceof Set) {
    r.seen.set(value, value);
    const items = [...value];
    value.clear();
    for (const v of items) value.add(revive(v, r));
  } else if (!ArrayBuffer.isView(value) && !(value instanceof Date) && !(value instanceof RegExp)) {
    r.seen.set(value, value);
    for (const key of Object.keys(value)) {
      (value as Record<string, unknown>)[key] = revive((value as Record<string, unknown>)[key], r);
    }
  }
  return value;
}

/**
 * Serialises one message. `path` names the value in errors (`'obj'`, `'args'`);
 * `fds` is given only when a process or thread is being started.
 * @throws {UnsendableError} when part of `value` cannot cross; nothing is sent.
 */
export function dumps(value: unknown, path = 'obj', fds: FdChannel | null = null, channel: TransferChannel | null = null): Uint8Array {
  const plain = packPlain(value, PLAIN, false);
  if (plain) return plain;
  const w: Walk = { seen: new Map(), fds, channel, moved: [] };
  const prepared = prepare(value, path, w);
  if (fds && w.moved.length === 0) {
    // A start's args, read by loads() alone (a manager's decoder never sees them).
    const records = packPlain(prepared, RECORDS, true);
    if (records) return records;
  }
  for (const [data, record] of w.moved) {
    if (record) Object.assign(record, channel!.send(data) ?? { inline: data }); // inline: its socket is full
  }
  const body = lazy.v8.serialize(prepared);
  for (const [data] of w.moved) detach(data);
  const out = new Uint8Array(body.length + 1);
  out[0] = STRUCTURED;
  out.set(body, 1);
  return out;
}

/** `value` as msgpack behind the tag `tag`, or null when it is not plain data (see {@link isPlain}). */
function packPlain(value: unknown, tag: number, records: boolean): Uint8Array | null {
  longString = false;
  if (!isPlain(value, 0, records)) return null;
  // One byte reserved in front for the tag: no copy. msgpackr never writes
  // over a buffer it returned (it moves on to a new one), so this is ours.
  const out = packr.pack(value, RESERVE_START_SPACE | 1);
  if (longString && out.indexOf(REPLACEMENT) !== -1) return null;
  out[0] = tag;
  return out;
}

/**
 * True when a payload went through the structured path, so it may carry
 * shared objects (proxies, queues, locks) whose senders must stay alive until
 * it is received: a manager proxy's referent is released once every proxy to
 * it is collected, and a rebuilt proxy counts only from the moment it is rebuilt.
 */
export function carriesObjects(payload: Uint8Array): boolean {
  return payload[0] === STRUCTURED || payload[0] === RECORDS;
}

/** Frames raw bytes (`Connection.sendBytes`) so `loads` hands them back untouched. */
export function dumpsBytes(bytes: Uint8Array): Uint8Array {
  // from Node's buffer pool: a small Uint8Array of its own lives on the V8 heap
  // and gets a backing store made off it the first time its .buffer is asked for
  const out = Buffer.allocUnsafe(bytes.length + 1);
  out.set(bytes, 1);
  return tagBytes(out);
}

/** {@link dumpsBytes} in place: `buffer[0]` takes the tag, and the bytes are `buffer[1..]`. */
export function tagBytes(buffer: Uint8Array): Uint8Array {
  buffer[0] = BYTES;
  return buffer;
}

/** True when a payload was framed by {@link dumpsBytes}. */
export function isBytes(payload: Uint8Array): boolean {
  return payload[0] === BYTES;
}

/** Deserialises one message; `fds` are the local fds that arrived with it. */
export function loads(payload: Uint8Array, fds: number[] | null = null, channel: TransferChannel | null = null): unknown {
  switch (payload[0]) {
    case PLAIN:
      return unpackPlain(payload, 1);
    case STRUCTURED:
      return revive(lazy.v8.deserialize(payload.subarray(1)), { seen: new Map(), fds, channel });
    case RECORDS:
      return revive(unpackPlain(payload, 1), { seen: new Map(), fds, channel });
    case BYTES:
      return Buffer.from(payload.subarray(1));
    default:
      throw new TypeError(`weft: corrupt message (unknown tag ${payload[0]})`);
  }
}
