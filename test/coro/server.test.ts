import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { CoroSocket, GreenletExit, Pool, StreamServer, sleep, withTimeout, type Address } from 'weft/coro';
import { BrokenPipeError, ConnectionRefusedError, ValueError } from 'weft/io';
import { assertNoLeaks, captureErrors } from './helpers.js';

after(assertNoLeaks);

function connect(address: Address): Promise<CoroSocket> {
  return CoroSocket.connect(['127.0.0.1', address[1]]);
}

async function echo(sock: CoroSocket): Promise<void> {
  for (let data = await sock.recv(1024); data.length > 0; data = await sock.recv(1024)) await sock.sendAll(data);
}

/** Read exactly n bytes. */
async function recvExactly(sock: CoroSocket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const b = await sock.recv(n - got);
    if (b.length === 0) break;
    parts.push(b);
    got += b.length;
  }
  return Buffer.concat(parts);
}

test('StreamServer echoes on port 0, one greenlet per connection, in parallel', async () => {
  const names = new Set<string>();
  const server = new StreamServer(['127.0.0.1', 0], async (sock, address) => {
    assert.equal(address[0], '127.0.0.1');
    names.add((await import('weft/coro')).getCurrent().name);
    await echo(sock);
  });
  await server.start();
  assert.ok(server.address[1] > 0);
  const clients = await Promise.all([1, 2, 3, 4, 5].map(() => connect(server.address)));
  await Promise.all(
    clients.map(async (c, i) => {
      const msg = Buffer.alloc(3000, 65 + i);
      await c.sendAll(msg);
      assert.deepEqual(await recvExactly(c, msg.length), msg);
      c.shutdown();
      assert.equal((await c.recv(10)).length, 0, 'EOF after the server closes');
      c.close();
    }),
  );
  assert.equal(names.size, 5);
  await server.stop();
});

test('an error in one handler is reported, its connection closed, and the server keeps serving', async () => {
  const cap = captureErrors();
  const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
    const first = await sock.recv(100);
    if (first.toString() === 'bad') throw new ValueError('handler failed');
    await sock.sendAll(first);
    await echo(sock);
  });
  try {
    await server.start();
    const bad = await connect(server.address);
    await bad.sendAll('bad');
    assert.equal((await bad.recv(10)).length, 0, 'the failing connection is closed');
    bad.close();
    const good = await connect(server.address);
    await good.sendAll('good');
    assert.equal((await good.recv(10)).toString(), 'good');
    good.close();
    assert.equal(cap.errors.length, 1);
    assert.ok(cap.errors[0] instanceof ValueError);
  } finally {
    cap.restore();
    await server.stop();
  }
});

test('stop(timeout) stops accepting, waits for handlers, then kills them (finally runs)', async () => {
  const cap = captureErrors();
  const log: string[] = [];
  const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
    try {
      await sock.recv(10); // never gets data
    } catch (e) {
      log.push(e instanceof GreenletExit ? 'killed' : 'other');
      throw e;
    } finally {
      log.push('finally');
    }
  });
  await server.start();
  const c = await connect(server.address);
  await sleep(0.02);
  const t0 = performance.now();
  await server.stop(0.05);
  const ms = performance.now() - t0;
  assert.ok(ms >= 45 && ms < 2000, `stop took ${ms} ms`);
  assert.deepEqual(log, ['killed', 'finally']);
  cap.restore();
  assert.deepEqual(cap.errors, [], 'a handler killed by stop() is not reported as failed');
  assert.equal((await c.recv(10)).length, 0);
  c.close();
  await assert.rejects(connect(server.address), ConnectionRefusedError);
});

test('a pool bounds concurrent handlers; spawn: N does the same', async () => {
  let active = 0;
  let peak = 0;
  const handler = async (sock: CoroSocket): Promise<void> => {
    active++;
    peak = Math.max(peak, active);
    await sleep(0.02);
    active--;
    await sock.sendAll('done');
  };
  const server = new StreamServer(['127.0.0.1', 0], handler, { pool: new Pool(2) });
  await server.start();
  const clients = await Promise.all([1, 2, 3, 4, 5].map(() => connect(server.address)));
  const replies = await Promise.all(clients.map((c) => recvExactly(c, 4)));
  assert.deepEqual(replies.map(String), ['done', 'done', 'done', 'done', 'done']);
  assert.equal(peak, 2);
  clients.forEach((c) => c.close());
  await server.stop();
  assert.throws(() => new StreamServer(0, handler, { pool: new Pool(1), spawn: 1 }), /either pool or spawn/);
});

test('a shared pool that hands the freed slot elsewhere: stop() ends the waiting spawn and closes that connection', async () => {
  // The acceptor sees a free slot, but other code waiting on the same pool
  // takes it first, so the acceptor's spawn waits; stop() then kills
  // the acceptor, which rejects that spawn. The connection must be closed
  // (the client sees EOF) and the rejection must not escape unhandled.
  const pool = new Pool(1);
  let handled = 0;
  await pool.spawn(() => sleep(0.1)); // holds the only slot for 100 ms
  const server = new StreamServer(['127.0.0.1', 0], async () => { handled++; }, { pool });
  await server.start();
  const client = await connect(server.address);
  await sleep(0.02); // the acceptor now waits for a free slot
  const queued = pool.spawn(() => sleep(30)); // next in line after the acceptor
  // The holder ends: the acceptor sees the slot free and passes it on, the queued greenlet takes it, and the acceptor's spawn waits.
  await sleep(0.2);
  await server.stop(0.05);
  assert.deepEqual(await withTimeout(1, () => client.recv(10), { timeoutValue: 'hung' }), Buffer.alloc(0), 'the waiting connection is closed');
  assert.equal(handled, 0);
  client.close();
  (await queued).kill();
  await pool.kill();
});

test('serveForever returns after stop; bad addresses and busy ports raise clearly', async () => {
  const server = new StreamServer('127.0.0.1:0', echo);
  const serving = server.serveForever();
  await sleep(0.01);
  assert.equal(server.started, true);
  const taken = new StreamServer(['127.0.0.1', server.address[1]], echo);
  await assert.rejects(taken.start(), /Address already in use/);
  await server.stop();
  await serving;
  assert.throws(() => new StreamServer('nonsense', echo), /expected 'host:port'/);
  assert.throws(() => new StreamServer(['127.0.0.1', 70000], echo), /0 <= port <= 65535/);
});

test('recv refuses a bad size; sendAll on a closed socket raises BrokenPipeError', async () => {
  const server = new StreamServer(['127.0.0.1', 0], echo);
  await server.start();
  const c = await connect(server.address);
  await assert.rejects(c.recv(0), ValueError);
  c.close();
  await assert.rejects(c.sendAll('x'), /Broken pipe/);
  await server.stop();
});

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

test('sendAll of 8 MiB to a slow reader waits for room and delivers every byte in order', async () => {
  const big = Buffer.alloc(8 << 20);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i / 4, i);
  const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
    await sock.sendAll(big); // far more than the kernel buffers: must park on EAGAIN and resume
    sock.shutdown();
  });
  await server.start();
  const c = await connect(server.address);
  await sleep(0.05); // let the kernel buffers fill before reading
  const got = await recvExactly(c, big.length);
  assert.equal(got.length, big.length);
  assert.ok(got.equals(big), 'bytes arrive complete and in order');
  assert.equal((await c.recv(1)).length, 0);
  c.close();
  await server.stop();
});

test('a peer that resets mid-message raises ConnectionResetError in the handler; the server goes on', async () => {
  const seen: string[] = [];
  const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
    try {
      for (;;) {
        const data = await sock.recv(65536);
        if (data.length === 0) return void seen.push('eof');
        await sock.sendAll(data);
      }
    } catch (e) {
      seen.push((e as Error).constructor.name);
    }
  });
  await server.start();
  // a raw node:net client: send half a message, then reset the connection
  const { connect: netConnect } = await import('node:net');
  const raw = netConnect(server.address[1], '127.0.0.1');
  await new Promise((r) => raw.once('connect', r));
  raw.write(Buffer.alloc(5000, 1));
  await sleep(0.02);
  raw.resetAndDestroy();
  await sleep(0.05);
  assert.equal(seen.length, 1);
  assert.ok(['ConnectionResetError', 'BrokenPipeError', 'eof'].includes(seen[0]!), seen[0]);
  const good = await connect(server.address);
  await good.sendAll('still here');
  assert.equal((await good.recv(100)).toString(), 'still here');
  good.close();
  await server.stop();
});

test('close() wakes a greenlet parked in recv with b"" and one parked in sendAll with BrokenPipeError', async () => {
  const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
    await sleep(0.5); // reads nothing, so the client's sendAll fills the buffers and parks
    sock.close();
  });
  await server.start();
  const reader = await connect(server.address);
  const writer = await connect(server.address);
  const recvd = reader.recv(10);
  const sent = writer.sendAll(Buffer.alloc(32 << 20));
  await sleep(0.05);
  reader.close();
  writer.close();
  assert.equal((await recvd).length, 0);
  await assert.rejects(sent, BrokenPipeError);
  assert.equal(reader.fileno(), -1);
  await server.stop(0);
});

test('data and the FIN in one edge-triggered event: recv returns the data, then the EOF (no hang)', async () => {
  // The server's acceptor keeps the epoll set watched, so the client's event
  // (data, then FIN, already both in) is taken before the first recv reads.
  const server = new StreamServer(['127.0.0.1', 0], async (sock) => {
    await sock.sendAll('hi');
  });
  await server.start();
  const sock = await connect(server.address);
  await sleep(0.1);
  assert.equal(String(await sock.recv(1024)), 'hi');
  const eof = await withTimeout(2, () => sock.recv(1024), { timeoutValue: 'hung' });
  assert.ok(Buffer.isBuffer(eof) && eof.length === 0, `expected the EOF, got ${String(eof)}`);
  sock.close();
  await server.stop();
});

test('two greenlets may not recv on one socket at once', async () => {
  const server = new StreamServer(['127.0.0.1', 0], echo);
  await server.start();
  const c = await connect(server.address);
  const first = c.recv(10);
  await assert.rejects(c.recv(10), /already being read by another greenlet/);
  await c.sendAll('x');
  assert.equal((await first).toString(), 'x');
  c.close();
  await server.stop();
});

test('500 connections opened and closed leave no fd behind, and an idle watcher keeps no handle alive', async () => {
  const server = new StreamServer(['127.0.0.1', 0], echo);
  await server.start();
  const c0 = await connect(server.address);
  c0.close();
  await sleep(0.02);
  const before = openFds();
  for (let round = 0; round < 5; round++) {
    const cs = await Promise.all(Array.from({ length: 100 }, () => connect(server.address)));
    await Promise.all(cs.map(async (c) => {
      await c.sendAll('ping');
      assert.equal((await recvExactly(c, 4)).toString(), 'ping');
      c.close();
    }));
  }
  await sleep(0.05); // the handlers see EOF and close their ends
  assert.equal(openFds(), before);
  await server.stop();
});

test('once nothing waits on a socket, the I/O watcher does not keep the process alive', async () => {
  // a greenlet killed while parked in recv must disarm the watcher, and so must
  // closing a socket that a greenlet was parked on (the last waiter, here)
  const coro = new URL('../../src/coro/index.js', import.meta.url).href;
  const io = new URL('../../src/io/index.js', import.meta.url).href;
  const script = `
    import { StreamServer, CoroSocket, spawn, sleep } from '${coro}';
    import { socketpair } from '${io}';
    const server = new StreamServer(['127.0.0.1', 0], async (s) => { await s.recv(10); });
    await server.start();
    const c = await CoroSocket.connect(['127.0.0.1', server.address[1]]);
    const g = spawn(() => c.recv(10));
    await sleep(0.02);
    await g.kill();
    await server.stop(0);
    const [a, b] = socketpair();
    a.setBlocking(false);
    const s = new CoroSocket(a.detach());
    const parked = s.recv(10);
    await sleep(0.02);
    s.close();
    const got = await parked;
    b.close();
    console.log('done', got.length);`;
  const t0 = performance.now();
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 5000 });
  assert.equal(stdout.trim(), 'done 0');
  assert.ok(performance.now() - t0 < 4000, 'the process exited by itself');
});

test('connect to a closed port raises ConnectionRefusedError and leaks no fd', async () => {
  const server = new StreamServer(['127.0.0.1', 0], echo);
  await server.start();
  const port = server.address[1];
  await server.stop();
  const before = openFds();
  for (let i = 0; i < 20; i++) await assert.rejects(CoroSocket.connect(['127.0.0.1', port]), ConnectionRefusedError);
  assert.equal(openFds(), before);
});

test('IPv6 and host names: the server binds ::1 or resolves localhost; the client connects the same way', async () => {
  for (const host of ['::1', 'localhost']) {
    const server = new StreamServer([host, 0], async (sock, address) => {
      await sock.sendAll(`from ${address[0]}`);
    });
    await server.start();
    const c = await CoroSocket.connect([host, server.address[1]]);
    // localhost may resolve to either loopback, by the resolver's order: the same for both ends here
    const expected = server.address[0];
    assert.ok(host === '::1' ? expected === '::1' : ['127.0.0.1', '::1'].includes(expected), expected);
    assert.equal((await recvExactly(c, 5 + expected.length)).toString(), `from ${expected}`);
    assert.deepEqual(c.peer, [expected, server.address[1]]);
    c.close();
    await server.stop();
  }
});

test('a CoroSocket dropped without close() has its fd closed when it is collected', async () => {
  const coro = new URL('../../src/coro/index.js', import.meta.url).href;
  const script = `
    import { readdirSync } from 'node:fs';
    import { StreamServer, CoroSocket, sleep } from '${coro}';
    const fds = () => readdirSync('/proc/self/fd').length;
    const server = new StreamServer(['127.0.0.1', 0], async (s) => { await s.recv(10); });
    await server.start();
    const before = fds();
    for (let i = 0; i < 50; i++) await CoroSocket.connect(['127.0.0.1', server.address[1]]); // dropped at once
    const open = fds();
    for (let i = 0; i < 5 && fds() > before; i++) { gc(); await sleep(0.02); }
    console.log(open - before, fds() - before);
    await server.stop(0);`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { timeout: 10_000 });
  const [opened, left] = stdout.trim().split(' ').map(Number);
  assert.ok(opened! >= 50, `${opened} fds opened for 50 client sockets`);
  assert.ok(left! <= 0, `${left} fds left after the sockets were collected`);
});
