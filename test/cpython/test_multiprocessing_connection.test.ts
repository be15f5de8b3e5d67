/**
 * CPython 3.11's Lib/test/_test_multiprocessing.py: its _TestConnection and
 * _TestPoll classes, ported with their test names, under the processes and
 * threads variants as CPython runs them. Where CPython checks something for
 * processes only (`fileno()`, `recv_bytes_into`, `readable`, EOFError after
 * the child closed), because multiprocessing.dummy's connections are queues,
 * weft checks it in both: its thread children use the same Pipe. Differences
 * from the original, each for the reason given:
 * - `recv()`, `recvBytes()`, `recvBytesInto()` and `poll()` are async (they must not block Node's event loop).
 * - Python's `array.array('i')` is an Int32Array; `bytes` and `bytearray` are Buffers.
 * - test_boundaries sleeps 0.5 s, not 2 s, and _child_strings 0.02 s, not 0.1 s, between messages.
 * - Not ported: test_fd_transfer, test_large_fd_transfer and test_missing_fd_transfer use
 *   `multiprocessing.reduction.send_handle`/`recv_handle`, which weft does not have (a Pipe end, a Queue or a
 *   lock crosses to a child as a Process argument instead; a raw fd cannot be sent); _TestListener,
 *   _TestListenerClient and _TestPicklingConnections use `multiprocessing.connection.Listener`/`Client` and
 *   pickled sockets, which weft does not have either (its manager speaks its own protocol).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferTooShort, EOFError, OSError, Pipe, Process, ValueError, type ContextName, type TaskFunction } from 'weft';
import { TIMEOUT1, assertTimingAlmostEqual, sleep, timed } from './mp_support.js';
import * as t from './fixtures/mp_tasks.js';

const VARIANTS: [string, ContextName][] = [
  ['processes', 'process'],
  ['threads', 'thread'],
];
const SENTINEL = Buffer.alloc(0);
const latin = (s: string) => Buffer.from(s, 'latin1');

function start<F extends TaskFunction>(context: ContextName, target: F, args: Parameters<F>): Process<F> {
  const p = new Process({ target, args, context, daemon: true });
  p.start();
  return p;
}

describe('_TestConnection', () => {
  for (const [TYPE, context] of VARIANTS) {
    test(`test_connection (${TYPE})`, async () => {
      const [conn, childConn] = Pipe();
      const p = start(context, t.echo, [childConn]);
      const seq = [1, 2.25, null];
      const msg = latin('hello world');
      const longmsg = Buffer.concat(Array(10).fill(msg));
      const arr = Int32Array.from([0, 1, 2, 3]);

      assert.equal(typeof conn.fileno(), 'number');
      assert.equal(conn.send(seq), undefined);
      assert.deepEqual(await conn.recv(), seq);
      assert.equal(conn.sendBytes(msg), undefined);
      assert.deepEqual(await conn.recvBytes(), msg);

      let buffer = new Int32Array(10);
      assert.equal(conn.sendBytes(arr), undefined);
      assert.equal(await conn.recvBytesInto(buffer), arr.length * buffer.BYTES_PER_ELEMENT);
      assert.deepEqual([...buffer], [...arr, ...Array(10 - arr.length).fill(0)]);

      buffer = new Int32Array(10);
      assert.equal(conn.sendBytes(arr), undefined);
      assert.equal(await conn.recvBytesInto(buffer, 3 * buffer.BYTES_PER_ELEMENT), arr.length * buffer.BYTES_PER_ELEMENT);
      assert.deepEqual([...buffer], [0, 0, 0, ...arr, ...Array(10 - 3 - arr.length).fill(0)]);

      const small = Buffer.from(' '.repeat(40));
      assert.equal(conn.sendBytes(longmsg), undefined);
      await assert.rejects(conn.recvBytesInto(small), (e: unknown) => {
        assert.ok(e instanceof BufferTooShort);
        assert.deepEqual(e.args, [longmsg]);
        return true;
      });

      let [got, elapsed] = await timed(() => conn.poll());
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, 0);
      [got, elapsed] = await timed(() => conn.poll(-1));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, 0);
      [got, elapsed] = await timed(() => conn.poll(TIMEOUT1));
      assert.equal(got, false);
      assertTimingAlmostEqual(elapsed, TIMEOUT1);

      conn.send(null);
      await sleep(0.1);
      [got, elapsed] = await timed(() => conn.poll(TIMEOUT1));
      assert.equal(got, true);
      assertTimingAlmostEqual(elapsed, 0);
      assert.equal(await conn.recv(), null);

      const reallyBigMsg = Buffer.alloc(1024 * 1024 * 16, 'X');
      conn.sendBytes(reallyBigMsg);
      assert.ok((await conn.recvBytes()).equals(reallyBigMsg));

      conn.sendBytes(SENTINEL); // tell child to quit
      childConn.close();
      assert.equal(conn.readable, true);
      assert.equal(conn.writable, true);
      await assert.rejects(conn.recv(), EOFError);
      await assert.rejects(conn.recvBytes(), EOFError);
      await p.join(30);
      assert.equal(p.exitCode, 0);
    });

    test(`test_duplex_false (${TYPE})`, async () => {
      const [reader, writer] = Pipe({ duplex: false });
      assert.equal(writer.send(1), undefined);
      assert.equal(await reader.recv(), 1);
      assert.equal(reader.readable, true);
      assert.equal(reader.writable, false);
      assert.equal(writer.readable, false);
      assert.equal(writer.writable, true);
      assert.throws(() => reader.send(2), OSError);
      await assert.rejects(writer.recv(), OSError);
      await assert.rejects(writer.poll(), OSError);
    });

    test(`test_spawn_close (${TYPE})`, async () => {
      const [conn, childConn] = Pipe();
      const p = start(context, t.echo, [childConn]);
      childConn.close(); // this might complete before child initializes
      const msg = latin('hello');
      conn.sendBytes(msg);
      assert.deepEqual(await conn.recvBytes(), msg);
      conn.sendBytes(SENTINEL);
      conn.close();
      await p.join(30);
      assert.equal(p.exitCode, 0);
    });

    test(`test_sendbytes (${TYPE})`, async () => {
      const msg = latin('abcdefghijklmnopqrstuvwxyz');
      const [a, b] = Pipe();
      a.sendBytes(msg);
      assert.deepEqual(await b.recvBytes(), msg);
      a.sendBytes(msg, 5);
      assert.deepEqual(await b.recvBytes(), msg.subarray(5));
      a.sendBytes(msg, 7, 8);
      assert.deepEqual(await b.recvBytes(), msg.subarray(7, 7 + 8));
      a.sendBytes(msg, 26);
      assert.deepEqual(await b.recvBytes(), latin(''));
      a.sendBytes(msg, 26, 0);
      assert.deepEqual(await b.recvBytes(), latin(''));
      assert.throws(() => a.sendBytes(msg, 27), ValueError);
      assert.throws(() => a.sendBytes(msg, 22, 5), ValueError);
      assert.throws(() => a.sendBytes(msg, 26, 1), ValueError);
      assert.throws(() => a.sendBytes(msg, -1), ValueError);
      assert.throws(() => a.sendBytes(msg, 4, -1), ValueError);
    });

    test(`test_context (${TYPE})`, async () => {
      const [a, b] = Pipe();
      {
        using _a = a;
        using _b = b;
        a.send(1729);
        assert.equal(await b.recv(), 1729);
        assert.equal(a.closed, false);
        assert.equal(b.closed, false);
      }
      assert.equal(a.closed, true);
      assert.equal(b.closed, true);
      await assert.rejects(a.recv(), OSError);
      await assert.rejects(b.recv(), OSError);
    });
  }
});

describe('_TestPoll', () => {
  for (const [TYPE, context] of VARIANTS) {
    test(`test_empty_string (${TYPE})`, async () => {
      const [a, b] = Pipe();
      assert.equal(await a.poll(), false);
      b.sendBytes(Buffer.from(''));
      assert.equal(await a.poll(), true);
      assert.equal(await a.poll(), true);
    });

    test(`test_strings (${TYPE})`, async () => {
      const strings = ['hello', '', 'a', 'b', '', 'bye', '', 'lop'].map((s) => Buffer.from(s));
      const [a, b] = Pipe();
      const p = start(context, t.childStrings, [b, strings]);
      for (const s of strings) {
        for (let i = 0; i < 200; i++) if (await a.poll(0.01)) break;
        assert.deepEqual(await a.recvBytes(), s);
      }
      await p.join(30);
    });

    test(`test_boundaries (${TYPE})`, async () => {
      const [r, w] = Pipe({ duplex: false });
      const p = start(context, t.childBoundaries, [r]);
      await sleep(0.5);
      const L = ['first', 'second'];
      for (const obj of L) w.sendBytes(Buffer.from(obj));
      w.close();
      await p.join(30);
      assert.ok(L.includes((await r.recvBytes()).toString()));
    });

    test(`test_dont_merge (${TYPE})`, async () => {
      const [a, b] = Pipe();
      assert.equal(await a.poll(0.0), false);
      assert.equal(await a.poll(0.1), false);
      const p = start(context, t.childDontMerge, [b]);
      assert.equal((await a.recvBytes()).toString(), 'a');
      assert.equal(await a.poll(1.0), true);
      assert.equal(await a.poll(1.0), true);
      assert.equal((await a.recvBytes()).toString(), 'b');
      assert.equal(await a.poll(1.0), true);
      assert.equal(await a.poll(1.0), true);
      assert.equal(await a.poll(0.0), true);
      assert.equal((await a.recvBytes()).toString(), 'cd');
      await p.join(30);
    });
  }
});
