// weft's install script (package.json "install"; `npm rebuild weft` runs it again).
//
// Installed as a dependency, weft normally needs nothing here: the package
// carries prebuilt addons (prebuilds/linux-x64, prebuilds/linux-arm64; glibc,
// N-API, one binary for every supported Node), which the loader finds with
// node-gyp-build. This script builds from native/ only when neither a prebuild
// nor an earlier build loads here (another CPU, musl). When that build fails
// it says what to install and exits 0 all the same: a failed install script
// makes npm roll back the whole `npm i` of the project that depends on weft,
// while weft itself refuses at import with the same advice.
//
// In weft's own checkout (a .git beside package.json: npm never packs one),
// `npm ci` always builds the addon from source, and a failed build fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const checkout = existsSync(`${root}.git`);

/** node-gyp as npm hands it to install scripts, else one on PATH. */
function nodeGyp(args) {
  const fromNpm = process.env.npm_config_node_gyp;
  const [command, argv] = fromNpm ? [process.execPath, [fromNpm, ...args]] : ['node-gyp', args];
  return spawnSync(command, argv, { cwd: root, stdio: checkout ? 'inherit' : ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/**
 * The addon the loader would pick, loaded in a child process (an addon built
 * for something else can end the process that loads it): '' when it loads,
 * else why not.
 */
function loadError() {
  // RTLD_NOW, as the loader (src/native.ts) loads it: an unresolvable symbol fails here, not at first call.
  const probe =
    'process.dlopen({ exports: {} }, require("node-gyp-build").path(process.argv[1]), require("node:os").constants.dlopen.RTLD_NOW)';
  const result = spawnSync(process.execPath, ['-e', probe, root], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  if (result.status === 0) return '';
  const lines = `${result.stderr ?? ''}${result.error?.message ?? ''}`.split('\n').filter((line) => /error/i.test(line));
  return lines[0]?.trim() ?? `exit ${result.status ?? result.signal}`;
}

if (checkout) {
  process.exitCode = nodeGyp(['rebuild']).status ?? 1;
} else if (loadError() !== '') {
  const build = nodeGyp(['rebuild']);
  // node-gyp's own summary of what went wrong, e.g. "Error: Could not find any Python installation to use".
  const why =
    build.status === 0
      ? loadError()
      : (/^gyp ERR! stack (.*)$/m.exec(build.stderr ?? '')?.[1] ?? build.error?.message ?? `node-gyp rebuild exited with ${build.status}`);
  if (why !== '') {
    console.warn(
      `weft: no prebuilt addon fits this machine (${process.platform}-${process.arch}, Node ${process.versions.node}) ` +
        `and building one failed (${why}).\n` +
        '  Install a C++ compiler, make and python3 (e.g. apt-get install -y g++ make python3), then run: npm rebuild weft',
    );
  }
}
