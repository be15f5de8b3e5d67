// Bundles weft's TypeScript sources into two scripts after `tsc` has
// type-checked the project and written the declarations, the tests, the
// examples and the benchmarks.
//
// Why bundles: every child process and worker thread loads weft before it
// can run anything. Node 20 spends much of that time per module file (resolve,
// read, compile, link: some forty files took ~37 ms, the same code in a few
// chunks ~20 ms), and it keeps no code cache for ES modules, so each thread
// compiled all of weft again (~7 ms). Here weft is two CommonJS scripts,
// which dist/src/load.cjs (written below) compiles with a cache of their
// compiled code: Node's compile cache on Node 22.1+, V8's code cache through
// vm.Script on Node 20. A worker thread with weft boots in ~32 ms, not ~39.
//
// Why two: dist/src/weft.cjs (src/bundle.ts) is weft itself and a child's
// boot, what every thread loads; dist/src/weft-more.cjs (src/bundle_more.ts)
// is weft/coro, weft/io, weft/redis, the servers and the CLI, half of the
// code, which a child never needs before its work: loaded on first use, it no
// longer costs each child the reading and the cache of it (together with the
// lazy built-ins of lazy.ts and the addon's file handed down, weft's share of
// a process child's CPU fell by about a third: docs/PERFORMANCE.md, "Bursts of
// starts"). One instance of each module a thread: every module weft.cjs holds
// is replaced in weft-more.cjs by a stand-in that takes it from weft.cjs
// (the `shared` namespaces weft.cjs exports, by path), and the build fails
// if a module lands in both.
//
// The package's entry points (weft, weft/coro, weft/io), the CLI and
// src/internals.ts for weft's own tests stay as small ES modules that take
// their exports from that one instance, required straight from load.cjs (an ES
// module in between would be one more file for Node's ES loader to resolve,
// read and link in every child). index.cjs is `require('weft')`'s face of it.
// The child's entry, spawn_main.cjs, is CommonJS: a child's boot then goes
// through Node's ES loader only for weft's entry and the task's module (in
// bursts of 50 process starts, weft's CPU from Node's first line of JavaScript
// to the child's taking its work fell from 63.6 to 60.9 ms, medians of 150
// children, against an ES entry that imported an ES face of the loader).
//
// A V8 startup snapshot of a booted child (node --build-snapshot) was measured
// and is not used: deserialising a user-land snapshot of an empty script costs
// more CPU than `node -e 0` does (+27 ms on Node 20.20, +43 on 22, +54 on 24,
// 30 interleaved starts each, 2 cores), more than half of weft's share of a
// child's boot, before weft's own state and the addon (which no snapshot can
// hold) are added. Inside the bundle
// `import.meta` is the main entry's (src/layout.ts finds weft's files from the
// package root). The source map points at src/*.ts, so that with
// --enable-source-maps a stack trace names the TypeScript lines.
//
//   node scripts/bundle.mjs
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = join(root, 'dist/src');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// Runtime dependencies stay external: hdr-histogram-js (with its WebAssembly
// and pako) is only for `weft load`, and every thread would parse it. What src/
// imports from devDependencies (msgpackr: every child uses it at once) is bundled.
const external = Object.keys(pkg.dependencies ?? {});

/** What both scripts are built with. */
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: `node${pkg.engines.node.replace(/[^\d.]/g, '').split('.')[0]}`,
  external,
  // import.meta inside weft is the main entry's, which loads this very instance.
  define: { 'import.meta': '__weftMeta' },
  banner: {
    js: "'use strict';\nconst __weftMeta = Object.freeze({ url: require('node:url').pathToFileURL(require('node:path').join(__dirname, 'index.js')).href });",
  },
  // The map points at src/*.ts, which the package ships: no copy of the sources inside it.
  sourcemap: true,
  sourcesContent: false,
  write: false,
  metafile: true,
  logLevel: 'warning',
};

/**
 * weft.cjs: src/bundle.ts, and `shared`, the namespaces of the modules
 * weft-more.cjs takes from it (keys: paths from the package root).
 */
const buildCore = (shared) =>
  build({
    ...common,
    stdin: {
      contents:
        "export * from './bundle.ts';\n" +
        shared.map((key, i) => `import * as m${i} from ${JSON.stringify(join(root, key))};\n`).join('') +
        `export const shared = {\n${shared.map((key, i) => `  ${JSON.stringify(key)}: m${i},\n`).join('')}};\n`,
      resolveDir: join(root, 'src'),
      sourcefile: 'src/bundle.ts (with the modules weft-more.cjs shares)',
      loader: 'ts',
    },
    outfile: join(outdir, 'weft.cjs'),
  });

// Pass 1: which modules weft.cjs holds.
const inCore = new Set(Object.keys((await buildCore([])).metafile.inputs).map((key) => resolve(root, key)));

// weft-more.cjs: every module weft.cjs holds is replaced by a stand-in that
// takes it from there (load.cjs's `shared`), so each has one instance a thread.
const used = new Set();
const fromCore = {
  name: 'weft-from-core',
  setup(b) {
    b.onResolve({ filter: /^\.\/load\.cjs$/, namespace: 'weft-core' }, () => ({ path: './load.cjs', external: true }));
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.weftCore || args.kind === 'entry-point' || args.path.startsWith('node:')) return undefined;
      const found = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { weftCore: true } });
      if (found.errors.length > 0 || found.external || !inCore.has(found.path)) return undefined;
      const key = relative(root, found.path);
      used.add(key);
      return { path: key, namespace: 'weft-core' };
    });
    b.onLoad({ filter: /.*/, namespace: 'weft-core' }, (args) => ({
      contents: `module.exports = require('./load.cjs').shared[${JSON.stringify(args.path)}];\n`,
      loader: 'js',
    }));
  },
};
const more = await build({ ...common, entryPoints: ['src/bundle_more.ts'], outfile: join(outdir, 'weft-more.cjs'), plugins: [fromCore] });

// Pass 2: weft.cjs with the namespaces weft-more.cjs takes.
const core = await buildCore([...used].sort());
const inMore = new Set(Object.keys(more.metafile.inputs));
const twice = Object.keys(core.metafile.inputs).filter((key) => !key.startsWith("<") && inMore.has(key));
if (twice.length > 0) {
  console.error(`scripts/bundle.mjs: in both weft.cjs and weft-more.cjs (two instances a thread): ${twice.join(', ')}`);
  process.exit(1);
}

// esbuild escapes non-ASCII characters in code but leaves them in the comments
// it keeps; one of them would make V8 hold the whole source as a two-byte
// string in every thread (1.1 MB instead of 0.55). Escape those too.
for (const { path, text } of [...core.outputFiles, ...more.outputFiles]) {
  writeFileSync(path, path.endsWith('.cjs') ? text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text);
}

// The loader is CommonJS so that `require('weft')` (Node 20 cannot require an
// ES module) and `import 'weft'` share it through Node's module cache: one
// instance of weft per thread, whichever way it was reached first.
const loader = `// weft's loader, written by scripts/bundle.mjs (see there why). weft is two
// CommonJS scripts: weft.cjs (weft itself and a child's boot: what every
// process and worker thread loads) and weft-more.cjs (weft/coro, weft/io,
// weft/redis, the servers, the CLI; loaded on first use, taking the modules it
// shares with weft.cjs from \`shared\` below). Each is compiled once per thread
// with a cache of its compiled code:
// - Node 22.1+: required through Node's module compile cache
//   (module.enableCompileCache(), in NODE_COMPILE_CACHE or the OS's temporary
//   directory, keyed by path and content).
// - Node 20: compiled through vm.Script with V8's code cache in <script>.cache
//   beside it. V8 keeps the file name the cache was made under (stack traces
//   would name the directory weft was built in), so the cache starts with the
//   Node version and the path, size and time (whole seconds) of the script it
//   was made for; any other cache is ignored, and the first load in a new place
//   writes one for it (quietly skipped where the package's directory is
//   read-only). That first cache holds the code compiled while weft.cjs was
//   evaluated; the first child to finish its work with it writes weft.cjs's
//   cache again, \`warm\`: with the code of a child's work too (taking the work,
//   rebuilding the args, a put), which each later child would otherwise compile
//   (~3 ms of a process child's CPU on Node 20, for ~60 kB more cache to read).
// - With --enable-source-maps, Node 20 requires it too: Node maps stack traces
//   of the files its loader compiled, not of a vm.Script.
'use strict';
const { readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const module_ = require('node:module');
const { join } = require('node:path');
const vm = require('node:vm');

/** \`require(file)\`, with Node's compile cache where there is one. */
function requireScript(file) {
  const status = module_.enableCompileCache?.().status; // DISABLED under NODE_DISABLE_COMPILE_CACHE=1
  const { ENABLED, ALREADY_ENABLED } = module_.constants?.compileCacheStatus ?? {};
  const cached = status !== undefined && (status === ENABLED || status === ALREADY_ENABLED);
  return { exports: require(file), from: cached ? 'compile cache' : process.sourceMapsEnabled ? 'source maps' : 'source', warmUp: null };
}

function runWithCodeCache(file) {
  const cacheFile = \`\${file}.cache\`;
  const { size, mtimeMs } = statSync(file);
  const made = \`\${process.version} \${process.arch} \${size} \${Math.trunc(mtimeMs / 1000)} \${file}\\n\`;
  const keys = { cold: Buffer.from(\`weft code cache \${made}\`), warm: Buffer.from(\`weft code cache, warm, \${made}\`) };
  const fits = (saved, key) => saved.subarray(0, key.length).equals(key);
  let cachedData;
  let warm = false;
  try {
    const saved = readFileSync(cacheFile);
    warm = fits(saved, keys.warm);
    if (warm || fits(saved, keys.cold)) cachedData = saved.subarray((warm ? keys.warm : keys.cold).length);
  } catch {
    cachedData = undefined; // no cache yet: compile from source
  }
  const script = new vm.Script(
    \`(function (exports, require, module, __filename, __dirname, __weftImport) {\${readFileSync(file, 'utf8')}\\n})\`,
    { filename: file, cachedData },
  );
  const mod = { exports: {} };
  // import() inside a vm.Script has no module loader to turn to (and on Node 20
  // a script taken from a code cache loses vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER):
  // weft's import() of a task's module goes through this one, made in a module Node loaded.
  script.runInThisContext()(mod.exports, module_.createRequire(file), mod, file, __dirname, (url) => import(url));
  const save = (key) => {
    // Written whole under another name, then renamed: a child booting at the same time reads the old cache or the new.
    const partial = \`\${cacheFile}.\${process.pid}.\${Math.random().toString(36).slice(2)}\`;
    try {
      writeFileSync(partial, Buffer.concat([key, script.createCachedData()]));
      renameSync(partial, cacheFile);
    } catch {
      // a read-only install: every load compiles from source (~6 ms more a thread)
      rmSync(partial, { force: true });
    }
  };
  if (cachedData === undefined) save(keys.cold);
  // A cache for this Node and this file that V8 rejects was made under other V8
  // flags (a child with --max-old-space-size): it stays, for the usual flags.
  const rejected = cachedData !== undefined && script.cachedDataRejected;
  const warmUp = () => {
    try {
      if (fits(readFileSync(cacheFile), keys.warm)) return; // another child was first
    } catch {
      return; // none to warm: a read-only install, or weft was rebuilt meanwhile
    }
    save(keys.warm);
  };
  return { exports: mod.exports, from: cachedData !== undefined && !rejected ? 'code cache' : 'source', warmUp: warm || rejected ? null : warmUp };
}

const load = typeof module_.enableCompileCache === 'function' || process.sourceMapsEnabled ? requireScript : runWithCodeCache;
const core = load(join(__dirname, 'weft.cjs'));

/**
 * How weft.cjs was compiled in this thread: 'compile cache' (Node's, on 22.1+),
 * 'code cache' (Node 20: V8 took weft.cjs.cache), 'source maps' (Node 20 with
 * --enable-source-maps: no cache) or 'source' (no cache fitted; on Node 20 one
 * has been written for the next load where the directory allows).
 */
exports.compiledFrom = core.from;

/** The modules of weft.cjs that weft-more.cjs uses, by path from the package root: its only way to them. */
exports.shared = core.exports.shared;

let more;
/** An entry of weft-more.cjs, which is loaded by the first call of any. */
const fromMore = (name) => () => (more ??= load(join(__dirname, 'weft-more.cjs')).exports)[name]();

/** weft's modules: one instance per thread. */
exports.weft = {
  index: core.exports.index,
  /** Boots a weft child; one that finishes its work with a cache not yet warm writes the warm one as it exits. */
  bootChild: () => core.exports.bootChild(core.warmUp ?? undefined),
  coro: fromMore('coro'),
  io: fromMore('io'),
  servers: fromMore('servers'),
  internals: fromMore('internals'),
  cli: fromMore('cli'),
  redis: fromMore('redis'),
};
`;
writeFileSync(join(outdir, 'load.cjs'), loader);

// Loading the bundle once gives each entry's export names and, on Node 20,
// writes the code cache for it (a stale one could fit the new script: V8 checks
// only its length); it needs the native addon (node-gyp builds it before this runs).
for (const script of ['weft.cjs', 'weft-more.cjs']) rmSync(join(outdir, `${script}.cache`), { force: true });
let weft;
try {
  ({ weft } = createRequire(import.meta.url)(join(outdir, 'load.cjs')));
} catch (err) {
  console.error(`scripts/bundle.mjs: weft's bundle did not load: ${err.message}`);
  process.exit(1);
}

/** `export const { a, b } = source;` for every runtime export of a namespace. */
function reexport(namespace, source) {
  const names = Object.keys(namespace).filter((n) => n !== 'default' && n !== '__esModule').sort();
  return `export const {\n${names.map((n) => `  ${n},`).join('\n')}\n} = ${source};\n`;
}

const header = "// Written by scripts/bundle.mjs: this entry's exports, from weft's one instance (load.cjs).\n";
/** The ES module lines that take `weft` from load.cjs, `up` directories above this entry. */
const fromLoader = (up) =>
  `import { createRequire } from 'node:module';\n\nconst { weft } = createRequire(import.meta.url)('${up ? '../'.repeat(up) : './'}load.cjs');\n`;
const entries = {
  'index.js': `${header}${fromLoader(0)}\n${reexport(weft.index, 'weft.index')}`,
  'coro/index.js': `${header}${fromLoader(1)}\n${reexport(await weft.coro(), 'await weft.coro()')}`,
  'io/index.js': `${header}${fromLoader(1)}\n${reexport(await weft.io(), 'await weft.io()')}`,
  'redis/index.js': `${header}${fromLoader(1)}\n${reexport(await weft.redis(), 'await weft.redis()')}`,
  // weft/servers, and the module a server's child processes and threads import to find their tasks.
  'servers/index.js': `${header}${fromLoader(1)}\n${reexport(await weft.servers(), 'await weft.servers()')}`,
  // require('weft') (package.json's "require" condition): the same instance, for CommonJS.
  'index.cjs':
    "// Written by scripts/bundle.mjs: weft's exports for require('weft'), from its one instance (load.cjs).\n" +
    "'use strict';\nmodule.exports = require('./load.cjs').weft.index;\n",
  'internals.js': `${header}${fromLoader(0)}\n${reexport(await weft.internals(), 'await weft.internals()')}`,
  // A rejected boot is an uncaught error, as a top-level await's would be: the child exits with 1.
  'multiprocessing/spawn_main.cjs':
    "// Written by scripts/bundle.mjs: the entry of every weft child (src/multiprocessing/spawn_main.ts), on weft's one instance (load.cjs).\n" +
    "'use strict';\nrequire('../load.cjs').weft.bootChild();\n",
  'cli/main.js':
    `#!/usr/bin/env node\n${header}${fromLoader(1)}\n` +
    '// npm runs the bin through a symlink (node_modules/.bin/weft): isMainModule compares real paths.\n' +
    'if (weft.index.isMainModule(import.meta)) {\n' +
    '  process.exitCode = await (await weft.cli()).main(process.argv.slice(2));\n' +
    '}\n',
};
for (const [name, text] of Object.entries(entries)) {
  mkdirSync(dirname(join(outdir, name)), { recursive: true });
  writeFileSync(join(outdir, name), text);
}

// Remove the per-module JavaScript tsc wrote under dist/src (its declarations
// stay): a stale copy would be a second instance of weft waiting to be imported.
const written = new Set(['weft.cjs', 'weft.cjs.map', 'weft-more.cjs', 'weft-more.cjs.map', 'load.cjs', ...Object.keys(entries)].map((p) => join(outdir, p)));
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
