/**
 * IoUring's allocation-free path: recvMultishot's numeric callbacks and
 * sendBuffer, which sends a received chunk from its ring buffer and hands
 * the buffer back to the kernel itself (the echo of bench/io).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConnectionResetError, IoUring, SOL_SOCKET, SO_LINGER, SO_SNDBUF, ValueError,
} from 'weft/io';
import { tcpPair } from './helpers.js';

const available = IoUring.available();

/** Turn the ring until `done()` (bounded: 5 s). */
function until(ring: IoUring, done: () => boolean): void {
  const deadline = performance.now() + 5000;
  while (!done()) {
    if (performance.now() > deadline) assert.fail('the completions never came');
    ring.wait(1, 0.2);
  }
}

describe('IoUring, allocation-free path', { skip: !available.ok && available.reason }, () => {
  test('an echo through sendBuffer hands each buffer back: 200 round trips on 4 buffers, no ENOBUFS', () => {
    using ring = new IoUring({ bufferCount: 4, bufferSize: 1024 });
    const [client, conn] = tcpPair();
    const seen: number[] = [];
    ring.recvMultishot(conn, (n, bufferId, more) => {
      seen.push(n);
      if (n > 0) ring.sendBuffer(conn, bufferId, n);
      assert.ok(more || n <= 0, 'a chunk without more ends the recv');
    });
    for (let i = 0; i < 200; i++) {
      const msg = Buffer.alloc(100 + (i % 7) * 100, i);
      client.sendAll(msg);
      const back: Buffer[] = [];
      let got = 0;
      until(ring, () => {
        while (got < msg.length) {
          try {
            const part = client.recv(msg.length - got, 0x40); // MSG_DONTWAIT
            back.push(part);
            got += part.length;
          } catch {
            return false;
          }
        }
        return true;
      });
      assert.deepEqual(Buffer.concat(back), msg);
    }
    assert.ok(seen.every((n) => n > 0), `a recv ended: ${seen.filter((n) => n <= 0)}`);
    client.close();
    until(ring, () => seen.at(-1) === 0); // EOF: (0, -1, false)
    conn.close();
  });

  test('the kernel finishes a partial send itself: one completion per chunk, with every byte of it', () => {
    using ring = new IoUring({ bufferCount: 4, bufferSize: 262144 });
    const [client, conn] = tcpPair();
    conn.setSockOpt(SOL_SOCKET, SO_SNDBUF, 4096); // far less than a chunk: the socket takes a chunk piece by piece
    const chunks: number[] = [];
    const sent: number[] = [];
    // one send at a time on the socket, the next from the previous one's callback (sendBuffer's rule of order)
    const queue: [number, number][] = [];
    let sending = false;
    const next = (): void => {
      const item = queue.shift();
      sending = item !== undefined;
      if (item) ring.sendBuffer(conn, item[0], item[1], 0, (r) => (sent.push(r), next()));
    };
    ring.recvMultishot(conn, (n, bufferId) => {
      if (n <= 0) return;
      chunks.push(n);
      queue.push([bufferId, n]);
      if (!sending) next();
    });
    const msg = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7 + (i >> 10)) & 0xff));
    client.sendAll(msg);
    until(ring, () => chunks.length > 0);
    ring.wait(0, 0.05); // the peer reads nothing yet: the sends wait in the kernel
    assert.deepEqual(sent, []);
    const back: Buffer[] = [];
    let got = 0;
    until(ring, () => {
      for (;;) {
        try {
          const part = client.recv(65536, 0x40); // MSG_DONTWAIT
          back.push(part);
          got += part.length;
        } catch {
          return got === msg.length && sent.length === chunks.length;
        }
      }
    });
    assert.ok(chunks.some((n) => n > 8192), `chunks ${chunks}: none larger than the send buffer`);
    assert.deepEqual(sent, chunks);
    assert.deepEqual(Buffer.concat(back), msg);
    client.close();
    conn.close();
  });

  test('a peer\'s RST ends the recv with -ECONNRESET; IoUring.error names it', () => {
    using ring = new IoUring({ bufferCount: 2 });
    const [client, conn] = tcpPair();
    const results: [number, number, boolean][] = [];
    ring.recvMultishot(conn, (n, b, more) => results.push([n, b, more]));
    ring.submit();
    client.setSockOpt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
    client.close();
    until(ring, () => results.length > 0);
    assert.deepEqual(results, [[-104, -1, false]]);
    assert.ok(IoUring.error(results[0]![0]) instanceof ConnectionResetError);
    assert.throws(() => IoUring.error(3), ValueError);
    conn.close();
  });

  test('a waitOnly ring runs its callbacks inside wait() and has no completions()', async () => {
    using ring = new IoUring({ waitOnly: true, bufferCount: 4 });
    const [client, conn] = tcpPair();
    const got: number[] = [];
    ring.recvMultishot(conn, (n, bufferId) => {
      got.push(n);
      if (n > 0) ring.sendBuffer(conn, bufferId, n);
    });
    client.sendAll(Buffer.from('deferred'));
    await new Promise((r) => setTimeout(r, 20)); // the event loop turns: nothing runs there
    assert.deepEqual(got, []);
    until(ring, () => got.length > 0);
    assert.deepEqual(got, [8]);
    let echoed = '';
    until(ring, () => {
      try {
        echoed += client.recv(8, 0x40).toString(); // MSG_DONTWAIT
      } catch {
        // not back yet
      }
      return echoed === 'deferred';
    });
    await assert.rejects(ring.completions().next(), /a waitOnly ring has no completions\(\)/);
    client.close();
    conn.close();
  });

  test('sendBuffer and bufferView refuse ids and ranges outside the ring\'s buffers', () => {
    using ring = new IoUring({ bufferCount: 2, bufferSize: 16 });
    const [a, b] = tcpPair();
    assert.throws(() => ring.sendBuffer(a, 0, 1), /not a buffer id of this ring: 0/); // no buffers before a recv
    ring.recvMultishot(b, () => {});
    assert.throws(() => ring.sendBuffer(a, 2, 1), /not a buffer id of this ring: 2/);
    assert.throws(() => ring.sendBuffer(a, 0, 10, 8), /offset 8 \+ length 10 must lie within a buffer of 16 bytes/);
    assert.throws(() => ring.bufferView(0, 17), /length must be from 0 to 16, not 17/);
    assert.throws(() => ring.recvMultishot(b, undefined as never), TypeError);
    a.close();
    b.close();
  });
});
