/**
 * IoUring against real sockets and files: every operation, partial sends, a
 * peer's RST mid-recv, EOF, cancel, time-outs, 10k accept/close cycles without
 * leaks, a ring closed with operations in flight, and a process where a
 * seccomp filter forbids io_uring.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  AF_INET, BrokenPipeError, ConnectionRefusedError, ConnectionResetError, IoUring, OSError, SCM_RIGHTS, SOCK_DGRAM,
  SOL_SOCKET, SO_LINGER, SO_SNDBUF, ValueError, createServer, socket, socketpair, type Completion,
} from 'weft/io';
import { gather, noIoUringHelper, openFds, sleep, tcpPair } from './helpers.js';

const available = IoUring.available();

if (!available.ok) {
  // Legitimate on a kernel without io_uring or in a container that forbids it:
  // the reason is printed and must name one of the causes available() knows.
  test(`io_uring is unavailable here (${available.reason}); available() says why`, () => {
    assert.match(available.reason, /kernel|sysctl|seccomp|EPERM|ENOMEM|io_uring_setup/);
    assert.throws(() => new IoUring(), (e: unknown) => e instanceof OSError && e.message.includes(available.reason));
  });
} else {
  describe('IoUring', () => {
    let fds = 0;
    before(() => (fds = openFds()));
    afterEach(() => assert.equal(openFds(), fds, 'an fd leaked'));

    test('rejects bad options with errors that name the fix', () => {
      assert.throws(() => new IoUring({ entries: 100 }), (e: unknown) => e instanceof ValueError && /entries must be a power of two/.test((e as Error).message));
      assert.throws(() => new IoUring({ bufferCount: 0 }), ValueError);
      assert.throws(() => new IoUring({ bufferSize: 0 }), /bufferSize must be an integer/);
      using ring = new IoUring();
      assert.throws(() => ring.timeout(-1), /timeout must be a finite number of seconds >= 0/);
      assert.throws(() => ring.wait(1, -1), ValueError);
      assert.throws(() => ring.cancel(0), /not an operation id/);
      assert.throws(() => ring.releaseBuffer(5000), /not a buffer id of this ring: 5000/);
      const [a, b] = socketpair();
      assert.throws(() => ring.recv(b, { into: Buffer.alloc(4), multishot: true }), /leave out `into`/);
      assert.throws(() => ring.send(a, 'text' as unknown as Uint8Array), TypeError);
      a.close();
      b.close();
    });

    test('send, then recv into the ring\'s buffers and into a caller\'s buffer', () => {
      using ring = new IoUring();
      const [a, b] = socketpair();
      ring.send(a, Buffer.from('hello'));
      ring.recv(b);
      const got = gather(ring, (all) => all.length === 2);
      const recv = got.find((c) => c.op === 'recv')!;
      assert.equal(String(recv.data), 'hello');
      assert.ok(recv.bufferId >= 0);
      assert.equal(got.find((c) => c.op === 'send')!.result, 5);
      ring.releaseBuffer(recv.bufferId);
      const into = Buffer.alloc(8);
      ring.recv(b, { into });
      a.send(Buffer.from('world'));
      const [c] = gather(ring, (all) => all.length === 1);
      assert.deepEqual([c!.result, c!.bufferId, c!.data, String(into.subarray(0, 5))], [5, -1, null, 'world']);
      a.close();
      b.close();
    });

    test('a multishot recv delivers each chunk, then EOF ends it (result 0, more false)', () => {
      using ring = new IoUring();
      const [a, b] = socketpair();
      const id = ring.recv(b, { multishot: true });
      ring.submit();
      const chunks: string[] = [];
      for (const word of ['one', 'two', 'three']) {
        a.send(Buffer.from(word));
        const [c] = gather(ring, (all) => all.length === 1);
        assert.equal(c!.id, id);
        assert.equal(c!.more, true);
        chunks.push(String(c!.data));
        ring.releaseBuffer(c!.bufferId);
      }
      a.close();
      const [end] = gather(ring, (all) => all.length === 1);
      assert.deepEqual(chunks, ['one', 'two', 'three']);
      assert.deepEqual([end!.result, end!.error, end!.more, end!.data], [0, null, false, null]);
      assert.equal(ring.inFlight, 0);
      b.close();
    });

    test('with no free buffer a multishot recv ends with ENOBUFS', () => {
      using ring = new IoUring({ bufferCount: 1 });
      const [a, b] = socketpair();
      ring.recv(b, { multishot: true });
      ring.submit();
      a.send(Buffer.from('first'));
      const [first] = gather(ring, (all) => all.length === 1);
      assert.equal(String(first!.data), 'first'); // its buffer is not released
      a.send(Buffer.from('second'));
      const [second] = gather(ring, (all) => all.length === 1);
      assert.equal(second!.error?.code, 'ENOBUFS');
      assert.equal(second!.more, false);
      a.close();
      b.close();
    });

    test('partial sends: a send larger than the socket buffers reports what the kernel took', () => {
      using ring = new IoUring();
      const [a, b] = tcpPair();
      a.setSockOpt(SOL_SOCKET, SO_SNDBUF, 4096);
      const data = Buffer.alloc(8 << 20);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      ring.send(a, data);
      const [first] = gather(ring, (all) => all.length === 1);
      assert.ok(first!.result > 0 && first!.result < data.length, `a partial send, not ${first!.result} of ${data.length}`);
      // Send the rest while the peer drains; the bytes arrive whole and in order.
      b.setBlocking(false);
      const received: Buffer[] = [];
      let got = 0;
      let sent = first!.result;
      let sends = 1;
      const drain = () => {
        try {
          for (;;) {
            const chunk = b.recv(1 << 20);
            if (chunk.length === 0) break;
            received.push(chunk);
            got += chunk.length;
          }
        } catch { /* BlockingIOError: drained for now */ }
      };
      const deadline = performance.now() + 10_000;
      while (sent < data.length) {
        assert.ok(performance.now() < deadline, 'the rest was never sent');
        ring.send(a, data.subarray(sent));
        sends++;
        for (;;) {
          drain();
          const [c] = ring.wait(1, 0.01);
          if (c) {
            assert.equal(c.error, null);
            sent += c.result;
            break;
          }
        }
      }
      while (got < data.length && performance.now() < deadline) drain();
      assert.ok(sends > 1);
      assert.ok(Buffer.concat(received).equals(data), 'the bytes arrive whole and in order');
      a.close();
      b.close();
    });

    test('a peer\'s RST during a pending recv is ConnectionResetError (errno 104)', () => {
      using ring = new IoUring();
      const [a, b] = tcpPair();
      ring.recv(b);
      ring.submit();
      assert.equal(ring.wait(1, 0.05).length, 0); // pending
      const linger = Buffer.alloc(8);
      linger.writeInt32LE(1, 0); // l_onoff = 1, l_linger = 0: close sends RST
      a.setSockOpt(SOL_SOCKET, SO_LINGER, linger);
      a.close();
      const [c] = gather(ring, (all) => all.length === 1);
      assert.ok(c!.error instanceof ConnectionResetError);
      assert.equal(c!.error.errno, 104);
      assert.equal(c!.result, -104);
      b.close();
    });

    test('send to a closed peer is BrokenPipeError, not SIGPIPE; connect to nobody is ConnectionRefusedError', () => {
      using ring = new IoUring();
      const [a, b] = socketpair();
      b.close();
      ring.send(a, Buffer.from('x'));
      const [c] = gather(ring, (all) => all.length === 1);
      assert.ok(c!.error instanceof BrokenPipeError);
      a.close();
      const closed = new socket();
      closed.bind(['127.0.0.1', 0]); // bound, not listening
      const sock = new socket();
      ring.connect(sock, closed.getSockName());
      const [r] = gather(ring, (all) => all.length === 1);
      assert.ok(r!.error instanceof ConnectionRefusedError);
      sock.close();
      closed.close();
    });

    test('connect and accept through the ring, IPv6 and AF_UNIX addresses included', () => {
      using ring = new IoUring();
      for (const [host, family] of [['127.0.0.1', 2], ['::1', 10]] as const) {
        using srv = createServer([host, 0], { family });
        using sock = new socket(family);
        ring.connect(sock, srv.getSockName());
        ring.accept(srv);
        const got = gather(ring, (all) => all.length === 2);
        assert.equal(got.find((c) => c.op === 'connect')!.error, null);
        const fd = got.find((c) => c.op === 'accept')!.result;
        using conn = new socket(family, undefined, undefined, fd);
        assert.deepEqual(conn.getPeerName().slice(0, 2), sock.getSockName().slice(0, 2));
      }
      const dir = mkdtempSync(tmpdir() + '/weft-uring-');
      try {
        using srv = new socket(1);
        srv.bind(dir + '/s');
        srv.listen(1);
        using sock = new socket(1);
        ring.connect(sock, dir + '/s');
        const [c] = gather(ring, (all) => all.length === 1);
        assert.equal(c!.error, null);
        srv.accept()[0].close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('cancel of a pending recv: ECANCELED for it, and a cancel of a finished one is ENOENT', () => {
      using ring = new IoUring();
      const [a, b] = socketpair();
      const id = ring.recv(b);
      ring.submit();
      const cancel = ring.cancel(id);
      const got = gather(ring, (all) => all.length === 2);
      const recv = got.find((c) => c.id === id)!;
      assert.equal(recv.error?.code, 'ECANCELED');
      assert.equal(got.find((c) => c.id === cancel)!.error, null);
      ring.cancel(id);
      const [late] = gather(ring, (all) => all.length === 1);
      assert.equal(late!.error?.code, 'ENOENT');
      // The socket still works afterwards.
      a.send(Buffer.from('after'));
      assert.equal(String(b.recv(10)), 'after');
      a.close();
      b.close();
    });

    test('cancel of a multishot accept by its id ends it with ECANCELED', () => {
      using ring = new IoUring();
      using srv = createServer(['127.0.0.1', 0]);
      const id = ring.accept(srv, { multishot: true });
      ring.submit();
      const cancel = ring.cancel(id);
      const got = gather(ring, (all) => all.length === 2);
      assert.equal(got.find((c) => c.id === id)!.error?.code, 'ECANCELED');
      assert.equal(got.find((c) => c.id === cancel)!.error, null);
      assert.equal(ring.inFlight, 0);
    });

    test('sendmsg gathers several buffers into one send, and sends a datagram to an address', () => {
      using ring = new IoUring();
      const [a, b] = socketpair();
      const parts = [Buffer.from('ab'), new Uint8Array([99]), Buffer.alloc(0), Buffer.from('def')];
      ring.sendmsg(a, parts);
      const [c] = gather(ring, (all) => all.length === 1);
      assert.equal(c!.op, 'sendmsg');
      assert.equal(c!.result, 6);
      assert.equal(String(b.recv(16)), 'abcdef');
      // Empty buffers are operations too (an empty array may have no memory behind it).
      ring.send(a, Buffer.alloc(0));
      ring.sendmsg(a, []);
      assert.deepEqual(gather(ring, (all) => all.length === 2).map((x) => [x.op, x.result]).sort(), [['send', 0], ['sendmsg', 0]]);
      a.close();
      b.close();
      using rx = new socket(AF_INET, SOCK_DGRAM);
      rx.bind(['127.0.0.1', 0]);
      using tx = new socket(AF_INET, SOCK_DGRAM);
      ring.sendmsg(tx, [Buffer.from('dat'), Buffer.from('agram')], { address: rx.getSockName() });
      assert.equal(gather(ring, (all) => all.length === 1)[0]!.result, 8);
      assert.equal(String(rx.recv(64)), 'datagram');
    });

    test('sendmsg passes an open fd (SCM_RIGHTS) that a Python peer reads through', () => {
      using ring = new IoUring();
      const dir = mkdtempSync(tmpdir() + '/weft-uring-');
      try {
        writeFileSync(dir + '/secret', 'passed by SCM_RIGHTS');
        const file = openSync(dir + '/secret', 'r');
        const [a, b] = socketpair();
        ring.sendmsg(a, [Buffer.from('x')], { ancdata: [[SOL_SOCKET, SCM_RIGHTS, new Uint8Array(new Int32Array([file]).buffer)]] });
        assert.equal(gather(ring, (all) => all.length === 1)[0]!.result, 1);
        const py = spawnSync('python3', ['-c', [
          'import array, os, socket',
          's = socket.socket(fileno=3)',
          'msg, anc, flags, addr = s.recvmsg(16, socket.CMSG_SPACE(4))',
          'fds = array.array("i"); fds.frombytes(anc[0][2])',
          'print(msg.decode(), os.read(fds[0], 64).decode())',
        ].join('\n')], { stdio: ['ignore', 'pipe', 'pipe', b.fileno()], encoding: 'utf8', timeout: 20_000 });
        assert.equal(py.stderr, '');
        assert.equal(py.stdout.trim(), 'x passed by SCM_RIGHTS');
        closeSync(file);
        a.close();
        b.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('sendmsg refuses what it cannot send, naming why', () => {
      using ring = new IoUring();
      const [a, b] = socketpair();
      assert.throws(() => ring.sendmsg(a, ['text' as unknown as Uint8Array]), /bytes-like object is required/);
      assert.throws(() => ring.sendmsg(a, Array.from({ length: 1025 }, () => Buffer.from('x'))),
        (e: unknown) => e instanceof OSError && e.errno === 90);
      assert.throws(() => ring.sendmsg(a, [Buffer.from('x')], { ancdata: [[1, 1] as unknown as [number, number, Uint8Array]] }),
        /\[level, type, Uint8Array\]/);
      assert.throws(() => ring.sendmsg(a.fileno(), [Buffer.from('x')], { address: ['127.0.0.1', 1] }), /needs a weft socket/);
      assert.throws(() => ring.sendmsg(a, [Buffer.from('x')], { flags: -1 }), ValueError);
      assert.equal(ring.inFlight, 0);
      a.close();
      b.close();
    });

    test('timeout: completes after its time with no error; wait(timeout) returns empty when nothing comes', () => {
      using ring = new IoUring();
      let t0 = performance.now();
      const id = ring.timeout(0.05);
      const [c] = gather(ring, (all) => all.length === 1);
      const took = performance.now() - t0;
      assert.deepEqual([c!.id, c!.op, c!.error, c!.result], [id, 'timeout', null, 0]);
      assert.ok(took >= 49 && took < 2000, `took ${took} ms`);
      t0 = performance.now();
      assert.deepEqual(ring.wait(1, 0.05), []);
      assert.ok(performance.now() - t0 >= 49);
      const long = ring.timeout(60);
      ring.cancel(long);
      const got = gather(ring, (all) => all.length === 2);
      assert.equal(got.find((x) => x.id === long)!.error?.code, 'ECANCELED');
    });

    test('read and write a file at an offset', () => {
      using ring = new IoUring();
      const dir = mkdtempSync(tmpdir() + '/weft-uring-');
      const path = dir + '/f';
      try {
        writeFileSync(path, 'abcdefghij');
        const fd = openSync(path, 'r+');
        ring.write(fd, Buffer.from('XYZ'), 4);
        assert.equal(gather(ring, (all) => all.length === 1)[0]!.result, 3);
        const buf = Buffer.alloc(6);
        ring.read(fd, buf, 2);
        assert.equal(gather(ring, (all) => all.length === 1)[0]!.result, 6);
        assert.equal(String(buf), 'cdXYZh');
        ring.read(fd, buf, 100);
        assert.equal(gather(ring, (all) => all.length === 1)[0]!.result, 0); // past the end: EOF
        ring.closeFd(fd);
        assert.equal(gather(ring, (all) => all.length === 1)[0]!.error, null);
        assert.equal(readFileSync(path, 'utf8'), 'abcdXYZhij');
        ring.read(fd, buf, 0);
        assert.equal(gather(ring, (all) => all.length === 1)[0]!.error?.code, 'EBADF');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('10,000 accept/close cycles leak no fd and no memory', () => {
      using ring = new IoUring();
      using srv = createServer(['127.0.0.1', 0], { backlog: 128 });
      const addr = srv.getSockName();
      const accepted: number[] = [];
      const errors: string[] = [];
      ring.accept(srv, { multishot: true }, (c) => {
        if (c.error) errors.push(c.error.message);
        else accepted.push(c.result);
      });
      const cycle = () => {
        const client = new socket();
        client.connect(addr);
        while (accepted.length === 0) ring.wait(1, 1);
        ring.closeFd(accepted.pop()!);
        client.close();
      };
      for (let i = 0; i < 1000; i++) cycle();
      ring.wait(0, 0);
      const before = openFds();
      globalThis.gc?.();
      const rss0 = process.memoryUsage().rss;
      for (let i = 0; i < 9000; i++) cycle();
      ring.wait(0, 0);
      for (let i = 0; i < 100 && openFds() !== before; i++) ring.wait(1, 0.01);
      assert.equal(openFds(), before, 'fds after 10k cycles');
      const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
      assert.ok(grown < 32, `rss grew ${grown.toFixed(1)} MiB over 9000 cycles`);
      assert.equal(ring.inFlight, 1); // the multishot accept, still armed
      assert.deepEqual(errors, []);
    });

    test('close() with operations in flight cancels them, lets go of their buffers and is idempotent', () => {
      const ring = new IoUring();
      const [a, b] = tcpPair();
      const [c, d] = tcpPair(); // c sends, nobody reads d
      using srv = createServer(['127.0.0.1', 0]);
      const seen: string[] = [];
      const note = (c: Completion) => seen.push(`${c.op}:${c.error?.code ?? c.result}`);
      ring.recv(b, { multishot: true }, note);
      ring.recv(a, { into: Buffer.alloc(16) }, note);
      ring.accept(srv, { multishot: true }, note);
      ring.timeout(60, note);
      c.setSockOpt(SOL_SOCKET, SO_SNDBUF, 4096);
      ring.send(c, Buffer.alloc(16 << 20), note); // more than the socket takes: stays in flight
      ring.submit();
      assert.equal(ring.wait(1, 0.05).length, 0);
      ring.close();
      ring.close();
      assert.equal(ring.fileno(), -1);
      assert.equal(ring.inFlight, 0);
      assert.deepEqual(
        seen.filter((s) => !s.startsWith('send:')).sort(),
        ['accept:ECANCELED', 'recv:ECANCELED', 'recv:ECANCELED', 'timeout:ECANCELED'],
      );
      assert.ok(seen.some((s) => s.startsWith('send:')), 'the send reported back');
      assert.throws(() => ring.timeout(1), (e: unknown) => e instanceof OSError && e.errno === 9);
      assert.throws(() => ring.wait(), (e: unknown) => e instanceof OSError && e.errno === 9);
      for (const s of [a, b, c, d]) s.close();
    });

    describe('on the event loop', () => {
      test('completions() yields batches: many completions per wake-up', async () => {
        using ring = new IoUring();
        const [a, b] = socketpair();
        for (let i = 0; i < 20; i++) ring.send(a, Buffer.from('x'));
        const sizes: number[] = [];
        let total = 0;
        const timer = setTimeout(() => ring.close(), 5000);
        for await (const batch of ring.completions()) {
          sizes.push(batch.length);
          total += batch.length;
          if (total === 20) break;
        }
        clearTimeout(timer);
        assert.equal(total, 20);
        assert.ok(sizes.length < 20, `one wake-up per batch, not per completion: ${sizes}`);
        a.close();
        b.close();
      });

      test('callbacks run on the loop, which stays free meanwhile', async () => {
        using ring = new IoUring();
        const [a, b] = socketpair();
        const got = new Promise<string>((resolve) => ring.recv(b, {}, (c) => {
          resolve(String(c.data));
          ring.releaseBuffer(c.bufferId);
        }));
        let ticks = 0;
        const ticker = setInterval(() => ticks++, 1);
        await sleep(50);
        a.send(Buffer.from('late'));
        assert.equal(await got, 'late');
        clearInterval(ticker);
        assert.ok(ticks >= 1, 'the loop ran while the recv was pending');
        assert.equal(ring.inFlight, 0);
        a.close();
        b.close();
      });

      test('completions of operations without a callback that the loop reaped still come back from wait()', async () => {
        using ring = new IoUring();
        const [a, b] = socketpair();
        const plain = ring.send(a, Buffer.from('p'));
        const viaCallback = new Promise<void>((resolve) => ring.timeout(0.01, () => resolve()));
        await viaCallback; // the loop's watch reaped both by now
        await sleep(10);
        const got = ring.wait(1, 1);
        assert.deepEqual(got.map((c) => [c.id, c.op, c.result]), [[plain, 'send', 1]]);
        a.close();
        b.close();
      });

      test('a worker thread torn down with operations in flight: the ring is cancelled, drained and closed', async () => {
        const rings = () => readdirSync('/proc/self/fd').filter((f) => {
          try {
            return readlinkSync('/proc/self/fd/' + f).includes('io_uring');
          } catch {
            return false; // closed meanwhile
          }
        }).length;
        const before = rings();
        const weftIo = new URL('../../src/io/index.js', import.meta.url).href;
        const code = `
          import { IoUring, socketpair } from '${weftIo}';
          import { parentPort } from 'node:worker_threads';
          const ring = new IoUring();
          const [a, b] = socketpair();
          ring.recv(b, { into: Buffer.alloc(1 << 16) }, () => {});
          ring.recv(a, { multishot: true }, () => {});
          ring.timeout(60);
          ring.submit();
          parentPort.postMessage([a.detach(), b.detach()]);`;
        for (let i = 0; i < 5; i++) {
          const worker = new Worker(code, { eval: true });
          const fds = await new Promise<number[]>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
          });
          await worker.terminate();
          for (const fd of fds) new socket(undefined, undefined, undefined, fd).close();
        }
        assert.equal(rings(), before, 'a ring fd outlived its worker');
      });

      test('a worker torn down while its accepts sit unreaped closes those sockets (no fd leak)', async () => {
        const weftIo = new URL('../../src/io/index.js', import.meta.url).href;
        using srv = createServer(['127.0.0.1', 0], { backlog: 64 });
        const start = openFds();
        // The worker arms a multishot accept, then spins in JavaScript: the kernel
        // accepts (its fds appear in this process's table) but nothing reaps them.
        // It spins in a timer, not at the module's top level: a worker terminated
        // while its ES module is still evaluating can abort the whole process on
        // Node 22 (nodejs/node#53238; thread_stop.ts has the story).
        const code = `
          import { IoUring } from '${weftIo}';
          import { parentPort, workerData } from 'node:worker_threads';
          const ring = new IoUring();
          ring.accept(workerData, { multishot: true }, () => {});
          ring.submit();
          setTimeout(() => {
            parentPort.postMessage('armed');
            const end = Date.now() + 20_000; // terminated long before; bounded all the same
            while (Date.now() < end) {}
          }, 0);`;
        const worker = new Worker(code, { eval: true, workerData: srv.fileno() });
        await new Promise((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
        const before = openFds(); // with the worker's own (its event loop, its ring)
        const clients = Array.from({ length: 8 }, () => {
          const c = new socket();
          c.connect(srv.getSockName());
          return c;
        });
        // 8 clients + the worker's ring; then the 8 accepted sockets as the kernel takes them.
        try {
          const deadline = performance.now() + 5000;
          // 8 clients, then the 8 sockets the kernel accepts for the worker.
          while (openFds() < before + 16 && performance.now() < deadline) await sleep(10);
          assert.equal(openFds(), before + 16, 'the kernel should have accepted all 8 meanwhile');
        } finally {
          await worker.terminate();
          for (const c of clients) c.close();
        }
        assert.equal(openFds(), start, 'an accepted socket outlived its worker');
      });

      test('a ring with nothing in flight does not keep the process alive, one with a pending callback does', () => {
        const script = (pending: boolean) => `
          import { IoUring, socketpair } from 'weft/io';
          const ring = new IoUring();
          const [a, b] = socketpair();
          ring.recv(b, {}, (c) => console.log('got', String(c.data)));
          a.send(Buffer.from('x'));
          ${pending ? 'ring.recv(b, {}, () => {});' : ''}`;
        const run = (pending: boolean) => spawnSync(process.execPath, ['--input-type=module', '-e', script(pending)], {
          encoding: 'utf8', timeout: 3000, cwd: fileURLToPath(new URL('../../../', import.meta.url)),
        });
        const done = run(false);
        assert.deepEqual([done.status, done.stdout.trim()], [0, 'got x']);
        const held = run(true);
        assert.equal(held.signal, 'SIGTERM', 'still running when its 3 s ran out');
        assert.equal(held.stdout.trim(), 'got x');
      });
    });
  });
}

describe('where io_uring is forbidden (a seccomp filter in a child, as in a container)', () => {
  const noUring = noIoUringHelper();

  test('available() says a seccomp filter forbids it, and new IoUring() raises that reason', () => {
    const helper = noUring.path();
    if (!helper) return;
    const script = `
      import { IoUring, OSError } from 'weft/io';
      const a = IoUring.available();
      let thrown = null;
      try { new IoUring(); } catch (e) { thrown = { isOSError: e instanceof OSError, errno: e.errno, message: e.message }; }
      console.log(JSON.stringify({ a, thrown }));`;
    const r = spawnSync(helper, [process.execPath, '--input-type=module', '-e', script], {
      encoding: 'utf8', timeout: 20_000, cwd: fileURLToPath(new URL('../../../', import.meta.url)),
    });
    assert.equal(r.status, 0, r.stderr);
    const { a, thrown } = JSON.parse(r.stdout) as { a: { ok: boolean; reason: string; errno: number }; thrown: { isOSError: boolean; errno: number; message: string } };
    assert.equal(a.ok, false);
    assert.equal(a.errno, 1);
    assert.match(a.reason, /seccomp filter forbids io_uring_setup/);
    assert.deepEqual([thrown.isOSError, thrown.errno], [true, 1]);
    assert.ok(thrown.message.includes(a.reason), thrown.message);
  });
});
