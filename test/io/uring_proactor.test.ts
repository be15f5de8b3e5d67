/** Proactor: asyncio's proactor shape (await recv / send / accept / connect) over IoUring, on weft sockets. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConnectionRefusedError, ConnectionResetError, IoUring, OSError, Proactor, SOL_SOCKET, SO_LINGER, ValueError,
  createServer, socket, socketpair,
} from 'weft/io';
import { openFds } from './helpers.js';

const available = IoUring.available();

if (!available.ok) {
  test(`io_uring is unavailable here (${available.reason}): new Proactor() raises that reason`, () => {
    assert.throws(() => new Proactor(), (e: unknown) => e instanceof OSError && e.message.includes(available.reason));
  });
} else {
  describe('Proactor', () => {
    test('an echo over 50 concurrent TCP connections, every byte back in order', async () => {
      const fds = openFds();
      using proactor = new Proactor();
      using srv = createServer(['127.0.0.1', 0], { backlog: 128 });
      const N = 50;
      const serve = async () => {
        const [conn] = await proactor.accept(srv);
        for (;;) {
          const data = await proactor.recv(conn, 4096);
          if (data.length === 0) break;
          await proactor.sendAll(conn, data);
        }
        conn.close();
      };
      const servers = Array.from({ length: N }, serve);
      const clients = Array.from({ length: N }, async (_, i) => {
        const sock = new socket();
        await proactor.connect(sock, srv.getSockName());
        const received: Buffer[] = [];
        for (let k = 0; k < 20; k++) {
          const msg = Buffer.from(`client ${i} message ${k};`);
          await proactor.sendAll(sock, msg);
          let got = 0;
          while (got < msg.length) {
            const part = await proactor.recv(sock, msg.length - got);
            assert.ok(part.length > 0, 'early EOF');
            received.push(part);
            got += part.length;
          }
        }
        sock.shutdown(1);
        assert.equal((await proactor.recv(sock, 10)).length, 0);
        sock.close();
        return Buffer.concat(received).toString();
      });
      const echoed = await Promise.all(clients);
      await Promise.all(servers);
      echoed.forEach((text, i) => assert.equal(text, Array.from({ length: 20 }, (_, k) => `client ${i} message ${k};`).join('')));
      assert.equal(proactor.ring.inFlight, 0);
      proactor.close();
      srv.close();
      assert.equal(openFds(), fds);
    });

    test('accept gives the peer address; recvInto fills a buffer; bad sizes raise ValueError', async () => {
      using proactor = new Proactor();
      using srv = createServer(['127.0.0.1', 0]);
      using client = new socket();
      const accepted = proactor.accept(srv);
      await proactor.connect(client, srv.getSockName());
      const [conn, addr] = await accepted;
      assert.deepEqual(addr, client.getSockName());
      await proactor.sendAll(client, Buffer.from('filled'));
      const buf = Buffer.alloc(16);
      assert.equal(await proactor.recvInto(conn, buf), 6);
      assert.equal(String(buf.subarray(0, 6)), 'filled');
      await assert.rejects(proactor.recv(conn, -1), ValueError);
      conn.close();
    });

    test('errors reject with Python\'s exceptions: refused, reset', async () => {
      using proactor = new Proactor();
      using closed = new socket();
      closed.bind(['127.0.0.1', 0]);
      using sock = new socket();
      await assert.rejects(proactor.connect(sock, closed.getSockName()), ConnectionRefusedError);
      using srv = createServer(['127.0.0.1', 0]);
      using client = new socket();
      client.connect(srv.getSockName());
      const [conn] = srv.accept();
      const pending = proactor.recv(conn, 100);
      const linger = Buffer.alloc(8);
      linger.writeInt32LE(1, 0);
      client.setSockOpt(SOL_SOCKET, SO_LINGER, linger);
      client.close();
      await assert.rejects(pending, (e: unknown) => e instanceof ConnectionResetError && e.errno === 104);
      conn.close();
    });

    test('close() rejects what is pending with ECANCELED', async () => {
      const proactor = new Proactor();
      const [a, b] = socketpair();
      const pending = proactor.recv(b, 10);
      await new Promise((r) => setImmediate(r)); // submitted
      proactor.close();
      await assert.rejects(pending, (e: unknown) => e instanceof OSError && e.code === 'ECANCELED');
      await assert.rejects(proactor.recv(b, 10), (e: unknown) => e instanceof OSError && e.errno === 9);
      a.close();
      b.close();
    });
  });
}
