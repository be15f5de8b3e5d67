// A child boots through CommonJS: dist/src/multiprocessing/spawn_main.cjs
// requires weft's loader (load.cjs) itself, and weft's ES entries take weft from
// load.cjs with no ES module in between, so Node's ES loader reads, links and
// evaluates only weft's entry and the task's module in a booting child
// (scripts/bundle.mjs says what that saves).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Process, Queue } from 'weft';
import { reportEntry, reportOptionalModules } from './fixtures/entry-tasks.js';

for (const context of ['process', 'thread'] as const) {
  test(`a ${context} child boots from weft's CommonJS entry`, async () => {
    const q = new Queue<string | null>();
    const p = new Process({ target: reportEntry, args: [q], context });
    p.start();
    const entry = await q.get({ timeout: 30 });
    await p.join(30);
    assert.equal(p.exitCode, 0);
    assert.ok(entry?.endsWith('/dist/src/multiprocessing/spawn_main.cjs'), `the child booted from ${entry ?? 'an ES module'}`);
  });
}

test('a process child given a Queue and putting plain data loads neither node:v8 nor node:worker_threads (nor the streams they bring)', async () => {
  const q = new Queue<string[]>();
  const p = new Process({ target: reportOptionalModules, args: [q] });
  p.start();
  const loaded = await q.get({ timeout: 30 });
  await p.join(30);
  assert.equal(p.exitCode, 0);
  assert.deepEqual(loaded, []);
});

test("weft's ES entries import nothing but node:module (they require load.cjs)", () => {
  for (const entry of ['index.js', 'coro/index.js', 'io/index.js', 'internals.js', 'cli/main.js']) {
    const text = readFileSync(new URL(`../../src/${entry}`, import.meta.url), 'utf8');
    const imports = [...text.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    assert.deepEqual(imports, ['node:module'], `dist/src/${entry}`);
    assert.match(text, /createRequire\(import\.meta\.url\)\('(\.\.\/|\.\/)load\.cjs'\)/, `dist/src/${entry}`);
  }
});
