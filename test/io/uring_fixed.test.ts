/**
 * IoUring's registered files: direct accepts into a table of slots, every
 * socket operation on a slot, slots freed by closeFd and reused, no fd leak
 * over 10k accept/close cycles, a ring closed with slots in use, and the
 * fallback where the kernel refuses the table (the bench server's included).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  IoUring, SHUT_WR, ValueError, createServer, socket, type Completion, type FixedFile,
} from 'weft/io';
import { gather, openFds } from './helpers.js';

const available = IoUring.available();
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Turn the ring until `done()` (bounded: 5 s). */
function until(ring: IoUring, done: () => boolean): void {
  const deadline = performance.now() + 5000;
  while (!done()) {
    if (performance.now() > deadline) assert.fail('the completions never came');
    ring.wait(1, 0.2);
  }
}

/** Read exactly `n` bytes from a blocking socket. */
function recvExactly(sock: socket, n: number): Buffer {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const part = sock.recv(n - got);
    if (part.length === 0) break;
    parts.push(part);
    got += part.length;
  }
  return Buffer.concat(parts);
}

/** TCP sockets in CLOSE_WAIT whose local port is `port` (/proc/net/tcp, IPv4). */
function closeWait(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .filter((line) => {
      const f = line.trim().split(/\s+/);
      return f[1]?.endsWith(hex) && f[3] === '08';
    }).length;
}

describe('IoUring registered files', { skip: !available.ok && available.reason }, () => {
  test('a direct accept gives a slot, not an fd: recv, send, sendBuffer and close on it', () => {
    using ring = new IoUring({ fixedFiles: 4, bufferCount: 4, bufferSize: 1024 });
    assert.equal(ring.fixedFiles, 4);
    assert.equal(ring.fixedFilesError, null);
    using srv = createServer(['127.0.0.1', 0]);
    const before = openFds();
    using client = new socket();
    client.connect(srv.getSockName());
    ring.accept(srv, { direct: true });
    const [a] = gather(ring, (all) => all.length === 1);
    assert.equal(a!.error, null);
    assert.ok(a!.result >= 0 && a!.result < 4, `slot ${a!.result}`);
    assert.equal(openFds(), before + 1, 'the accepted socket has no fd (only the client has)');
    const conn: FixedFile = { fixed: a!.result };

    // send and recv into a buffer of ours
    ring.send(conn, Buffer.from('hello'));
    assert.equal(gather(ring, (all) => all.length === 1)[0]!.result, 5);
    assert.equal(String(recvExactly(client, 5)), 'hello');
    const into = Buffer.alloc(16);
    ring.recv(conn, { into });
    client.sendAll(Buffer.from('world'));
    assert.equal(gather(ring, (all) => all.length === 1)[0]!.result, 5);
    assert.equal(String(into.subarray(0, 5)), 'world');

    // the allocation-free echo
    const seen: number[] = [];
    ring.recvMultishot(conn, (n, bufferId) => {
      seen.push(n);
      if (n > 0) ring.sendBuffer(conn, bufferId, n);
    });
    for (let i = 0; i < 50; i++) {
      const msg = Buffer.alloc(64 + i, i);
      client.sendAll(msg);
      let back = Buffer.alloc(0);
      until(ring, () => {
        try {
          back = Buffer.concat([back, client.recv(msg.length - back.length, 0x40)]); // MSG_DONTWAIT
        } catch {
          // nothing yet
        }
        return back.length === msg.length;
      });
      assert.deepEqual(back, msg);
    }

    // The client's EOF ends the multishot recv (which, in flight, would keep the socket
    // open past its slot's close, as an fd's would); then closing the slot closes the socket.
    client.shutdown(SHUT_WR);
    until(ring, () => seen.at(-1) === 0);
    ring.closeFd(conn);
    const done = gather(ring, (all) => all.some((c) => c.op === 'close'));
    assert.equal(done.find((c) => c.op === 'close')!.error, null);
    assert.equal(client.recv(16).length, 0, 'EOF: the socket closed with its slot');
    assert.equal(ring.inFlight, 0);
  });

  test('10,000 direct accept/close cycles through 8 slots: slots are reused, no fd and no memory leak', () => {
    using ring = new IoUring({ fixedFiles: 8 });
    using srv = createServer(['127.0.0.1', 0], { backlog: 128 });
    const addr = srv.getSockName();
    const slots: number[] = [];
    const used = new Set<number>();
    const errors: string[] = [];
    ring.accept(srv, { multishot: true, direct: true }, (c) => {
      if (c.error) errors.push(c.error.message);
      else slots.push(c.result);
    });
    const cycle = (): void => {
      const client = new socket();
      client.connect(addr);
      while (slots.length === 0) ring.wait(1, 1);
      const slot = slots.pop()!;
      used.add(slot);
      ring.closeFd({ fixed: slot });
      client.close();
    };
    for (let i = 0; i < 1000; i++) cycle();
    ring.wait(0, 0);
    const before = openFds();
    globalThis.gc?.();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 9000; i++) cycle();
    until(ring, () => ring.inFlight === 1); // every close done; the multishot accept stays armed
    assert.equal(openFds(), before, 'fds after 10k cycles');
    // A slot emptied without closing its socket would leave it in CLOSE_WAIT (the client closed first).
    assert.equal(closeWait(addr[1] as number), 0, 'server-side sockets left open');
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(grown < 32, `rss grew ${grown.toFixed(1)} MiB over 9000 cycles`);
    assert.ok([...used].every((s) => s >= 0 && s < 8), `slots ${[...used]}`);
    assert.deepEqual(errors, []);
  });

  test('every slot taken: the next direct accept fails with ENFILE, and a freed slot serves again', () => {
    using ring = new IoUring({ fixedFiles: 2 });
    using srv = createServer(['127.0.0.1', 0]);
    const clients = [new socket(), new socket(), new socket()];
    for (const c of clients) c.connect(srv.getSockName());
    for (let i = 0; i < 3; i++) ring.accept(srv, { direct: true });
    const got = gather(ring, (all) => all.length === 3);
    assert.deepEqual(got.map((c) => c.error?.code ?? 'ok').sort(), ['ENFILE', 'ok', 'ok']);
    const slot = got.find((c) => !c.error)!.result;
    ring.closeFd({ fixed: slot });
    gather(ring, (all) => all.length === 1);
    // The kernel accepted the third connection before it found no slot, and dropped it: a new one comes.
    const late = new socket();
    late.connect(srv.getSockName());
    clients.push(late);
    ring.accept(srv, { direct: true });
    const [again] = gather(ring, (all) => all.length === 1);
    assert.equal(again!.error, null);
    assert.equal(again!.result, slot);
    for (const c of clients) c.close();
  });

  test('close() with slots in use and a direct accept in flight closes those sockets and leaks no fd', () => {
    const before = openFds();
    using srv = createServer(['127.0.0.1', 0]);
    const client = new socket();
    client.connect(srv.getSockName());
    const ring = new IoUring({ fixedFiles: 4 });
    ring.accept(srv, { direct: true });
    const [a] = gather(ring, (all) => all.length === 1);
    ring.recvMultishot({ fixed: a!.result }, () => {});
    const cancelled: (string | undefined)[] = [];
    ring.accept(srv, { multishot: true, direct: true }, (c) => cancelled.push(c.error?.code));
    ring.submit();
    ring.close();
    assert.deepEqual(cancelled, ['ECANCELED']);
    assert.equal(client.recv(16).length, 0, 'the table closed the accepted socket with the ring');
    client.close();
    srv.close();
    assert.equal(openFds(), before);
  });

  test('cancel() ends a multishot direct accept', () => {
    using ring = new IoUring({ fixedFiles: 4 });
    using srv = createServer(['127.0.0.1', 0]);
    const id = ring.accept(srv, { multishot: true, direct: true });
    ring.submit();
    ring.cancel(id);
    const got = gather(ring, (all) => all.length === 2);
    assert.equal(got.find((c) => c.id === id)!.error?.code, 'ECANCELED');
    assert.equal(got.find((c) => c.op === 'cancel')!.error, null);
    assert.equal(ring.inFlight, 0);
  });

  test('bad input: a direct accept without a table, a slot out of range, a table size out of range', () => {
    using ring = new IoUring();
    using srv = createServer(['127.0.0.1', 0]);
    assert.equal(ring.fixedFiles, 0);
    assert.throws(() => ring.accept(srv, { direct: true }), (e: unknown) => e instanceof ValueError && /fixedFiles: N/.test(e.message));
    assert.throws(() => ring.recv({ fixed: 0 }), (e: unknown) => e instanceof ValueError && /has none/.test(e.message));
    using small = new IoUring({ fixedFiles: 2 });
    assert.throws(() => small.send({ fixed: 2 }, Buffer.from('x')), (e: unknown) => e instanceof ValueError && /not a slot/.test(e.message));
    assert.throws(() => small.closeFd({ fixed: -1 }), ValueError);
    assert.throws(() => small.recv({ fixed: 1.5 }), ValueError);
    assert.throws(() => new IoUring({ fixedFiles: -1 }), (e: unknown) => e instanceof ValueError && /fixedFiles must be/.test(e.message));
    assert.throws(() => new IoUring({ fixedFiles: 2 ** 21 }), ValueError);
    assert.equal(ring.inFlight + small.inFlight, 0, 'nothing was queued');
  });

  test('where the kernel refuses the table (more slots than ulimit -n), the ring works without it and says why', () => {
    const script = `
      import { IoUring, OSError, createServer, socket } from 'weft/io';
      const ring = new IoUring({ fixedFiles: 4096 });
      let refused = null;
      const srv = createServer(['127.0.0.1', 0]);
      try { ring.accept(srv, { direct: true }); } catch (e) { refused = e.message; }
      const client = new socket();
      client.connect(srv.getSockName());
      ring.accept(srv);
      const [c] = ring.wait(1, 5);
      const e = ring.fixedFilesError;
      console.log(JSON.stringify({ slots: ring.fixedFiles, isOSError: e instanceof OSError, errno: e?.errno, refused, accepted: c.result > 2 }));`;
    const r = spawnSync('prlimit', ['--nofile=64:64', process.execPath, '--input-type=module', '-e', script], {
      encoding: 'utf8', timeout: 20_000, cwd: root,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { slots: number; isOSError: boolean; errno: number; refused: string; accepted: boolean };
    assert.equal(out.slots, 0);
    assert.deepEqual([out.isOSError, out.errno], [true, 24]); // EMFILE
    assert.match(out.refused, /the kernel refused.*EMFILE|Too many open files/);
    assert.equal(out.accepted, true, 'a plain accept still works');
  });

  test('the bench server falls back to plain fds where the table is refused, and echoes either way', async () => {
    for (const [limit, mode] of [['--nofile=20000:20000', 'registered-files'], ['--nofile=256:256', 'plain-fds']] as const) {
      const child = spawn('prlimit', [limit, process.execPath, root + 'dist/bench/io/weft-uring-echo-server.js', '0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        const port = await new Promise<number>((resolve, reject) => {
          let out = '';
          const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 10_000);
          child.stdout!.on('data', (d) => {
            out += d;
            const m = /ready (\d+) (\S+)/.exec(out);
            if (m) {
              clearTimeout(timer);
              assert.equal(m[2], mode, limit);
              resolve(Number(m[1]));
            }
          });
          child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
        });
        const client = new socket();
        client.setTimeout(5);
        client.connect(['127.0.0.1', port]);
        for (let i = 0; i < 20; i++) {
          const msg = Buffer.alloc(64, i);
          client.sendAll(msg);
          assert.deepEqual(recvExactly(client, 64), msg, limit);
        }
        client.close();
      } finally {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('close', r));
      }
    }
  });
});
