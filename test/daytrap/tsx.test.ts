// A TypeScript program run with tsx, under both contexts: a Process and a Pool.
// Process children inherit tsx's loader on every Node. Worker threads get it
// from Node 22 on; on Node 20 a thread child or a thread Pool's task in a .ts
// file is refused, at start(), at construction (its initializer) or at
// submission, with one sentence that says what to do (Node's own
// ERR_UNKNOWN_FILE_EXTENSION used to reach the parent).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { assertOneSentence, node, nodeMajor, project, refusals, tsxLoader } from './helpers.js';

const program = `import { Pool, Process, Queue, task, isMainModule, type ContextName } from 'weft';

export const square = task(import.meta, (x: number): number => x * x);
export const ready = task(import.meta, (): void => {});
export const put = task(import.meta, async (q: Queue<string>, s: string): Promise<void> => {
  await q.put(s);
});

if (isMainModule(import.meta)) {
  for (const context of ['process', 'thread'] as ContextName[]) {
    const q = new Queue<string>();
    try {
      const p = new Process({ target: put, args: [q, context + ' child'], context });
      p.start();
      console.log(await q.get());
      await p.join();
    } catch (e) {
      console.log('REFUSED ' + (e as Error).message);
    }
    q.close();
    try {
      const pool = new Pool({ processes: 1, context, initializer: ready }); // refused here, if at all
      console.log(context + ' pool', await pool.apply(square, [7]));
      await pool.terminate();
    } catch (e) {
      console.log('REFUSED ' + (e as Error).message);
    }
    const pool = new Pool({ processes: 1, context });
    try {
      console.log(context + ' pool', await pool.apply(square, [8])); // refused here, if at all
    } catch (e) {
      console.log('REFUSED ' + (e as Error).message);
    }
    await pool.terminate();
  }
}
`;

const { dir, remove } = project({ 'main.ts': program });
after(remove);

test(`tsx, Node ${nodeMajor}: a Process and a Pool in both contexts ${nodeMajor >= 22 ? 'work' : 'work or are refused (threads)'}`, async () => {
  const r = await node(['--import', tsxLoader, 'main.ts'], { cwd: dir, timeout: 90 });
  assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);
  const lines = r.stdout.trim().split('\n');
  if (nodeMajor >= 22) {
    assert.deepEqual(lines, ['process child', 'process pool 49', 'process pool 64', 'thread child', 'thread pool 49', 'thread pool 64']);
  } else {
    assert.deepEqual(lines.slice(0, 3), ['process child', 'process pool 49', 'process pool 64']);
    const messages = refusals(r.stdout);
    assert.equal(messages.length, 3, r.stdout); // the thread Process at start(), the Pool at construction and at submission
    for (const m of messages) {
      assertOneSentence(m, /^a worker thread cannot import file:\/\/.*\/main\.ts: Node 20\.[\d.]+ worker threads cannot load TypeScript through a loader \(Node 22 can\), so use getContext\('process'\) or run the compiled JavaScript$/);
    }
  }
});
