/**
 * A process or thread that waits spends no CPU while it waits longer than a
 * few milliseconds (futex.ts: spins only while they pay). Each test
 * blocks a child on one kind of wait for 2 s and reads the child's CPU time
 * from /proc (proc(5): utime + stime of /proc/<pid>/stat for a process, of
 * /proc/<pid>/task/<tid>/stat for a worker thread, whose process is this one).
 * A wait that spun or napped all along would show most of the 2 s.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Lock, Manager, Pipe, Pool, Process, Queue } from 'weft';
import { acquireOne, getOne, managerCall, recvOne, where } from './fixtures/waits.js';
import { sleep } from '../helpers/run.js';

const BLOCKED_S = 2;
const LIMIT_MS = 50;
/** Clock ticks per second of /proc's times: 100 on Linux (sysconf(_SC_CLK_TCK), fixed by the kernel's ABI). */
const TICKS = 100;

/** CPU time in ms of a process (context 'process') or of one of its threads. */
function cpuMs(context: 'process' | 'thread', pid: number, tid: number): number {
  const stat = readFileSync(context === 'process' ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  // the fields after "(comm)": state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

/**
 * Starts `child`, which puts its [pid, tid] on `hello` and then waits; reads
 * its CPU time across BLOCKED_S seconds; then `release` ends its wait.
 */
async function cpuWhileBlocked(
  context: 'process' | 'thread',
  child: (hello: Queue<[number, number]>) => Process,
  release: () => unknown,
): Promise<number> {
  const hello = new Queue<[number, number]>();
  const p = child(hello);
  p.start();
  try {
    const [pid, tid] = await hello.get({ timeout: 30 });
    const before = cpuMs(context, pid, tid);
    await sleep(BLOCKED_S);
    const spent = cpuMs(context, pid, tid) - before;
    await release();
    await p.join(30);
    assert.equal(p.exitCode, 0, 'the child ended its wait and exited');
    return spent;
  } finally {
    if (p.isAlive()) {
      p.terminate(); // a failed check must not leave the child waiting for ever
      await p.join(10);
    }
  }
}

for (const context of ['process', 'thread'] as const) {
  describe(`a blocked wait spends no CPU (${context})`, () => {
    test('Queue.get', async () => {
      const q = new Queue<number>();
      const spent = await cpuWhileBlocked(context, (hello) => new Process({ target: getOne, args: [q, hello], context }), () => q.put(1));
      assert.ok(spent < LIMIT_MS, `a child blocked ${BLOCKED_S} s on q.get() used ${spent} ms of CPU`);
    });

    test('Lock.acquire', async () => {
      const lock = new Lock();
      lock.acquireSync();
      const spent = await cpuWhileBlocked(context, (hello) => new Process({ target: acquireOne, args: [lock, hello], context }), () => lock.release());
      assert.ok(spent < LIMIT_MS, `a child blocked ${BLOCKED_S} s on lock.acquire() used ${spent} ms of CPU`);
    });

    test('Connection.recv', async () => {
      const [a, b] = Pipe();
      const spent = await cpuWhileBlocked(context, (hello) => new Process({ target: recvOne, args: [b, hello], context }), () => a.send(1));
      assert.ok(spent < LIMIT_MS, `a child blocked ${BLOCKED_S} s on conn.recv() used ${spent} ms of CPU`);
      a.close();
      b.close();
    });

    test('an awaited Manager call', async () => {
      await using m = await Manager.start({ context });
      const event = await m.Event();
      const spent = await cpuWhileBlocked(context, (hello) => new Process({ target: managerCall, args: [event, hello], context }), () => event.set());
      assert.ok(spent < LIMIT_MS, `a child blocked ${BLOCKED_S} s on an awaited Manager call used ${spent} ms of CPU`);
    });

    test('an idle Pool worker', async () => {
      const pool = new Pool({ processes: 1, context });
      try {
        const [pid, tid] = await pool.apply(where, []);
        const before = cpuMs(context, pid, tid);
        await sleep(BLOCKED_S);
        const spent = cpuMs(context, pid, tid) - before;
        assert.ok(spent < LIMIT_MS, `an idle pool worker used ${spent} ms of CPU in ${BLOCKED_S} s`);
        assert.equal(await pool.apply(where, []).then(([p]) => p), pid, 'the same worker still answers');
      } finally {
        pool.close();
        await pool.join();
      }
    });
  });
}
