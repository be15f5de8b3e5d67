/**
 * The one loader of weft's native addon. Everything platform-specific lives
 * behind this typed surface; the rest of weft never touches `process.platform`.
 *
 * The addon is found the way prebuilt addons are (node-gyp-build): a local
 * build (`build/Release/`, from `npm rebuild weft` or node-gyp) first, then the
 * prebuilds shipped in the package (`prebuilds/<platform>-<arch>/`, laid out
 * by prebuildify), most specific first. Each is loaded with RTLD_NOW, so an
 * addon that does not fit this Node (an unresolvable symbol) fails to load
 * with an Error weft can catch; lazily bound, its first call would have killed
 * the process ("symbol lookup error", exit 127). The next candidate is tried.
 *
 * Conventions: functions that can fail return `-errno` (a negative number) and
 * callers turn it into Python's exception through `errors.ts`.
 * @module
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, constants } from 'node:os';
import { join } from 'node:path';
import { addonRoot } from './layout.js';

/** The load engine of native/load.cc (opaque). */
export interface LoadEngine {
  readonly __loadEngine: unique symbol;
}

/** Typed surface of `weft.node`. Internal: not re-exported. */
export interface NativeAddon {
  // shm.cc
  shmCreate(size: number): number;
  shmMap(fd: number, populate?: boolean, releaseAt?: number): SharedArrayBuffer | number;
  fdDup(fd: number): number;
  fdClose(fd: number): number;
  // transfer.cc: a queue's key is two uint32 words
  transferCanPark(): boolean;
  queueHold(keyHi: number, keyLo: number): SharedArrayBuffer | number;
  queueSocket(keyHi: number, keyLo: number): number;
  queueSocketAdopt(keyHi: number, keyLo: number, fd: number): number;
  parkBuffer(buffer: ArrayBuffer, keyHi: number, keyLo: number): number;
  unparkBuffer(id: number): ArrayBuffer | null;
  exportParked(keyHi: number, keyLo: number, pid: number): number;
  parkedCount(): number;
  // futex.cc: the word is `view[index]`, `view` an Int32Array over a SharedArrayBuffer
  futexWait(view: Int32Array, index: number, expected: number, timeoutSeconds: number): number;
  futexWake(view: Int32Array, index: number, count: number): number;
  futexWaitAsync(
    view: Int32Array,
    index: number,
    expected: number,
    timeoutSeconds: number,
    callback: (result: number) => void,
  ): void;
  /** How futexWaitAsync sleeps here: an io_uring futex wait (Linux 6.7+) or a helper thread. */
  futexWaitMechanism(): 'io_uring' | 'thread';
  // proc.cc
  gettid(): number;
  isAlive(id: number): boolean;
  setParentDeathSignal(signal: number): number;
  socketPair(): [number, number] | number;
  peerClosed(fd: number): boolean;
  sendFds(socket: number, fds: number[]): number;
  recvFds(socket: number): number[] | number;
  // continuation.cc: absent when the running node has no accessor weft knows
  getContinuationData?: () => unknown;
  /** Returns the value it replaces. */
  setContinuationData?: (value: unknown) => unknown;
  // load.cc (weft load's engine)
  loadCreate(fds: Int32Array, size: number, depth: number, rate: number, uring?: boolean): LoadEngine | number;
  /** Churn: `concurrency` slots that connect to ipv4:port, echo one message, close, again. */
  loadChurn(ipv4: string, port: number, size: number, concurrency: number): LoadEngine | number;
  /**
   * Runs the load for `seconds`: [latencies in µs of the messages completed while measuring, errors so far,
   * connections (churn: slots) that have had a reply or are dead].
   */
  loadRun(engine: LoadEngine, seconds: number, measuring: boolean): [Float64Array, number, number];
  loadErrors(engine: LoadEngine): Record<string, number>;
  loadClose(engine: LoadEngine): void;
  // socket.cc and select.cc add their functions here.
  [name: string]: unknown;
}

/** What weft uses of node-gyp-build (it has no types of its own). */
interface NodeGypBuild {
  /** The file it would load from `dir`: build/Release first, then the best prebuild; throws when there is none. */
  path(dir: string): string;
  parseTuple(name: string): Tuple | undefined;
  matchTuple(platform: string, arch: string): (tuple: Tuple | undefined) => tuple is Tuple;
  compareTuples(a: Tuple, b: Tuple): number;
  parseTags(file: string): Tags | undefined;
  matchTags(runtime: string, abi: string): (tags: Tags | undefined) => tags is Tags;
  compareTags(runtime: string): (a: Tags, b: Tags) => number;
}
/** A `prebuilds/` directory, as `linux-x64`. */
type Tuple = { name: string };
/** A prebuild in it, as `weft.glibc.node`. */
type Tags = { file: string };

const require = createRequire(import.meta.url);

function readdir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The files to try, best first: node-gyp-build's choice, then every prebuild
 * that fits this platform, in node-gyp-build's order (a local build that no
 * longer fits this Node then falls back to the package's prebuild).
 */
function candidates(gypBuild: NodeGypBuild, root: string): string[] {
  const found: string[] = [];
  try {
    found.push(gypBuild.path(root));
  } catch {
    // nothing node-gyp-build would load: the prebuilds below are empty too
  }
  const prebuilds = join(root, 'prebuilds');
  const tuples = readdir(prebuilds)
    .map((name) => gypBuild.parseTuple(name))
    .filter(gypBuild.matchTuple(process.platform, arch()))
    .sort(gypBuild.compareTuples);
  for (const tuple of tuples) {
    const dir = join(prebuilds, tuple.name);
    const files = readdir(dir)
      .map((file) => gypBuild.parseTags(file))
      .filter(gypBuild.matchTags('node', process.versions.modules))
      .sort(gypBuild.compareTags('node'));
    for (const tags of files) found.push(join(dir, tags.file));
  }
  return [...new Set(found)];
}

/** dlopen()s one addon file (RTLD_NOW: see the module's comment). */
function open(file: string): NativeAddon {
  const module = { exports: {} as NativeAddon };
  process.dlopen(module, file, constants.dlopen.RTLD_NOW);
  return module.exports;
}

/**
 * Loads weft's addon from the package at `root`: the first candidate that
 * loads wins. Internal; exported for weft's tests.
 * @throws {Error} when none loads (its `cause` lists each file and why).
 */
export function loadAddon(root: string): NativeAddon {
  return findAddon(root).addon;
}

function findAddon(root: string): { addon: NativeAddon; file: string } {
  if (process.platform !== 'linux') {
    throw new Error(`weft needs Linux (memfd, futex, epoll); this is ${process.platform}`);
  }
  const gypBuild = require('node-gyp-build') as NodeGypBuild;
  const failures: Error[] = [];
  for (const file of candidates(gypBuild, root)) {
    try {
      return { addon: open(file), file };
    } catch (err) {
      failures.push(new Error(`${file}: ${(err as Error).message}`, { cause: err }));
    }
  }
  const tried = failures.length === 0 ? 'none was found' : failures.map((e) => e.message.split('\n')[0]).join('; ');
  throw new Error(
    `weft: no prebuilt addon for ${process.platform}-${arch()} fits Node ${process.version} (${tried}); ` +
      'build it with `npm rebuild weft` (needs g++, make and python3: e.g. `apt-get install -y g++ make python3`)',
    { cause: new AggregateError(failures, `tried ${failures.length} files under ${root}`) },
  );
}

/**
 * The environment variable in which a starter hands its children the addon
 * file it loaded. A child runs the same Node, so that file fits; loading it
 * straight away skips node-gyp-build and the search (~3.5 ms of every
 * process or thread start on Node 20). A file that fails to load there is
 * ignored: the search runs as in any process.
 */
export const ADDON_ENV = 'WEFT_ADDON_FILE';

function loadHere(): { addon: NativeAddon; file: string } {
  const handed = process.env[ADDON_ENV];
  if (handed !== undefined && process.platform === 'linux') {
    try {
      return { addon: open(handed), file: handed };
    } catch {
      // not loadable here after all (moved, another Node): search as usual
    }
  }
  return findAddon(addonRoot);
}

const loaded = loadHere();

/** The file the addon was loaded from in this thread (what a starter puts in {@link ADDON_ENV} for its children). */
export const addonFile: string = loaded.file;

/** The loaded addon, shared by every module of this realm. */
export const native: NativeAddon = loaded.addon;
