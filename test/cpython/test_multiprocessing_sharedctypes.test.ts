/**
 * CPython 3.11's Lib/test/_test_multiprocessing.py: its _TestValue and
 * _TestArray classes, ported with their test names; CPython runs them for
 * processes only (ALLOWED_TYPES), and so does this file. Python's `Array` is
 * weft's `SharedArray` (JavaScript has its own `Array`). Differences from the
 * original, each for the reason given:
 * - `arr[3]`, `arr[2:7]` and `arr[4:8] = ...` are `arr.get(3)`, `arr.toArray().slice(2, 7)` and `arr.set(i, v)`
 *   for each item: JavaScript has no indexing or slice assignment to overload.
 * - `lock=None` (the default lock) is an omitted `lock`; `lock='navalue'` raises TypeError where Python raises
 *   AttributeError (Python reaches for the lock's methods; weft checks the option first).
 * - `hasattr(v, 'get_lock')` is `'getLock' in v`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lock, Process, RLock, RawArray, RawValue, SharedArray, Value, type Typecode } from 'weft';
import { arrayF, testValueSet } from './fixtures/mp_tasks.js';

async function run<F extends (...args: never[]) => unknown>(target: F, args: Parameters<F>): Promise<void> {
  const p = new Process({ target, args, daemon: true });
  p.start();
  await p.join(30);
  assert.equal(p.exitCode, 0);
}

describe('_TestValue', () => {
  const codesValues: [Typecode, unknown, unknown][] = [
    ['i', 4343, 24234],
    ['d', 3.625, -4.25],
    ['h', -232, 234],
    ['q', 2n ** 33n, 2n ** 34n],
    ['c', Buffer.from('x'), Buffer.from('y')],
  ];

  async function testValue(raw: boolean): Promise<void> {
    const values = codesValues.map(([code, value]) => (raw ? new RawValue(code, value as never) : new Value(code, value as never)));
    values.forEach((sv, i) => assert.deepEqual(sv.value, codesValues[i]![1]));
    await run(testValueSet, [values, codesValues.map((cv) => cv[2])]);
    values.forEach((sv, i) => assert.deepEqual(sv.value, codesValues[i]![2]));
  }

  test('test_value', () => testValue(false));
  test('test_rawvalue', () => testValue(true));

  test('test_getobj_getlock', () => {
    const val1 = new Value('i', 5);
    assert.ok(val1.getLock() instanceof RLock);
    assert.ok(val1.getObj() instanceof RawValue);
    assert.equal(val1.getObj().value, 5);

    const val2 = new Value('i', 5, {});
    assert.ok(val2.getLock() instanceof RLock);
    assert.equal(val2.getObj().value, 5);

    const lock = new Lock();
    const val3 = new Value('i', 5, { lock });
    assert.equal(val3.getLock(), lock);
    assert.equal(val3.getObj().value, 5);

    const arr4 = new Value('i', 5, { lock: false });
    assert.equal('getLock' in arr4, false);
    assert.equal('getObj' in arr4, false);

    assert.throws(() => new Value('i', 5, { lock: 'navalue' as unknown as boolean }), TypeError);

    const arr5 = new RawValue('i', 5);
    assert.equal('getLock' in arr5, false);
    assert.equal('getObj' in arr5, false);
  });
});

describe('_TestArray', () => {
  async function testArray(raw: boolean): Promise<void> {
    const seq = [680, 626, 934, 821, 150, 233, 548, 982, 714, 831];
    const arr = raw ? new RawArray('i', seq) : new SharedArray('i', seq);
    assert.equal(arr.length, seq.length);
    assert.equal(arr.get(3), seq[3]);
    assert.deepEqual(arr.toArray().slice(2, 7), seq.slice(2, 7));
    [1, 2, 3, 4].forEach((v, i) => {
      arr.set(4 + i, v);
      seq[4 + i] = v;
    });
    assert.deepEqual(arr.toArray(), seq);
    for (let i = 1; i < seq.length; i++) seq[i]! += seq[i - 1]!;
    await run(arrayF, [arr]);
    assert.deepEqual(arr.toArray(), seq);
  }

  test('test_array', () => testArray(false));

  test('test_array_from_size', () => {
    const size = 10;
    for (let k = 0; k < 3; k++) {
      const arr = new SharedArray('i', size);
      assert.equal(arr.length, size);
      assert.deepEqual([...arr], new Array(size).fill(0));
      for (let i = 0; i < 10; i++) arr.set(i, i);
      assert.deepEqual([...arr], [...Array(10).keys()]);
    }
  });

  test('test_rawarray', () => testArray(true));

  test('test_getobj_getlock_obj', () => {
    const range10 = [...Array(10).keys()];
    const arr1 = new SharedArray('i', range10);
    assert.ok(arr1.getLock() instanceof RLock);
    assert.deepEqual(arr1.getObj().toArray(), range10);

    const arr2 = new SharedArray('i', range10, {});
    assert.ok(arr2.getLock() instanceof RLock);
    assert.ok(arr2.getObj() instanceof RawArray);

    const lock = new Lock();
    const arr3 = new SharedArray('i', range10, { lock });
    assert.equal(arr3.getLock(), lock);
    arr3.getObj().set(0, 42);
    assert.equal(arr3.get(0), 42, 'getObj() is the same memory');

    const arr4 = new SharedArray('i', range10, { lock: false });
    assert.equal('getLock' in arr4, false);
    assert.equal('getObj' in arr4, false);
    assert.throws(() => new SharedArray('i', range10, { lock: 'notalock' as unknown as boolean }), TypeError);

    const arr5 = new RawArray('i', range10);
    assert.equal('getLock' in arr5, false);
    assert.equal('getObj' in arr5, false);
  });
});
