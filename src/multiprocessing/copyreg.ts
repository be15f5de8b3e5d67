/**
 * Classes whose instances cross between processes and threads — the twin of
 * CPython's `copyreg`: `registerType(Point, { reduce, rebuild })` is
 * `copyreg.pickle(Point, reduce_point)`. The codec (reduction.ts) asks this
 * registry how to reduce an instance of a registered class to plain state and
 * how to rebuild one from that state; nothing but a registered `rebuild` (code
 * this realm imported itself) ever runs on received data.
 *
 * The registry is per realm: a process or thread child has its own, filled by
 * the modules it imports. A registration at the top level of the module that
 * declares a task therefore runs in every child that runs the task.
 * @module
 */
import { ValueError } from '../errors.js';

/**
 * How instances of a class cross: {@link registerType}'s options.
 * @example
 * import { registerType, type TypeReduction } from 'weft';
 * class Celsius { constructor(readonly degrees: number) {} }
 * const byDegrees: TypeReduction<Celsius, number> = { reduce: (c) => c.degrees, rebuild: (d) => new Celsius(d) };
 * registerType(Celsius, byDegrees);
 * console.log(byDegrees.rebuild!(byDegrees.reduce!(new Celsius(21))).degrees); // 21
 */
export interface TypeReduction<T extends object, S = unknown> {
  /**
   * The state an instance travels as: anything that can cross (plain data, Map,
   * Buffer, other registered instances...). Default: the instance's own
   * enumerable properties.
   */
  reduce?(obj: T): S;
  /**
   * Makes an instance from `state` on the receiving side. Default: an object
   * with the class's prototype (no constructor runs, as with pickle) and the
   * state's properties; for an Error subclass, a real error of that class.
   */
  rebuild?(state: S): T;
  /** The name the class travels under, the same on both sides. Default: the class's `name`. */
  name?: string;
}

/** A registered class as the codec uses it. */
export interface Registered {
  readonly cls: Function;
  readonly name: string;
  readonly isError: boolean;
  reduce(obj: object): unknown;
  /** The class's own rebuild; null for the default, {@link Registered.create} then the state's properties. */
  readonly rebuild: ((state: unknown) => object) | null;
  /** An instance made without running the constructor (pickle's `copyreg.__newobj__`). */
  create(): object;
}

const byPrototype = new Map<object, Registered>();
const byName = new Map<string, Registered>();

/** Prototypes whose instances the codec carries already; registering them would change what they arrive as. */
const builtIn = new Set<unknown>([
  Object.prototype, Array.prototype, Map.prototype, Set.prototype, Date.prototype, RegExp.prototype,
  ArrayBuffer.prototype, SharedArrayBuffer.prototype, DataView.prototype, Buffer.prototype,
  Boolean.prototype, Number.prototype, String.prototype, Promise.prototype, Function.prototype,
  Error.prototype, TypeError.prototype, RangeError.prototype, SyntaxError.prototype, ReferenceError.prototype,
  EvalError.prototype, URIError.prototype,
]);
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);

function ownProperties(obj: object): Record<string, unknown> {
  return { ...obj } as Record<string, unknown>;
}

/**
 * Lets instances of `cls` cross Queues, Pipes, Pools and the Manager as
 * instances of `cls`: Python's `copyreg.pickle`. Call it at the top level of a
 * module that both sides import — the module that declares the task a child
 * runs is imported by that child, so registering there covers parent and
 * children. An instance of a class the receiving side did not register is
 * refused there, with an error naming the class; an unregistered class is
 * refused by the sender, as before.
 *
 * Without `reduce`, an instance travels as its own enumerable properties and
 * is rebuilt without running its constructor; a class with `#private` fields
 * or fds needs `reduce` and `rebuild`. An Error subclass also carries its
 * `message`, `stack` and `cause`, so `err instanceof MyError` holds where a
 * worker's error is caught. Only exact instances count: a subclass needs a
 * registration of its own.
 * @throws {TypeError} when `cls` is not a class, or is one the codec carries already (Map, Date, Error...).
 * @throws {ValueError} when another class is registered under the same name (pass `{ name }` to tell them apart).
 * @example
 * import { Queue, registerType } from 'weft';
 * class Point { constructor(public x: number, public y: number) {} norm() { return Math.hypot(this.x, this.y); } }
 * registerType(Point);
 * const q = new Queue<Point>();
 * await q.put(new Point(3, 4));
 * const p = await q.get();
 * console.log(p instanceof Point, p.norm()); // true 5
 */
export function registerType<T extends object, S = unknown>(
  cls: abstract new (...args: never[]) => T,
  options: TypeReduction<T, S> = {},
): void {
  const proto: unknown = typeof cls === 'function' ? cls.prototype : undefined;
  if (typeof proto !== 'object' || proto === null) {
    throw new TypeError(`registerType needs a class, got ${typeof cls === 'function' ? `the function ${cls.name || '(anonymous)'}` : String(cls)}`);
  }
  if (builtIn.has(proto) || proto === typedArrayProto || Object.getPrototypeOf(proto) === typedArrayProto) {
    throw new TypeError(`registerType(${cls.name}): weft carries ${cls.name} values already; register your own classes only`);
  }
  const name = options.name ?? cls.name;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('registerType: this class has no name; pass { name } to say what it travels as');
  }
  const clash = byName.get(name);
  if (clash && clash.cls !== cls) {
    throw new ValueError(
      `registerType(${cls.name}): the name '${name}' is taken by another class; ` +
        `pass { name } with a name of its own to one of them (the same on both sides)`,
    );
  }
  const previous = byPrototype.get(proto);
  if (previous) byName.delete(previous.name);
  const isError = proto instanceof Error;
  const entry: Registered = {
    cls,
    name,
    isError,
    reduce: (options.reduce as ((obj: object) => unknown) | undefined) ?? ownProperties,
    rebuild: (options.rebuild as ((state: unknown) => object) | undefined) ?? null,
    // An error is made by Error itself, so that it is a real error (util.types.isNativeError,
    // a stack slot) whose prototype is the class's; the codec sets the sender's stack on it.
    create: isError ? () => Reflect.construct(Error, [], cls) as object : () => Object.create(proto) as object,
  };
  byPrototype.set(proto, entry);
  byName.set(name, entry);
}

/** The registration for objects with prototype `proto`, if any. */
export function registeredFor(proto: object | null): Registered | undefined {
  return proto === null ? undefined : byPrototype.get(proto);
}

/** True when this realm registered a class under the wire name `name`. */
export function isRegisteredName(name: unknown): boolean {
  return typeof name === 'string' && byName.has(name);
}

/**
 * The registration for the wire name `name`.
 * @throws {TypeError} naming the class and the fix when this realm did not register it.
 */
export function registeredNamed(name: string): Registered {
  const entry = byName.get(name);
  if (!entry) {
    throw new TypeError(
      `weft: received an instance of class '${name}', which this process (or thread) did not register: ` +
        `call registerType(${name}) at the top level of a module it imports (the module that declares its task), as the sender did`,
    );
  }
  return entry;
}
