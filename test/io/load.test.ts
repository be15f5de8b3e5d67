/**
 * `weft load` against small Python echo servers: closed and open loop, JSON
 * fields, byte checking (a server that corrupts one byte must be caught), help.
 * Loads are tiny and bounded (a fraction of a second each).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readdirSync, readlinkSync } from 'node:fs';
import { IoUring, socketpair } from 'weft/io';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/**
 * An echo server in Python. Mode 1 flips the first byte of every 50th chunk;
 * mode 2 stalls 0.3 s once, at the 20th chunk; mode 3 closes each connection
 * after its 10th chunk.
 */
const SERVER = `
import selectors, socket, sys, time
corrupt = sys.argv[1] == '1'
stall = sys.argv[1] == '2'
closing = sys.argv[1] == '3'
seen = {}
sel = selectors.DefaultSelector()
srv = socket.create_server(('127.0.0.1', 0), backlog=128)
srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ)
print(srv.getsockname()[1], flush=True)
n = 0
while True:
    for key, _ in sel.select():
        if key.fileobj is srv:
            c, _ = srv.accept(); c.setblocking(True); sel.register(c, selectors.EVENT_READ)
            continue
        try:
            data = key.fileobj.recv(65536)
        except OSError:
            data = b''
        if not data:
            sel.unregister(key.fileobj); key.fileobj.close(); continue
        n += 1
        if stall and n == 20:
            time.sleep(0.3)
        seen[key.fileobj] = seen.get(key.fileobj, 0) + 1
        if closing and seen[key.fileobj] == 10:
            sel.unregister(key.fileobj); key.fileobj.close(); continue
        if corrupt and n % 50 == 0:
            data = bytes([data[0] ^ 0xff]) + data[1:]
        key.fileobj.sendall(data)
`;

function startServer(mode: 0 | 1 | 2 | 3): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', SERVER, String(mode)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', (d) => resolve({ child, port: Number(String(d).trim()) }));
    child.once('error', reject);
  });
}

function load(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'load', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (err && code === 0) process.stderr.write(err);
      resolve({ code, out, err });
    });
  });
}

const uring = IoUring.available();

describe('weft load', () => {
  let good: { child: ChildProcess; port: number };
  let bad: { child: ChildProcess; port: number };
  let stalling: { child: ChildProcess; port: number };
  let closing: { child: ChildProcess; port: number };
  before(async () => {
    [good, bad, stalling, closing] = await Promise.all([startServer(0), startServer(1), startServer(2), startServer(3)]);
  });
  after(() => {
    for (const s of [good, bad, stalling, closing]) s.child.kill();
  });

  test('closed loop: counts messages, checks every byte, reports latency percentiles and its own CPU', async () => {
    const { code, out } = await load(['--port', String(good.port), '--connections', '4', '--size', '300', '--depth', '2', '--duration', '0.4', '--json']);
    assert.equal(code, 0, out);
    const r = JSON.parse(out);
    assert.equal(r.errors, 0);
    assert.equal(r.connections, 4);
    assert.equal(r.depth, 2);
    assert.ok(r.messages > 20, `only ${r.messages} messages`);
    assert.ok(r.messagesPerSecond > 0 && r.megabytesPerSecond > 0);
    const l = r.latencyUs;
    assert.ok(0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max * 1.001, JSON.stringify(l));
    assert.ok(r.cpuUsPerMessage > 0);
  });

  test('open loop: sends at the given rate, latency from the intended send time', async () => {
    const { code, out } = await load(['--port', String(good.port), '--connections', '2', '--size', '64', '--rate', '500', '--duration', '0.5', '--json']);
    assert.equal(code, 0, out);
    const r = JSON.parse(out);
    assert.equal(r.rate, 500);
    assert.ok(r.messages >= 150 && r.messages <= 300, `${r.messages} messages at 500/s over 0.5 s`);
  });

  test('open loop against a server that stalls: the stall shows in the latency, and the schedule is kept', async () => {
    const { code, out } = await load(['--port', String(stalling.port), '--connections', '2', '--size', '64', '--rate', '400', '--duration', '1', '--json']);
    assert.equal(code, 0, out);
    const r = JSON.parse(out);
    // messages kept leaving on schedule during the 0.3 s stall and are timed from then
    assert.ok(r.latencyUs.max >= 250_000, `max latency ${r.latencyUs.max} µs hides a 0.3 s stall`);
    assert.ok(r.latencyUs.p90 >= 20_000, `p90 ${r.latencyUs.p90} µs: the messages queued behind the stall count too`);
    assert.ok(r.messages >= 300 && r.messages <= 450, `${r.messages} messages at 400/s over 1 s`);
  });

  test('a server that closes connections is an error of its own kind', async () => {
    const { code, out } = await load(['--port', String(closing.port), '--connections', '3', '--size', '32', '--duration', '0.3', '--json']);
    assert.equal(code, 1);
    const r = JSON.parse(out);
    assert.equal(r.errorKinds['server closed the connection'], 3, JSON.stringify(r.errorKinds));
    assert.equal(r.errors, 3);
  });

  test('a server that corrupts a byte is caught: errors counted, exit status 1', async () => {
    const { code, out } = await load(['--port', String(bad.port), '--connections', '2', '--size', '100', '--duration', '0.4', '--json']);
    assert.equal(code, 1);
    const r = JSON.parse(out);
    assert.ok(r.errors >= 1);
    assert.ok(r.errorKinds['echo mismatch'] >= 1, JSON.stringify(r.errorKinds));
  });

  test('human-readable report, --help, and bad options', async () => {
    const { code, out } = await load(['--port', String(good.port), '--connections', '1', '--size', '10', '--duration', '0.2']);
    assert.equal(code, 0);
    assert.match(out, /^weft load: 1 connections x 10 B, closed loop, depth 1/);
    assert.match(out, /latency µs +p50 [\d,]+ +p90 [\d,]+ +p99 [\d,]+ +p99\.9 [\d,]+ +max [\d,]+/);
    const help = await load(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /--connections N/);
    assert.match(help.out, /--rate MSGS_PER_S/);
    const badOpt = await load(['--port', String(good.port), '--size', '-5', '--duration', '0.2']);
    assert.notEqual(badOpt.code, 0);
  });

  // The tests above run on the default engine, io_uring where it is available; these run the other one, and
  // check the io_uring engine's own pieces.
  test('--engine epoll: the closed loop checks every byte; a corrupted echo is caught', async () => {
    const { code, out } = await load(['--port', String(good.port), '--engine', 'epoll', '--connections', '4', '--size', '3000', '--depth', '3', '--duration', '0.4', '--json']);
    assert.equal(code, 0, out);
    const r = JSON.parse(out);
    assert.equal(r.engine, 'epoll');
    assert.equal(r.errors, 0);
    assert.ok(r.messages > 20, `only ${r.messages} messages`);
    const corrupt = await load(['--port', String(bad.port), '--engine', 'epoll', '--connections', '2', '--size', '100', '--duration', '0.4', '--json']);
    assert.equal(corrupt.code, 1);
    assert.ok(JSON.parse(corrupt.out).errorKinds['echo mismatch'] >= 1, corrupt.out);
  });

  test('--engine epoll: the open loop keeps its rate; a server closing is its own error', async () => {
    const [open, closed] = await Promise.all([
      load(['--port', String(good.port), '--engine', 'epoll', '--connections', '2', '--size', '64', '--rate', '500', '--duration', '0.5', '--json']),
      load(['--port', String(closing.port), '--engine', 'epoll', '--connections', '3', '--size', '32', '--duration', '0.3', '--json']),
    ]);
    assert.equal(open.code, 0, open.out);
    const r = JSON.parse(open.out);
    assert.ok(r.messages >= 150 && r.messages <= 300, `${r.messages} messages at 500/s over 0.5 s`);
    assert.equal(closed.code, 1);
    assert.equal(JSON.parse(closed.out).errorKinds['server closed the connection'], 3, closed.out);
  });

  test('the default engine is io_uring where it is available, epoll elsewhere and for churn', async () => {
    const { code, out } = await load(['--port', String(good.port), '--connections', '1', '--size', '10', '--duration', '0.1', '--json']);
    assert.equal(code, 0, out);
    assert.equal(JSON.parse(out).engine, uring.ok ? 'uring' : 'epoll');
    const churn = await load(['--port', String(good.port), '--churn', '--connections', '1', '--size', '10', '--duration', '0.1', '--json']);
    assert.equal(JSON.parse(churn.out).engine, 'epoll');
  });

  test('--engine uring: a message spanning receive buffers, sends queued behind one in flight; the ring is released', { skip: !uring.ok && uring.reason }, async () => {
    const { code, out } = await load(['--port', String(good.port), '--engine', 'uring', '--connections', '4', '--size', '3000', '--depth', '3', '--duration', '0.4', '--json']);
    assert.equal(code, 0, out);
    const r = JSON.parse(out);
    assert.equal(r.engine, 'uring');
    assert.equal(r.errors, 0);
    // 3000 B messages span several receive buffers and chunks; depth 3 queues sends behind one in flight
    assert.ok(r.messages > 20, `only ${r.messages} messages`);
    assert.ok(r.cpuUsPerMessage > 0);
    // the engine runs on a ring of its own, released by loadClose
    const { native } = await import('../../src/internals.js');
    const rings = (): number => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[io_uring]';
      } catch {
        return false;
      }
    }).length;
    const [x, y] = socketpair();
    const before = rings();
    const engine = native.loadCreate(new Int32Array([x.fileno()]), 8, 1, 0, true);
    assert.notEqual(typeof engine, 'number');
    assert.equal(rings(), before + 1);
    native.loadClose(engine as never);
    assert.equal(rings(), before);
    x.close();
    y.close();
  });

  test('--engine: a bad value, and churn on io_uring, are usage errors that name the fix', async () => {
    const [bogus, churn] = await Promise.all([
      load(['--port', String(good.port), '--engine', 'kqueue', '--duration', '0.1']),
      load(['--port', String(good.port), '--engine', 'uring', '--churn', '--duration', '0.1']),
    ]);
    assert.equal(bogus.code, 2);
    assert.match(bogus.err, /--engine must be epoll or uring, got kqueue/);
    assert.equal(churn.code, 2);
    assert.match(churn.err, /--churn runs on the epoll engine only: leave out --engine uring/);
    const help = await load(['--help']);
    assert.match(help.out, /--engine epoll\|uring/);
  });

  test('the native engine refuses anything it did not make', async () => {
    const { native } = await import('../../src/internals.js');
    for (const bogus of [{}, 42, null, new Int32Array(4)]) {
      assert.throws(() => native.loadRun(bogus as never, 0.01, false), { name: 'TypeError', message: 'expected a load engine' });
    }
  });
});
