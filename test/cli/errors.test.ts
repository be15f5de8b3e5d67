// The `weft` command line under careless or hostile input: bounded `weft load` options, one-line errors
// (a stack trace only with --debug or WEFT_DEBUG=1), exit codes as `--help` documents them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createServer, socket } from 'weft/io';
import { runNode, type RunResult } from '../helpers/run.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const lines = (stderr: string): string[] => stderr.replace(/\n$/, '').split('\n');

/** A usage error: exit 2, nothing on stdout, one line on stderr that matches `message`. */
function assertUsage(r: RunResult, message: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, message);
}

test('weft load refuses sizes, connection counts and ports it could not honour, before connecting (exit 2)', async () => {
  // Nothing listens on port 9 here; had any of these connected, the error would be a refused connection (exit 1).
  const cases: [string[], RegExp][] = [
    [['--port', '70000'], /--port must be at most 65535, got 70000/],
    [['--port', '0'], /--port must be a positive integer, got 0/],
    [['--size', '100000000'], /--size must be at most 16777216, got 100000000/],
    [['--connections', '1000000'], /--connections must be at most 65535, got 1000000/],
    [['--depth', '100000000'], /--depth must be at most 65536/],
    [['--size', '1000000', '--depth', '1000'], /--size x --depth must be at most 67108864 bytes in flight per connection, got 1000000000/],
    [['--connections', '60000', '--size', '65536'], /--connections x --size x \(--depth \+ 1\) must be at most 2147483648 bytes/],
  ];
  for (const [args, message] of cases) {
    const r = await runNode([cli, 'load', '--port', '9', ...args, '--duration', '0.2'], { timeout: 10 });
    assertUsage(r, message);
    assert.match(r.stderr, /run `weft load --help` for the options\n$/);
  }
  // The open loop keeps one message in flight: a large --depth does not count against --size there.
  const r = await runNode([cli, 'load', '--port', '9', '--size', '1000000', '--depth', '1000', '--rate', '10', '--duration', '0.2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot connect to 127\.0\.0\.1:9/);
});

test('weft load out of file descriptors: one line naming the limit, exit 1', async () => {
  using server = createServer(['127.0.0.1', 0], { backlog: 256 });
  const port = (server.getSockName() as [string, number])[1];
  const child = spawn('sh', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${cli}" load --port ${port} --connections 100 --duration 0.2`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  assert.equal(code, 1, stderr);
  assert.deepEqual(lines(stderr), [
    `weft load: cannot connect to 127.0.0.1:${port}: too many open files — raise the limit on open files (ulimit -n) or use fewer --connections`,
  ]);
});

test('WEFT_DEBUG=1 adds the stack trace as --debug does; without either, no stack', async () => {
  using idle = new socket();
  idle.bind(['127.0.0.1', 0]);
  const [, port] = idle.getSockName() as [string, number];
  const args = [cli, 'load', '--port', String(port), '--connections', '1', '--duration', '0.2'];
  const plain = await runNode(args, { env: { WEFT_DEBUG: undefined } });
  assert.equal(plain.code, 1);
  assert.doesNotMatch(plain.stderr, /\n\s+at /);
  const debug = await runNode(args, { env: { WEFT_DEBUG: '1' } });
  assert.equal(debug.code, 1);
  assert.equal(lines(debug.stderr)[0], lines(plain.stderr)[0]);
  assert.match(debug.stderr, /\n\s+at connect \(.*\)\n/);
});

test('weft tour --only with no match is a usage error that lists the examples', async () => {
  const r = await runNode([cli, 'tour', '--only', 'no-such-example']);
  assertUsage(r, /^weft tour: --only "no-such-example" matches no example; the examples are 10-parent-child, .*31-selectors-server(, [0-9a-z-]+)* — /);
});

test('weft fetch -o into something that is not a writable directory fails before downloading anything', async () => {
  let requests = 0;
  const http = createHttpServer((_, res) => {
    requests++;
    res.end('body');
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/`;
  const dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const r = await runNode([cli, 'fetch', '-o', join(file, 'sub'), url]);
    assertUsage(r, /^weft fetch: cannot save into .*a-file\/sub \(ENOTDIR\) — give -o\/--output a directory you can write to\n$/);
    assert.equal(requests, 0, 'a URL was downloaded before -o was checked');
    const ok = await runNode([cli, 'fetch', '-q', '-o', join(dir, 'out'), url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(requests, 1);
  } finally {
    http.close();
    rmSync(dir, { recursive: true });
  }
});

test('weft fetch of an unknown host: one error line for that URL, no stack, exit 1', async () => {
  const r = await runNode([cli, 'fetch', '--timeout', '5', 'http://no-such-host.invalid/']);
  assert.equal(r.code, 1);
  assert.deepEqual(lines(r.stderr).filter((l) => l.startsWith('error: ')).length, 1, r.stderr);
  assert.match(r.stderr, /^error: http:\/\/no-such-host\.invalid\/: .*(ENOTFOUND|EAI_AGAIN)/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('--help documents the exit codes, for weft and for each command', async () => {
  for (const args of [['--help'], ['load', '--help'], ['fetch', '--help'], ['tour', '--help']]) {
    const r = await runNode([cli, ...args]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Exit status: 0 .*1 .*2 /s, `weft ${args.join(' ')}`);
  }
});
