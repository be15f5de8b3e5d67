// `weft fetch -o`: bodies stream to disk (memory bounded by chunks, not by the file), under a temporary
// name renamed on completion, so a run killed midway leaves no truncated file under the final name.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const MB = 1024 * 1024;

/** Serve `total` bytes of 'x' in 64 KiB writes that respect backpressure; `stallAfter`: stop sending after that many. */
async function serve(total: number, stallAfter = Infinity): Promise<{ url: string; close: () => void }> {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const open = new Set<ServerResponse>();
  const server = createServer(async (_, res) => {
    open.add(res);
    res.setHeader('content-length', total);
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (sent >= stallAfter) return; // hold the connection open, mid-body
      if (!res.write(chunk)) await once(res, 'drain');
    }
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/file.bin`,
    close: () => {
      for (const res of open) res.destroy();
      server.close();
    },
  };
}

/** Run `weft fetch`, sampling its peak RSS (VmHWM) until it exits; `onSample` may kill it. */
async function fetchWatched(args: string[], onSample?: (pid: number) => boolean): Promise<{ code: number | null; signal: string | null; peakMB: number; stderr: string }> {
  const child = spawn(process.execPath, [cli, 'fetch', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      // exited between samples
    }
    if (onSample?.(child.pid!)) child.kill('SIGKILL');
  }, 10);
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearInterval(sampler);
  clearTimeout(deadline);
  return { code, signal, peakMB: peak / 1024, stderr };
}

test('a body larger than the memory weft fetch uses is saved whole, in chunks', async () => {
  const size = 200 * MB;
  const srv = await serve(size);
  const dir = mkdtempSync(join(tmpdir(), 'weft-fetch-'));
  try {
    const r = await fetchWatched(['-q', '-o', dir, srv.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(dir), ['127.0.0.1_' + new URL(srv.url).port + '_file.bin']);
    assert.equal(statSync(join(dir, readdirSync(dir)[0]!)).size, size);
    // Held in memory, a 200 MiB body took over 600 MiB here; streamed, the whole process stays under the file's size.
    assert.ok(r.peakMB < 200, `peak RSS ${r.peakMB.toFixed(0)} MiB for a 200 MiB body`);
  } finally {
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run killed midway leaves no file under the final name', async () => {
  const srv = await serve(64 * MB, 4 * MB);
  const dir = mkdtempSync(join(tmpdir(), 'weft-fetch-'));
  try {
    let sawPart = false;
    const r = await fetchWatched(['-q', '-o', dir, srv.url], () => {
      // Kill once a temporary file holds part of the body.
      const part = readdirSync(dir).find((f) => f.endsWith('.part'));
      sawPart = part !== undefined && statSync(join(dir, part)).size > 0;
      return sawPart;
    });
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(sawPart, 'no partial file appeared before the kill');
    assert.deepEqual(readdirSync(dir).filter((f) => !f.endsWith('.part')), [], 'a truncated file has the final name');
  } finally {
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a body cut off midway is reported and leaves neither the file nor its temporary', async () => {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const server = createServer(async (_, res) => {
    res.setHeader('content-length', 8 * MB);
    for (let i = 0; i < 16; i++) if (!res.write(chunk)) await once(res, 'drain');
    res.destroy(); // 1 MiB of 8, then the connection drops
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/cut.bin`;
  const dir = mkdtempSync(join(tmpdir(), 'weft-fetch-'));
  try {
    const r = await fetchWatched(['-q', '--retries', '1', '-o', dir, url]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: http:\/\/127\.0\.0\.1:\d+\/cut\.bin: /m);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
