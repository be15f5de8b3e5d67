// Bundles weft's TypeScript sources into dist/src after `tsc` has type-checked
// the project and written the declarations, the tests, the examples and the
// benchmarks. Why: every child process and worker thread loads weft before it
// can run anything, and Node 20 spends most of that time per module file
// (resolve, read, compile, link): some forty files took ~37 ms to import, the
// same code in a few chunks ~20 ms. esbuild's code splitting puts each module
// in exactly one chunk, so every entry point shares one instance of it.
//
// Only entry points remain as files: the package's exports, the CLI, the
// child's entry (spawn_main) and src/internals.ts for weft's own tests. Chunks
// sit in dist/src/ itself; paths to weft's other files come from
// src/layout.ts, never from a module's own location.
//
//   node scripts/bundle.mjs
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = join(root, 'dist/src');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const entryPoints = {
  index: 'src/index.ts',
  'coro/index': 'src/coro/index.ts',
  'io/index': 'src/io/index.ts',
  'cli/main': 'src/cli/main.ts',
  'multiprocessing/spawn_main': 'src/multiprocessing/spawn_main.ts',
  internals: 'src/internals.ts',
};

// msgpackr is bundled: every child loads it at boot. Other packages stay
// external (hdr-histogram-js is only for `weft load`).
const external = Object.keys(pkg.dependencies ?? {}).filter((name) => name !== 'msgpackr');

const result = await build({
  absWorkingDir: root,
  entryPoints,
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: `node${pkg.engines.node.replace(/[^\d.]/g, '').split('.')[0]}`,
  chunkNames: '[name]-[hash]',
  external,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
});

// Remove the per-module JavaScript tsc wrote under dist/src (its declarations
// stay): a stale copy would be a second instance of weft waiting to be imported.
const written = new Set(Object.keys(result.metafile.outputs).map((p) => join(root, p)));
(function sweep(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sweep(path);
    else if (/\.js(\.map)?$/.test(entry.name) && !written.has(path)) rmSync(path);
  }
})(outdir);
