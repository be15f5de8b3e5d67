/**
 * `WEFT_INSPECT=1`: a running program answers `weft top` through a Unix
 * socket. No Python twin: CPython's multiprocessing offers no view of a
 * running program's pools and queues from outside it (one attaches a debugger
 * or py-spy); this is Node's `--inspect` in spirit, but for weft's objects.
 *
 * With the variable unset nothing here runs: {@link inspection} is null and a
 * Pool, Queue or Manager pays one `?.` at its construction. Set (to `1`, or to
 * a socket path), the main thread of the program's main process — never a
 * weft child, which inherits the variable — listens on
 * `$XDG_RUNTIME_DIR/weft-inspect-PID.sock` (`os.tmpdir()` without it), mode
 * 0600, and removes it at exit. The listener and its connections are unref'd:
 * inspection never keeps a program alive. Objects are held through `WeakRef`s
 * (a FinalizationRegistry drops their entries), so inspection never keeps a
 * pool alive either.
 *
 * The protocol is one line each way: `snapshot\n` asks, one line of JSON
 * ({@link Snapshot}) answers; a connection may ask again (`weft top` keeps one).
 * @module
 */
import { chmodSync, readdirSync, unlinkSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debugLog } from './debug.js';
import { lazy } from './lazy.js';
import { isMainThread } from './multiprocessing/util.js';

/** The method an inspectable object answers a snapshot with (its part of {@link Snapshot}). */
export const describe = Symbol('weft.describe');

/** What the registry holds: an object that can describe itself, now or after a round trip (a manager). */
export interface Inspectable {
  [describe](): unknown;
}

/** The kinds of object a snapshot lists. */
export type Kind = 'pools' | 'queues' | 'managers';

/** One worker of a pool, as a snapshot shows it. */
export interface WorkerSnapshot {
  pid: number;
  name: string;
  /** `busy` (holds tasks), `idle`, `stopping` (told to exit) or `exited`. */
  state: 'busy' | 'idle' | 'stopping' | 'exited';
  /** Tasks it holds now (sent, not finished). */
  held: number;
  tasksDone: number;
  busySeconds: number;
  utilization: number;
}

/** One pool. `stats` is `pool.stats()` without its per-worker list (which `workers` extends). */
export interface PoolSnapshot {
  id: number;
  name: string;
  context: string;
  state: 'RUN' | 'CLOSE' | 'TERMINATE';
  maxWorkers: number;
  workers: WorkerSnapshot[];
  stats: {
    queued: number;
    running: number;
    completed: number;
    failed: number;
    utilization: number;
    waitTime: { count: number; mean: number; p50: number; p90: number; p99: number; max: number };
    runTime: { count: number; mean: number; p50: number; p90: number; p99: number; max: number };
    queueLastMinute: number[];
  };
}

/** One queue this program created. `puts`/`gets` count every process's, as the ring does (32 bits, wrapping). */
export interface QueueSnapshot {
  id: number;
  kind: string;
  maxsize: number;
  capacity: number;
  qsize: number;
  puts: number;
  gets: number;
  /** Messages this process put that wait in its local buffer for room in the ring. */
  buffered: number;
  closed: boolean;
}

/** One manager: started here (`pid` its server's) or connected to; `stats` as `manager.stats()`, or `error`. */
export interface ManagerSnapshot {
  id: number;
  address: string;
  started: boolean;
  pid: number | null;
  stats: { objects: number; connections: number; refs: number; calls: number; pid: number } | null;
  error?: string;
}

/** What a program answers `weft top` with. */
export interface Snapshot {
  pid: number;
  title: string;
  argv: string[];
  node: string;
  /** ISO time of the snapshot. */
  time: string;
  uptime: number;
  /** Seconds of CPU this process used (user, system), for rates between snapshots. */
  cpu: { user: number; system: number };
  memory: { rss: number; heapUsed: number };
  pools: PoolSnapshot[];
  queues: QueueSnapshot[];
  managers: ManagerSnapshot[];
}

/** The file name of a program's socket in {@link inspectDir}. */
const SOCKET_NAME = /^weft-inspect-(\d+)\.sock$/;
/** How long a snapshot waits for a manager's server to answer. */
const MANAGER_TIMEOUT_MS = 1000;

const log = debugLog('inspect');

/** Where programs put their sockets: `$XDG_RUNTIME_DIR` (private to the user), else the temporary directory. */
export function inspectDir(): string {
  return process.env.XDG_RUNTIME_DIR || tmpdir();
}

/** The socket of program `pid` when WEFT_INSPECT=1. */
export function socketPathFor(pid: number): string {
  return join(inspectDir(), `weft-inspect-${pid}.sock`);
}

/** The socket WEFT_INSPECT asks for: null when unset (or `0`), the default path for `1`, else the path it names. */
function wanted(value: string | undefined): string | null {
  if (!value || value === '0') return null;
  return value === '1' || value.toLowerCase() === 'true' ? socketPathFor(process.pid) : value;
}

interface Entry {
  ref: WeakRef<Inspectable>;
  id: number;
}

/** The objects a snapshot lists, held weakly, by kind in creation order. */
export class Registry {
  readonly #entries: Record<Kind, Set<Entry>> = { pools: new Set(), queues: new Set(), managers: new Set() };
  readonly #ids: Record<Kind, number> = { pools: 0, queues: 0, managers: 0 };
  readonly #gone = new FinalizationRegistry<{ kind: Kind; entry: Entry }>(({ kind, entry }) => this.#entries[kind].delete(entry));

  constructor(readonly path: string) {}

  /** Lists `obj` under `kind` for as long as something else keeps it alive. */
  track(kind: Kind, obj: Inspectable): void {
    const entry = { ref: new WeakRef(obj), id: ++this.#ids[kind] };
    this.#entries[kind].add(entry);
    this.#gone.register(obj, { kind, entry });
  }

  /** The live objects of `kind` with their ids. */
  live(kind: Kind): { id: number; obj: Inspectable }[] {
    const out = [];
    for (const entry of this.#entries[kind]) {
      const obj = entry.ref.deref();
      if (obj) out.push({ id: entry.id, obj });
    }
    return out;
  }

  /** This program's snapshot: pools and queues read now, managers asked (each within a second). */
  async snapshot(): Promise<Snapshot> {
    const parts = <T>(kind: Kind) => this.live(kind).map(({ id, obj }) => ({ id, ...(obj[describe]() as object) }) as T);
    const managers = await Promise.all(
      this.live('managers').map(async ({ id, obj }) => ({ id, ...(await withTimeout(obj[describe]() as Promise<object>)) }) as ManagerSnapshot),
    );
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    return {
      pid: process.pid,
      title: process.title,
      argv: process.argv.slice(1),
      node: process.version,
      time: new Date().toISOString(),
      uptime: process.uptime(),
      cpu: { user: cpu.user / 1e6, system: cpu.system / 1e6 },
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
      pools: parts<PoolSnapshot>('pools'),
      queues: parts<QueueSnapshot>('queues'),
      managers,
    };
  }
}

/** A manager's part, or its error, within MANAGER_TIMEOUT_MS (a busy or gone server must not stall the view). */
async function withTimeout(part: Promise<object>): Promise<object> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<object>((resolve) => {
    timer = setTimeout(() => resolve({ stats: null, error: `no answer within ${MANAGER_TIMEOUT_MS / 1000} s` }), MANAGER_TIMEOUT_MS);
  });
  try {
    return await Promise.race([part, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Serves snapshots on `registry.path` until the program ends, then removes the socket. */
function listen(registry: Registry): void {
  const path = registry.path;
  try {
    unlinkSync(path); // a socket left by an earlier process with this pid, killed before it could remove it
  } catch {
    // none there
  }
  const server = lazy.net.createServer((sock) => answer(sock, registry));
  server.on('error', (err: Error) => {
    process.stderr.write(`weft: WEFT_INSPECT: cannot listen on ${path}: ${err.message}; weft top will not reach this program\n`);
  });
  // bind() happens inside listen(), synchronously for a Unix socket: the umask makes it 0600 from birth.
  const mask = process.umask(0o077);
  try {
    server.listen(path);
  } finally {
    process.umask(mask);
  }
  server.unref();
  server.once('listening', () => {
    try {
      chmodSync(path, 0o600); // in case the file system ignored the umask
    } catch {
      // removed already: the program is ending
    }
    log?.('listening on %s', path);
  });
  const remove = () => {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  process.on('exit', remove);
  // A signal nobody else handles kills without 'exit': remove the socket, then die of the signal as before.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      if (process.listenerCount(signal) > 1) return; // the program handles it; its process.exit() runs 'exit'
      process.removeListener(signal, onSignal);
      remove();
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Answers each `snapshot` line of one connection with a line of JSON. */
function answer(sock: net.Socket, registry: Registry): void {
  sock.unref();
  sock.setEncoding('utf8');
  sock.on('error', () => sock.destroy());
  let buffered = '';
  sock.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const request = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      const reply =
        request === 'snapshot'
          ? registry.snapshot().then((s) => JSON.stringify(s), (err: unknown) => JSON.stringify({ error: String(err) }))
          : Promise.resolve(JSON.stringify({ error: `unknown request ${JSON.stringify(request.slice(0, 40))}: ask 'snapshot'` }));
      void reply.then((line) => sock.writable && sock.write(line + '\n'));
    }
    if (buffered.length > 4096) sock.destroy(); // no request is that long
  });
}

/**
 * The registry when WEFT_INSPECT asks for one in this realm, else null. Only
 * the main thread of a process weft did not start (a weft child has
 * WEFT_PARENT_PID in its environment from birth) opens a socket.
 */
function start(): Registry | null {
  const path = wanted(process.env.WEFT_INSPECT);
  if (path === null || !isMainThread || process.env.WEFT_PARENT_PID !== undefined) return null;
  const registry = new Registry(path);
  listen(registry);
  return registry;
}

/** Where Pools, Queues and Managers register themselves: null unless WEFT_INSPECT is set (see the module's comment). */
export const inspection: Registry | null = start();

/** An inspectable program found in {@link inspectDir}. */
export interface Program {
  pid: number;
  path: string;
}

/**
 * The programs with a socket in {@link inspectDir}, by pid, leaving out
 * `except` (weft top itself). A socket whose process is gone (killed by
 * SIGKILL, which no handler sees) is removed.
 */
export function listPrograms(except = process.pid): Program[] {
  const dir = inspectDir();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Program[] = [];
  for (const name of names) {
    const m = SOCKET_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === except) continue;
    const path = join(dir, name);
    if (!processExists(pid)) {
      try {
        unlinkSync(path);
      } catch {
        // another user's, or gone already
      }
      continue;
    }
    out.push({ pid, path });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/** True when a process `pid` exists (EPERM: it does, as another user's). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
