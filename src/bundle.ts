/**
 * Everything weft is, as the one module the build bundles (scripts/bundle.mjs):
 * every public and internal entry point reaches its modules through here, so
 * each module has exactly one instance. `weft` itself is evaluated at once;
 * `weft/coro`, `weft/io`, `weft/redis`, the servers, the CLI and the test internals on first use.
 * @module
 */
export * as index from './index.js';
export { bootChild } from './multiprocessing/child.js';
export const coro = () => import('./coro/index.js');
export const io = () => import('./io/index.js');
export const servers = () => import('./servers/index.js');
export const internals = () => import('./internals.js');
export const cli = () => import('./cli/commands.js');
// Last: where its names meet another module's (`connect`), esbuild renames this one's, and stack traces elsewhere keep theirs.
export const redis = () => import('./redis/index.js');
