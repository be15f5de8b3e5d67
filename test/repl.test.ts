/**
 * weft in Node's REPL (`node -i`). The addon calls back into JavaScript when a
 * futex wait or a watched fd completes; called without an async context, Node
 * ran the callback through the domain module the REPL loads, which read
 * `this.domain` off the receiver (the REPL's global, where `domain` is the
 * module) and crashed Node with "domain.enter is not a function".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runNode } from './helpers/run.js';

const dist = new URL('../src/', import.meta.url).href;

/** Feeds `line` to a REPL (stdin closes after it; the pending await keeps Node running). */
function repl(line: string) {
  return runNode(['-i'], { input: `${line}\n`, timeout: 30 });
}

test('in the REPL, an awaited Queue.get() that has to wait gets its value', async () => {
  const run = await repl(
    `var { Queue } = await import('${dist}index.js'); var q = new Queue(); ` +
      `setTimeout(() => q.put('late value'), 400); console.log('got:', await q.get())`,
  );
  assert.doesNotMatch(run.stderr + run.stdout, /TypeError|domain/);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /got: late value/);
});

test('in the REPL, selectAsync() that has to wait returns the ready fd', async () => {
  const run = await repl(
    `var io = await import('${dist}io/index.js'); var [a, b] = io.socketpair(); ` +
      `var sel = new io.DefaultSelector(); sel.register(a, io.EVENT_READ); ` +
      `setTimeout(() => b.send(Buffer.from('x')), 400); var ready = await sel.selectAsync(10); ` +
      `console.log('ready:', ready.length, ready[0][1] === io.EVENT_READ); sel.close(); a.close(); b.close()`,
  );
  assert.doesNotMatch(run.stderr + run.stdout, /TypeError|domain/);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /ready: 1 true/);
});
