import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { GreenletExit, greenlet, getCurrentRaw, prime } from 'weft/coro';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

test("greenlet switching runs the seed's test1/test2 in the order 12, 56, 34, 78", async () => {
  const out: number[] = [];
  const gr1 = greenlet(async () => {
    out.push(12);
    await gr2.switch();
    out.push(34);
    await gr2.switch();
  });
  const gr2 = greenlet(async () => {
    out.push(56);
    await gr1.switch();
    out.push(78);
    await gr1.switch();
  });
  await gr1.switch();
  assert.deepEqual(out, [12, 56, 34, 78]);
  assert.equal(gr1.dead, true);
  assert.equal(gr2.dead, false, 'gr2 is left suspended, as in Python');
});

test('switch passes values both ways; a finished greenlet returns to its parent', async () => {
  const main = getCurrentRaw();
  const child = greenlet(async (a: number) => {
    assert.equal(child.parent, main);
    const b = (await main.switch(a + 1)) as number;
    return b * 2;
  });
  assert.equal(await child.switch(1), 2);
  assert.equal(child.started, true);
  assert.equal(await child.switch(5), 10);
  assert.equal(child.dead, true);
  await assert.rejects(async () => child.switch(), /dead greenlet/);
});

test('throw raises inside the greenlet at its switch; an uncaught error reaches the parent', async () => {
  const main = getCurrentRaw();
  const log: string[] = [];
  const g = greenlet(async () => {
    try {
      await main.switch('parked');
    } catch (e) {
      log.push((e as Error).message);
      throw new Error('from child');
    }
  });
  assert.equal(await g.switch(), 'parked');
  await assert.rejects(g.throw(new Error('stop')), /from child/);
  assert.deepEqual(log, ['stop']);
  assert.equal(g.dead, true);
  const quiet = greenlet(async () => {
    await main.switch();
  });
  await quiet.switch();
  assert.ok((await quiet.throw()) instanceof GreenletExit, 'GreenletExit ends it quietly');
  const unstarted = greenlet(async () => 'never');
  assert.ok((await unstarted.throw()) instanceof GreenletExit);
  assert.equal(unstarted.dead, true);
});

test('prime runs a generator to its first yield, then next(value) is send', () => {
  const eaten: string[] = [];
  function* consumer(name: string): Generator<void, never, number> {
    eaten.push(`${name} starting`);
    for (;;) {
      const baozi = yield;
      eaten.push(`${name} eats ${baozi}`);
    }
  }
  const c1 = prime(consumer('c1'));
  c1.next(1);
  c1.next(2);
  assert.deepEqual(eaten, ['c1 starting', 'c1 eats 1', 'c1 eats 2']);
  function* empty(): Generator<void, void, number> {}
  assert.throws(() => prime(empty()), /returned before its first yield/);
});
