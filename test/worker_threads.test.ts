/**
 * weft inside worker threads the program made itself (not weft's thread
 * context): the addon is loaded once per thread and Node unloads it when the
 * thread ends, so every libuv handle the addon owns must be closed before
 * that, or its close callback runs in unmapped code (a segfault of the whole
 * process, seen before the fix). Each case runs in a fresh node so that a
 * crash fails the test instead of the runner.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type RunResult, runNode } from './helpers/run.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-workers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Run `source` as a module file (a worker needs a file to load itself from). */
function runModule(name: string, source: string): Promise<RunResult> {
  const file = join(dir, name);
  writeFileSync(file, source);
  return runNode([file], { timeout: 30 });
}

const root = new URL('../../', import.meta.url).href;

function script(body: string): string {
  return `
    import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
    if (isMainThread) {
      ${body}
    } else {
      const { StreamServer, CoroSocket, spawn, sleep } = await import('${root}dist/src/coro/index.js');
      const { DefaultSelector, socketpair, EVENT_READ } = await import('${root}dist/src/io/index.js');
      const { Queue } = await import('${root}dist/src/index.js');
      await sleep(0.001);
      const q = new Queue();
      await q.put(1);
      await q.get();
      if (workerData !== 'plain') {
        // handles left open and armed: a listening server, a parked recv, a selector waiting
        const server = new StreamServer(['127.0.0.1', 0], async (s) => { await s.recv(10); });
        await server.start();
        const c = await CoroSocket.connect(['127.0.0.1', server.address[1]]);
        spawn(() => c.recv(10));
        const sel = new DefaultSelector();
        const [a] = socketpair();
        sel.register(a, EVENT_READ);
        void sel.selectAsync();
      }
      if (workerData === 'exit') setTimeout(() => process.exit(3), 20);
      else parentPort.postMessage('up');
    }`;
}

test('a worker thread that loaded weft ends by itself without taking the process down', async () => {
  const r = await runModule(
    'plain.mjs',
    script(`
      for (let i = 0; i < 3; i++) {
        const w = new Worker(new URL(import.meta.url), { workerData: 'plain' });
        await new Promise((resolve) => w.once('exit', resolve));
      }
      console.log('done');`),
  );
  assert.equal(r.signal, null, `the process died of ${r.signal}: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'done');
});

test('terminate() and process.exit() in a worker with weft sockets and selectors still open', async () => {
  const r = await runModule(
    'open.mjs',
    script(`
      for (let i = 0; i < 3; i++) {
        const w = new Worker(new URL(import.meta.url), { workerData: 'open' });
        await new Promise((resolve) => w.once('message', resolve));
        await w.terminate();
      }
      const w = new Worker(new URL(import.meta.url), { workerData: 'exit' });
      const code = await new Promise((resolve) => w.on('exit', resolve));
      console.log('exit', code);`),
  );
  assert.equal(r.signal, null, `the process died of ${r.signal}: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'exit 3');
});
