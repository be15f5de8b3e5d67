/**
 * The seed's two servers (examples/30-*, 31-*): their tour mode, and their
 * server mode driven by the seed's Python client, including a client that
 * resets its connection mid-message; and the other way round, the seed's
 * Python selectors server driven by a weft client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SOL_SOCKET, SO_LINGER, createConnection, socket } from 'weft/io';
import { openFds } from './helpers.js';

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
    child.on('exit', (code) => {
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

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A client that sends half a message and then resets the connection (SO_LINGER 0 forces RST). */
function resetMidMessage(port: number): void {
  const s = createConnection(['127.0.0.1', port], 5);
  s.send(Buffer.from('half a mess'));
  s.setSockOpt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  s.close();
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
      const code = await new Promise((r) => (srv.child.exitCode !== null ? r(srv.child.exitCode) : srv.child.on('exit', r)));
      assert.equal(code, 0);
      assert.match(srv.output(), /echoing b'from weft' to <socket\.socket/);
      assert.equal(srv.output().match(/^closing /gm)?.length, 2);
    } finally {
      await stop(srv.child);
    }
  });
});
