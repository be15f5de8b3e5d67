import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { after, test } from 'node:test';
import { CoroSocket, GreenletExit, Pool, StreamServer, sleep, type Address } from 'weft/coro';
import { ValueError } from '../../src/errors.js';
import { assertNoLeaks, captureErrors } from './helpers.js';

after(assertNoLeaks);

async function connect(address: Address): Promise<CoroSocket> {
  const raw = net.connect(address[1], '127.0.0.1');
  await once(raw, 'connect');
  return new CoroSocket(raw);
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
  assert.equal((await c.recv(10)).length, 0);
  c.close();
  await assert.rejects(connect(server.address), /ECONNREFUSED/);
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
