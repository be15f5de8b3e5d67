/**
 * Generator coroutines (PEP 342: `gen.send(value)` resumes at `x = yield`).
 * No gevent twin: the seed's producer/consumer runs on plain generators, and
 * JavaScript generators already have `send` as `next(value)`. The one thing
 * missing is Python's priming call (`next(gen)`) that runs a consumer up to
 * its first `yield` so it can receive.
 * @module
 */

/**
 * Run a generator to its first `yield` (Python's `gen.__next__()` before the
 * first `send`) and return it, ready for `gen.next(value)`.
 * @throws {Error} when the generator ends before yielding (nothing could be sent to it)
 * @example
 * import { prime } from 'weft/coro';
 * function* consumer(name: string): Generator<string, void, number> {
 *   let baozi = yield '';
 *   for (;;) baozi = yield `[${name}] is eating baozi ${baozi}`;
 * }
 * const c1 = prime(consumer('c1'));
 * console.log(c1.next(1).value); // [c1] is eating baozi 1
 */
export function prime<Y, R, S>(gen: Generator<Y, R, S>): Generator<Y, R, S> {
  const first = (gen.next as (...args: []) => IteratorResult<Y, R>)();
  if (first.done) throw new Error('prime(): the generator returned before its first yield; it cannot receive values');
  return gen;
}
