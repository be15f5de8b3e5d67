#!/usr/bin/env node
/**
 * The `weft` executable (package `bin`): runs {@link main} of commands.ts.
 * Built, this file loads weft's bundle (scripts/bundle.mjs) and calls the same
 * function there.
 * @module
 */
import { main } from './commands.js';
import { isMainModule } from '../multiprocessing/task.js';

// npm runs the bin through a symlink (node_modules/.bin/weft): isMainModule compares real paths.
if (isMainModule(import.meta)) {
  process.exitCode = await main(process.argv.slice(2));
}
