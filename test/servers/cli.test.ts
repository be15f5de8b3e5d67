// `weft serve` and `weft client` as commands: their help, bad usage (exit 2),
// refusals and failures in one line, plain log lines when not --json, and
// --max-connections closing the connections past it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { IoUring, createServer } from 'weft/io';
import { eventually, runNode } from '../helpers/run.js';
import { noIoUringHelper } from '../io/helpers.js';
import { MODELS, Served, cli, run, weftClient } from './helpers.js';

const uring = IoUring.available();

test('weft --help lists serve and client; each has its own help', async () => {
  const r = await runNode([cli, '--help']);
  assert.match(r.stdout, /^ {2}serve +an echo server/m);
  assert.match(r.stdout, /^ {2}client +the seed's >>: prompt client/m);
  for (const name of ['serve', 'client']) {
    const help = await runNode([cli, name, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: weft ${name}`));
  }
});

test('bad usage exits 2 with one line that names the fix', async () => {
  for (const [args, message] of [
    [['serve'], /^weft serve: --model must be one of process, thread, select, poll, epoll, coro, event, prefork, uring, got none — run `weft serve --help` for the options\n$/],
    [['serve', '--model', 'fork'], /--model must be one of .*, got fork/],
    [['serve', '--model', 'epoll', '--port', '70000'], /--port must be an integer from 0 to 65535, got 70000/],
    [['serve', '--model', 'prefork', '--workers', '0'], /--workers must be an integer from 1 to 1024, got 0/],
    [['serve', '--model', 'epoll', '--max-connections', '0'], /--max-connections must be an integer from 1 to \d+, got 0/],
    [['client', '--port', '0'], /--port must be an integer from 1 to 65535, got 0/],
  ] as const) {
    const r = await runNode([cli, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('a taken port is a failure (exit 1) said in one line', async () => {
  const taken = createServer(['127.0.0.1', 0]);
  try {
    const port = String(taken.getSockName()[1]);
    for (const model of ['epoll', 'event', 'prefork']) {
      const r = await runNode([cli, 'serve', '--model', model, '--port', port]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `weft serve: cannot listen on 127.0.0.1:${port}: address already in use — is another server on that port? pick another --port (0: any free one)\n`);
    }
  } finally {
    taken.close();
  }
});

describe('--model uring where io_uring is unavailable', () => {
  const noUring = noIoUringHelper();
  test('refuses with the reason and exit 2', async (t) => {
    const helper = noUring.path();
    if (!helper && uring.ok) return t.diagnostic('no C compiler to build the seccomp helper: not checked here');
    const r = helper
      ? await run(helper, [process.execPath, cli, 'serve', '--model', 'uring', '--port', '0'])
      : await runNode([cli, 'serve', '--model', 'uring', '--port', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^weft serve: --model uring cannot run here: io_uring is unavailable: .+ — --model epoll serves without it\n$/);
    if (helper) assert.match(r.stderr, /seccomp/);
  });
});

test('weft client: an unreachable server is one line and exit 1', async () => {
  const closed = createServer(['127.0.0.1', 0]);
  const port = closed.getSockName()[1] as number;
  closed.close();
  const r = await weftClient(port, 'hello\n');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `weft client: cannot connect to 127.0.0.1:${port}: connection refused — is the server running? \`weft serve --model epoll\` starts one\n`);
});

test('weft client: a server that closes mid-reply is one line and exit 1', async () => {
  const server = net.createServer((s) => s.once('data', () => s.end('ab')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const r = await weftClient((server.address() as net.AddressInfo).port, 'hello\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^weft client: 127\.0\.0\.1:\d+ closed the connection after 2 of 5 bytes of a reply — is it an echo server, and did it stop\?\n$/);
  } finally {
    server.close();
  }
});

test('without --json: a plain line when listening, log lines on stderr, the summary at the stop', async () => {
  const child = spawn(process.execPath, [cli, 'serve', '--model', 'epoll', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit');
  try {
    await eventually(() => stdout.includes('\n'), 30, 'the listening line');
    const m = /^weft serve: epoll echo server on 127\.0\.0\.1:(\d+), pid (\d+)\n$/.exec(stdout);
    assert.ok(m, stdout);
    assert.equal(Number(m[2]), child.pid);
    const r = await weftClient(Number(m[1]), 'one\ntwo\n');
    assert.equal(r.stdout, 'one\ntwo\n');
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = await exited;
  assert.equal(code, 0, stderr);
  assert.match(stdout.split('\n')[1]!, /^weft serve: stopped after [\d.]+ s: 1 connections, 2 messages, 6 bytes echoed$/);
  assert.equal(stderr, 'weft serve: stopping: answering what was received (a second signal stops at once)\n');
});

for (const model of MODELS) {
  test(`--model ${model} --max-connections 2 closes a third connection at once and serves the two`, async (t) => {
    if (model === 'uring' && !uring.ok) return t.diagnostic(`io_uring is unavailable here (${uring.reason})`);
    const server = await Served.start(model, ['--max-connections', '2', ...(model === 'prefork' ? ['--workers', '2'] : [])]);
    const open = async (): Promise<net.Socket> => {
      const s = net.connect(server.port, '127.0.0.1');
      await once(s, 'connect');
      return s;
    };
    const echo = async (s: net.Socket, text: string): Promise<string> => {
      s.write(text);
      return String((await once(s, 'data'))[0]);
    };
    const [a, b] = [await open(), await open()];
    try {
      assert.equal(await echo(a, 'a'), 'a');
      assert.equal(await echo(b, 'b'), 'b');
      const c = await open();
      const answer = new Promise<string | null>((resolve) => {
        c.on('data', (d) => resolve(String(d)));
        c.on('error', () => {}); // closed unread: a reset
        c.on('close', () => resolve(null));
      });
      c.write('c');
      assert.equal(await answer, null, 'the third connection is closed without an answer');
      assert.equal(await echo(a, 'still'), 'still');
    } finally {
      a.destroy();
      b.destroy();
    }
    const end = await server.stop();
    assert.equal(end.code, 0, end.stderr);
    assert.equal(end.stopped?.connections, 2);
  });
}
