// Every server design echoes byte for byte: to Python's socket module over 1
// and 100 connections open at once, and to `weft client`; with --upper the
// replies are bytes.upper() of what was sent. A server that answers late,
// loses a chunk, reorders or leaves a connection open fails here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IoUring } from 'weft/io';
import { MODELS, Served, asciiUpper, pythonEcho, weftClient } from './helpers.js';

const uring = IoUring.available();
// Lines for `weft client`: ASCII, UTF-8, one longer than any single read of the client's.
const lines = ['hello', 'gevent 协程 select', 'x'.repeat(100_000) + 'end'];

for (const model of MODELS) {
  describe(`weft serve --model ${model}`, () => {
    if (model === 'uring' && !uring.ok) {
      // The refusal is checked in cli.test.ts; serving needs io_uring.
      console.log(`# io_uring is unavailable here (${uring.reason}): --model uring refuses, as cli.test.ts checks`);
      return;
    }

    test('echoes byte for byte to Python (1 and 100 connections) and to weft client', async () => {
      const server = await Served.start(model);
      await server.stopOnFailure(async () => {
        await pythonEcho(server.port, { connections: 1, big: 300_000 });
        await pythonEcho(server.port, { connections: 100, big: 65_537 });
        const client = await weftClient(server.port, lines.join('\n') + '\n');
        assert.equal(client.code, 0, client.stderr);
        assert.equal(client.stdout, lines.join('\n') + '\n');
      });
      const end = await server.stop();
      assert.equal(end.code, 0, end.stderr);
      assert.equal(end.stopped?.connections, 102);
    });

    test('--upper replies upper-cased (ASCII letters only)', async () => {
      const server = await Served.start(model, ['--upper']);
      await server.stopOnFailure(async () => {
        // 100 at once for every model, a process or thread per connection included (each of those 100 a
        // Node start-up, the suite's costliest part): the issue asks for 1 and 100 with --upper too.
        await pythonEcho(server.port, { connections: 100, upper: true, big: 10_000 });
        const client = await weftClient(server.port, lines.join('\n'));
        assert.equal(client.code, 0, client.stderr);
        assert.equal(client.stdout, lines.map(asciiUpper).join('\n') + '\n');
      });
      assert.equal((await server.stop()).code, 0);
    });
  });
}
