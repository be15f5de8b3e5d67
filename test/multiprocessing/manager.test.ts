/**
 * Manager: shared dict, list and friends over a local server, in both contexts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  EOFError, KeyError, ValueError, Process, IndexError, Manager, type DictProxy, type ListProxy, Queue,
} from 'weft';
import { runProgram } from '../helpers/run.js';
import { appendFromQueue, appendNested, casMany, incrMany, recordPid, waitThenRecord } from './fixtures/manager-tasks.js';

const dirs = new Set<string>();
after(() => {
  for (const dir of dirs) assert.equal(existsSync(dir), false, `socket directory ${dir} was left behind`);
  // Socket directories are named after the process that made them: none of ours may remain.
  const mine = readdirSync(tmpdir()).filter((name) => name.startsWith(`weft-manager-${process.pid}-`));
  assert.deepEqual(mine, [], 'socket directories left in the temp dir');
});

async function started(context: 'process' | 'thread' = 'process'): Promise<Manager> {
  const m = await Manager.start({ context });
  dirs.add(dirname(m.address));
  return m;
}

for (const context of ['process', 'thread'] as const) {
  describe(`Manager (${context})`, () => {
    test('the seed: ten processes share a dict and a list', async () => {
      await using m = await started(context);
      const d = await m.dict<number, number>();
      const l = await m.list<number>();
      const ps = Array.from({ length: 10 }, () => new Process({ target: recordPid, args: [d, l], context }));
      for (const p of ps) p.start();
      for (const p of ps) await p.join();
      assert.deepEqual(ps.map((p) => p.exitCode), Array(10).fill(0));
      const pids = ps.map((p) => p.pid!).sort((a, b) => a - b);
      assert.deepEqual([...(await l.toArray())].sort((a, b) => a - b), pids);
      const map = await d.toMap();
      assert.equal(map.size, 10);
      for (const pid of pids) assert.equal(map.get(pid), pid);
    });

    test('incr and compareAndSet from two children give exact counts', async () => {
      await using m = await started(context);
      const d = await m.dict<string, number>();
      const ps = [
        new Process({ target: incrMany, args: [d, 'n', 2000], context }),
        new Process({ target: incrMany, args: [d, 'n', 2000], context }),
        new Process({ target: casMany, args: [d, 'c', 200], context }),
        new Process({ target: casMany, args: [d, 'c', 200], context }),
      ];
      for (const p of ps) p.start();
      for (const p of ps) await p.join();
      assert.equal(await d.get('n'), 4000);
      assert.equal(await d.get('c'), 400);
    });

    test('a dict of lists: proxies inside managed objects work in children', async () => {
      await using m = await started(context);
      const d = await m.dict<string, ListProxy<string>>();
      await d.set('a', await m.list<string>());
      await d.set('b', await m.list<string>(['x']));
      const ps = ['a', 'b', 'a'].map((k, i) => new Process({ target: appendNested, args: [d, k, `v${i}`], context }));
      for (const p of ps) p.start();
      for (const p of ps) await p.join();
      assert.deepEqual((await (await d.get('a'))!.toArray()).sort(), ['v0', 'v2']);
      assert.deepEqual(await (await d.get('b'))!.toArray(), ['x', 'v1']);
    });
  });
}

describe('Manager (dict, list and values)', () => {
  let m: Manager;
  test('start', async () => {
    m = await started();
    const dir = dirname(m.address);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(typeof m.pid, 'number');
  });

  test('dict operations follow Python', async () => {
    const d = await m.dict<string | number, unknown>({ a: 1 });
    await d.set('b', 2);
    await d.set(3, 'three');
    assert.equal(await d.get('a'), 1);
    assert.equal(await d.get('zz'), undefined);
    assert.equal(await d.get('zz', 'dflt'), 'dflt');
    assert.equal(await d.getItem(3), 'three');
    await assert.rejects(d.getItem('zz'), KeyError);
    assert.equal(await d.has('b'), true);
    assert.deepEqual(await d.keys(), ['a', 'b', 3]);
    assert.deepEqual(await d.values(), [1, 2, 'three']);
    assert.deepEqual(await d.items(), [['a', 1], ['b', 2], [3, 'three']]);
    assert.equal(await d.len(), 3);
    await d.update({ c: 4 });
    await d.update(new Map([['d', 5]]));
    await d.update([['e', 6]]);
    assert.equal(await d.pop('e'), 6);
    assert.equal(await d.pop('e', null), null);
    await assert.rejects(d.pop('e'), KeyError);
    assert.deepEqual(await d.popitem(), ['d', 5]);
    assert.equal(await d.setdefault('f', 7), 7);
    assert.equal(await d.setdefault('f', 8), 7);
    await d.delete('f');
    await assert.rejects(d.delete('f'), KeyError);
    assert.deepEqual(await d.toObject(), { a: 1, b: 2, 3: 'three', c: 4 });
    const copy = await d.copy();
    assert.ok(copy instanceof Map);
    assert.equal(copy.get(3), 'three');
    const keys: unknown[] = [];
    for await (const k of d) keys.push(k);
    assert.deepEqual(keys, ['a', 'b', 3, 'c']);
    await assert.rejects(d.set({} as unknown as string, 1), /unhashable type/);
    await d.clear();
    assert.equal(await d.len(), 0);
    await assert.rejects(d.popitem(), KeyError);
  });

  test('dict values keep structured-clone types', async () => {
    const d = await m.dict<string, unknown>();
    const value = { when: new Date(0), set: new Set([1]), map: new Map([[1, 'a']]), big: 10n, buf: Buffer.from('hi'), err: new RangeError('x') };
    await d.set('v', value);
    const back = (await d.get('v')) as typeof value;
    assert.deepEqual(back.when, new Date(0));
    assert.deepEqual(back.set, new Set([1]));
    assert.deepEqual(back.map, new Map([[1, 'a']]));
    assert.equal(back.big, 10n);
    assert.equal(Buffer.from(back.buf).toString(), 'hi');
    assert.equal(back.err.name, 'RangeError');
    await assert.rejects(d.set('f', (() => 1) as unknown), /cannot send a function/);
  });

  test('atomic incr and compareAndSet', async () => {
    const d = await m.dict<string, number>();
    assert.equal(await d.incr('n'), 1);
    assert.equal(await d.incr('n', 5), 6);
    assert.equal(await d.compareAndSet('n', 5, 0), false);
    assert.equal(await d.compareAndSet('n', 6, 0), true);
    assert.equal(await d.compareAndSet('new', undefined, 1), true);
    assert.equal(await d.get('n'), 0);
    await d.set('s', 'text' as unknown as number);
    await assert.rejects(d.incr('s'), TypeError);
  });

  test('list operations follow Python', async () => {
    const l = await m.list<number>([3, 1, 2]);
    assert.equal(await l.get(0), 3);
    assert.equal(await l.get(-1), 2);
    await assert.rejects(l.get(3), IndexError);
    await l.set(-1, 20);
    await l.append(5);
    assert.equal(await l.appendMany([6, 7]), 6);
    await l.extend([8]);
    await l.insert(0, 0);
    assert.deepEqual(await l.toArray(), [0, 3, 1, 20, 5, 6, 7, 8]);
    assert.equal(await l.pop(), 8);
    assert.equal(await l.pop(0), 0);
    await l.remove(20);
    await assert.rejects(l.remove(99), ValueError);
    assert.equal(await l.index(5), 2);
    await assert.rejects(l.index(99), ValueError);
    await l.append(5);
    assert.equal(await l.count(5), 2);
    await l.sort();
    assert.deepEqual(await l.toArray(), [1, 3, 5, 5, 6, 7]);
    await l.sort({ reverse: true });
    await l.reverse();
    assert.deepEqual(await l.slice(1, -1), [3, 5, 5, 6]);
    assert.equal(await l.len(), 6);
    const items: number[] = [];
    for await (const x of l) items.push(x);
    assert.deepEqual(items, [1, 3, 5, 5, 6, 7]);
    await l.delete(0);
    assert.equal(await l.incr(0, 10), 13);
    await l.clear();
    await assert.rejects(l.pop(), IndexError);
    const mixed = await m.list<unknown>([1, 'a']);
    await assert.rejects(mixed.sort(), TypeError);
  });

  test('Namespace, Value and Array', async () => {
    const ns = await m.Namespace({ x: 1 });
    await ns.set('y', 2);
    assert.equal(await ns.get('x'), 1);
    assert.equal(await ns.incr('x'), 2);
    assert.deepEqual(await ns.toObject(), { x: 2, y: 2 });
    await ns.delete('y');
    await assert.rejects(ns.delete('y'), KeyError);
    const v = await m.Value('i', 5);
    assert.equal(await v.get(), 5);
    await v.set(7);
    assert.equal(await v.incr(3), 10);
    await assert.rejects(v.set(1.5), TypeError);
    await assert.rejects(v.set(2 ** 40), RangeError);
    const a = await m.Array('d', 3);
    await a.set(1, 2.5);
    assert.deepEqual(await a.toArray(), [0, 2.5, 0]);
    await assert.rejects(a.get(3), IndexError);
    assert.equal(await a.len(), 3);
  });

  test('pipelined calls run in order with distinct answers', async () => {
    const l = await m.list<number>();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 5000; i++) calls.push(l.append(i));
    const lens = await Promise.all(Array.from({ length: 100 }, () => l.len()));
    await Promise.all(calls);
    assert.ok(lens.every((n) => n === 5000), 'len() calls queued after 5000 appends see all of them');
    assert.deepEqual(await l.toArray(), Array.from({ length: 5000 }, (_, i) => i));
    const d = await m.dict<number, number>();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) writes.push(d.set(i % 10, i));
    const gets = await Promise.all(Array.from({ length: 10 }, (_, k) => d.get(k)));
    await Promise.all(writes);
    assert.deepEqual(gets, Array.from({ length: 10 }, (_, k) => 990 + k));
  });

  test('answers longer than a chunk of the ring arrive whole, one at a time and several in flight', async () => {
    // 300 kB, past the ring's capacity (256 KiB): each answer comes in chunks, the
    // client's reader waiting for the rest of a message it began.
    const big = (k: number) => String.fromCharCode(97 + k).repeat(300_000);
    const d = await m.dict<number, string>();
    for (let k = 0; k < 4; k++) await d.set(k, big(k));
    for (let k = 0; k < 4; k++) assert.equal(await d.get(k), big(k));
    const all = await Promise.all([0, 1, 2, 3, 0, 1, 2, 3].map((k) => d.get(k)));
    assert.deepEqual(all, [0, 1, 2, 3, 0, 1, 2, 3].map(big));
    assert.equal(await d.len(), 4, 'small answers follow the long ones');
  });

  test('a garbage-collected proxy releases its object on the server', async () => {
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Let proxies dropped by earlier tests be collected and released first,
    // so that none of them is freed while this test counts.
    let settled = -1;
    for (let i = 0; i < 20 && (await m.stats()).objects !== settled; i++) {
      settled = (await m.stats()).objects;
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    const before = (await m.stats()).objects;
    let held: unknown[] | null = [];
    for (let i = 0; i < 20; i++) held.push(await m.dict());
    // Twenty made; a proxy of an earlier test collected late may have freed its object meanwhile (other test
    // files run beside this one and keep the machine busy), so the count can be short of that, never over.
    const during = (await m.stats()).objects;
    assert.ok(during <= before + 20 && during >= before + 15, `${during - before} objects made for 20 proxies`);
    assert.equal(held.length, 20);
    held = null;
    for (let i = 0; i < 50 && (await m.stats()).objects > during - 20; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    // Objects of earlier tests whose proxies are gone may be freed too.
    assert.ok((await m.stats()).objects <= during - 20, 'the 20 collected proxies released their objects');
  });

  test('shutdown: pending and later calls reject, the directory is gone', async () => {
    const q = await m.Queue<number>();
    const pending = assert.rejects(q.get(), EOFError);
    const d = await m.dict();
    const dir = dirname(m.address);
    await m.shutdown();
    await pending;
    await assert.rejects(d.get('x'), /cannot reach the manager .*shut down or died/);
    assert.equal(existsSync(dir), false);
    await m.shutdown(); // idempotent
  });
});

describe('Manager calls and the life of a process', () => {
  // A call being answered must keep its process alive, however long the
  // answer takes; a proxy with no call in flight must not (a child with an
  // idle proxy exits when its work is done). A call answered at once, within
  // the spin after its write, never refs the connection at all.
  for (const context of ['process', 'thread'] as const) {
    test(`a child whose only work is a pending call stays until it is answered, then exits (${context})`, async () => {
      await using m = await started();
      const ev = await m.Event();
      const d = await m.dict<string, boolean>();
      const p = new Process({ target: waitThenRecord, args: [ev, d], context });
      p.start();
      for (let i = 0; i < 300 && !(await d.get('waiting', false)); i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(p.isAlive(), true, 'the child waiting on ev.wait() is still running');
      await ev.set();
      await p.join(10);
      assert.equal(p.exitCode, 0);
      assert.equal(await d.get('woke', false), true);
    });
  }
});

describe('Manager proxies in messages', () => {
  test('a proxy travels inside a weft Queue message to a child', async () => {
    await using m = await started();
    const l = await m.list<string>();
    const q = new Queue<{ list: ListProxy<string> }>();
    const p = new Process({ target: appendFromQueue, args: [q] });
    p.start();
    await q.put({ list: l });
    await p.join();
    assert.equal(p.exitCode, 0);
    assert.deepEqual(await l.toArray(), ['from queue']);
  });
});

describe('Manager errors', () => {
  test('a proxy of a dead object says so', async () => {
    await using m = await started();
    const d = await m.dict<string, DictProxy>();
    await d.set('x', await m.dict());
    await assert.rejects(m.create('NoSuchType'), /knows no type 'NoSuchType'/);
    await assert.rejects(d.callMethod('constructor'), /no exposed method 'constructor'/);
    await assert.rejects(d.callMethod('__proto__'), /no exposed method/);
  });

  test('Manager.register refuses what the server could not load', () => {
    assert.throws(() => Manager.register('Thing', () => ({})), /was not declared with task\(\)/);
    assert.throws(() => Manager.register('dict', () => ({})), /built-in manager type/);
  });
});

describe('naps for answers due at once (futex.ts, Word.nap)', () => {
  test('pinned to one CPU, a client naps for answers the server gives at once, and stops napping for a call that waits', async (t) => {
    if (spawnSync('taskset', ['-c', '0', 'true']).status !== 0) return t.skip('taskset (util-linux) is missing');
    const weft = new URL('../../src/index.js', import.meta.url).href;
    // 300 awaited sets are answered at once; 12 gets of an empty queue wait
    // 20 ms each on the server, so each nap for them runs out. Without a
    // stop, every get would hold the event loop for a nap's whole time-out.
    const script = `
      import { Empty, Manager } from ${JSON.stringify(weft)};
      const manager = await Manager.start();
      const d = await manager.dict();
      const q = await manager.Queue();
      for (let i = 0; i < 300; i++) await d.set(i, i);
      let empty = 0;
      for (let i = 0; i < 12; i++) await q.get({ timeout: 0.02 }).catch((e) => { if (e instanceof Empty) empty++; else throw e; });
      const n = await d.len();
      await manager.shutdown();
      console.log(JSON.stringify({ pid: process.pid, n, empty }));`;
    const run = await runProgram('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', script], { env: { WEFT_DEBUG: 'spin' } });
    assert.equal(run.code, 0, run.stderr);
    const { pid, n, empty } = JSON.parse(run.stdout) as { pid: number; n: number; empty: number };
    assert.deepEqual({ n, empty }, { n: 300, empty: 12 });
    const mine = run.stderr.split('\n').find((l) => new RegExp(` weft:spin ${pid} over `).test(l));
    const naps = mine && /; (\d+) naps \((\d+) answered\)/.exec(mine);
    assert.ok(naps, run.stderr);
    const [taken, answered] = [Number(naps[1]), Number(naps[2])];
    // A set the server answered before its client looked needed no nap, and on a loaded machine sets
    // answered only after 1 ms stop their naps for a while: a few answered naps show they run.
    assert.ok(answered >= 10, `${answered} of 300 sets answered in a nap (${mine})`);
    // two misses stop the gets' naps, and a probe follows at the 8th get after (12 without the stop)
    assert.ok(taken - answered >= 2 && taken - answered <= 6, `${taken - answered} naps ran out (${mine})`);
  });
});
