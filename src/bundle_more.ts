/**
 * The part of weft a child does not need before its work, bundled into
 * `weft-more.cjs` (scripts/bundle.mjs), which is loaded on first use of any
 * of these; each is evaluated on its own first use. The modules they share
 * with `weft` (errors, the addon, multiprocessing) are not in that script:
 * they are taken from `weft.cjs` (bundle.ts), the one instance of each.
 * @module
 */
export const coro = () => import('./coro/index.js');
export const io = () => import('./io/index.js');
export const servers = () => import('./servers/index.js');
export const internals = () => import('./internals.js');
export const cli = () => import('./cli/commands.js');
// Last: where its names meet another module's (`connect`), esbuild renames this one's, and stack traces elsewhere keep theirs.
export const redis = () => import('./redis/index.js');
