/**
 * Manager faults: wrong keys, hostile frames, dead servers, dead parents, dead clients.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import v8 from 'node:v8';
import { after, describe, test } from 'node:test';
import { pack } from 'msgpackr';
import { EOFError, Process, Queue, AuthenticationError, Manager, type DictProxy, type ListProxy } from 'weft';
import { Client, MAGIC, answerChallenge, frame, isAlive } from '../../src/internals.js';
import { holdRefs, lockAndDie, stallMidMessage } from './fixtures/manager-tasks.js';
import { trackManagers } from './started.js';

const started = trackManagers();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, seconds = 5): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

function connectRaw(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path, () => resolve(s));
    s.on('error', reject);
  });
}

function closed(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed) resolve();
    sock.on('close', () => resolve());
    sock.resume(); // read, so that the peer's close is seen (and the loop stays alive)
    sock.on('error', () => {});
  });
}

describe('Manager authentication', () => {
  test('a wrong authkey fails with AuthenticationError and the server serves others', async () => {
    await using m = await started();
    const d = await m.dict<string, number>({ x: 1 });
    const intruder = new Client(m.address, Buffer.from('not the key'));
    await assert.rejects(intruder.connect(), AuthenticationError);
    await assert.rejects(intruder.call(1, 'get', ['x']), AuthenticationError);
    assert.equal(await d.get('x'), 1);
    assert.equal((await m.stats()).connections, 1);
  });

  test('the client authenticates the server too (mutual)', async () => {
    // A fake server that greets properly but cannot prove it holds the key.
    const fake = net.createServer((s) => {
      s.write(frame(Buffer.concat([MAGIC, randomBytes(32)])));
      s.once('data', () => s.write(frame(randomBytes(32))));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    const { port } = fake.address() as net.AddressInfo;
    await assert.rejects(Manager.connect({ host: '127.0.0.1', port, authkey: 'k' }), /does not hold this authkey/);
    fake.close();
  });

  test('a silent connection is dropped after the handshake timeout', async () => {
    await using m = await started({ handshakeTimeout: 0.3 });
    const s = await connectRaw(m.address);
    const t0 = Date.now();
    await closed(s);
    assert.ok(Date.now() - t0 < 3000);
  });
});

describe('Manager under hostile input', () => {
  test('random and hostile frames drop only their connection; data stays intact', async () => {
    await using m = await started();
    const d = await m.dict<string, number>({ a: 1, b: 2 });
    const l = await m.list<number>([1, 2, 3]);
    const key = Buffer.from(process.env.WEFT_TEST_KEY ?? '', 'utf8');
    void key;
    const { currentProcess } = await import('weft');
    const authkey = Buffer.from(currentProcess().authkey);
    const hostile: Buffer[] = [
      Buffer.from([0xff, 0xff, 0xff, 0xff]), // a 4 GiB frame header
      frame(Buffer.from([7, 1, 2, 3])), // unknown tag
      frame(Buffer.from([0, ...pack({ not: 'a request' })])),
      frame(Buffer.from([0, ...pack([1, 1, 'get'])])), // short request
      frame(Buffer.from([0, ...pack(['x', 1, 'get', []])])),
      frame(Buffer.from([1, ...v8.serialize([1, 1, 'set', ['a', { '\u0000weft': 'shareable', type: 'Lock', state: {}, fds: [0] }]])])),
      frame(Buffer.from([1, ...v8.serialize([1, 1, 'set', ['a', { '\u0000weft': 'shareable', type: 'weft.manager.Proxy', state: { id: 'x' }, fds: [] }]])])),
      frame(Buffer.from([1, 0xff, 0x0f, 0x41, 0xff, 0xff, 0xff, 0xff, 0x0f])), // v8 array with a huge length
      frame(Buffer.from([1, ...randomBytes(64)])),
      frame(Buffer.from([1, 0xff, 0x0f, 0x75, 0x00])), // V8 SharedArrayBuffer by transfer id
      frame(Buffer.from([1, 0xff, 0x0f, 0x57, 0x00])), // V8 WebAssembly module by transfer id
      frame(Buffer.from([1, 0xff, 0x0f, 0x5c, 0x07, 0xff, 0xff, 0xff, 0x0f])), // V8 host object (Node Buffer) with a bad length
      frame(Buffer.from([1, ...v8.serialize([1, 1, 'set', { '\u0000weft': 'error', className: 'X', message: 1 }])])), // args not an array
      frame(Buffer.from([1, ...v8.serialize([1, 1, 'set', ['a', { '\u0000weft': 'mystery' }]])])), // unknown record
      frame(Buffer.from([0, 0xdd, 0xff, 0xff, 0xff, 0xff])), // msgpack array32 of 4G items, no items
      frame(Buffer.from([0, ...'['.repeat(1).split('').map(() => 0x91), ...Array(100000).fill(0x91), 0xc0])), // deep nesting
    ];
    for (let i = 0; i < 40; i++) hostile.push(frame(randomBytes(randomInt(1, 200))));
    for (let i = 0; i < 40; i++) hostile.push(randomBytes(randomInt(1, 200)));
    for (const [i, payload] of hostile.entries()) {
      const s = await connectRaw(m.address);
      const done = closed(s);
      if (i % 2 === 0) {
        // half before the handshake, half after a valid one
        s.write(payload);
      } else {
        await answerChallenge(s, authkey, 5000, 1 << 20);
        s.write(payload);
        s.write(frame(Buffer.from([0, ...pack([1, d.id, 'set', ['a', 666]])]))); // a valid call after garbage must not run
      }
      await Promise.race([done, sleep(300)]);
      s.destroy();
    }
    // Valid calls with bad arguments are answered with errors, not dropped.
    const s = await connectRaw(m.address);
    await answerChallenge(s, authkey, 5000, 1 << 20);
    s.destroy();
    assert.deepEqual(await d.toObject(), { a: 1, b: 2 });
    assert.deepEqual(await l.toArray(), [1, 2, 3]);
    await until('the hostile connections are gone', async () => (await m.stats()).connections === 1);
    await assert.rejects(d.callMethod('get', []), /unhashable/);
    await assert.rejects(l.callMethod('nonexistent', []), /no exposed method/);
  });

  test('a peer that stops in the middle of a frame is dropped', async () => {
    await using m = await started({ handshakeTimeout: 0.3 });
    const d = await m.dict<string, number>();
    const { currentProcess } = await import('weft');
    const s = await connectRaw(m.address);
    await answerChallenge(s, Buffer.from(currentProcess().authkey), 5000, 1 << 20);
    const done = closed(s);
    const partial = frame(Buffer.from([0, ...pack([1, d.id, 'set', ['a', 1]])]));
    s.write(partial.subarray(0, partial.length - 2));
    const t0 = Date.now();
    await done;
    assert.ok(Date.now() - t0 < 3000);
    assert.equal(await d.len(), 0);
    assert.ok(await d.set('b', 2) === undefined, 'a healthy client on the same server is unaffected');
  });

  test('a frame over the size limit drops the connection', async () => {
    await using m = await started();
    const d = await m.dict();
    const { currentProcess } = await import('weft');
    const s = await connectRaw(m.address);
    await answerChallenge(s, Buffer.from(currentProcess().authkey), 5000, 1 << 20);
    const done = closed(s);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(65 * 1024 * 1024);
    s.write(head);
    await done;
    assert.equal(await d.len(), 0);
  });
});

describe('Manager when processes die', () => {
  test('server SIGKILLed: pending and later calls reject, the directory is removed', async () => {
    const m = await started();
    const q = await m.Queue();
    const d = await m.dict();
    const pending = assert.rejects(q.get(), (err: Error) => err instanceof EOFError && /shut down or died/.test(err.message));
    process.kill(m.pid!, 'SIGKILL');
    await pending;
    await assert.rejects(d.get('x'), /cannot reach the manager/);
    await until('the socket directory is removed', () => !existsSync(dirname(m.address)));
    await m.shutdown();
  });

  test('a client stalled in the middle of a long message holds up no other client', async () => {
    const m = await started();
    const d = await m.dict<string, unknown>({ x: 1 });
    const go = new Queue<string>();
    const p = new Process({ target: stallMidMessage, args: [d, go, 2] });
    p.start();
    assert.equal(await go.get({ timeout: 30 }), 'stalling');
    await sleep(50);
    const t = performance.now();
    assert.equal(await d.get('x'), 1);
    const waited = performance.now() - t;
    assert.ok(waited < 1000, `a call waited ${waited.toFixed(0)} ms behind another client's half-written message`);
    await p.join();
    assert.equal(((await d.get('big')) as Uint8Array).length, 8 << 20);
    await m.shutdown();
  });

  test('server SIGKILLed between calls: the next call on a live proxy rejects with the same EOFError', async () => {
    // Whichever side notices first (the send's peer check or the reader), the caller sees one error.
    const m = await started();
    const q = await m.Queue();
    await q.put(1);
    process.kill(m.pid!, 'SIGKILL');
    // Wait without yielding, so the call below is sent before this process has read the socket's close.
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 500 && isAlive(m.pid!); i++) Atomics.wait(sleeper, 0, 0, 10);
    await assert.rejects(q.get(), (err: Error) => err instanceof EOFError && /shut down or died/.test(err.message));
    await m.shutdown();
  });

  for (const context of ['process', 'thread'] as const) {
    test(`parent SIGKILLed: the server (${context}) removes its directory and exits`, async (t) => {
      const child = spawn(process.execPath, [...process.execArgv, new URL('./fixtures/manager-parent.js', import.meta.url).pathname, context], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c;
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.on('exit', () => reject(new Error('fixture exited early')));
      });
      const { dir, pid } = JSON.parse(line) as { dir: string; pid: number };
      assert.ok(existsSync(dir));
      child.kill('SIGKILL');
      if (context === 'process') {
        await until('the server exits', () => !isAlive(pid), 5);
        await until('the directory is removed', () => !existsSync(dir), 5);
      } else {
        // A server thread dies with its process and cannot clean up; the next Manager.start sweeps the directory.
        // That may be another test file's, running side by side with this one (npm test runs three at once).
        await until('the fixture is gone', () => child.exitCode !== null || child.signalCode !== null, 5);
        if (!existsSync(dir)) t.diagnostic('a Manager started by another test file swept the directory first');
        await using m = await started();
        assert.equal(existsSync(dir), false);
        assert.ok(m.pid);
      }
    });
  }

  test('a client that dies releases its references and its locks', async () => {
    await using m = await started();
    const d = await m.dict<string, ListProxy<number>>();
    // Held to the end: were it collected during the test, its reference would go too and the count below be off by one.
    const inner = await m.list<number>();
    await d.set('inner', inner);
    const lock = await m.Lock();
    const q = await m.Queue<string>();
    const before = await m.stats();
    const holder = new Process({ target: holdRefs, args: [d as unknown as DictProxy<string, ListProxy<number>>, q] });
    const locker = new Process({ target: lockAndDie, args: [lock, q] });
    holder.start();
    locker.start();
    assert.deepEqual([await q.get({ timeout: 10 }), await q.get({ timeout: 10 })].sort(), ['locked', 'ready']);
    const during = await m.stats();
    assert.ok(during.refs >= before.refs + 5, `refs ${during.refs} should include the child's ${before.refs} + 5`);
    assert.equal(await lock.acquire({ timeout: 0.05 }), false);
    holder.kill();
    locker.kill();
    await holder.join();
    await locker.join();
    await until('the children\'s references are released', async () => {
      const now = await m.stats();
      return now.refs === before.refs && now.connections === before.connections;
    });
    assert.equal(await lock.acquire({ timeout: 2 }), true, 'a lock held by a dead client is released');
    await lock.release();
    assert.equal(await inner.len(), 0);
  });

  test('a client that dies is let go while another keeps the server busy', async () => {
    await using m = await started();
    const d = await m.dict<string, ListProxy<number>>();
    const inner = await m.list<number>();
    await d.set('inner', inner);
    const q = await m.Queue<string>();
    const before = await m.stats();
    const holder = new Process({ target: holdRefs, args: [d as unknown as DictProxy<string, ListProxy<number>>, q] });
    holder.start();
    assert.equal(await q.get({ timeout: 10 }), 'ready');
    // Calls kept in flight: the server always has the next one at hand and need not sleep,
    // yet it must still ask, once a slice, whether its other clients are gone.
    let busy = true;
    const load = (async () => {
      while (busy) await Promise.all(Array.from({ length: 500 }, () => inner.len()));
    })();
    try {
      await sleep(300);
      holder.kill();
      await holder.join();
      await until('the dead client\'s references are released', async () => {
        const now = await m.stats();
        return now.refs === before.refs && now.connections === before.connections;
      }, 3);
    } finally {
      busy = false;
      await load;
    }
  });
});
