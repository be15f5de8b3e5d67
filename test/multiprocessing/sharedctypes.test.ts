// Tests of Value and SharedArray: typecodes, conversions, errors, and writes
// seen across child processes and worker threads.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Process, Lock, RLock, RawArray, SharedArray, Value, type Typecode } from 'weft';
import type { ContextName } from 'weft';
import * as t from './fixtures/sync-tasks.js';

const CODES: Typecode[] = ['b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', 'Q', 'f', 'd'];
const isBig = (code: Typecode) => code === 'q' || code === 'Q';

describe('Value', () => {
  it('holds each typecode, wrapping integers as C does', () => {
    const wraps: Partial<Record<Typecode, [number | bigint, number | bigint]>> = {
      b: [128, -128],
      B: [256, 0],
      h: [32768, -32768],
      H: [-1, 65535],
      i: [2 ** 31, -(2 ** 31)],
      I: [-1, 2 ** 32 - 1],
      q: [2n ** 63n, -(2n ** 63n)],
      Q: [-1n, 2n ** 64n - 1n],
    };
    for (const code of CODES) {
      const v = new Value(code, isBig(code) ? 7n : 7);
      assert.equal(v.value, isBig(code) ? 7n : 7, code);
      assert.equal(v.typecode, code);
      for (const x of t.EXTREMES[code]) {
        v.value = x;
        assert.equal(v.value, x, `${code} holds ${x}`);
      }
      const wrap = wraps[code];
      if (wrap) {
        v.value = wrap[0];
        assert.equal(v.value, wrap[1], `${code} wraps ${wrap[0]}`);
      }
    }
    const f = new Value('f', 0.1);
    assert.equal(f.value, Math.fround(0.1));
    assert.equal(new Value('i').value, 0);
    assert.equal(new Value('Q').value, 0n);
  });

  it('refuses a bad typecode with a TypeError naming the valid ones', () => {
    assert.throws(() => new Value('x' as Typecode, 1), {
      name: 'TypeError',
      message: "bad typecode 'x' (must be c, b, B, h, H, i, I, l, L, q, Q, f or d)",
    });
    assert.throws(() => new SharedArray('u' as Typecode, 3), /bad typecode 'u'/);
    assert.throws(() => new Value(undefined as unknown as Typecode), /bad typecode undefined/);
  });

  it('refuses a fraction for an integer code and a string anywhere', () => {
    const v = new Value('i', 1);
    assert.throws(() => {
      v.value = 1.5;
    }, /int expected instead of float \(1\.5\)/);
    assert.throws(() => {
      (v as Value).value = '2' as unknown as number;
    }, TypeError);
    assert.throws(() => new Value('d', 'x' as unknown as number), TypeError);
    assert.equal(v.value, 1);
  });

  it('has an RLock by default, a given lock, or none', async () => {
    assert.ok(new Value('i', 0).getLock() instanceof RLock);
    const lock = new Lock();
    assert.equal(new Value('i', 0, { lock }).getLock(), lock);
    assert.equal('getLock' in new Value('i', 0, { lock: false }), false, 'lock: false gives the raw object');
    assert.throws(() => new Value('i', 0, { lock: 'yes' as unknown as boolean }), TypeError);
    const v = new Value('i', 1);
    {
      using held = await v.getLock().hold();
      void held;
      v.value += 1;
    }
    assert.equal(v.value, 2);
    assert.equal(String(v), '<Synchronized wrapper for c_int(2)>');
  });
});

describe('SharedArray', () => {
  it('reads, writes, iterates and copies for each typecode', () => {
    for (const code of CODES) {
      const one = (n: number) => (isBig(code) ? BigInt(n) : n);
      const arr = new SharedArray(code, [one(1), one(2), one(3)]);
      assert.equal(arr.length, 3);
      assert.deepEqual(arr.toArray(), [one(1), one(2), one(3)]);
      arr.set(-1, one(9));
      assert.equal(arr.get(2), one(9));
      assert.equal(arr.get(-3), one(1));
      assert.deepEqual([...arr], [one(1), one(2), one(9)]);
      const zeros = new SharedArray(code, 4);
      assert.deepEqual(zeros.toArray(), [one(0), one(0), one(0), one(0)]);
    }
    assert.equal(String(new SharedArray('i', [1, 2])), '<SynchronizedArray wrapper for c_int_Array_2 ([1, 2])>');
  });

  it("'c' holds bytes: one-byte Buffers in and out, Python's reprs", () => {
    const arr = new SharedArray('c', Buffer.from('ab\n'));
    assert.deepEqual(arr.get(0), Buffer.from('a'));
    arr.set(1, Buffer.from('z'));
    arr.set(0, 0x41 as never); // an integer byte, as ctypes takes
    assert.deepEqual(Buffer.concat(arr.toArray()), Buffer.from('Az\n'));
    assert.equal(String(arr), "<SynchronizedString wrapper for c_char_Array_3 ([b'A', b'z', b'\\n'])>");
    assert.throws(() => arr.set(0, Buffer.from('xy')), /one character bytes/);
    assert.throws(() => arr.set(0, 256 as never), TypeError);
    const raw = new RawArray('c', 2);
    assert.deepEqual(raw.toArray(), [Buffer.of(0), Buffer.of(0)]);
    assert.equal(String(new Value('c', Buffer.from("'"))), "<Synchronized wrapper for c_char(b'\\'')>");
  });

  it('refuses indexes out of range and bad lengths', () => {
    const arr = new SharedArray('i', 2);
    assert.throws(() => arr.get(2), /index 2 out of range/);
    assert.throws(() => arr.get(-3), RangeError);
    assert.throws(() => arr.set(0.5, 1), RangeError);
    assert.throws(() => new SharedArray('i', -1), RangeError);
    assert.throws(() => arr.set(0, 0.5), TypeError);
    assert.equal(new SharedArray('d', 0).length, 0);
  });
});

for (const context of ['process', 'thread'] as ContextName[]) {
  describe(`across a ${context} child`, () => {
    it('every typecode: the child sees the parent\'s values and the parent sees the child\'s writes', async () => {
      const values: Record<string, Value> = {};
      const arrays: Record<string, SharedArray> = {};
      for (const code of CODES) {
        const one = (n: number) => (isBig(code) ? BigInt(n) : n);
        values[code] = new Value(code, one(1) as never);
        arrays[code] = new SharedArray(code, [one(1), one(2), one(3)] as never);
      }
      const ok = new Value('i', -1);
      const p = new Process({ target: t.writeEach, args: [values, arrays, ok], context });
      p.start();
      await p.join(20);
      assert.equal(p.exitCode, 0);
      assert.equal(ok.value, 1, 'the child did not see the values written before it started');
      for (const code of CODES) {
        const [lo, hi] = t.EXTREMES[code];
        assert.equal(values[code]!.value, hi, `Value '${code}'`);
        assert.deepEqual(arrays[code]!.toArray(), [lo, hi, isBig(code) ? 0n : 0], `SharedArray '${code}'`);
      }
    });
  });
}
