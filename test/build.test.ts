// The build bundles src/ into one script and keeps only entry points as
// files (scripts/bundle.mjs). A test, benchmark or example that imports a
// module of src/ by its path would then fail only when run; this test reads
// every built file's relative imports and checks each names a file that exists.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import module from 'node:module';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

const dist = fileURLToPath(new URL('../', import.meta.url));
const root = join(dist, '..');

/** Built from a source that still exists (a deleted source's old output is no part of the build). */
const current = (file: string) =>
  relative(dist, file).startsWith('src/') || existsSync(join(root, relative(dist, file)).replace(/\.m?js$/, '.ts'));

function builtFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name.startsWith('.') ? [] : builtFiles(path);
    return /\.m?js$/.test(e.name) ? [path] : [];
  });
}

test('every relative import of the built tree names a file that exists', () => {
  const missing: string[] = [];
  let checked = 0;
  for (const top of ['src', 'test', 'bench', 'examples']) {
    for (const file of builtFiles(join(dist, top)).filter(current)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g)) {
        checked++;
        const target = join(dirname(file), m[1]!);
        if (!existsSync(target)) missing.push(`${relative(dist, file)} imports ${m[1]}`);
      }
    }
  }
  assert.ok(checked > 50, `only ${checked} imports found: is the pattern still right?`);
  assert.deepEqual(missing, []);
});

test('weft is compiled from a cache of its code, in the main thread and in a worker thread', async () => {
  // Node 22.1+ takes Node's compile cache; Node 20 V8's code cache, which the build (or the first load) made,
  // unless source maps are on (Node maps only what its own loader compiled).
  const expected =
    typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function'
      ? 'compile cache'
      : process.sourceMapsEnabled
        ? 'source maps'
        : 'code cache';
  const load = new URL('../src/load.cjs', import.meta.url).href;
  const { compiledFrom } = (await import(load)) as { compiledFrom: string };
  assert.equal(compiledFrom, expected, 'V8 rejected dist/src/weft.cjs.cache (built by another Node, or with other V8 flags?)');
  const worker = new Worker(`import('${load}').then((m) => require('node:worker_threads').parentPort.postMessage(m.compiledFrom))`, { eval: true });
  const [inWorker] = (await Promise.all([new Promise((r) => worker.once('message', r)), new Promise((r) => worker.once('exit', r))])) as [unknown, unknown];
  assert.equal(inWorker, expected);
});

test('the bundle is ASCII, so V8 keeps its source as a one-byte string in each thread', () => {
  const text = readFileSync(new URL('../src/weft.cjs', import.meta.url), 'utf8');
  const at = text.search(/[^\x00-\x7f]/);
  assert.equal(at, -1, `non-ASCII at ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 10))}`);
});
