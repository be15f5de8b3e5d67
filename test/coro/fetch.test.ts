import assert from 'node:assert/strict';
import { spawn as spawnProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HTTPError, fetchAll, sleep, spawn, type FetchProgress } from 'weft/coro';
import { ValueError } from 'weft';
import { assertNoLeaks } from './helpers.js';

let server: Server;
let base: string;
let flaky = 0;
let inFlight = 0;
let peak = 0;

before(async () => {
  server = createServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    res.on('close', () => inFlight--);
    const url = req.url ?? '';
    if (url.startsWith('/size/')) {
      const n = Number(url.split('/')[2]);
      setTimeout(() => res.end(Buffer.alloc(n, 'a')), 50);
    } else if (url === '/missing') {
      res.writeHead(404).end('no');
    } else if (url === '/flaky') {
      if (flaky++ < 2) res.writeHead(503).end('busy');
      else res.end('finally');
    } else if (url === '/slow') {
      const timer = setTimeout(() => res.end('late'), 2000);
      res.on('close', () => clearTimeout(timer));
    } else res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await assertNoLeaks();
});

test('fetchAll downloads concurrently within the limit and keeps input order', async () => {
  peak = 0;
  const urls = [100, 2000, 30, 400, 5, 6].map((n) => `${base}/size/${n}`);
  const events: FetchProgress['type'][] = [];
  const results = await fetchAll(urls, { concurrency: 3, onProgress: (e) => events.push(e.type) });
  assert.deepEqual(results.map((r) => r.bytes), [100, 2000, 30, 400, 5, 6]);
  assert.ok(results.every((r) => r.ok && r.status === 200 && r.attempts === 1));
  assert.equal(peak, 3);
  assert.equal(events.filter((t) => t === 'start').length, 6);
  assert.equal(events.filter((t) => t === 'done').length, 6);
});

test('a bad URL and a 404 fail on their own; the others go on', async () => {
  const results = await fetchAll(['not a url', `${base}/missing`, `${base}/ok`, 'ftp://x/']);
  assert.equal(results[0]!.ok, false);
  assert.ok(results[0]!.error instanceof ValueError);
  assert.match(results[0]!.error!.message, /invalid URL 'not a url'/);
  assert.ok(results[1]!.error instanceof HTTPError);
  assert.equal(results[1]!.status, 404);
  assert.equal(results[2]!.ok, true);
  assert.match(results[3]!.error!.message, /unsupported URL scheme/);
});

test('retries a 5xx, and a timeout fails the slow URL', async () => {
  flaky = 0;
  const [r] = await fetchAll([`${base}/flaky`], { retries: 2 });
  assert.equal(r!.ok, true);
  assert.equal(r!.attempts, 3);
  assert.equal(r!.body!.toString(), 'finally');
  flaky = 0;
  const [once] = await fetchAll([`${base}/flaky`]);
  assert.equal(once!.ok, false);
  assert.equal(once!.status, 503);
  const t0 = performance.now();
  const [slow] = await fetchAll([`${base}/slow`], { timeout: 0.1 });
  assert.equal(slow!.ok, false);
  assert.match(slow!.error!.message, /timed out/);
  assert.ok(performance.now() - t0 < 1900, 'well before the 2 s the server would take');
});

test('killing the greenlet that runs fetchAll aborts its downloads', async () => {
  const g = spawn(() => fetchAll([`${base}/slow`, `${base}/slow`]));
  await sleep(0.05);
  const t0 = performance.now();
  await g.kill({ timeout: 1.5 });
  assert.ok(g.dead);
  assert.ok(performance.now() - t0 < 1900, 'well before the 2 s the server would take');
  await sleep(0.05);
});

test('fetchAll rejects bad options', async () => {
  await assert.rejects(fetchAll([], { concurrency: 0 }), /concurrency must be an integer >= 1/);
  await assert.rejects(fetchAll([], { retries: -1 }), /retries must be an integer >= 0/);
});

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnProcess(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('weft fetch prints the seed lines, a summary, saves files, and exits 1 on a failure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-fetch-'));
  try {
    const list = join(dir, 'urls.txt');
    writeFileSync(list, `# a comment\n${base}/size/10\n`);
    const ok = await runCli(['fetch', `${base}/size/1234`, '-i', list, '-c', '2', '-o', join(dir, 'out')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`Get: ${base}/size/1234\\n`));
    assert.match(ok.stdout, new RegExp(`1234 bytes received from ${base}/size/1234`));
    assert.match(ok.stdout, /fetched 2 of 2 URLs, 1244 bytes/);
    assert.equal(readdirSync(join(dir, 'out')).length, 2);
    const bad = await runCli(['fetch', `${base}/size/5`, `${base}/missing`, 'bogus']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /5 bytes received/);
    assert.match(bad.stderr, /error: .*\/missing: HTTP Error 404/);
    assert.match(bad.stderr, /error: bogus: invalid URL/);
    assert.match(bad.stdout, /fetched 1 of 3 URLs.*; 2 failed/);
    const help = await runCli(['fetch', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: weft fetch URL/);
    const usage = await runCli(['fetch']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /no URLs given/);
    const badC = await runCli(['fetch', '-c', '0', `${base}/ok`]);
    assert.equal(badC.code, 2);
    assert.match(badC.stderr, /--concurrency must be an integer >= 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
