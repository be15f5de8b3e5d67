import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  AF_INET, AF_INET6, AF_UNIX, BlockingIOError, BrokenPipeError, ConnectionRefusedError, ConnectionResetError,
  IPPROTO_TCP, OSError, SHUT_WR, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_KEEPALIVE, SO_LINGER,
  SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF, SO_TYPE, TCP_NODELAY, TimeoutError, ValueError, OverflowError,
  createConnection, createServer, fromFd, gaierror, socket, socketpair, select,
} from 'weft/io';
import { MemoryError } from 'weft';
import { openFds } from './helpers.js';

let fdsBefore = 0;
before(() => {
  fdsBefore = openFds();
});
after(() => {
  assert.equal(openFds(), fdsBefore, 'the socket suite leaked fds');
});

/** A listening server and a connected pair on loopback. */
function tcpPair(): { srv: socket; client: socket; conn: socket; close(): void } {
  const srv = createServer(['127.0.0.1', 0]);
  const client = createConnection(['127.0.0.1', (srv.getSockName() as [string, number])[1]]);
  const [conn] = srv.accept();
  return { srv, client, conn, close: () => [srv, client, conn].forEach((s) => s.close()) };
}

function reset(sock: socket): void {
  // SO_LINGER {on, 0 s}: close() sends RST instead of FIN.
  sock.setSockOpt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  sock.close();
}

describe('socket: TCP', () => {
  test('bind, listen, accept, connect, send and recv, addresses as Python tuples', () => {
    const p = tcpPair();
    try {
      const port = (p.srv.getSockName() as [string, number])[1];
      assert.ok(port > 0);
      assert.deepEqual(p.client.getPeerName(), ['127.0.0.1', port]);
      assert.deepEqual(p.conn.getSockName(), ['127.0.0.1', port]);
      assert.equal(p.client.send(Buffer.from('hello')), 5);
      assert.equal(p.conn.recv(1024).toString(), 'hello');
      p.conn.sendAll(Buffer.from('world'));
      const buf = Buffer.alloc(16);
      assert.equal(p.client.recvInto(buf), 5);
      assert.equal(buf.subarray(0, 5).toString(), 'world');
      assert.equal(p.srv.family, AF_INET);
      assert.equal(p.conn.type, SOCK_STREAM);
      assert.match(String(p.conn), /^<socket\.socket fd=\d+, family=AF_INET, type=SOCK_STREAM, proto=0, laddr=\('127\.0\.0\.1', \d+\), raddr=/);
    } finally {
      p.close();
    }
  });

  test('EOF is an empty Buffer; shutdown(SHUT_WR) sends it', () => {
    const p = tcpPair();
    try {
      p.client.shutdown(SHUT_WR);
      const data = p.conn.recv(10);
      assert.ok(Buffer.isBuffer(data));
      assert.equal(data.length, 0);
    } finally {
      p.close();
    }
  });

  test('sendAll moves 4 MiB through a small send buffer while the peer reads', async () => {
    const [a, b] = socketpair();
    try {
      a.setSockOpt(SOL_SOCKET, SO_SNDBUF, 4096);
      const big = Buffer.alloc(4 << 20, 7);
      // The reader is a child process so the blocking sendAll here can make progress.
      const child = spawn('python3', ['-c', 'import socket,sys\ns=socket.socket(fileno=3)\nn=0\nwhile True:\n  d=s.recv(65536)\n  if not d: break\n  n+=len(d)\nprint(n)'], { stdio: ['ignore', 'pipe', 'inherit', b.fileno()] });
      b.close();
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      const done = new Promise((r) => child.on('exit', r));
      a.sendAll(big);
      a.close();
      await done;
      assert.equal(out.trim(), String(big.length));
    } finally {
      a.close();
      b.close();
    }
  });

  test('non-blocking: EAGAIN raises BlockingIOError; SOCK_NONBLOCK starts non-blocking', () => {
    const p = tcpPair();
    try {
      p.conn.setBlocking(false);
      assert.equal(p.conn.getBlocking(), false);
      assert.equal(p.conn.getTimeout(), 0);
      assert.throws(() => p.conn.recv(10), (e: unknown) => e instanceof BlockingIOError && e.errno === 11);
      p.srv.setBlocking(false);
      assert.throws(() => p.srv.accept(), BlockingIOError);
      const s = new socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
      assert.equal(s.getBlocking(), false);
      assert.equal(s.type, SOCK_STREAM);
      s.close();
    } finally {
      p.close();
    }
  });

  test("setTimeout: TimeoutError('timed out') after about the timeout", () => {
    const p = tcpPair();
    try {
      p.conn.setTimeout(0.1);
      assert.equal(p.conn.getTimeout(), 0.1);
      assert.equal(p.conn.getBlocking(), true);
      const t0 = performance.now();
      assert.throws(() => p.conn.recv(10), (e: unknown) => e instanceof TimeoutError && e.message === 'timed out');
      const ms = performance.now() - t0;
      assert.ok(ms >= 95 && ms < 2000, `waited ${ms} ms`);
      assert.throws(() => p.conn.setTimeout(-1), (e: unknown) => e instanceof ValueError && e.message === 'Timeout value out of range');
      p.conn.setTimeout(null);
      assert.equal(p.conn.getTimeout(), null);
    } finally {
      p.close();
    }
  });

  test('connect to a closed port raises ConnectionRefusedError; connectEx returns the errno', () => {
    const probe = createServer(['127.0.0.1', 0]);
    const port = (probe.getSockName() as [string, number])[1];
    probe.close();
    const s = new socket();
    assert.throws(() => s.connect(['127.0.0.1', port]), (e: unknown) => e instanceof ConnectionRefusedError && e.errno === 111);
    s.close();
    const s2 = new socket();
    assert.equal(s2.connectEx(['127.0.0.1', port]), 111);
    s2.close();
    const s3 = new socket();
    s3.setTimeout(1);
    assert.throws(() => s3.connect(['127.0.0.1', port]), ConnectionRefusedError);
    s3.close();
  });

  test('non-blocking connect: connectEx gives EINPROGRESS or 0, then the socket is writable', () => {
    const srv = createServer(['127.0.0.1', 0]);
    const s = new socket();
    s.setBlocking(false);
    const r = s.connectEx(srv.getSockName());
    assert.ok(r === 115 || r === 0, `connectEx returned ${r}`);
    const [, w] = select([], [s], [], 2);
    assert.equal(w.length, 1);
    const [conn] = srv.accept();
    conn.close();
    s.close();
    srv.close();
  });

  test('a reset peer raises ConnectionResetError; writing to it raises BrokenPipeError or ConnectionResetError', () => {
    const p = tcpPair();
    try {
      p.client.send(Buffer.from('partial'));
      reset(p.client);
      const first = p.conn.recv(100);
      assert.equal(first.toString(), 'partial');
      assert.throws(() => p.conn.recv(100), ConnectionResetError);
      assert.throws(
        () => {
          for (let i = 0; i < 10; i++) p.conn.send(Buffer.from('x'));
        },
        (e: unknown) => e instanceof BrokenPipeError || e instanceof ConnectionResetError,
      );
    } finally {
      p.close();
    }
  });

  test('a closed socket raises EBADF on use; close() is idempotent; fileno() is -1', () => {
    const s = new socket();
    s.close();
    s.close();
    assert.equal(s.fileno(), -1);
    assert.throws(() => s.recv(1), (e: unknown) => e instanceof OSError && e.errno === 9 && e.message === '[Errno 9] Bad file descriptor');
    assert.throws(() => s.send(Buffer.from('x')), (e: unknown) => e instanceof OSError && e.errno === 9);
    assert.throws(() => s.bind(['127.0.0.1', 0]), (e: unknown) => e instanceof OSError && e.errno === 9);
    assert.match(String(s), /\[closed\]/);
  });

  test('type and value errors as Python: str data, bad port, unknown host', () => {
    const s = new socket();
    try {
      assert.throws(() => s.send('text' as unknown as Buffer), TypeError);
      assert.throws(() => s.bind(['127.0.0.1', 70000]), (e: unknown) => e instanceof OverflowError && e.message === 'port must be 0-65535.');
      assert.throws(() => s.connect(['no-such-host.invalid', 80]), (e: unknown) => e instanceof gaierror && e.errno < 0);
      assert.throws(() => s.recv(-1), ValueError);
    } finally {
      s.close();
    }
  });

  test('more ValueError cases: recvInto past the buffer, dual-stack on IPv4, a negative fileno', () => {
    const [a, b] = socketpair();
    try {
      assert.throws(() => a.recvInto(Buffer.alloc(4), 8), (e: unknown) => e instanceof ValueError && e.message === 'buffer too small for requested bytes');
      assert.throws(() => createServer(['127.0.0.1', 0], { dualstackIpv6: true }), (e: unknown) => e instanceof ValueError && e.message === 'dualstack_ipv6 requires AF_INET6 family');
      assert.throws(() => new socket(AF_INET, SOCK_STREAM, 0, -1), ValueError);
    } finally {
      a.close();
      b.close();
    }
  });

  test('socket options: SO_REUSEADDR, SO_REUSEPORT, TCP_NODELAY, SO_KEEPALIVE, SO_RCVBUF, SO_TYPE', () => {
    const s = new socket();
    try {
      s.setSockOpt(SOL_SOCKET, SO_REUSEADDR, 1);
      assert.equal(s.getSockOpt(SOL_SOCKET, SO_REUSEADDR), 1);
      s.setSockOpt(SOL_SOCKET, SO_REUSEPORT, true);
      assert.equal(s.getSockOpt(SOL_SOCKET, SO_REUSEPORT), 1);
      s.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1);
      assert.equal(s.getSockOpt(IPPROTO_TCP, TCP_NODELAY), 1);
      s.setSockOpt(SOL_SOCKET, SO_KEEPALIVE, 1);
      assert.equal(s.getSockOpt(SOL_SOCKET, SO_KEEPALIVE), 1);
      s.setSockOpt(SOL_SOCKET, SO_RCVBUF, 65536);
      assert.ok(s.getSockOpt(SOL_SOCKET, SO_RCVBUF) >= 65536);
      assert.equal(s.getSockOpt(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
      assert.equal(s.getSockOpt(SOL_SOCKET, SO_LINGER, 8).length, 8);
    } finally {
      s.close();
    }
  });
});

describe('socket: UDP, Unix, IPv6, pairs and fds', () => {
  test('UDP sendTo / recvFrom', () => {
    const a = new socket(AF_INET, SOCK_DGRAM);
    const b = new socket(AF_INET, SOCK_DGRAM);
    try {
      a.bind(['127.0.0.1', 0]);
      b.bind(['127.0.0.1', 0]);
      b.sendTo(Buffer.from('ping'), a.getSockName());
      const [data, from] = a.recvFrom(100);
      assert.equal(data.toString(), 'ping');
      assert.deepEqual(from, b.getSockName());
      const buf = Buffer.alloc(10);
      a.sendTo(Buffer.from('pong'), from!);
      const [n, from2] = b.recvFromInto(buf);
      assert.equal(buf.subarray(0, n).toString(), 'pong');
      assert.deepEqual(from2, a.getSockName());
    } finally {
      a.close();
      b.close();
    }
  });

  test('AF_UNIX stream socket on a path and in the abstract namespace', () => {
    for (const path of [`/tmp/weft-io-${process.pid}.sock`, Buffer.from(`\0weft-io-${process.pid}`)]) {
      const srv = new socket(AF_UNIX, SOCK_STREAM);
      try {
        srv.bind(path);
        srv.listen(1);
        const c = new socket(AF_UNIX, SOCK_STREAM);
        c.connect(path);
        const [conn, addr] = srv.accept();
        assert.equal(addr, '');
        assert.deepEqual(srv.getSockName(), path);
        c.sendAll(Buffer.from('unix'));
        assert.equal(conn.recv(10).toString(), 'unix');
        c.close();
        conn.close();
      } finally {
        srv.close();
        if (typeof path === 'string') rmSync(path, { force: true });
      }
    }
  });

  test('IPv6 loopback: addresses are [host, port, flowinfo, scopeId]', () => {
    const srv = createServer(['::1', 0], { family: AF_INET6 });
    try {
      const addr = srv.getSockName() as [string, number, number, number];
      assert.equal(addr[0], '::1');
      assert.equal(addr.length, 4);
      const c = createConnection(['::1', addr[1]]);
      const [conn] = srv.accept();
      assert.equal(c.family, AF_INET6);
      c.sendAll(Buffer.from('v6'));
      assert.equal(conn.recv(2).toString(), 'v6');
      c.close();
      conn.close();
    } finally {
      srv.close();
    }
  });

  test('socketpair, fromFd (duplicates), dup and detach', () => {
    const [a, b] = socketpair();
    const c = fromFd(a.fileno());
    assert.notEqual(c.fileno(), a.fileno());
    assert.equal(c.family, AF_UNIX);
    c.sendAll(Buffer.from('via dup'));
    assert.equal(b.recv(100).toString(), 'via dup');
    const d = b.dup();
    const fd = d.detach();
    assert.equal(d.fileno(), -1);
    const e = new socket(AF_UNIX, SOCK_STREAM, 0, fd);
    a.sendAll(Buffer.from('x'));
    assert.equal(e.recv(1).toString(), 'x');
    for (const s of [a, b, c, e]) s.close();
  });
});

describe('socket: lifetime', () => {
  test('no fd leaks over 10,000 connect/accept/close cycles', () => {
    const srv = createServer(['127.0.0.1', 0], { backlog: 512 });
    const addr = srv.getSockName();
    const before = openFds();
    for (let i = 0; i < 10_000; i++) {
      const c = new socket();
      c.connect(addr);
      const [conn] = srv.accept();
      reset(c); // RST: no TIME_WAIT pile-up on the ephemeral ports
      conn.close();
    }
    assert.equal(openFds(), before);
    srv.close();
  });

  test('a socket dropped without close() has its fd closed when garbage-collected', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const before = openFds();
    (() => {
      for (let i = 0; i < 50; i++) new socket();
    })();
    assert.equal(openFds(), before + 50);
    for (let i = 0; i < 20 && openFds() > before; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    // At most `before`: Node itself may close an fd of its own meanwhile (seen on Node 24).
    assert.ok(openFds() <= before, `${openFds() - before} of the 50 sockets' fds are still open`);
  });

  test('EINTR never escapes: signals during select and during a timed recv are retried', async () => {
    const [a, b] = socketpair();
    // Node 24's test runner turns on --report-on-signal, whose signal is SIGUSR2: no report files here.
    process.report.reportOnSignal = false;
    process.on('SIGUSR2', () => {});
    try {
      // A child signals us twice while we wait in select, writes, then signals again during recv.
      const script = [
        'import os,time,socket',
        's=socket.socket(fileno=3)',
        `for _ in range(2): time.sleep(0.1); os.kill(${process.pid}, 12)`,
        "time.sleep(0.1); s.sendall(b'a')",
        `time.sleep(0.2); os.kill(${process.pid}, 12)`,
        "time.sleep(0.1); s.sendall(b'b')",
      ].join('\n');
      const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'inherit', 'inherit', b.fileno()] });
      const exited = new Promise((r) => child.on('exit', r));
      a.setTimeout(5);
      const [r] = select([a], [], [], 5);
      assert.equal(r.length, 1);
      assert.equal(a.recv(1).toString(), 'a');
      assert.equal(a.recv(1).toString(), 'b');
      await exited;
    } finally {
      process.removeAllListeners('SIGUSR2');
      a.close();
      b.close();
    }
  });
});

test("recv/recvFrom bufsize errors are Python's, not Node's RangeError", () => {
  const [a, b] = socketpair();
  try {
    for (const recv of [(n: unknown) => a.recv(n as number), (n: unknown) => a.recvFrom(n as number)]) {
      assert.throws(() => recv(1e12), (e: unknown) => e instanceof MemoryError && !(e instanceof RangeError));
      assert.throws(() => recv(2 ** 63), (e: unknown) => e instanceof OverflowError && e.message === 'Python int too large to convert to C ssize_t');
      assert.throws(() => recv(1.5), (e: unknown) => e instanceof TypeError && !(e instanceof RangeError));
      assert.throws(() => recv('10'), TypeError);
    }
    assert.throws(() => a.recv(-1), (e: unknown) => e instanceof ValueError && e.message === 'negative buffersize in recv');
    assert.throws(() => a.recvFrom(-1), (e: unknown) => e instanceof ValueError && e.message === 'negative buffersize in recvfrom');
    b.sendAll(Buffer.from('ok'));
    assert.equal(String(a.recv(10)), 'ok'); // the socket is intact after the refusals
  } finally {
    a.close();
    b.close();
  }
});
