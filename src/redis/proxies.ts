/**
 * Shared dict, list, Namespace and Value on Redis, with the method names of
 * weft's Manager proxies (`DictProxy`, `ListProxy`, `NamespaceProxy`,
 * `ValueProxy`) and their atomic extras (`incr`, `compareAndSet`,
 * `appendMany`): each call is one Redis command or one Lua script, so it is
 * atomic on the server, and any number are in flight on one connection.
 *
 * Values are stored with weft's codec (Map, Set, Date, BigInt, Buffer,
 * errors), numbers as `#` + decimal so a script can add to them in place.
 * A dict keeps Python's insertion order in a sorted set beside its hash.
 * `compareAndSet` compares encodings: equal values with object keys in
 * another order do not match.
 * @module
 */
import { KeyError, ValueError } from '../errors.js';
import type { Key } from '../multiprocessing/manager_types.js';
import { IndexError } from '../multiprocessing/manager_wire.js';
import { Script, pack, unpack, type Arg, type RedisConnection } from './connection.js';
import { checkName } from './queues.js';

// Shared by the dict scripts: KEYS hash, order, seq.
const DICT_LIB = `
local h, o, seq = KEYS[1], KEYS[2], KEYS[3]
local function put(f, v)
  if redis.call('HSET', h, f, v) == 1 then redis.call('ZADD', o, redis.call('INCR', seq), f) end
end
local function drop(f)
  if redis.call('HDEL', h, f) == 0 then return false end
  redis.call('ZREM', o, f)
  return true
end
`;
// Numbers are '#' .. decimal; %.17g keeps every bit of a double.
const NUM_LIB = `
local function num(v, what)
  if not v then return 0 end
  if string.sub(v, 1, 1) ~= '#' then return nil end
  return tonumber(string.sub(v, 2))
end
local function fmt(n) return '#' .. string.format('%.17g', n) end
local function same(cur, exp, missing)
  if missing == '1' then return not cur end
  if not cur then return false end
  if string.sub(cur, 1, 1) == '#' and string.sub(exp, 1, 1) == '#' then
    return tonumber(string.sub(cur, 2)) == tonumber(string.sub(exp, 2))
  end
  return cur == exp
end
`;
const NOT_A_NUMBER = "return redis.error_reply('WEFT TypeError: incr needs a number, the value is not one')";

const D_SET = new Script(`${DICT_LIB}
for i = 1, #ARGV, 2 do put(ARGV[i], ARGV[i + 1]) end
return 1`);
const D_DEL = new Script(`${DICT_LIB} if drop(ARGV[1]) then return 1 end return 0`);
const D_ITEMS = new Script(`${DICT_LIB}
local ks = redis.call('ZRANGE', o, 0, -1)
local out = {}
for i, k in ipairs(ks) do out[2 * i - 1] = k; out[2 * i] = redis.call('HGET', h, k) end
return out`);
const D_POP = new Script(`${DICT_LIB}
local v = redis.call('HGET', h, ARGV[1])
if v then drop(ARGV[1]) end
return v`);
const D_POPITEM = new Script(`${DICT_LIB}
local ks = redis.call('ZRANGE', o, -1, -1)
if #ks == 0 then return false end
local v = redis.call('HGET', h, ks[1])
drop(ks[1])
return {ks[1], v}`);
const D_SETDEFAULT = new Script(`${DICT_LIB}
local v = redis.call('HGET', h, ARGV[1])
if v then return v end
put(ARGV[1], ARGV[2])
return ARGV[2]`);
const D_INCR = new Script(`${DICT_LIB}${NUM_LIB}
local n = num(redis.call('HGET', h, ARGV[1]))
if not n then ${NOT_A_NUMBER} end
local s = fmt(n + tonumber(ARGV[2]))
put(ARGV[1], s)
return s`);
const D_CAS = new Script(`${DICT_LIB}${NUM_LIB}
if not same(redis.call('HGET', h, ARGV[1]), ARGV[2], ARGV[4]) then return 0 end
put(ARGV[1], ARGV[3])
return 1`);

/** Dict keys keep their type in Redis: `s…` string, `n…` number, `b1`/`b0`, `i…` bigint, `z` null. */
function packKey(key: Key): string {
  switch (typeof key) {
    case 'string':
      return `s${key}`;
    case 'number':
      return `n${key}`;
    case 'boolean':
      return key ? 'b1' : 'b0';
    case 'bigint':
      return `i${key}`;
    default:
      if (key === null) return 'z';
      throw new TypeError(`a dict key must be a string, number, boolean, bigint or null, got ${typeof key}`);
  }
}

function unpackKey(field: Buffer | string): Key {
  const s = String(field);
  const rest = s.slice(1);
  switch (s[0]) {
    case 's':
      return rest;
    case 'n':
      return Number(rest);
    case 'b':
      return rest === '1';
    case 'i':
      return BigInt(rest);
    default:
      return null;
  }
}

/** A script's `WEFT <Class>: text` error as that class. */
async function call<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    const m = err instanceof Error ? /^WEFT (\w+): (.*)$/s.exec(err.message) : null;
    if (!m) throw err;
    const Class = { TypeError, KeyError, IndexError, ValueError }[m[1] as 'TypeError'] ?? Error;
    throw new Class(m[2]);
  }
}

function checkBy(by: number | bigint): number {
  if (typeof by !== 'number' || !Number.isFinite(by)) {
    throw new TypeError(`incr on Redis adds a finite number, got ${typeof by === 'bigint' ? `${by}n (a bigint)` : String(by)}`);
  }
  return by;
}

/**
 * A shared dict in Redis: the method names of weft's Manager `DictProxy`.
 * Keys are strings, numbers, booleans, bigints or null and come back with
 * their type; iteration and `keys()` follow insertion order, as Python's.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const d = await cluster.dict<string, number>('example:dict');
 * await d.clear();
 * await d.set('pid', process.pid);
 * await d.incr('hits'); // atomic on the server
 * console.log(await d.get('hits'), await d.len()); // 1 2
 * @throws {KeyError} from `getItem`, `delete`, `pop` (no default) and `popitem` on a missing key or empty dict.
 * @throws {TypeError} from `incr` when the value is not a number.
 */
export class DictProxy<K extends Key = Key, V = unknown> implements AsyncIterable<K> {
  readonly #conn: RedisConnection;
  readonly #keys: string[];
  /** The name it was made with. */
  readonly name: string;

  /** @internal Made by `cluster.dict(name)`. */
  constructor(conn: RedisConnection, kind: string, name: string) {
    checkName(name);
    this.#conn = conn;
    this.name = name;
    this.#keys = ['h', 'o', 'seq'].map((p) => conn.key(kind, name, p));
  }

  #run(script: Script, args: Arg[] = []): Promise<unknown> {
    return call(this.#conn.run(script, this.#keys, args));
  }

  /** `d.get(k, default)`: the value, or `dflt` (undefined) when missing. */
  get(key: K): Promise<V | undefined>;
  get<D>(key: K, dflt: D): Promise<V | D>;
  async get(key: K, dflt?: unknown): Promise<unknown> {
    this.#conn.checkOpen();
    const raw = await this.#conn.client.hgetBuffer(this.#keys[0]!, packKey(key));
    return raw === null ? dflt : unpack(raw);
  }
  /** `d[k]`. @throws {KeyError} when missing. */
  async getItem(key: K): Promise<V> {
    this.#conn.checkOpen();
    const raw = await this.#conn.client.hgetBuffer(this.#keys[0]!, packKey(key));
    if (raw === null) throw new KeyError(String(key));
    return unpack(raw) as V;
  }
  /** `d[k] = v`. */
  async set(key: K, value: V): Promise<void> {
    await this.#run(D_SET, [packKey(key), pack(value)]);
  }
  /** `del d[k]`. @throws {KeyError} when missing. */
  async delete(key: K): Promise<void> {
    if ((await this.#run(D_DEL, [packKey(key)])) === 0) throw new KeyError(String(key));
  }
  /** `k in d`. */
  async has(key: K): Promise<boolean> {
    this.#conn.checkOpen();
    return (await this.#conn.client.hexists(this.#keys[0]!, packKey(key))) === 1;
  }
  async keys(): Promise<K[]> {
    this.#conn.checkOpen();
    return (await this.#conn.client.zrange(this.#keys[1]!, 0, -1)).map(unpackKey) as K[];
  }
  async values(): Promise<V[]> {
    return (await this.items()).map(([, v]) => v);
  }
  async items(): Promise<[K, V][]> {
    const flat = (await this.#run(D_ITEMS)) as Buffer[];
    const out: [K, V][] = [];
    for (let i = 0; i < flat.length; i += 2) out.push([unpackKey(flat[i]!) as K, unpack(flat[i + 1]!) as V]);
    return out;
  }
  /** `d.update(other)`: an object, a Map or [key, value] pairs, in one atomic call. */
  async update(other: Record<string, V> | Map<K, V> | Iterable<[K, V]>): Promise<void> {
    const pairs: [Key, unknown][] =
      other instanceof Map || Symbol.iterator in Object(other)
        ? [...(other as Iterable<[K, V]>)]
        : Object.entries(other as Record<string, V>);
    if (pairs.length === 0) return;
    await this.#run(D_SET, pairs.flatMap(([k, v]) => [packKey(k), pack(v)]));
  }
  /** `d.pop(k[, default])`. @throws {KeyError} when missing and no default is given. */
  pop(key: K): Promise<V>;
  pop<D>(key: K, dflt: D): Promise<V | D>;
  async pop(...args: unknown[]): Promise<unknown> {
    const raw = (await this.#run(D_POP, [packKey(args[0] as K)])) as Buffer | null;
    if (raw !== null) return unpack(raw);
    if (args.length > 1) return args[1];
    throw new KeyError(String(args[0]));
  }
  /** Removes and returns the last inserted pair. @throws {KeyError} when empty. */
  async popitem(): Promise<[K, V]> {
    const pair = (await this.#run(D_POPITEM)) as [Buffer, Buffer] | null;
    if (pair === null) throw new KeyError('popitem(): dictionary is empty');
    return [unpackKey(pair[0]) as K, unpack(pair[1]) as V];
  }
  async setdefault(key: K, dflt: V): Promise<V> {
    return unpack((await this.#run(D_SETDEFAULT, [packKey(key), pack(dflt)])) as Buffer) as V;
  }
  async clear(): Promise<void> {
    this.#conn.checkOpen();
    await this.#conn.client.del(...this.#keys);
  }
  /** A plain copy (a Map), like Python's `DictProxy.copy()`. */
  copy(): Promise<Map<K, V>> {
    return this.toMap();
  }
  async len(): Promise<number> {
    this.#conn.checkOpen();
    return this.#conn.client.hlen(this.#keys[0]!);
  }
  /** The contents as a Map (keys keep their types). */
  async toMap(): Promise<Map<K, V>> {
    return new Map(await this.items());
  }
  /** The contents as a plain object (keys become strings). */
  async toObject(): Promise<Record<string, V>> {
    return Object.fromEntries((await this.items()).map(([k, v]) => [String(k), v]));
  }
  /** Atomically adds `by` (1) to `d[k]` (missing counts as 0); resolves to the new value. @throws {TypeError} when the value is not a number. */
  async incr(key: K, by: number | bigint = 1): Promise<number> {
    return unpack((await this.#run(D_INCR, [packKey(key), checkBy(by)])) as Buffer) as number;
  }
  /** Atomically sets `d[k] = next` if it equals `expected` (same encoding; numbers by value; missing is undefined); resolves to whether it did. */
  async compareAndSet(key: K, expected: V | undefined, next: V): Promise<boolean> {
    const missing = expected === undefined;
    return (await this.#run(D_CAS, [packKey(key), missing ? '' : pack(expected), pack(next), missing ? '1' : '0'])) === 1;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<K> {
    yield* await this.keys();
  }
  toString(): string {
    return `<${this.constructor.name} '${this.name}'>`;
  }
}

/**
 * Python's `Namespace` on Redis: named attributes (`ns.x` becomes `await ns.get('x')`).
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const ns = await cluster.Namespace('example:ns');
 * await ns.set('x', 1);
 * await ns.incr('x');
 * console.log(await ns.get('x')); // 2
 * @throws {KeyError} from `delete` when there is no such attribute.
 */
export class NamespaceProxy {
  readonly #dict: DictProxy<string, unknown>;

  /** @internal Made by `cluster.Namespace(name)`. */
  constructor(conn: RedisConnection, kind: string, name: string) {
    this.#dict = new DictProxy(conn, kind, name);
  }
  get name(): string {
    return this.#dict.name;
  }
  /** The attribute's value, or undefined. */
  get<T = unknown>(name: string): Promise<T> {
    return this.#dict.get(name) as Promise<T>;
  }
  set(name: string, value: unknown): Promise<void> {
    return this.#dict.set(name, value);
  }
  delete(name: string): Promise<void> {
    return this.#dict.delete(name);
  }
  has(name: string): Promise<boolean> {
    return this.#dict.has(name);
  }
  toObject(): Promise<Record<string, unknown>> {
    return this.#dict.toObject();
  }
  incr(name: string, by: number | bigint = 1): Promise<number> {
    return this.#dict.incr(name, by);
  }
  compareAndSet(name: string, expected: unknown, next: unknown): Promise<boolean> {
    return this.#dict.compareAndSet(name, expected, next);
  }
  toString(): string {
    return `<NamespaceProxy '${this.name}'>`;
  }
}

// List scripts: KEYS[1] the list. An index is normalised as Python does (negative from the end).
const LIST_LIB = `
local l = KEYS[1]
local n = redis.call('LLEN', l)
local function at(i, what)
  i = tonumber(i)
  if i < 0 then i = i + n end
  if i < 0 or i >= n then return nil end
  return i
end
local function oob(what) return redis.error_reply('WEFT IndexError: ' .. what .. ': list index out of range') end
`;
const TOMBSTONE = '\u0000weft:deleted';
const L_DELETE = new Script(`${LIST_LIB}
local i = at(ARGV[1]) if not i then return oob(ARGV[2]) end
local v = redis.call('LINDEX', l, i)
redis.call('LSET', l, i, '${TOMBSTONE}')
redis.call('LREM', l, 1, '${TOMBSTONE}')
return v`);
const L_INSERT = new Script(`${LIST_LIB}
local i = tonumber(ARGV[1])
if i < 0 then i = math.max(0, i + n) end
if i >= n then return redis.call('RPUSH', l, ARGV[2]) end
if i == 0 then return redis.call('LPUSH', l, ARGV[2]) end
local rest = redis.call('LRANGE', l, i, -1)
redis.call('LTRIM', l, 0, i - 1)
redis.call('RPUSH', l, ARGV[2])
for _, v in ipairs(rest) do redis.call('RPUSH', l, v) end
return n + 1`);
const L_INDEX = new Script(`${LIST_LIB}${NUM_LIB}
local s, e = tonumber(ARGV[2]), tonumber(ARGV[3])
if s < 0 then s = math.max(0, s + n) end
if e < 0 then e = e + n end
if e > n then e = n end
local items = redis.call('LRANGE', l, s, e - 1)
for k, v in ipairs(items) do if same(v, ARGV[1], '0') then return s + k - 1 end end
return -1`);
const L_INCR = new Script(`${LIST_LIB}${NUM_LIB}
local i = at(ARGV[1]) if not i then return oob('incr()') end
local x = num(redis.call('LINDEX', l, i))
if not x then ${NOT_A_NUMBER} end
local s = fmt(x + tonumber(ARGV[2]))
redis.call('LSET', l, i, s)
return s`);
const L_CAS = new Script(`${LIST_LIB}${NUM_LIB}
local i = at(ARGV[1]) if not i then return oob('compareAndSet()') end
if not same(redis.call('LINDEX', l, i), ARGV[2], '0') then return 0 end
redis.call('LSET', l, i, ARGV[3])
return 1`);
// Replaces the whole list if it still is what the caller read (sort: read, sort here, write back).
const L_REPLACE = new Script(`
local cur = redis.call('LRANGE', KEYS[1], 0, -1)
local old = tonumber(ARGV[1])
if #cur ~= old then return 0 end
for i = 1, old do if cur[i] ~= ARGV[1 + i] then return 0 end end
redis.call('DEL', KEYS[1])
for i = old + 2, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
return 1`);

/**
 * A shared list in Redis: the method names of weft's Manager `ListProxy`;
 * negative indices count from the end.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const l = await cluster.list<number>('example:list');
 * await l.clear();
 * await l.append(0);
 * await l.appendMany([1, 2, 3]); // one atomic call
 * console.log(await l.toArray()); // [ 0, 1, 2, 3 ]
 * @throws {IndexError} from `get`, `set`, `delete`, `pop`, `incr` with an index out of range.
 * @throws {ValueError} from `remove` and `index` when the value is absent.
 */
export class ListProxy<T = unknown> implements AsyncIterable<T> {
  readonly #conn: RedisConnection;
  readonly #key: string;
  readonly name: string;

  /** @internal Made by `cluster.list(name)`. */
  constructor(conn: RedisConnection, name: string) {
    checkName(name);
    this.#conn = conn;
    this.name = name;
    this.#key = conn.key('list', name, 'l');
  }
  get #client() {
    this.#conn.checkOpen();
    return this.#conn.client;
  }
  #run(script: Script, args: Arg[] = []): Promise<unknown> {
    return call(this.#conn.run(script, [this.#key], args));
  }
  async get(index: number): Promise<T> {
    const raw = await this.#client.lindexBuffer(this.#key, index);
    if (raw === null) throw new IndexError('get(): list index out of range');
    return unpack(raw) as T;
  }
  async set(index: number, value: T): Promise<void> {
    try {
      await this.#client.lset(this.#key, index, pack(value));
    } catch (err) {
      if (err instanceof Error && /index out of range|no such key/i.test(err.message)) throw new IndexError('set(): list assignment index out of range');
      throw err;
    }
  }
  /** `del l[i]`. */
  async delete(index: number): Promise<void> {
    await this.#run(L_DELETE, [index, 'delete()']);
  }
  async append(value: T): Promise<void> {
    await this.#client.rpush(this.#key, pack(value));
  }
  /** Appends every item in one atomic call; resolves to the new length. */
  async appendMany(values: T[]): Promise<number> {
    if (values.length === 0) return this.len();
    return this.#client.rpush(this.#key, ...values.map(pack));
  }
  async extend(values: T[]): Promise<void> {
    await this.appendMany(values);
  }
  async insert(index: number, value: T): Promise<void> {
    await this.#run(L_INSERT, [index, pack(value)]);
  }
  /** Removes and returns the item at `index` (the last). @throws {IndexError} */
  async pop(index = -1): Promise<T> {
    return unpack((await this.#run(L_DELETE, [index, 'pop()'])) as Buffer) as T;
  }
  /** Removes the first item equal to `value`. @throws {ValueError} */
  async remove(value: T): Promise<void> {
    if ((await this.#client.lrem(this.#key, 1, pack(value))) === 0) throw new ValueError('list.remove(x): x not in list');
  }
  /** The first index of `value` in `[start, stop)`. @throws {ValueError} */
  async index(value: T, start = 0, stop = Number.MAX_SAFE_INTEGER): Promise<number> {
    const i = (await this.#run(L_INDEX, [pack(value), start, stop])) as number;
    if (i < 0) throw new ValueError(`${String(value)} is not in list`);
    return i;
  }
  async count(value: T): Promise<number> {
    const target = pack(value);
    return (await this.toArrayRaw()).filter((b) => b.equals(target)).length;
  }
  /** Sorts in place with Python's ordering (numbers, or strings); retried if the list changed meanwhile. @throws {TypeError} for mixed types. */
  async sort({ reverse = false }: { reverse?: boolean } = {}): Promise<void> {
    for (;;) {
      const raw = await this.toArrayRaw();
      const items = raw.map((b) => unpack(b));
      const kinds = new Set(items.map((x) => (typeof x === 'bigint' ? 'number' : typeof x)));
      if (kinds.size > 1 || (kinds.size === 1 && !kinds.has('number') && !kinds.has('string'))) {
        throw new TypeError(`'<' not supported between the items of this list (${[...kinds].join(', ')})`);
      }
      const order = items.map((x, i) => [x, i] as const).sort(([a], [b]) => ((a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0));
      if (reverse) order.reverse();
      if ((await this.#run(L_REPLACE, [raw.length, ...raw, ...order.map(([, i]) => raw[i]!)])) === 1) return;
    }
  }
  async reverse(): Promise<void> {
    for (;;) {
      const raw = await this.toArrayRaw();
      if ((await this.#run(L_REPLACE, [raw.length, ...raw, ...[...raw].reverse()])) === 1) return;
    }
  }
  /** `l[start:stop]` as an array. */
  async slice(start = 0, stop?: number): Promise<T[]> {
    const n = await this.len();
    const clamp = (i: number) => (i < 0 ? Math.max(0, i + n) : Math.min(i, n));
    const s = clamp(start);
    const e = stop === undefined ? n : clamp(stop);
    if (e <= s) return [];
    return (await this.#client.lrangeBuffer(this.#key, s, e - 1)).map((b) => unpack(b) as T);
  }
  async clear(): Promise<void> {
    await this.#client.del(this.#key);
  }
  async len(): Promise<number> {
    return this.#client.llen(this.#key);
  }
  async toArray(): Promise<T[]> {
    return (await this.toArrayRaw()).map((b) => unpack(b) as T);
  }
  /** Atomically adds `by` to `l[i]`; resolves to the new value. */
  async incr(index: number, by: number | bigint = 1): Promise<number> {
    return unpack((await this.#run(L_INCR, [index, checkBy(by)])) as Buffer) as number;
  }
  async compareAndSet(index: number, expected: T, next: T): Promise<boolean> {
    return (await this.#run(L_CAS, [index, pack(expected), pack(next)])) === 1;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    yield* await this.toArray();
  }
  toString(): string {
    return `<ListProxy '${this.name}'>`;
  }
  private toArrayRaw(): Promise<Buffer[]> {
    return this.#client.lrangeBuffer(this.#key, 0, -1);
  }
}

const V_INCR = new Script(`${NUM_LIB}
local x = num(redis.call('GET', KEYS[1]))
if not x then ${NOT_A_NUMBER} end
local s = fmt(x + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], s)
return s`);
const V_CAS = new Script(`${NUM_LIB}
if not same(redis.call('GET', KEYS[1]), ARGV[1], '0') then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`);

/**
 * Python's `Manager().Value` on Redis: one shared value, `get()`/`set()`.
 * @example
 * import { connect } from 'weft/redis';
 * await using cluster = await connect(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
 * const v = await cluster.Value('example:value', 0);
 * await v.set(0);
 * await v.incr(); // atomic
 * console.log(await v.get()); // 1
 * @throws {TypeError} from `incr` when the value is not a number.
 */
export class ValueProxy<T = number> {
  readonly #conn: RedisConnection;
  readonly #key: string;
  readonly name: string;

  /** @internal Made by `cluster.Value(name, initial)`. */
  constructor(conn: RedisConnection, name: string) {
    checkName(name);
    this.#conn = conn;
    this.name = name;
    this.#key = conn.key('value', name, 'v');
  }
  /** @internal Sets the initial value unless the value exists. */
  async _init(initial: T): Promise<void> {
    await this.#conn.client.set(this.#key, pack(initial), 'NX');
  }
  async get(): Promise<T> {
    this.#conn.checkOpen();
    const raw = await this.#conn.client.getBuffer(this.#key);
    return (raw === null ? undefined : unpack(raw)) as T;
  }
  async set(value: T): Promise<void> {
    this.#conn.checkOpen();
    await this.#conn.client.set(this.#key, pack(value));
  }
  async incr(by: number | bigint = 1): Promise<T> {
    this.#conn.checkOpen();
    return unpack((await call(this.#conn.run(V_INCR, [this.#key], [checkBy(by)]))) as Buffer) as T;
  }
  async compareAndSet(expected: T, next: T): Promise<boolean> {
    this.#conn.checkOpen();
    return (await call(this.#conn.run(V_CAS, [this.#key], [pack(expected), pack(next)]))) === 1;
  }
  toString(): string {
    return `<ValueProxy '${this.name}'>`;
  }
}
