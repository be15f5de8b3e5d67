import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  DefaultSelector, EVENT_READ, EVENT_WRITE, EpollSelector, KeyError, OverflowError, PollSelector, RuntimeError,
  SelectSelector, SelectorKey, ValueError, socketpair, type BaseSelector,
} from 'weft/io';
import { backends, openFds, sleep } from './helpers.js';

let fdsBefore = 0;
before(() => {
  fdsBefore = openFds();
});
after(() => {
  assert.equal(openFds(), fdsBefore, 'the selectors suite leaked fds');
});

test('DefaultSelector is the epoll selector on Linux', () => {
  const sel = new DefaultSelector();
  assert.ok(sel instanceof EpollSelector);
  sel.close();
});

test('select() refuses what Python\'s selectors refuse: NaN, infinite and huge timeouts, each with CPython\'s message', () => {
  // Taken from python3.11 here: each selector rounds (or not) as CPython's does, then meets its system call's limits.
  const cases: [new () => BaseSelector<unknown>, number, typeof ValueError | typeof OverflowError, string][] = [
    [SelectSelector, 1e10, OverflowError, 'timestamp out of range for platform time_t'],
    [SelectSelector, Infinity, OverflowError, 'timestamp out of range for platform time_t'],
    [SelectSelector, NaN, ValueError, 'Invalid value NaN (not a number)'],
    [PollSelector, Infinity, OverflowError, 'cannot convert float infinity to integer'],
    [PollSelector, 3e6, OverflowError, 'timeout is too large'],
    [PollSelector, NaN, ValueError, 'cannot convert float NaN to integer'],
    [EpollSelector, 1e10, OverflowError, 'timestamp out of range for platform time_t'],
    [EpollSelector, Infinity, OverflowError, 'cannot convert float infinity to integer'],
    [EpollSelector, 3e6, OverflowError, 'timeout is too large'],
    [EpollSelector, NaN, ValueError, 'cannot convert float NaN to integer'],
  ];
  const [a, b] = socketpair();
  b.send(Buffer.from('x'));
  for (const [Selector, timeout, Err, message] of cases) {
    const sel = new Selector();
    sel.register(a, EVENT_READ);
    assert.throws(() => sel.select(timeout), (e: unknown) => e instanceof Err && (e as Error).message === message,
      `${Selector.name}.select(${timeout})`);
    // A negative timeout polls, as in Python; a large one that fits still returns at once when ready.
    assert.equal(sel.select(-1).length, 1);
    assert.equal(sel.select(2e5).length, 1);
    sel.close();
  }
  a.close();
  b.close();
});

for (const [name, Selector] of backends) {
  describe(`selectors: ${name}`, () => {
    const make = (): BaseSelector<unknown> => new Selector();

    test('register returns the key; getKey and getMap find it by object or fd', () => {
      const sel = make();
      const [a, b] = socketpair();
      try {
        const key = sel.register(a, EVENT_READ, 'data');
        assert.ok(key instanceof SelectorKey);
        assert.equal(key.fileobj, a);
        assert.equal(key.fd, a.fileno());
        assert.equal(key.events, EVENT_READ);
        assert.equal(key.data, 'data');
        assert.equal(sel.getKey(a), key);
        assert.equal(sel.getKey(a.fileno()), key);
        const map = sel.getMap()!;
        assert.equal(map.size, 1);
        assert.equal(map.get(a), key);
        assert.deepEqual([...map], [a.fileno()]);
        assert.throws(() => sel.getKey(b), (e: unknown) => e instanceof KeyError && /is not registered$/.test(e.message));
      } finally {
        sel.close();
        a.close();
        b.close();
      }
    });

    test("KeyError and ValueError cases as CPython's selectors", () => {
      const sel = make();
      const [a, b] = socketpair();
      try {
        sel.register(a, EVENT_READ);
        assert.throws(() => sel.register(a, EVENT_READ), (e: unknown) => e instanceof KeyError && e.message.endsWith(`(FD ${a.fileno()}) is already registered`));
        assert.throws(() => sel.register(b, 0), (e: unknown) => e instanceof ValueError && e.message === 'Invalid events: 0');
        assert.throws(() => sel.register(b, 4), (e: unknown) => e instanceof ValueError && e.message === 'Invalid events: 4');
        assert.throws(() => sel.register(-1, EVENT_READ), (e: unknown) => e instanceof ValueError && e.message === 'Invalid file descriptor: -1');
        assert.throws(() => sel.register({} as never, EVENT_READ), (e: unknown) => e instanceof ValueError && e.message.startsWith('Invalid file object'));
        assert.throws(() => sel.unregister(b), KeyError);
        assert.throws(() => sel.modify(b, EVENT_READ), KeyError);
        assert.equal(sel.getMap()!.size, 1, 'failed registrations leave nothing behind');
      } finally {
        sel.close();
        a.close();
        b.close();
      }
    });

    test('select reports reads and writes, masked by the registered events', () => {
      const sel = make();
      const [a, b] = socketpair();
      try {
        sel.register(a, EVENT_READ, 'a');
        sel.register(b, EVENT_WRITE, 'b');
        let ready = sel.select(0);
        assert.deepEqual(ready.map(([k, m]) => [k.data, m]), [['b', EVENT_WRITE]]);
        b.send(Buffer.from('x'));
        ready = sel.select(1);
        assert.deepEqual(ready.map(([k, m]) => [k.data, m]).sort(), [['a', EVENT_READ], ['b', EVENT_WRITE]]);
        sel.unregister(b);
        ready = sel.select(0);
        assert.deepEqual(ready.map(([k, m]) => [k.data, m]), [['a', EVENT_READ]]);
        a.recv(1);
        const t0 = performance.now();
        assert.deepEqual(sel.select(0.05), []);
        assert.ok(performance.now() - t0 >= 49);
      } finally {
        sel.close();
        a.close();
        b.close();
      }
    });

    test('modify changes events or just the data', () => {
      const sel = make();
      const [a, b] = socketpair();
      try {
        const k1 = sel.register(a, EVENT_READ, 1);
        const k2 = sel.modify(a, EVENT_READ, 2);
        assert.notEqual(k1, k2);
        assert.equal(k2.data, 2);
        assert.equal(sel.modify(a, EVENT_READ, 2), k2, 'nothing changed: same key');
        const k3 = sel.modify(a, EVENT_WRITE, 3);
        assert.equal(k3.events, EVENT_WRITE);
        assert.deepEqual(sel.select(0).map(([k, m]) => [k.data, m]), [[3, EVENT_WRITE]]);
        assert.equal(sel.getKey(a), k3);
      } finally {
        sel.close();
        a.close();
        b.close();
      }
    });

    test('a socket closed before unregister is still found by identity', () => {
      const sel = make();
      const [a, b] = socketpair();
      sel.register(a, EVENT_READ);
      a.close();
      const key = sel.unregister(a);
      assert.equal(key.fileobj, a);
      assert.equal(sel.getMap()!.size, 0);
      sel.close();
      b.close();
    });

    test("close(): getKey raises RuntimeError('Selector is closed'), getMap is null", () => {
      const sel = make();
      const [a, b] = socketpair();
      sel.register(a, EVENT_READ);
      sel.close();
      assert.equal(sel.getMap(), null);
      assert.throws(() => sel.getKey(a), (e: unknown) => e instanceof RuntimeError && e.message === 'Selector is closed');
      a.close();
      b.close();
    });

    test('selectAsync waits without blocking the event loop and returns the ready keys', async () => {
      const sel = make();
      const [a, b] = socketpair();
      try {
        sel.register(a, EVENT_READ, 'a');
        // Only a running event loop can fire the first timer, and the second one
        // (which makes `a` readable) fires after it: a blocking wait would time out instead.
        const order: string[] = [];
        setTimeout(() => order.push('timer'), 5);
        setTimeout(() => b.send(Buffer.from('x')), 40);
        const ready = await sel.selectAsync(5);
        order.push('ready');
        assert.deepEqual(ready.map(([k, m]) => [k.data, m]), [['a', EVENT_READ]]);
        assert.deepEqual(order, ['timer', 'ready']);
        a.recv(1);
        // Registrations made after the first wait are seen by the next one.
        const [c, d] = socketpair();
        sel.register(c, EVENT_READ, 'c');
        setTimeout(() => d.send(Buffer.from('y')), 20);
        assert.deepEqual((await sel.selectAsync(5)).map(([k]) => k.data), ['c']);
        sel.unregister(c);
        c.close();
        d.close();
      } finally {
        sel.close();
        a.close();
        b.close();
      }
    });

    test('selectAsync follows modify() and unregister() made between waits', async () => {
      const sel = make();
      const [a, b] = socketpair();
      try {
        sel.register(a, EVENT_READ, 'a');
        assert.deepEqual(await sel.selectAsync(0.02), []);
        sel.modify(a, EVENT_WRITE, 'a');
        assert.deepEqual((await sel.selectAsync(5)).map(([k, m]) => [k.data, m]), [['a', EVENT_WRITE]]);
        sel.unregister(a);
        sel.register(b, EVENT_READ, 'b');
        setTimeout(() => a.send(Buffer.from('z')), 20);
        assert.deepEqual((await sel.selectAsync(5)).map(([k, m]) => [k.data, m]), [['b', EVENT_READ]]);
      } finally {
        sel.close();
        a.close();
        b.close();
      }
    });

    test('between two selectAsync waits, a ready fd nobody waits on does not spin the event loop', async () => {
      // The wake-up stays armed between waits (re-arming it costs the kernel a
      // walk over every registered fd); readable with nobody waiting, it must
      // stop rather than call back on every turn of the loop.
      const sel = make();
      const [a, b] = socketpair();
      try {
        sel.register(a, EVENT_READ, 'a');
        setTimeout(() => b.send(Buffer.from('x')), 10);
        assert.deepEqual((await sel.selectAsync(5)).map(([k]) => k.data), ['a']);
        a.recv(1);
        // 200 ms of awaiting timers, in ms of CPU: first with nothing ready (what the loop costs here: a few ms,
        // a hundred under an emulator), then with `a` ready again and nobody waiting. A loop called back on
        // every turn would spend the whole 200 ms.
        const awaitTimers = async (): Promise<number> => {
          const cpu0 = process.cpuUsage();
          let turns = 0;
          const t0 = performance.now();
          while (performance.now() - t0 < 200) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            turns++;
          }
          assert.ok(turns >= 5, `the loop turned ${turns} times in 200 ms`);
          const { user, system } = process.cpuUsage(cpu0);
          return (user + system) / 1000;
        };
        const idle = await awaitTimers();
        b.send(Buffer.from('y')); // ready again, and nobody waits
        const ready = await awaitTimers();
        assert.ok(ready < idle + 60, `${ready.toFixed(0)} ms of CPU in 200 ms of awaiting timers with an fd ready, ${idle.toFixed(0)} ms with none`);
        // ... and the next wait still sees the fd ready.
        assert.deepEqual((await sel.selectAsync(5)).map(([k]) => k.data), ['a']);
      } finally {
        sel.close();
        a.close();
        b.close();
      }
    });

    test('a selector left open after selectAsync returned does not keep the process alive', () => {
      const script = `
        import { ${Selector.name}, EVENT_READ, socketpair } from 'weft/io';
        const sel = new ${Selector.name}();
        const [a, b] = socketpair();
        sel.register(a, EVENT_READ);
        setTimeout(() => b.send(Buffer.from('x')), 10);
        const ready = await sel.selectAsync(5);
        await sel.selectAsync(0.01); // ready again: returns without a wait
        process.stdout.write(String(ready.length));
      `;
      const t0 = performance.now();
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '1');
      assert.ok(performance.now() - t0 < 10_000, 'the child outlived its last await');
    });

    test('selectAsync times out with an empty list; a second concurrent wait is refused; close ends a wait', async () => {
      const sel = make();
      const [a, b] = socketpair();
      try {
        sel.register(a, EVENT_READ);
        const t0 = performance.now();
        assert.deepEqual(await sel.selectAsync(0.05), []);
        assert.ok(performance.now() - t0 >= 45);
        const first = sel.selectAsync(5);
        await assert.rejects(sel.selectAsync(5), RuntimeError);
        await sleep(10);
        sel.close();
        assert.deepEqual(await first, []);
      } finally {
        sel.close();
        a.close();
        b.close();
      }
    });
  });
}
