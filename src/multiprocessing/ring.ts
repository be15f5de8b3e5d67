/**
 * A byte ring in shared memory that any number of processes and threads write
 * messages to and read messages from (no Python twin: it replaces the OS pipe
 * and feeder thread under CPython's `Queue` and `Connection`).
 *
 * Layout: a 128-byte header of 32-bit words, then `capacity` bytes of records.
 * A record is a 4-byte header (payload length and flags) and the payload,
 * padded to 4 bytes. A message larger than a quarter of the ring is cut into
 * chunks (the first flagged FIRST, all but the last flagged MORE).
 *
 * Crash safety is the point of the design. Writers serialise on a put lock and
 * readers on a get lock; each lock word holds its owner's id, and a waiter that
 * finds the owner dead takes the lock over. Positions are 32-bit byte counters
 * that only grow (wrapping at 2^32, the capacity divides 2^32), and each side
 * publishes its progress with a single store: a writer's chunk exists once
 * WRITE_POS covers it, a reader's chunk is gone once READ_POS passes it. A
 * process killed anywhere therefore leaves the ring consistent; what it loses
 * is at most the message it was writing or reading: a reader throws away a
 * partial message when the next FIRST chunk or a dead writer shows up, and
 * skips orphan chunks that lack FIRST.
 * @module
 */
import { debugLog } from '../debug.js';
import { Deadline, Word, waitFor } from './futex.js';
import { isAlive, selfId } from './util.js';

const HEADER_BYTES = 128;
// Header words.
const PUT_LOCK = 0;
const PUT_LOCK_WAITERS = 1;
const GET_LOCK = 2;
const GET_LOCK_WAITERS = 3;
const WRITE_POS = 4;
const READ_POS = 5;
const DATA_SEQ = 6; // bumped when a chunk is published
const DATA_WAITERS = 7;
const SPACE_SEQ = 8; // bumped when a chunk is consumed
const SPACE_WAITERS = 9;
const WRITE_COUNT = 10; // whole messages published
const READ_COUNT = 11; // whole messages consumed
const CAPACITY = 12;
/** First header word free for the users of a ring (queues keep their counters there). */
export const USER_WORDS = 16;

/** WEFT_DEBUG=queue (debug.ts): a lock taken over from a dead owner. */
const log = debugLog('queue');

// Record header flags.
const WRAP = 0x80000000;
const MORE = 0x40000000;
const FIRST = 0x20000000;
const LENGTH = 0x1fffffff;

/** Total block size for a ring of `capacity` bytes. */
export function ringBytes(capacity: number): number {
  return HEADER_BYTES + capacity;
}

/** A power of two between 4 KiB and 1 GiB. */
export function checkCapacity(capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < 4096 || capacity > 1 << 30 || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`capacity must be a power of two between 4096 and 2**30 bytes, got ${capacity}`);
  }
  return capacity;
}

/** What a read returns when there is no message. */
export const EMPTY = Symbol('empty');
/** What {@link Ring.readNow} returns mid-message: keep the get lock and finish with {@link Ring.read}. */
export const PARTIAL = Symbol('partial');

const pad = (n: number) => (n + 3) & ~3;

/** A mutex word whose owner id is recorded so that a dead owner can be replaced. */
class OwnedLock {
  readonly word: Word;
  constructor(i32: Int32Array, index: number, waiters: number) {
    this.word = new Word(i32, index, waiters);
  }
  /** Takes the lock if it is free or its owner died. */
  tryAcquire(): boolean {
    const { i32, index } = this.word;
    const owner = Atomics.compareExchange(i32, index, 0, selfId);
    if (owner === 0) return true;
    if (owner !== selfId && !isAlive(owner)) {
      if (Atomics.compareExchange(i32, index, owner, selfId) !== owner) return false;
      // Its owner died mid-put or mid-get: at most the message it was moving is lost.
      log?.('ring %s lock taken over from process %d, which died holding it', index === PUT_LOCK ? 'put' : 'get', owner);
      return true;
    }
    return false;
  }
  release(): void {
    Atomics.store(this.word.i32, this.word.index, 0);
    this.word.wake(1);
  }
  acquire(deadline: Deadline): Promise<boolean | undefined> {
    return waitFor(this.word, deadline, () => (this.tryAcquire() ? true : undefined));
  }
  /** The recorded owner, or 0. */
  owner(): number {
    return this.word.load();
  }
}

/** A multi-producer, multi-consumer message ring over a SharedArrayBuffer. */
export class Ring {
  readonly i32: Int32Array;
  readonly capacity: number;
  readonly putLock: OwnedLock;
  readonly getLock: OwnedLock;
  readonly data: Word;
  readonly space: Word;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #mask: number;
  readonly #maxChunk: number;
  #partial: Uint8Array[] = [];

  /** Wraps the ring at `byteOffset` of `buffer`; `init` writes a fresh header. */
  constructor(buffer: SharedArrayBuffer, byteOffset: number, capacity: number, init: boolean) {
    this.i32 = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
    if (init) Atomics.store(this.i32, CAPACITY, capacity);
    else capacity = Atomics.load(this.i32, CAPACITY);
    this.capacity = capacity;
    this.#bytes = new Uint8Array(buffer, byteOffset + HEADER_BYTES, capacity);
    this.#view = new DataView(buffer, byteOffset + HEADER_BYTES, capacity);
    this.#mask = capacity - 1;
    this.#maxChunk = capacity / 4 - 4;
    this.putLock = new OwnedLock(this.i32, PUT_LOCK, PUT_LOCK_WAITERS);
    this.getLock = new OwnedLock(this.i32, GET_LOCK, GET_LOCK_WAITERS);
    this.data = new Word(this.i32, DATA_SEQ, DATA_WAITERS);
    this.space = new Word(this.i32, SPACE_SEQ, SPACE_WAITERS);
  }

  /** Whole messages written and not yet read (approximate while others work, as in Python). */
  count(): number {
    return (Atomics.load(this.i32, WRITE_COUNT) - Atomics.load(this.i32, READ_COUNT)) | 0;
  }

  /** Whole messages written and read since the ring was made, by every process (32-bit counters that wrap). */
  totals(): { written: number; read: number } {
    return { written: Atomics.load(this.i32, WRITE_COUNT) >>> 0, read: Atomics.load(this.i32, READ_COUNT) >>> 0 };
  }

  /** True when no chunk is waiting to be read. */
  isEmpty(): boolean {
    return Atomics.load(this.i32, WRITE_POS) === Atomics.load(this.i32, READ_POS);
  }

  #free(writePos: number): number {
    return this.capacity - ((writePos - Atomics.load(this.i32, READ_POS)) | 0);
  }

  /** Bytes a chunk of `length` needs at `writePos`, counting the wrap padding it may force. */
  #need(writePos: number, length: number): number {
    const tail = writePos & this.#mask;
    const need = 4 + pad(length);
    return this.capacity - tail < need ? this.capacity - tail + need : need;
  }

  /** True when a message of `length` bytes goes in one chunk. */
  fitsOneChunk(length: number): boolean {
    return length <= this.#maxChunk;
  }

  /** True when (the first chunk of) a message of `length` bytes could be written now without waiting. */
  fits(length: number): boolean {
    const pos = Atomics.load(this.i32, WRITE_POS);
    return this.#need(pos, Math.min(length, this.#maxChunk)) <= this.#free(pos);
  }

  /** Writes one chunk; the caller holds the put lock and checked space. */
  #writeChunk(payload: Uint8Array, start: number, end: number, flags: number): void {
    let pos = Atomics.load(this.i32, WRITE_POS);
    let tail = pos & this.#mask;
    const length = end - start;
    if (this.capacity - tail < 4 + pad(length)) {
      this.#view.setUint32(tail, WRAP, true);
      pos = (pos + this.capacity - tail) | 0;
      tail = 0;
    }
    this.#view.setUint32(tail, (length | flags) >>> 0, true);
    // a whole message (the usual case) is copied as it is: no view to allocate per message
    this.#bytes.set(start === 0 && end === payload.length ? payload : payload.subarray(start, end), tail + 4);
    Atomics.store(this.i32, WRITE_POS, (pos + 4 + pad(length)) | 0);
    Atomics.add(this.i32, DATA_SEQ, 1);
    this.data.wake();
  }

  /**
   * Writes a message that fits in one chunk with space available; the caller
   * holds the put lock. Returns false (nothing written) when it does not fit now.
   */
  writeNow(payload: Uint8Array): boolean {
    const pos = Atomics.load(this.i32, WRITE_POS);
    if (payload.length > this.#maxChunk || this.#need(pos, payload.length) > this.#free(pos)) return false;
    this.#writeChunk(payload, 0, payload.length, FIRST);
    Atomics.add(this.i32, WRITE_COUNT, 1);
    return true;
  }

  /**
   * Writes a whole message, waiting for space as needed; the caller holds the
   * put lock. Resolves false when the deadline passed before the first chunk
   * went in (nothing written), or when `abandon()` says no reader remains;
   * once a chunk is in, it otherwise finishes the message.
   */
  async write(payload: Uint8Array, deadline: Deadline, abandon: () => unknown = () => undefined): Promise<boolean> {
    let start = 0;
    do {
      const end = Math.min(payload.length, start + this.#maxChunk);
      const length = end - start;
      const ready = () => {
        const pos = Atomics.load(this.i32, WRITE_POS);
        if (this.#need(pos, length) <= this.#free(pos)) return true;
        return abandon() ? false : undefined;
      };
      const ok = await waitFor(this.space, start === 0 ? deadline : new Deadline(null), ready);
      if (!ok) return false;
      this.#writeChunk(payload, start, end, (start === 0 ? FIRST : 0) | (end < payload.length ? MORE : 0));
      start = end;
    } while (start < payload.length);
    Atomics.add(this.i32, WRITE_COUNT, 1);
    return true;
  }

  /**
   * Reads the next whole message; the caller holds the get lock. Returns
   * EMPTY when there is none. A message whose later chunks are still being
   * written is waited for (the writer holds the put lock until it is whole).
   */
  async read(): Promise<Uint8Array | typeof EMPTY> {
    for (;;) {
      const message = this.#readChunks();
      if (message !== EMPTY || this.#partial.length === 0) return message;
      // Mid-message: wait for the writer's next chunk, or notice it is gone.
      await waitFor(this.data, new Deadline(null), () => (this.isEmpty() && !this.#writerGone() ? undefined : true));
      if (this.isEmpty()) this.#partial = []; // the writer died mid-message: that message is lost
    }
  }

  /**
   * The next message, waiting for the get lock until `deadline` (undefined
   * when it passed first) and then for the rest of a message already begun;
   * EMPTY when the ring turned out empty (another reader took it first).
   */
  async take(deadline: Deadline): Promise<Uint8Array | typeof EMPTY | undefined> {
    if (!(await this.getLock.acquire(deadline))) return undefined;
    try {
      return await this.read();
    } finally {
      this.getLock.release();
    }
  }

  /**
   * The next message if one is waiting and no other reader holds the get
   * lock, taking and releasing the lock itself: at once, or a promise when
   * the message's last chunks are still coming. EMPTY when there is none (or
   * another reader is at it). Never waits for a message to start.
   */
  takeNow(): Uint8Array | typeof EMPTY | Promise<Uint8Array | typeof EMPTY> {
    if (this.isEmpty() || !this.getLock.tryAcquire()) return EMPTY;
    let payload: Uint8Array | typeof EMPTY | typeof PARTIAL;
    try {
      payload = this.readNow();
    } catch (err) {
      this.getLock.release();
      throw err;
    }
    if (payload !== PARTIAL) {
      this.getLock.release();
      return payload;
    }
    return this.read().finally(() => this.getLock.release());
  }

  /**
   * Reads the next whole message if it is all there; the caller holds the get
   * lock. PARTIAL means chunks of a longer message were taken: the caller must
   * keep the lock and call {@link read} to finish it.
   */
  readNow(): Uint8Array | typeof EMPTY | typeof PARTIAL {
    const message = this.#readChunks();
    return message === EMPTY && this.#partial.length ? PARTIAL : message;
  }

  /**
   * True when the next message is whole in the ring (all its chunks
   * published), so that {@link readNow} returns it without waiting.
   */
  messageReady(): boolean {
    let pos = Atomics.load(this.i32, READ_POS);
    const end = Atomics.load(this.i32, WRITE_POS);
    let started = this.#partial.length > 0;
    while (pos !== end) {
      const head = pos & this.#mask;
      const header = this.#view.getUint32(head, true);
      if (header & WRAP) {
        pos = (pos + this.capacity - head) | 0;
        continue;
      }
      if (header & FIRST) started = true;
      // Orphan chunks (before any FIRST) are skipped by the reader, as here.
      if (started && !(header & MORE)) return true;
      pos = (pos + 4 + pad(header & LENGTH)) | 0;
    }
    return false;
  }

  #writerGone(): boolean {
    const owner = this.putLock.owner();
    return owner === 0 || (owner !== selfId && !isAlive(owner));
  }

  #readChunks(): Uint8Array | typeof EMPTY {
    for (;;) {
      let pos = Atomics.load(this.i32, READ_POS);
      if (pos === Atomics.load(this.i32, WRITE_POS)) return EMPTY;
      const head = pos & this.#mask;
      const header = this.#view.getUint32(head, true);
      if (header & WRAP) {
        pos = (pos + this.capacity - head) | 0;
        Atomics.store(this.i32, READ_POS, pos);
        continue;
      }
      const length = header & LENGTH;
      // A copy in Node's buffer pool: slice() would make a new ArrayBuffer per
      // message, and a small one is made again, off the V8 heap, as soon as
      // anything asks for its .buffer (toBytes does, for every message).
      const chunk = Buffer.allocUnsafe(length);
      chunk.set(this.#bytes.subarray(head + 4, head + 4 + length));
      Atomics.store(this.i32, READ_POS, (pos + 4 + pad(length)) | 0);
      Atomics.add(this.i32, SPACE_SEQ, 1);
      this.space.wake();
      if (header & FIRST) this.#partial = [];
      else if (this.#partial.length === 0) continue; // orphan chunk of a reader that died mid-message
      if (!(header & MORE)) {
        Atomics.add(this.i32, READ_COUNT, 1);
        if (this.#partial.length === 0) return chunk;
        this.#partial.push(chunk);
        const whole = Buffer.concat(this.#partial);
        this.#partial = [];
        return whole;
      }
      this.#partial.push(chunk);
    }
  }
}
