/**
 * How a Pool job's input and outcome cross Redis inside BullMQ's JSON. No
 * Python twin (CPython's pool pickles everything; this is the Redis pool's own
 * wire). Values that JSON carries exactly (finite numbers other than -0,
 * strings, booleans, null, arrays without holes or extra keys, objects of
 * Object.prototype) ride as JSON themselves; anything else goes through weft's
 * codec as base64. Why two ways: with small tasks a job is mostly its
 * encoding, and the codec plus base64 inside BullMQ's JSON cost each side more
 * than JSON alone (docs/distributed.md, "Performance").
 *
 * Input: `j` the plain value, or `a` the codec's bytes in base64.
 * Outcome (the job's return value): `[value]`, a one-element array, for a
 * plain value; otherwise a base64 string of the codec's `[kind, value]`.
 * @module
 */
import { dumps, loads } from '../multiprocessing/reduction.js';

/** A job's outcome kinds. */
export const VALUE = 0;
export const FAILED = 1;
export const LOST = 2;

/** Nesting deeper than this goes through the codec (which also takes cycles). */
const MAX_DEPTH = 32;

/** Whether `JSON.parse(JSON.stringify(v))` gives back a value equal to `v` in every way weft's codec keeps. */
export function isPlainJson(v: unknown, depth = 0): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0);
    case 'object': {
      if (v === null) return true;
      if (depth >= MAX_DEPTH) return false;
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto === Array.prototype) {
        const a = v as unknown[];
        // Holes and keys besides the indices would be lost.
        if (Object.keys(a).length !== a.length) return false;
        for (let i = 0; i < a.length; i++) if (!isPlainJson(a[i], depth + 1)) return false;
        return true;
      }
      if (proto !== Object.prototype || Object.getOwnPropertySymbols(v).length > 0) return false;
      for (const key in v) {
        if (!Object.hasOwn(v, key)) return false; // an inherited enumerable key: not a plain object
        const d = Object.getOwnPropertyDescriptor(v, key)!;
        if (d.get || d.set || !isPlainJson(d.value, depth + 1)) return false;
      }
      // Non-enumerable own keys would be lost.
      return Object.getOwnPropertyNames(v).length === Object.keys(v).length;
    }
    default:
      return false;
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** A job's input fields: `{ j }` for a plain value, `{ a }` otherwise. */
export function encodeInput(input: unknown[], path: string): { j: unknown[] } | { a: string } {
  return isPlainJson(input) ? { j: input } : { a: base64(dumps(input, path)) };
}

/** The input a job carries. */
export function decodeInput(data: { j?: unknown[]; a?: string }): unknown[] {
  return data.j ?? (loads(Buffer.from(data.a!, 'base64')) as unknown[]);
}

/** A job's return value for `[kind, value]`; an unsendable value sends its error instead. */
export function encodeOutcome(kind: number, value: unknown): string | [unknown] {
  if (kind === VALUE && isPlainJson(value)) return [value];
  let bytes: Uint8Array;
  try {
    bytes = dumps([kind, value], 'result');
  } catch (err) {
    bytes = dumps([FAILED, err]);
  }
  return base64(bytes);
}

/**
 * `[kind, value]` from a job's return value, as BullMQ hands it over: the
 * stored JSON text (a completion event) or that text parsed (a job read back).
 */
export function decodeOutcome(returnvalue: unknown): [number, unknown] {
  let v = returnvalue;
  if (typeof v === 'string' && (v.startsWith('"') || v.startsWith('['))) v = JSON.parse(v) as unknown;
  if (Array.isArray(v)) return [VALUE, v[0]];
  return loads(Buffer.from(String(v), 'base64')) as [number, unknown];
}
