/**
 * `weft client`: the seed's `>>:` prompt client for any echo server. Each
 * line read is sent (without its newline, as the seed's client sent it) and
 * the reply, as many bytes as were sent, is printed on a line of its own.
 * With stdin piped it sends every line and exits at the end of input. No
 * Python twin (the seed's client is a dozen lines of `socket`).
 * @module
 */
import { writeSync } from 'node:fs';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import { createConnection, type socket } from '../io/socket.js';
import { ConnectionRefusedError, OSError, TimeoutError, gaierror } from '../errors.js';
import { CommandError, type Command } from './commands.js';

const help = `Usage: weft client [--host HOST] [--port PORT]

Connect to an echo server (\`weft serve\`, the seed's servers, any other), send
each line typed at the >>: prompt and print the reply. With stdin piped, every
line is sent in turn and the client exits at the end of input. Empty lines are
skipped (an echo server has nothing to answer).

  --host HOST      server host (default 127.0.0.1)
  --port PORT      server port, 1-65535 (default 5566, weft serve's)
  --timeout S      seconds to wait for a reply (default 10)

Exit status: 0 every line was answered; 1 the server could not be reached,
closed the connection or did not answer in time (one line that says why);
2 bad usage.`;

/** The `weft client` subcommand. */
export const command: Command = {
  summary: "the seed's >>: prompt client: send lines to an echo server, print its replies",
  help,
  run: runCommand,
};

async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '5566' },
      timeout: { type: 'string', default: '10' },
    },
  });
  const host = values.host!;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`--port must be an integer from 1 to 65535, got ${values.port}`);
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new RangeError(`--timeout must be a positive number of seconds, got ${values.timeout}`);
  const where = `${host}:${port}`;
  const sock = connectOrSay(host, port, timeout, {
    refused: 'is the server running? `weft serve --model epoll` starts one',
    tooManyFiles: 'raise the limit on open files (ulimit -n)',
  });
  sock.setTimeout(timeout);
  const interactive = process.stdin.isTTY === true;
  const rl = readline.createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
  // A last line without its newline arrives as the input closes: no prompt after it (Node 22+ throws on a closed readline).
  let closed = false;
  rl.once('close', () => (closed = true));
  const prompt = (): void => {
    if (interactive && !closed) rl.prompt();
  };
  try {
    rl.setPrompt('>>:');
    prompt();
    for await (const line of rl) {
      if (line.length > 0) writeSync(1, Buffer.concat([exchange(sock, Buffer.from(line, 'utf8'), where), Buffer.from('\n')]));
      prompt();
    }
  } finally {
    rl.close();
    sock.close();
  }
  if (interactive) writeSync(1, '\n');
  return 0;
}

/** Send `data` and read back as many bytes, or a CommandError that says what went wrong. */
function exchange(sock: socket, data: Buffer, where: string): Buffer {
  const reply = Buffer.alloc(data.length);
  try {
    sock.sendAll(data);
    for (let got = 0; got < reply.length; ) {
      const n = sock.recvInto(reply.subarray(got));
      if (n === 0) throw new CommandError(`${where} closed the connection after ${got} of ${reply.length} bytes of a reply`, 'is it an echo server, and did it stop?');
      got += n;
    }
  } catch (err) {
    if (err instanceof TimeoutError) throw new CommandError(`${where} did not answer in time`, 'is it an echo server? raise --timeout for a slow one', { cause: err });
    if (err instanceof OSError) throw new CommandError(`lost the connection to ${where}: ${err.strerror.toLowerCase()}`, 'did the server stop?', { cause: err });
    throw err;
  }
  return reply;
}

/**
 * A connection (connect() waits at most `timeout` seconds), or a
 * {@link CommandError} that says in one line why there is none and what to
 * check: `hints.refused` for a refused connection, `hints.tooManyFiles` for
 * EMFILE/ENFILE. weft load's too.
 */
export function connectOrSay(host: string, port: number, timeout: number, hints: { refused: string; tooManyFiles: string }): socket {
  try {
    return createConnection([host, port], timeout);
  } catch (err) {
    if (!(err instanceof OSError)) throw err;
    const hint =
      err instanceof gaierror
        ? 'is --host a name or address this machine can resolve?'
        : err instanceof ConnectionRefusedError
          ? hints.refused
          : err.errno === 24 || err.errno === 23 // EMFILE, ENFILE
            ? hints.tooManyFiles
            : 'is the server reachable from here, and is the port right?';
    throw new CommandError(`cannot connect to ${host}:${port}: ${err.strerror.toLowerCase()}`, hint, { cause: err });
  }
}
