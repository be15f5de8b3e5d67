// Code with no file behind it — the REPL, `node -e`, `node --input-type=module -e` —
// cannot hold a task: a child finds a task by importing its module. weft refuses
// such a task at start() and at a pool's submission, in one sentence that says
// to move it into a file, before any child is started (a child would fail with
// ERR_MODULE_NOT_FOUND).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { assertOneSentence, node, project, refusals } from './helpers.js';

const { dir, remove } = project({});
after(remove);

const fix = /not a module file another process or thread can import: move the task into a \.mjs \(or \.cjs\) file and import it from there$/;

/** Starts a Process, then submits to a thread Pool, printing REFUSED and the message for each refusal. */
const attempts = `
for (const context of ['process', 'thread']) {
  try { new Process({ target: hello, context }).start(); console.log('STARTED'); } catch (e) { console.log('REFUSED ' + e.message); }
}
const pool = new Pool({ processes: 1, context: 'thread' });
try { await pool.apply(hello, []); console.log('APPLIED'); } catch (e) { console.log('REFUSED ' + e.message); }
await pool.terminate();
`;

function check(r: { code: number | null; stdout: string; stderr: string }, where: RegExp): void {
  const messages = refusals(r.stdout);
  assert.equal(messages.length, 3, `three refusals expected\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  for (const m of messages) {
    assertOneSentence(m, fix);
    assert.match(m, where);
  }
  assert.doesNotMatch(r.stdout, /STARTED|APPLIED/);
  assert.doesNotMatch(r.stderr, /ERR_MODULE_NOT_FOUND/, 'a child was started');
  assert.equal(r.code, 0, r.stderr);
}

test('node --input-type=module -e: a task is refused at start() and at submission', async () => {
  const code = `import { Pool, Process, task } from 'weft';
export const hello = task(import.meta, function hello() { return 1; });
${attempts}`;
  check(await node(['--input-type=module', '-e', code], { cwd: dir }), /^target 'hello' was declared in .*\[eval1\]|^task 'hello' was declared in .*\[eval1\]/);
});

test('node -e (CommonJS): a task declared with task(module, fn) is refused at start() and at submission', async () => {
  const code = `const { Pool, Process, task } = require('weft');
const hello = task(module, function hello() { return 1; });
(async () => {${attempts}})();`;
  check(await node(['-e', code], { cwd: dir }), /(target|task) 'hello' was declared in .*\[eval\],/);
});

test('the REPL: a task declared with task(module, fn) is refused at start() and at submission', async () => {
  // The REPL has no import.meta (a SyntaxError from Node itself); module is its CommonJS scope.
  const lines = [
    "const { Pool, Process, task } = require('weft');",
    "const hello = task(module, function hello() { return 1; });",
    `(async () => {${attempts.replaceAll('\n', ' ')}})().then(() => process.exit(0));`,
  ];
  check(await node(['-i'], { cwd: dir, input: `${lines.join('\n')}\n` }), /(target|task) 'hello' was declared in <repl>,/);
});
