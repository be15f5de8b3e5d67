/**
 * The manager's server process — the twin of CPython's `managers.Server`.
 * It owns every shared object, listens on a Unix socket in a private
 * directory (and, after `serve()`, on TCP), authenticates each connection
 * with the mutual HMAC handshake, then runs the calls of each connection in
 * the order they arrive and answers each with its request id. Calls that wait
 * (a queue `get`, a lock `acquire`) answer when they are done, so one waiting
 * call never holds up the others on its connection.
 *
 * A TCP listener (`serve`) guards what a network peer can do: before it has
 * authenticated, a peer holds one of a few slots (per source address and in
 * all; the oldest waiting is closed to make room), and afterwards it reaches
 * only what that listener published and what those objects hand out, and
 * calls no server operation its owner did not allow (see docs/manager.md).
 *
 * References: every proxy in a client process holds one reference, counted
 * per connection; when a connection closes (its process died or exited) its
 * references are dropped, and an object nobody refers to — no client and no
 * other shared object holding a proxy to it — is freed.
 * @module
 */
import { rmSync } from 'node:fs';
import type net from 'node:net';
import { constants } from 'node:os';
import { debugLog } from '../debug.js';
import { KeyError, PermissionError } from '../errors.js';
import { lazy } from '../lazy.js';
import { native } from '../native.js';
import { dumps, reduce, type Reduced } from './reduction.js';
import { Connection } from './connection.js';
import { ManagerPoller } from './manager_poller.js';
import { SharedBlock } from './shared_memory.js';
import { allowChildren } from './process.js';
import { loadTask, task, type TaskRef } from './task.js';
import { isAlive, isMainThread } from './util.js';
import { Referent, arrayType, dictType, listType, namespaceType, valueType, type CallContext, type TypeSpec } from './manager_types.js';
import { syncTypes } from './manager_sync_types.js';
import { allowTaskRoots, poolTypes } from './manager_pool.js';
import { DEFAULT_MAX_FRAME, Outbox, PROXY_TYPE, ProtocolError, busyFrame, decode, deliverChallenge, type FrameReader, type ProxyState } from './manager_wire.js';

/** A type registered with `Manager.register`, as the server receives it. */
export interface RegisteredType {
  typeid: string;
  factory: TaskRef;
  exposed?: string[];
}

/** What the parent tells a new server. */
export interface ServerConfig {
  /** Unix socket path; its directory is private to this manager and removed on exit. */
  path: string;
  dir: string;
  authkey: string;
  registry: RegisteredType[];
  parentPid: number;
  handshakeTimeout?: number;
  maxFrame?: number;
  /** Directories a Pool's tasks may come from. */
  taskRoots: string[];
}

/**
 * Connections of one TCP listener still proving the key: at most this many from
 * one source address, and in all. A newcomer past either limit closes the oldest
 * waiting one (of that address, or of all): a legitimate client needs a round
 * trip to authenticate, a flood of silent connections cannot starve it.
 */
const WAITING_PER_SOURCE = 8;
const WAITING_TOTAL = 128;
/** Connections one TCP listener holds in all; past it, newcomers are turned away with the reason. */
const MAX_CONNECTIONS = 4096;

/** What a TCP listener lets its (remote) peers reach and do. */
interface Gate {
  /** Objects its peers may use: the ones published, and every one handed to any of its peers since. */
  reachable: Set<number>;
  /** Names its `remote.get(name)` finds. */
  published: Map<string, ServerRef>;
  /** Server operations allowed beyond lookup, incref/decref, info and ping. */
  allow: Set<string>;
  /** Sockets still in the handshake, oldest first, with their source address. */
  waiting: Map<net.Socket, string>;
  /** Authenticated connections. */
  open: number;
}

/** Server operations any authenticated peer may use. */
const PEER_OPERATIONS = new Set(['lookup', 'incref', 'decref', 'info', 'ping']);

interface Entry {
  typeid: string;
  obj: unknown;
  spec: TypeSpec;
  refs: number;
  exposed?: string[];
  /** The object whose method made this one (a Pool, for its AsyncResult): held until this one is freed. */
  holds?: number;
}

interface Endpoint {
  address: string;
  authkey: Buffer;
  idleMs: number;
  /** A TCP listener's limits; null for the private Unix socket. */
  gate: Gate | null;
}

/** A proxy held inside the server (stored in a shared dict, published by `serve`). */
class ServerRef {
  constructor(readonly state: ProxyState, readonly server: ManagerServer | null) {}
  [reduce](): Reduced {
    return { type: PROXY_TYPE, state: this.server ? this.server.stateFor(this) : this.state };
  }
}

const builtins: Record<string, TypeSpec> = {
  dict: dictType,
  list: listType,
  Namespace: namespaceType,
  Value: valueType,
  Array: arrayType,
  ...syncTypes,
  ...poolTypes,
};

/** True for the names of the types every server has (`Manager.register` may not take them). */
export function isBuiltinType(typeid: string): boolean {
  return Object.hasOwn(builtins, typeid);
}

let nextConn = 1;

/** WEFT_DEBUG=manager (debug.ts): the server's start and stop, connections, failed handshakes. */
const log = debugLog('manager');

/** One authenticated client connection. */
class ServerConn implements CallContext {
  readonly conn = nextConn++;
  readonly refs = new Map<number, number>();
  readonly #out = new Outbox(
    () => !this.closed,
    (batch) => {
      if (!this.ring) return void this.sock.write(batch.subarray(1));
      try {
        this.ring._sendBytesAfterTag(batch);
      } catch {
        this.sock.destroy(); // the client is gone
      }
    },
  );
  #closers = new Set<() => void>();
  closed = false;
  /** Once a local client moved to shared memory: its ring, and what to feed incoming frames to. */
  ring: Connection | null = null;
  onBytes: (chunk: Buffer) => void = () => {};
  constructor(readonly sock: net.Socket, readonly endpoint: Endpoint) {}

  onClose(fn: () => void): () => void {
    this.#closers.add(fn);
    return () => this.#closers.delete(fn);
  }

  runClosers(): void {
    for (const fn of this.#closers) {
      try {
        fn();
      } catch {
        // cleanup of one waiter must not stop the others
      }
    }
    this.#closers.clear();
  }

  send(body: Uint8Array): void {
    if (!this.closed) this.#out.add(body, this.ring !== null);
  }
}

const refsFinalizer = new FinalizationRegistry<{ server: ManagerServer; id: number }>(({ server, id }) => server.release(id, 1));

/** The server: objects, listeners and connections. */
export class ManagerServer {
  readonly objects = new Map<number, Entry>();
  readonly types = new Map<string, TypeSpec>(Object.entries(builtins));
  readonly published = new Map<string, ServerRef>();
  readonly conns = new Set<ServerConn>();
  /** Reads every connection that moved to shared memory, from one loop. */
  readonly #poller = new ManagerPoller();
  #listeners: net.Server[] = [];
  /** The TCP listeners' gates. */
  readonly #gates = new Set<Gate>();
  #own = new Set<string>();
  /** The Unix socket endpoint: how a proxy sent outside any answer (a Pool task's argument) reaches this server. */
  #local: Endpoint | null = null;
  /** Disposals still running (a Pool stopping its workers); shutdown waits for them. */
  readonly #disposing = new Set<Promise<unknown>>();
  #shuttingDown = false;
  #nextId = 1;
  /** Requests handled, server operations included (`info`'s `calls`). */
  #calls = 0;
  /** The connection a response is being encoded for: proxies inside it are counted for it. */
  #encodingFor: ServerConn | null = null;
  #stopped: Promise<void>;
  #stop!: () => void;
  readonly handshakeMs: number;
  readonly maxFrame: number;

  constructor(readonly authkey: Buffer, options: { handshakeTimeout?: number; maxFrame?: number } = {}) {
    this.handshakeMs = (options.handshakeTimeout ?? 5) * 1000;
    this.maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    this.#stopped = new Promise((resolve) => (this.#stop = resolve));
  }

  /** Resolves when `shutdown` ran. */
  get stopped(): Promise<void> {
    return this.#stopped;
  }

  /** Adds the types registered by the user's modules (their factories are task references). */
  async register(registry: RegisteredType[]): Promise<void> {
    for (const { typeid, factory, exposed } of registry) {
      const make = await loadTask(factory);
      this.types.set(typeid, {
        create: (args) => make(...args),
        methods: new Proxy({}, {
          // Only the exposed names (or, without a list, public methods) are callable: never `constructor`, `__proto__`.
          get: (_t, name) => {
            if (typeof name !== 'string') return undefined;
            return (obj: Record<string, unknown>, args: unknown[]) => {
              const allowed = exposed ? exposed.includes(name) : publicMethods(obj).includes(name);
              const fn = obj[name];
              if (!allowed || typeof fn !== 'function') throw new AttributeError(`'${typeid}' object has no exposed method '${name}'`);
              return (fn as (...a: unknown[]) => unknown).apply(obj, args);
            };
          },
          has: () => true,
        }) as TypeSpec['methods'],
      });
      if (exposed) this.#exposed.set(typeid, exposed);
    }
  }
  #exposed = new Map<string, string[]>();

  /** Listens on a Unix socket path or a TCP host/port with its own authkey; resolves to the address proxies use. */
  async listen(
    where: { path: string } | { host: string; port: number },
    authkey: Buffer,
    idleTimeout = 0,
    gate: Gate | null = null,
  ): Promise<{ address: string; host?: string; port?: number }> {
    const server = lazy.net.createServer({ pauseOnConnect: false, noDelay: true });
    // A TCP listener counts its connections itself, to tell a newcomer it turns away why.
    if (!gate) server.maxConnections = MAX_CONNECTIONS;
    const endpoint: Endpoint = { address: '', authkey, idleMs: idleTimeout * 1000, gate };
    server.on('connection', (sock) => this.#accept(sock, endpoint));
    server.on('error', () => {
      // listening errors surface through the listen promise below; later ones (EMFILE) only drop that connection
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if ('path' in where) server.listen(where.path, () => resolve());
      else server.listen(where.port, where.host, () => resolve());
    });
    this.#listeners.push(server);
    const addr = server.address();
    log?.('server listening on %s', typeof addr === 'string' || addr === null ? (where as { path: string }).path : `tcp://${addr.address}:${addr.port}`);
    if (typeof addr === 'string' || addr === null) {
      endpoint.address = (where as { path: string }).path;
      this.#own.add(endpoint.address);
      this.#local ??= endpoint;
      return { address: endpoint.address };
    }
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    endpoint.address = `tcp://${host}:${addr.port}`;
    this.#own.add(endpoint.address);
    if (gate) this.#gates.add(gate);
    return { address: endpoint.address, host: addr.address, port: addr.port };
  }

  #accept(sock: net.Socket, endpoint: Endpoint): void {
    sock.setNoDelay(true);
    sock.on('error', () => sock.destroy());
    const gate = endpoint.gate;
    if (gate && !this.#admit(sock, gate)) return;
    deliverChallenge(sock, endpoint.authkey, this.handshakeMs, this.maxFrame).then(
      ({ reader, queue }) => {
        gate?.waiting.delete(sock);
        this.#serve(sock, endpoint, reader, queue);
      },
      (err: unknown) => {
        gate?.waiting.delete(sock);
        log?.('connection from %s not authenticated: %s', sock.remoteAddress ?? 'the Unix socket', (err as Error).message);
        // A TCP peer learns why (the handshake's time ran out, a frame too big); a wrong key has had its FAILURE.
        if (gate && !sock.writableEnded && !sock.destroyed) turnAway(sock, `closed unauthenticated: ${(err as Error).message}`);
        else sock.destroy();
      },
    );
  }

  /** Makes room for a TCP newcomer still to authenticate (closing the oldest waiting), or turns it away. */
  #admit(sock: net.Socket, gate: Gate): boolean {
    if (gate.open + gate.waiting.size >= MAX_CONNECTIONS) {
      turnAway(sock, `the manager holds its limit of ${MAX_CONNECTIONS} connections on this address; try again later`);
      return false;
    }
    const source = sock.remoteAddress ?? '';
    let fromSource = 0;
    let oldestFromSource: net.Socket | null = null;
    for (const [waiting, from] of gate.waiting) {
      if (from !== source) continue;
      fromSource++;
      oldestFromSource ??= waiting;
    }
    if (oldestFromSource && fromSource >= WAITING_PER_SOURCE) {
      gate.waiting.delete(oldestFromSource);
      turnAway(oldestFromSource, `closed unauthenticated after newer connections from ${source}: more than ${WAITING_PER_SOURCE} from one address were waiting to authenticate`);
    } else if (gate.waiting.size >= WAITING_TOTAL) {
      const [oldest] = gate.waiting.keys();
      gate.waiting.delete(oldest!);
      turnAway(oldest!, `closed unauthenticated after newer connections: more than ${WAITING_TOTAL} were waiting to authenticate`);
    }
    gate.waiting.set(sock, source);
    sock.once('close', () => gate.waiting.delete(sock));
    return true;
  }

  #serve(sock: net.Socket, endpoint: Endpoint, reader: FrameReader, queue: Buffer[]): void {
    if (sock.destroyed) return;
    const conn = new ServerConn(sock, endpoint);
    this.conns.add(conn);
    log?.('client %d connected on %s (%d connections)', conn.conn, endpoint.address, this.conns.size);
    if (endpoint.gate) endpoint.gate.open++;
    // A peer must finish a frame it started within the handshake limit, as it must finish the handshake.
    const stallMs = this.handshakeMs;
    sock.setTimeout(endpoint.idleMs > 0 ? Math.min(endpoint.idleMs, stallMs) : stallMs);
    let lastActivity = Date.now();
    sock.on('timeout', () => {
      // Drop a peer that stalls mid-frame, or any peer idle past the endpoint's limit.
      if (reader.pending > 0 || (endpoint.idleMs > 0 && Date.now() - lastActivity >= endpoint.idleMs)) sock.destroy();
    });
    const frames: Buffer[] = queue;
    const onData = (chunk: Buffer | null) => {
      lastActivity = Date.now();
      try {
        if (chunk) reader.push(chunk, frames);
        for (let i = 0; i < frames.length; i++) this.#handle(conn, frames[i]!);
      } catch {
        sock.destroy(); // malformed or hostile input: drop this connection only
      }
      frames.length = 0;
    };
    sock.on('data', onData);
    conn.onBytes = onData;
    sock.on('close', () => this.#closeConn(conn));
    if (frames.length) onData(null);
  }

  /**
   * A local client moves this connection to shared memory (a weft Pipe, as
   * fast as processes can talk here). The socket stops being read now, before
   * the answer leaves; the client then passes the ring's fds over the socket
   * (SCM_RIGHTS), which this side takes with recvmsg on the stopped socket.
   */
  #takeRing(conn: ServerConn, state: unknown): boolean {
    const st = state as { readFrom?: unknown; writeTo?: unknown } | null;
    if (conn.ring || !st || !Number.isInteger(st.readFrom) || !Number.isInteger(st.writeTo) || conn.endpoint.address.startsWith('tcp://')) {
      throw new ProtocolError('ring: only a local connection may move, once');
    }
    const handle = (conn.sock as unknown as { _handle?: { fd?: number; reading?: boolean; readStop?: () => number } })._handle;
    const fd = handle?.fd;
    if (typeof fd !== 'number' || fd < 0 || typeof handle?.readStop !== 'function') {
      throw new ProtocolError('ring: no socket to take fds from');
    }
    // Stop libuv itself reading: pause() alone keeps reading into the stream's
    // buffer, and a plain read() drops the fds that ride on the message. Node
    // restarts a handle whose `reading` flag is off, so the flag stays on.
    conn.sock.pause();
    handle.readStop();
    handle.reading = true;
    const deadline = Date.now() + this.handshakeMs;
    const take = (): void => {
      if (conn.closed) return;
      const got = native.recvFds(fd);
      if (got === -11 && Date.now() < deadline) {
        setTimeout(take, 1);
        return;
      }
      if (typeof got === 'number' || got.length !== 2) {
        if (Array.isArray(got)) for (const f of got) native.fdClose(f);
        conn.sock.destroy();
        return;
      }
      const ring = new Connection(SharedBlock.adopt(got[0]!), { readFrom: st.readFrom as number, writeTo: st.writeTo as number }, got[1]!);
      conn.ring = ring;
      conn.onClose(() => {
        this.#poller.remove(ring);
        ring.close();
      });
      this.#poller.add(ring, {
        onBytes: (bytes) => conn.onBytes(bytes),
        onEnd: () => conn.sock.destroy(), // EOF: the client closed or died
      });
    };
    take();
    return true;
  }

  #closeConn(conn: ServerConn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn);
    log?.('client %d disconnected (%d connections)', conn.conn, this.conns.size);
    if (conn.endpoint.gate) conn.endpoint.gate.open--;
    conn.runClosers();
    for (const [id, n] of conn.refs) this.release(id, n);
    conn.refs.clear();
  }

  /** Drops `n` references to object `id`; frees it at zero (ending it, and dropping what it held). */
  release(id: number, n: number): void {
    const entry = this.objects.get(id);
    if (!entry) return;
    entry.refs -= n;
    if (entry.refs > 0) return;
    this.objects.delete(id);
    for (const gate of this.#gates) gate.reachable.delete(id);
    this.#dispose(entry);
    if (entry.holds !== undefined) this.release(entry.holds, 1);
  }

  #dispose(entry: Entry): void {
    if (!entry.spec.dispose) return;
    let done: Promise<unknown>;
    try {
      done = Promise.resolve((entry.spec.dispose as (obj: unknown) => unknown)(entry.obj));
    } catch (err) {
      done = Promise.reject(err);
    }
    const settled = done.catch(() => {}); // an object that fails to end must not stop the others
    this.#disposing.add(settled);
    void settled.then(() => this.#disposing.delete(settled));
  }

  /** Adds a new object, with no reference yet: the answer that carries its proxy takes the first. */
  #register(typeid: string, obj: unknown, spec: TypeSpec, holds?: number): ServerRef {
    const id = this.#nextId++;
    const exposed = this.#exposed.get(typeid) ?? (typeid in builtins ? undefined : publicMethods(obj));
    this.objects.set(id, { typeid, obj, spec, refs: 0, exposed, holds });
    if (holds !== undefined) this.objects.get(holds)!.refs++;
    return new ServerRef({ address: '', authkey: '', id, typeid, exposed }, this);
  }

  /** A method's {@link Referent} result becomes an object of its own, holding the one that made it. */
  #made(value: unknown, oid: number): unknown {
    if (!(value instanceof Referent)) return value;
    const spec = this.types.get(value.typeid);
    if (!spec || !this.objects.has(oid)) throw new ReferenceError(`shared object ${oid} was freed before its ${value.typeid} was made`);
    return this.#register(value.typeid, value.obj, spec, oid);
  }

  #handle(conn: ServerConn, payload: Buffer): void {
    const msg = decode(payload, (state) => this.#adopt(conn, state), true);
    if (!Array.isArray(msg) || msg.length !== 4) throw new ProtocolError('a request is [id, object, method, args]');
    const [req, oid, method, args] = msg as [unknown, unknown, unknown, unknown];
    if (!Number.isSafeInteger(req) || !Number.isSafeInteger(oid) || typeof method !== 'string' || !Array.isArray(args)) {
      throw new ProtocolError('malformed request');
    }
    let result: unknown;
    this.#calls++;
    try {
      result = oid === 0 ? this.#serverCall(conn, method, args) : this.#made(this.#objectCall(conn, oid as number, method, args), oid as number);
    } catch (err) {
      this.#reply(conn, req as number, err, true);
      return;
    }
    if (result instanceof Promise) {
      result.then((value) => (oid === 0 ? value : this.#made(value, oid as number))).then(
        (answer) => this.#reply(conn, req as number, answer, false),
        (err) => this.#reply(conn, req as number, err, true),
      );
    } else {
      this.#reply(conn, req as number, result, false);
    }
  }

  #objectCall(conn: ServerConn, id: number, method: string, args: unknown[]): unknown {
    checkReachable(conn, id);
    const entry = this.objects.get(id);
    if (!entry) throw new ReferenceError(`shared object ${id} no longer exists on the manager (every proxy to it was released)`);
    const methods = entry.spec.methods;
    // Builtin tables are plain objects: only their own names, never `constructor` or `__proto__`.
    const fn = Object.hasOwn(methods, method) || this.#isCustom(entry) ? methods[method] : undefined;
    if (typeof fn !== 'function') {
      throw new AttributeError(`'${entry.typeid}' object has no exposed method '${method}'`);
    }
    return (fn as (obj: unknown, args: unknown[], ctx: CallContext) => unknown)(entry.obj, args, conn);
  }

  #isCustom(entry: Entry): boolean {
    return !(entry.typeid in builtins);
  }

  #serverCall(conn: ServerConn, method: string, args: unknown[]): unknown {
    const gate = conn.endpoint.gate;
    if (gate && !PEER_OPERATIONS.has(method) && !gate.allow.has(method)) {
      throw new PermissionError(1, `the manager's '${method}' operation is not open to remote clients (its owner allows it with serve({ allow: ['${method}'] }))`);
    }
    switch (method) {
      case 'create': {
        const [typeid, cargs] = args as [unknown, unknown];
        if (typeof typeid !== 'string' || !this.types.has(typeid)) throw new TypeError(`the manager knows no type '${String(typeid)}': register it before start()`);
        if (!Array.isArray(cargs)) throw new TypeError('create: arguments must be an array');
        const spec = this.types.get(typeid)!;
        const made = spec.create(cargs);
        const finish = (obj: unknown): ServerRef => this.#register(typeid, obj, spec);
        return made instanceof Promise ? made.then(finish) : finish(made);
      }
      case 'incref': {
        const id = args[0] as number;
        checkReachable(conn, id);
        const entry = this.objects.get(id);
        if (!entry) throw new ReferenceError(`shared object ${String(id)} no longer exists on the manager`);
        entry.refs++;
        conn.refs.set(id, (conn.refs.get(id) ?? 0) + 1);
        return null;
      }
      case 'decref': {
        const id = args[0] as number;
        const held = conn.refs.get(id) ?? 0;
        if (held > 0) {
          if (held === 1) conn.refs.delete(id);
          else conn.refs.set(id, held - 1);
          this.release(id, 1);
        }
        return null;
      }
      case 'ring':
        return this.#takeRing(conn, args[0]);
      case 'ping':
        return 'pong';
      case 'info':
        return {
          objects: this.objects.size,
          connections: this.conns.size,
          refs: [...this.objects.values()].reduce((n, e) => n + e.refs, 0),
          calls: this.#calls,
          pid: process.pid,
        };
      case 'lookup': {
        const name = args[0];
        const ref = typeof name === 'string' ? (gate?.published ?? this.published).get(name) : undefined;
        if (!ref) throw new KeyError(`no object published as ${JSON.stringify(name)}`);
        return ref;
      }
      case 'serve':
        return this.#serveTcp(args[0]);
      case 'shutdown':
        setImmediate(() => this.shutdown());
        return null;
      default:
        throw new AttributeError(`the manager has no operation '${method}'`);
    }
  }

  async #serveTcp(options: unknown): Promise<{ host: string; port: number }> {
    const o = options as { host?: unknown; port?: unknown; authkey?: unknown; exposed?: unknown; idleTimeout?: unknown; allow?: unknown };
    const host = typeof o.host === 'string' ? o.host : '127.0.0.1';
    const port = typeof o.port === 'number' ? o.port : 0;
    if (typeof o.authkey !== 'string' || o.authkey.length === 0) throw new TypeError('serve: an authkey is required');
    const exposed = (o.exposed ?? {}) as Record<string, unknown>;
    for (const [name, ref] of Object.entries(exposed)) {
      if (!(ref instanceof ServerRef) || !ref.server) throw new TypeError(`serve: exposed.${name} is not a proxy of this manager`);
    }
    const allow = Array.isArray(o.allow) ? o.allow.filter((op): op is string => typeof op === 'string') : [];
    const gate: Gate = { reachable: new Set(), published: new Map(), allow: new Set(allow), waiting: new Map(), open: 0 };
    for (const [name, ref] of Object.entries(exposed) as [string, ServerRef][]) {
      gate.published.set(name, ref);
      gate.reachable.add(ref.state.id);
    }
    const idle = typeof o.idleTimeout === 'number' ? o.idleTimeout : 0;
    const { host: h, port: p } = await this.listen({ host, port }, Buffer.from(o.authkey, 'hex'), idle, gate);
    for (const [name, ref] of gate.published) this.published.set(name, ref);
    return { host: h!, port: p! };
  }

  /** A proxy record arrived inside a request: hold it as a reference (and count it if it is ours). */
  #adopt(conn: ServerConn, state: ProxyState): ServerRef {
    // A remote peer's record of an object it cannot reach stays a foreign record: naming an id gives no access.
    const reachable = !conn.endpoint.gate || conn.endpoint.gate.reachable.has(state.id);
    const entry = reachable && this.#own.has(state.address) ? this.objects.get(state.id) : undefined;
    if (!entry) return new ServerRef(state, null);
    entry.refs++;
    const ref = new ServerRef({ ...state, address: '', authkey: '' }, this);
    refsFinalizer.register(ref, { server: this, id: state.id });
    return ref;
  }

  /**
   * The state a proxy to one of our objects travels as, on the connection being answered (which now holds it).
   * Sent outside any answer (an argument of a Pool task, to a worker), it names the Unix socket, and the
   * receiver takes its own reference when it rebuilds the proxy.
   */
  stateFor(ref: ServerRef): ProxyState {
    const conn = this.#encodingFor;
    const entry = this.objects.get(ref.state.id);
    if (!conn) {
      if (!this.#local) throw new Error('manager proxies are only sent inside answers');
      return { ...ref.state, address: this.#local.address, authkey: this.#local.authkey.toString('hex') };
    }
    if (entry) {
      entry.refs++;
      conn.refs.set(ref.state.id, (conn.refs.get(ref.state.id) ?? 0) + 1);
      conn.endpoint.gate?.reachable.add(ref.state.id); // handed to a peer of this listener: its peers may use it
    }
    return { ...ref.state, address: conn.endpoint.address, authkey: conn.endpoint.authkey.toString('hex') };
  }

  #reply(conn: ServerConn, req: number, value: unknown, failed: boolean): void {
    if (conn.closed) {
      // An object made for a client that left would have no reference ever: free it (a Pool's workers go too).
      if (value instanceof ServerRef && value.server && this.objects.get(value.state.id)?.refs === 0) this.release(value.state.id, 0);
      return;
    }
    let body: Uint8Array;
    this.#encodingFor = conn;
    try {
      // A remote peer learns an error's class and message, not the server's stack (its paths and sources).
      const remote = conn.endpoint.gate !== null;
      body = failed ? dumps([req, 1, errorRecord(value, remote)]) : dumps([req, 0, value], 'result');
    } catch (err) {
      body = dumps([req, 1, errorRecord(err, conn.endpoint.gate !== null)]);
    } finally {
      this.#encodingFor = null;
    }
    conn.send(body);
  }

  /**
   * Closes every listener and connection and ends every object (a Pool terminates its
   * workers); `stopped` resolves once they are gone. Removes nothing itself (the caller
   * owns the directory). Idempotent.
   */
  shutdown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    log?.('server stopping: %d objects, %d connections', this.objects.size, this.conns.size);
    for (const l of this.#listeners) l.close();
    // Closed now, not at the sockets' 'close' events: a call the ending of an object
    // fails (a Pool's pending apply) must not answer, its client sees the server go.
    for (const conn of [...this.conns]) {
      conn.sock.destroy();
      this.#closeConn(conn);
    }
    const entries = [...this.objects.values()];
    this.objects.clear();
    for (const entry of entries) this.#dispose(entry);
    void Promise.all(this.#disposing).then(() => this.#stop());
  }
}

/** Python's `AttributeError`: the method is not exposed. */
export class AttributeError extends Error {
  override name = 'AttributeError';
}


function errorRecord(err: unknown, remote: boolean): [string, string, string] {
  if (err instanceof Error) return [err.name && err.name !== 'Error' ? err.name : err.constructor.name, err.message, remote ? '' : err.stack ?? ''];
  return ['Error', String(err), ''];
}

/** A remote peer uses only the objects its listener published or handed out; the same answer whether the id exists or not. */
function checkReachable(conn: ServerConn, id: number): void {
  const gate = conn.endpoint.gate;
  if (gate && !gate.reachable.has(id)) {
    throw new ReferenceError(`shared object ${id} is not reachable from this connection: a remote client reaches the objects its manager exposed and what they return`);
  }
}

/** Tells a TCP peer why it is closed (a frame within the handshake's limit), then closes. */
function turnAway(sock: net.Socket, reason: string): void {
  sock.write(busyFrame(reason));
  sock.destroySoon();
}

/** Public methods of an object: functions on it or its prototypes, not `constructor`, not `_private`. */
function publicMethods(obj: unknown): string[] {
  const names = new Set<string>();
  for (let o = obj as object | null; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || name.startsWith('_')) continue;
      const desc = Object.getOwnPropertyDescriptor(o, name);
      if (desc && typeof desc.value === 'function') names.add(name);
    }
  }
  return [...names];
}

/**
 * The server process's target: listens on `config.path`, serves until
 * `shutdown` or until its parent dies, ends its objects (a Pool's workers),
 * then removes its directory.
 */
export const managerServerMain = task(import.meta, async function managerServerMain(config: ServerConfig): Promise<void> {
  const authkey = Buffer.from(config.authkey, 'hex');
  const server = new ManagerServer(authkey, { handshakeTimeout: config.handshakeTimeout, maxFrame: config.maxFrame });
  allowTaskRoots(config.taskRoots);
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    server.shutdown();
    rmSync(config.dir, { recursive: true, force: true });
  };
  let watch: NodeJS.Timeout | undefined;
  if (isMainThread) {
    // Die with the parent, but by SIGTERM so the socket directory goes too
    // (prctl PR_SET_PDEATHSIG; spawn_main set SIGKILL). A parent-gone poll closes the race.
    native.setParentDeathSignal(constants.signals.SIGTERM);
    process.on('SIGTERM', () => {
      cleanup();
      process.exit(0);
    });
    // Python's manager ignores SIGINT so that Ctrl-C in the parent does not kill it first.
    process.on('SIGINT', () => {});
    watch = setInterval(() => {
      if (!isAlive(config.parentPid) || process.ppid !== config.parentPid) {
        cleanup();
        process.exit(0);
      }
    }, 500);
    if (!isAlive(config.parentPid)) {
      cleanup();
      process.exit(0);
    }
  }
  process.on('exit', cleanup);
  // A daemon to its parent, but like Python's manager process (not a daemon) it
  // may start children: the workers of a manager.Pool(), which die with it.
  allowChildren();
  await server.register(config.registry);
  await server.listen({ path: config.path }, authkey);
  await server.stopped;
  clearInterval(watch);
  cleanup();
  log?.('server stopped');
});
