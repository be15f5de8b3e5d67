/**
 * Entry file of every weft child, process or worker thread: it only boots the
 * child (child.ts). Built, its place is taken by `spawn_main.cjs`, which
 * requires weft's bundle (scripts/bundle.mjs) and calls the same function there:
 * CommonJS, so that a child's boot does not go through Node's ES loader for it.
 * @module
 */
import { bootChild } from './child.js';

await bootChild();
