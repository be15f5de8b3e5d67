/**
 * CPython 3.11's Lib/test/_test_multiprocessing.py: its _TestContainers class
 * (a manager's list, dict and Namespace), ported with its test names; CPython
 * runs it for the manager only, and so does this file. Differences from the
 * original, each for the reason given:
 * - Proxies are async and keep Python's method names: `a[:]` is `await a.toArray()`, `a[2:10]` is
 *   `await a.slice(2, 10)`, `d[k] = v` is `await d.set(k, v)`, `len(a)` is `await a.len()`.
 * - `b *= 2` and `b + [5, 6]` (operators on a proxy) are `b.extend(await b.toArray())` and a local concat:
 *   JavaScript has no operator overloading.
 * - test_dict_iter: weft's dict iterator reads the keys in pages, so clearing the dict during an iteration is
 *   not detected (Python raises RuntimeError "dictionary changed size during iteration"); the iteration and its
 *   exhaustion are ported, and the iterator is asserted to end without error.
 * - test_namespace: `str(n)` gives Python's referent repr `Namespace(name='Bob')`; weft's proxy prints itself, so
 *   the attributes are compared through `toObject()`. Names starting with `_` live on a Python proxy itself, not
 *   in the manager; weft stores every name in the manager (not ported: `n._hidden`).
 * - test_list_proxy_in_list: `del a` and a list that contains itself are freed by Python's refcounts; the
 *   self-containing list is created and released here, and the manager must not hang on it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ListProxy, type Manager } from 'weft';
import { mixins } from './mp_support.js';

const { manager } = mixins(['manager']);

const range = (n: number, from = 0) => Array.from({ length: n - from }, (_, i) => from + i);

describe('_TestContainers', () => {
  test('test_list (manager)', async () => {
    const m: Manager = manager();
    const a = await m.list(range(10));
    assert.deepEqual(await a.toArray(), range(10));
    const b = await m.list<number>();
    assert.deepEqual(await b.toArray(), []);
    await b.extend(range(5));
    assert.deepEqual(await b.toArray(), range(5));
    assert.equal(await b.get(2), 2);
    assert.deepEqual(await b.slice(2, 10), [2, 3, 4]);
    await b.extend(await b.toArray()); // b *= 2
    assert.deepEqual(await b.toArray(), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    assert.deepEqual([...(await b.toArray()), 5, 6], [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(await a.toArray(), range(10));
    const e = await m.list([a, b]);
    const elements: unknown[] = [];
    for await (const element of e) elements.push(await (element as ListProxy).toArray());
    assert.deepEqual(elements, [range(10), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]]);
    const f = await m.list([a]);
    await a.append('hello' as never);
    assert.deepEqual(await ((await f.get(0)) as ListProxy).toArray(), [...range(10), 'hello']);
  });

  test('test_list_iter (manager)', async () => {
    const a = await manager().list(range(10));
    const it = a[Symbol.asyncIterator]();
    const first: number[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) first.push(r.value);
    assert.deepEqual(first, range(10));
    assert.equal((await it.next()).done, true); // exhausted
    const it2 = a[Symbol.asyncIterator](); // list modified during iteration
    await a.set(0, 100);
    assert.equal((await it2.next()).value, 100);
  });

  test('test_list_proxy_in_list (manager)', async () => {
    const m = manager();
    const a = await m.list([await m.list(range(3)), await m.list(range(3)), await m.list(range(3))]);
    const inner = async (i: number) => (await a.get(i)) as ListProxy<number>;
    for (let i = 0; i < 3; i++) assert.deepEqual(await (await inner(i)).toArray(), [0, 1, 2]);
    await (await inner(0)).set(-1, 55);
    assert.deepEqual(await (await inner(0)).toArray(), [0, 1, 55]);
    for (let i = 1; i < 3; i++) assert.deepEqual(await (await inner(i)).toArray(), [0, 1, 2]);
    assert.equal(await (await inner(1)).pop(), 2);
    assert.equal(await (await inner(1)).len(), 2);
    for (const i of [0, 2]) assert.equal(await (await inner(i)).len(), 3);
    const b = await m.list<unknown>();
    await b.append(b);
    assert.equal(await b.len(), 1);
  });

  test('test_dict (manager)', async () => {
    const d = await manager().dict<number, string>();
    const indices = range(70, 65);
    for (const i of indices) await d.set(i, String.fromCharCode(i));
    assert.deepEqual(await d.copy(), new Map(indices.map((i) => [i, String.fromCharCode(i)])));
    assert.deepEqual((await d.keys()).sort(), indices);
    assert.deepEqual((await d.values()).sort(), indices.map((i) => String.fromCharCode(i)));
    assert.deepEqual((await d.items()).sort(), indices.map((i) => [i, String.fromCharCode(i)]));
  });

  test('test_dict_iter (manager)', async () => {
    const d = await manager().dict<number, string>();
    const indices = range(70, 65);
    for (const i of indices) await d.set(i, String.fromCharCode(i));
    const it = d[Symbol.asyncIterator]();
    const keys: number[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) keys.push(r.value);
    assert.deepEqual(keys, indices);
    assert.equal((await it.next()).done, true); // exhausted
    const it2 = d[Symbol.asyncIterator]();
    await d.clear();
    for (let r = await it2.next(); !r.done; r = await it2.next()); // Python: RuntimeError; see the header
  });

  test('test_dict_proxy_nested (manager)', async () => {
    const m = manager();
    type D = import('weft').DictProxy<string, unknown>;
    let pets: D = await m.dict({ ferrets: 2, hamsters: 4 });
    let supplies: D = await m.dict({ water: 10, feed: 3 });
    const d = await m.dict<string, D>({ pets, supplies });
    const dsup = async () => (await d.get('supplies')) as D;
    assert.equal(await supplies.get('water'), 10);
    assert.equal(await (await dsup()).get('water'), 10);
    await (await dsup()).set('blankets', 5);
    assert.equal(await supplies.get('blankets'), 5);
    assert.equal(await (await dsup()).get('blankets'), 5);
    await (await dsup()).set('water', 7);
    assert.equal(await supplies.get('water'), 7);
    assert.equal(await (await dsup()).get('water'), 7);
    assert.equal(await ((await d.get('pets')) as D).get('ferrets'), 2);
    await (await dsup()).set('blankets', 11);
    assert.equal(await (await dsup()).get('blankets'), 11);
    pets = (await d.get('pets')) as D;
    supplies = await dsup();
    await supplies.set('water', 7);
    assert.equal(await supplies.get('water'), 7);
    assert.equal(await (await dsup()).get('water'), 7);
    await d.clear();
    assert.equal(await d.len(), 0);
    assert.equal(await supplies.get('water'), 7);
    assert.equal(await pets.get('hamsters'), 4);
    const l = await m.list([pets, supplies]);
    await ((await l.get(0)) as D).set('marmots', 1);
    assert.equal(await pets.get('marmots'), 1);
    assert.equal(await ((await l.get(0)) as D).get('marmots'), 1);
    const outer = await m.list<unknown>([[88, 99], l]);
    assert.ok(Array.isArray(await outer.get(0))); // Not a ListProxy
    assert.equal(await ((await ((await outer.get(-1)) as ListProxy).get(-1)) as D).get('feed'), 3);
  });

  test('test_nested_queue (manager)', async () => {
    const m = manager();
    const a = await m.list<unknown>(); // Test queue inside list
    await a.append(await m.Queue());
    const qa = (await a.get(0)) as import('weft').QueueProxy<number>;
    await qa.put(123);
    assert.equal(await qa.get(), 123);
    const b = await m.dict<number, unknown>(); // Test queue inside dict
    await b.set(0, await m.Queue());
    const qb = (await b.get(0)) as import('weft').QueueProxy<number>;
    await qb.put(456);
    assert.equal(await qb.get(), 456);
  });

  test('test_namespace (manager)', async () => {
    const n = await manager().Namespace();
    await n.set('name', 'Bob');
    await n.set('job', 'Builder');
    assert.deepEqual([await n.get('name'), await n.get('job')], ['Bob', 'Builder']);
    await n.delete('job');
    assert.deepEqual(await n.toObject(), { name: 'Bob' });
    assert.equal(await n.has('name'), true);
    assert.equal(await n.has('job'), false);
  });
});
