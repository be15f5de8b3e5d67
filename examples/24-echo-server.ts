// Seed: 2. Coroutines — socket server on greenlets (port 5566, one greenlet per connection) and its `>>:` client
/**
 * The seed's gevent socket server: one greenlet per connection echoes what
 * it receives and prints `recv: ...`; errors print in red; the connection is
 * always closed. The seed's client sends each line typed at `>>:` and prints
 * `Recv: b'...'`.
 *
 *   node dist/examples/24-echo-server.js           server + client typing on stdin
 *   node dist/examples/24-echo-server.js server    only the server (Ctrl-C stops it)
 *   node dist/examples/24-echo-server.js client    only the client
 *
 * Port 5566 as in the seed (WEFT_PORT overrides; under `weft tour` any free
 * port if 5566 is taken, and the client's lines are scripted). Binds
 * 127.0.0.1 (WEFT_HOST overrides; the seed used 0.0.0.0).
 */
import * as readline from 'node:readline/promises';
import { type Address, CoroSocket, StreamServer } from 'weft/coro';
import { bytesRepr } from './lib/coro-bytes.js';

const tour = Boolean(process.env.WEFT_TOUR);
const host = process.env.WEFT_HOST ?? '127.0.0.1';
const red = (s: string): string => (process.stdout.isTTY ? `\x1b[31;1m${s}\x1b[0m` : s);

async function handleRequest(conn: CoroSocket, address: Address): Promise<void> {
  void address;
  try {
    for (;;) {
      const data = await conn.recv(1024);
      console.log('recv:', data.toString());
      if (data.length === 0) {
        conn.shutdown(); // the peer is done; (the seed kept looping here)
        break;
      }
      await conn.send(data);
    }
  } catch (e) {
    console.log(red('err'), e instanceof Error ? e.message : e);
  } finally {
    conn.close();
  }
}

async function server(port: number): Promise<StreamServer> {
  const s = new StreamServer([host, port], handleRequest, { backlog: 500 });
  try {
    await s.start();
  } catch (e) {
    if (!tour || (e as { code?: string }).code !== 'EADDRINUSE') throw e;
    return server(0); // under `weft tour`, any free port will do
  }
  console.log(`serving on ${s.address[0]}:${s.address[1]}`);
  return s;
}

async function client(port: number, lines: AsyncIterable<string> | Iterable<string>): Promise<void> {
  const s = await CoroSocket.connect([host === '0.0.0.0' ? '127.0.0.1' : host, port]);
  try {
    for await (const line of lines) {
      if (!line) continue; // the seed's client would wait forever on an empty line
      await s.sendAll(Buffer.from(line, 'utf8'));
      const data = await s.recv(1024);
      console.log('Recv:', bytesRepr(data));
    }
  } finally {
    s.close();
  }
}

/** Lines typed at the `>>:` prompt, or the scripted ones (echoed after the prompt). */
async function* prompt(): AsyncGenerator<string> {
  if (tour) {
    for (const line of ['hello', 'gevent', '协程']) {
      console.log(`>>:${line}`);
      yield line;
    }
    return;
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    for (;;) {
      const line = await rl.question('>>:').catch(() => undefined);
      if (line === undefined) return;
      yield line;
    }
  } finally {
    rl.close();
  }
}

const port = Number(process.env.WEFT_PORT ?? 5566);
const mode = tour ? 'both' : (process.argv[2] ?? 'both');
if (mode === 'server') {
  const s = await server(port);
  process.once('SIGINT', () => void s.stop());
  await s.serveForever();
} else if (mode === 'client') {
  await client(port, prompt());
} else {
  const s = await server(port);
  try {
    await client(s.address[1], prompt());
  } finally {
    await s.stop();
  }
}
