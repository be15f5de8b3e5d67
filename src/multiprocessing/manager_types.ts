/**
 * What a manager server holds: the referents behind `dict`, `list`,
 * `Namespace`, `Value` and `Array` proxies and the operations each exposes —
 * the server half of CPython's `managers.py` (`DictProxy`, `ListProxy`,
 * `Namespace`, `Value`, `Array` and their `_exposed_` lists). Every operation
 * runs on the server's one thread, so each is atomic with respect to all
 * clients: `incr`, `compareAndSet` and `appendMany` need no lock.
 * @module
 */
import { KeyError, ValueError } from '../errors.js';
import { lazy } from '../lazy.js';
import { IndexError } from './manager_wire.js';

/**
 * A dict key: what Python would call hashable and weft can compare by value.
 * @example
 * import { Manager, type Key } from 'weft';
 * await using manager = await Manager.start();
 * const d = await manager.dict<Key, string>();
 * await d.set(1, 'one');
 * await d.set('1', 'string one');
 * await d.set(null, 'none');
 * console.log(await d.get(1), '|', await d.get('1'), '|', await d.len()); // one | string one | 3
 */
export type Key = string | number | boolean | bigint | null;

/** The connection a call arrived on, for owners of locks and waits to cancel. */
export interface CallContext {
  /** Connection id, unique in the server. */
  readonly conn: number;
  /** Registers cleanup for when the connection closes (client gone). */
  onClose(fn: () => void): () => void;
}

/** One exposed operation: gets the referent, the call's arguments and its context. */
export type Method = (obj: never, args: unknown[], ctx: CallContext) => unknown;

/** A shared type: how to make its referent, what may be called on it, and how to end it when it is freed. */
export interface TypeSpec {
  create(args: unknown[]): unknown;
  methods: Record<string, Method>;
  /** Runs when the object is freed (its last reference dropped, or the server shuts down): a Pool stops its workers. */
  dispose?(obj: never): unknown;
}

/**
 * A method's result that becomes a shared object of its own, answered as a
 * proxy — Python's `_method_to_typeid_` (`Pool.apply_async` gives an
 * `AsyncResult` proxy). The new object keeps the one whose method made it
 * alive, as Python's `ApplyResult` holds its pool.
 */
export class Referent {
  constructor(readonly typeid: string, readonly obj: unknown) {}
}

function checkKey(key: unknown): Key {
  const t = typeof key;
  if (key === null || t === 'string' || t === 'number' || t === 'boolean' || t === 'bigint') return key as Key;
  throw new TypeError(`unhashable type: '${key === undefined ? 'undefined' : (key as object).constructor?.name ?? t}' (dict keys are strings, numbers, booleans, bigints or null)`);
}

function keyText(key: unknown): string {
  return typeof key === 'string' ? `'${key}'` : String(key);
}

function toEntries(init: unknown, what: string): Iterable<[unknown, unknown]> {
  if (init === undefined || init === null) return [];
  if (init instanceof Map) return init.entries();
  if (Array.isArray(init)) {
    for (const pair of init) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError(`${what}: expected [key, value] pairs`);
    }
    return init as [unknown, unknown][];
  }
  if (typeof init === 'object') return Object.entries(init);
  throw new TypeError(`${what}: expected an object, a Map or [key, value] pairs, got ${typeof init}`);
}

function fillMap(map: Map<Key, unknown>, init: unknown, what: string): void {
  for (const [k, v] of toEntries(init, what)) map.set(checkKey(k), v);
}

function toNumber(value: unknown, what: string): number | bigint {
  if (typeof value === 'number' || typeof value === 'bigint') return value;
  throw new TypeError(`${what}: unsupported operand type '${typeof value}' (a number is needed)`);
}

function add(current: unknown, by: unknown, what: string): number | bigint {
  const a = toNumber(current, what);
  const b = toNumber(by, what);
  if (typeof a !== typeof b) throw new TypeError(`${what}: cannot add ${typeof b} to ${typeof a}`);
  return (a as number) + (b as number);
}

type D = Map<Key, unknown>;

/** Python's dict, served. */
export const dictType: TypeSpec = {
  create(args) {
    const map: D = new Map();
    fillMap(map, args[0], 'dict()');
    return map;
  },
  methods: {
    get: (d: D, [k, dflt]) => (d.has(checkKey(k)) ? d.get(k as Key) : dflt),
    getItem: (d: D, [k]) => {
      if (!d.has(checkKey(k))) throw new KeyError(keyText(k));
      return d.get(k as Key);
    },
    set: (d: D, [k, v]) => void d.set(checkKey(k), v),
    delete: (d: D, [k]) => {
      if (!d.delete(checkKey(k))) throw new KeyError(keyText(k));
    },
    has: (d: D, [k]) => d.has(checkKey(k)),
    keys: (d: D) => [...d.keys()],
    values: (d: D) => [...d.values()],
    items: (d: D) => [...d.entries()],
    update: (d: D, [init]) => fillMap(d, init, 'update()'),
    pop: (d: D, args) => {
      const k = checkKey(args[0]);
      if (d.has(k)) {
        const v = d.get(k);
        d.delete(k);
        return v;
      }
      if (args.length > 1) return args[1];
      throw new KeyError(keyText(k));
    },
    popitem: (d: D) => {
      if (d.size === 0) throw new KeyError("'popitem(): dictionary is empty'");
      const last = [...d.keys()].pop()!;
      const v = d.get(last);
      d.delete(last);
      return [last, v];
    },
    setdefault: (d: D, [k, dflt]) => {
      if (!d.has(checkKey(k))) d.set(k as Key, dflt);
      return d.get(k as Key);
    },
    clear: (d: D) => d.clear(),
    copy: (d: D) => new Map(d),
    toMap: (d: D) => d,
    toObject: (d: D) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of d) {
        if (String(k) === '__proto__') Object.defineProperty(out, '__proto__', { value: v, enumerable: true, writable: true, configurable: true });
        else out[String(k)] = v;
      }
      return out;
    },
    len: (d: D) => d.size,
    incr: (d: D, [k, by = 1]) => {
      const key = checkKey(k);
      const next = add(d.has(key) ? d.get(key) : typeof by === 'bigint' ? 0n : 0, by, 'incr()');
      d.set(key, next);
      return next;
    },
    compareAndSet: (d: D, [k, expected, next]) => {
      const key = checkKey(k);
      if (!lazy.util.isDeepStrictEqual(d.get(key), expected)) return false;
      d.set(key, next);
      return true;
    },
  },
};

function index(list: unknown[], i: unknown, what: string): number {
  if (!Number.isInteger(i)) throw new TypeError(`${what}: list indices must be integers, not ${typeof i}`);
  const n = (i as number) < 0 ? list.length + (i as number) : (i as number);
  if (n < 0 || n >= list.length) throw new IndexError(`${what}: list index out of range`);
  return n;
}

/** Python's slice bounds: negative counts from the end, clamped to the list. */
function bound(list: unknown[], i: unknown, dflt: number): number {
  if (i === undefined || i === null) return dflt;
  if (!Number.isInteger(i)) throw new TypeError(`slice indices must be integers, not ${typeof i}`);
  const n = (i as number) < 0 ? list.length + (i as number) : (i as number);
  return Math.min(Math.max(n, 0), list.length);
}

function find(list: unknown[], value: unknown, start = 0, stop = list.length): number {
  const { isDeepStrictEqual } = lazy.util;
  for (let i = start; i < stop; i++) if (isDeepStrictEqual(list[i], value)) return i;
  return -1;
}

/** Python's ordering for the values a list sorts: numbers with numbers, strings with strings. */
function compare(a: unknown, b: unknown): number {
  const ta = typeof a === 'bigint' ? 'number' : typeof a;
  const tb = typeof b === 'bigint' ? 'number' : typeof b;
  if (ta !== tb || (ta !== 'number' && ta !== 'string' && ta !== 'boolean')) {
    throw new TypeError(`'<' not supported between instances of '${typeof b}' and '${typeof a}'`);
  }
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

function iterable(value: unknown, what: string): unknown[] {
  if (Array.isArray(value)) return value;
  if (value instanceof Set || value instanceof Map) return [...value];
  throw new TypeError(`${what}: expected an array, got ${value === null ? 'null' : typeof value}`);
}

type L = unknown[];

/** Python's list, served. */
export const listType: TypeSpec = {
  create(args) {
    return args[0] === undefined ? [] : [...iterable(args[0], 'list()')];
  },
  methods: {
    get: (l: L, [i]) => l[index(l, i, 'get()')],
    set: (l: L, [i, v]) => void (l[index(l, i, 'set()')] = v),
    delete: (l: L, [i]) => void l.splice(index(l, i, 'delete()'), 1),
    append: (l: L, [v]) => void l.push(v),
    appendMany: (l: L, [items]) => {
      for (const v of iterable(items, 'appendMany()')) l.push(v);
      return l.length;
    },
    extend: (l: L, [items]) => void l.push(...iterable(items, 'extend()')),
    insert: (l: L, [i, v]) => {
      if (!Number.isInteger(i)) throw new TypeError(`insert(): index must be an integer, not ${typeof i}`);
      l.splice(bound(l, i, 0), 0, v);
    },
    pop: (l: L, [i = -1]) => {
      if (l.length === 0) throw new IndexError('pop from empty list');
      return l.splice(index(l, i, 'pop()'), 1)[0];
    },
    remove: (l: L, [v]) => {
      const i = find(l, v);
      if (i < 0) throw new ValueError('list.remove(x): x not in list');
      l.splice(i, 1);
    },
    index: (l: L, [v, start, stop]) => {
      const i = find(l, v, bound(l, start, 0), bound(l, stop, l.length));
      if (i < 0) throw new ValueError(`${typeof v === 'string' ? `'${v}'` : String(v)} is not in list`);
      return i;
    },
    count: (l: L, [v]) => {
      const { isDeepStrictEqual } = lazy.util;
      return l.filter((x) => isDeepStrictEqual(x, v)).length;
    },
    sort: (l: L, [options]) => {
      l.sort(compare);
      if ((options as { reverse?: boolean } | undefined)?.reverse) l.reverse();
    },
    reverse: (l: L) => void l.reverse(),
    slice: (l: L, [start, stop]) => l.slice(bound(l, start, 0), bound(l, stop, l.length)),
    clear: (l: L) => void (l.length = 0),
    len: (l: L) => l.length,
    toArray: (l: L) => l,
    incr: (l: L, [i, by = 1]) => {
      const n = index(l, i, 'incr()');
      return (l[n] = add(l[n], by, 'incr()'));
    },
    compareAndSet: (l: L, [i, expected, next]) => {
      const n = index(l, i, 'compareAndSet()');
      if (!lazy.util.isDeepStrictEqual(l[n], expected)) return false;
      l[n] = next;
      return true;
    },
  },
};

type NS = Map<string, unknown>;

function attr(name: unknown): string {
  if (typeof name !== 'string') throw new TypeError(`attribute name must be a string, not ${typeof name}`);
  return name;
}

/** Python's `Namespace`, served: named attributes. */
export const namespaceType: TypeSpec = {
  create(args) {
    const ns: NS = new Map();
    for (const [k, v] of toEntries(args[0], 'Namespace()')) ns.set(attr(k), v);
    return ns;
  },
  methods: {
    get: (ns: NS, [name]) => ns.get(attr(name)),
    set: (ns: NS, [name, v]) => void ns.set(attr(name), v),
    delete: (ns: NS, [name]) => {
      if (!ns.delete(attr(name))) throw new KeyError(`'${String(name)}'`);
    },
    has: (ns: NS, [name]) => ns.has(attr(name)),
    toObject: (ns: NS) => Object.fromEntries(ns),
    incr: (ns: NS, [name, by = 1]) => {
      const k = attr(name);
      const next = add(ns.has(k) ? ns.get(k) : 0, by, 'incr()');
      ns.set(k, next);
      return next;
    },
    compareAndSet: (ns: NS, [name, expected, next]) => {
      const k = attr(name);
      if (!lazy.util.isDeepStrictEqual(ns.get(k), expected)) return false;
      ns.set(k, next);
      return true;
    },
  },
};

/** Python's array typecodes and what each holds. */
const typecodes: Record<string, { int: boolean; min?: number; max?: number }> = {
  b: { int: true, min: -128, max: 127 }, B: { int: true, min: 0, max: 255 },
  h: { int: true, min: -32768, max: 32767 }, H: { int: true, min: 0, max: 65535 },
  i: { int: true, min: -(2 ** 31), max: 2 ** 31 - 1 }, I: { int: true, min: 0, max: 2 ** 32 - 1 },
  l: { int: true }, L: { int: true }, q: { int: true }, Q: { int: true },
  f: { int: false }, d: { int: false },
};

/** Checks a value against a typecode; other values (Python's Value('u') etc.) pass when the typecode is unknown. */
function typed(typecode: string, v: unknown): unknown {
  const spec = typecodes[typecode];
  if (!spec) return v;
  if (typeof v === 'bigint' && spec.int) return v;
  if (typeof v !== 'number') throw new TypeError(`typecode '${typecode}' holds numbers, got ${typeof v}`);
  if (spec.int && !Number.isInteger(v)) throw new TypeError(`typecode '${typecode}' holds integers, got ${v}`);
  if (spec.min !== undefined && (v < spec.min || v > spec.max!)) throw new RangeError(`${v} is out of range for typecode '${typecode}'`);
  return v;
}

interface V {
  typecode: string;
  value: unknown;
}

/** Python's `Manager().Value(typecode, value)`, served. */
export const valueType: TypeSpec = {
  create([typecode, value]) {
    if (typeof typecode !== 'string') throw new TypeError('Value(typecode, value): typecode must be a string');
    return { typecode, value: typed(typecode, value) } satisfies V;
  },
  methods: {
    get: (v: V) => v.value,
    set: (v: V, [value]) => void (v.value = typed(v.typecode, value)),
    incr: (v: V, [by = 1]) => (v.value = typed(v.typecode, add(v.value, by, 'incr()'))),
    compareAndSet: (v: V, [expected, next]) => {
      if (!lazy.util.isDeepStrictEqual(v.value, expected)) return false;
      v.value = typed(v.typecode, next);
      return true;
    },
  },
};

interface A {
  typecode: string;
  items: unknown[];
}

/** Python's `Manager().Array(typecode, sequence)`, served: fixed length. */
export const arrayType: TypeSpec = {
  create([typecode, init]) {
    if (typeof typecode !== 'string') throw new TypeError('Array(typecode, sequence): typecode must be a string');
    const items = typeof init === 'number' ? new Array<unknown>(init).fill(0) : iterable(init, 'Array()').map((v) => typed(typecode, v));
    return { typecode, items } satisfies A;
  },
  methods: {
    get: (a: A, [i]) => a.items[index(a.items, i, 'get()')],
    set: (a: A, [i, v]) => void (a.items[index(a.items, i, 'set()')] = typed(a.typecode, v)),
    len: (a: A) => a.items.length,
    slice: (a: A, [start, stop]) => a.items.slice(bound(a.items, start, 0), bound(a.items, stop, a.items.length)),
    toArray: (a: A) => a.items,
    incr: (a: A, [i, by = 1]) => {
      const n = index(a.items, i, 'incr()');
      return (a.items[n] = typed(a.typecode, add(a.items[n], by, 'incr()')));
    },
  },
};
