// Pipe and Connection: both directions, bytes, polling, big messages, and EOF
// instead of a hang when the other end closes or its holder dies.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BrokenPipeError, EOFError, OSError, Pipe, Process, UnsendableError, ValueError } from 'weft';
import { echo, holdUntilEof, sendBytesMany, sendThenDie } from './fixtures/pipes.js';

for (const context of ['process', 'thread'] as const) {
  describe(`Pipe (${context})`, () => {
    test('the seed exchange: the child sends two, the parent answers, round trips keep order', async () => {
      const [a, b] = Pipe();
      const p = new Process({ target: echo, args: [b], context });
      p.start();
      for (let i = 0; i < 500; i++) a.send({ i });
      for (let i = 0; i < 500; i++) assert.deepEqual(await a.recv(), { i });
      a.send(null);
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    test('recv() drains what was sent, then EOFError when the child exits', async () => {
      const [a, b] = Pipe();
      const p = new Process({ target: sendThenDie, args: [b, 'exit'], context });
      p.start();
      assert.equal(await a.recv(), 'last words');
      await assert.rejects(a.recv(), EOFError);
      await p.join();
    });

    test('recv() rejects with EOFError when the child holding the other end is killed', async () => {
      const [a, b] = Pipe();
      const p = new Process({ target: holdUntilEof, args: [b], context });
      p.start();
      assert.equal(await a.recv(), 'ready');
      const pending = a.recv();
      p.kill();
      await assert.rejects(pending, EOFError);
      await p.join();
      assert.equal(p.exitCode, -9);
      assert.throws(() => a.send('anyone?'), BrokenPipeError);
    });

    test('sendBytes from a child: many messages bigger than the ring arrive whole and in order', async () => {
      const [a, b] = Pipe({ duplex: false, capacity: 1 << 14 });
      const p = new Process({ target: sendBytesMany, args: [b, 20, 50_000], context });
      p.start();
      for (let i = 0; i < 20; i++) {
        const bytes = await a.recvBytes();
        assert.equal(bytes.length, 50_000);
        assert.ok(bytes.every((x) => x === (i & 0xff)));
      }
      await assert.rejects(a.recvBytes(), EOFError);
      await p.join();
    });

    test('an end can be handed to one child only', async () => {
      const [a, b] = Pipe();
      const p = new Process({ target: holdUntilEof, args: [b], context });
      p.start();
      const q = new Process({ target: holdUntilEof, args: [b], context });
      assert.throws(() => q.start(), (e: Error) => e instanceof ValueError && /handed to a child/.test(e.message));
      assert.equal(await a.recv(), 'ready');
      a.close();
      await p.join();
    });
  });
}

describe('Connection in one process', () => {
  test('duplex both ways; one-way pipes refuse the wrong direction', async () => {
    const [a, b] = Pipe();
    a.send('to b');
    b.send('to a');
    assert.equal(await b.recv(), 'to b');
    assert.equal(await a.recv(), 'to a');
    const [r, w] = Pipe({ duplex: false });
    assert.equal(r.readable && !r.writable, true);
    assert.equal(w.writable && !w.readable, true);
    assert.throws(() => r.send(1), OSError);
    await assert.rejects(w.recv(), OSError);
  });

  test('poll(timeout) waits up to the timeout, and says true once data is there', async () => {
    const [a, b] = Pipe();
    assert.equal(await b.poll(), false);
    const t = performance.now();
    assert.equal(await b.poll(0.2), false);
    assert.ok(performance.now() - t >= 190);
    setTimeout(() => a.send('late'), 50);
    assert.equal(await b.poll(5), true);
    assert.equal(await b.recv(), 'late');
  });

  test('sendBytes with offset and size; recvBytes(maxlength) refuses a longer message', async () => {
    const [a, b] = Pipe();
    a.sendBytes(Buffer.from('0123456789'), 2, 5);
    assert.equal((await b.recvBytes()).toString(), '23456');
    a.sendBytes(Buffer.from('too long'));
    await assert.rejects(b.recvBytes(3), /bad message length/);
    assert.throws(() => a.sendBytes(Buffer.from('abc'), 2, 5), ValueError);
  });

  test('close(): EOFError on the other side after draining; using a closed end throws; close is idempotent', async () => {
    const [a, b] = Pipe();
    a.send(1);
    a.close();
    a.close();
    assert.equal(a.closed, true);
    assert.equal(await b.recv(), 1);
    await assert.rejects(b.recv(), EOFError);
    assert.equal(await b.poll(), true); // EOF counts as readable, as in Python
    assert.throws(() => a.send(2), /handle is closed/);
    assert.throws(() => b.send(2), BrokenPipeError);
  });

  test('closing an end while a recv or poll waits on it rejects them (OSError): nothing hangs', async () => {
    const [, b] = Pipe();
    const waiting = assert.rejects(b.recv(), /handle is closed/);
    const polling = assert.rejects(b.poll(null), /handle is closed/);
    setTimeout(() => b.close(), 20);
    await Promise.all([waiting, polling]);
  });

  test('unsendable values are refused with their path and nothing is sent', async () => {
    const [a, b] = Pipe();
    assert.throws(() => a.send({ x: { y: () => 1 } }), (e: Error) => e instanceof UnsendableError && /obj\.x\.y/.test(e.message));
    a.send('after');
    assert.equal(await b.recv(), 'after');
  });
});

describe('wait() on many objects', () => {
  test('returns the ready ones: a connection with data, a process that ended; [] after the timeout', async () => {
    const { wait } = await import('weft');
    const [a, b] = Pipe();
    const [c, d] = Pipe();
    const t = performance.now();
    assert.deepEqual(await wait([b, d], 0.2), []);
    assert.ok(performance.now() - t >= 190);
    setTimeout(() => c.send('on d'), 50);
    const ready = await wait([b, d], 5);
    assert.deepEqual(ready, [d]);
    assert.equal(await d.recv(), 'on d');
    const p = new Process({ target: sendThenDie, args: [a, 'exit'] });
    p.start();
    const first = await wait([b, p], 10);
    assert.ok(first.includes(b));
    assert.equal(await b.recv(), 'last words');
    const ended = await wait([p], 10);
    assert.deepEqual(ended, [p]);
    assert.equal(p.exitCode, 0);
  });
});
