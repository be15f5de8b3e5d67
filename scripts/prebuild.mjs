// Builds weft's prebuilt addons: prebuilds/linux-x64/ and prebuilds/linux-arm64/,
// in prebuildify's layout (found at run time by node-gyp-build). The addon is
// pure N-API, so one build per architecture serves every supported Node; it is
// built against the oldest one's headers (Node 20, `nodedir` in npm's config)
// so that it uses nothing a Node 20 lacks. arm64 is cross-compiled with
// Debian's g++-aarch64-linux-gnu.
//
//   node scripts/prebuild.mjs [x64] [arm64] [--if-stale]
//
// With no architecture it builds both (what `npm run build:prebuilds` and
// `prepack` do, so a packed weft always carries both). --if-stale keeps a
// prebuild that is newer than binding.gyp and every file of native/.
//
// Each build runs in a scratch copy of binding.gyp and native/: prebuildify
// runs `node-gyp rebuild` in its working directory, which would otherwise
// replace the developer's build/Release (and, cross-compiling, with objects of
// another architecture).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const require = createRequire(import.meta.url);

/**
 * The architectures weft ships: the ELF machine number (e_machine: EM_X86_64,
 * EM_AARCH64) and the prefix of Debian's cross tools, used when building for
 * an architecture other than this machine's.
 */
const archs = {
  x64: { machine: 62, tools: 'x86_64-linux-gnu-', crossPackage: 'g++-x86-64-linux-gnu' },
  arm64: { machine: 183, tools: 'aarch64-linux-gnu-', crossPackage: 'g++-aarch64-linux-gnu' },
};

/** The compilers for `arch`: the machine's own, or the cross tools (CC, CXX, LINK, AR and strip). */
function toolchain(arch) {
  if (arch === process.arch) return { env: {}, cxx: 'g++', strip: 'strip', install: 'g++ make python3' };
  const { tools, crossPackage } = archs[arch];
  return {
    env: { CC: `${tools}gcc`, CXX: `${tools}g++`, LINK: `${tools}g++`, AR: `${tools}ar` },
    cxx: `${tools}g++`,
    strip: `${tools}strip`,
    install: crossPackage,
  };
}

/** The ELF machine number of a file. */
function elfMachine(file) {
  const header = readFileSync(file).subarray(0, 20);
  if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  return header.readUInt16LE(18);
}

/**
 * The newest glibc and libstdc++ symbol versions a binary needs: the oldest
 * Linux it loads on (docs/install.md lists them). Empty without objdump.
 */
function symbolFloor(file) {
  let table;
  try {
    table = execFileSync('objdump', ['-T', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
  const newest = (prefix) =>
    [...table.matchAll(new RegExp(`\\(${prefix}_([\\d.]+)\\)`, 'g'))]
      .map((match) => match[1])
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .pop();
  const needs = ['GLIBC', 'GLIBCXX'].filter((prefix) => newest(prefix) !== undefined).map((prefix) => `${prefix}_${newest(prefix)}`);
  return needs.length > 0 ? `, needs ${needs.join(' and ')}` : '';
}

/** The prebuilt addon for `arch`, or undefined. */
function prebuildFor(arch) {
  const dir = join(root, 'prebuilds', `linux-${arch}`);
  const name = existsSync(dir) ? readdirSync(dir).find((file) => file.endsWith('.node')) : undefined;
  return name === undefined ? undefined : join(dir, name);
}

function newestSource() {
  const files = ['binding.gyp', ...readdirSync(join(root, 'native')).map((file) => join('native', file))];
  return Math.max(...files.map((file) => statSync(join(root, file)).mtimeMs));
}

/** The Node headers to build against: npm's `nodedir` (Node 20's on weft's machines). */
function headers() {
  const nodedir = process.env.npm_config_nodedir ?? execFileSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8' }).trim();
  const versionFile = join(nodedir, 'include/node/node_version.h');
  if (!nodedir || nodedir === 'undefined' || !existsSync(versionFile)) {
    throw new Error(
      `prebuild: no Node headers at nodedir=${JSON.stringify(nodedir)}. Point npm_config_nodedir at a Node 20 ` +
        'installation (its include/node), e.g. npm_config_nodedir=/usr.',
    );
  }
  const text = readFileSync(versionFile, 'utf8');
  const part = (name) => text.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))[1];
  return { nodedir, version: `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` };
}

function onPath(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** npm's node-gyp: the one npm gives to scripts, else one on PATH. */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  if (onPath('node-gyp')) return 'node-gyp';
  // Run outside npm (node --test on one file): the node-gyp bundled with the npm on PATH.
  try {
    const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    const bundled = join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(bundled)) return bundled;
  } catch {
    // no npm on PATH either
  }
  throw new Error('prebuild: node-gyp not found. Run it through npm (`npm run build:prebuilds`: npm brings node-gyp) or install node-gyp.');
}

function build(arch, { nodedir, version }) {
  const tools = toolchain(arch);
  for (const tool of [tools.cxx, tools.strip, 'make', 'python3']) {
    if (!onPath(tool)) throw new Error(`prebuild ${arch}: ${tool} not found. Install it: apt-get install -y ${tools.install}`);
  }
  const scratch = mkdtempSync(join(tmpdir(), `weft-prebuild-${arch}-`));
  try {
    for (const file of ['binding.gyp', 'package.json', 'native']) cpSync(join(root, file), join(scratch, file), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
    const stale = prebuildFor(arch);
    if (stale !== undefined) rmSync(stale);
    const started = performance.now();
    execFileSync(
      process.execPath,
      [
        require.resolve('prebuildify/bin.js'),
        '--napi',
        '--strip',
        '--tag-libc',
        `--arch=${arch}`,
        '--platform=linux',
        `--target=node@${version}`,
        `--strip-bin=${tools.strip}`,
        `--node-gyp=${nodeGyp()}`,
        `--cache=${join(scratch, '.node-gyp')}`,
        `--out=${root}`,
        scratch,
      ],
      { cwd: scratch, stdio: ['ignore', 'inherit', 'inherit'], env: { JOBS: String(availableParallelism()), ...process.env, ...tools.env, npm_config_nodedir: nodedir } },
    );
    return performance.now() - started;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function main(argv) {
  const ifStale = argv.includes('--if-stale');
  const asked = argv.filter((arg) => !arg.startsWith('--'));
  for (const arch of asked) if (!(arch in archs)) throw new Error(`prebuild: unknown architecture ${arch} (x64 or arm64)`);
  const wanted = asked.length > 0 ? asked : Object.keys(archs);
  const nodeHeaders = headers();
  for (const arch of wanted) {
    const existing = prebuildFor(arch);
    if (ifStale && existing !== undefined && statSync(existing).mtimeMs >= newestSource()) {
      console.log(`prebuild ${arch}: ${existing} is up to date`);
      continue;
    }
    const ms = build(arch, nodeHeaders);
    const file = prebuildFor(arch);
    if (file === undefined) throw new Error(`prebuild ${arch}: prebuildify wrote no .node under prebuilds/linux-${arch}`);
    if (elfMachine(file) !== archs[arch].machine) throw new Error(`prebuild ${arch}: ${file} is not an ${arch} ELF file`);
    if (arch === process.arch) execFileSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { stdio: 'inherit' });
    const loads = arch === process.arch ? ', loads' : '';
    console.log(`prebuild ${arch}: ${file} (Node ${nodeHeaders.version} headers, ${(ms / 1000).toFixed(1)} s${loads}${symbolFloor(file)})`);
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  console.error(err.message);
  process.exitCode = 1;
}
