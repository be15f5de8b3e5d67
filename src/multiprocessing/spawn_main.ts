/**
 * Entry file of every weft child, process or worker thread: it only boots the
 * child (child.ts). Built, this file loads weft's bundle (scripts/bundle.mjs)
 * and calls the same function there.
 * @module
 */
import { bootChild } from './child.js';

await bootChild();
