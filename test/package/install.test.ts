// weft as its users get it: the packed tarball (`npm pack`, with this
// machine's prebuilt addon) installed into an empty project with a PATH that
// has node and npm but no compiler; a strict TypeScript program type-checked
// against the installed declarations and run under the Node running this test;
// and the package's install script (scripts/install.mjs), which npm 11 holds
// back until approved, run as `npm rebuild weft` would with and without a
// prebuild.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'weft-package-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** npm's own script (npm-cli.js): the npm running `npm test`, else the one on PATH. */
function npmCli(): string {
  const fromNpm = process.env.npm_execpath;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  return realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
}

/** A bin directory with node, npm and sh only: no cc, g++, make or python3. */
function bareBin(): string {
  const bin = join(scratch, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh')); // npm runs scripts through sh
  writeFileSync(join(bin, 'npm'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(npmCli())} "$@"\n`, { mode: 0o755 });
  return bin;
}

/** The environment of a user's shell: none of the npm_* variables of the `npm test` running this. */
function userEnv(bin: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: bin };
  for (const name of ['HOME', 'TMPDIR', 'NODE_EXTRA_CA_CERTS']) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutSeconds: number): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutSeconds * 1000 });
  assert.equal(result.error, undefined, `${command} ${args.join(' ')}: ${result.error?.message}`);
  assert.equal(result.status, 0, `${command} ${args.join(' ')} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

const program = `import { isMainModule, Process, Queue, task } from 'weft';
import { joinAll, sleep, spawn } from 'weft/coro';
import { socketpair } from 'weft/io';

export const greet = task(import.meta, async (q: Queue<string>, name: string): Promise<void> => {
  await q.put(\`hello \${name} from \${process.pid}\`);
});

if (isMainModule(import.meta)) {
  const q = new Queue<string>();
  const p = new Process({ target: greet, args: [q, 'user'] });
  p.start();
  const got: string = await q.get({ timeout: 30 });
  await p.join(30);
  const [greeting, pid] = got.split(' from ');
  console.log(\`queue: \${greeting}, exit \${p.exitCode}, another process: \${Number(pid) !== process.pid}\`);

  const g = spawn(async (n: number) => {
    await sleep(0.01);
    return n * 2;
  }, 21);
  await joinAll([g]);
  console.log(\`greenlet: \${String(g.value)}\`);

  const [a, b] = socketpair();
  a.sendAll(Buffer.from('ping'));
  console.log(\`socketpair: \${b.recv(4).toString()}\`);
  a.close();
  b.close();
}
`;

const tsconfig = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    types: ['node'],
    skipLibCheck: false,
  },
  files: ['main.ts'],
};

let app = '';
let installed = '';
let env: NodeJS.ProcessEnv = {};

before(() => {
  // The prebuild for this machine, made when native/ changed since the last one.
  execFileSync(process.execPath, [join(root, 'scripts/prebuild.mjs'), process.arch, '--if-stale'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const bin = bareBin();
  env = userEnv(bin);
  const npm = join(bin, 'npm');
  const noCompiler = spawnSync('sh', ['-c', 'command -v cc || command -v gcc || command -v g++ || command -v make || command -v python3'], { env });
  assert.notEqual(noCompiler.status, 0, `a compiler or build tool is on the test's PATH: ${noCompiler.stdout}`);

  // --ignore-scripts: prepack would build every architecture; this machine's prebuild is there.
  const packed = run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], root, { ...env, PATH: `${bin}:${process.env.PATH}` }, 120);
  const tarball = join(scratch, (JSON.parse(packed.stdout) as [{ filename: string }])[0].filename);

  app = join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'weft-user', private: true, type: 'module' }));
  const typesNode = (JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version;
  run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `@types/node@${typesNode}`], app, env, 180);
  installed = join(app, 'node_modules/weft');
}, { timeout: 300_000 });

test('the install compiled nothing: the prebuild for this machine is there, no build/', () => {
  assert.ok(!existsSync(join(installed, 'build')), 'the install compiled the addon (node_modules/weft/build exists)');
  const prebuilds = readdirSync(join(installed, `prebuilds/linux-${process.arch}`));
  assert.ok(prebuilds.some((file) => file.endsWith('.node')), `no prebuild for linux-${process.arch}: ${prebuilds.join(', ')}`);
});

test('a strict TypeScript program importing weft, weft/coro and weft/io type-checks and runs', { timeout: 180_000 }, () => {
  writeFileSync(join(app, 'main.ts'), program);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], app, env, 120);
  const { stdout } = run(process.execPath, ['main.js'], app, env, 60);
  assert.deepEqual(stdout.trim().split('\n'), ['queue: hello user, exit 0, another process: true', 'greenlet: 42', 'socketpair: ping']);
});

/** The install script as `npm rebuild weft` runs it, with npm's node-gyp. */
function installScript(): SpawnSyncReturns<string> {
  const nodeGyp = join(npmCli(), '../../node_modules/node-gyp/bin/node-gyp.js');
  assert.ok(existsSync(nodeGyp), `npm's node-gyp is not at ${nodeGyp}`);
  return run(process.execPath, ['scripts/install.mjs'], installed, { ...env, npm_config_node_gyp: nodeGyp }, 120);
}

test('the install script does nothing where the prebuild loads', () => {
  const { stdout, stderr } = installScript();
  assert.equal(`${stdout}${stderr}`, '');
  assert.ok(!existsSync(join(installed, 'build')), 'the install script built the addon although the prebuild loads');
});

test('with no prebuild and no compiler, the install script says what to install and exits 0', { timeout: 180_000 }, () => {
  renameSync(join(installed, 'prebuilds'), join(installed, 'prebuilds.away'));
  try {
    const { stderr } = installScript();
    assert.match(stderr, /no prebuilt addon fits this machine/);
    assert.match(stderr, /apt-get install -y g\+\+ make python3/);
    assert.match(stderr, /npm rebuild weft/);
  } finally {
    rmSync(join(installed, 'build'), { recursive: true, force: true });
    renameSync(join(installed, 'prebuilds.away'), join(installed, 'prebuilds'));
  }
});
