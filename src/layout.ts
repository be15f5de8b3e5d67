/**
 * Where weft's own files are. Built, weft's modules are bundled into one
 * script (scripts/bundle.mjs), where every module's `import.meta.url` is the
 * main entry's, not its source file's; paths are therefore taken from the
 * package root, found by walking up to the nearest `package.json`. Run from
 * source (tsx), the same walk starts in `src/`.
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when weft runs from its TypeScript sources (tsx) rather than from `dist/`. */
const fromSource = import.meta.url.endsWith('.ts');

function findRoot(): URL {
  for (let dir = new URL('./', import.meta.url); ; ) {
    if (existsSync(new URL('package.json', dir))) return dir;
    const up = new URL('../', dir);
    if (up.href === dir.href) throw new Error(`weft: no package.json above ${import.meta.url}`);
    dir = up;
  }
}

/** The package root (the directory of weft's `package.json`), as a file URL ending in `/`. */
const packageRoot: URL = findRoot();

/** Where the native addon is looked for (build/Release/, then prebuilds/<platform>-<arch>/; native.ts). */
export const addonRoot: string = fileURLToPath(packageRoot);

/**
 * The script every child process or worker thread runs (CPython's `spawn_main`);
 * built, it is CommonJS (scripts/bundle.mjs says why).
 */
export const childMain = new URL(fromSource ? 'src/multiprocessing/spawn_main.ts' : 'dist/src/multiprocessing/spawn_main.cjs', packageRoot);

/** weft's main entry (what `import 'weft'` loads), which a child loads before it has work. */
export const mainEntry = new URL(fromSource ? 'src/index.ts' : 'dist/src/index.js', packageRoot);

/**
 * weft/redis's entry: the module a `weft worker`'s consumer child imports to
 * find its task (the bundle evaluates weft/redis only on first use).
 */
export const redisEntry = new URL(fromSource ? 'src/redis/index.ts' : 'dist/src/redis/index.js', packageRoot);

/** The compiled examples `weft tour` runs. */
export const examplesDir = new URL('dist/examples/', packageRoot);
