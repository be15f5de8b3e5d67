/**
 * `weft top [PID]`: a live view of a running program's pools, queues and
 * managers, read from the socket the program opens with WEFT_INSPECT=1
 * (src/inspect.ts). No Python twin: CPython has no such view; this is `top`
 * for one program's weft objects. The frame itself is drawn by top_view.ts.
 * @module
 */
import { writeSync } from 'node:fs';
import type net from 'node:net';
import { parseArgs } from 'node:util';
import { inspectDir, listPrograms, processExists, socketPathFor, type Snapshot } from '../inspect.js';
import { lazy } from '../lazy.js';
import { CommandError, type Command } from './commands.js';
import { render, renderList } from './top_view.js';

const help = `Usage: weft top [PID] [options]

A live view of a running weft program: its pools (workers, tasks queued,
running and done, wait and run percentiles, utilization), the queues it
created (size, puts and gets) and its managers (clients, objects, calls).

The program must have WEFT_INSPECT=1 in its environment: its main process
then listens on ${'$'}XDG_RUNTIME_DIR/weft-inspect-PID.sock (the temporary
directory without XDG_RUNTIME_DIR), readable by its user only, removed at
exit. Without PID, weft top lists the programs it finds there, or shows the
only one. On a terminal the view refreshes until q or Ctrl-C; into a pipe it
prints one frame.

  --json            print one snapshot as JSON and exit (without PID and with
                    several programs: the list of programs)
  --once            print one frame and exit, also on a terminal
  --interval S      seconds between refreshes (default 1)
  --list            list the inspectable programs, even when there is one
  --socket PATH     the socket of a program started with WEFT_INSPECT=PATH

Exit status: 0 success; 1 the program stopped answering; 2 no such
program (or it was started without WEFT_INSPECT), or bad usage.`;

/** The `weft top` subcommand. */
export const command: Command = {
  summary: "a live view of a running program's pools, queues and managers (WEFT_INSPECT=1)",
  help,
  run: runCommand,
};

const HINT = "set WEFT_INSPECT=1 in the program's environment and start it again";

async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      once: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      interval: { type: 'string', default: '1' },
      socket: { type: 'string' },
    },
  });
  const interval = Number(values.interval);
  if (!(interval >= 0.05 && interval <= 3600)) throw new RangeError(`--interval must be a number of seconds from 0.05 to 3600, got ${values.interval}`);
  if (positionals.length > 1) throw new RangeError(`give at most one PID, got ${positionals.join(' ')}`);
  let path = values.socket;
  let pid: number | null = null;
  if (positionals[0] !== undefined) {
    pid = Number(positionals[0]);
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`PID must be a positive integer, got ${positionals[0]}`);
    path ??= socketPathFor(pid);
  }
  if (path === undefined) {
    const programs = listPrograms();
    if (programs.length === 0) throw new CommandError(`no inspectable weft program found in ${inspectDir()}`, HINT, { exitCode: 2 });
    if (programs.length > 1 || values.list) {
      const found = await Promise.all(programs.map(async (p) => ({ ...p, snapshot: await snapshotOnce(p.path).catch(() => null) })));
      if (values.json) out(JSON.stringify(found.map(({ pid, path, snapshot }) => ({ pid, path, snapshot }))));
      else out(renderList(found));
      return 0;
    }
    path = programs[0]!.path;
    pid = programs[0]!.pid;
  }
  const inspector = await Inspector.open(path, pid);
  try {
    if (values.json) {
      out(JSON.stringify(await inspector.snapshot()));
      return 0;
    }
    if (values.once || !process.stdout.isTTY) {
      out(render(await inspector.snapshot(), null, columns()));
      return 0;
    }
    return await live(inspector, interval);
  } finally {
    inspector.close();
  }
}

const out = (text: string): void => void writeSync(1, `${text}\n`);
// A pipe has no width: its lines are left whole.
const columns = (): number => process.stdout.columns || Infinity;

/** One connection to a program's socket, asking a snapshot at a time. */
class Inspector {
  readonly #sock: net.Socket;
  #buffered = '';
  #waiting: { resolve: (s: Snapshot) => void; reject: (e: Error) => void } | null = null;
  #ended: Error | null = null;

  private constructor(sock: net.Socket, readonly where: string) {
    this.#sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.#buffered += chunk;
      const nl = this.#buffered.indexOf('\n');
      if (nl < 0 || !this.#waiting) return;
      const line = this.#buffered.slice(0, nl);
      this.#buffered = this.#buffered.slice(nl + 1);
      const waiting = this.#waiting;
      this.#waiting = null;
      const reply = JSON.parse(line) as Snapshot & { error?: string };
      if (reply.error !== undefined) waiting.reject(new CommandError(`${where} answered: ${reply.error}`, 'is this weft top as recent as the program\'s weft?'));
      else waiting.resolve(reply);
    });
    const end = () => {
      this.#ended ??= new CommandError(`${where} stopped answering`, 'the program ended or closed its socket');
      this.#waiting?.reject(this.#ended);
      this.#waiting = null;
    };
    sock.on('close', end);
    sock.on('error', end);
  }

  /** Connects, or a CommandError (exit 2) that says the program is not there or not inspectable. */
  static open(path: string, pid: number | null): Promise<Inspector> {
    const where = pid === null ? path : `program ${pid}`;
    return new Promise((resolve, reject) => {
      const sock = lazy.net.createConnection(path);
      sock.once('connect', () => resolve(new Inspector(sock, where)));
      sock.once('error', (err: NodeJS.ErrnoException) => {
        const running = pid === null || processExists(pid);
        const what = !running ? `no process ${pid} is running` : `${where} does not answer on ${path} (${err.code ?? err.message})`;
        reject(new CommandError(what, running ? HINT : 'run `weft top` without a PID to list the inspectable programs', { exitCode: 2, cause: err }));
      });
    });
  }

  snapshot(): Promise<Snapshot> {
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#sock.write('snapshot\n');
    });
  }

  close(): void {
    this.#sock.destroy();
  }
}

/** One snapshot through a connection of its own (for the list of programs). */
async function snapshotOnce(path: string): Promise<Snapshot> {
  const inspector = await Inspector.open(path, null);
  try {
    return await inspector.snapshot();
  } finally {
    inspector.close();
  }
}

// Terminal control (ECMA-48 / xterm): the alternate screen, so the shell's screen comes back as it was.
const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';
const HOME_CLEAR = '\x1b[H\x1b[2J';

/** Refreshes the view every `interval` seconds until q, Ctrl-C, SIGTERM or the program's end; restores the terminal. */
async function live(inspector: Inspector, interval: number): Promise<number> {
  const stdin = process.stdin;
  let stop!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => (stop = resolve));
  const onKey = (key: Buffer) => {
    const k = key.toString();
    if (k === 'q' || k === 'Q' || k === '\x03' || k === '\x1b') stop(0);
  };
  const onSignal = () => stop(0);
  const restore = () => writeSync(1, LEAVE);
  writeSync(1, ENTER);
  process.once('exit', restore); // even if something below throws past the finally
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onKey);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let previous: Snapshot | null = null;
  let failure: unknown = null;
  try {
    for (;;) {
      let snap: Snapshot;
      try {
        snap = await inspector.snapshot();
      } catch (err) {
        failure = err;
        break;
      }
      // libuv's raw mode keeps ONLCR: a \n still returns the carriage.
      writeSync(1, HOME_CLEAR + render(snap, previous, columns(), interval));
      previous = snap;
      let timer: NodeJS.Timeout | undefined;
      const next = await Promise.race([stopped.then((code) => ({ code })), new Promise<null>((r) => (timer = setTimeout(r, interval * 1000, null)))]);
      clearTimeout(timer);
      if (next) return next.code;
    }
  } finally {
    stdin.off('data', onKey);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', restore);
    restore();
  }
  throw failure;
}
