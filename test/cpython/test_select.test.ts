/**
 * CPython 3.11's Lib/test/test_select.py, ported to weft/io with its test
 * names. Differences from the original, each for the reason given:
 * - test_select runs a child that prints ten lines 50 ms apart into one end
 *   of a socketpair (Node has no os.pipe; readline becomes recv).
 * - test_disallow_instantiation: not ported. weft exports the `Poll` class for
 *   typing and `new Poll()` is the same as `poll()`; Python's type cannot be
 *   instantiated.
 * - Python's `select` accepts any sequence; weft takes arrays, so "sequence" reads "array".
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OSError, ValueError, select, socketpair, type FileLike } from 'weft/io';

describe('SelectTestCase', () => {
  class Nope {}
  class Almost {
    fileno(): unknown {
      return 'fileno';
    }
  }

  test('test_error_conditions', () => {
    assert.throws(() => select(1 as never, 2 as never, 3 as never), TypeError);
    assert.throws(() => select([new Nope() as never], [], []), TypeError);
    assert.throws(() => select([new Almost() as never], [], []), TypeError);
    assert.throws(() => select([], [], [], 'not a number' as never), TypeError);
    assert.throws(() => select([], [], [], -1), ValueError);
  });

  test('test_errno', () => {
    const fd = openSync(fileURLToPath(import.meta.url), 'r');
    closeSync(fd);
    assert.throws(() => select([fd], [], [], 0), (err: unknown) => err instanceof OSError && err.errno === 9);
  });

  test('test_returned_list_identity', () => {
    // See issue #8329
    const [r, w, x] = select([], [], [], 1);
    assert.notEqual(r, w);
    assert.notEqual(r, x);
    assert.notEqual(w, x);
  });

  test('test_select', async () => {
    const code = 'for (let i = 0; i < 10; i++) { process.stdout.write("testing...\\n"); await new Promise((r) => setTimeout(r, 50)); }';
    const [pipe, childEnd] = socketpair();
    const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', childEnd.fileno(), 'inherit'] });
    childEnd.close();
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    let lines = 0;
    try {
      // Each select blocks this thread; the child runs on its own. No event loop turn is needed until EOF.
      for (const timeout of [0, 1, 2, 4, 8, 16, ...Array<null>(10).fill(null)]) {
        const [rfd, wfd, xfd] = select([pipe], [], [], timeout);
        assert.deepEqual(wfd, []);
        assert.deepEqual(xfd, []);
        if (rfd.length === 0) continue;
        if (rfd.length === 1 && rfd[0] === pipe) {
          const data = pipe.recv(1024);
          if (data.length === 0) break;
          lines += String(data).split('\n').filter(Boolean).length;
          continue;
        }
        assert.fail(`Unexpected return values from select(): ${String(rfd)}`);
      }
    } finally {
      pipe.close();
      await exited;
    }
    assert.ok(lines > 0, 'read no line from the child');
  });

  test('test_select_mutated', () => {
    // Issue 16230: Crash on select resized list
    const a: FileLike[] = [];
    const f = { fileno: (): number => (a.pop(), 1) };
    for (let i = 0; i < 10; i++) a.push(f);
    assert.deepEqual(select([], a, []), [[], a.slice(0, 5), []]);
  });
});
