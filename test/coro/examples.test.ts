import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

function run(file: string, env: Record<string, string> = {}, args: string[] = []): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [examples + file, ...args], {
      env: { ...process.env, WEFT_TOUR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ran past 20 s`));
    }, 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

test('20-yield: c1 eats baozi 1..5, each right after the producer makes it', async () => {
  const { code, out } = await run('20-yield.js');
  assert.equal(code, 0);
  const lines = out.trim().split('\n');
  const expected = ['----->starting', '----->starting'];
  for (let n = 1; n <= 5; n++) expected.push(`[producer] is making baozi ${n}`, `[c1] is eating baozi ${n}`);
  assert.deepEqual(lines, expected);
});

test('21-greenlet prints 12, 56, 34, 78', async () => {
  const { code, out } = await run('21-greenlet.js');
  assert.equal(code, 0);
  assert.deepEqual(out.trim().split('\n'), ['12', '56', '34', '78']);
});

test('22-gevent-sleep: bar runs while foo sleeps', async () => {
  const t0 = performance.now();
  const { code, out } = await run('22-gevent-sleep.js');
  assert.equal(code, 0);
  assert.deepEqual(out.trim().split('\n'), [
    'Running in foo',
    'Explicit context to bar',
    'Implicit context switch back to bar',
    'Explicit context switch to foo again',
  ]);
  assert.ok(performance.now() - t0 >= 1000, 'foo sleeps one second');
});

test('23-download: every Get comes before any reply, and replies arrive as they finish', async () => {
  const { code, out, err } = await run('23-download.js');
  assert.equal(code, 0, err);
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 6);
  assert.ok(lines.slice(0, 3).every((l) => l.startsWith('Get: http://127.0.0.1:')));
  const received = lines.slice(3).map((l) => /^(\d+) bytes received from http:\/\/127\.0\.0\.1:\d+\/(.*)$/.exec(l));
  assert.ok(received.every((m) => m !== null), out);
  assert.deepEqual(
    received.map((m) => [m![1], m![2]]),
    [
      ['12345', 'www.yahoo.com/'],
      ['30000', 'github.com/'],
      ['50123', 'www.python.org/'],
    ],
  );
});

test('23-download: a URL given on the command line that fails makes the exit status non-zero', async () => {
  const { code, out } = await run('23-download.js', { WEFT_TOUR: '' }, ['http://127.0.0.1:1/']);
  assert.notEqual(code, 0);
  assert.match(out, /Get: http:\/\/127\.0\.0\.1:1\//);
});

test('24-echo-server: the scripted >>: client gets each line back', async () => {
  // WEFT_PORT=0 keeps the test off the seed's fixed port 5566
  const { code, out, err } = await run('24-echo-server.js', { WEFT_PORT: '0' });
  assert.equal(code, 0, err);
  assert.match(out, /^serving on 127\.0\.0\.1:\d+$/m);
  const rest = out.trim().split('\n').slice(1);
  assert.deepEqual(rest, [
    '>>:hello',
    'recv: hello',
    "Recv: b'hello'",
    '>>:gevent',
    'recv: gevent',
    "Recv: b'gevent'",
    '>>:协程',
    'recv: 协程',
    "Recv: b'\\xe5\\x8d\\x8f\\xe7\\xa8\\x8b'",
    'recv:', // the empty recv at EOF (the trailing space is trimmed away)
  ]);
});

test('24-echo-server: under the tour it falls back to a free port when 5566 is taken', async () => {
  const blocker = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    blocker.once('error', () => resolve(false));
    blocker.listen(5566, '127.0.0.1', () => resolve(true));
  });
  try {
    const { code, out } = await run('24-echo-server.js', { WEFT_PORT: '5566' });
    assert.equal(code, 0);
    const port = Number(/serving on 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    assert.ok(port > 0 && (listening ? port !== 5566 : true));
    assert.match(out, /Recv: b'hello'/);
  } finally {
    if (listening) await new Promise((r) => blocker.close(r));
  }
});
