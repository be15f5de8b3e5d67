/**
 * `weft serve --model M`: one of the lecture's server designs as an echo
 * server a person can start (src/servers/), with a live line on a terminal,
 * plain lines in a pipe, JSON lines for programs (`weft bench servers`), and
 * a graceful stop on SIGINT or SIGTERM. No Python twin.
 * @module
 */
import { readFileSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OSError } from '../errors.js';
import { MODELS, type EchoServer, type Model, type ServerStats, Unavailable, serve } from '../servers/index.js';
import { CommandError, type Command } from './commands.js';

const help = `Usage: weft serve --model MODEL [options]

An echo server built the way the lecture's designs are (replies upper-cased
with --upper, as the seed's select server):

  process   a process per connection (the socket handed to a child)
  thread    a worker thread per connection
  select    one thread, a select() loop (fds >= 1024 are refused, one log line each)
  poll      one thread, a poll() loop
  epoll     one thread, an epoll loop
  coro      a greenlet per connection (weft/coro's StreamServer)
  event     Node's net module (libuv), the baseline
  prefork   --workers processes, each an epoll loop on the port (SO_REUSEPORT)
  uring     io_uring completions (weft/io's Proactor), where the kernel allows

  --model MODEL          one of the above (required)
  --host HOST            address to bind (default 127.0.0.1)
  --port PORT            port to bind, 0-65535 (default 5566; 0 picks a free one)
  --workers N            prefork's processes (default: the CPU count)
  --max-connections N    connections served at once; more are closed at once
                         (default: no limit but select's fds)
  --upper                reply upper-cased (ASCII letters)
  --json                 one JSON line on stdout when listening and one when stopped

SIGINT (Ctrl-C) or SIGTERM stops it gracefully: no new connections, what was
received is answered, then a summary; a second signal stops it at once. No
child process or thread outlives it, also when it is killed with SIGKILL.

  {"event":"listening","model":"epoll","host":"127.0.0.1","port":40123,"pid":123,"pids":[123]}
  {"event":"stopped","connections":2,"messages":10,"bytes":1000,"seconds":3.2}

Exit status: 0 stopped by a signal; 1 the server failed (the port is taken...);
2 bad usage, or a model this machine cannot run (uring without io_uring).`;

/** The `weft serve` subcommand. */
export const command: Command = {
  summary: 'an echo server of one design: process, thread, select, poll, epoll, coro, event, prefork, uring',
  help,
  run: runCommand,
};

function integer(name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`--${name} must be an integer from ${min} to ${max}, got ${text}`);
  return v;
}

async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5566' },
      workers: { type: 'string' },
      'max-connections': { type: 'string' },
      upper: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const model = values.model as Model | undefined;
  if (model === undefined || !MODELS.includes(model)) {
    throw new RangeError(`--model must be one of ${MODELS.join(', ')}, got ${model ?? 'none'}`);
  }
  const json = values.json!;
  const out = (line: string): void => void writeSync(1, `${line}\n`);
  const live = !json && process.stdout.isTTY;
  const log = (line: string): void => {
    if (live) writeSync(1, '\r\x1b[K');
    writeSync(2, `weft serve: ${line}\n`);
  };
  const server = await start(model, values.host!, {
    port: integer('port', values.port, 0, 65535)!,
    workers: integer('workers', values.workers, 1, 1024),
    maxConnections: integer('max-connections', values['max-connections'], 1),
    upper: values.upper!,
    log,
  });
  const started = performance.now();
  const pids = server.pids();
  if (json) out(JSON.stringify({ event: 'listening', model, host: server.host, port: server.port, pid: process.pid, pids }));
  else out(`weft serve: ${model} echo server on ${server.host}:${server.port}, pid ${pids.join(', ')}${live ? ' (Ctrl-C stops it)' : ''}`);

  const meter = live ? new LiveLine(server) : undefined;
  const summary = (stats: ServerStats): string => {
    const seconds = Math.round((performance.now() - started) / 10) / 100;
    if (json) return JSON.stringify({ event: 'stopped', connections: stats.connections, messages: stats.messages, bytes: stats.bytes, seconds });
    const refused = stats.refused ? `, ${stats.refused} refused` : '';
    return `weft serve: stopped after ${seconds} s: ${stats.connections} connections${refused}, ${stats.messages} messages, ${stats.bytes} bytes echoed`;
  };

  let signals = 0;
  const stopped = new Promise<ServerStats>((resolve, reject) => {
    const onSignal = (): void => {
      if (++signals === 1) {
        if (!json) log('stopping: answering what was received (a second signal stops at once)');
        server.stop().then(resolve, reject);
        return;
      }
      // At once: what was counted is reported, and exiting ends every child (they die with this process).
      meter?.close();
      out(summary(server.stats()));
      process.exit(0);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  // A server that fails while serving (not a stop) is a runtime failure: exit 1 with its message.
  const failed = server.done.then(() => new Promise<never>(() => {}));
  const stats = await Promise.race([stopped, failed]);
  meter?.close();
  out(summary(stats));
  // Children weft keeps booted ahead (and their timers) would hold the process a few seconds more.
  process.exit(0);
}

/** What Node's `net` says when listen() fails, as strerror says it for weft/io's sockets. */
const NODE_LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ENOTFOUND: 'name or service not known',
};

/** The server, or a CommandError that says in one line why there is none. */
async function start(model: Model, host: string, options: Omit<Parameters<typeof serve>[0], 'model' | 'host'>): Promise<EchoServer> {
  try {
    return await serve({ model, host, ...options });
  } catch (err) {
    if (err instanceof Unavailable) {
      throw new CommandError(`--model uring cannot run here: ${err.message}`, '--model epoll serves without it', { cause: err, exitCode: 2 });
    }
    // weft/io's OSError, or Node's own error for the event model (its code, no strerror).
    const code = (err as { code?: unknown }).code;
    const why = err instanceof OSError ? err.strerror.toLowerCase() : typeof code === 'string' ? NODE_LISTEN_ERRORS[code] : undefined;
    if (why !== undefined) {
      const hint =
        code === 'EADDRINUSE'
          ? 'is another server on that port? pick another --port (0: any free one)'
          : 'is --host an address of this machine, and may this user bind that port?';
      throw new CommandError(`cannot listen on ${host}:${options.port}: ${why}`, hint, { cause: err });
    }
    throw err;
  }
}

/** The terminal's live line: connections, messages/s and the CPU of every serving process, once a second. */
class LiveLine {
  readonly #timer: NodeJS.Timeout;
  #messages = 0;
  #cpu = 0;
  #at = performance.now();

  constructor(private readonly server: EchoServer) {
    this.#cpu = cpuTicks(server.pids());
    this.#timer = setInterval(() => this.#draw(), 1000);
    this.#timer.unref();
  }

  #draw(): void {
    const now = performance.now();
    const seconds = (now - this.#at) / 1000;
    const stats = this.server.stats();
    const cpu = cpuTicks(this.server.pids());
    const rate = (stats.messages - this.#messages) / seconds;
    const percent = (cpu - this.#cpu) / seconds; // ticks are 1/100 s: per second, a percentage of one core
    [this.#at, this.#messages, this.#cpu] = [now, stats.messages, cpu];
    const line = `  ${stats.active} open, ${stats.connections} served  ${Math.round(rate).toLocaleString('en-US')} msgs/s  CPU ${Math.round(percent)}%`;
    writeSync(1, `\r\x1b[K${line}`);
  }

  close(): void {
    clearInterval(this.#timer);
    writeSync(1, '\r\x1b[K');
  }
}

/**
 * CPU time used so far by `pids` (user + system, in clock ticks of 1/100 s,
 * from /proc/PID/stat: fields 14 and 15, counted after the command name,
 * which may hold spaces). A process that is gone counts 0.
 */
function cpuTicks(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks;
}
