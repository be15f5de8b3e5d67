/**
 * examples/32-proactor-server.ts, the proactor twin of the seed's selectors
 * server: its tour mode, the seed's Python client against it (a reset
 * mid-message included), and its refusal, with the reason, where a seccomp
 * filter forbids io_uring.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IoUring, SOL_SOCKET, SO_LINGER, createConnection } from 'weft/io';
import { noIoUringHelper } from './helpers.js';

const example = fileURLToPath(new URL('../../examples/32-proactor-server.js', import.meta.url));
const fixtures = fileURLToPath(new URL('../../../test/io/fixtures/', import.meta.url));
const available = IoUring.available();

/** Run a program to completion (bounded: 20 s), collecting its output. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    child.stdin.end(opts.input ?? '');
  });
}

function startServer(): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [example, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no port in 10 s: ${out}`)), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on localhost port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
  });
}

describe('examples: the proactor twin of the seed selectors server (32)', () => {
  if (!available.ok) {
    test(`io_uring is unavailable here (${available.reason}): the example refuses with that reason`, async () => {
      const r = await run(process.execPath, [example]);
      assert.equal(r.code, 2);
      assert.ok(r.err.includes(available.reason), r.err);
    });
    return;
  }

  test('tour mode echoes for two scripted clients and exits 0', async () => {
    const { code, out, err } = await run(process.execPath, [example], { env: { WEFT_TOUR: '1' } });
    assert.equal(code, 0, out + err);
    assert.match(out, /^c1 Recv: hello$/m);
    assert.match(out, /^c1 Recv: proactor$/m);
    assert.match(out, /^c2 Recv: echo me$/m);
    assert.match(out, /^echoing b'hello' to <socket\.socket fd=\d+, family=AF_INET, type=SOCK_STREAM/m);
    assert.match(out, /^accepted <socket\.socket .*> from \('127\.0\.0\.1', \d+\)$/m);
    assert.equal(out.match(/^closing /gm)?.length, 2);
  });

  test('serves the seed Python client, survives a reset mid-message, and serves again', async () => {
    const srv = await startServer();
    try {
      const seedClient = (lines: string[]) =>
        run('/usr/bin/python3', [fixtures + 'seed_client.py', String(srv.port)], { input: lines.join('\n') + '\n' });
      let r = await seedClient(['hello', 'echo']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Recv: hello\n/);
      assert.match(r.out, /Recv: echo\n/);
      const s = createConnection(['127.0.0.1', srv.port], 5);
      s.send(Buffer.from('half a mess'));
      s.setSockOpt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
      s.close();
      r = await seedClient(['again']);
      assert.match(r.out, /Recv: again\n/);
      assert.equal(srv.child.exitCode, null, 'the server is still running');
    } finally {
      srv.child.kill('SIGTERM');
    }
  });

  describe('under a seccomp filter that forbids io_uring', () => {
    const noUring = noIoUringHelper();

    test('the example refuses with the reason and status 2', async () => {
      const helper = noUring.path();
      if (!helper) return;
      const r = await run(helper, [process.execPath, example]);
      assert.equal(r.code, 2, r.out + r.err);
      assert.match(r.err, /^io_uring unavailable: a seccomp filter forbids io_uring_setup/);
    });
  });
});
