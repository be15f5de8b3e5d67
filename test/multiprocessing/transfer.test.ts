// transfer(): buffers moved through a Queue without a copy to threads of the
// same process, through shared memory to processes, the sender's copy detached;
// copied (and detached) elsewhere; and no memory left behind when the holders
// are SIGKILLed or their threads stopped.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Pipe, Process, Queue, transfer } from 'weft';
import { checkAll, countFds, describeBuffers, holdOne, parkThenPass, sendAndExit, sendAndWait, stage, touch, type Seen } from './fixtures/transfer.js';
import { dumps, loads, memfdPool, native } from '../../src/internals.js';
import { eventually, openFds, sleep } from '../helpers/run.js';
import { machineLock } from '../helpers/machine_lock.js';

// This file moves hundreds of MiB through shared memory and reads the machine's Shmem figure:
// one run of it at a time on the machine (CI runs two Node versions side by side).
let unlock: () => void = () => {};
before(async () => {
  unlock = await machineLock('shmem');
});
after(() => unlock());

const MiB = 1 << 20;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

/** Passes `q` to a process that does nothing with it: from then on its moved buffers go by memfd. */
async function passToProcess(q: Queue<never>): Promise<void> {
  const p = new Process({ target: touch, args: [q] });
  p.start();
  await p.join(20);
  assert.equal(p.exitCode, 0);
}

describe('transfer() in one realm', () => {
  test('the sent buffer is detached, and what arrives is the same memory, not shared memory', async () => {
    const q = new Queue<{ b: Buffer; f: Float64Array; d: DataView; a: ArrayBuffer }>();
    const b = Buffer.alloc(2 * MiB, 5);
    const f = new Float64Array(1000).fill(0.5);
    const d = new DataView(new ArrayBuffer(16));
    d.setInt32(12, -7);
    const a = new Uint8Array([1, 2, 3]).buffer;
    await q.put({ b: transfer(b), f: transfer(f), d: transfer(d), a: transfer(a) });
    assert.deepEqual([b.length, f.length, d.buffer.byteLength, a.byteLength], [0, 0, 0, 0]);
    const pooled = memfdPool.size;
    const got = await q.get({ timeout: 5 });
    assert.ok(Buffer.isBuffer(got.b) && got.b.buffer instanceof ArrayBuffer);
    assert.equal(got.b.length, 2 * MiB);
    assert.ok(got.b.every((x) => x === 5));
    assert.ok(got.f instanceof Float64Array && got.f.length === 1000 && got.f[999] === 0.5 && got.f.buffer instanceof ArrayBuffer);
    assert.ok(got.d instanceof DataView && got.d.getInt32(12) === -7);
    assert.ok(got.a instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(got.a)], [1, 2, 3]);
    assert.equal(memfdPool.size, pooled, 'no memfd was written');
    assert.equal(native.parkedCount(), 0);
  });

  test('once the queue was passed to a process, what arrives is a view of shared memory', async () => {
    const q = new Queue<{ b: Buffer; a: ArrayBuffer }>();
    await passToProcess(q as Queue<never>);
    const b = Buffer.alloc(2 * MiB, 5);
    await q.put({ b: transfer(b), a: transfer(new Uint8Array([1, 2, 3]).buffer) });
    assert.equal(b.length, 0);
    const got = await q.get({ timeout: 5 });
    assert.ok(Buffer.isBuffer(got.b) && got.b.buffer instanceof SharedArrayBuffer);
    assert.ok(got.b.every((x) => x === 5));
    assert.ok(got.a instanceof ArrayBuffer); // an ArrayBuffer cannot be shared memory: copied on arrival
    assert.deepEqual([...new Uint8Array(got.a)], [1, 2, 3]);
  });

  test('the same buffer twice in one message arrives as one', async () => {
    const q = new Queue<Buffer[]>();
    const b = Buffer.alloc(8192, 1);
    transfer(b);
    await q.put([b, b]);
    const [x, y] = await q.get({ timeout: 5 });
    assert.equal(x, y);
  });

  test('a Pipe copies a transferred buffer, and detaches it all the same', async () => {
    const [r, w] = Pipe();
    const b = Buffer.alloc(64 * 1024, 3);
    await w.send(transfer(b));
    assert.equal(b.length, 0);
    const got = (await r.recv()) as Buffer;
    assert.equal(got.length, 64 * 1024);
    assert.ok(!(got.buffer instanceof SharedArrayBuffer));
    r.close();
    w.close();
  });

  test('a message that cannot be sent detaches nothing', () => {
    const b = Buffer.alloc(8192);
    assert.throws(() => dumps({ b: transfer(b), f: () => 1 }), /cannot send a function/);
    assert.equal(b.length, 8192);
    assert.equal((loads(dumps(b)) as Buffer).length, 8192); // marked, but no channel: copied
    assert.equal(b.length, 0);
  });

  test('what cannot be moved is refused with the fix', () => {
    assert.throws(() => transfer(Buffer.from('abc')), /covers 3 of its \d+ bytes.*use Buffer\.alloc/);
    assert.throws(() => transfer(new Uint8Array(new ArrayBuffer(8), 4)), /covers 4 of its 8 bytes/);
    assert.throws(() => transfer(new Uint8Array(new SharedArrayBuffer(8))), /SharedArrayBuffer is shared already/);
  });
});

for (const context of ['process', 'thread'] as const) {
  describe(`transfer() to a ${context}`, () => {
    test('buffers moved to a child arrive whole, as views of shared memory', async () => {
      const inbox = new Queue<ArrayBufferView[]>();
      const outbox = new Queue<Seen[]>();
      const p = new Process({ target: describeBuffers, args: [inbox, outbox], context });
      p.start();
      const big = Buffer.alloc(16 * MiB, 1);
      big[big.length - 1] = 2;
      await inbox.put([transfer(big), transfer(new Uint16Array(10).fill(9))]);
      assert.equal(big.length, 0);
      // To a thread no copy: the same ArrayBuffer memory; to a process, a view of the memfd it came in.
      const shared = context === 'process';
      assert.deepEqual(await outbox.get({ timeout: 20 }), [
        { kind: 'Buffer', length: 16 * MiB, shared, first: 1, last: 2 },
        { kind: 'Uint16Array', length: 20, shared, first: 9, last: 0 },
      ]);
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    test('a buffer moved by a child that ended before it was read still arrives', async () => {
      const outbox = new Queue<Buffer>();
      const p = new Process({ target: sendAndExit, args: [outbox, 4 * MiB, 6], context });
      p.start();
      await p.join(20);
      assert.equal(p.exitCode, 0);
      const got = await outbox.get({ timeout: 20 });
      assert.equal(got.length, 4 * MiB);
      assert.equal(got[4 * MiB - 1], 6);
    });
  });
}

describe('transfer() to a thread: no copy', () => {
  test('many buffers in flight from a thread arrive whole, and none stays parked', async () => {
    const q = new Queue<Uint8Array>();
    const ready = new Queue<number>();
    const fds = openFds();
    const pooled = memfdPool.size;
    const parked = native.parkedCount();
    const sender = new Process({ target: sendAndWait, args: [q, ready, 200, 256 * 1024], context: 'thread' });
    sender.start();
    assert.equal(await ready.get({ timeout: 20 }), 0, 'every buffer was detached in the sender');
    assert.equal(native.parkedCount() - parked, 200);
    for (let i = 0; i < 200; i++) {
      const got = await q.get({ timeout: 5 });
      assert.ok(got.buffer instanceof ArrayBuffer, 'not a copy into shared memory');
      assert.equal(got.length, 256 * 1024);
      assert.ok(got[0] === i % 251 && got.every((x) => x === got[0]), `buffer ${i} arrived whole`);
    }
    assert.equal(native.parkedCount(), parked);
    assert.equal(memfdPool.size, pooled, 'no memfd was written');
    sender.terminate();
    await sender.join(20);
    // The thread's own fds (its event loop's, its wait ring's) close as its loop is torn down, which may end after
    // join, later still on a loaded machine; a leak of what the 200 buffers used (memfds, sockets) would be hundreds.
    await eventually(() => openFds() - fds <= 8, 15, 'the fds the sender thread held closed');
  });

  test('buffers a thread moved arrive whole after that thread was stopped', async () => {
    const q = new Queue<Uint8Array>();
    const ready = new Queue<number>();
    const parked = native.parkedCount();
    const sender = new Process({ target: sendAndWait, args: [q, ready, 4, 8 * MiB], context: 'thread' });
    sender.start();
    await ready.get({ timeout: 20 });
    sender.kill();
    await sender.join(20);
    assert.notEqual(sender.exitCode, 0);
    for (let i = 0; i < 4; i++) {
      const got = await q.get({ timeout: 5 });
      assert.equal(got.length, 8 * MiB);
      assert.ok(got[0] === i && got.every((x) => x === i), `buffer ${i} arrived whole`);
    }
    assert.equal(native.parkedCount(), parked);
  });

  test('buffers moved to a thread that was stopped before it took them are freed with the queue', async () => {
    await collect();
    const parked = native.parkedCount();
    // In a function of its own, so that nothing here refers to the queue (or to the Process holding its args) after it.
    await (async () => {
      const q = new Queue<Buffer>();
      const ready = new Queue<number>();
      const receiver = new Process({ target: holdOne, args: [q, ready], context: 'thread' });
      receiver.start();
      await q.put(transfer(Buffer.alloc(MiB, 1))); // taken and held when the thread is stopped
      assert.equal(await ready.get({ timeout: 20 }), MiB);
      for (let i = 0; i < 3; i++) await q.put(transfer(Buffer.alloc(16 * MiB, 2)));
      receiver.kill();
      await receiver.join(20);
      assert.equal(native.parkedCount() - parked, 3, 'three buffers wait in the queue');
    })();
    for (let i = 0; i < 20 && native.parkedCount() > parked; i++) await collect();
    assert.equal(native.parkedCount(), parked, 'the last holder of the queue in this process is gone: so are its buffers');
  });

  test('buffers parked for threads are handed over when the queue then goes to a process', async () => {
    const q = new Queue<Uint8Array>();
    const parked = native.parkedCount();
    for (let i = 0; i < 3; i++) await q.put(transfer(new Uint8Array(4 * MiB).fill(i + 1)));
    assert.equal(native.parkedCount() - parked, 3);
    const outbox = new Queue<[number, boolean, boolean][]>();
    const taker = new Process({ target: checkAll, args: [q, outbox, 3] });
    taker.start();
    assert.equal(native.parkedCount(), parked, 'written into memfds as the process started');
    assert.deepEqual(await outbox.get({ timeout: 20 }), [[4 * MiB, true, true], [4 * MiB, true, true], [4 * MiB, true, true]]);
    await taker.join(20);
    await q.put(transfer(new Uint8Array(8).fill(9)));
    assert.equal(native.parkedCount(), parked, 'a queue another process holds parks nothing');
    assert.ok((await q.get({ timeout: 5 })).buffer instanceof SharedArrayBuffer);
  });

  test('a thread that parked buffers and then passes the queue to a process hands them over', async () => {
    const outbox = new Queue<[number, boolean, boolean][]>();
    const parked = native.parkedCount();
    const thread = new Process({ target: parkThenPass, args: [outbox, 3, 2 * MiB], context: 'thread' });
    thread.start();
    assert.deepEqual(await outbox.get({ timeout: 20 }), [[2 * MiB, true, true], [2 * MiB, true, true], [2 * MiB, true, true]]);
    await thread.join(20);
    assert.equal(thread.exitCode, 0);
    assert.equal(native.parkedCount(), parked);
  });

  test('a thread and a process taking from one queue get every buffer', async () => {
    const q = new Queue<Uint8Array>();
    const outbox = new Queue<[number, boolean, boolean][]>();
    const takers = (['thread', 'process'] as const).map((context) => new Process({ target: checkAll, args: [q, outbox, 10], context }));
    for (const t of takers) t.start();
    for (let i = 0; i < 20; i++) await q.put(transfer(new Uint8Array(MiB).fill(i)));
    const seen = [...(await outbox.get({ timeout: 20 })), ...(await outbox.get({ timeout: 20 }))];
    assert.equal(seen.length, 20);
    assert.ok(seen.every(([length, , whole]) => length === MiB && whole));
    for (const t of takers) await t.join(20);
  });
});

describe('what passing queues costs in fds', () => {
  /** fds open in a child of `context` started with `n` queues, and how many its start added to this process. */
  async function fdsWith(context: 'process' | 'thread', n: number): Promise<{ child: number; here: number }> {
    const queues = Array.from({ length: n }, () => new Queue<number>());
    const outbox = new Queue<number>();
    await collect();
    const before = openFds();
    const child = new Process({ target: countFds, args: [outbox, queues], context });
    child.start();
    const counted = await outbox.get({ timeout: 20 });
    const here = openFds() - before;
    await child.join(20);
    return { child: counted, here };
  }

  test('20 queues passed to a thread add one fd each (their rings), none for moving buffers', async () => {
    const { here } = await fdsWith('thread', 20);
    // 20 ring copies for the thread, and the thread's own event loop (a few more on Node 22 and 24); before, each
    // queue also had a socket pair, and the thread its copies of it (60 and more)
    assert.ok(here <= 20 + 10, `the thread's start added ${here} fds to this process`);
  });

  test('20 queues passed to a process: two fds each in the child (the ring, one socket), one more here', async () => {
    const { child: one, here: hereOne } = await fdsWith('process', 1);
    const { child: twenty, here } = await fdsWith('process', 20);
    // before: the ring and a socket pair (3 fds) a queue in the child, and the pair (2) here
    assert.ok(twenty - one <= 19 * 2, `19 more queues cost the child ${twenty - one} fds`);
    assert.ok(here - hereOne <= 19 + 2, `19 more queues cost this process ${here - hereOne} fds`);
  });
});

describe('the sender\'s pool of memfds', () => {
  /** Moves a buffer of `fill` through `q` and checks what arrives; keeps no reference to it. */
  async function roundTrip(q: Queue<Buffer>, size: number, fill: number): Promise<void> {
    await q.put(transfer(Buffer.alloc(size, fill)));
    const got = await q.get({ timeout: 5 });
    assert.equal(got[0], fill);
    assert.equal(got[size - 1], fill);
  }

  test('a received buffer stays whole while held, and its memfd is written again only once it is collected', async () => {
    const q = new Queue<Buffer>();
    await passToProcess(q as Queue<never>);
    await collect();
    const fds = openFds();
    const shm = shmem();
    const pooled = memfdPool.size;
    await q.put(transfer(Buffer.alloc(8 * MiB, 1)));
    let held: Buffer | null = await q.get({ timeout: 5 });
    for (let i = 2; i < 30; i++) {
      await roundTrip(q, 8 * MiB, i);
      await collect(); // frees the last one's mapping, never `held`'s
    }
    assert.ok(held.every((x) => x === 1), 'the held buffer was not written over');
    // 29 x 8 MiB went through; a memfd per transfer kept would show as 232 MiB.
    const grown = (shmem() - shm) / MiB;
    assert.ok(grown < 96, `shared memory grew by ${grown.toFixed(0)} MiB`);
    // One memfd held, one or two going round: a pool that never saw a release would have made one per send, up to its cap.
    assert.ok(memfdPool.size <= pooled + 3, `the pool grew from ${pooled} to ${memfdPool.size} memfds`);
    assert.ok(openFds() - fds <= 4, `fds grew by ${openFds() - fds}`);
    assert.ok(memfdPool.holders().includes(process.pid), 'the held buffer\'s memfd is marked as held here');
    held = null;
    await collect();
    assert.ok(!memfdPool.holders().includes(process.pid), 'its memfd was released when it was collected');
  });

  test('a memfd whose receiver was SIGKILLed while holding it is written again', async () => {
    const q = new Queue<Buffer>();
    const ready = new Queue<number>();
    const holder = new Process({ target: holdOne, args: [q, ready] });
    holder.start();
    const fds = openFds();
    await q.put(transfer(Buffer.alloc(8 * MiB, 1)));
    assert.equal(await ready.get({ timeout: 20 }), 8 * MiB);
    assert.ok(memfdPool.holders().includes(holder.pid!), 'the child holds its memfd');
    holder.kill();
    await holder.join(20);
    const pooled = memfdPool.size;
    await roundTrip(q, 8 * MiB, 2);
    assert.ok(!memfdPool.holders().includes(holder.pid!), 'the dead child\'s memfd is free again');
    await collect();
    assert.ok(memfdPool.size <= pooled, `the pool grew from ${pooled} to ${memfdPool.size} memfds`);
    assert.ok(openFds() - fds <= 2, `fds grew by ${openFds() - fds}`);
  });
});

/** Shared memory in use on this machine (tmpfs, memfds), in bytes. */
function shmem(): number {
  return Number(/^Shmem:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
}

test('moved buffers nobody will read are freed once their queue\'s holders are SIGKILLed', async () => {
  // One process holds the queue and moves 4 x 64 MiB into it; its child takes one and
  // holds it mapped; the other three stay in flight. Then both are killed. Others may
  // use shared memory on this machine meanwhile: the bounds leave room for that.
  const before = shmem();
  const report = new Queue<[number, number]>();
  const stager = new Process({ target: stage, args: [report, 4, 64 * MiB] });
  stager.start();
  const [stagerPid, holderPid] = await report.get({ timeout: 60 });
  const staged = shmem() - before;
  assert.ok(staged >= 200 * MiB, `4 x 64 MiB in flight or held show as shared memory (grew by ${staged / MiB} MiB)`);
  process.kill(holderPid, 'SIGKILL');
  process.kill(stagerPid, 'SIGKILL');
  await stager.join(20);
  let left = Infinity;
  for (let i = 0; i < 100 && left > 40 * MiB; i++) {
    await sleep(0.1);
    left = shmem() - before;
  }
  assert.ok(left <= 40 * MiB, `the 256 MiB went back to the kernel (still ${(left / MiB).toFixed(0)} MiB above the start)`);
});
