// Tests of Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and
// Barrier: within one realm, and across child processes and worker threads
// (every cross-realm test runs in both contexts, and once with a mix).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  Process, activeChildren, Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Event, Lock, RLock, Semaphore, SharedArray, Value, TimeoutError, ValueError, UnsendableError,
} from 'weft';
import type { ContextName } from 'weft';
import { RuntimeError } from 'weft/io';
import { dumps } from '../../src/internals.js';
import * as t from './fixtures/sync-tasks.js';

const CONTEXTS: ContextName[] = ['process', 'thread'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now() / 1000;

function start(target: (...args: never[]) => unknown, args: unknown[], context: ContextName): Process {
  const p = new Process({ target: target as never, args: args as never, context });
  p.start();
  return p;
}

async function joinAll(procs: Process[], timeout = 20): Promise<void> {
  for (const p of procs) {
    await p.join(timeout);
    assert.equal(p.exitCode, 0, `${p.name} exited with ${p.exitCode}`);
  }
}

after(async () => {
  const left = activeChildren();
  for (const p of left) {
    p.kill();
    await p.join(5);
  }
  assert.equal(left.length, 0, 'a test left children running');
});

async function until(check: () => boolean, what: string, seconds = 15): Promise<void> {
  const t0 = now();
  while (!check()) {
    assert.ok(now() - t0 < seconds, `timed out waiting until ${what}`);
    await sleep(5);
  }
}

describe('Lock in one realm', () => {
  it("prints as Python's: the owner by process name", async () => {
    const lock = new Lock();
    assert.equal(String(lock), '<Lock(owner=None)>');
    await lock.acquire();
    assert.equal(String(lock), '<Lock(owner=MainProcess)>');
    lock.release();
  });

  it('acquire, non-blocking and timed attempts, release', async () => {
    const lock = new Lock();
    assert.equal(await lock.acquire(), true);
    assert.equal(lock.owner !== null, true);
    assert.equal(await lock.acquire({ block: false }), false);
    assert.equal(lock.acquireSync({ block: false }), false);
    const t0 = now();
    assert.equal(await lock.acquire({ timeout: 0.2 }), false);
    const waited = now() - t0;
    assert.ok(waited >= 0.18 && waited < 1.5, `timed acquire took ${waited} s`);
    assert.equal(lock.acquireSync({ timeout: 0.05 }), false);
    lock.release();
    assert.equal(lock.owner, null);
    assert.equal(lock.acquireSync(), true);
    lock.release();
  });

  it('release of a free lock throws ValueError', () => {
    const lock = new Lock();
    assert.throws(() => lock.release(), (e) => e instanceof ValueError && /released too many times/.test(e.message));
  });

  it('an async wait does not block the event loop', async () => {
    const lock = new Lock();
    await lock.acquire();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const got = await lock.acquire({ timeout: 0.3 });
    clearInterval(timer);
    assert.equal(got, false);
    // a blocked loop would tick at most once; a busy machine may delay some ticks
    assert.ok(ticks >= 5, `only ${ticks} timer ticks during a 0.3 s wait`);
    lock.release();
  });

  it('hands over to an async waiter of the same realm on release', async () => {
    const lock = new Lock();
    await lock.acquire();
    const waiter = lock.acquire({ timeout: 5 });
    await sleep(30);
    lock.release();
    assert.equal(await waiter, true);
    lock.release();
  });

  it('hold() releases at the end of a using block, also on throw, and times out with TimeoutError', async () => {
    const lock = new Lock();
    {
      using held = await lock.hold();
      assert.notEqual(lock.owner, null);
      void held;
    }
    assert.equal(lock.owner, null);
    await assert.rejects(async () => {
      using held = await lock.hold();
      void held;
      throw new Error('inside');
    }, /inside/);
    assert.equal(lock.owner, null);
    await lock.acquire();
    await assert.rejects(lock.hold({ timeout: 0.05 }), TimeoutError);
    lock.release();
  });

  it('a negative timeout counts as 0 and a NaN timeout is refused', async () => {
    const lock = new Lock();
    await lock.acquire();
    assert.equal(await lock.acquire({ timeout: -1 }), false);
    assert.throws(() => lock.acquire({ timeout: NaN }), RangeError);
    lock.release();
  });
});

describe('RLock in one realm', () => {
  it('re-enters and needs as many releases', async () => {
    const rlock = new RLock();
    assert.equal(await rlock.acquire(), true);
    assert.equal(rlock.acquireSync(), true);
    assert.equal(await rlock.acquire({ block: false }), true);
    assert.equal(rlock.depth, 3);
    assert.equal(String(rlock), '<RLock(MainProcess, 3)>');
    rlock.release();
    rlock.release();
    assert.notEqual(rlock.owner, null);
    rlock.release();
    assert.equal(rlock.owner, null);
    assert.equal(rlock.depth, 0);
  });

  it('release when not held throws RuntimeError', () => {
    const rlock = new RLock();
    assert.throws(() => rlock.release(), (e) => e instanceof RuntimeError && e.message === 'cannot release un-acquired lock');
  });
});

describe('Semaphore and BoundedSemaphore', () => {
  it('counts units', async () => {
    const sem = new Semaphore(2);
    assert.equal(sem.getValue(), 2);
    assert.equal(await sem.acquire(), true);
    assert.equal(sem.acquireSync(), true);
    assert.equal(sem.getValue(), 0);
    assert.equal(await sem.acquire({ timeout: 0.05 }), false);
    sem.release();
    sem.release();
    sem.release(); // an unbounded semaphore may grow past its start
    assert.equal(sem.getValue(), 3);
    assert.equal(String(sem), '<Semaphore(value=3)>');
  });

  it('a waiter wakes when a unit comes back', async () => {
    const sem = new Semaphore(0);
    const waiter = sem.acquire({ timeout: 5 });
    await sleep(20);
    sem.release();
    assert.equal(await waiter, true);
    assert.equal(sem.getValue(), 0);
  });

  it('BoundedSemaphore refuses to pass its initial value', async () => {
    const sem = new BoundedSemaphore(2);
    await sem.acquire();
    sem.release();
    assert.throws(() => sem.release(), (e) => e instanceof ValueError && e.message === 'Semaphore released too many times');
    assert.equal(sem.getValue(), 2);
    const zero = new BoundedSemaphore(0);
    assert.throws(() => zero.release(), ValueError);
  });

  it('refuses a bad initial value', () => {
    assert.throws(() => new Semaphore(-1), ValueError);
    assert.throws(() => new Semaphore(1.5), ValueError);
  });
});

describe('Event in one realm', () => {
  it('set, clear, isSet and wait with and without timeout', async () => {
    const event = new Event();
    assert.equal(event.isSet(), false);
    const t0 = now();
    assert.equal(await event.wait(0.1), false);
    assert.ok(now() - t0 >= 0.09);
    assert.equal(event.waitSync(0.01), false);
    const waiting = event.wait(5);
    setTimeout(() => event.set(), 20);
    assert.equal(await waiting, true);
    assert.equal(event.isSet(), true);
    assert.equal(event.waitSync(), true);
    event.clear();
    assert.equal(event.isSet(), false);
  });

  it('a waiter that missed a set-then-clear still returns true', async () => {
    const event = new Event();
    const waiting = event.wait(2);
    event.set();
    event.clear();
    assert.equal(await waiting, true);
  });
});

describe('Condition in one realm', () => {
  it('notify(n) wakes exactly n waiters, notifyAll the rest', async () => {
    const cond = new Condition();
    let woken = 0;
    const waiters = [0, 1, 2, 3].map(async () => {
      await cond.acquire();
      const ok = await cond.wait(5);
      woken++;
      cond.release();
      return ok;
    });
    await sleep(30);
    await cond.acquire();
    cond.notify();
    cond.release();
    await sleep(50);
    assert.equal(woken, 1);
    await cond.acquire();
    cond.notify(2);
    cond.release();
    await sleep(50);
    assert.equal(woken, 3);
    await cond.acquire();
    cond.notifyAll();
    cond.release();
    assert.deepEqual(await Promise.all(waiters), [true, true, true, true]);
  });

  it('a notify goes to the longest waiter, never to one that arrived after it', async () => {
    const cond = new Condition();
    const order: string[] = [];
    const first = (async () => {
      await cond.acquire();
      const ok = await cond.wait(2);
      order.push(`first ${ok}`);
      cond.release();
    })();
    await sleep(20);
    await cond.acquire();
    cond.notify();
    cond.release();
    // a newcomer gets the lock before the notified waiter runs again: it must not take its turn
    await cond.acquire();
    const late = await cond.wait(0.2);
    order.push(`late ${late}`);
    cond.release();
    await first;
    assert.deepEqual(order, ['first true', 'late false']);
  });

  it('wait times out with false and still re-acquires the lock', async () => {
    const cond = new Condition(new RLock());
    await cond.acquire();
    await cond.acquire();
    assert.equal(await cond.wait(0.05), false);
    assert.equal((cond.lock as RLock).depth, 2);
    cond.release();
    cond.release();
  });

  it('waitFor returns the predicate result, false on timeout', async () => {
    const cond = new Condition();
    let items = 0;
    setTimeout(async () => {
      await cond.acquire();
      items = 2;
      cond.notifyAll();
      cond.release();
    }, 20);
    await cond.acquire();
    assert.equal(await cond.waitFor(() => items, 5), 2);
    assert.equal(await cond.waitFor(() => items > 5, 0.05), false);
    cond.release();
  });

  it('wait and notify without the lock throw RuntimeError', async () => {
    const cond = new Condition();
    assert.equal(cond.acquireSync(), true);
    assert.equal(String(cond), '<Condition(<Lock(owner=MainProcess)>, 0)>');
    cond.release();
    await assert.rejects(cond.wait(0), (e) => e instanceof RuntimeError && /un-acquired lock/.test(e.message));
    assert.throws(() => cond.notify(), RuntimeError);
    assert.throws(() => cond.notifyAll(), RuntimeError);
  });
});

describe('Barrier in one realm', () => {
  it("prints as Python's threading.Barrier", async () => {
    const barrier = new Barrier(2);
    assert.match(String(barrier), /^<Barrier at 0x[0-9a-f]+: waiters=0\/2>$/);
    const waiting = barrier.wait();
    assert.match(String(barrier), /: waiters=1\/2>$/);
    barrier.abort();
    await assert.rejects(waiting, BrokenBarrierError);
    assert.match(String(barrier), /^<Barrier at 0x[0-9a-f]+: broken>$/);
  });

  it('gives each party a distinct index and runs the action once per round', async () => {
    let actions = 0;
    const barrier = new Barrier(3, () => actions++);
    for (let round = 0; round < 3; round++) {
      const indexes = await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()]);
      assert.deepEqual([...indexes].sort(), [0, 1, 2]);
    }
    assert.equal(actions, 3);
    assert.equal(barrier.parties, 3);
    assert.equal(barrier.nWaiting, 0);
  });

  it('a timeout breaks it for everyone until reset()', async () => {
    const barrier = new Barrier(3);
    const other = barrier.wait();
    await sleep(10);
    assert.equal(barrier.nWaiting, 1);
    const t0 = now();
    await assert.rejects(barrier.wait(0.1), BrokenBarrierError);
    assert.ok(now() - t0 < 1.5);
    await assert.rejects(other, BrokenBarrierError);
    assert.equal(barrier.broken, true);
    await assert.rejects(barrier.wait(), BrokenBarrierError);
    barrier.reset();
    assert.equal(barrier.broken, false);
    const round = await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()]);
    assert.deepEqual([...round].sort(), [0, 1, 2]);
  });

  it('abort() and reset() break current waiters', async () => {
    const barrier = new Barrier(2);
    const w1 = barrier.wait();
    await sleep(10);
    barrier.reset();
    await assert.rejects(w1, BrokenBarrierError);
    assert.equal(barrier.broken, false);
    const w2 = barrier.wait();
    await sleep(10);
    barrier.abort();
    await assert.rejects(w2, BrokenBarrierError);
    assert.equal(barrier.broken, true);
  });

  it('an action that throws breaks the barrier and reaches the last caller', async () => {
    const barrier = new Barrier(2, () => {
      throw new Error('action failed');
    });
    const first = barrier.wait();
    await assert.rejects(barrier.wait(), /action failed/);
    await assert.rejects(first, BrokenBarrierError);
  });

  it('refuses bad parties and a non-task action at start()', () => {
    assert.throws(() => new Barrier(0), ValueError);
    const barrier = new Barrier(2, () => {});
    assert.throws(() => new Process({ target: t.barrierParty, args: [barrier, new SharedArray('i', 1), 0] }).start(), /task\(import\.meta/);
  });
});

for (const context of CONTEXTS) {
  describe(`across ${context} children`, () => {
    it('Lock: mutual exclusion under contention keeps the counter exact', async () => {
      const lock = new Lock();
      const counter = new Value('i', 0, { lock: false });
      const n = 1500;
      const procs = [0, 1].map(() => start(t.countUnderLock, [lock, counter, n], context));
      await t.countUnderLock(lock, counter, n);
      await joinAll(procs);
      assert.equal(counter.value, 3 * n);
    });

    it('RLock: only the owner may release', async () => {
      const rlock = new RLock();
      await rlock.acquire();
      const out = new Value('i', -1);
      await joinAll([start(t.releaseForeign, [rlock, out], context)]);
      assert.equal(out.value, 1);
      assert.equal(rlock.depth, 1);
      rlock.release();
    });

    it('Lock: another realm may release it (as Python)', async () => {
      const lock = new Lock();
      await lock.acquire();
      const out = new Value('i', -1);
      await joinAll([start(t.releaseForeign, [lock, out], context)]);
      assert.equal(out.value, 0);
      assert.equal(lock.owner, null);
    });

    it('Lock: recovered within 1 s after its holder is killed, and the new owner can tell', async () => {
      for (const LockClass of [Lock, RLock]) {
        const lock = new LockClass();
        const held = new Event();
        const p = start(t.holdForever, [lock, held], context);
        assert.equal(await held.wait(15), true);
        assert.equal(await lock.acquire({ timeout: 0.05 }), false);
        if (context === 'process') p.kill();
        else p.terminate();
        const t0 = now();
        assert.equal(await lock.acquire({ timeout: 5 }), true);
        const took = now() - t0;
        assert.ok(took < 1, `${LockClass.name} recovered after ${took.toFixed(3)} s`);
        assert.equal(lock.abandoned, true);
        lock.release();
        assert.equal(lock.abandoned, false);
        assert.equal(await lock.acquire({ block: false }), true);
        assert.equal(lock.abandoned, false);
        lock.release();
        await p.join(5);
        assert.notEqual(p.exitCode, 0);
      }
    });

    it('Lock: a holder that exits without releasing is taken over by a blocking waiter too', async () => {
      const lock = new Lock();
      const p = start(t.acquireOnly, [lock], context);
      await p.join(15);
      assert.equal(lock.acquireSync({ timeout: 2 }), true);
      assert.equal(lock.abandoned, true);
      lock.release();
    });

    it('Semaphore: units are shared', async () => {
      const sem = new Semaphore(0);
      const taken = new Value('i', 0);
      const p = start(t.takeUnits, [sem, taken, 3], context);
      await sleep(50);
      assert.equal(taken.value, 0);
      sem.release();
      sem.release();
      await until(() => taken.value === 2, 'two units were taken');
      await sleep(100);
      assert.equal(taken.value, 2);
      sem.release();
      await joinAll([p]);
      assert.equal(taken.value, 3);
      assert.equal(sem.getValue(), 0);
    });

    it('Event: set() wakes waiters in other realms', async () => {
      const event = new Event();
      const out = new SharedArray('i', 2);
      const started = new Semaphore(0);
      const procs = [0, 1].map((i) => start(t.awaitEvent, [event, out, i, started], context));
      for (let i = 0; i < 2; i++) assert.equal(await started.acquire({ timeout: 15 }), true);
      await sleep(50);
      assert.deepEqual(out.toArray(), [0, 0]);
      event.set();
      await joinAll(procs);
      assert.deepEqual(out.toArray(), [1, 1]);
    });

    it('Condition: notify wakes one waiter in another realm, notifyAll the rest', async () => {
      const cond = new Condition();
      const started = new Value('i', 0, { lock: false });
      const woken = new Value('i', 0, { lock: false });
      const procs = [0, 1, 2].map(() => start(t.conditionWaiter, [cond, started, woken], context));
      await until(() => started.value === 3, 'three waiters started');
      // they counted themselves under the lock, before wait() released it: all three sleep once we hold it
      await cond.acquire();
      cond.notify();
      cond.release();
      await until(() => woken.value === 1, 'one waiter woke');
      await sleep(100);
      assert.equal(woken.value, 1);
      await cond.acquire();
      cond.notifyAll();
      cond.release();
      await joinAll(procs);
      assert.equal(woken.value, 3);
    });

    it('Condition: a bounded buffer between a producer and two consumers never stalls', async () => {
      const cond = new Condition();
      const count = new Value('i', 0, { lock: false });
      const got = new Value('i', 0, { lock: false });
      const n = 600;
      const procs = [0, 1].map(() => start(t.consume, [cond, count, got, n / 2], context));
      for (let i = 0; i < n; i++) {
        await cond.acquire();
        assert.ok(await cond.waitFor(() => count.value < 2, 10), `producer stalled at item ${i}`);
        count.value += 1;
        cond.notifyAll();
        cond.release();
      }
      await joinAll(procs);
      assert.equal(got.value, n);
    });

    it('Barrier: parties in other realms get distinct indexes; abort breaks them', async () => {
      const barrier = new Barrier(3);
      const out = new SharedArray('i', [9, 9]);
      const procs = [0, 1].map((i) => start(t.barrierParty, [barrier, out, i], context));
      const mine = await barrier.wait(15);
      await joinAll(procs);
      assert.deepEqual([mine, ...out.toArray()].sort(), [0, 1, 2]);

      const broken = new SharedArray('i', [9]);
      const p = start(t.barrierParty, [barrier, broken, 0], context);
      await until(() => barrier.nWaiting === 1, 'the party arrived');
      barrier.abort();
      await joinAll([p]);
      assert.equal(broken.get(0), -1);
    });
  });
}

describe('across a mix of process and thread children', () => {
  it('one Lock serves the parent, a process child and a thread child at once', async () => {
    const lock = new Lock();
    const counter = new Value('i', 0, { lock: false });
    const n = 1000;
    const procs = CONTEXTS.map((context) => start(t.countUnderLock, [lock, counter, n], context));
    await t.countUnderLock(lock, counter, n);
    await joinAll(procs);
    assert.equal(counter.value, 3 * n);
  });

  it("a Value's own RLock (getLock().hold()) serves them too", async () => {
    const counter = new Value('i', 0);
    const n = 1000;
    const procs = CONTEXTS.map((context) => start(t.addWithHold, [counter, n], context));
    await t.addWithHold(counter, n);
    await joinAll(procs);
    assert.equal(counter.value, 3 * n);
  });

  it('a Barrier whose action was declared with task() crosses and runs it', async () => {
    const barrier = new Barrier(3, t.barrierAction);
    const out = new SharedArray('i', [9, 9]);
    const procs = CONTEXTS.map((context, i) => start(t.barrierParty, [barrier, out, i], context));
    const mine = await barrier.wait(15);
    await joinAll(procs);
    assert.deepEqual([mine, ...out.toArray()].sort(), [0, 1, 2]);
  });
});

describe('sharing', () => {
  it('locks and values cross only as Process args, never in a message (as Python)', () => {
    for (const obj of [new Lock(), new RLock(), new Semaphore(), new Event(), new Condition(), new Barrier(2), new Value('i', 1)]) {
      assert.throws(() => dumps({ obj }), (e) => e instanceof UnsendableError && /args/.test(e.message), obj.constructor.name);
    }
  });

  it('a child hands a Lock and a Value on to a grandchild', async () => {
    const lock = new Lock();
    const counter = new Value('i', 0, { lock: false });
    const p = start(t.passOn, [lock, counter, 500], 'process');
    await t.countUnderLock(lock, counter, 500);
    await joinAll([p]);
    assert.equal(counter.value, 1500);
  });
});

describe('examples/14-lock (the seed program)', () => {
  it('ten processes each print "hello world i" once, whole lines, and it exits 0', async () => {
    const script = fileURLToPath(new URL('../../examples/14-lock.js', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [script], { env: { ...process.env, WEFT_TOUR: '1' }, timeout: 30_000 }, (err, out) =>
        err ? reject(err) : resolve(out),
      );
    });
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 10);
    assert.deepEqual([...lines].sort(), Array.from({ length: 10 }, (_, i) => `hello world ${i}`).sort());
  });
});
