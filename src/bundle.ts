/**
 * What every child process and worker thread loads, as the one module the
 * build bundles into `weft.cjs` (scripts/bundle.mjs): `weft` itself and a
 * child's boot. `weft/coro`, `weft/io`, `weft/redis`, the servers, the CLI and
 * the test internals are bundled apart (bundle_more.ts), so that a child neither
 * reads nor compiles them; they take the modules they share with this script
 * from it, so each module has exactly one instance in a thread.
 * @module
 */
export * as index from './index.js';
export { bootChild } from './multiprocessing/child.js';
