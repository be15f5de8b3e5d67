/**
 * `connect(url)` and the {@link Cluster} it resolves to: a context, as CPython's
 * `get_context()` returns one — every weft/redis object is made through it
 * (`cluster.Queue`, `cluster.Lock`, `cluster.Pool`…), on one Redis server and
 * one key prefix, with the method names and types of weft's own.
 * @module
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster as RedisCluster, Redis, type RedisOptions } from 'ioredis';
import { ConnectionRefusedError, PermissionError, ValueError } from '../errors.js';
import { AuthenticationError } from '../multiprocessing/manager_wire.js';
import { RedisConnection, Script, type Client } from './connection.js';
import { JoinableQueue, Queue, type QueueOptions } from './queues.js';
import { DictProxy, ListProxy, NamespaceProxy, ValueProxy } from './proxies.js';
import { Pool, type PoolOptions } from './pool.js';
import { Barrier, BoundedSemaphore, Event, Lock, RLock, Semaphore, type LeaseOptions } from './synchronize.js';

/**
 * Options of {@link connect}; the URL may carry the user, password and database too.
 * @example
 * import { connect, type ConnectOptions } from 'weft/redis';
 * const options: ConnectOptions = { prefix: 'myapp:', connectTimeout: 5 };
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', options);
 * console.log(cluster.prefix); // myapp:
 */
export interface ConnectOptions {
  /** Start of every key weft writes (default `'weft:'`); no braces. Programs that share objects use the same. */
  prefix?: string;
  /** TLS: `true`, or Node's `tls.connect` options (a `rediss://` URL turns it on as well). */
  tls?: boolean | TlsOptions;
  /** An ACL user (Redis 6+); default the URL's, else `default`. */
  username?: string;
  password?: string;
  /** Seconds to wait for the server at connect (default 10). */
  connectTimeout?: number;
}

// Every command weft/redis runs inside its scripts, tried on keys under the
// prefix, so that a user whose ACL lacks one hears it at connect.
const PROBE = new Script(`
local denied = {}
local function try(...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r.err and string.find(r.err, 'NOPERM') then table.insert(denied, string.lower((...))) end
end
local s, l, h, z, t = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
try('SET', s, '1', 'PX', 1000) try('GET', s) try('INCR', s) try('INCRBY', s, 1) try('DECR', s) try('EXISTS', s)
try('PEXPIRE', s, 1000) try('PTTL', s) try('TIME')
try('RPUSH', l, 'x') try('LPUSH', l, 'x') try('LLEN', l) try('LINDEX', l, 0) try('LSET', l, 0, 'x') try('LRANGE', l, 0, -1)
try('LMOVE', l, l, 'LEFT', 'RIGHT') try('LREM', l, 1, 'x') try('LTRIM', l, 0, -1) try('LPOP', l) try('RPOP', l)
try('HSET', h, 'f', 'x') try('HGET', h, 'f') try('HMGET', h, 'f') try('HEXISTS', h, 'f') try('HLEN', h) try('HDEL', h, 'f')
try('ZADD', z, 1, 'm') try('ZRANGE', z, 0, -1) try('ZCARD', z) try('ZSCORE', z, 'm') try('ZREM', z, 'm')
try('ZREMRANGEBYSCORE', z, '-inf', 0)
try('SADD', t, 'm') try('SMEMBERS', t) try('SREM', t, 'm')
try('PUBLISH', s, 'x')
try('DEL', s, l, h, z, t)
return denied`);

/**
 * One Redis server seen as a weft context: make queues, shared values, locks
 * and pools on it by name. Every process, on any host, that connects to the
 * same server with the same prefix and names the same object shares it.
 * `await using cluster = await connect(url)` closes it at the end of the block.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const hits = await cluster.dict<string, number>('example:hits');
 * await hits.incr('home');
 * console.log(typeof (await hits.get('home'))); // number
 */
export class Cluster implements AsyncDisposable {
  /** @internal */
  readonly _conn: RedisConnection;
  /** The URL given to `connect` (its password hidden). */
  readonly url: string;
  /** @internal What `connect` was given: a `weft worker`'s consumers connect again with it. */
  readonly _given: { url: string; options: ConnectOptions };

  /** @internal Clusters come from {@link connect}. */
  constructor(conn: RedisConnection, url: string, options: ConnectOptions = {}) {
    this._conn = conn;
    this._given = { url, options };
    this.url = url.replace(/\/\/([^@/]*)@/, (_, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0]}:***` : auth}@`);
  }

  /** The key prefix. */
  get prefix(): string {
    return this._conn.prefix;
  }

  /** This process's name as a consumer and a lock holder: `host:pid:random`. */
  get id(): string {
    return this._conn.id;
  }

  /** A FIFO queue named `name` (see {@link Queue}). */
  Queue<T = unknown>(name: string, options: QueueOptions = {}): Queue<T> {
    this._conn.checkOpen();
    return new Queue<T>(this._conn, name, options);
  }

  /** A queue with `taskDone` and `join` (see {@link JoinableQueue}). */
  JoinableQueue<T = unknown>(name: string, options: QueueOptions = {}): JoinableQueue<T> {
    this._conn.checkOpen();
    return new JoinableQueue<T>(this._conn, name, options);
  }

  /** A shared dict named `name`; async for the Manager's sake (`await manager.dict()`). */
  async dict<K extends string | number | boolean | bigint | null = string, V = unknown>(name: string): Promise<DictProxy<K, V>> {
    this._conn.checkOpen();
    return new DictProxy<K, V>(this._conn, 'dict', name);
  }

  /** A shared list named `name`. */
  async list<T = unknown>(name: string): Promise<ListProxy<T>> {
    this._conn.checkOpen();
    return new ListProxy<T>(this._conn, name);
  }

  /** A shared namespace named `name` (attributes by name). */
  async Namespace(name: string): Promise<NamespaceProxy> {
    this._conn.checkOpen();
    return new NamespaceProxy(this._conn, 'ns', name);
  }

  /** A shared value named `name`, set to `initial` if it does not exist yet. */
  async Value<T = number>(name: string, initial: T): Promise<ValueProxy<T>> {
    this._conn.checkOpen();
    const value = new ValueProxy<T>(this._conn, name);
    await value._init(initial);
    return value;
  }

  /** A lock leased to its holder (see {@link Lock}). */
  Lock(name: string, options: LeaseOptions = {}): Lock {
    this._conn.checkOpen();
    return new Lock(this._conn, name, options);
  }

  /** A recursive lock (see {@link RLock}). */
  RLock(name: string, options: LeaseOptions = {}): RLock {
    this._conn.checkOpen();
    return new RLock(this._conn, name, options);
  }

  /** A semaphore of `value` permits, each leased to its holder (see {@link Semaphore}). */
  Semaphore(name: string, value = 1, options: LeaseOptions = {}): Semaphore {
    this._conn.checkOpen();
    return new Semaphore(this._conn, name, value, options);
  }

  /** A semaphore whose `release` refuses to go above `value`. */
  BoundedSemaphore(name: string, value = 1, options: LeaseOptions = {}): BoundedSemaphore {
    this._conn.checkOpen();
    return new BoundedSemaphore(this._conn, name, value, options);
  }

  /** An event (see {@link Event}). */
  Event(name: string): Event {
    this._conn.checkOpen();
    return new Event(this._conn, name);
  }

  /** A barrier for `parties` (see {@link Barrier}). */
  Barrier(name: string, parties: number): Barrier {
    this._conn.checkOpen();
    return new Barrier(this._conn, name, parties);
  }

  /** A Pool whose tasks run on `weft worker` processes serving `options.queue` (see {@link Pool}). */
  Pool(options: PoolOptions = {}): Pool {
    this._conn.checkOpen();
    return new Pool(this._conn, options);
  }

  /** Closes every connection; objects made through the cluster stop working, leases they held lapse. */
  close(): Promise<void> {
    return this._conn.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toString(): string {
    return `<Cluster ${this.url} prefix=${JSON.stringify(this.prefix)}>`;
  }
}

/**
 * Connects to the Redis server at `url` (`redis://[user:password@]host:port[/db]`,
 * `rediss://` for TLS) and checks, before resolving, that the credentials are
 * accepted and that the user may run every command weft needs on keys under
 * the prefix. Once connected, a lost connection is made again by itself; calls
 * meanwhile wait for it, or reject after about ten tries.
 * @example
 * import { connect } from 'weft/redis';
 * const cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { prefix: 'weft:' });
 * console.log(cluster.prefix); // weft:
 * await cluster.close();
 * @throws {AuthenticationError} when the server refuses the username or password, or wants one.
 * @throws {PermissionError} when the user's ACL lacks a command or a key pattern weft needs (the message lists them).
 * @throws {ConnectionRefusedError} when nothing answers at the address.
 * @throws {ValueError} for a prefix with braces.
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Cluster> {
  const prefix = options.prefix ?? 'weft:';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw new ValueError(`prefix must be a string without braces (weft puts each object's name in a hash tag), got ${JSON.stringify(prefix)}`);
  }
  let ready = false;
  let lastError: Error | null = null;
  // Fail at once until the first connection worked (a wrong address or password is
  // the caller's to fix); then reconnect for ever, as a server restart needs.
  const retry = (times: number) => (ready ? Math.min(times * 100, 2000) : null);
  const { client, where, username } = openClient(url, options, retry);
  client.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw connectError(lastError ?? (err as Error), where, username);
  }
  ready = true;
  const conn = new RedisConnection(client, prefix);
  const keys = ['s', 'l', 'h', 'z', 't'].map((p) => conn.key('probe', conn.id, p));
  let denied: string[] = [];
  try {
    denied = ((await conn.run(PROBE, keys)) as Buffer[]).map(String);
    // The blocking commands, on a list that is not empty so neither waits.
    const pipe = client.pipeline().rpush(keys[1]!, 'x').blmove(keys[1]!, keys[1]!, 'LEFT', 'RIGHT', 0.01).blpop(keys[1]!, 0.01).del(keys[1]!);
    for (const [err] of (await pipe.exec()) ?? []) {
      if (err && err.message.startsWith('NOPERM')) denied.push(/'(\w+)'/.exec(err.message)?.[1] ?? err.message);
    }
  } catch (err) {
    await conn.close();
    if (err instanceof Error && err.message.startsWith('NOPERM')) denied.push(/'(\w+)'/.exec(err.message)?.[1] ?? err.message);
    else throw err;
  }
  if (denied.length > 0) {
    await conn.close();
    const user = username || 'default';
    throw new PermissionError(
      1,
      `Redis user '${user}' at ${where} may not run ${[...new Set(denied)].join(', ')} on keys '${prefix}*' — ` +
        `grant them (ACL SETUSER ${user} ~${prefix}* +@all -@dangerous, or at least those commands) or connect as another user`,
    );
  }
  return new Cluster(conn, url, options);
}

/** `redis+cluster://[user:password@]host:port[,host:port…]` (`rediss+cluster://` for TLS): the nodes to start from. */
const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)(?:\/(\d*))?$/;

/**
 * The ioredis client for `url`, not connected yet: a `Redis` for one server,
 * or, for a `redis+cluster://` URL, a `Cluster` that learns the slots from any
 * of the nodes named and sends each command to its key's node.
 * @throws {ValueError} for a cluster URL that names a database other than 0 (a cluster has only one).
 */
function openClient(url: string, options: ConnectOptions, retry: (times: number) => number | null): { client: Client; where: string; username: string | undefined } {
  const tls = options.tls === true ? {} : options.tls || undefined;
  const node: RedisOptions = {
    enableAutoPipelining: false,
    connectTimeout: (options.connectTimeout ?? 10) * 1000,
    maxRetriesPerRequest: 10,
    // How long a disconnected socket may linger before it is destroyed (ioredis's default, 2 s, holds a process that is done).
    disconnectTimeout: 200,
    ...(options.username !== undefined && { username: options.username }),
    ...(options.password !== undefined && { password: options.password }),
    ...(tls && { tls }),
  };
  const m = CLUSTER_URL.exec(url);
  if (!m) {
    const client = new Redis(url, { ...node, lazyConnect: true, retryStrategy: retry });
    return { client, where: `${client.options.host ?? '127.0.0.1'}:${client.options.port ?? 6379}`, username: client.options.username };
  }
  const [, scheme, auth, hosts, db] = m as unknown as [string, string, string | undefined, string, string | undefined];
  if (db && db !== '0') throw new ValueError(`a Redis Cluster has only database 0, got /${db} in ${url.replace(/\/\/[^@/]*@/, '//***@')}`);
  if (auth) {
    const at = auth.indexOf(':');
    node.username ??= (at < 0 ? '' : decodeURIComponent(auth.slice(0, at))) || undefined;
    node.password ??= decodeURIComponent(at < 0 ? auth : auth.slice(at + 1));
  }
  if (scheme === 'rediss') node.tls ??= {};
  const nodes = hosts.split(',').map((h) => {
    const colon = h.lastIndexOf(':');
    return colon < 0 ? { host: h, port: 6379 } : { host: h.slice(0, colon), port: Number(h.slice(colon + 1)) };
  });
  const client = new RedisCluster(nodes, { lazyConnect: true, enableAutoPipelining: false, clusterRetryStrategy: retry, redisOptions: node });
  return { client, where: hosts, username: node.username };
}

function connectError(err: Error, where: string, username: string | undefined): Error {
  const text = err.message;
  if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(text)) {
    return new AuthenticationError(
      `Redis at ${where} refused to authenticate user '${username || 'default'}' (${text.trim()}) — ` +
        'check the username and password (connect(url, { username, password }) or redis://user:password@host)',
      { cause: err },
    );
  }
  if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' || /None of startup nodes is available/.test(text)) {
    return new ConnectionRefusedError(111, `Connection refused: no Redis server at ${where} — is redis-server running there?`, { cause: err });
  }
  return new Error(`cannot connect to Redis at ${where}: ${text}`, { cause: err });
}
