// Tasks and Node's test runner. test() both declares and runs a test, so a
// child that imported a test file to find its task would run that file's tests
// again and report them on the runner's stdout (extra failures, a test count
// that changed from run to run). A task declared in a test file is therefore
// refused at start() with the fix; a task in a module of its own, imported by
// the test file, works, and the count is the file's own.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { assertOneSentence, node, project } from './helpers.js';

/** A test whose task, if a child ran the file's tests again, would be seen twice (it sleeps, so the child reports). */
const body = `
test('a task in a child', async () => {
  const q = new Queue();
  const p = new Process({ target: put, args: [q, 42] });
  p.start();
  assert.equal(await q.get(), 42);
  await p.join();
  assert.equal(p.exitCode, 0);
});
`;
/** `./name`, written so that test/build.test.ts does not take the fixture's import for one of this file's. */
const sibling = (name: string) => `./${name}`;
const head = "import assert from 'node:assert/strict';\nimport { test } from 'node:test';\n";

const { dir, remove } = project({
  'tasks.mjs': `import { task } from 'weft';
export const put = task(import.meta, async function put(q, v) {
  await q.put(v);
  await new Promise((r) => setTimeout(r, 300));
});
`,
  'helper.test.mjs': `${head}import { Process, Queue } from 'weft';\nimport { put } from '${sibling('tasks.mjs')}';\n${body}`,
  'inline.test.mjs': `${head}import { Process, Queue, task } from 'weft';
export const put = task(import.meta, async function put(q, v) {
  await q.put(v);
  await new Promise((r) => setTimeout(r, 300));
});
${body}`,
});
after(remove);

const fix = /^target 'put' is declared in .*inline\.test\.mjs, a test file: a child imports the task's module and would run its tests again, so declare the task in a module of its own and import it into the test file$/;

/** The TAP summary counts of a run. */
function counts(out: string): Record<string, number> {
  return Object.fromEntries([...out.matchAll(/^# (tests|pass|fail) (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

test('node --test: a task imported from a module of its own runs, and the file reports its own test once', async () => {
  for (let run = 0; run < 2; run++) {
    const r = await node(['--test', '--test-reporter=tap', 'helper.test.mjs'], { cwd: dir });
    assert.deepEqual(counts(r.stdout), { tests: 1, pass: 1, fail: 0 }, r.stdout + r.stderr);
    assert.equal(r.code, 0);
  }
});

test('node --test: a task declared in the test file itself is refused at start() in one sentence', async () => {
  const r = await node(['--test', '--test-reporter=tap', 'inline.test.mjs'], { cwd: dir });
  assert.deepEqual(counts(r.stdout), { tests: 1, pass: 0, fail: 1 }, r.stdout + r.stderr);
  const message = /error: "(.*)"$/m.exec(r.stdout)?.[1];
  assert.ok(message, r.stdout);
  assertOneSentence(message, fix);
});

test('node file.test.mjs (run directly): the same refusal', async () => {
  const r = await node(['--test-reporter=tap', 'inline.test.mjs'], { cwd: dir });
  assert.deepEqual(counts(r.stdout), { tests: 1, pass: 0, fail: 1 }, r.stdout + r.stderr);
  assert.match(r.stdout, /a test file: a child imports the task's module and would run its tests again/);
});
