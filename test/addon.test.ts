/**
 * The native addon as a file: one build serves every supported Node, so it
 * links against N-API alone (the V8 calls it still makes are looked up at run
 * time), and the loader turns an addon that does not fit this Node into an
 * Error with what to do, never a dead process. Each loader case runs in a
 * fresh node, so that a process killed by the dynamic linker fails the test.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test, type TestContext } from 'node:test';
import { runNode } from './helpers/run.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const internals = new URL('../src/internals.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'weft-addon-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every addon file of the package: the local build and the prebuilds. */
function addonFiles(): string[] {
  const files = existsSync(join(root, 'build/Release/weft.node')) ? [join(root, 'build/Release/weft.node')] : [];
  const prebuilds = join(root, 'prebuilds');
  for (const tuple of existsSync(prebuilds) ? readdirSync(prebuilds) : []) {
    for (const f of readdirSync(join(prebuilds, tuple))) if (f.endsWith('.node')) files.push(join(prebuilds, tuple, f));
  }
  return files;
}

function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

test('the addon needs no symbol of V8: only N-API, libuv and versioned system libraries', (t) => {
  const files = addonFiles();
  assert.ok(files.length > 0, 'no addon file in build/Release or prebuilds/');
  if (!which('nm')) {
    t.diagnostic('nm (binutils) is not installed: the symbol tables cannot be read here');
    return;
  }
  for (const file of files) {
    if (!file.includes(`-${arch()}/`) && file.includes('/prebuilds/')) continue; // another architecture's nm format may differ
    const undefinedSymbols = execFileSync('nm', ['-D', '--undefined-only', file], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.trim().split(/\s+/).pop() ?? '')
      .filter((name) => name !== '');
    assert.ok(undefinedSymbols.some((name) => name.startsWith('napi_')), `${file}: no napi_ symbol read; is nm's output format the expected one?`);
    const v8 = undefinedSymbols.filter((name) => name.startsWith('_ZN2v8') || name.startsWith('_ZNK2v8'));
    assert.deepEqual(v8, [], `${file} links against V8`);
    // Anything else comes from Node itself and must be part of its stable ABI.
    const loose = undefinedSymbols.filter((name) => !name.includes('@') && !/^(napi_|node_api_|uv_)/.test(name) && !/^_(ITM|_gmon|_cxa_finalize)/.test(name));
    assert.deepEqual(loose, [], `${file} needs symbols outside N-API and libuv`);
  }
});

/** A shared library whose module init calls a function no Node defines: lazily bound, calling it kills the process. */
/** Whether gcc is here to build a fake addon; says why not in the test's output. */
function canMakeFakeAddon(t: TestContext): boolean {
  if (which('gcc')) return true;
  t.diagnostic('gcc is not installed: no incompatible addon can be made here (a prebuilt-only install has none)');
  return false;
}

function fakeAddon(path: string): void {
  const source = join(dir, 'fake.c');
  writeFileSync(
    source,
    'extern void weft_no_such_symbol(void);\n' +
      'void* napi_register_module_v1(void* env, void* exports) { weft_no_such_symbol(); return exports; }\n',
  );
  mkdirSync(join(path, '..'), { recursive: true });
  execFileSync('gcc', ['-shared', '-fPIC', '-o', path, source]);
}

/** A package root at `name` under the scratch dir, with the files given. */
function fakePackage(name: string): string {
  const pkg = join(dir, name);
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{"name": "weft"}\n');
  return pkg;
}

/** Loads the addon from `pkg` in a fresh node; prints what loaded or the error. */
function loadIn(pkg: string) {
  return runNode(
    [
      '--input-type=module',
      '-e',
      `const { loadAddon } = await import(${JSON.stringify(internals)});
       try {
         const addon = loadAddon(${JSON.stringify(pkg)});
         console.log('loaded', typeof addon.shmCreate);
       } catch (err) {
         console.log('error', JSON.stringify(err.message));
       }`,
    ],
    { timeout: 60 },
  );
}

test('an addon that does not fit this Node is a clear Error, not a process killed by the linker', async (t) => {
  if (!canMakeFakeAddon(t)) return;
  const pkg = fakePackage('broken');
  fakeAddon(join(pkg, 'build/Release/weft.node'));
  const run = await loadIn(pkg);
  assert.equal(run.code, 0, `the process died: ${run.code} ${run.signal}\n${run.stderr}`);
  const line = run.stdout.trim();
  assert.match(line, /^error /);
  const message = JSON.parse(line.slice('error '.length)) as string;
  assert.match(message, new RegExp(`no prebuilt addon for linux-${arch()} fits Node ${process.version}`));
  assert.match(message, /weft_no_such_symbol/, 'the message says what failed');
  assert.match(message, /build it with `npm rebuild weft` \(needs g\+\+, make and python3/);
  assert.doesNotMatch(message, /npm ci/);
});

test('a local build that does not fit falls back to a prebuild that does', async (t) => {
  if (!canMakeFakeAddon(t)) return;
  const pkg = fakePackage('fallback');
  fakeAddon(join(pkg, 'build/Release/weft.node'));
  mkdirSync(join(pkg, `prebuilds/linux-${arch()}`), { recursive: true });
  copyFileSync(addonFiles()[0]!, join(pkg, `prebuilds/linux-${arch()}/weft.glibc.node`));
  const run = await loadIn(pkg);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), 'loaded function');
});

test('with no addon at all the error says how to build one', async () => {
  const pkg = fakePackage('empty');
  const run = await loadIn(pkg);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /error .*no prebuilt addon for linux-.* fits Node .*none was found.*npm rebuild weft/);
});

/** The file weft's addon was loaded from in a fresh node with WEFT_ADDON_FILE set to `handed`. */
async function loadedWith(handed: string): Promise<string> {
  const run = await runNode(
    ['--input-type=module', '-e', `const { addonFile, native } = await import(${JSON.stringify(internals)}); native.gettid(); console.log(addonFile);`],
    { env: { WEFT_ADDON_FILE: handed }, timeout: 60 },
  );
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.trim();
}

test("a child loads the addon file its starter hands it (WEFT_ADDON_FILE); one that does not load is passed over", async () => {
  const searched = await loadedWith(join(dir, 'no-such.node'));
  assert.ok(addonFiles().includes(searched), `${searched} is none of the package's addon files`);
  const handed = join(dir, 'handed', 'weft.node');
  mkdirSync(join(dir, 'handed'), { recursive: true });
  copyFileSync(searched, handed);
  assert.equal(await loadedWith(handed), handed);
});

test('shared memory is unmapped once its SharedArrayBuffer is collected, map after map', async () => {
  // 200 mappings of 1 MiB: a deleter that never ran leaves 200 memfd mappings in /proc/self/maps.
  const run = await runNode(
    [
      '--expose-gc',
      '--input-type=module',
      '-e',
      `import { readFileSync } from 'node:fs';
       import { setImmediate as turn } from 'node:timers/promises';
       const { native } = await import(${JSON.stringify(internals)});
       const mapped = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('memfd:weft')).length;
       const before = mapped(); // weft's own, made at import
       let peak = 0;
       // In a function of its own: a suspended async frame keeps its last values alive.
       const mapOne = (i) => {
         const fd = native.shmCreate(1 << 20);
         const sab = native.shmMap(fd);
         native.fdClose(fd);
         if (!(sab instanceof SharedArrayBuffer) || sab.byteLength !== 1 << 20) throw new Error('not a 1 MiB SharedArrayBuffer: ' + sab);
         new Int32Array(sab)[1000] = i;
       };
       for (let i = 0; i < 200; i++) {
         mapOne(i);
         peak = Math.max(peak, mapped());
         if (i % 20 === 19) { globalThis.gc(); await turn(); }
       }
       for (let i = 0; i < 20 && mapped() > before; i++) { globalThis.gc(); await turn(); }
       console.log(JSON.stringify({ peak: peak - before, left: mapped() - before }));`,
    ],
    { timeout: 60 },
  );
  assert.equal(run.code, 0, run.stderr);
  const { peak, left } = JSON.parse(run.stdout.trim()) as { peak: number; left: number };
  assert.ok(peak >= 1, 'no memfd mapping was ever seen: is the probe right?');
  assert.ok(peak <= 60, `${peak} mappings alive at once: collected buffers were not unmapped`);
  assert.equal(left, 0, 'mappings left after every buffer was collected');
});

test('futex calls find the word through an Int32Array view, wherever the view starts', async () => {
  const { native } = await import(internals);
  const fd = native.shmCreate(4096);
  const sab = native.shmMap(fd) as SharedArrayBuffer;
  native.fdClose(fd);
  const whole = new Int32Array(sab);
  for (let i = 0; i < 16; i++) whole[i] = 100 + i;
  const view = new Int32Array(sab, 8, 4); // view[1] is whole[3]
  const EAGAIN = 11;
  const ETIMEDOUT = 110;
  // The word is compared with `expected` by the kernel: only the right address holds 103.
  assert.equal(native.futexWait(view, 1, 103, 0.001), -ETIMEDOUT);
  assert.equal(native.futexWait(view, 1, 101, 0.001), -EAGAIN);
  assert.equal(native.futexWake(view, 1, 1), 0);
  // A sync wait in a worker on view[1] is woken through another view of the same word.
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(
    `const { workerData: { sab, internals } } = require('node:worker_threads');
     import(internals).then(({ native }) => {
       const v = new Int32Array(sab, 8, 4);
       Atomics.store(v, 3, 1);
       require('node:worker_threads').parentPort.postMessage(native.futexWait(v, 1, 103, 10));
     });`,
    { eval: true, workerData: { sab, internals } },
  );
  const woken = new Promise((resolve) => worker.once('message', resolve));
  while (Atomics.load(whole, 5) !== 1) await new Promise((r) => setTimeout(r, 1));
  let waker = 0;
  for (let i = 0; i < 1000 && waker === 0; i++) {
    waker = native.futexWake(new Int32Array(sab, 12, 1), 0, 1) as number;
    if (waker === 0) await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(waker, 1);
  assert.equal(await woken, 0);
  await worker.terminate();
  assert.throws(() => native.futexWake(new Float64Array(2), 0, 1), { name: 'TypeError', message: /Int32Array/ });
  assert.throws(() => native.futexWake(view, 4, 1), { name: 'RangeError', message: /index outside/ });
  assert.throws(() => native.futexWake(view, -1, 1), { name: 'RangeError' });
});
