// Stopping `weft serve`: SIGTERM with a message in flight answers it, prints
// the summary and exits 0, leaving no process behind; a second signal stops
// at once; SIGKILL of the server leaves no child process either.
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { IoUring } from 'weft/io';
import { eventually } from '../helpers/run.js';
import { MODELS, Served, alive, descendants, signalAll } from './helpers.js';

const uring = IoUring.available();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A client connection that collects everything the server sends until it closes. */
async function connect(port: number): Promise<{ sock: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const chunks: Buffer[] = [];
  sock.on('data', (d: Buffer) => chunks.push(d));
  sock.on('error', () => {}); // a reset shows as a short reply
  // Not events.once: it rejects on an 'error' before 'close', a reset this file causes on purpose.
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  return { sock, received: () => Buffer.concat(chunks), closed };
}

/** Resolves once `client` has received `n` bytes (60 s at most: a process per connection boots slowly on a loaded machine). */
const receivedBytes = (client: { received: () => Buffer }, n: number): Promise<void> =>
  eventually(() => client.received().length >= n, 60, `${n} bytes echoed`);

for (const model of MODELS) {
  test(`--model ${model}: SIGTERM answers a message in flight, prints the summary, exits 0, leaves no process`, async (t) => {
    if (model === 'uring' && !uring.ok) return t.diagnostic(`io_uring is unavailable here (${uring.reason})`);
    const server = await Served.start(model);
    const client = await connect(server.port);
    client.sock.write('warm');
    await receivedBytes(client, 4); // a process or thread model has the connection's child running now
    const tree = [server.child.pid!, ...descendants(server.child.pid!)];
    // Frozen, the server cannot read the next message before the signal comes: it is in flight.
    signalAll(tree, 'SIGSTOP');
    try {
      client.sock.write('in flight');
      await sleep(200); // in the server's receive queue now (loopback delivers at once)
      server.child.kill('SIGTERM');
    } finally {
      signalAll(tree, 'SIGCONT');
    }
    await client.closed;
    assert.equal(client.received().toString(), 'warmin flight');
    const end = await server.wait();
    assert.equal(end.code, 0, end.stderr);
    // The --json contract `weft bench servers` reads: one line when listening, one when stopped, nothing between.
    const [listening, stopped, ...more] = end.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(Object.keys(listening!), ['event', 'model', 'host', 'port', 'pid', 'pids']);
    assert.deepEqual([listening!.event, listening!.model, listening!.host, listening!.pid], ['listening', model, '127.0.0.1', server.child.pid]);
    assert.equal((listening!.pids as number[])[0], server.child.pid);
    assert.deepEqual(Object.keys(stopped!), ['event', 'connections', 'messages', 'bytes', 'seconds']);
    assert.equal(more.length, 0);
    assert.deepEqual(
      { connections: end.stopped?.connections, messages: end.stopped?.messages, bytes: end.stopped?.bytes },
      { connections: 1, messages: 2, bytes: 13 },
    );
    await eventually(() => alive(tree).length === 0, 10, `no process of ${model} left (${alive(tree).join(', ')})`);
  });
}

test('a second signal stops at once, where a graceful stop would wait for a client that does not read', async () => {
  const server = await Served.start('epoll');
  const client = await connect(server.port);
  client.sock.pause(); // reads nothing: the echo of 8 MB cannot be answered in full
  client.sock.write(Buffer.alloc(8 * 1024 * 1024, 'a'));
  await sleep(300);
  server.child.kill('SIGTERM');
  await sleep(500);
  assert.equal(server.child.exitCode, null, 'the graceful stop waits for the reply to be taken');
  const t0 = performance.now();
  const end = await server.stop('SIGINT', 5);
  assert.ok(performance.now() - t0 < 3000, `stopped in ${performance.now() - t0} ms`);
  assert.equal(end.code, 0, end.stderr);
  assert.equal(end.stopped?.connections, 1);
  client.sock.destroy();
});

describe('SIGKILL of weft serve leaves no child behind', () => {
  for (const model of ['process', 'prefork'] as const) {
    test(`--model ${model}`, async () => {
      const server = await Served.start(model);
      const clients = await Promise.all([1, 2, 3].map(() => connect(server.port)));
      clients.forEach((c) => c.sock.write('hi'));
      await Promise.all(clients.map((c) => receivedBytes(c, 2)));
      const children = descendants(server.child.pid!);
      assert.ok(children.length >= (model === 'process' ? 3 : 2), `children: ${children.join(', ')}`);
      server.child.kill('SIGKILL');
      await server.wait();
      await eventually(() => alive(children).length === 0, 10, `children of ${model} gone (${alive(children).join(', ')} left)`);
      await Promise.all(clients.map((c) => c.closed)); // and the connections they served are closed
    });
  }
});
