/**
 * The hub's own machinery: its timer lists (many waits share one Node timer
 * per delay) and the greenlet context. The other suites use both; these
 * tests aim at the cases a list of timers gets wrong: order across lists,
 * removal from the middle, and letting go of the Node timer.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Queue, Empty, getCurrent, joinAll, sleep, spawn } from 'weft/coro';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test('sleepers wake by due time across delays, and in arming order within one delay', async () => {
  const woke: string[] = [];
  const sleeper = async (tag: string, seconds: number): Promise<void> => {
    await sleep(seconds);
    woke.push(tag);
  };
  const gs = [
    spawn(sleeper, 'c30', 0.03),
    spawn(sleeper, 'a10', 0.01),
    spawn(sleeper, 'd30', 0.03),
    spawn(sleeper, 'b20', 0.02),
    spawn(sleeper, 'e30', 0.03),
  ];
  await joinAll(gs);
  assert.deepEqual(woke, ['a10', 'b20', 'c30', 'd30', 'e30']);
});

test('a sleep lasts at least its time, to the millisecond', async () => {
  for (const seconds of [0.001, 0.005, 0.02]) {
    const t0 = performance.now();
    await sleep(seconds);
    // Node's own timers have 1 ms granularity; so does the hub
    assert.ok(performance.now() - t0 >= seconds * 1000 - 1, `sleep(${seconds}) returned early`);
  }
});

test('killed sleepers leave their list; the others still wake; no Node timer is left', async () => {
  const before = activeTimers();
  const woke = new Set<number>();
  const gs = Array.from({ length: 2000 }, (_, i) =>
    spawn(async () => {
      await sleep(0.02);
      woke.add(i);
    }),
  );
  await sleep(0); // all parked on their sleep
  assert.equal(activeTimers(), before + 1, 'one Node timer serves one delay');
  // kill the head, the tail and every third one in between
  const killed = gs.filter((_, i) => i === 0 || i === gs.length - 1 || i % 3 === 1);
  await Promise.all(killed.map((g) => g.kill()));
  await joinAll(gs);
  const expected = gs.map((_, i) => i).filter((i) => !(i === 0 || i === gs.length - 1 || i % 3 === 1));
  assert.deepEqual([...woke].sort((a, b) => a - b), expected);
  assert.equal(activeTimers(), before);
});

test('killing the last sleeper of a delay lets its Node timer go at once', async () => {
  const before = activeTimers();
  const g = spawn(() => sleep(3600));
  await sleep(0);
  assert.equal(activeTimers(), before + 1);
  await g.kill();
  // an hour-long timer left behind would keep the process alive
  assert.equal(activeTimers(), before);
});

test('timeouts of queue waits share the lists with sleeps and wake with their own outcome', async () => {
  const q = new Queue<number>();
  const results: string[] = [];
  const getter = async (): Promise<void> => {
    try {
      results.push(`got ${await q.get({ timeout: 0.02 })}`);
    } catch (e) {
      results.push(e instanceof Empty ? 'empty' : String(e));
    }
  };
  const gs = [
    spawn(getter),
    spawn(async () => {
      await sleep(0.02);
      results.push('slept');
    }),
    spawn(getter),
  ];
  await sleep(0);
  q.putNowait(7); // the first getter in line takes it; its timer must not fire later
  await joinAll(gs);
  assert.deepEqual(results, ['got 7', 'slept', 'empty']);
});

test('getCurrent() follows each greenlet through awaits of foreign promises', async () => {
  const seen: string[] = [];
  const body = async (tag: string, ms: number): Promise<void> => {
    await new Promise((r) => setTimeout(r, ms));
    seen.push(`${tag}=${getCurrent().name}`);
    await Promise.all([Promise.resolve(), new Promise((r) => setImmediate(r))]);
    seen.push(`${tag}=${getCurrent().name}`);
  };
  const a = spawn(body, 'a', 5);
  a.name = 'A';
  const b = spawn(body, 'b', 1);
  b.name = 'B';
  await joinAll([a, b]);
  assert.deepEqual(seen.sort(), ['a=A', 'a=A', 'b=B', 'b=B']);
  assert.equal(getCurrent().name, 'MainGreenlet');
});

test('the greenlet context is V8\'s slot where Node leaves it free (20, 22), AsyncLocalStorage where Node keeps its own there (24)', async () => {
  const { hubContext: context, native } = await import('../../src/internals.js');
  // The addon finds the slot's accessors in every supported Node (native/continuation.cc).
  assert.equal(typeof native.getContinuationData, 'function');
  assert.equal(typeof native.setContinuationData, 'function');
  const probe = {};
  const outer = native.setContinuationData!(probe); // returns the value it replaces
  assert.equal(native.getContinuationData!(), probe);
  assert.equal(native.setContinuationData!(outer), probe);
  const major = Number(process.versions.node.split('.')[0]);
  const nodeOwnsSlot = major >= 24 || process.execArgv.includes('--experimental-async-context-frame');
  if (nodeOwnsSlot) assert.notEqual(context.get, native.getContinuationData);
  else assert.equal(context.get, native.getContinuationData); // AsyncLocalStorage's hooks would slow every promise
});
