// Stack traces from an installed weft: the package is copied where an install
// would put it (node_modules/weft of another project) and made to throw from
// its own code. The trace must name the copied files, also when weft's code is
// taken from a cache made elsewhere, and with --enable-source-maps the
// TypeScript file and line that threw.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { runNode } from '../helpers/run.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const project = mkdtempSync(join(tmpdir(), 'weft-trace-'));
const installed = join(project, 'node_modules', 'weft');

// A bad argument to a Queue method: weft's own code throws (an UnsendableError, a TypeError).
const script = `
import { Queue } from 'weft';
const { compiledFrom } = await import(${JSON.stringify(join(installed, 'dist/src/load.cjs'))});
try {
  new Queue().putNowait({ callback: () => 1 });
  console.log('no error');
} catch (err) {
  console.log(JSON.stringify({ isTypeError: err instanceof TypeError, stack: err.stack, compiledFrom }));
}
process.exit(0);
`;

before(() => {
  // What the package ships ("files"), plus the addon an install builds or picks from the prebuilds.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[]; dependencies: Record<string, string> };
  const shipped = ['package.json', ...pkg.files.filter((f) => !f.startsWith('!')), 'build/Release/weft.node', 'dist/src/weft.cjs.cache'];
  for (const entry of shipped) {
    if (!existsSync(join(root, entry))) continue;
    // The build's own code cache (Node 20) comes along, times kept: a package moved after its first load.
    cpSync(join(root, entry), join(installed, entry), { recursive: true, preserveTimestamps: true });
  }
  // weft's runtime dependencies, as npm would place them beside it.
  for (const dep of Object.keys(pkg.dependencies)) cpSync(join(root, 'node_modules', dep), join(project, 'node_modules', dep), { recursive: true });
  writeFileSync(join(project, 'throw.mjs'), script);
});

after(() => rmSync(project, { recursive: true, force: true }));

interface Thrown {
  isTypeError: boolean;
  stack: string;
  compiledFrom: string;
}

async function throwFromWeft(flags: string[] = []): Promise<Thrown> {
  // Node 22+ keeps its compile cache in NODE_COMPILE_CACHE: one of this project's own.
  const r = await runNode([...flags, join(project, 'throw.mjs')], { env: { NODE_COMPILE_CACHE: join(project, 'cache') } });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Thrown;
}

test('a stack trace names the installed files, the first load and the cached ones after', async () => {
  for (const run of ['first load', 'from the cache']) {
    const { isTypeError, stack, compiledFrom } = await throwFromWeft();
    assert.ok(isTypeError, stack);
    assert.match(stack, new RegExp(`\\(${installed}/dist/src/weft\\.cjs:\\d+:\\d+\\)`), `${run}: ${stack}`);
    assert.ok(!stack.includes(root), `${run}: the trace names the directory weft was built in:\n${stack}`);
    if (run === 'from the cache') assert.match(compiledFrom, /^(code|compile) cache$/);
  }
});

test('with --enable-source-maps the trace names the TypeScript file and line that threw', async () => {
  const { stack, compiledFrom } = await throwFromWeft(['--enable-source-maps']);
  // Node 22.1+ keeps its compile cache; Node 20 maps only what its loader compiled, so weft goes without a cache.
  assert.equal(compiledFrom, typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function' ? 'compile cache' : 'source maps');
  const top = /\((\/[^()]+\.ts):(\d+):\d+\)/.exec(stack);
  assert.ok(top, `no .ts frame in:\n${stack}`);
  const [, file, line] = top;
  assert.ok(file!.startsWith(join(installed, 'src') + '/'), `${file} is not in the installed src/`);
  const source = readFileSync(file!, 'utf8').split('\n')[Number(line) - 1]!;
  assert.match(source, /UnsendableError|cannot send/, `${file}:${line} is \`${source.trim()}\``);
});

test("on Node 20, the first child to finish its work leaves weft.cjs's code cache warm (with that work's code)", async (t) => {
  if (typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function') {
    t.diagnostic("Node's compile cache holds weft's code here: no cache of weft's own to warm");
    return;
  }
  writeFileSync(
    join(project, 'warm.mjs'),
    `import { Process, Queue, isMainModule, task } from 'weft';
export const putOne = task(import.meta, async (q) => { await q.put(1); });
if (isMainModule(import.meta)) {
  const q = new Queue();
  const p = new Process({ target: putOne, args: [q] });
  p.start();
  await q.get();
  await p.join();
}
`,
  );
  const cache = join(installed, 'dist/src/weft.cjs.cache');
  rmSync(cache, { force: true });
  const r = await runNode([join(project, 'warm.mjs')]);
  assert.equal(r.code, 0, r.stderr);
  const header = readFileSync(cache).subarray(0, 400).toString('latin1').split('\n')[0]!;
  assert.ok(header.startsWith(`weft code cache, warm, ${process.version} `), header);
  assert.ok(header.endsWith(join(installed, 'dist/src/weft.cjs')), header);
});
