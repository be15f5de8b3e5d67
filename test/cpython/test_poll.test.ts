/**
 * CPython 3.11's Lib/test/test_poll.py, ported to weft/io with its test names.
 * Differences from the original, each for the reason given:
 * - Pipes are socketpairs (Node has no os.pipe); os.read/os.write are recv/send.
 * - test_poll2: not ported. CPython runs it only with the 'walltime' resource
 *   (ten seconds of `sleep 1`), off by default; test_select's port covers the same loop.
 * - test_threaded_poll: not ported. It shares one poll object between two
 *   threads; a JavaScript object cannot be shared between worker threads.
 * - test_poll_blocks_with_negative_ms runs the blocking poll in a worker
 *   thread, which polls the same fd (threads share the fd table).
 * - test_poll_c_limits uses the C limits' values (_testcapi is CPython-only).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { KeyError, OverflowError, POLLIN, POLLNVAL, POLLOUT, ValueError, poll, socketpair, type socket } from 'weft/io';

function findReadyMatching(ready: [number, number][], flag: number): number[] {
  return ready.filter(([, mode]) => mode & flag).map(([fd]) => fd);
}

const choice = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;

describe('PollTests', () => {
  test('test_poll1', () => {
    // Basic functional test of poll object
    const p = poll();
    const NUM_PIPES = 12;
    const MSG = Buffer.from(' This is a test.');
    const bySock = new Map<number, socket>();
    let writers: number[] = [];
    const r2w = new Map<number, number>();
    for (let i = 0; i < NUM_PIPES; i++) {
      const [rd, wr] = socketpair();
      bySock.set(rd.fileno(), rd);
      bySock.set(wr.fileno(), wr);
      p.register(rd);
      p.modify(rd, POLLIN);
      p.register(wr, POLLOUT);
      writers.push(wr.fileno());
      r2w.set(rd.fileno(), wr.fileno());
    }
    const bufs: Buffer[] = [];
    try {
      while (writers.length) {
        let ready = p.poll();
        const readyWriters = findReadyMatching(ready, POLLOUT);
        if (!readyWriters.length) throw new Error('no pipes ready for writing');
        bySock.get(choice(readyWriters))!.send(MSG);
        ready = p.poll();
        const readyReaders = findReadyMatching(ready, POLLIN);
        if (!readyReaders.length) throw new Error('no pipes ready for reading');
        const rd = choice(readyReaders);
        const buf = bySock.get(rd)!.recv(MSG.length);
        assert.equal(buf.length, MSG.length);
        bufs.push(buf);
        const wr = r2w.get(rd)!;
        bySock.get(wr)!.close();
        bySock.get(rd)!.close();
        p.unregister(wr);
        p.unregister(rd);
        writers = writers.filter((w) => w !== wr);
      }
    } finally {
      for (const s of bySock.values()) s.close();
    }
    assert.deepEqual(bufs, Array<Buffer>(NUM_PIPES).fill(MSG));
  });

  test('test_poll_unit_tests', () => {
    // returns NVAL for invalid file descriptor
    const [a, b] = socketpair();
    const FD = a.fileno();
    a.close();
    b.close();
    let p = poll();
    p.register(FD);
    let r = p.poll();
    assert.deepEqual(r[0], [FD, POLLNVAL]);

    const TESTFN = join(tmpdir(), `weft-test-poll-${process.pid}`);
    const fd = openSync(TESTFN, 'w');
    p = poll();
    p.register(fd);
    r = p.poll();
    assert.equal(r[0]![0], fd);
    closeSync(fd);
    r = p.poll();
    assert.deepEqual(r[0], [fd, POLLNVAL]);
    unlinkSync(TESTFN);

    // type error for invalid arguments
    p = poll();
    assert.throws(() => p.register(p as never), TypeError);
    assert.throws(() => p.unregister(p as never), TypeError);

    // can't unregister non-existent object
    p = poll();
    assert.throws(() => p.unregister(3), KeyError);

    // Test error cases
    const pollster = poll();
    class Nope {}
    class Almost {
      fileno(): unknown {
        return 'fileno';
      }
    }
    assert.throws(() => pollster.register(new Nope() as never, 0), TypeError);
    assert.throws(() => pollster.register(new Almost() as never, 0), TypeError);
  });

  test('test_poll3', () => {
    // test int overflow
    const pollster = poll();
    pollster.register(1);
    assert.throws(() => pollster.poll(2 ** 64), OverflowError);
    // Issues #15989, #17919
    assert.throws(() => pollster.register(0, -1), ValueError);
    assert.throws(() => pollster.register(0, 2 ** 64), OverflowError);
    assert.throws(() => pollster.modify(1, -1), ValueError);
    assert.throws(() => pollster.modify(1, 2 ** 64), OverflowError);
  });

  test('test_poll_c_limits', () => {
    const USHRT_MAX = 2 ** 16 - 1;
    const INT_MAX = 2 ** 31 - 1;
    const UINT_MAX = 2 ** 32 - 1;
    const pollster = poll();
    pollster.register(1);
    // Issues #15989, #17919
    assert.throws(() => pollster.register(0, USHRT_MAX + 1), OverflowError);
    assert.throws(() => pollster.modify(1, USHRT_MAX + 1), OverflowError);
    assert.throws(() => pollster.poll(INT_MAX + 1), OverflowError);
    assert.throws(() => pollster.poll(UINT_MAX + 1), OverflowError);
  });

  test('test_poll_blocks_with_negative_ms', async () => {
    const io = import.meta.resolve('weft/io');
    for (const timeoutMs of [null, -1000, -1, -1.0, -0.1, -1e-100]) {
      // Two fds: the worker blocks in poll on r; a write on w unblocks it.
      const [r, w] = socketpair();
      const worker = new Worker(
        `const { poll, POLLIN } = await import(${JSON.stringify(io)});
         const { workerData } = await import('node:worker_threads');
         const pollster = poll();
         pollster.register(workerData.fd, POLLIN);
         pollster.poll(workerData.timeout);`,
        { eval: true, workerData: { fd: r.fileno(), timeout: timeoutMs } },
      );
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      const early = await Promise.race([exited.then(() => true), new Promise((res) => setTimeout(res, 300, false))]);
      assert.equal(early, false, `poll(${timeoutMs}) returned instead of blocking`);
      // Write to the socket so pollster.poll unblocks and the thread ends.
      w.send(Buffer.from('spam'));
      const code = await Promise.race([exited, new Promise<string>((res) => setTimeout(res, 10_000, 'stuck'))]);
      assert.equal(code, 0);
      r.close();
      w.close();
    }
  });
});
