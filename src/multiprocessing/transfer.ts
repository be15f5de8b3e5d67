/**
 * `transfer(buffer)`: large binary data handed over instead of copied through
 * a queue's ring. No CPython twin (Python pickles every buffer through its
 * pipe); the model is `postMessage`'s transfer list: the sender's buffer is
 * detached once sent.
 *
 * Through a Queue that no other process holds, whoever takes a message is a
 * thread of this process, so nothing is copied: the buffer's ArrayBuffer
 * store is parked in this process's native table (native/transfer.cc), the
 * ring carries a small record naming it, and the taker, in whichever thread,
 * gets an ArrayBuffer over the same memory. Once the queue was passed to
 * another process, the bytes are written once into a memfd — one of this
 * realm's pool whose pages exist already when its last receiver let go of it
 * (MemfdPool below), else a fresh one — and the memfd itself crosses, as
 * SCM_RIGHTS on a socket that belongs to the queue, while the ring
 * carries the record. The receiver maps the memfd and gets a view of it. The
 * socket holds a memfd nobody took yet, so a sender that exits before its
 * message is read loses nothing, and once the last holder of the queue is
 * gone (closed, collected, or SIGKILLed) the kernel frees every memfd still in
 * flight that no live sender's pool holds (unix(7): fds in a socket's queue
 * are released with the socket). A parked buffer outlives the thread that
 * sent it, and goes when the queue's last holder in the process does.
 *
 * Elsewhere (Pipe, Pool, Manager) a transferred buffer is copied as any buffer
 * is, and detached all the same, so that a program means the same thing
 * wherever it sends.
 * @module
 */
import { ftruncateSync, readSync, writeSync } from 'node:fs';
import { check } from '../errors.js';
import { native } from '../native.js';
import { ledger } from './ledger.js';
import { isAlive, selfId } from './util.js';

const marked = new WeakSet<object>();

/**
 * Binary data {@link transfer} accepts: an ArrayBuffer, or a Buffer, typed array or DataView over a whole one.
 * @example
 * import { transfer, type Transferable } from 'weft';
 * const frames: Transferable[] = [new ArrayBuffer(8), new Float32Array(4), Buffer.alloc(16)];
 * console.log(frames.map((f) => transfer(f).byteLength)); // [ 8, 16, 16 ]
 */
export type Transferable = ArrayBuffer | ArrayBufferView;

/**
 * Marks `data` to be moved, not copied, by the next send that carries it, and
 * returns it (so `q.put(transfer(buf))` keeps its type). As with
 * `postMessage`'s transfer list, the sender's buffer is detached once sent:
 * its length becomes 0 and it must not be used again. Through a Queue:
 * - to a thread of this process (any queue no other process holds), nothing
 *   is copied: the taker gets the very memory, in a Buffer, typed array,
 *   DataView or ArrayBuffer of the kind sent;
 * - once the queue was passed to a process, the bytes go once into shared
 *   memory and arrive as a view of it (a Buffer, typed array or DataView
 *   whose `.buffer` is a SharedArrayBuffer; an ArrayBuffer arrives copied into
 *   a new ArrayBuffer, since an ArrayBuffer cannot be shared memory), in
 *   processes and threads alike.
 * Pipes, Pools and the Manager copy it as any buffer, and detach it too.
 *
 * To a thread a crossing costs about what a small message's does, whatever
 * the size (a 64 MiB Buffer 20x and more faster than a copy on a 2-core VM).
 * Across processes a 64 MiB Buffer crosses 6.3–10.9x faster than a copy,
 * 256 MiB 8–13x, 1 MiB only 1.3–2.6x, and at 64 KiB and below a copy is
 * faster (docs/PERFORMANCE.md). The memfds it sent stay in this realm's pool, so
 * the next buffer goes into pages that exist; a receiver that keeps every
 * buffer it got gets none back and costs the sender a fresh memfd each.
 * @throws {TypeError} for a view that covers only part of its ArrayBuffer (a
 *   small `Buffer.from`/`allocUnsafe` shares Node's pool: use `Buffer.alloc`),
 *   and for a SharedArrayBuffer (already shared: send it as it is).
 * @example
 * import { Queue, transfer } from 'weft';
 * const q = new Queue<Buffer>();
 * const frame = Buffer.alloc(4 << 20, 7);
 * await q.put(transfer(frame));
 * console.log(frame.length); // 0
 * const got = await q.get();
 * console.log(got.length, got[0]); // 4194304 7
 */
export function transfer<T extends Transferable>(data: T): T {
  const buffer = ArrayBuffer.isView(data) ? data.buffer : data;
  if (!(buffer instanceof ArrayBuffer)) {
    throw new TypeError('transfer() takes an ArrayBuffer or a view of one; a SharedArrayBuffer is shared already: send it as it is');
  }
  if (ArrayBuffer.isView(data) && (data.byteOffset !== 0 || data.byteLength !== buffer.byteLength)) {
    throw new TypeError(
      `transfer() needs a view of a whole ArrayBuffer (this one covers ${data.byteLength} of its ${buffer.byteLength} bytes, ` +
        'as a small Buffer from Node\'s pool does): use Buffer.alloc or new Uint8Array(n)',
    );
  }
  marked.add(data);
  return data;
}

/** True when `value` was marked by {@link transfer}. */
export function isMarked(value: object): value is Transferable {
  return marked.has(value);
}

/** Detaches a sent buffer, as postMessage does: its backing store moves to a clone that is dropped (no copy). */
export function detach(data: Transferable): void {
  marked.delete(data);
  const buffer = (ArrayBuffer.isView(data) ? data.buffer : data) as ArrayBuffer; // transfer() refused any other
  if (buffer.byteLength > 0) structuredClone(buffer, { transfer: [buffer] });
}

/** What a moved buffer travels as in the ring. */
export interface MovedRecord {
  /** Who sent it and its number there: matched against the memfd's header. */
  id: [number, number];
  /** `ArrayBuffer`, `Buffer`, `DataView` or a typed array's name. */
  kind: string;
  length: number;
}

/** Bytes before the data in a memfd: the id (2 words), the length (2 words) and its holder, padded for any typed array. */
const HEADER = 64;
/** Byte offset of the holder word: 0 free, IN_FLIGHT, or the pid whose mapping holds the memfd (zeroed as it goes). */
const HOLDER = 16;
const IN_FLIGHT = -1;
const EAGAIN = 11;
/** How long a receiver waits for a memfd another receiver holds for a moment (only with several consumers). */
const LOOKUP_SECONDS = 5;
/** The sender's pool of memfds whose pages are already there: at most this many, this many bytes in all. */
const POOL_ENTRIES = 8;
const POOL_BYTES = 1 << 30;
/** A free pooled memfd unused this long goes back to the kernel; one sent and never taken this long leaves the pool. */
const IDLE_SECONDS = 5;
const UNTAKEN_SECONDS = 60;

let counter = 0;
const nap = new Int32Array(new SharedArrayBuffer(4));

/** A memfd of the pool, mapped here, and when it was last sent (performance.now() ms). */
interface Pooled {
  fd: number;
  memory: Uint8Array;
  header: Int32Array;
  sentAt: number;
}

/**
 * Memfds this realm sent, kept so the next buffer moved goes into pages that
 * exist already. Writing a fresh memfd makes the kernel allocate and zero
 * every page, and the receiver's first touch of each fresh page is dear on a
 * VM: both are most of a moved buffer's cost. A pooled memfd is written again
 * only once its receiver let go of it: the receiver's mapping zeroes the
 * holder word in the header as it is unmapped (native/shm.cc), a receiver
 * process found dead counts as gone, and one that never took its memfd leaves
 * the pool after {@link UNTAKEN_SECONDS} (the queue's socket still holds it).
 * Free memfds unused for {@link IDLE_SECONDS} are closed.
 */
class MemfdPool {
  readonly #entries: Pooled[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * A memfd of `size` bytes to send: a pooled one, free and mapped here (its
   * pages are there: writing it is a memcpy), or null when the pool cannot
   * take one this large, and the caller writes a fresh memfd of its own.
   */
  acquire(size: number): Pooled | null {
    const now = performance.now();
    let fit: Pooled | undefined;
    let other: Pooled | undefined;
    for (const e of [...this.#entries]) {
      if (!this.#isFree(e, now)) continue;
      const have = e.memory.byteLength;
      if (have >= size && have <= 2 * size) {
        if (!fit || have < fit.memory.byteLength) fit = e;
      } else if (have < size && (!other || have > other.memory.byteLength)) other = e;
    }
    if (!fit && other) {
      // Grown, it keeps its warm pages; a much larger one is left whole for a buffer of its size.
      ftruncateSync(other.fd, size);
      this.map(other);
      fit = other;
    }
    if (!fit) {
      if (!this.#makeRoom(size)) return null;
      // Not mapped yet: a fresh memfd is written faster with pwrite (no page
      // faults, the kernel allocates as it copies), then mapped for next time.
      const fd = check(native.shmCreate(size));
      ledger.remember(fd);
      fit = { fd, memory: new Uint8Array(0), header: new Int32Array(0), sentAt: now };
      this.#entries.push(fit);
      this.#schedule();
    }
    fit.sentAt = now;
    return fit;
  }

  /**
   * Maps a pooled memfd here whole, every page at once: its pages are there,
   * and MAP_POPULATE spares a fault per page when it is written again.
   */
  map(e: Pooled): void {
    const sab = native.shmMap(e.fd, true);
    if (typeof sab === 'number') check(sab);
    e.memory = new Uint8Array(sab as SharedArrayBuffer);
    e.header = new Int32Array(sab as SharedArrayBuffer, 0, HEADER / 4);
  }

  /** Marks a pooled memfd free again after a send that did not happen (drops it if it was never written). */
  release(e: Pooled): void {
    if (e.header.length) Atomics.store(e.header, HOLDER / 4, 0);
    else this.#drop(e, true);
  }

  /** How many memfds the pool holds (tests). */
  get size(): number {
    return this.#entries.length;
  }

  /** Each pooled memfd's holder word (tests). */
  holders(): number[] {
    return this.#entries.map((e) => (e.header.length ? Atomics.load(e.header, HOLDER / 4) : IN_FLIGHT));
  }

  #isFree(e: Pooled, now: number): boolean {
    const holder = Atomics.load(e.header, HOLDER / 4);
    if (holder === 0) return true;
    if (holder === IN_FLIGHT) {
      if (now - e.sentAt > UNTAKEN_SECONDS * 1000) this.#drop(e, false);
      return false;
    }
    if (holder === process.pid || isAlive(holder)) return false;
    this.release(e); // its receiver died holding it: the mapping went with it
    return true;
  }

  /** Evicts the least recently sent memfds (free ones first) until `size` more fits; false if it never can. */
  #makeRoom(size: number): boolean {
    if (size > POOL_BYTES) return false;
    const now = performance.now();
    const total = () => this.#entries.reduce((n, e) => n + e.memory.byteLength, 0);
    while (this.#entries.length >= POOL_ENTRIES || total() + size > POOL_BYTES) {
      const byAge = [...this.#entries].sort((a, b) => a.sentAt - b.sentAt);
      const free = byAge.find((e) => this.#isFree(e, now));
      this.#drop(free ?? byAge[0]!, free !== undefined);
    }
    return true;
  }

  /**
   * Takes a memfd out of the pool. A free one is truncated first, so its pages
   * go back at once rather than when this realm's mapping of it is collected;
   * one a receiver holds goes with the receiver's mapping.
   */
  #drop(e: Pooled, free: boolean): void {
    const i = this.#entries.indexOf(e);
    if (i < 0) return;
    this.#entries.splice(i, 1);
    if (free) ftruncateSync(e.fd, 0);
    native.fdClose(e.fd);
    ledger.forget(e.fd);
  }

  /** Closes free memfds unused for a while; looks again while any are left. */
  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const now = performance.now();
      for (const e of [...this.#entries]) {
        if (now - e.sentAt > IDLE_SECONDS * 1000 && this.#isFree(e, now)) this.#drop(e, true);
      }
      if (this.#entries.length) this.#schedule();
    }, IDLE_SECONDS * 1000).unref();
  }
}

/** This realm's pool. */
export const memfdPool = new MemfdPool();

/** Whether this Node's V8 lets a buffer be parked (native/transfer.cc); without, every moved buffer takes a memfd. */
const canPark = native.transferCanPark();

/**
 * A queue's way of moving buffers, one per Queue object. Two paths:
 *
 * - **Parked** (no copy), while no other process holds the queue, so whoever
 *   takes a message is a thread of this process: the buffer's ArrayBuffer
 *   store is kept in this process's native table (native/transfer.cc) under a
 *   number, the record names it as `[-pid, number]`, and the taker makes an
 *   ArrayBuffer over the same memory: what `postMessage`'s transfer list does,
 *   without a port and without the sender's event loop.
 * - **Memfd** (one copy), once the queue was passed to another process (a
 *   word in the ring's header says so, set before that process starts): the
 *   bytes go into a memfd sent on the queue's socket, as SCM_RIGHTS, and
 *   the receiver maps it. The socket is a datagram socket connected to
 *   itself (native/transfer.cc), so one fd both sends and receives: one fd
 *   per queue per process (a thread uses its process's), made when the queue
 *   first goes to another process, which gets its own copy of it. Every memfd
 *   carries the id its record names, so a receiver that meets another's memfd
 *   (several consumers at once) puts it back. Buffers still parked when the
 *   queue goes to another process are written into memfds then, so that
 *   process can take them too.
 */
export class TransferChannel {
  readonly #key: [number, number];
  /** The ring's header, whose word at `#elsewhere` is set once another process holds the queue. */
  readonly #words: Int32Array;
  readonly #elsewhere: number;
  /** Counts this object in the native table's holders of the queue (native/transfer.cc): its release counts it out. */
  readonly #hold: SharedArrayBuffer;

  /**
   * @param words the ring's header; `keyAt` and the next word hold the queue's key (0 0 in a new
   *   ring: one is drawn), `elsewhereAt` the word set once another process holds the queue.
   */
  constructor(words: Int32Array, keyAt: number, elsewhereAt: number) {
    if (Atomics.load(words, keyAt) === 0 && Atomics.load(words, keyAt + 1) === 0) {
      const key = crypto.getRandomValues(new Int32Array(2));
      key[0] ||= 1;
      words.set(key, keyAt);
    }
    this.#key = [words[keyAt]! >>> 0, words[keyAt + 1]! >>> 0];
    this.#words = words;
    this.#elsewhere = elsewhereAt;
    const hold = native.queueHold(...this.#key);
    if (typeof hold === 'number') check(hold);
    this.#hold = hold as SharedArrayBuffer;
  }

  /** The queue's socket in this process, made on first need. */
  socket(): number {
    return check(native.queueSocket(...this.#key));
  }

  /** Takes the socket a started process received with the queue as this process's. */
  adopt(fd: number): void {
    native.queueSocketAdopt(...this.#key, fd);
  }

  /**
   * The queue is being passed to a process about to start: from now on
   * buffers go by memfd, and those parked here go into memfds now. Returns
   * the socket to hand over.
   */
  toProcess(): number {
    const fd = this.socket();
    Atomics.store(this.#words, this.#elsewhere, 1);
    native.exportParked(...this.#key, process.pid);
    return fd;
  }

  /**
   * Parks `data`'s ArrayBuffer (no copy) when no other process holds the
   * queue; null when one does (or this Node cannot park), and it goes by memfd.
   */
  #park(data: Transferable, kind: string): MovedRecord | null {
    if (!canPark || Atomics.load(this.#words, this.#elsewhere) !== 0) return null;
    const buffer = (ArrayBuffer.isView(data) ? data.buffer : data) as ArrayBuffer; // transfer() refused any other
    const n = native.parkBuffer(buffer, ...this.#key);
    if (n < 0) return null;
    // Passed to a process between the look above and the parking: toProcess() may have exported
    // before this buffer was parked, so export again (toProcess sets the word before it exports).
    if (Atomics.load(this.#words, this.#elsewhere) !== 0) native.exportParked(...this.#key, process.pid);
    return { id: [-process.pid, n], kind, length: buffer.byteLength };
  }

  /**
   * Parks `data` when it can; else writes it into a memfd (one of the pool's
   * when one is free) and sends that. Null when the socket is full (a great
   * many moved buffers nobody read), and the caller copies instead.
   */
  send(data: Transferable): MovedRecord | null {
    const kind = data instanceof ArrayBuffer ? 'ArrayBuffer' : Buffer.isBuffer(data) ? 'Buffer' : data.constructor.name;
    const parked = this.#park(data, kind);
    if (parked) return parked;
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    const id: [number, number] = [selfId, ++counter];
    const header = new Int32Array([id[0], id[1], bytes.length % 2 ** 32, Math.floor(bytes.length / 2 ** 32), IN_FLIGHT]);
    const pooled = memfdPool.acquire(HEADER + bytes.length);
    const fd = pooled?.fd ?? check(native.shmCreate(HEADER + bytes.length));
    let sent = false;
    try {
      if (pooled?.memory.byteLength) {
        pooled.memory.set(bytes, HEADER);
        pooled.header.set(header);
      } else {
        writeSync(fd, header, 0, header.byteLength, 0);
        for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, HEADER + done);
        if (pooled) memfdPool.map(pooled);
      }
      const status = native.sendFds(this.socket(), [fd]);
      if (status === -EAGAIN) return null;
      check(status);
      sent = true;
      return { id, kind, length: bytes.length };
    } finally {
      if (!pooled) native.fdClose(fd);
      else if (!sent) memfdPool.release(pooled);
    }
  }

  /**
   * The data a record names, as a view of the memfd it came in, whose release
   * (collected here and in every thread it was passed on to) frees the memfd
   * for its sender to write again. An ArrayBuffer is read out and freed at once.
   */
  receive(record: MovedRecord): Transferable {
    const { kind, length } = record;
    if (record.id[0] === -process.pid) {
      const buffer = native.unparkBuffer(record.id[1]);
      if (buffer) return view(kind, buffer, 0, length); // else exported to a memfd when the queue went to a process
    }
    const fd = this.#take(record.id);
    let sab;
    try {
      if (kind === 'ArrayBuffer') {
        const out = new Uint8Array(length);
        for (let done = 0; done < length; ) done += readSync(fd, out, done, length - done, HEADER + done);
        writeSync(fd, new Int32Array([0]), 0, 4, HOLDER);
        return out.buffer;
      }
      sab = native.shmMap(fd, true, HOLDER); // the data is all there: map it in one go, not a fault per page
    } finally {
      native.fdClose(fd);
    }
    if (typeof sab === 'number') check(sab);
    const memory = sab as SharedArrayBuffer;
    Atomics.store(new Int32Array(memory, 0, HEADER / 4), HOLDER / 4, process.pid);
    return view(kind, memory, HEADER, length);
  }

  /** Receives memfds until the one with `id` comes; others go back. */
  #take(id: [number, number]): number {
    const socket = this.socket();
    const deadline = Date.now() + LOOKUP_SECONDS * 1000;
    const header = new Int32Array(2);
    for (;;) {
      const got = native.recvFds(socket);
      if (typeof got === 'number' && got !== -EAGAIN) check(got);
      if (Array.isArray(got) && got.length) {
        const [fd, ...extra] = got;
        for (const e of extra) native.fdClose(e);
        readSync(fd!, header, 0, 8, 0);
        if (header[0] === id[0] && header[1] === id[1]) return fd!;
        // Another consumer's, taken here first: back in the socket it goes. (So does one whose
        // reader died between ring and socket: it stays in flight until the queue is gone.)
        native.sendFds(socket, [fd!]);
        native.fdClose(fd!);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error('weft: a buffer moved through this queue never arrived (its memfd is gone); the message is lost');
      }
      Atomics.wait(nap, 0, 0, 1); // another consumer holds it for a moment
    }
  }
}

/** A `kind` over `length` bytes of `memory` from `offset` (an ArrayBuffer kind is the whole ArrayBuffer). */
function view(kind: string, memory: ArrayBufferLike, offset: number, length: number): Transferable {
  if (kind === 'ArrayBuffer' && memory instanceof ArrayBuffer) return memory;
  if (kind === 'Buffer') return Buffer.from(memory, offset, length);
  if (kind === 'DataView') return new DataView(memory, offset, length);
  const Ctor = typedArrays.get(kind);
  if (!Ctor) throw new TypeError(`weft: corrupt message (a moved buffer of unknown kind '${kind}')`);
  return new Ctor(memory, offset, length / Ctor.BYTES_PER_ELEMENT);
}

type TypedArrayClass = { new (buffer: ArrayBufferLike, offset: number, length: number): ArrayBufferView; BYTES_PER_ELEMENT: number };

const typedArrays = new Map<string, TypedArrayClass>(
  [
    Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array,
    BigInt64Array, BigUint64Array,
  ].map((C) => [C.name, C as unknown as TypedArrayClass]),
);
