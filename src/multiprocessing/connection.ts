/**
 * `Pipe` and `Connection` — the twins of CPython's
 * `multiprocessing/connection.py`, on shared-memory rings instead of a socket.
 *
 * Each direction is a {@link Ring}; a Unix socket pair carries no data and only
 * answers "is anyone still holding the other end?": when every copy of the
 * peer's socket is closed — by `close()` or by the death of the processes and
 * threads that held it — `recv()` drains what was sent and then throws
 * `EOFError` instead of waiting forever.
 *
 * An end passed to a child in `args` is handed over: the starter keeps using
 * its object if it likes, but no longer counts as holding that end, so that
 * the starter's `recv()` on the other end sees EOFError once the child is gone
 * (with Python, the starter must remember to close its copy, or it hangs).
 * @module
 */
import { debugLog } from '../debug.js';
import { BrokenPipeError, EOFError, OSError, ValueError, check } from '../errors.js';
import { native } from '../native.js';
import { Feeder } from './feeder.js';
import { Deadline, type Word, waitFor } from './futex.js';
import { ledger } from './ledger.js';
import { PLAIN, STRUCTURED, dumps, dumpsBytes, isBytes, loads, reduce, registerShareable, tagBytes, type Reduced } from './reduction.js';
import { EMPTY, Ring, checkCapacity, ringBytes } from './ring.js';
import { SharedBlock } from './shared_memory.js';

/** WEFT_DEBUG=queue (debug.ts): a pipe's peer gone. */
const log = debugLog('queue');

/**
 * Options of {@link Pipe}.
 * @example
 * import { Pipe, type PipeOptions } from 'weft';
 * const oneWay: PipeOptions = { duplex: false, capacity: 64 * 1024 };
 * const [r, w] = Pipe(oneWay);
 * w.send({ n: 1 });
 * console.log(await r.recv()); // { n: 1 }
 */
export interface PipeOptions {
  /** Both ends send and receive (default); false gives `[receiveOnly, sendOnly]`, as Python. */
  duplex?: boolean;
  /** Bytes of shared memory per direction (a power of two; default 1 MiB). Larger messages are chunked. */
  capacity?: number;
}

const DEFAULT_CAPACITY = 1 << 20;

/**
 * A received payload as `recvBytes` hands it out: raw bytes as sent, anything
 * else as its serialised form — which `sendBytes` can pass on for a `recv()`
 * to decode, as Python's `recv()` is `loads(recv_bytes())`.
 */
function toBytes(payload: Uint8Array): Buffer {
  return isBytes(payload) ? Buffer.from(payload.buffer, payload.byteOffset + 1, payload.length - 1) : Buffer.from(payload);
}

/** True when `bytes` (from `recvBytes`) are a message `send()` encoded. */
function isEncoded(bytes: Uint8Array): boolean {
  return bytes.length > 0 && (bytes[0] === PLAIN || bytes[0] === STRUCTURED || isBytes(bytes));
}

/**
 * Raised by {@link Connection.recvBytesInto} when the message is longer than
 * the buffer: Python's `multiprocessing.BufferTooShort`. The whole message is
 * `args[0]`, as in Python, so nothing is lost.
 * @example
 * import { BufferTooShort, Pipe } from 'weft';
 * const [a, b] = Pipe();
 * a.sendBytes(Buffer.from('too long'));
 * try {
 *   await b.recvBytesInto(Buffer.alloc(3));
 * } catch (e) {
 *   if (e instanceof BufferTooShort) console.log(e.args[0].toString()); // too long
 * }
 */
export class BufferTooShort extends Error {
  override name = 'BufferTooShort';
  /** The message that did not fit, whole. */
  readonly args: [Buffer];
  constructor(message: Buffer) {
    super(`the message (${message.length} bytes) does not fit in the buffer; it is in .args[0]`);
    this.args = [message];
  }
}

const closer = new FinalizationRegistry<number>((fd) => {
  native.fdClose(fd);
  ledger.forget(fd);
});

interface EndState {
  /** Ring index this end reads from, or -1. */
  readFrom: number;
  /** Ring index this end writes to, or -1. */
  writeTo: number;
}

/**
 * One end of a {@link Pipe}: Python's `multiprocessing.connection.Connection`.
 *
 * @example
 * import { Pipe } from 'weft';
 * const [a, b] = Pipe();
 * a.send({ hello: 'world' });
 * console.log(await b.recv()); // { hello: 'world' }
 * a.close(); b.close();
 */
export class Connection {
  readonly #block: SharedBlock;
  readonly #state: EndState;
  readonly #in: Ring | null;
  readonly #out: Ring | null;
  #feeder: Feeder | null = null;
  #socket: number;
  #handedOver = false;
  #closed = false;
  #peerDead = false;
  #peerCheckedAt = -Infinity;

  /** @internal Use {@link Pipe}. */
  constructor(block: SharedBlock, state: EndState, socket: number) {
    this.#block = block;
    this.#state = state;
    this.#socket = socket;
    ledger.remember(socket);
    closer.register(this, socket, this);
    this.#in = state.readFrom >= 0 ? ringAt(block, state.readFrom) : null;
    this.#out = state.writeTo >= 0 ? ringAt(block, state.writeTo) : null;
  }

  /** False after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }
  /** Whether this end can receive. */
  get readable(): boolean {
    return this.#in !== null;
  }
  /** Whether this end can send. */
  get writable(): boolean {
    return this.#out !== null;
  }

  /** True once every holder of the other end closed it or died (a system call: see #peerGoneLately). */
  #peerGone(): boolean {
    if (this.#peerDead) return true;
    this.#peerDead = this.#socket >= 0 && native.peerClosed(this.#socket);
    if (this.#peerDead) log?.('Pipe end (fd %d): the other end is gone (closed, or every holder died)', this.#socket);
    return this.#peerDead;
  }

  /**
   * {@link #peerGone} for `send` and before a `recv` sleeps, asked at most
   * once a millisecond: the system call cost more than the send itself. A
   * message sent in the millisecond after the peer died is lost with it, as it
   * would have been had the peer died a millisecond later.
   */
  #peerGoneLately(): boolean {
    if (this.#peerDead) return true;
    const now = performance.now();
    if (now - this.#peerCheckedAt < 1) return false;
    this.#peerCheckedAt = now;
    return this.#peerGone();
  }

  /**
   * Sends `obj` to the other end; returns at once (a full ring buffers it locally, as a pipe's feeder would).
   * @throws {UnsendableError} when `obj` cannot cross; nothing is sent.
   * @throws {BrokenPipeError} when the other end is closed or its holders died.
   * @throws {OSError} when this end is closed or cannot send.
   */
  send(obj: unknown): void {
    this.#checkWritable();
    this.#sendPayload(dumps(obj));
  }

  /**
   * Sends raw bytes (`buffer[offset, offset + size)`); the other end gets them with `recvBytes()`.
   * @throws {BrokenPipeError} when the other end is gone.
   */
  sendBytes(buffer: ArrayBufferView, offset = 0, size?: number): void {
    this.#checkWritable();
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (offset < 0 || offset > bytes.length) throw new ValueError('offset is out of bounds');
    const end = size === undefined ? bytes.length : offset + size;
    if (size !== undefined && (size < 0 || end > bytes.length)) throw new ValueError('buffer length < offset + size');
    this.#sendPayload(dumpsBytes(bytes.subarray(offset, end)));
  }

  /**
   * @internal {@link sendBytes} of `buffer[1..]` without its copy: byte 0 is
   * the sender's to give, and takes the tag that marks raw bytes (the manager
   * builds its batches so).
   */
  _sendBytesAfterTag(buffer: Uint8Array): void {
    this.#checkWritable();
    this.#sendPayload(tagBytes(buffer));
  }

  #sendPayload(payload: Uint8Array): void {
    if (this.#peerGoneLately()) throw new BrokenPipeError(32);
    (this.#feeder ??= new Feeder(
      this.#out!,
      () => (this.#peerGone() || (this.#closed && this.#socket < 0) ? new BrokenPipeError(32) : undefined),
      log && `Pipe end (fd ${this.#socket})`,
    )).send(payload);
  }

  /** The file descriptor of this end (the socket that tells whether the other end is held), as Python's `fileno()`. */
  fileno(): number {
    this.#checkOpen();
    return this.#socket;
  }

  /**
   * Waits for and returns the next message. A message sent with `sendBytes()`
   * is decoded as Python's `recv()` decodes it: bytes that `recvBytes()` gave
   * for a `send()`'s message come back as that message's value.
   * @throws {EOFError} when nothing is left and every holder of the other end closed it or died.
   * @throws {OSError} when this end is closed or cannot receive.
   * @throws {ValueError} when the message holds bytes that are no encoded message (read those with `recvBytes()`).
   */
  async recv(): Promise<unknown> {
    const payload = await this.#recvPayload();
    if (!isBytes(payload)) return loads(payload);
    const bytes = payload.subarray(1);
    if (!isEncoded(bytes)) {
      throw new ValueError(
        `recv(): the message holds ${bytes.length} raw bytes from sendBytes(), not a message send() encoded; read it with recvBytes()`,
      );
    }
    return loads(bytes);
  }

  /**
   * Waits for the next message sent with `sendBytes()` and returns its bytes.
   * @throws {OSError} when the message is longer than `maxlength` (it is dropped, as Python's is).
   * @throws {EOFError} when the other end is gone.
   */
  async recvBytes(maxlength?: number): Promise<Buffer> {
    if (maxlength !== undefined && !(maxlength >= 0)) throw new ValueError('negative maxlength');
    const bytes = toBytes(await this.#recvPayload());
    if (maxlength !== undefined && bytes.length > maxlength) throw new OSError(90, 'bad message length');
    return bytes;
  }

  /**
   * Waits for the next message sent with `sendBytes()` and copies it into
   * `buffer` from byte `offset` on; returns its length. Python's `recv_bytes_into`.
   * @example
   * import { Pipe } from 'weft';
   * const [a, b] = Pipe();
   * a.sendBytes(Buffer.from('hello'));
   * const buf = Buffer.alloc(8, '.');
   * console.log(await b.recvBytesInto(buf, 2), buf.toString()); // 5 ..hello.
   * @throws {ValueError} when `offset` is negative or beyond the buffer.
   * @throws {BufferTooShort} when the message does not fit; it is in the error's `args[0]`.
   * @throws {EOFError} when the other end is gone.
   */
  async recvBytesInto(buffer: ArrayBufferView, offset = 0): Promise<number> {
    const target = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (!Number.isInteger(offset) || offset < 0) throw new ValueError('negative offset');
    if (offset > target.length) throw new ValueError('offset too large');
    const bytes = toBytes(await this.#recvPayload());
    if (bytes.length > target.length - offset) throw new BufferTooShort(Buffer.from(bytes));
    target.set(bytes, offset);
    return bytes.length;
  }

  async #recvPayload(): Promise<Uint8Array> {
    const ring = this.#checkReadable();
    for (;;) {
      const now = ring.takeNow();
      const payload = now instanceof Promise ? await now : now;
      if (payload !== EMPTY) return payload;
      if (!ring.isEmpty()) {
        // Another holder of this end is reading: wait for its get lock.
        const whole = await ring.take(new Deadline(null));
        if (whole !== undefined && whole !== EMPTY) return whole;
        continue;
      }
      const ready = await waitFor(
        ring.data,
        new Deadline(null),
        () => {
          if (this.#closed) return 'closed'; // closed here while waiting: nothing will ever come
          return ring.isEmpty() ? undefined : 'data';
        },
        // Asked before each sleep, at most once a millisecond: a ping-pong
        // sleeps every round trip, and the system call was a tenth of a
        // sleep's cost. A peer that dies unseen is seen at the end of the
        // slice, as one that dies while this end sleeps always was.
        () => (this.#peerGoneLately() ? 'eof' : undefined),
      );
      if (ready === 'closed') throw new OSError(9, 'handle is closed');
      if (ready === 'eof' && ring.isEmpty()) throw new EOFError('the other end of the pipe was closed');
      // Data: the loop takes it without awaiting anything more (takeNow), the
      // usual case after a wake-up; an async take costs a lock wait and two
      // more promises per message.
    }
  }

  /**
   * Whether a message (or EOF) is waiting, after waiting up to `timeout` seconds (0 or less: just look, as
   * Python; null: forever).
   * @throws {RangeError} when `timeout` is not a number.
   */
  async poll(timeout: number | null = 0): Promise<boolean> {
    const ring = this.#checkReadable();
    if (timeout !== null && typeof timeout !== 'number') throw new RangeError(`timeout must be a number of seconds or null, got ${typeof timeout}`);
    const ready = await waitFor(ring.data, new Deadline(timeout === null ? null : Math.max(0, timeout)), () => (this.#closed || this.#readyNow(ring) ? true : undefined));
    this.#checkOpen(); // closed here while waiting
    return ready === true;
  }

  #readyNow(ring: Ring): boolean {
    return !ring.isEmpty() || this.#peerGone();
  }

  /**
   * @internal For one loop serving many connections (the manager server): the
   * next message's bytes when one is waiting (a promise when it spans chunks
   * of the ring), else `undefined`. Never waits for data.
   */
  _recvBytesNow(): Buffer | Promise<Buffer | undefined> | undefined {
    const got = this.#checkReadable().takeNow();
    // a message whose writer died half-way is no message
    if (got instanceof Promise) return got.then((whole) => (whole === EMPTY ? undefined : toBytes(whole)));
    return got === EMPTY ? undefined : toBytes(got);
  }

  /** @internal The word that changes when data arrives here: what such a loop spins and sleeps on. */
  _dataWord(): Word {
    return this.#checkReadable().data;
  }

  /** @internal A message (or part of one) is waiting. */
  _hasData(): boolean {
    return !this.#checkReadable().isEmpty();
  }

  /** @internal Nothing left to read, and nobody holds the other end any more (a system call). */
  _atEof(): boolean {
    return this.#checkReadable().isEmpty() && this.#peerGone();
  }

  /** @internal For {@link wait}: ready to `recv()` without waiting (a message, or EOF). */
  readyNow(): boolean {
    return this.#readyNow(this.#checkReadable());
  }

  /**
   * Closes this end here; the other end sees EOFError once no one else holds
   * this one — after it received what this end sent, including messages still
   * buffered here (they are flushed first, and a child waits for that before
   * exiting). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const feeder = this.#feeder;
    if (feeder?.backlog) void feeder.flush().then(() => this.#dropSocket());
    else this.#dropSocket();
  }

  /** `close()`, for `using conn = ...` (Python's `with conn:`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #dropSocket(): void {
    if (this.#socket < 0) return;
    closer.unregister(this);
    native.fdClose(this.#socket);
    ledger.forget(this.#socket);
    this.#socket = -1;
  }

  #checkOpen(): void {
    if (this.#closed) throw new OSError(9, 'handle is closed');
  }

  #checkReadable(): Ring {
    this.#checkOpen();
    if (!this.#in) throw new OSError(9, 'connection is write-only');
    return this.#in;
  }

  #checkWritable(): void {
    this.#checkOpen();
    if (!this.#out) throw new OSError(9, 'connection is read-only');
  }

  /** @internal */
  [reduce](): Reduced {
    this.#checkOpen();
    if (this.#handedOver) {
      throw new ValueError('this Connection end was already handed to a child; create another Pipe for another child');
    }
    return {
      type: 'Connection',
      state: this.#state,
      fds: [this.#block.fd, this.#socket],
      handOver: () => {
        this.#handedOver = true;
        this.#dropSocket();
      },
    };
  }
}

function ringAt(block: SharedBlock, index: number): Ring {
  const capacity = (block.buffer.byteLength / 2 - 128) | 0;
  return new Ring(block.buffer, index * (block.buffer.byteLength / 2), capacity, false);
}

/**
 * A connected pair of {@link Connection} ends: Python's `multiprocessing.Pipe`.
 *
 * @example
 * import { Pipe, Process, task, isMainModule, type Connection } from 'weft';
 * export const child = task(import.meta, async (conn: Connection) => { conn.send('qqqqqq'); conn.close(); });
 * if (isMainModule(import.meta)) {
 *   const [parentConn, childConn] = Pipe();
 *   new Process({ target: child, args: [childConn] }).start();
 *   console.log(await parentConn.recv()); // qqqqqq
 * }
 */
export function Pipe({ duplex = true, capacity = DEFAULT_CAPACITY }: PipeOptions = {}): [Connection, Connection] {
  checkCapacity(capacity);
  const block = SharedBlock.create(2 * ringBytes(capacity));
  new Ring(block.buffer, 0, capacity, true);
  new Ring(block.buffer, ringBytes(capacity), capacity, true);
  const pair = native.socketPair();
  if (typeof pair === 'number') check(pair);
  const [s0, s1] = pair as [number, number];
  const dup = SharedBlock.adopt(check(native.fdDup(block.fd)));
  if (duplex) {
    return [new Connection(block, { readFrom: 0, writeTo: 1 }, s0), new Connection(dup, { readFrom: 1, writeTo: 0 }, s1)];
  }
  return [new Connection(block, { readFrom: 0, writeTo: -1 }, s0), new Connection(dup, { readFrom: -1, writeTo: 0 }, s1)];
}

registerShareable('Connection', (state, fds) => new Connection(SharedBlock.adopt(fds[0]!), state as EndState, fds[1]!));

/**
 * What {@link wait} can wait on: connection ends (ready to `recv`) and processes (ended).
 * @example
 * import { Pipe, Process, isMainModule, task, wait, type Waitable } from 'weft';
 * export const nap = task(import.meta, () => {});
 * if (isMainModule(import.meta)) {
 *   const [r] = Pipe();
 *   const p = new Process({ target: nap, context: 'thread' });
 *   p.start();
 *   const objects: Waitable[] = [r, p];
 *   const ready = await wait(objects, 5);
 *   console.log(ready.includes(p), ready.includes(r)); // true false
 * }
 */
export type Waitable = Connection | { readonly exitCode: number | null; join(timeout?: number | null): Promise<void> };

/**
 * Waits until at least one of `objects` is ready, or `timeout` seconds pass,
 * and returns the ready ones: a Connection with a message or EOF waiting, a
 * Process that ended. Python's `multiprocessing.connection.wait`.
 *
 * @example
 * import { Connection, Pipe, wait } from 'weft';
 * const [r1, w1] = Pipe({ duplex: false });
 * const [r2, w2] = Pipe({ duplex: false });
 * w2.send('the second is ready');
 * for (const ready of await wait([r1, r2], 5)) {
 *   if (ready instanceof Connection) console.log(await ready.recv()); // the second is ready
 * }
 * for (const conn of [r1, w1, r2, w2]) conn.close();
 */
export async function wait<T extends Waitable>(objects: readonly T[], timeout: number | null = null): Promise<T[]> {
  const isReady = (o: Waitable) => (o instanceof Connection ? o.readyNow() : o.exitCode !== null);
  const deadline = new Deadline(timeout);
  for (;;) {
    const ready = objects.filter(isReady);
    if (ready.length || deadline.expired) return ready;
    // Short rounds: each object's own wait returns as soon as it is ready, and
    // the losers' waits end with the round instead of lingering.
    const round = Math.min(0.05, deadline.remaining());
    await Promise.race(objects.map((o) => (o instanceof Connection ? o.poll(round) : o.join(round))));
  }
}
