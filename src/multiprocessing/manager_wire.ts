/**
 * The manager's wire: length-prefixed frames, the mutual HMAC handshake and
 * the message codec — the part of CPython's `multiprocessing/connection.py`
 * (`deliver_challenge`, `answer_challenge`) and `managers.py` (`dispatch`)
 * that managers use, without pickle.
 *
 * Frame: a 4-byte big-endian length, then that many bytes. Handshake (before
 * any data; see docs/manager.md):
 *   server → client  `WEFTMGR1` + 32-byte nonce S
 *   client → server  HMAC(key, "c2s" | S | C) + 32-byte nonce C
 *   server → client  HMAC(key, "s2c" | C | S)  or  `FAILURE`
 * Each side proves it holds the key, on a nonce the other chose, so neither a
 * replayed nor a reflected answer passes. A TCP listener that turns a
 * connection away (too many waiting to authenticate) sends `WEFTBUSY` + the
 * reason instead of a greeting or a verdict, then closes. Messages after it are encoded with
 * `reduction.dumps`; decoding rebuilds only plain data, errors, manager
 * proxies and instances of classes registered with `registerType` (by the
 * `rebuild` this process registered) — never another shareable type, never code.
 * @module
 */
import type { Socket } from 'node:net';
import { ConnectionRefusedError, EOFError } from '../errors.js';
import { lazy } from '../lazy.js';
import { MARK, MAX_DEPTH, PLAIN, REBUILDING, STRUCTURED, reviveCustom, unpackPlain, type CustomRecord } from './reduction.js';
import { isRegisteredName } from './copyreg.js';

/**
 * Python's `multiprocessing.AuthenticationError`: the other side does not hold the same authkey.
 * @example
 * import { AuthenticationError, Manager } from 'weft';
 * await using manager = await Manager.start();
 * const { port } = await manager.serve({ port: 0, authkey: 'secret' });
 * try { await Manager.connect({ host: '127.0.0.1', port, authkey: 'guess' }); } catch (e) { if (e instanceof AuthenticationError) console.log('refused'); } // refused
 */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

/**
 * Python's `multiprocessing.managers.RemoteError`: the server raised an error
 * of a class this process does not know; `remoteStack` holds its stack text.
 * @example
 * import { Manager, RemoteError, isMainModule, task } from 'weft';
 * class Boom extends Error { override name = 'Boom'; }
 * class Bomb { explode() { throw new Boom('bang'); } }
 * export const makeBomb = task(import.meta, () => new Bomb());
 * Manager.register('Bomb', makeBomb);
 * if (isMainModule(import.meta)) {
 *   await using manager = await Manager.start();
 *   const bomb = await manager.create<Bomb>('Bomb');
 *   try { await bomb.explode(); } catch (e) { if (e instanceof RemoteError) console.log(e.remoteName, e.message); } // Boom Boom: bang
 * }
 */
export class RemoteError extends Error {
  override name = 'RemoteError';
  /** The class name the error had on the server. */
  readonly remoteName: string;
  /** The stack trace as the server printed it. */
  readonly remoteStack: string;
  constructor(remoteName: string, message: string, remoteStack = '') {
    super(`${remoteName}: ${message}`);
    this.remoteName = remoteName;
    this.remoteStack = remoteStack;
  }
}

/**
 * Python's `IndexError`: a list index out of range.
 * @example
 * import { IndexError, Manager } from 'weft';
 * await using manager = await Manager.start();
 * const l = await manager.list([1, 2]);
 * try { await l.get(99); } catch (e) { if (e instanceof IndexError) console.log(e.message); } // get(): list index out of range
 */
export class IndexError extends Error {
  override name = 'IndexError';
}

export const MAGIC = Buffer.from('WEFTMGR1');
export const FAILURE = Buffer.from('FAILURE');
/** Starts the frame a server sends a connection it turns away, followed by the reason in UTF-8. */
export const BUSY = Buffer.from('WEFTBUSY');
const NONCE = 32;
/** Largest frame a peer accepts before dropping the connection (bytes). */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;
/** Handshake frames are tiny; anything bigger before authentication is hostile. */
const HANDSHAKE_MAX = 256;

function mac(key: Uint8Array, label: string, a: Uint8Array, b: Uint8Array): Buffer {
  return lazy.crypto.createHmac('sha256', key).update(label).update(a).update(b).digest();
}

/** Encodes one frame: length prefix + body. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

/** A frame longer than the limit, or a malformed one: the connection is dropped. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames;
 * a length above `maxFrame` throws {@link ProtocolError}.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = -1;
  constructor(public maxFrame: number = DEFAULT_MAX_FRAME) {}

  /** Bytes received that do not yet form a frame. */
  get pending(): number {
    return this.#buffered;
  }

  push(chunk: Buffer, out: Buffer[]): void {
    if (this.#buffered === 0 && this.#need < 0) {
      // The usual case: the chunk starts on a frame. Its whole frames are taken
      // in place, and only a frame it cuts short waits in the queue.
      let at = 0;
      while (chunk.length - at >= 4) {
        const len = this.#length(chunk.readUInt32BE(at));
        if (chunk.length - at - 4 < len) break;
        out.push(chunk.subarray(at + 4, at + 4 + len));
        at += 4 + len;
      }
      if (at === chunk.length) return;
      chunk = chunk.subarray(at);
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) return;
        this.#need = this.#length(this.#take(4).readUInt32BE(0));
      }
      if (this.#buffered < this.#need) return;
      out.push(this.#take(this.#need));
      this.#need = -1;
    }
  }

  /** A frame's length from its header, refused past the limit. */
  #length(len: number): number {
    if (len > this.maxFrame) throw new ProtocolError(`frame of ${len} bytes exceeds the limit of ${this.maxFrame}`);
    return len;
  }

  #take(n: number): Buffer {
    // An empty frame whose header ended the bytes received so far: nothing is queued to take from.
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      this.#buffered -= n;
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const all = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = all.length > n ? [all.subarray(n)] : [];
    this.#buffered -= n;
    return all.subarray(0, n);
  }
}

/**
 * Reads the frames of a socket during the handshake (before the data handler
 * is attached). It listens from the first step to the last: a frame that
 * arrives while no step waits (a refusal sent right behind the greeting) is
 * kept, not dropped by a stream that flows with no listener.
 */
class HandshakeFrames {
  readonly queue: Buffer[] = [];
  #failure: Error | null = null;
  #wake: (() => void) | null = null;
  readonly #onData = (chunk: Buffer) => {
    try {
      this.reader.push(chunk, this.queue);
    } catch (err) {
      this.#failure ??= err as Error;
    }
    this.#wake?.();
  };
  readonly #onClose = () => {
    this.#failure ??= new EOFError('connection closed during the manager handshake');
    this.#wake?.();
  };

  constructor(readonly sock: Socket, readonly reader: FrameReader) {
    sock.on('data', this.#onData);
    sock.once('close', this.#onClose);
    sock.once('error', this.#onClose);
  }

  /** The next frame; rejects once the socket closed or sent too big a frame, or after `timeoutMs`. */
  async next(timeoutMs: number): Promise<Buffer> {
    if (!this.queue.length && !this.#failure) {
      let timer: NodeJS.Timeout | undefined;
      let timedOut = false;
      await new Promise<void>((resolve) => {
        // Woken by each chunk: only a whole frame (or the end) settles the step.
        this.#wake = () => (this.queue.length || this.#failure) && resolve();
        timer = setTimeout(() => {
          timedOut = true;
          resolve();
        }, timeoutMs);
      });
      clearTimeout(timer);
      this.#wake = null;
      if (timedOut && !this.queue.length) throw new AuthenticationError(`manager handshake did not complete within ${timeoutMs / 1000} s`);
    }
    const next = this.queue.shift();
    if (next) return next;
    throw this.#failure;
  }

  /** Stops listening: what follows is the caller's, with the frames already here. */
  detach(): { reader: FrameReader; queue: Buffer[] } {
    this.sock.off('data', this.#onData);
    this.sock.off('close', this.#onClose);
    this.sock.off('error', this.#onClose);
    return { reader: this.reader, queue: this.queue };
  }
}

/**
 * Server side of the handshake. Resolves with the frames that arrived behind
 * it (pipelined requests); rejects with AuthenticationError on a wrong key.
 */
export async function deliverChallenge(sock: Socket, key: Uint8Array, timeoutMs: number, maxFrame: number): Promise<{ reader: FrameReader; queue: Buffer[] }> {
  const frames = new HandshakeFrames(sock, new FrameReader(HANDSHAKE_MAX));
  try {
    const nonceS = lazy.crypto.randomBytes(NONCE);
    sock.write(frame(Buffer.concat([MAGIC, nonceS])));
    const answer = await frames.next(timeoutMs);
    if (answer.length !== 32 + NONCE) {
      sock.end(frame(FAILURE));
      throw new AuthenticationError('malformed handshake answer');
    }
    const nonceC = answer.subarray(32);
    if (!lazy.crypto.timingSafeEqual(answer.subarray(0, 32), mac(key, 'c2s', nonceS, nonceC))) {
      sock.end(frame(FAILURE));
      throw new AuthenticationError('digest received was wrong');
    }
    sock.write(frame(mac(key, 's2c', nonceC, nonceS)));
  } finally {
    frames.detach();
  }
  frames.reader.maxFrame = maxFrame;
  return { reader: frames.reader, queue: frames.queue };
}

/** The frame that turns a connection away, with its reason (kept within a handshake frame). */
export function busyFrame(reason: string): Buffer {
  return frame(Buffer.concat([BUSY, Buffer.from(reason).subarray(0, HANDSHAKE_MAX - BUSY.length)]));
}

/** A `BUSY` frame becomes the error the refused client sees, saying why. */
function checkBusy(message: Buffer, address: string): void {
  if (message.subarray(0, BUSY.length).equals(BUSY)) {
    throw new ConnectionRefusedError(111, `the manager at ${address} turned this connection away: ${message.subarray(BUSY.length).toString()}`);
  }
}

/**
 * Client side of the handshake; rejects with AuthenticationError when either
 * side's key is wrong or the peer is not a weft manager, ConnectionRefusedError
 * when the manager turned the connection away. `address` names the peer in messages.
 */
export async function answerChallenge(sock: Socket, key: Uint8Array, timeoutMs: number, maxFrame: number, address = 'its address'): Promise<{ reader: FrameReader; queue: Buffer[] }> {
  const frames = new HandshakeFrames(sock, new FrameReader(HANDSHAKE_MAX));
  try {
    let hello: Buffer;
    try {
      hello = await frames.next(timeoutMs);
    } catch (err) {
      if (err instanceof EOFError) {
        throw new EOFError(
          `cannot reach the manager at ${address}: the connection closed before a weft manager's greeting ` +
            '(its server has shut down or died, is at its connection limit, or the peer is not a weft manager)',
        );
      }
      const why = err instanceof ProtocolError ? "its first bytes are not a weft manager's greeting" : `it sent no greeting within ${timeoutMs / 1000} s`;
      throw new AuthenticationError(`the peer at ${address} is not a weft manager: ${why}`);
    }
    checkBusy(hello, address);
    if (hello.length !== MAGIC.length + NONCE || !hello.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new AuthenticationError(`the peer at ${address} is not a weft manager: its greeting is not a weft manager's`);
    }
    const nonceS = hello.subarray(MAGIC.length);
    const nonceC = lazy.crypto.randomBytes(NONCE);
    sock.write(frame(Buffer.concat([mac(key, 'c2s', nonceS, nonceC), nonceC])));
    let verdict: Buffer;
    try {
      verdict = await frames.next(timeoutMs);
    } catch (err) {
      if (!(err instanceof EOFError)) throw err;
      throw new EOFError(`cannot reach the manager at ${address}: the connection closed during the handshake (its server has shut down or died)`);
    }
    checkBusy(verdict, address);
    if (verdict.equals(FAILURE)) throw new AuthenticationError('digest sent was rejected: the manager holds a different authkey');
    if (verdict.length !== 32 || !lazy.crypto.timingSafeEqual(verdict, mac(key, 's2c', nonceC, nonceS))) {
      throw new AuthenticationError('digest received was wrong: the manager does not hold this authkey');
    }
  } finally {
    frames.detach();
  }
  frames.reader.maxFrame = maxFrame;
  return { reader: frames.reader, queue: frames.queue };
}

// ---- codec -------------------------------------------------------------------

/**
 * Frames one side of a shared-memory connection writes at most at once. Calls
 * (and answers) made in one turn leave together, but no more than this many: a
 * client with hundreds of calls in flight then starts on the first answers
 * while the server makes the rest, instead of each side waiting for the other's
 * whole batch (dict set with 256 calls in flight from each of two clients:
 * ~350k/s in whole batches, ~460k/s in batches of 64).
 */
const FLUSH_FRAMES = 64;

/**
 * The longest a client spins for the answer to a call it just wrote before it
 * waits off the event loop, in ms: 0.1 (how long it does is learnt, and it
 * does not spin while its core is taken: futex.ts). The server answers within
 * microseconds unless it is waiting for a core, and waking from an async wait
 * on a helper thread costs 50–200 µs (an io_uring wait, less); 0.1 ms blocks the event loop no longer than a small
 * JSON.parse. Two clients making awaited calls, interleaved runs: ~95k
 * calls/s with 0.03 ms, ~109k with 0.1, ~111k with 0.3.
 */
export const CLIENT_SPIN_MS = 0.1;

/**
 * The longest the server spins for the next request before it sleeps, in ms:
 * 0.3, learnt as the client's. It has nothing else to do, and a request that finds it asleep waits for
 * an async wake-up (50–200 µs). Interleaved runs as above: ~105k calls/s with
 * 0.03 ms, ~113k with 0.3, ~109k with 1.
 */
export const SERVER_SPIN_MS = 0.3;

/**
 * The frames one end of a manager connection has yet to write, client or
 * server: those made in one turn leave in one write at its end, or at once
 * when {@link FLUSH_FRAMES} have gathered on a shared-memory ring.
 */
export class Outbox {
  #bodies: Uint8Array[] = [];
  /** Bytes the queued bodies take as frames. */
  #bytes = 0;
  #queued = false;

  /**
   * @param canWrite false while there is nowhere to write yet (or any more): the frames wait.
   * @param write writes one batch: its frames from byte 1 on; byte 0 is free
   *   (a ring takes it for its message tag, see `Connection._sendBytesAfterTag`).
   */
  constructor(
    private readonly canWrite: () => boolean,
    private readonly write: (batch: Buffer) => void,
  ) {}

  /** Queues one message; `onRing`: the connection runs on shared memory, where a full batch leaves at once. */
  add(body: Uint8Array, onRing: boolean): void {
    this.#bodies.push(body); // dumps never reuses the buffer it returned
    this.#bytes += 4 + body.length;
    if (onRing && this.#bodies.length >= FLUSH_FRAMES) this.flush();
    else if (!this.#queued) {
      this.#queued = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes what is queued, if it can be written now: the frames made in one buffer, in one copy. */
  flush(): void {
    this.#queued = false;
    if (!this.#bodies.length || !this.canWrite()) return;
    const batch = Buffer.allocUnsafe(1 + this.#bytes);
    let at = 1;
    for (const body of this.#bodies) {
      batch.writeUInt32BE(body.length, at);
      batch.set(body, at + 4);
      at += 4 + body.length;
    }
    this.clear();
    this.write(batch);
  }

  /** Drops what is queued (the connection is gone). */
  clear(): void {
    this.#bodies = [];
    this.#bytes = 0;
  }
}

/** The shareable type name of every manager proxy. */
export const PROXY_TYPE = 'weft.manager.Proxy';

/** The state a proxy travels as: where its server is, how to authenticate, which object. */
export interface ProxyState {
  address: string;
  authkey: string;
  id: number;
  typeid: string;
  exposed?: string[];
}

/** Checks the state of a proxy record received from the wire before anything uses it. */
export function checkProxyState(state: unknown): ProxyState {
  const s = state as Partial<ProxyState> | null;
  if (
    !s || typeof s !== 'object' || typeof s.address !== 'string' || typeof s.authkey !== 'string' ||
    !Number.isSafeInteger(s.id) || typeof s.typeid !== 'string' ||
    (s.exposed !== undefined && !(Array.isArray(s.exposed) && s.exposed.every((m) => typeof m === 'string')))
  ) {
    throw new TypeError('malformed manager proxy record');
  }
  return s as ProxyState;
}

/**
 * Decodes one message from the wire. Plain data comes from msgpackr; anything
 * else from `v8.deserialize`, after which only errors and manager proxies
 * (rebuilt by `proxy`) are turned back into objects: a record of any other
 * shareable type is refused, so a peer cannot make this process map memory or
 * adopt fds. An instance of a registered class is rebuilt; one of a class this
 * process did not register is refused, or with `keep` (the server, which
 * stores values for its clients) kept as its record, to be sent on as it came.
 * @throws {TypeError} on a corrupt or refused message.
 */
export function decode(payload: Uint8Array, proxy: (state: ProxyState) => object, keep = false): unknown {
  switch (payload[0]) {
    case PLAIN:
      return unpackPlain(payload, 1);
    case STRUCTURED:
      return revive(lazy.v8.deserialize(payload.subarray(1)), proxy, new Map(), 0, keep);
    default:
      throw new TypeError(`corrupt manager message (unknown tag ${payload[0]})`);
  }
}

const errorClasses = new Map<string, ErrorConstructor>(
  [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError].map((C) => [C.name, C]),
);

/** A stand-in class carrying the sender's class name (nothing of the sender's class runs here). */
function errorClass(name: string): ErrorConstructor {
  let C = errorClasses.get(name);
  if (!C) {
    if (errorClasses.size > 1000) return Error;
    C = { [name]: class extends Error {} }[name] as unknown as ErrorConstructor;
    errorClasses.set(name, C);
  }
  return C;
}

function revive(value: unknown, proxy: (state: ProxyState) => object, seen: Map<object, unknown>, depth: number, keep: boolean): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) throw new TypeError('manager message nested too deeply');
  const done = seen.get(value);
  if (done === REBUILDING) throw new TypeError('an instance of a class with its own rebuild contains itself; it cannot be rebuilt');
  if (done !== undefined) return done;
  const record = value as Record<string, unknown>;
  const mark = record[MARK];
  if (mark === 'custom' && !(keep && !isRegisteredName(record.type))) {
    return reviveCustom(record as unknown as CustomRecord, (v) => revive(v, proxy, seen, depth + 1, keep), seen);
  }
  if (mark === 'shareable') {
    if (record.type !== PROXY_TYPE) throw new TypeError(`refused shared object of type '${String(record.type)}' from a manager connection`);
    const out = proxy(checkProxyState(record.state));
    seen.set(value, out);
    return out;
  }
  if (mark === 'error') {
    const err = new (errorClass(String(record.className)))(String(record.message));
    if (record.name !== err.name) Object.defineProperty(err, 'name', { value: String(record.name), configurable: true, writable: true });
    if (typeof record.stack === 'string') Object.defineProperty(err, 'stack', { value: record.stack, configurable: true, writable: true });
    seen.set(value, err);
    return err;
  }
  if (mark !== undefined && mark !== 'custom') throw new TypeError('corrupt manager message (unknown record)');
  seen.set(value, value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], proxy, seen, depth + 1, keep);
  } else if (value instanceof Map) {
    const entries = [...value];
    value.clear();
    for (const [k, v] of entries) value.set(revive(k, proxy, seen, depth + 1, keep), revive(v, proxy, seen, depth + 1, keep));
  } else if (value instanceof Set) {
    const items = [...value];
    value.clear();
    for (const v of items) value.add(revive(v, proxy, seen, depth + 1, keep));
  } else if (!ArrayBuffer.isView(value) && !(value instanceof Date) && !(value instanceof RegExp) && !(value instanceof ArrayBuffer)) {
    for (const key of Object.keys(value)) {
      if (key === '__proto__') continue;
      record[key] = revive(record[key], proxy, seen, depth + 1, keep);
    }
  }
  return value;
}
