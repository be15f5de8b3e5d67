/**
 * bench/io/c-uring-load.c, the lean C load generator of the echo benchmark:
 * built with cc as bench/io/run.ts builds it, it counts a message only once
 * its echo is back in full, counts a connection the server drops as an error
 * (once), reports its JSON line, and refuses bad arguments naming the bounds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { IoUring } from 'weft/io';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const available = IoUring.available();
const cc = (() => {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Report {
  messagesPerSecond: number;
  cpuUsPerMessage: number;
  latencyUs: { p50: number; p99: number };
  errors: number;
}

let dir = '';
let bin = '';

/** Run the generator (bounded: 10 s); its exit code, stdout and stderr. */
function generate(...args: (string | number)[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(bin, args.map(String), { timeout: 10_000 }, (error, out, err) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, out, err });
    });
  });
}

/** A Node server on loopback that hands each connection to `onConn`; its port. */
async function serve(onConn: (s: Socket) => void): Promise<[Server, number]> {
  const srv = createServer(onConn);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return [srv, (srv.address() as { port: number }).port];
}

describe('c-uring-load (bench/io)', { skip: (!available.ok && available.reason) || (!cc && 'no cc on this machine') }, () => {
  before(() => {
    dir = mkdtempSync(tmpdir() + '/weft-c-load-');
    bin = dir + '/c-uring-load';
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', bin, root + 'bench/io/c-uring-load.c']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('against the weft echo server: messages, latency and CPU, no errors', async () => {
    const server: ChildProcess = spawn(process.execPath, [root + 'dist/bench/io/weft-echo-server.js', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        server.stdout!.on('data', (d) => {
          out += d;
          const m = /ready (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        server.on('exit', (code) => reject(new Error(`the echo server exited with ${code}: ${out}`)));
      });
      const r = await generate(port, 10, 100, 0.1, 0.3);
      assert.equal(r.code, 0, r.err);
      const report = JSON.parse(r.out) as Report;
      assert.equal(report.errors, 0);
      assert.ok(report.messagesPerSecond > 100, `${report.messagesPerSecond} messages/s`);
      assert.ok(report.cpuUsPerMessage > 0);
      assert.ok(report.latencyUs.p50 <= report.latencyUs.p99);
    } finally {
      server.kill('SIGKILL');
    }
  });

  test('a message counts only when its echo is back in full', async () => {
    // Echoes all but the last byte of each 100-byte message.
    const [srv, port] = await serve((s) => s.on('data', (d: Buffer) => s.write(d.subarray(0, d.length - 1))));
    try {
      const r = await generate(port, 4, 100, 0, 0.2);
      assert.equal(r.code, 0, r.err);
      const report = JSON.parse(r.out) as Report;
      assert.equal(report.messagesPerSecond, 0);
      assert.equal(report.errors, 0);
    } finally {
      srv.close();
    }
  });

  test('a connection the server drops is one error', async () => {
    const [srv, port] = await serve((s) => s.destroy());
    try {
      const r = await generate(port, 5, 64, 0, 0.2);
      assert.equal(r.code, 0, r.err);
      const report = JSON.parse(r.out) as Report;
      assert.equal(report.errors, 5);
      assert.equal(report.messagesPerSecond, 0);
    } finally {
      srv.close();
    }
  });

  test('bad arguments: exit 2 with the usage or the bounds', async () => {
    const usage = await generate(1);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /usage: c-uring-load PORT CONNECTIONS SIZE WARMUP_S DURATION_S/);
    const bounds = await generate(1, 0, 64, 0, 1);
    assert.equal(bounds.code, 2);
    assert.match(bounds.err, /CONNECTIONS 1-16384/);
  });
});
