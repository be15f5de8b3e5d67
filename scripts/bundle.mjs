// Bundles weft's TypeScript sources into one script after `tsc` has
// type-checked the project and written the declarations, the tests, the
// examples and the benchmarks.
//
// Why one script, loaded through vm.Script: every child process and worker
// thread loads weft before it can run anything. Node 20 spends much of that
// time per module file (resolve, read, compile, link: some forty files took
// ~37 ms, the same code in a few chunks ~20 ms), and it keeps no code cache
// for ES modules, so each thread compiled all of weft again (~7 ms). Here all
// of weft is one CommonJS script, dist/src/weft.cjs, compiled by dist/src/load.cjs
// with V8's code cache, dist/src/weft.cjs.cache, which this script makes once
// the bundle is written. A worker thread with weft now boots in ~32 ms, not ~39.
//
// The package's entry points (weft, weft/coro, weft/io), the CLI, the child's
// entry (spawn_main) and src/internals.ts for weft's own tests stay as small ES
// modules that take their exports from that one instance (and index.cjs is
// `require('weft')`'s face of it). Inside the bundle
// `import.meta` is the main entry's (src/layout.ts finds weft's files from the
// package root), and `import()` of a task's module goes through the loader.
//
//   node scripts/bundle.mjs
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = join(root, 'dist/src');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// msgpackr is bundled: every child uses it at once. Other packages stay
// external (hdr-histogram-js is only for `weft load`).
const external = Object.keys(pkg.dependencies ?? {}).filter((name) => name !== 'msgpackr');

const { outputFiles } = await build({
  absWorkingDir: root,
  entryPoints: ['src/bundle.ts'],
  outfile: join(outdir, 'weft.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: `node${pkg.engines.node.replace(/[^\d.]/g, '').split('.')[0]}`,
  external,
  define: { 'import.meta': '__weftMeta' },
  sourcemap: true,
  write: false,
  logLevel: 'warning',
});

// esbuild escapes non-ASCII characters in code but leaves them in the comments
// it keeps; one of them would make V8 hold the whole source as a two-byte
// string in every thread (1.1 MB instead of 0.55). Escape those too.
for (const { path, text } of outputFiles) {
  writeFileSync(path, path.endsWith('.cjs') ? text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text);
}

// The loader is CommonJS so that `require('weft')` (Node 20 cannot require an
// ES module) and `import 'weft'` share it through Node's module cache: one
// instance of weft per thread, whichever way it was reached first.
const loader = `// weft's loader, written by scripts/bundle.mjs (see there why). All of weft
// is one script, weft.cjs, compiled here with the V8 code cache made for it at
// build time; a cache that does not fit this Node (another version, other V8
// flags) is rejected by V8 and the script is compiled from its source.
'use strict';
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const vm = require('node:vm');

const file = join(__dirname, 'weft.cjs');
let cachedData;
try {
  cachedData = readFileSync(\`\${file}.cache\`);
} catch {
  cachedData = undefined; // no cache: compile from source
}
const script = new vm.Script(
  \`(function (exports, require, module, __filename, __dirname, __weftMeta, __weftImport) {\${readFileSync(file, 'utf8')}\\n})\`,
  { filename: file, cachedData },
);
const bundle = { exports: {} };
script.runInThisContext()(
  bundle.exports,
  createRequire(file),
  bundle,
  file,
  __dirname,
  // import.meta inside weft: the main entry's, which loads this very instance
  Object.freeze({ url: pathToFileURL(join(__dirname, 'index.js')).href }),
  // a task's module, from a module loader (a script compiled by vm.Script has none)
  (url) => import(url),
);

/** weft's modules: one instance per thread. */
exports.weft = bundle.exports;

/** True when V8 took the code cache (weft's tests check it: a rejected cache only costs time). */
exports.codeCacheUsed = cachedData !== undefined && !script.cachedDataRejected;

/** The compiled code, for the build to store as weft.cjs.cache. */
exports.codeCache = () => script.createCachedData();
`;
writeFileSync(join(outdir, 'load.cjs'), loader);
writeFileSync(
  join(outdir, 'load.js'),
  "// Written by scripts/bundle.mjs: the ES face of load.cjs, weft's loader. require(), not\n" +
    "// import: an import of CommonJS would scan load.cjs for its export names first.\nimport { createRequire } from 'node:module';\n\n" +
    "export const { weft, codeCacheUsed, codeCache } = createRequire(import.meta.url)('./load.cjs');\n",
);

// Loading the bundle once gives each entry's export names and the compiled code
// to cache; it needs the native addon (node-gyp builds it before this runs).
let loaded;
try {
  loaded = await import(pathToFileURL(join(outdir, 'load.js')).href);
} catch (err) {
  console.error(`scripts/bundle.mjs: weft's bundle did not load: ${err.message}`);
  process.exit(1);
}
const { weft, codeCache } = loaded;

/** `export const { a, b } = source;` for every runtime export of a namespace. */
function reexport(namespace, source) {
  const names = Object.keys(namespace).filter((n) => n !== 'default' && n !== '__esModule').sort();
  return `export const {\n${names.map((n) => `  ${n},`).join('\n')}\n} = ${source};\n`;
}

const header = "// Written by scripts/bundle.mjs: this entry's exports, from weft's one instance (load.js).\n";
const entries = {
  'index.js': `${header}import { weft } from './load.js';\n\n${reexport(weft.index, 'weft.index')}`,
  'coro/index.js': `${header}import { weft } from '../load.js';\n\n${reexport(await weft.coro(), 'await weft.coro()')}`,
  'io/index.js': `${header}import { weft } from '../load.js';\n\n${reexport(await weft.io(), 'await weft.io()')}`,
  // require('weft') (package.json's "require" condition): the same instance, for CommonJS.
  'index.cjs':
    "// Written by scripts/bundle.mjs: weft's exports for require('weft'), from its one instance (load.cjs).\n" +
    "'use strict';\nmodule.exports = require('./load.cjs').weft.index;\n",
  'internals.js': `${header}import { weft } from './load.js';\n\n${reexport(await weft.internals(), 'await weft.internals()')}`,
  'multiprocessing/spawn_main.js': `${header}import { weft } from '../load.js';\n\nawait weft.bootChild();\n`,
  'cli/main.js':
    `#!/usr/bin/env node\n${header}import { weft } from '../load.js';\n\n` +
    '// npm runs the bin through a symlink (node_modules/.bin/weft): isMainModule compares real paths.\n' +
    'if (weft.index.isMainModule(import.meta)) {\n' +
    '  process.exitCode = await (await weft.cli()).main(process.argv.slice(2));\n' +
    '}\n',
};
for (const [name, text] of Object.entries(entries)) {
  mkdirSync(dirname(join(outdir, name)), { recursive: true });
  writeFileSync(join(outdir, name), text);
}
writeFileSync(join(outdir, 'weft.cjs.cache'), codeCache());

// Remove the per-module JavaScript tsc wrote under dist/src (its declarations
// stay): a stale copy would be a second instance of weft waiting to be imported.
const written = new Set(['weft.cjs', 'weft.cjs.map', 'load.cjs', 'load.js', ...Object.keys(entries)].map((p) => join(outdir, p)));
(function sweep(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sweep(path);
    else if (/\.js(\.map)?$/.test(entry.name) && !written.has(path)) rmSync(path);
  }
})(outdir);

// Loading weft above started what a process using it starts (timers, handles
// kept by weft's modules); the build is done.
process.exit(0);
