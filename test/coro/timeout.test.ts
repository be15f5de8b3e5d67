import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Event, Timeout, getCurrent, sleep, spawn, wait, withTimeout } from 'weft/coro';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

test('Timeout.run raises the Timeout itself at the wait, after about the given time', async () => {
  const t0 = performance.now();
  await assert.rejects(Timeout.run(0.05, () => sleep(5)), (e: unknown) => {
    assert.ok(e instanceof Timeout);
    assert.equal(e.seconds, 0.05);
    assert.equal(e.message, '0.05 seconds');
    return true;
  });
  const ms = performance.now() - t0;
  assert.ok(ms >= 45 && ms < 1000, `took ${ms} ms`);
});

test('Timeout.run returns the value when in time, and ends a foreign wait too', async () => {
  assert.equal(await Timeout.run(1, async () => 7), 7);
  await assert.rejects(Timeout.run(0.02, () => new Promise(() => {})), Timeout);
});

test('using Timeout.start(...) raises at the next wait and is cancelled when the block ends', async () => {
  let caught: unknown;
  try {
    using t = Timeout.start(0.02);
    assert.equal(t.pending, true);
    await sleep(1);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Timeout);
  {
    await using t = Timeout.start(0.02);
    await sleep(0);
    assert.equal(t.pending, true);
  }
  await sleep(0.04); // the cancelled timeout must not fire here
});

test('a timeout that fired during foreign work is raised at the next wait, and forgotten if the block ends first', async () => {
  const t = Timeout.start(0.01);
  await new Promise((r) => setTimeout(r, 30)); // not a weft wait
  await assert.rejects(sleep(0), (e) => e === t);
  t.cancel();
  const u = Timeout.start(0.01);
  await new Promise((r) => setTimeout(r, 30));
  u.cancel(); // block left before any wait: nothing is raised later
  await sleep(0);
});

test('a custom exception is raised instead of the Timeout', async () => {
  class Slow extends Error {}
  await assert.rejects(Timeout.run(0.01, () => sleep(1), Slow), Slow);
  const given = new Error('too slow');
  await assert.rejects(Timeout.run(0.01, () => sleep(1), given), (e) => e === given);
});

test('nested timeouts: the inner one is raised first, the outer one after the inner block', async () => {
  const outer = Timeout.start(0.03);
  let inner: Timeout | undefined;
  const order: string[] = [];
  try {
    try {
      inner = Timeout.start(0.03);
      // both expire during one foreign wait; the inner must be raised first
      await new Promise((r) => setTimeout(r, 60));
      await sleep(0);
    } catch (e) {
      order.push(e === inner ? 'inner' : e === outer ? 'outer' : 'other');
    } finally {
      inner?.cancel();
    }
    await sleep(0);
    order.push('not reached');
  } catch (e) {
    order.push(e === outer ? 'outer' : 'other');
  } finally {
    outer.cancel();
  }
  assert.deepEqual(order, ['inner', 'outer']);
});

test('a shorter outer timeout passes through an inner block that does not catch it', async () => {
  const outer = Timeout.start(0.01);
  const inner = new Timeout(1);
  try {
    await assert.rejects(
      (async () => {
        inner.start();
        try {
          await sleep(2);
        } finally {
          inner.cancel();
        }
      })(),
      (e) => e === outer,
    );
  } finally {
    outer.cancel();
  }
  assert.equal(inner.pending, false);
});

test('a timeout started in a greenlet lands in that greenlet only', async () => {
  const ev = new Event();
  const g = spawn(async () => {
    using _t = Timeout.start(0.02);
    await ev.wait();
  });
  const h = spawn(() => sleep(0.05));
  await h.join();
  assert.ok(g.dead);
  assert.ok(g.exception instanceof Timeout);
  assert.ok(h.successful());
  assert.equal(getCurrent().name, 'MainGreenlet');
});

test('withTimeout returns the timeout value instead of raising', async () => {
  assert.equal(await withTimeout(0.01, () => sleep(1).then(() => 'late'), { timeoutValue: 'default' }), 'default');
  assert.equal(await withTimeout(1, () => 'fast', { timeoutValue: 'default' }), 'fast');
});

test('Timeout(undefined) never fires; starting twice and negative seconds are refused', async () => {
  const t = new Timeout().start();
  assert.equal(t.pending, false);
  const u = Timeout.start(1);
  assert.throws(() => u.start(), /already started/);
  u.cancel();
  assert.throws(() => new Timeout(-1), RangeError);
  await wait(Promise.resolve());
});
