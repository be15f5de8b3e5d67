/**
 * The link to one Redis server that every weft/redis object shares: a main
 * ioredis connection on which any number of calls are in flight at once
 * (ioredis writes each at once and matches the replies in order; its
 * auto-pipelining is off: it held every awaited call for a turn of the event
 * loop, and one-at-a-time round trips fell from ~2,600/s to ~150/s here), a few duplicates lent to blocking commands (a `BLMOVE` holds its
 * connection until it returns), Lua scripts run by digest, the key layout and
 * the codec. No Python twin: this is what CPython's `managers.py` connection
 * is to a Manager, for Redis.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Cluster as RedisCluster, Redis, type RedisOptions } from 'ioredis';
import { ValueError } from '../errors.js';
import { dumps, loads } from '../multiprocessing/reduction.js';

/** A Lua script, run with `EVALSHA` (and `EVAL` once after a server forgot it, as after a restart). */
export class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

/**
 * ioredis makes a `…Buffer` twin of every command (bulk replies as Buffers) but
 * types none for the scripting ones; `callBuffer` would do, were it not broken
 * under auto-pipelining (it loses the command's name).
 */
interface Scripting {
  evalshaBuffer(sha: string, numKeys: number, ...args: Arg[]): Promise<unknown>;
  evalBuffer(lua: string, numKeys: number, ...args: Arg[]): Promise<unknown>;
}

/** What a script or command may take as an argument. */
export type Arg = string | number | Buffer;

/**
 * Longest a blocking command waits before its caller looks again (for a lease
 * that lapsed, a wake-up lost to a restart): waits stay bounded however long
 * the caller's own timeout is.
 */
export const POLL_SECONDS = 0.25;

/** Values: numbers as `#` + decimal, so Lua can add to them in place; the rest through weft's codec (first byte 0, 1 or 2). */
const NUMBER_TAG = 0x23; // '#'

/** A value as Redis stores it. */
export function pack(value: unknown): Buffer {
  if (typeof value === 'number' && Number.isFinite(value)) return Buffer.from(`#${value}`);
  const bytes = dumps(value);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The value {@link pack} stored (null and undefined come back as such). */
export function unpack(bytes: Buffer): unknown {
  if (bytes[0] === NUMBER_TAG) return Number(bytes.subarray(1).toString('latin1'));
  return loads(bytes);
}

/**
 * A connection to one server or to a Redis Cluster: ioredis gives both the
 * same commands; a cluster routes each by its key's slot.
 */
export type Client = Redis | RedisCluster;

export class RedisConnection {
  /** The connection every non-blocking call goes through. */
  readonly client: Client;
  /** This process's name among the consumers and holders of every object: `host:pid:random`. */
  readonly id = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly #idle: Client[] = [];
  readonly #lent = new Set<Client>();
  readonly #timers = new Set<{ stop(): void }>();
  #closed = false;

  constructor(
    client: Client,
    readonly prefix: string,
  ) {
    this.client = client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** `prefix{kind:name}:part`: the braces are a hash tag, so one object's keys share a cluster slot. */
  key(kind: string, name: string, part: string): string {
    return `${this.prefix}{${kind}:${name}}:${part}`;
  }

  /** Throws once the cluster is closed. */
  checkOpen(): void {
    if (this.#closed) throw new ValueError('the Redis cluster connection is closed');
  }

  /** Runs `script` on `keys` and `args`; bulk replies come back as Buffers. */
  async run(script: Script, keys: string[], args: Arg[] = []): Promise<unknown> {
    this.checkOpen();
    try {
      return await (this.client as unknown as Scripting).evalshaBuffer(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await (this.client as unknown as Scripting).evalBuffer(script.lua, keys.length, ...keys, ...args);
    }
  }

  /** Lends a connection of its own to `fn` (a blocking command), then keeps it for the next. */
  async blocking<T>(fn: (conn: Client) => Promise<T>): Promise<T> {
    this.checkOpen();
    const conn = this.#idle.pop() ?? this.duplicate();
    this.#lent.add(conn);
    try {
      return await fn(conn);
    } finally {
      this.#lent.delete(conn);
      if (this.#closed || this.#idle.length >= 8) conn.disconnect();
      else this.#idle.push(conn);
    }
  }

  /**
   * A new connection with the same server, credentials and reconnection;
   * its errors while reconnecting are not reported (the calls on it fail or
   * wait as the main connection's do).
   */
  duplicate(options: Partial<RedisOptions> = {}): Client {
    const { client } = this;
    // A cluster client takes per-node options under `redisOptions`, and auto-pipelining at its own level.
    const conn =
      client instanceof RedisCluster
        ? client.duplicate([], {
            enableAutoPipelining: options.enableAutoPipelining ?? client.options.enableAutoPipelining,
            redisOptions: { ...client.options.redisOptions, ...options },
          })
        : client.duplicate(options);
    conn.on('error', () => {});
    return conn;
  }


  /** Waits for a token on the list `wakeKey` for at most `seconds` (capped at {@link POLL_SECONDS}). */
  async nap(wakeKey: string, seconds: number): Promise<void> {
    const slice = Math.max(0.01, Math.min(seconds, POLL_SECONDS));
    await this.blocking((conn) => conn.blpop(wakeKey, slice));
  }

  /** Calls `fn` every `seconds` while the cluster is open (a lease renewal); stopped by the handle or by `close`. */
  every(seconds: number, fn: () => Promise<unknown>): { stop(): void } {
    const timer = setInterval(() => {
      fn().catch(() => {}); // a failed renewal is retried at the next tick; the lease covers a few
    }, seconds * 1000);
    timer.unref(); // a process that forgot to release still exits, and its lease lapses
    const handle = {
      stop: () => {
        clearInterval(timer);
        this.#timers.delete(handle);
      },
    };
    this.#timers.add(handle);
    return handle;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of [...this.#timers]) t.stop();
    // Blocking calls in flight reject with ioredis's "Connection is closed."; idle ones just go.
    for (const conn of [...this.#idle, ...this.#lent]) conn.disconnect();
    this.#idle.length = 0;
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

/** ioredis options common to every connection of a cluster. */
export type ClientOptions = RedisOptions;
