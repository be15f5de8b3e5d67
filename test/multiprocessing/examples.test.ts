// The seed's section-1 programs (examples/10-12) run as users run them — compiled
// with plain node, and from source with tsx — and print what the lecture shows.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { runNode } from '../helpers/run.js';

const compiled = (name: string) => fileURLToPath(new URL(`../../examples/${name}.js`, import.meta.url));
const source = (name: string) => fileURLToPath(new URL(`../../../examples/${name}.ts`, import.meta.url));

describe('examples (section 1)', () => {
  test('10-parent-child: every process prints its pid and its parent, two levels deep', async () => {
    const r = await runNode([compiled('10-parent-child')]);
    assert.equal(r.code, 0, r.stderr);
    const blocks = r.stdout.split(/\n(?=\S)/).filter((b) => /process id/.test(b));
    const info = blocks.map((b) => ({
      title: b.split('\n')[0]!,
      name: /module name: (.*)/.exec(b)![1],
      ppid: Number(/parent process: (\d+)/.exec(b)![1]),
      pid: Number(/process id: (\d+)/.exec(b)![1]),
    }));
    assert.equal(info.length, 5);
    const main = info.find((i) => i.title === 'main process')!;
    for (const who of ['bob', 'alice']) {
      const child = info.find((i) => i.title === `child ${who}`)!;
      const grandchild = info.find((i) => i.title === `grandchild ${who}`)!;
      assert.equal(child.ppid, main.pid);
      assert.equal(grandchild.ppid, child.pid);
      assert.match(grandchild.name!, /^Process-\d:1$/);
    }
    assert.match(r.stdout, /exit codes: 0, 0/);
  });

  test('11-queue: the parent gets what the child put', async () => {
    const r = await runNode([compiled('11-queue')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hahaha123\n');
  });

  test('12-pipe: two messages up, one answer down', async () => {
    const r = await runNode([compiled('12-pipe')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'qqqqqq\nqqqqqq2\nfrom parent: hehehhe\n');
  });

  test('a .ts program run with tsx: its children inherit the loader', async () => {
    const r = await runNode(['--import', 'tsx', source('12-pipe')], { timeout: 60 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'qqqqqq\nqqqqqq2\nfrom parent: hehehhe\n');
  });

  test('a plain .mjs file in the checkout imports weft with no loader', async () => {
    const script = "import { Process, Queue, Pipe, getContext } from 'weft'; console.log(typeof Process, typeof Queue, typeof Pipe, getContext('thread').name);";
    const r = await runNode(['--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'function function function thread\n');
  });
});
