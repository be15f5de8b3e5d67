/**
 * What the pool's parent and its workers share, and the frames they exchange
 * (no Python twin: CPython's `pool.py` pickles `(job, i, func, args, kwds)`
 * tuples onto a `SimpleQueue` per direction; weft packs many tasks, or many
 * results, into one ring message so a busy worker costs no system call per task).
 *
 * Memory:
 * - one *worker block* per worker: a few slot words the worker publishes
 *   (the task it is running, tasks done, busy time), then its task ring, which
 *   only the parent writes and only that worker reads — so the parent always
 *   knows which tasks a dead worker held — then its pending area, the results
 *   it has yet to send (a dead worker's are read from there);
 * - one *pool block*: a cancel table (a task that is dropped before it starts
 *   is marked there, the worker skips it) and the result ring every worker
 *   writes and only the parent reads.
 *
 * Task frame:   u32 kind (0 tasks, 1 stop) · u32 count · u32 refsLength · refs (JSON `[[url, name], …]`)
 *               then per task: u32 seq · u8 mode · u16 ref index · u32 length · payload (`dumps(args)`)
 * Result frame: u32 kind (0 results, 2 initializer failed) · u32 count
 *               then per result: u32 seq · u8 status · u32 length · payload (`dumps(value)`)
 * @module
 */
import { reduce, registerShareable, type Reduced } from './reduction.js';
import { Ring, ringBytes } from './ring.js';
import { SharedBlock } from './shared_memory.js';
import type { TaskRef } from './task.js';

/** Slot words at the start of a worker block (Int32 indices). */
export const RUNNING = 0; // seq of the task started last (0: none yet)
export const DONE = 1; // tasks finished (cancelled ones included)
export const FINISHED = 2; // seq of the task finished last
export const PID = 3; // the worker's id (pid, or a worker thread's tid), published as it starts
export const PENDING = 4; // bytes of the result frame in the worker's pending area (0: none)
/** Byte offset of the worker's busy seconds (a float64 only the worker writes). */
export const BUSY_BYTE = 32;
const SLOT_BYTES = 64;

/** Cancel table: `cancel[seq & CANCEL_MASK] === seq` marks task `seq` as dropped. */
export const CANCEL_SLOTS = 4096;
export const CANCEL_MASK = CANCEL_SLOTS - 1;
const CANCEL_BYTES = CANCEL_SLOTS * 4;

export const TASK_RING = 1 << 21;
export const RESULT_RING = 1 << 22;
/**
 * A worker's pending area: the results it has not sent yet, batched into one
 * frame (bytes). It lives in the worker block, so a worker that dies on its
 * next task leaves the results of the tasks before it where the parent reads them.
 */
export const PENDING_BYTES = 1 << 16;

/** Task modes: call `fn(...args)`, map `fn` over a chunk, or starmap it. */
export const CALL = 0;
export const MAP = 1;
export const STARMAP = 2;
/** MAP over a chunk of plain numbers sent as float64s: no per-item encoding (exact: JS numbers are float64). */
export const MAP_F64 = 3;
/** CALL whose arguments are all numbers, sent as float64s. */
export const CALL_F64 = 4;
export type Mode = typeof CALL | typeof MAP | typeof STARMAP | typeof MAP_F64 | typeof CALL_F64;

/** Frame kinds. */
export const TASKS = 0;
export const STOP = 1;
export const INIT_FAILED = 2;

/** Result statuses. */
export const OK = 0;
export const FAILED = 1;
export const SKIPPED = 2;
/** A chunk's values, all numbers, as float64s. */
export const OK_F64 = 3;

/** A call's value that is a number, as 8 float64 bytes. */
export const OK_NUMBER = 4;

const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);

/** The 8 bytes of one number. */
export function packNumber(value: number): Uint8Array {
  scratch[0] = value;
  return scratchBytes.slice();
}

/**
 * A number read from float64 memory, as the sender had it: an integer in the
 * int32 range comes back as an integer. V8 would otherwise keep it as a double,
 * and a task's `i < n` or `x % 7` would run as floating-point arithmetic —
 * a quarter slower on the CPU-bound benchmark.
 */
export function asSent(v: number): number {
  return (v | 0) === v && (v !== 0 || 1 / v > 0) ? v | 0 : v;
}

/** The number of a {@link packNumber} payload. */
export function unpackNumber(payload: Uint8Array): number {
  scratchBytes.set(payload);
  return asSent(scratch[0]!);
}

/** The float64 bytes of `values[start..end)` when every one is a number, else null. */
export function packNumbers(values: ArrayLike<unknown>, start = 0, end = values.length): Uint8Array | null {
  const n = end - start;
  if (n === 1) return typeof values[start] === 'number' ? packNumber(values[start] as number) : null;
  // One pass that checks and copies: a fresh process runs this loop cold, once per chunk.
  const f64 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[start + i];
    if (typeof v !== 'number') return null;
    f64[i] = v;
  }
  return new Uint8Array(f64.buffer);
}

/** The float64s of a {@link packNumbers} payload, copied: the payload may sit unaligned in its frame. */
export function numbersOf(payload: Uint8Array): Float64Array {
  return new Float64Array(new Uint8Array(payload).buffer);
}

/** The numbers of `f64`, each {@link asSent}, written into `out` from index `at`. */
export function putNumbers<T extends unknown[]>(f64: Float64Array, out: T, at = 0): T {
  for (let i = 0; i < f64.length; i++) out[at + i] = asSent(f64[i]!);
  return out;
}

/** The numbers of a {@link packNumbers} payload, each {@link asSent}. */
export function unpackNumbers(payload: Uint8Array): number[] {
  if (payload.length === 8) return [unpackNumber(payload)];
  const f64 = numbersOf(payload);
  return putNumbers(f64, new Array<number>(f64.length));
}

/** The views of a worker block. */
export class WorkerBlock {
  readonly block: SharedBlock;
  readonly slots: Int32Array;
  readonly busy: Float64Array;
  readonly ring: Ring;
  /** The results frame the worker has not sent yet; `slots[PENDING]` bytes of it are written. */
  readonly pending: Uint8Array;
  constructor(block: SharedBlock, init: boolean) {
    this.block = block;
    this.slots = new Int32Array(block.buffer, 0, SLOT_BYTES / 4);
    this.busy = new Float64Array(block.buffer, BUSY_BYTE, 1);
    this.ring = new Ring(block.buffer, SLOT_BYTES, TASK_RING, init);
    this.pending = new Uint8Array(block.buffer, SLOT_BYTES + ringBytes(TASK_RING), PENDING_BYTES);
  }
  static create(): WorkerBlock {
    return new WorkerBlock(SharedBlock.create(SLOT_BYTES + ringBytes(TASK_RING) + PENDING_BYTES), true);
  }

  /** The results frame a dead worker left unsent, or null. */
  unsent(): Uint8Array | null {
    const bytes = Atomics.load(this.slots, PENDING);
    return bytes > 8 ? this.pending.subarray(0, bytes) : null;
  }
}

/** The views of the pool block. */
export class PoolBlock {
  readonly block: SharedBlock;
  readonly cancel: Int32Array;
  readonly results: Ring;
  constructor(block: SharedBlock, init: boolean) {
    this.block = block;
    this.cancel = new Int32Array(block.buffer, 0, CANCEL_SLOTS);
    this.results = new Ring(block.buffer, CANCEL_BYTES, RESULT_RING, init);
  }
  static create(): PoolBlock {
    return new PoolBlock(SharedBlock.create(CANCEL_BYTES + ringBytes(RESULT_RING)), true);
  }
}

/** A worker's two blocks, handed to it in its `args` (a shareable object). */
export class PoolChannel {
  readonly worker: WorkerBlock;
  readonly pool: PoolBlock;
  constructor(worker: WorkerBlock, pool: PoolBlock) {
    this.worker = worker;
    this.pool = pool;
  }
  /** @internal */
  [reduce](): Reduced {
    return { type: 'weft.PoolChannel', state: null, fds: [this.worker.block.fd, this.pool.block.fd] };
  }
}

registerShareable(
  'weft.PoolChannel',
  (_state, fds) => new PoolChannel(new WorkerBlock(SharedBlock.adopt(fds[0]!), false), new PoolBlock(SharedBlock.adopt(fds[1]!), false)),
);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One task as the parent sends it. */
export interface WireTask {
  seq: number;
  mode: Mode;
  ref: TaskRef;
  payload: Uint8Array;
}

/** Packs tasks into one frame. */
export function encodeTasks(tasks: readonly WireTask[]): Uint8Array {
  const refIndex = new Map<TaskRef, number>();
  const refs: [string, string][] = [];
  let size = 12;
  for (const t of tasks) {
    if (!refIndex.has(t.ref)) {
      refIndex.set(t.ref, refs.length);
      refs.push([t.ref.url, t.ref.name]);
    }
    size += 11 + t.payload.length;
  }
  const refBytes = encoder.encode(JSON.stringify(refs));
  size += refBytes.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, TASKS, true);
  view.setUint32(4, tasks.length, true);
  view.setUint32(8, refBytes.length, true);
  out.set(refBytes, 12);
  let at = 12 + refBytes.length;
  for (const t of tasks) {
    view.setUint32(at, t.seq, true);
    view.setUint8(at + 4, t.mode);
    view.setUint16(at + 5, refIndex.get(t.ref)!, true);
    view.setUint32(at + 7, t.payload.length, true);
    out.set(t.payload, at + 11);
    at += 11 + t.payload.length;
  }
  return out;
}

/** The stop frame: the worker finishes what it holds, then exits 0. */
export function encodeStop(): Uint8Array {
  const out = new Uint8Array(12);
  new DataView(out.buffer).setUint32(0, STOP, true);
  return out;
}

/** A decoded task frame. */
export interface TaskFrame {
  kind: number;
  refs: [string, string][];
  tasks: { seq: number; mode: Mode; ref: number; payload: Uint8Array }[];
}

export function decodeTasks(frame: Uint8Array): TaskFrame {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const kind = view.getUint32(0, true);
  const count = view.getUint32(4, true);
  const refLength = view.getUint32(8, true);
  const refs = refLength ? (JSON.parse(decoder.decode(frame.subarray(12, 12 + refLength))) as [string, string][]) : [];
  const tasks: TaskFrame['tasks'] = new Array(count);
  let at = 12 + refLength;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(at + 7, true);
    tasks[i] = {
      seq: view.getUint32(at, true),
      mode: view.getUint8(at + 4) as Mode,
      ref: view.getUint16(at + 5, true),
      payload: frame.subarray(at + 11, at + 11 + length),
    };
    at += 11 + length;
  }
  return { kind, refs, tasks };
}

/** A result's header: seq (u32), status (u8), payload length (u32), seconds the worker ran the task (f32). */
const RESULT_HEADER = 13;

/**
 * Accumulates results in a worker until they are sent as one frame, written
 * straight into its block's pending area (see {@link PENDING_BYTES}): each
 * result is there, published in `slots[PENDING]`, before the next task starts.
 */
export class ResultBuffer {
  readonly #area: Uint8Array;
  readonly #view: DataView;
  readonly #slots: Int32Array;
  readonly #send: (frame: Uint8Array) => void;
  #count = 0;
  #bytes = 8;

  constructor(blk: WorkerBlock, send: (frame: Uint8Array) => void) {
    this.#area = blk.pending;
    this.#view = new DataView(blk.pending.buffer, blk.pending.byteOffset, blk.pending.byteLength);
    this.#slots = blk.slots;
    this.#send = send;
  }

  /** Adds one result; sends what is pending first when the area is full (a result too big for it goes alone). */
  push(seq: number, status: number, payload: Uint8Array, run = 0): void {
    const need = RESULT_HEADER + payload.length;
    if (this.#bytes + need > this.#area.length) {
      this.flush();
      if (8 + need > this.#area.length) {
        this.#send(resultFrame(TASKS, seq, status, payload, run));
        return;
      }
    }
    const at = this.#bytes;
    this.#view.setUint32(at, seq, true);
    this.#view.setUint8(at + 4, status);
    this.#view.setUint32(at + 5, payload.length, true);
    this.#view.setFloat32(at + 9, run, true);
    this.#area.set(payload, at + RESULT_HEADER);
    this.#bytes += need;
    this.#view.setUint32(4, ++this.#count, true);
    Atomics.store(this.#slots, PENDING, this.#bytes);
  }

  /**
   * Sends the pending frame and starts afresh. A worker that dies between the
   * send and the reset leaves its results twice: the parent takes each once.
   */
  flush(): void {
    if (!this.#count) return;
    this.#view.setUint32(0, TASKS, true);
    this.#send(this.#area.slice(0, this.#bytes));
    Atomics.store(this.#slots, PENDING, 0);
    this.#count = 0;
    this.#bytes = 8;
  }
}

/** A results frame of one result (`kind` INIT_FAILED: the initializer's error, with seq 0). */
export function resultFrame(kind: number, seq: number, status: number, payload: Uint8Array, run = 0): Uint8Array {
  const out = new Uint8Array(8 + RESULT_HEADER + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, kind, true);
  view.setUint32(4, 1, true);
  view.setUint32(8, seq, true);
  view.setUint8(12, status);
  view.setUint32(13, payload.length, true);
  view.setFloat32(17, run, true);
  out.set(payload, 8 + RESULT_HEADER);
  return out;
}

/** Calls `each(seq, status, payload, run)` for every result of a frame (`run`: seconds the worker ran it); returns the frame kind. */
export function decodeResults(frame: Uint8Array, each: (seq: number, status: number, payload: Uint8Array, run: number) => void): number {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const kind = view.getUint32(0, true);
  const count = view.getUint32(4, true);
  let at = 8;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(at + 5, true);
    each(view.getUint32(at, true), view.getUint8(at + 4), frame.subarray(at + RESULT_HEADER, at + RESULT_HEADER + length), view.getFloat32(at + 9, true));
    at += RESULT_HEADER + length;
  }
  return kind;
}
