import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EPOLLET, EPOLLIN, EPOLLOUT, EPOLLRDHUP, FileExistsError, FileNotFoundError, KeyError, OSError, OverflowError, POLLHUP, POLLIN,
  POLLNVAL, POLLOUT, ValueError, type FileLike, epoll, poll, select, socketpair,
} from 'weft/io';
import { openFds } from './helpers.js';

let fdsBefore = 0;
before(() => {
  fdsBefore = openFds();
});
after(() => {
  assert.equal(openFds(), fdsBefore, 'the select suite leaked fds');
});

describe('select.select', () => {
  test('returns the ready objects of each list, in order, the same objects', () => {
    const [a, b] = socketpair();
    const [c, d] = socketpair();
    try {
      const [r, w, x] = select([a, c], [a, b], [a], 0);
      assert.deepEqual(r, []);
      assert.equal(w.length, 2);
      assert.equal(w[0], a);
      assert.deepEqual(x, []);
      d.send(Buffer.from('x'));
      const mixed: FileLike[] = [a, c.fileno(), { fileno: () => c.fileno() }];
      const [r2] = select(mixed, [], [], 1);
      assert.equal(r2.length, 2);
      assert.equal(r2[0], c.fileno());
    } finally {
      [a, b, c, d].forEach((s) => s.close());
    }
  });

  test('times out after about the timeout with three empty lists', () => {
    const [a, b] = socketpair();
    const t0 = performance.now();
    const result = select([a], [], [], 0.05);
    const ms = performance.now() - t0;
    assert.deepEqual(result, [[], [], []]);
    assert.ok(ms >= 49 && ms < 2000, `waited ${ms} ms`);
    a.close();
    b.close();
  });

  test("an fd >= 1024 raises ValueError('filedescriptor out of range in select()') before any call", () => {
    const [a, b] = socketpair();
    const high = { fileno: () => 1500 };
    // Had select(2) run, `a` would not matter and EBADF might be raised; the check comes first.
    assert.throws(() => select([a], [], [high], 0), (e: unknown) => e instanceof ValueError && e.message === 'filedescriptor out of range in select()');
    assert.throws(() => select([1024], [], [], 0), ValueError);
    a.close();
    b.close();
  });

  test('negative fds, bad objects, negative timeouts, closed fds', () => {
    assert.throws(() => select([-1], [], [], 0), (e: unknown) => e instanceof ValueError && e.message === 'file descriptor cannot be a negative integer (-1)');
    assert.throws(() => select([{} as never], [], [], 0), TypeError);
    assert.throws(() => select([], [], [], -1), (e: unknown) => e instanceof ValueError && e.message === 'timeout must be non-negative');
    const [a, b] = socketpair();
    const fd = a.fileno();
    a.close();
    assert.throws(() => select([fd], [], [], 0), (e: unknown) => e instanceof OSError && e.errno === 9);
    b.close();
  });
});

describe('select.poll', () => {
  test('register, poll, modify, unregister', () => {
    const [a, b] = socketpair();
    try {
      const p = poll();
      p.register(a, POLLIN);
      assert.deepEqual(p.poll(0), []);
      b.send(Buffer.from('x'));
      assert.deepEqual(p.poll(1000), [[a.fileno(), POLLIN]]);
      p.modify(a, POLLOUT);
      assert.deepEqual(p.poll(0), [[a.fileno(), POLLOUT]]);
      p.register(b); // default POLLIN | POLLPRI | POLLOUT
      assert.equal(p.poll(0).length, 2);
      p.unregister(b);
      assert.equal(p.poll(0).length, 1);
      assert.throws(() => p.unregister(b), KeyError);
      assert.throws(() => p.modify(b, POLLIN), (e: unknown) => e instanceof FileNotFoundError && e.errno === 2);
      b.close();
      p.modify(a, POLLIN);
      const [[fd, ev]] = p.poll(0) as [[number, number]];
      assert.equal(fd, a.fileno());
      assert.ok(ev & POLLIN && ev & POLLHUP, `events ${ev}`);
      const stale = a.fileno();
      a.close();
      p.register(stale, POLLIN);
      p.unregister(a.fileno() === -1 ? stale : a);
      p.register(stale, POLLIN);
      assert.deepEqual(p.poll(0), [[stale, POLLNVAL]]);
    } finally {
      a.close();
      b.close();
    }
  });

  test('poll(timeout) is in milliseconds', () => {
    const [a, b] = socketpair();
    const p = poll();
    p.register(a, POLLIN);
    const t0 = performance.now();
    assert.deepEqual(p.poll(30), []);
    const ms = performance.now() - t0;
    assert.ok(ms >= 29 && ms < 2000, `waited ${ms} ms`);
    a.close();
    b.close();
  });
});

describe('select.epoll', () => {
  test('register, poll, modify, unregister; level- and edge-triggered', () => {
    const ep = new epoll();
    const [a, b] = socketpair();
    try {
      ep.register(a, EPOLLIN);
      assert.deepEqual(ep.poll(0), []);
      b.send(Buffer.from('xy'));
      assert.deepEqual(ep.poll(1), [[a.fileno(), EPOLLIN]]);
      assert.deepEqual(ep.poll(0), [[a.fileno(), EPOLLIN]], 'level-triggered: still readable');
      ep.modify(a, EPOLLIN | EPOLLET);
      assert.equal(ep.poll(0).length, 1);
      assert.deepEqual(ep.poll(0), [], 'edge-triggered: reported once');
      ep.modify(a, EPOLLOUT);
      assert.deepEqual(ep.poll(0, 1), [[a.fileno(), EPOLLOUT]]);
      ep.unregister(a);
      assert.deepEqual(ep.poll(0), []);
      ep.register(a, EPOLLIN | EPOLLRDHUP);
      b.close();
      const [[, ev]] = ep.poll(1) as [[number, number]];
      assert.ok(ev & EPOLLRDHUP);
    } finally {
      ep.close();
      a.close();
      b.close();
    }
  });

  test('FileExistsError, FileNotFoundError and closed-object ValueError as Python', () => {
    const ep = new epoll();
    const [a, b] = socketpair();
    ep.register(a, EPOLLIN);
    assert.throws(() => ep.register(a, EPOLLIN), (e: unknown) => e instanceof FileExistsError && e.message === '[Errno 17] File exists');
    assert.throws(() => ep.modify(b, EPOLLIN), (e: unknown) => e instanceof FileNotFoundError && e.errno === 2);
    assert.throws(() => ep.unregister(b), FileNotFoundError);
    assert.throws(() => ep.poll(0, 0), ValueError);
    assert.equal(ep.closed, false);
    ep.close();
    ep.close();
    assert.equal(ep.closed, true);
    for (const call of [() => ep.register(b), () => ep.poll(0), () => ep.fileno(), () => ep.unregister(a)]) {
      assert.throws(call, (e: unknown) => e instanceof ValueError && e.message === 'I/O operation on closed epoll object');
    }
    assert.throws(() => new epoll(0), ValueError);
    a.close();
    b.close();
  });

  test('fromFd adopts an epoll fd', () => {
    const ep = new epoll();
    const fd = ep.fileno();
    const ep2 = epoll.fromFd(fd);
    const [a, b] = socketpair();
    ep2.register(a, EPOLLOUT);
    assert.deepEqual(ep.poll(0), [[a.fileno(), EPOLLOUT]]);
    ep2.close();
    assert.throws(() => ep.poll(0), (e: unknown) => e instanceof OSError && e.errno === 9);
    ep.close(); // the fd number is free again: nothing was opened since
    a.close();
    b.close();
  });
});

describe("argument errors: Python's classes and messages (CPython 3.11)", () => {
  const raises = (fn: () => unknown, cls: new (...a: never[]) => Error, message: string): void =>
    assert.throws(fn, (e: unknown) => e instanceof cls && e.message === message, `expected ${cls.name}('${message}')`);

  test('select() checks every argument before waiting, whatever the lists hold', () => {
    const [a, b] = socketpair();
    try {
      const t0 = performance.now();
      raises(() => select(1 as never, 2 as never, 3 as never), TypeError, 'arguments 1-3 must be sequences');
      raises(() => select([a], [], [], 'a' as never), TypeError, 'timeout must be a float or None');
      raises(() => select([a], [], [], Infinity), OverflowError, 'timestamp out of range for platform time_t');
      raises(() => select([a], [], [], 1e10), OverflowError, 'timestamp out of range for platform time_t');
      raises(() => select([a], [], [], 2 ** 64), OverflowError, 'timestamp too large to convert to C _PyTime_t');
      raises(() => select([a], [], [], -1), ValueError, 'timeout must be non-negative');
      raises(() => select([a], [], [], NaN), ValueError, 'Invalid value NaN (not a number)');
      assert.ok(performance.now() - t0 < 500, 'an argument error came only after a wait');
    } finally {
      a.close();
      b.close();
    }
  });

  test('poll: masks and timeouts outside what poll(2) takes are refused, negative waits forever', () => {
    const [a, b] = socketpair();
    try {
      const p = poll();
      raises(() => p.register(a, -1), ValueError, 'value must be positive');
      raises(() => p.register(a, 2 ** 16), OverflowError, 'Python int too large for C unsigned short');
      raises(() => p.register(a, 1.5), TypeError, 'an integer is required');
      p.register(a, POLLOUT);
      raises(() => p.modify(a, 2 ** 16), OverflowError, 'Python int too large for C unsigned short');
      raises(() => p.poll('x' as never), TypeError, 'timeout must be an integer or None');
      raises(() => p.poll(1e15), OverflowError, 'timestamp out of range for platform time_t');
      raises(() => p.poll(2 ** 31), OverflowError, 'timeout is too large');
      raises(() => p.poll(2 ** 64), OverflowError, 'timestamp too large to convert to C _PyTime_t');
      raises(() => p.poll(NaN), ValueError, 'Invalid value NaN (not a number)');
      assert.deepEqual(p.poll(-5), [[a.fileno(), POLLOUT]]); // ready: a negative timeout is "forever", not an error
    } finally {
      a.close();
      b.close();
    }
  });

  test('epoll: the constructor takes two integers and known flags; poll timeouts as CPython', () => {
    const make = (...args: unknown[]): epoll => new (epoll as unknown as new (...a: unknown[]) => epoll)(...args);
    raises(() => make(1, 2, 3), TypeError, 'epoll() takes at most 2 arguments (3 given)');
    assert.throws(() => make('foo'), TypeError);
    raises(() => make(-1, 123), OSError, 'invalid flags');
    raises(() => make(0), ValueError, 'negative sizehint');
    make(-1, 0).close();
    using ep = new epoll();
    raises(() => ep.poll(2 ** 31 / 1000), OverflowError, 'timeout is too large');
    raises(() => ep.poll('x' as never), TypeError, 'timeout must be an integer or None');
    raises(() => ep.poll(Infinity), OverflowError, 'timestamp out of range for platform time_t');
    raises(() => ep.poll(0, 2 ** 31), OverflowError, 'Python int too large to convert to C int');
  });

  test('epoll.poll returns every ready fd, past 4,096', () => {
    const pairs = Array.from({ length: 4200 }, () => socketpair());
    try {
      using ep = new epoll();
      for (const [a] of pairs) ep.register(a, EPOLLOUT);
      assert.equal(ep.poll(0, 5000).length, 4200);
    } finally {
      for (const [a, b] of pairs) {
        a.close();
        b.close();
      }
    }
  });
});
