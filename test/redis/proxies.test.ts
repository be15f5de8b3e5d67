/**
 * weft/redis dict, list, Namespace and Value: the Manager proxies' methods,
 * and their atomic extras holding under concurrent callers on two connections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IndexError, KeyError, ValueError, connect, type Cluster } from 'weft/redis';
import { RedisServer } from './server.js';

let server: RedisServer;
let cluster: Cluster;
let other: Cluster;
before(async () => {
  server = await RedisServer.start();
  cluster = await connect(server.url);
  other = await connect(server.url);
});
after(async () => {
  await cluster.close();
  await other.close();
  await server.stop();
});

describe('dict', () => {
  test("Python's dict methods, keys keeping their types and insertion order", async () => {
    const d = await cluster.dict<string | number | boolean | bigint | null, unknown>('d1');
    await d.set('a', 1);
    await d.set(2, new Map([['x', new Date(3)]]));
    await d.set(true, 'yes');
    await d.set(5n, null);
    await d.set(null, [1, 2]);
    await d.set('a', 'again'); // keeps its place
    assert.deepEqual(await d.keys(), ['a', 2, true, 5n, null]);
    assert.equal(await d.get('a'), 'again');
    assert.deepEqual(await d.get(2), new Map([['x', new Date(3)]]));
    assert.equal(await d.get('missing'), undefined);
    assert.equal(await d.get('missing', 7), 7);
    await assert.rejects(d.getItem('missing'), KeyError);
    assert.equal(await d.has(true), true);
    assert.equal(await d.has(false), false);
    assert.equal(await d.len(), 5);
    assert.deepEqual(await d.popitem(), [null, [1, 2]]);
    assert.equal(await d.pop(5n), null);
    assert.equal(await d.pop('gone', 'dflt'), 'dflt');
    await assert.rejects(d.pop('gone'), KeyError);
    await d.delete(true);
    await assert.rejects(d.delete(true), KeyError);
    assert.equal(await d.setdefault('b', 2), 2);
    assert.equal(await d.setdefault('b', 3), 2);
    await d.update({ c: 3 });
    await d.update(new Map([['e', 5]]));
    assert.deepEqual(await d.toObject(), { a: 'again', 2: new Map([['x', new Date(3)]]), b: 2, c: 3, e: 5 });
    const seen = [];
    for await (const k of d) seen.push(k);
    assert.deepEqual(seen, ['a', 2, 'b', 'c', 'e']);
    assert.deepEqual([...(await d.copy()).keys()], seen);
    await d.clear();
    assert.equal(await d.len(), 0);
    await assert.rejects(d.popitem(), KeyError);
  });

  test('incr from two connections, 400 calls in flight: no update is lost', async () => {
    const a = await cluster.dict<string, number>('counts');
    const b = await other.dict<string, number>('counts');
    await Promise.all([...Array(200)].flatMap(() => [a.incr('n'), b.incr('n', 2)]));
    assert.equal(await a.get('n'), 600);
    assert.equal(await a.incr('f', 0.1), 0.1);
    assert.equal(await a.incr('f', 0.2), 0.1 + 0.2, 'doubles keep every bit');
    await a.set('s', 'text' as unknown as number);
    await assert.rejects(a.incr('s'), (e: Error) => e instanceof TypeError && /not one/.test(e.message));
    await assert.rejects(a.incr('n', 1n), TypeError);
  });

  test('compareAndSet: only one of many concurrent updates from the same value wins', async () => {
    const d = await cluster.dict<string, unknown>('cas');
    assert.equal(await d.compareAndSet('k', undefined, { v: 0 }), true, 'missing is undefined');
    const wins = await Promise.all([...Array(20)].map((_, i) => d.compareAndSet('k', { v: 0 }, { v: i + 1 })));
    assert.equal(wins.filter(Boolean).length, 1);
    await d.set('n', 0.30000000000000004);
    await d.incr('m', 0.1);
    assert.equal(await d.compareAndSet('m', 0.1, 'numbers by value'), true);
  });
});

describe('list', () => {
  test("Python's list methods with negative indices", async () => {
    const l = await cluster.list<number>('l1');
    await l.append(3);
    assert.equal(await l.appendMany([1, 2]), 3);
    await l.extend([5]);
    await l.insert(0, 0);
    await l.insert(-1, 4);
    await l.insert(99, 9);
    assert.deepEqual(await l.toArray(), [0, 3, 1, 2, 4, 5, 9]);
    assert.equal(await l.get(-1), 9);
    await assert.rejects(l.get(7), IndexError);
    await l.set(-1, 6);
    await assert.rejects(l.set(70, 1), IndexError);
    assert.equal(await l.pop(), 6);
    assert.equal(await l.pop(0), 0);
    await l.delete(1);
    assert.deepEqual(await l.toArray(), [3, 2, 4, 5]);
    await assert.rejects(l.delete(10), IndexError);
    assert.equal(await l.index(4), 2);
    await assert.rejects(l.index(4, 3), ValueError);
    assert.equal(await l.count(3), 1);
    await l.remove(3);
    await assert.rejects(l.remove(3), ValueError);
    await l.appendMany([10, 1]);
    await l.sort();
    assert.deepEqual(await l.toArray(), [1, 2, 4, 5, 10]);
    await l.sort({ reverse: true });
    assert.deepEqual(await l.slice(1, -1), [5, 4, 2]);
    await l.reverse();
    assert.deepEqual(await l.slice(-2), [5, 10]);
    assert.equal(await l.len(), 5);
    assert.equal(await l.incr(0, 5), 6);
    assert.equal(await l.compareAndSet(0, 6, 7), true);
    assert.equal(await l.compareAndSet(0, 6, 8), false);
    await l.clear();
    assert.deepEqual(await l.toArray(), []);
  });

  test('appendMany is atomic: batches from two connections never interleave', async () => {
    const a = await cluster.list<string>('batches');
    const b = await other.list<string>('batches');
    const batch = (tag: string) => Array.from({ length: 50 }, () => tag);
    await Promise.all([...Array(10)].flatMap(() => [a.appendMany(batch('a')), b.appendMany(batch('b'))]));
    const all = await a.toArray();
    assert.equal(all.length, 1000);
    for (let i = 0; i < all.length; i += 50) assert.equal(new Set(all.slice(i, i + 50)).size, 1, `batch at ${i} interleaved`);
  });
});

describe('Namespace and Value', () => {
  test('Namespace: attributes by name, atomic incr', async () => {
    const ns = await cluster.Namespace('ns');
    await ns.set('x', 1);
    await Promise.all([...Array(50)].map(() => ns.incr('x')));
    assert.equal(await ns.get('x'), 51);
    assert.equal(await ns.get('nothing'), undefined);
    assert.equal(await ns.has('x'), true);
    await ns.delete('x');
    await assert.rejects(ns.delete('x'), KeyError);
    await ns.set('y', [1]);
    assert.equal(await ns.compareAndSet('y', [1], [2]), true);
    assert.deepEqual(await ns.toObject(), { y: [2] });
  });

  test('Value: the initial value only when new; incr and compareAndSet atomic', async () => {
    const v = await cluster.Value('v', 10);
    const again = await other.Value('v', 99);
    assert.equal(await again.get(), 10, 'an existing value is kept');
    await Promise.all([...Array(100)].map((_, i) => (i % 2 ? v : again).incr()));
    assert.equal(await v.get(), 110);
    assert.equal(await v.compareAndSet(110, 0), true);
    assert.equal(await v.compareAndSet(110, 1), false);
    await v.set(5);
    assert.equal(await again.get(), 5);
    const s = await cluster.Value('s', 'text');
    await assert.rejects(s.incr(), TypeError);
  });
});
