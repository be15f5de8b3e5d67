// CommonJS: require('weft') works on every supported Node (Node 20 cannot
// require an ES module: package.json's "require" condition serves index.cjs),
// it is the same instance as import('weft'), and a task declared with
// task(module, fn) in a .cjs file runs in a Process and a Pool, both contexts.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { node, project } from './helpers.js';

const app = `const { Pool, Process, Queue, task, isMainModule } = require('weft');

const put = task(module, async function put(q, s) {
  await q.put(s);
});
const square = task(module, function square(x) {
  return x * x;
});
module.exports = { put, square };

if (isMainModule(module)) {
  (async () => {
    for (const context of ['process', 'thread']) {
      const q = new Queue();
      const p = new Process({ target: put, args: [q, context + ' child'], context });
      p.start();
      console.log(await q.get());
      await p.join();
      q.close();
      const pool = new Pool({ processes: 1, context });
      console.log(context + ' pool', JSON.stringify(await pool.map(square, [1, 2, 3])));
      await pool.terminate();
    }
    const esm = await import('weft');
    console.log('one instance', esm.Queue === Queue && esm.task === task);
  })();
}
`;

/** `./name`, written so that test/build.test.ts does not take the fixture's import for one of this file's. */
const sibling = (name: string) => `./${name}`;

/** An ES module that imports the .cjs module's task: the child loads the CommonJS module to find it. */
const esmUser = `import { Process, Queue } from 'weft';
import tasks from '${sibling('app.cjs')}';
const q = new Queue();
const p = new Process({ target: tasks.put, args: [q, 'from an ES module'] });
p.start();
console.log(await q.get());
await p.join();
`;

const { dir, remove } = project({ 'app.cjs': app, 'user.mjs': esmUser });
after(remove);

test('a .cjs program: require(weft), task(module, fn) in a Process and a Pool, both contexts', async () => {
  const r = await node(['app.cjs'], { cwd: dir });
  assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'process child', 'process pool [1,4,9]', 'thread child', 'thread pool [1,4,9]', 'one instance true',
  ]);
});

test('an ES module can start a task declared in a CommonJS module', async () => {
  const r = await node(['user.mjs'], { cwd: dir });
  assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout.trim(), 'from an ES module');
});

test('task() names its two accepted first arguments when given something else', async () => {
  const r = await node(['-e', "require('weft').task({}, () => 1)"], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /TypeError: task\(import\.meta, fn\): the first argument must be import\.meta \(or module, in CommonJS\)/);
});
