/**
 * Client side of a manager: one connection per server in each process, and
 * the proxies that call through it — the twin of CPython's `BaseProxy`,
 * `DictProxy`, `ListProxy`, `AutoProxy` in `managers.py`.
 *
 * Python opens a connection per thread and waits for each answer before the
 * next call; weft multiplexes every proxy of a process over one connection
 * and lets calls pipeline: each request carries an id, requests made in the
 * same tick leave in one write, and the server runs them in order.
 * A proxy has no fds: it crosses to a child (as an argument, or inside
 * another shared object or a queue message) as its server's address, the
 * authkey and the object id, and the child connects and authenticates itself.
 * @module
 */
import type net from 'node:net';
import {
  BrokenPipeError, ConnectionRefusedError, EOFError, Empty, FileNotFoundError, Full, KeyError, OSError, RuntimeError,
  TimeoutError, ValueError, fromErrno, gaierror,
} from '../errors.js';
import { lazy } from '../lazy.js';
import { native } from '../native.js';
import { Connection, Pipe } from './connection.js';
import { SLICE, SpinEstimate } from './futex.js';
import { dumps, reduce, registerShareable, type Reduced, type Shareable } from './reduction.js';
import { BrokenBarrierError } from './manager_sync_types.js';
import type { Key } from './manager_types.js';
import {
  AuthenticationError, DEFAULT_MAX_FRAME, FrameReader, Outbox, IndexError, PROXY_TYPE, RemoteError, CLIENT_SPIN_MS, answerChallenge,
  checkProxyState, decode, frame, type ProxyState,
} from './manager_wire.js';

export type { Key };

/** Errors the server may raise that are rebuilt as their own class here; anything else is a {@link RemoteError}. */
const knownErrors: Record<string, new (message: string) => Error> = {
  Error, TypeError, RangeError, ReferenceError, KeyError, ValueError, IndexError, RuntimeError, EOFError, Empty, Full,
  AuthenticationError, BrokenBarrierError, TimeoutError,
};

function remoteError(name: unknown, message: unknown, stack: unknown): Error {
  const n = String(name);
  const C = Object.hasOwn(knownErrors, n) ? knownErrors[n]! : null;
  if (!C) return new RemoteError(n, String(message), String(stack));
  const err = new C(String(message));
  if (typeof stack === 'string' && stack) err.stack = `${err.name}: ${err.message}\n    [on the manager server]\n${stack.split('\n').slice(1).join('\n')}`;
  return err;
}

/** How to reach a server, from a proxy's address string. */
function connectOptions(address: string): net.NetConnectOpts {
  if (address.startsWith('tcp://')) {
    const rest = address.slice(6);
    const colon = rest.lastIndexOf(':');
    const host = rest.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    return { host, port: Number(rest.slice(colon + 1)), noDelay: true };
  }
  return { path: address };
}

/** getaddrinfo's failures as Python's `socket.gaierror` numbers them (Node names them by code). */
const gaiErrors: Record<string, [number, string]> = {
  ENOTFOUND: [-2, 'Name or service not known'],
  EAI_AGAIN: [-3, 'Temporary failure in name resolution'],
  EAI_FAIL: [-4, 'Non-recoverable failure in name resolution'],
  ENODATA: [-5, 'No address associated with hostname'],
};

function connectError(address: string, err: NodeJS.ErrnoException): Error {
  const gai = (err as { syscall?: string }).syscall === 'getaddrinfo' ? gaiErrors[err.code ?? ''] ?? gaiErrors.ENOTFOUND! : undefined;
  if (gai) return new gaierror(gai[0], gai[1], { cause: err });
  const errno = typeof err.errno === 'number' ? err.errno : 0;
  const os: OSError = errno ? fromErrno(errno) : new ConnectionRefusedError(111);
  const Cls = os.constructor as new (errno: number, text?: string, options?: ErrorOptions) => OSError;
  const text = os instanceof FileNotFoundError || os instanceof ConnectionRefusedError
    ? `cannot reach the manager at ${address} (${os.strerror}): its server has shut down or died`
    : `cannot reach the manager at ${address}: ${os.strerror}`;
  return new Cls(os.errno, text, { cause: err });
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** The object and method called: whose naps' record the wait for its answer follows (Client.#answerNow). */
  oid: number;
  method: string;
}

/** Objects a connection keeps naps' records for (Client.#napRecord) before it forgets them all. */
const NAP_RECORDS = 256;

/** Options every connection of this realm uses. */
export const clientOptions = { handshakeTimeout: 10, maxFrame: DEFAULT_MAX_FRAME };

/** One authenticated connection to a manager server, shared by all proxies of this realm. */
export class Client {
  readonly address: string;
  readonly #authkey: Buffer;
  #sock: net.Socket | null = null;
  #ready: Promise<void> | null = null;
  #dead: Error | null = null;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #out = new Outbox(
    () => this.#sock !== null && !this.#dead,
    (batch) => this.#write(batch),
  );
  /** A local connection's shared-memory ring, once the server took it (see #moveToRing). */
  #ring: Connection | null = null;
  /** Whether the socket keeps the process alive now (see #refresh). */
  #refd = true;
  #pumping = false;
  /** When the pump last asked whether the server is gone, in ms (performance.now). */
  #eofCheckedAt = -Infinity;
  #reader: FrameReader | null = null;
  /** Frames read and not yet answered (reused). */
  readonly #frames: Buffer[] = [];
  /** Naps' records by object id and method (#napRecord). */
  readonly #naps = new Map<number, Map<string, SpinEstimate>>();

  constructor(address: string, authkey: Buffer) {
    this.address = address;
    this.#authkey = authkey;
  }

  /** True once the connection failed or closed; later calls go to a new Client. */
  get dead(): boolean {
    return this.#dead !== null;
  }

  /** Connects and authenticates (once); rejects with AuthenticationError on a wrong key. */
  connect(): Promise<void> {
    this.#ready ??= this.#open();
    return this.#ready;
  }

  async #open(): Promise<void> {
    const sock = lazy.net.connect(connectOptions(this.address));
    sock.setNoDelay(true);
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      });
      const { reader, queue } = await answerChallenge(sock, this.#authkey, clientOptions.handshakeTimeout * 1000, clientOptions.maxFrame, this.address);
      this.#reader = reader;
      if (!this.address.startsWith('tcp://') && !queue.length) await this.#moveToRing(sock, reader);
      this.#sock = sock;
      sock.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk, queue);
          for (const f of queue) this.#answer(f);
        } catch (err) {
          this.#fail(new EOFError(`corrupt answer from the manager at ${this.address}: ${(err as Error).message}`));
          sock.destroy();
        }
        queue.length = 0;
      });
      sock.on('close', () => this.#fail(new EOFError(`the manager at ${this.address} closed the connection: its server has shut down or died`)));
      sock.on('error', () => {});
      this.#refresh();
      this.#out.flush();
    } catch (err) {
      sock.destroy();
      // The handshake's own errors say what happened (a wrong key, not a manager, turned away).
      const e = err instanceof AuthenticationError || err instanceof EOFError || err instanceof ConnectionRefusedError
        ? err
        : connectError(this.address, err as NodeJS.ErrnoException);
      this.#fail(e);
      throw e;
    }
  }

  /**
   * Moves a local connection to a weft Pipe: calls awaited one at a time then
   * cost a shared-memory round trip (spin, then futex) instead of two socket
   * wake-ups through libuv. The server end's fds go over the socket as
   * SCM_RIGHTS once the server has stopped reading it. If the server says no,
   * the connection simply stays on the socket.
   */
  async #moveToRing(sock: net.Socket, reader: FrameReader): Promise<void> {
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return;
    const [mine, theirs] = Pipe({ capacity: 1 << 18 });
    const { state, fds = [], handOver } = theirs[reduce]();
    const frames: Buffer[] = [];
    const answered = new Promise<Buffer | null>((resolve) => {
      const onData = (chunk: Buffer) => {
        try {
          reader.push(chunk, frames);
        } catch {
          resolve(null);
        }
        if (frames.length) {
          sock.off('data', onData);
          resolve(frames.shift()!);
        }
      };
      sock.on('data', onData);
      sock.once('close', () => resolve(null));
    });
    sock.write(frame(dumps([0, 0, 'ring', [state]])));
    const answer = await answered;
    const ok = answer !== null && (decode(answer, () => ({})) as [number, number, unknown])[1] === 0;
    if (!ok || native.sendFds(fd, fds) !== 0) {
      mine.close();
      theirs.close();
      if (ok) sock.destroy(); // the server stopped reading this socket for fds that never came
      return;
    }
    handOver?.();
    this.#ring = mine;
  }

  /**
   * Takes the answers to calls just written, spinning up to CLIENT_SPIN_MS for them
   * (the server usually answers within microseconds); true when none is
   * awaited any more. A call awaited on its own is then settled within the
   * very microtask that wrote it, without the pump's chain of awaits. A call
   * awaited on its own whose answer the spin did not bring (or that did not
   * spin: a shared core, spins that have not paid of late) naps for it, while
   * this object and method's answers come soon and its naps are answered
   * (futex.ts, `Word.nap`).
   */
  #answerNow(): boolean {
    const ring = this.#ring!;
    const word = ring._dataWord();
    const end = performance.now() + CLIENT_SPIN_MS;
    let napped = false;
    for (;;) {
      const seen = word.load();
      let got: Buffer | Promise<Buffer | undefined> | undefined;
      try {
        got = ring._recvBytesNow();
      } catch {
        return false; // the pump meets the same error and reports it
      }
      if (got instanceof Promise) {
        this.#pump(got); // an answer spanning chunks of the ring: its rest comes in its own time
        return false;
      }
      if (got !== undefined) {
        try {
          this.#take(got);
        } catch (err) {
          this.#fail(err as Error); // a corrupt answer, as in the pump
          return true;
        }
        if (!this.#pending.size || this.#dead) return true;
        continue;
      }
      const left = end - performance.now();
      if (left > 0 && word.spin(seen, left)) continue;
      // The spin did not bring the answer, or did not run (a shared core, spins that have not paid of late).
      if (napped || this.#pending.size !== 1) return false;
      napped = true;
      if (!word.nap(seen, this.#napRecord(this.#pending.values().next().value!))) return false;
    }
  }

  /**
   * How the naps for answers of this object and method went: a dict's `set`
   * is answered at once, a queue's `get` may wait for an item, and one must
   * not stop the other's naps. Forgotten, all at once, past
   * {@link NAP_RECORDS} objects.
   */
  #napRecord(call: Pending): SpinEstimate {
    let methods = this.#naps.get(call.oid);
    if (methods === undefined) {
      if (this.#naps.size >= NAP_RECORDS) this.#naps.clear();
      methods = new Map();
      this.#naps.set(call.oid, methods);
    }
    let record = methods.get(call.method);
    if (record === undefined) {
      record = new SpinEstimate();
      methods.set(call.method, record);
    }
    return record;
  }

  #take(bytes: Buffer): void {
    const queue = this.#frames;
    this.#reader!.push(bytes, queue);
    for (const f of queue) this.#answer(f);
    queue.length = 0;
  }

  /**
   * Reads answers from the ring while any are awaited (an idle proxy must not
   * keep its process alive); `first`, when given, is the rest of a message
   * already begun. It waits on the ring's word itself rather than through
   * `recvBytes()`: one promise per sleep instead of four, and whether the
   * server is gone (a system call) asked once a slice, not before each sleep
   * — on a machine whose cores are taken, every awaited call sleeps here.
   */
  #pump(first?: Promise<Buffer | undefined>): void {
    const ring = this.#ring;
    if (!ring || this.#pumping || !this.#pending.size) return;
    this.#pumping = true;
    this.#refresh();
    const word = ring._dataWord();
    void (async () => {
      try {
        if (first) {
          const rest = await first;
          if (rest !== undefined) this.#take(rest);
        }
        while (this.#pending.size && !this.#dead) {
          const seen = word.load();
          const got = ring._recvBytesNow();
          if (got instanceof Promise) {
            const rest = await got;
            if (rest !== undefined) this.#take(rest);
          } else if (got !== undefined) {
            this.#take(got);
          } else if (!word.spin(seen)) {
            const now = performance.now();
            if (now - this.#eofCheckedAt >= SLICE * 1000) {
              this.#eofCheckedAt = now;
              if (ring._atEof()) throw new EOFError('the other end of the pipe was closed');
            }
            await word.sleep(seen, SLICE);
          }
        }
      } catch (err) {
        this.#fail(
          err instanceof EOFError
            ? new EOFError(`the manager at ${this.address} closed the connection: its server has shut down or died`)
            : (err as Error),
        );
      } finally {
        this.#pumping = false;
        if (this.#pending.size && !this.#dead) this.#pump();
      }
    })();
  }

  #fail(err: Error): void {
    if (this.#dead) return;
    this.#dead = err;
    forget(this);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#out.clear();
    this.#ring?.close();
  }

  /**
   * Keeps the process alive only while answers are awaited (idle proxies must
   * not hold a child open). On a ring the pump refs the socket when it starts
   * waiting: an answer taken at once needs no ref.
   */
  #refresh(): void {
    if (!this.#sock) return;
    const wanted = this.#pending.size > 0 && (this.#ring === null || this.#pumping);
    if (wanted === this.#refd) return;
    this.#refd = wanted;
    if (wanted) this.#sock.ref();
    else this.#sock.unref();
  }

  #answer(payload: Buffer): void {
    const msg = decode(payload, (state) => rebuild(state, this)) as [number, number, unknown];
    const [id, failed, value] = msg;
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#refresh();
    if (failed) {
      const [name, message, stack] = value as [unknown, unknown, unknown];
      p.reject(remoteError(name, message, stack));
    } else {
      p.resolve(value);
    }
  }

  /**
   * Sends one call; resolves with its answer. Calls made in the same tick
   * leave in one write.
   * @throws {UnsendableError} (synchronously rejected) when an argument cannot cross.
   */
  call(oid: number, method: string, args: unknown[]): Promise<unknown> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    let body: Uint8Array;
    try {
      body = dumps([id, oid, method, args], 'args');
    } catch (err) {
      return Promise.reject(err);
    }
    const promise = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { resolve, reject, oid, method }));
    if (this.#pending.size === 1) this.#refresh();
    this.#out.add(body, this.#ring !== null);
    if (!this.#sock) this.connect().catch(() => {}); // the failure rejects every pending call
    return promise;
  }

  #write(batch: Buffer): void {
    if (this.#ring) {
      try {
        this.#ring._sendBytesAfterTag(batch);
      } catch (err) {
        // A broken pipe is the ring's peer check finding the server gone before the pump did: the same failure, the same message.
        const why = err instanceof BrokenPipeError ? 'its server has shut down or died' : (err as Error).message;
        this.#fail(new EOFError(`the manager at ${this.address} closed the connection: ${why}`));
        return;
      }
      if (this.#pumping || !this.#answerNow()) this.#pump();
    } else {
      this.#sock!.write(batch.subarray(1));
    }
  }

  /** Closes the connection; pending calls reject with EOFError. */
  close(): void {
    this.#fail(new EOFError(`the connection to the manager at ${this.address} was closed by this process`));
    this.#sock?.destroy();
  }
}

const clients = new Map<string, Client>();

function forget(client: Client): void {
  for (const [k, c] of clients) if (c === client) clients.delete(k);
}

/** The live connection of this realm to `address` (made on first use). */
export function clientFor(address: string, authkey: Buffer | string): Client {
  const key = typeof authkey === 'string' ? Buffer.from(authkey, 'hex') : authkey;
  const k = `${address}\0${key.toString('hex')}`;
  let c = clients.get(k);
  if (!c || c.dead) {
    c = new Client(address, key);
    clients.set(k, c);
  }
  return c;
}

/** Closes every manager connection of this realm (tests; a process that wants to drop its proxies). */
export function closeAllClients(): void {
  for (const c of [...clients.values()]) c.close();
}

/** When a proxy is garbage-collected, its reference on the server is dropped (on the connection that holds it). */
const released = new FinalizationRegistry<{ client: Client; id: number }>(({ client, id }) => {
  if (!client.dead) client.call(0, 'decref', [id]).catch(() => {});
});

/**
 * Rebuilds a proxy from its state. `from` is the connection whose answer carried it
 * (the server counted that reference already); otherwise this realm takes its own.
 */
function rebuild(state: ProxyState, from: Client | null): BaseProxy {
  const Cls = proxyClasses.get(state.typeid) ?? AutoProxy;
  const proxy = new Cls(state);
  const client = proxy._client;
  if (from !== client) client.call(0, 'incref', [state.id]).catch(() => {});
  released.register(proxy, { client, id: state.id });
  return proxy;
}

registerShareable(PROXY_TYPE, (state) => rebuild(checkProxyState(state), null));

/**
 * Base of every manager proxy: Python's `BaseProxy`. It refers to one object
 * on one manager server; its methods are async calls to that server. Pass it
 * to a child as an argument, or store it inside another shared object.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const d = await manager.dict();
 * console.log(String(d)); // <DictProxy object, typeid 'dict', id 1>
 */
export class BaseProxy implements Shareable {
  /** @internal */
  readonly _state: ProxyState;
  /** @internal */
  _conn: Client | null = null;

  /** @internal Proxies come from a manager (`await manager.dict()`), not from `new`. */
  constructor(state: ProxyState) {
    this._state = state;
  }

  /** @internal The connection this proxy calls through (re-made after a reconnect). */
  get _client(): Client {
    if (!this._conn || this._conn.dead) this._conn = clientFor(this._state.address, this._state.authkey);
    return this._conn;
  }

  /** The shared type's name on the server: `'dict'`, `'list'`, a registered typeid… */
  get typeid(): string {
    return this._state.typeid;
  }

  /** The object's id on its server. */
  get id(): number {
    return this._state.id;
  }

  /** The address of its server: a Unix socket path or `tcp://host:port`. */
  get address(): string {
    return this._state.address;
  }

  /**
   * Calls an exposed method by name — Python's `BaseProxy._callmethod`.
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const d = await manager.dict();
   * await d.callMethod('set', ['k', 1]);
   * console.log(await d.get('k')); // 1
   * @throws {RemoteError} for an error class this process does not know; known classes (KeyError, IndexError…) are rethrown as themselves.
   * @throws {EOFError} when the server goes away while the call is pending.
   */
  callMethod(method: string, args: unknown[] = []): Promise<unknown> {
    return this._client.call(this._state.id, method, args);
  }

  /** @internal */
  [reduce](): Reduced {
    return { type: PROXY_TYPE, state: this._state };
  }

  toString(): string {
    return `<${this.constructor.name} object, typeid '${this._state.typeid}', id ${this._state.id}>`;
  }
}

/**
 * A shared dict: Python's `DictProxy`, with keys compared by value (strings,
 * numbers, booleans, bigints, null). `for await (const key of d)` iterates a
 * snapshot of the keys.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const d = await manager.dict<string, number>();
 * await d.set('pid', process.pid);
 * await d.incr('hits'); // atomic on the server
 * console.log(await d.get('hits'), await d.len()); // 1 2
 * @throws {KeyError} from `getItem`, `delete`, `pop` (no default) and `popitem` on a missing key or empty dict.
 * @throws {TypeError} for a key that is not a string, number, boolean, bigint or null.
 */
export class DictProxy<K extends Key = Key, V = unknown> extends BaseProxy implements AsyncIterable<K> {
  #call(method: string, args: unknown[]): Promise<unknown> {
    return this._client.call(this._state.id, method, args);
  }
  /** `d.get(k, default)`: the value, or `dflt` (undefined) when missing. */
  get(key: K): Promise<V | undefined>;
  get<D>(key: K, dflt: D): Promise<V | D>;
  get(key: K, dflt?: unknown): Promise<unknown> {
    return this.#call('get', [key, dflt]);
  }
  /** `d[k]`: the value. @throws {KeyError} when missing. */
  getItem(key: K): Promise<V> {
    return this.#call('getItem', [key]) as Promise<V>;
  }
  /** `d[k] = v`. */
  set(key: K, value: V): Promise<void> {
    return this.#call('set', [key, value]) as Promise<void>;
  }
  /** `del d[k]`. @throws {KeyError} when missing. */
  delete(key: K): Promise<void> {
    return this.#call('delete', [key]) as Promise<void>;
  }
  /** `k in d`. */
  has(key: K): Promise<boolean> {
    return this.#call('has', [key]) as Promise<boolean>;
  }
  keys(): Promise<K[]> {
    return this.#call('keys', []) as Promise<K[]>;
  }
  values(): Promise<V[]> {
    return this.#call('values', []) as Promise<V[]>;
  }
  items(): Promise<[K, V][]> {
    return this.#call('items', []) as Promise<[K, V][]>;
  }
  /** `d.update(other)`: an object, a Map or [key, value] pairs. */
  update(other: Record<string, V> | Map<K, V> | Iterable<[K, V]>): Promise<void> {
    const init = other instanceof Map || Array.isArray(other) || !(Symbol.iterator in Object(other)) ? other : [...(other as Iterable<[K, V]>)];
    return this.#call('update', [init]) as Promise<void>;
  }
  /** `d.pop(k[, default])`. @throws {KeyError} when missing and no default is given. */
  pop(key: K): Promise<V>;
  pop<D>(key: K, dflt: D): Promise<V | D>;
  pop(...args: unknown[]): Promise<unknown> {
    return this.#call('pop', args);
  }
  /** Removes and returns the last inserted pair. @throws {KeyError} when empty. */
  popitem(): Promise<[K, V]> {
    return this.#call('popitem', []) as Promise<[K, V]>;
  }
  setdefault(key: K, dflt: V): Promise<V> {
    return this.#call('setdefault', [key, dflt]) as Promise<V>;
  }
  clear(): Promise<void> {
    return this.#call('clear', []) as Promise<void>;
  }
  /** A plain copy (a Map), like Python's `DictProxy.copy()` returning a dict. */
  copy(): Promise<Map<K, V>> {
    return this.#call('copy', []) as Promise<Map<K, V>>;
  }
  len(): Promise<number> {
    return this.#call('len', []) as Promise<number>;
  }
  /** The contents as a Map (keys keep their types). */
  toMap(): Promise<Map<K, V>> {
    return this.#call('toMap', []) as Promise<Map<K, V>>;
  }
  /** The contents as a plain object (keys become strings). */
  toObject(): Promise<Record<string, V>> {
    return this.#call('toObject', []) as Promise<Record<string, V>>;
  }
  /** Atomically adds `by` (1) to `d[k]` (missing counts as 0); resolves to the new value. @throws {TypeError} when the value is not a number. */
  incr(key: K, by: number | bigint = 1): Promise<number> {
    return this.#call('incr', [key, by]) as Promise<number>;
  }
  /** Atomically sets `d[k] = next` if it equals `expected` (deep equality; missing is undefined); resolves to whether it did. */
  compareAndSet(key: K, expected: V | undefined, next: V): Promise<boolean> {
    return this.#call('compareAndSet', [key, expected, next]) as Promise<boolean>;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<K> {
    yield* await this.keys();
  }
}

/**
 * A shared list: Python's `ListProxy`; negative indices count from the end.
 * `for await (const x of l)` iterates a snapshot.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const l = await manager.list<number>();
 * await l.append(0);
 * await l.appendMany([1, 2, 3]); // one atomic call
 * console.log(await l.toArray()); // [ 0, 1, 2, 3 ]
 * @throws {IndexError} from `get`, `set`, `pop` with an index out of range.
 * @throws {ValueError} from `remove` and `index` when the value is absent.
 */
export class ListProxy<T = unknown> extends BaseProxy implements AsyncIterable<T> {
  #call(method: string, args: unknown[]): Promise<unknown> {
    return this._client.call(this._state.id, method, args);
  }
  get(index: number): Promise<T> {
    return this.#call('get', [index]) as Promise<T>;
  }
  set(index: number, value: T): Promise<void> {
    return this.#call('set', [index, value]) as Promise<void>;
  }
  /** `del l[i]`. */
  delete(index: number): Promise<void> {
    return this.#call('delete', [index]) as Promise<void>;
  }
  append(value: T): Promise<void> {
    return this.#call('append', [value]) as Promise<void>;
  }
  /** Appends every item in one atomic call; resolves to the new length. */
  appendMany(values: T[]): Promise<number> {
    return this.#call('appendMany', [values]) as Promise<number>;
  }
  extend(values: T[]): Promise<void> {
    return this.#call('extend', [values]) as Promise<void>;
  }
  insert(index: number, value: T): Promise<void> {
    return this.#call('insert', [index, value]) as Promise<void>;
  }
  /** Removes and returns the item at `index` (the last). @throws {IndexError} */
  pop(index = -1): Promise<T> {
    return this.#call('pop', [index]) as Promise<T>;
  }
  /** Removes the first item equal to `value`. @throws {ValueError} */
  remove(value: T): Promise<void> {
    return this.#call('remove', [value]) as Promise<void>;
  }
  /** The first index of `value`. @throws {ValueError} */
  index(value: T, start?: number, stop?: number): Promise<number> {
    return this.#call('index', [value, start, stop]) as Promise<number>;
  }
  count(value: T): Promise<number> {
    return this.#call('count', [value]) as Promise<number>;
  }
  /** Sorts in place with Python's ordering (numbers, or strings). @throws {TypeError} for mixed types. */
  sort(options: { reverse?: boolean } = {}): Promise<void> {
    return this.#call('sort', [options]) as Promise<void>;
  }
  reverse(): Promise<void> {
    return this.#call('reverse', []) as Promise<void>;
  }
  /** `l[start:stop]` as an array. */
  slice(start?: number, stop?: number): Promise<T[]> {
    return this.#call('slice', [start, stop]) as Promise<T[]>;
  }
  clear(): Promise<void> {
    return this.#call('clear', []) as Promise<void>;
  }
  len(): Promise<number> {
    return this.#call('len', []) as Promise<number>;
  }
  toArray(): Promise<T[]> {
    return this.#call('toArray', []) as Promise<T[]>;
  }
  /** Atomically adds `by` to `l[i]`; resolves to the new value. */
  incr(index: number, by: number | bigint = 1): Promise<number> {
    return this.#call('incr', [index, by]) as Promise<number>;
  }
  compareAndSet(index: number, expected: T, next: T): Promise<boolean> {
    return this.#call('compareAndSet', [index, expected, next]) as Promise<boolean>;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    yield* await this.toArray();
  }
}

/**
 * Python's `Namespace` proxy: named attributes (`ns.x` becomes `await ns.get('x')`).
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const ns = await manager.Namespace({ x: 1 });
 * await ns.set('y', 2);
 * console.log(await ns.toObject()); // { x: 1, y: 2 }
 */
export class NamespaceProxy extends BaseProxy {
  #call(method: string, args: unknown[]): Promise<unknown> {
    return this._client.call(this._state.id, method, args);
  }
  /** The attribute's value, or undefined. */
  get<T = unknown>(name: string): Promise<T> {
    return this.#call('get', [name]) as Promise<T>;
  }
  set(name: string, value: unknown): Promise<void> {
    return this.#call('set', [name, value]) as Promise<void>;
  }
  /** @throws {KeyError} when there is no such attribute. */
  delete(name: string): Promise<void> {
    return this.#call('delete', [name]) as Promise<void>;
  }
  has(name: string): Promise<boolean> {
    return this.#call('has', [name]) as Promise<boolean>;
  }
  toObject(): Promise<Record<string, unknown>> {
    return this.#call('toObject', []) as Promise<Record<string, unknown>>;
  }
  incr(name: string, by: number | bigint = 1): Promise<number> {
    return this.#call('incr', [name, by]) as Promise<number>;
  }
  compareAndSet(name: string, expected: unknown, next: unknown): Promise<boolean> {
    return this.#call('compareAndSet', [name, expected, next]) as Promise<boolean>;
  }
}

/**
 * Python's `Manager().Value(typecode, value)`: `value` becomes `get()`/`set()`.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const v = await manager.Value('i', 0);
 * await v.incr(); // atomic
 * console.log(await v.get()); // 1
 * @throws {TypeError|RangeError} from `set` when the value does not fit the typecode.
 */
export class ValueProxy<T = number> extends BaseProxy {
  get(): Promise<T> {
    return this.callMethod('get') as Promise<T>;
  }
  set(value: T): Promise<void> {
    return this.callMethod('set', [value]) as Promise<void>;
  }
  incr(by: number | bigint = 1): Promise<T> {
    return this.callMethod('incr', [by]) as Promise<T>;
  }
  compareAndSet(expected: T, next: T): Promise<boolean> {
    return this.callMethod('compareAndSet', [expected, next]) as Promise<boolean>;
  }
}

/**
 * Python's `Manager().Array(typecode, sequence)`: a fixed-length typed list.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const a = await manager.Array('i', [1, 2, 3]);
 * await a.set(0, 10);
 * console.log(await a.toArray()); // [ 10, 2, 3 ]
 * @throws {IndexError} for an index out of range.
 */
export class ArrayProxy extends BaseProxy implements AsyncIterable<number> {
  get(index: number): Promise<number> {
    return this.callMethod('get', [index]) as Promise<number>;
  }
  set(index: number, value: number): Promise<void> {
    return this.callMethod('set', [index, value]) as Promise<void>;
  }
  len(): Promise<number> {
    return this.callMethod('len') as Promise<number>;
  }
  slice(start?: number, stop?: number): Promise<number[]> {
    return this.callMethod('slice', [start, stop]) as Promise<number[]>;
  }
  toArray(): Promise<number[]> {
    return this.callMethod('toArray') as Promise<number[]>;
  }
  incr(index: number, by = 1): Promise<number> {
    return this.callMethod('incr', [index, by]) as Promise<number>;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<number> {
    yield* await this.toArray();
  }
}

/**
 * Options of a waiting call: `block` (true) and `timeout` in seconds (null: for ever).
 * @example
 * import { Empty, Manager, type ProxyWaitOptions } from 'weft';
 * await using manager = await Manager.start();
 * const q = await manager.Queue<number>();
 * const brief: ProxyWaitOptions = { timeout: 0.05 };
 * try { await q.get(brief); } catch (e) { console.log(e instanceof Empty); } // true
 * await q.put(1, { block: false });
 * console.log(await q.get(brief)); // 1
 */
export interface WaitOptions {
  block?: boolean;
  timeout?: number | null;
}

/**
 * A queue living in the manager (Python's `Manager().Queue()`), usable from any
 * process that holds the proxy, remote ones included.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const q = await manager.Queue<string>();
 * await q.put('hahaha123');
 * console.log(await q.get({ timeout: 1 })); // hahaha123
 * @throws {Empty} from `get` when nothing arrives in time (or at once with `block: false`).
 * @throws {Full} from `put` on a full bounded queue.
 */
export class QueueProxy<T = unknown> extends BaseProxy implements AsyncIterable<T> {
  put(item: T, options: WaitOptions = {}): Promise<void> {
    return this.callMethod('put', [item, options.block ?? true, options.timeout ?? null]) as Promise<void>;
  }
  get(options: WaitOptions = {}): Promise<T> {
    return this.callMethod('get', [options.block ?? true, options.timeout ?? null]) as Promise<T>;
  }
  putNowait(item: T): Promise<void> {
    return this.put(item, { block: false });
  }
  getNowait(): Promise<T> {
    return this.get({ block: false });
  }
  qsize(): Promise<number> {
    return this.callMethod('qsize') as Promise<number>;
  }
  empty(): Promise<boolean> {
    return this.callMethod('empty') as Promise<boolean>;
  }
  full(): Promise<boolean> {
    return this.callMethod('full') as Promise<boolean>;
  }
  /** Takes items for ever (until the server goes away). */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) yield await this.get();
  }
}

/**
 * Python's `Manager().JoinableQueue()`.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const q = await manager.JoinableQueue<number>();
 * await q.put(1);
 * console.log(await q.get()); // 1
 * await q.taskDone();
 * await q.join(); // every item put was marked done
 * @throws {ValueError} from `taskDone` called more times than items were put.
 */
export class JoinableQueueProxy<T = unknown> extends QueueProxy<T> {
  taskDone(): Promise<void> {
    return this.callMethod('taskDone') as Promise<void>;
  }
  join(): Promise<void> {
    return this.callMethod('join') as Promise<void>;
  }
}

/**
 * `Lock` / `RLock` living in the manager. The owner is the calling process
 * (its connection); if it dies holding the lock, the lock is released.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const d = await manager.dict<string, number>();
 * const lock = await manager.Lock();
 * await lock.withLock(async () => { await d.set('k', (await d.get('k', 0)) + 1); });
 * console.log(await d.get('k'), await lock.locked()); // 1 false
 * @throws {RuntimeError} from `release` of a lock that is not held (by this process, for an RLock).
 */
export class LockProxy extends BaseProxy {
  /** Resolves to true when acquired, false when `block` is false or `timeout` seconds pass. */
  acquire(options: WaitOptions = {}): Promise<boolean> {
    return this.callMethod('acquire', [options.block ?? true, options.timeout ?? null]) as Promise<boolean>;
  }
  release(): Promise<void> {
    return this.callMethod('release') as Promise<void>;
  }
  locked(): Promise<boolean> {
    return this.callMethod('locked') as Promise<boolean>;
  }
  /** Runs `fn` holding the lock and always releases it. */
  async withLock<R>(fn: () => R | Promise<R>): Promise<R> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}

/**
 * `Semaphore` / `BoundedSemaphore` living in the manager.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const sem = await manager.Semaphore(2);
 * if (await sem.acquire({ timeout: 1 })) await sem.release();
 * console.log(await sem.getValue()); // 2
 * @throws {ValueError} from `release` of a bounded semaphore above its initial value.
 */
export class SemaphoreProxy extends BaseProxy {
  acquire(options: WaitOptions = {}): Promise<boolean> {
    return this.callMethod('acquire', [options.block ?? true, options.timeout ?? null]) as Promise<boolean>;
  }
  release(n = 1): Promise<void> {
    return this.callMethod('release', [n]) as Promise<void>;
  }
  getValue(): Promise<number> {
    return this.callMethod('getValue') as Promise<number>;
  }
}

/**
 * `Event` living in the manager.
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const ev = await manager.Event();
 * await ev.set();
 * console.log(await ev.wait(1)); // true
 */
export class EventProxy extends BaseProxy {
  set(): Promise<void> {
    return this.callMethod('set') as Promise<void>;
  }
  clear(): Promise<void> {
    return this.callMethod('clear') as Promise<void>;
  }
  isSet(): Promise<boolean> {
    return this.callMethod('isSet') as Promise<boolean>;
  }
  /** Resolves to the flag: true once set, false if `timeout` seconds pass first. */
  wait(timeout: number | null = null): Promise<boolean> {
    return this.callMethod('wait', [timeout]) as Promise<boolean>;
  }
}

/**
 * `Condition` living in the manager (its lock is an RLock owned by the calling process).
 * @example
 * import { Manager } from 'weft';
 * await using manager = await Manager.start();
 * const cond = await manager.Condition();
 * await cond.acquire();
 * await cond.notifyAll(); // only while holding the lock
 * await cond.release();
 * console.log(await cond.acquire({ block: false })); // true
 * await cond.release();
 * @throws {RuntimeError} from `wait`, `notify`, `notifyAll` without holding the lock.
 */
export class ConditionProxy extends LockProxy {
  /** Releases the lock, waits for a notify (or `timeout` seconds), re-acquires; resolves to whether it was notified. */
  wait(timeout: number | null = null): Promise<boolean> {
    return this.callMethod('wait', [timeout]) as Promise<boolean>;
  }
  notify(n = 1): Promise<void> {
    return this.callMethod('notify', [n]) as Promise<void>;
  }
  notifyAll(): Promise<void> {
    return this.callMethod('notifyAll') as Promise<void>;
  }

  /**
   * Waits until `predicate()` (which may be async, e.g. read other proxies) gives a truthy value, or
   * `timeout` seconds pass; resolves to its last result. Python's `wait_for`, run here: the predicate is
   * asked after each wake-up while this process holds the lock.
   * @example
   * import { Manager } from 'weft';
   * await using manager = await Manager.start();
   * const cond = await manager.Condition();
   * const ns = await manager.Namespace({ ready: false });
   * await cond.acquire();
   * console.log(await cond.waitFor(() => ns.get('ready'), 0.05)); // false
   * await cond.release();
   * @throws {RuntimeError} when this process does not hold the lock.
   */
  async waitFor<T>(predicate: () => T | Promise<T>, timeout: number | null = null): Promise<T> {
    let result = await predicate();
    if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout))) {
      throw new TypeError(`timeout must be a number of seconds or null, got ${typeof timeout}`);
    }
    const until = timeout === null ? Infinity : performance.now() / 1000 + timeout;
    while (!result) {
      const left = until - performance.now() / 1000;
      if (left <= 0) break;
      await this.wait(left === Infinity ? null : left);
      result = await predicate();
    }
    return result;
  }
}

/**
 * `Barrier` living in the manager.
 * @example
 * import { Manager, Process, isMainModule, task, type BarrierProxy } from 'weft';
 * export const party = task(import.meta, (barrier: BarrierProxy) => barrier.wait(5));
 * if (isMainModule(import.meta)) {
 *   await using manager = await Manager.start();
 *   const barrier = await manager.Barrier(2);
 *   const p = new Process({ target: party, args: [barrier] });
 *   p.start();
 *   const index = await barrier.wait(5); // here and in the child
 *   console.log(index === 0 || index === 1); // true
 *   await p.join();
 * }
 * @throws {BrokenBarrierError} from `wait` when the barrier is aborted, reset or times out, or its action threw
 *   (the party that ran the action gets the action's error).
 */
export class BarrierProxy extends BaseProxy {
  wait(timeout: number | null = null): Promise<number> {
    return this.callMethod('wait', [timeout]) as Promise<number>;
  }
  abort(): Promise<void> {
    return this.callMethod('abort') as Promise<void>;
  }
  reset(): Promise<void> {
    return this.callMethod('reset') as Promise<void>;
  }
  parties(): Promise<number> {
    return this.callMethod('parties') as Promise<number>;
  }
  nWaiting(): Promise<number> {
    return this.callMethod('nWaiting') as Promise<number>;
  }
  broken(): Promise<boolean> {
    return this.callMethod('broken') as Promise<boolean>;
  }
}

/**
 * The async view of a registered class: each method returns a promise of its result.
 * @example
 * import { Manager, isMainModule, task, type Remote } from 'weft';
 * class Greeter { hello(who: string) { return `hello ${who}`; } }
 * export const makeGreeter = task(import.meta, () => new Greeter());
 * Manager.register('Greeter', makeGreeter);
 * if (isMainModule(import.meta)) {
 *   await using manager = await Manager.start();
 *   const greeter: Remote<Greeter> = await manager.create<Greeter>('Greeter');
 *   console.log(await greeter.hello('world')); // hello world
 * }
 */
export type Remote<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/**
 * The proxy of a type registered with `Manager.register`: Python's
 * `AutoProxy`. Each exposed method is there as an async method.
 * @example
 * import { Manager, isMainModule, task } from 'weft';
 * class Counter { n = 0; add(k: number) { return (this.n += k); } }
 * export const makeCounter = task(import.meta, (start: number) => Object.assign(new Counter(), { n: start }));
 * Manager.register('Counter', makeCounter);
 * if (isMainModule(import.meta)) {
 *   await using manager = await Manager.start();
 *   const counter = await manager.create<Counter>('Counter', 5);
 *   console.log(await counter.add(2)); // 7
 * }
 */
export class AutoProxy extends BaseProxy {
  /** @internal */
  constructor(state: ProxyState) {
    super(state);
    const exposed = state.exposed ?? [];
    for (const name of exposed) {
      if (name in this) continue;
      Object.defineProperty(this, name, { value: (...args: unknown[]) => this.callMethod(name, args), enumerable: false });
    }
  }
}

/** @internal Declares the proxy class of a built-in type served from another module (the pool's). */
export function registerProxyClass(typeid: string, cls: new (state: ProxyState) => BaseProxy): void {
  proxyClasses.set(typeid, cls);
}

const proxyClasses = new Map<string, new (state: ProxyState) => BaseProxy>([
  ['dict', DictProxy],
  ['list', ListProxy],
  ['Namespace', NamespaceProxy],
  ['Value', ValueProxy],
  ['Array', ArrayProxy],
  ['Queue', QueueProxy],
  ['JoinableQueue', JoinableQueueProxy],
  ['Lock', LockProxy],
  ['RLock', LockProxy],
  ['Semaphore', SemaphoreProxy],
  ['BoundedSemaphore', SemaphoreProxy],
  ['Event', EventProxy],
  ['Condition', ConditionProxy],
  ['Barrier', BarrierProxy],
]);
