import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  Greenlet,
  GreenletExit,
  getCurrent,
  joinAll,
  killAll,
  sleep,
  spawn,
  spawnLater,
  wait,
  Timeout,
  Event,
} from 'weft/coro';
import { assertNoLeaks, captureErrors } from './helpers.js';

after(assertNoLeaks);

test('greenlets run when the spawner waits, interleaving at each sleep', async () => {
  const log: string[] = [];
  const a = spawn(async () => {
    log.push('a1');
    await sleep(0);
    log.push('a2');
    return 'A';
  });
  const b = spawn(async () => {
    log.push('b1');
    await sleep(0);
    log.push('b2');
    return 'B';
  });
  log.push('spawned');
  assert.equal(a.started, true);
  assert.equal(a.dead, false);
  await joinAll([a, b]);
  assert.deepEqual(log, ['spawned', 'a1', 'b1', 'a2', 'b2']);
  assert.equal(a.value, 'A');
  assert.equal(b.value, 'B');
  assert.ok(a.dead && a.ready() && a.successful());
});

test('getCurrent() names the running greenlet across awaits, and the main greenlet outside', async () => {
  const seen: string[] = [];
  const mk = (tag: string) => async () => {
    seen.push(`${tag}:${getCurrent().name}`);
    await sleep(0.001);
    await Promise.resolve();
    seen.push(`${tag}:${getCurrent().name}`);
  };
  const a = spawn(mk('a'));
  a.name = 'alpha';
  const b = spawn(mk('b'));
  b.name = 'beta';
  await joinAll([a, b]);
  assert.deepEqual(seen.sort(), ['a:alpha', 'a:alpha', 'b:beta', 'b:beta']);
  assert.equal(getCurrent().name, 'MainGreenlet');
  assert.match(spawn(() => 1).name, /^Greenlet-\d+$/);
});

test('an exception ends the greenlet: get() raises it, the hub reports it', async () => {
  const cap = captureErrors();
  try {
    const g = spawn(async () => {
      await sleep(0);
      throw new RangeError('boom');
    });
    await g.join();
    assert.equal(g.successful(), false);
    assert.ok(g.exception instanceof RangeError);
    await assert.rejects(g.get(), RangeError);
    assert.equal(cap.errors.length, 1);
  } finally {
    cap.restore();
  }
});

test('kill raises GreenletExit at the next wait; finally blocks run; it counts as success', async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    try {
      log.push('start');
      await sleep(10);
      log.push('not reached');
    } finally {
      log.push('finally');
    }
  });
  await sleep(0);
  await g.kill();
  assert.deepEqual(log, ['start', 'finally']);
  assert.ok(g.dead);
  assert.ok(g.successful());
  assert.ok((g.value as unknown) instanceof GreenletExit);
});

test('a greenlet may catch GreenletExit, clean up with more waits, and exit', async () => {
  const log: string[] = [];
  const ev = new Event();
  const g = spawn(async () => {
    try {
      await ev.wait();
    } catch (e) {
      assert.ok(e instanceof GreenletExit);
      await sleep(0.01); // cleanup may wait
      log.push('cleaned');
      return 'bye';
    }
    return 'not killed';
  });
  await sleep(0);
  await g.kill();
  assert.deepEqual(log, ['cleaned']);
  assert.equal(g.value, 'bye');
});

test('kill with a custom exception fails the greenlet with it', async () => {
  const cap = captureErrors();
  try {
    class Stop extends Error {}
    const g = spawn(() => sleep(5));
    await sleep(0);
    await g.kill({ exception: Stop });
    assert.ok(g.exception instanceof Stop);
    assert.equal(g.successful(), false);
  } finally {
    cap.restore();
  }
});

test('a greenlet killed before it ran never runs', async () => {
  let ran = false;
  const g = spawn(() => {
    ran = true;
  });
  await g.kill();
  await sleep(0);
  assert.equal(ran, false);
  assert.ok(g.dead && g.successful());
  assert.ok((g.value as unknown) instanceof GreenletExit);
  const later = spawnLater(0.01, () => {
    ran = true;
  });
  await later.kill();
  await sleep(0.03);
  assert.equal(ran, false);
});

test('kill reaches a foreign promise awaited through wait(), and fires the signal', async () => {
  let aborted: unknown;
  const never = new Promise<void>(() => {});
  const g = spawn(async () => {
    const me = getCurrent();
    me.signal.addEventListener('abort', () => (aborted = me.signal.reason));
    await wait(never);
  });
  await sleep(0);
  await g.kill({ timeout: 1 });
  assert.ok(g.dead);
  assert.ok(aborted instanceof GreenletExit);
  assert.equal(g.signal.aborted, true);
});

test('kill of a greenlet busy on a foreign promise lands at its next weft wait', async () => {
  const log: string[] = [];
  let release!: () => void;
  const foreign = new Promise<void>((r) => (release = r));
  const g = spawn(async () => {
    await foreign; // not a weft wait: the kill is kept pending
    log.push('after foreign');
    await sleep(0); // the kill lands here
    log.push('not reached');
  });
  await sleep(0);
  await g.kill({ block: false });
  assert.equal(g.dead, false);
  release();
  await g.join(1);
  assert.deepEqual(log, ['after foreign']);
  assert.ok((g.value as unknown) instanceof GreenletExit);
});

test('kill({ block: true, timeout }) gives up on a greenlet that does not die', async () => {
  let release!: () => void;
  const g = spawn(() => new Promise<void>((r) => (release = r)));
  await sleep(0);
  const t0 = performance.now();
  await g.kill({ timeout: 0.05 });
  assert.ok(performance.now() - t0 >= 45);
  assert.equal(g.dead, false);
  release();
  await g.join();
  assert.ok(g.dead);
});

test('join(timeout) returns false on time out; get({ timeout }) raises Timeout; get({ block: false }) too', async () => {
  const g = spawn(() => sleep(0.2));
  assert.equal(await g.join(0.01), false);
  await assert.rejects(g.get({ timeout: 0.01 }), Timeout);
  await assert.rejects(g.get({ block: false }), Timeout);
  await g.kill();
});

test('a greenlet cannot join itself', async () => {
  const cap = captureErrors();
  try {
    const g: Greenlet = spawn(async () => g.join());
    await g.join();
    assert.match(String(g.exception), /cannot join itself/);
  } finally {
    cap.restore();
  }
});

test('link, linkValue, linkException and unlink', async () => {
  const cap = captureErrors();
  try {
    const seen: string[] = [];
    const ok = spawn(() => 1);
    const bad = spawn(() => {
      throw new Error('x');
    });
    for (const g of [ok, bad]) {
      g.link(() => seen.push(`link ${g === ok ? 'ok' : 'bad'}`));
      g.linkValue(() => seen.push(`value ${g === ok ? 'ok' : 'bad'}`));
      g.linkException(() => seen.push(`exception ${g === ok ? 'ok' : 'bad'}`));
    }
    const removed = (): void => {
      seen.push('removed');
    };
    ok.link(removed);
    ok.unlink(removed);
    await joinAll([ok, bad]);
    await sleep(0);
    assert.deepEqual(seen.sort(), ['exception bad', 'link bad', 'link ok', 'value ok']);
  } finally {
    cap.restore();
  }
});

test('joinAll: count, timeout and raiseError', async () => {
  const cap = captureErrors();
  try {
    const fast = spawn(() => sleep(0.01));
    const slow = spawn(() => sleep(0.3));
    const done = await joinAll([slow, fast], { count: 1 });
    assert.deepEqual(done, [fast]);
    const none = await joinAll([slow], { timeout: 0.01 });
    assert.deepEqual(none, []);
    const failing = spawn(async () => {
      await sleep(0.01);
      throw new TypeError('bad');
    });
    await assert.rejects(joinAll([slow, failing], { raiseError: true }), TypeError);
    assert.equal(slow.dead, false, 'raiseError returns before the slow one ends');
    await killAll([slow]);
    assert.ok(slow.dead);
  } finally {
    cap.restore();
  }
});

test('killAll kills every greenlet and waits', async () => {
  const log: number[] = [];
  const gs = [1, 2, 3].map((i) =>
    spawn(async () => {
      try {
        await sleep(5);
      } finally {
        log.push(i);
      }
    }),
  );
  await sleep(0);
  await killAll(gs);
  assert.deepEqual(log.sort(), [1, 2, 3]);
  assert.ok(gs.every((g) => g.dead));
});

test('spawnLater starts after the delay; Greenlet.start works too', async () => {
  const t0 = performance.now();
  const g = spawnLater(0.05, () => performance.now() - t0);
  const h = new Greenlet((x: number) => x + 1, 41).start();
  assert.equal(await h.get(), 42);
  assert.ok((await g.get()) >= 45);
});

test('bad input gives clear errors', async () => {
  assert.throws(() => spawn(42 as unknown as () => void), /expected a function/);
  assert.throws(() => sleep(-1), /must be >= 0/);
  assert.throws(() => spawnLater(-1, () => 0), RangeError);
  await assert.rejects(getCurrent().kill(), /main greenlet cannot be killed/);
});

test('a greenlet whose function returns a foreign thenable finishes with its value', async () => {
  const thenable: PromiseLike<number> = {
    then(onFulfilled) {
      setTimeout(() => onFulfilled?.(5), 1);
      return thenable as never;
    },
  };
  const g = spawn(() => thenable);
  assert.equal(await g.get({ timeout: 1 }), 5);
});

test('a greenlet that kills itself raises GreenletExit at once and ends', async () => {
  const log: string[] = [];
  const g = spawn(async () => {
    try {
      await getCurrent().kill();
      log.push('not reached');
    } finally {
      log.push('finally');
    }
  });
  await g.join(1);
  assert.deepEqual(log, ['finally']);
  assert.ok(g.successful());
  assert.ok((g.value as unknown) instanceof GreenletExit);
});
