/**
 * weft/coro: greenlets and a gevent-style hub on Node's event loop.
 * @module
 */
export {};
