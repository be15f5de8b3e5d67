/**
 * Task references: how a child process or thread finds the function it runs.
 * No Python twin — Python pickles a function as "module + qualified name" and
 * the spawn start method re-imports the module in the child; weft does the same
 * with `task(import.meta, fn)` (or `task(module, fn)` in CommonJS), which
 * records the declaring module's URL and a name, so the child can `import()`
 * that URL and look the function up again.
 * @module
 */
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { evaluating } from './thread_stop.js';

/**
 * Any function a child may run.
 * @example
 * import { task, type TaskFunction } from 'weft';
 * function describe(fn: TaskFunction): string {
 *   return `${fn.name}/${fn.length}`;
 * }
 * function add(a: number, b: number) {
 *   return a + b;
 * }
 * export const addTask = task(import.meta, add);
 * console.log(describe(addTask), addTask(2, 3)); // add/2 5
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskFunction = (...args: any[]) => unknown;

/**
 * Where a task lives: the module that declared it and its name there.
 * @example
 * import { type TaskRef } from 'weft';
 * // what task(import.meta, greet) records for a child to import and look up
 * const ref: TaskRef = { url: import.meta.url, name: 'greet' };
 * console.log(ref.url.startsWith('file://'), ref.name); // true greet
 */
export interface TaskRef {
  url: string;
  name: string;
}

const refs = new WeakMap<TaskFunction, TaskRef>();
const byKey = new Map<string, TaskFunction>();
const anonymousCount = new Map<string, number>();

/**
 * The module a task belongs to: `import.meta` in an ES module, `module` in a
 * CommonJS one (both name the file a child will import).
 * @example
 * import { task, type TaskModule } from 'weft';
 * // in a CommonJS file the same call is task(module, double)
 * const here: TaskModule = import.meta;
 * export const double = task(here, (n: number) => n * 2);
 * console.log(double(21)); // 42
 */
export type TaskModule = ImportMeta | NodeJS.Module;

/** The URL of a task's module: `import.meta.url`, or a CommonJS module's file as a URL. */
function moduleUrl(scope: TaskModule): string {
  if (typeof (scope as ImportMeta | undefined)?.url === 'string') return (scope as ImportMeta).url;
  const cjs = scope as NodeJS.Module | undefined;
  if (cjs && typeof cjs === 'object' && 'exports' in cjs && 'id' in cjs) {
    // The REPL's module has no file: keep its id, refused at start (requireTaskRef).
    return typeof cjs.filename === 'string' ? pathToFileURL(cjs.filename).href : String(cjs.id);
  }
  throw new TypeError('task(import.meta, fn): the first argument must be import.meta (or module, in CommonJS)');
}

/**
 * Declares `fn` as a task of the module `scope` names, so that it can run in
 * another process or thread, and returns it unchanged (it stays callable here).
 * `scope` is `import.meta` in an ES module and `module` in CommonJS. Declare
 * tasks at the top level of a module file: the child re-imports the module and
 * must meet the same declarations. A name is taken from the function; give one
 * when two anonymous functions share a module.
 *
 * In CommonJS, pass `module` where an ES module passes `import.meta` (weft's
 * examples are ES modules; test/daytrap runs this one as a `.cjs` file):
 *
 *     const { task, Process, isMainModule } = require('weft');
 *     const greet = task(module, (who) => console.log(`hello ${who}`));
 *     if (isMainModule(module)) new Process({ target: greet, args: ['world'] }).start();
 *
 * @example
 * import { task, Process, isMainModule } from 'weft';
 * export const greet = task(import.meta, (who: string) => console.log(`hello ${who}`)); // hello world
 * if (isMainModule(import.meta)) new Process({ target: greet, args: ['world'] }).start();
 * @throws {TypeError} when `fn` is not a function or `scope` is neither `import.meta` nor a CommonJS `module`.
 */
export function task<F extends TaskFunction>(scope: TaskModule, fn: F, name?: string): F {
  const url = moduleUrl(scope);
  if (typeof fn !== 'function') throw new TypeError(`task(import.meta, fn): fn must be a function, got ${typeof fn}`);
  if (refs.has(fn)) return fn;
  let base = name ?? fn.name;
  if (!base) {
    const n = (anonymousCount.get(url) ?? 0) + 1;
    anonymousCount.set(url, n);
    base = `<anonymous ${n}>`;
  }
  const key = `${url}#${base}`;
  if (byKey.has(key)) throw new TypeError(`task name '${base}' is declared twice in ${url}; pass a distinct name as the third argument`);
  byKey.set(key, fn);
  refs.set(fn, { url, name: base });
  return fn;
}

/** The reference of a declared task, or `undefined`. */
export function taskRef(fn: unknown): TaskRef | undefined {
  return typeof fn === 'function' ? refs.get(fn as TaskFunction) : undefined;
}

/**
 * The reference of `fn`, or a TypeError naming the fix — what `Process.start()`
 * and the pools call before sending work away.
 */
export function requireTaskRef(fn: unknown, what = 'target'): TaskRef {
  const ref = taskRef(fn);
  if (!ref) {
    const name = typeof fn === 'function' ? fn.name || 'an anonymous function' : typeof fn;
    throw new TypeError(
      `${what} ${name} was not declared with task(): wrap it at the top level of its module, ` +
        `e.g. export const ${typeof fn === 'function' && fn.name ? fn.name : 'work'} = task(import.meta, ${typeof fn === 'function' && fn.name ? fn.name : 'fn'}), ` +
        'so another process or thread can import it',
    );
  }
  const why = unimportable(ref.url);
  if (why) throw new TypeError(`${what} '${ref.name}' ${why}`);
  return ref;
}

const verdicts = new Map<string, string | null>();

/**
 * Why a child could not import the module at `url` to find a task, or null.
 * Checked once per module (a pool asks at every submission).
 */
function unimportable(url: string): string | null {
  let why = verdicts.get(url);
  if (why === undefined) {
    why = null;
    const file = url.startsWith('file:') ? fileURLToPath(url) : null;
    if (!file || !existsSync(file)) {
      // `node -e`, `--input-type=module`, the REPL: code with no file behind it.
      why =
        `was declared in ${file ?? url}, which is not a module file another process or thread can import: ` +
        'move the task into a .mjs (or .cjs) file and import it from there';
    } else if (runsTests(url)) {
      why =
        `is declared in ${file}, a test file: a child imports the task's module and would run its tests ` +
        'again, so declare the task in a module of its own and import it into the test file';
    }
    verdicts.set(url, why);
  }
  return why;
}

/**
 * True when `url` is a test file this process runs: Node's test runner is
 * loaded and the file is the script (`node --test` runs each file as the
 * script of its own process; `node x.test.mjs` runs it directly) or one of
 * the files named on the command line (`--test-isolation=none`). `test()`
 * both declares and runs a test, so importing such a file in a child would
 * run its tests there and report them on the runner's stdout.
 */
function runsTests(url: string): boolean {
  const loaded = (process as { moduleLoadList?: readonly string[] }).moduleLoadList;
  if (!loaded?.includes('NativeModule test')) return false;
  return process.argv.slice(1).some((arg) => {
    try {
      return pathToFileURL(realpathSync(arg)).href === url;
    } catch {
      return false; // not a file
    }
  });
}

/**
 * Built, weft runs as one script compiled by `vm.Script` (scripts/bundle.mjs),
 * where `import()` has no module loader to turn to; its loader passes this
 * function in, an `import()` made from an ES module. From source it is absent.
 */
declare const __weftImport: ((url: string) => Promise<unknown>) | undefined;

/** `import(url)`, from inside the bundle too. */
export function importModule(url: string): Promise<unknown> {
  return typeof __weftImport === 'function' ? __weftImport(url) : import(url);
}

/** The task `ref` names if its module was imported here already (importing the main module from itself would wait for ever). */
export function declaredTask(ref: TaskRef): TaskFunction | undefined {
  return byKey.get(`${ref.url}#${ref.name}`);
}

/** Imports the module of `ref` and returns the task it declares (in a child). */
export async function loadTask(ref: TaskRef): Promise<TaskFunction> {
  // A worker thread is not terminated while it evaluates the module (thread_stop.ts says why).
  await evaluating(() => importModule(ref.url));
  const fn = byKey.get(`${ref.url}#${ref.name}`);
  if (!fn) {
    throw new TypeError(
      `task '${ref.name}' was not found in ${ref.url}: declare it with task(import.meta, fn) (task(module, fn) in CommonJS) at the top level ` +
        '(not inside an `if (isMainModule(import.meta))` block)',
    );
  }
  return fn;
}

let mainUrl: string | null | undefined;

/** Set by the child bootstrap: no user module is the main module of a child. */
export function markChild(): void {
  mainUrl = null;
}

/**
 * Python's `if __name__ == '__main__':` — true only in the module that was run
 * directly (`node app.js`, `tsx app.ts`), never when a child imports it to find
 * a task. Pass `import.meta`, or `module` in CommonJS.
 *
 * @example
 * import { isMainModule } from 'weft';
 * async function main() {
 *   console.log('run as a program'); // run as a program
 * }
 * if (isMainModule(import.meta)) await main(); // not when a child imports this module for its task
 * @throws {TypeError} when `scope` is neither `import.meta` nor a CommonJS `module`.
 */
export function isMainModule(scope: TaskModule): boolean {
  const given = moduleUrl(scope);
  if (mainUrl === undefined) {
    const script = process.argv[1];
    try {
      mainUrl = script ? pathToFileURL(realpathSync(script)).href : null;
    } catch {
      mainUrl = script ? pathToFileURL(script).href : null;
    }
  }
  if (mainUrl === null) return false;
  let url = given;
  try {
    url = pathToFileURL(realpathSync(new URL(given))).href;
  } catch {
    // not a file URL: compare as given
  }
  return url === mainUrl;
}
