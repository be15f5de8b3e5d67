/**
 * The seed's two servers (examples/30-*, 31-*): their tour mode, and their
 * server mode driven by the seed's Python client, including a client that
 * resets its connection mid-message; and the other way round, the seed's
 * Python selectors server driven by a weft client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { SOL_SOCKET, SO_LINGER, createConnection, socket } from 'weft/io';
import { eventually } from '../helpers/run.js';
import { openFds, sleep } from './helpers.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const fixtures = fileURLToPath(new URL('../../../test/io/fixtures/', import.meta.url));
const PYTHON = '/usr/bin/python3';

let fdsBefore = 0;
before(() => {
  fdsBefore = openFds();
});
after(() => {
  assert.equal(openFds(), fdsBefore, 'the examples suite leaked fds');
});

/** Run a program to completion (bounded), collecting its output. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} ran past 20 s; output so far:\n${out}`));
    }, 20_000);
    // 'close', not 'exit': its stdio pipes are closed by then, so the fd check after the suite finds none left.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Start a long-running server and resolve with it once it printed a line matching `ready` (group 1: the port). */
function startServer(cmd: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    closedOf.set(child, new Promise((r) => child.once('close', (code: number | null) => r(code))));
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    });
  });
}

/**
 * Each server's exit status, once it exited and its stdout pipe is closed ('close', not 'exit': the
 * pipe's fd in this process may outlive the exit for a moment, and the fd check after the suite counts it).
 */
const closedOf = new WeakMap<ChildProcess, Promise<number | null>>();

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await closedOf.get(child);
}

/** A client that sends half a message and then resets the connection (SO_LINGER 0 forces RST). */
function resetMidMessage(port: number): void {
  const s = createConnection(['127.0.0.1', port], 5);
  s.send(Buffer.from('half a mess'));
  s.setSockOpt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  s.close();
}

/**
 * A client that sends without reading until the server stops taking its data
 * (no 'drain' for 1 s); returns it and what it wrote. node:net, so that this
 * process keeps reading the server's output meanwhile.
 */
async function flood(port: number): Promise<{ client: net.Socket; sent: Buffer }> {
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  client.pause(); // never read the replies
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = 0x61 + (i % 26); // a-z: the select server upper-cases them
  let chunks = 0;
  while (chunks < 1024) {
    chunks++;
    if (client.write(chunk)) continue;
    const drained = await Promise.race([once(client, 'drain').then(() => true), sleep(1000).then(() => false)]);
    if (!drained) break;
  }
  assert.ok(chunks < 1024, 'the server never stopped reading from a client that does not read');
  return { client, sent: Buffer.concat(Array<Buffer>(chunks).fill(chunk)) };
}

/** Read `length` bytes back from a flooding client (30 s at most), then close it. */
async function readBack(client: net.Socket, length: number): Promise<Buffer> {
  const got: Buffer[] = [];
  let n = 0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 30_000);
    client.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= length) {
        clearTimeout(timer);
        resolve();
      }
    });
    client.resume();
  });
  client.destroy();
  return Buffer.concat(got);
}

const seedClient = (port: number, lines: string[]) =>
  run(PYTHON, [fixtures + 'seed_client.py', String(port)], { input: lines.join('\n') + '\n' });

describe('examples: the seed select server (30)', () => {
  test('tour mode serves two scripted clients, replies upper-cased, and exits 0', async () => {
    const { code, out } = await run(process.execPath, [examples + '30-select-server.js'], { env: { WEFT_TOUR: '1' } });
    assert.equal(code, 0, out);
    assert.match(out, /^starting up on localhost port \d+$/m);
    assert.match(out, /^c1 Recv: HELLO$/m);
    assert.match(out, /^c1 Recv: SELECT$/m);
    assert.match(out, /^c2 Recv: WEFT IO$/m);
    assert.match(out, /^received data from \[127\.0\.0\.1\]: b'hello'$/m);
    assert.match(out, /^new connection from \('127\.0\.0\.1', \d+\)$/m);
    assert.equal(out.match(/^client disconnected /gm)?.length, 2);
  });

  test('serves the seed Python client, survives a reset mid-message, and serves again', async () => {
    const srv = await startServer(process.execPath, [examples + '30-select-server.js', '--port', '0'], /starting up on localhost port (\d+)/);
    try {
      let r = await seedClient(srv.port, ['hello', 'from python']);
      assert.equal(r.code, 0);
      assert.match(r.out, /Recv: HELLO\n/);
      assert.match(r.out, /Recv: FROM PYTHON\n/);
      resetMidMessage(srv.port);
      r = await seedClient(srv.port, ['still here']);
      assert.match(r.out, /Recv: STILL HERE\n/);
      assert.equal(srv.child.exitCode, null, 'the server is still running');
    } finally {
      await stop(srv.child);
    }
  });

  test('a client that sends without reading gets every reply, the others are served meanwhile', async () => {
    const srv = await startServer(process.execPath, [examples + '30-select-server.js', '--port', '0'], /starting up on localhost port (\d+)/);
    try {
      const { client, sent } = await flood(srv.port);
      const r = await seedClient(srv.port, ['meanwhile']);
      assert.match(r.out, /Recv: MEANWHILE\n/);
      const got = await readBack(client, sent.length);
      assert.equal(got.length, sent.length, 'replies were lost');
      assert.ok(got.equals(Buffer.from(sent.toString('latin1').toUpperCase(), 'latin1')), 'replies were corrupted');
      assert.equal(srv.child.exitCode, null, 'the server is still running');
    } finally {
      await stop(srv.child);
    }
  });

  test('past FD_SETSIZE a newcomer is refused and the server lives on', async () => {
    const srv = await startServer(process.execPath, [examples + '30-select-server.js', '--port', '0'], /starting up on localhost port (\d+)/);
    // node:net clients, so that this process keeps reading the server's output while the crowd connects.
    const clients: net.Socket[] = [];
    const connect = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const c = net.connect(srv.port, '127.0.0.1', () => resolve(c));
        c.once('error', reject);
        clients.push(c);
      });
    const ended = (c: net.Socket): Promise<string> =>
      new Promise((resolve) => {
        let got = '';
        c.on('data', (d) => (got += d));
        c.once('end', () => resolve(got));
        c.once('close', () => resolve(got));
      });
    const bounded = <T>(p: Promise<T>, what: string): Promise<T> =>
      Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} took over 30 s`)), 30_000).unref())]);
    try {
      for (let i = 0; i < 1050; i++) await bounded(connect(), `connection ${i}`);
      assert.equal(await bounded(ended(clients.at(-1)!), 'the refusal'), '', 'the 1,050th client was not refused');
      const first = clients[0]!;
      const reply = bounded(new Promise<string>((resolve) => first.once('data', (d) => resolve(String(d)))), 'a reply');
      first.write('still served');
      assert.equal(await reply, 'STILL SERVED');
      for (const c of clients) c.destroy();
      const r = await seedClient(srv.port, ['after the crowd']);
      assert.match(r.out, /Recv: AFTER THE CROWD\n/);
      // The server printed it before it served anyone after the crowd, but that pipe may be read here a turn
      // after the seed client's exit. (It failed twice in CI for another reason: stdout queued behind the
      // server's blocking select(), which test/io/stdio.test.ts now covers.)
      const refusal = /^refusing \('127\.0\.0\.1', \d+\) : fd \d+ is past select\(\)'s FD_SETSIZE \(1024\)$/m;
      await eventually(() => refusal.test(srv.output()), 10, 'the refusal in the server output').catch(() => {});
      assert.match(srv.output(), refusal);
      assert.equal(srv.child.exitCode, null, 'the server is still running');
    } finally {
      for (const c of clients) c.destroy();
      await stop(srv.child);
    }
  });
});

describe('examples: the seed selectors server (31)', () => {
  test('tour mode echoes for two scripted clients and exits 0', async () => {
    const { code, out } = await run(process.execPath, [examples + '31-selectors-server.js'], { env: { WEFT_TOUR: '1' } });
    assert.equal(code, 0, out);
    assert.match(out, /^c1 Recv: hello$/m);
    assert.match(out, /^c1 Recv: selectors$/m);
    assert.match(out, /^c2 Recv: echo me$/m);
    assert.match(out, /^echoing b'hello' to <socket\.socket fd=\d+, family=AF_INET, type=SOCK_STREAM/m);
    assert.match(out, /^accepted <socket\.socket .*> from \('127\.0\.0\.1', \d+\)$/m);
    assert.equal(out.match(/^closing /gm)?.length, 2);
  });

  test('serves the seed Python client, survives a reset mid-message, and serves again', async () => {
    const srv = await startServer(process.execPath, [examples + '31-selectors-server.js', '--port', '0'], /listening on localhost port (\d+)/);
    try {
      let r = await seedClient(srv.port, ['hello', 'echo']);
      assert.equal(r.code, 0);
      assert.match(r.out, /Recv: hello\n/);
      assert.match(r.out, /Recv: echo\n/);
      resetMidMessage(srv.port);
      r = await seedClient(srv.port, ['again']);
      assert.match(r.out, /Recv: again\n/);
      assert.equal(srv.child.exitCode, null, 'the server is still running');
    } finally {
      await stop(srv.child);
    }
  });

  test('a client that sends without reading gets every byte back, the others are served meanwhile', async () => {
    const srv = await startServer(process.execPath, [examples + '31-selectors-server.js', '--port', '0'], /listening on localhost port (\d+)/);
    try {
      const { client, sent } = await flood(srv.port);
      const r = await seedClient(srv.port, ['meanwhile']);
      assert.match(r.out, /Recv: meanwhile\n/);
      const got = await readBack(client, sent.length);
      assert.equal(got.length, sent.length, 'echoed bytes were lost');
      assert.ok(got.equals(sent), 'echoed bytes were corrupted');
      assert.equal(srv.child.exitCode, null, 'the server is still running');
    } finally {
      await stop(srv.child);
    }
  });
});

describe('interop: a weft client drives the seed Python selectors server', () => {
  test('echo round trips over weft sockets, blocking and with a timeout', async () => {
    const srv = await startServer(PYTHON, [fixtures + 'seed_selectors_server.py', '0', '2'], /^port (\d+)$/m);
    try {
      const a = createConnection(['localhost', srv.port], 5);
      const b = new socket();
      b.connect(['127.0.0.1', srv.port]);
      for (const [s, text] of [[a, 'from weft'], [b, 'second client'], [a, 'again']] as const) {
        s.sendAll(Buffer.from(text));
        let got = '';
        while (got.length < text.length) got += s.recv(1024).toString();
        assert.equal(got, text);
      }
      a.close();
      b.close();
      const code = await closedOf.get(srv.child);
      assert.equal(code, 0);
      assert.match(srv.output(), /echoing b'from weft' to <socket\.socket/);
      assert.equal(srv.output().match(/^closing /gm)?.length, 2);
    } finally {
      await stop(srv.child);
    }
  });
});
