/** Pins weft/servers' public names (as test/io/exports.test.ts pins weft/io's): a change here is an API change. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as servers from 'weft/servers';
import { MODELS, Unavailable, serve, type EchoServer, type Model, type ServeOptions, type ServerStats, type StopOptions } from 'weft/servers';

test('weft/servers exports serve, the model names and the refusal, nothing of the designs themselves', () => {
  assert.deepEqual(Object.keys(servers).sort(), ['MODELS', 'Unavailable', 'serve']);
  assert.deepEqual([...MODELS], ['process', 'thread', 'select', 'poll', 'epoll', 'coro', 'event', 'prefork', 'uring']);
  assert.ok(new Unavailable('why') instanceof Error);
});

test('the types name what serve takes and gives', async () => {
  const options: ServeOptions = { model: 'select' satisfies Model, port: 0, maxConnections: 3 };
  const server: EchoServer = await serve(options);
  const stats: ServerStats = server.stats();
  assert.equal(stats.connections, 0);
  const now: StopOptions = { graceful: false };
  assert.deepEqual(await server.stop(now), { connections: 0, active: 0, messages: 0, bytes: 0, refused: 0 });
  await assert.rejects(serve({ model: 'nope' as Model }), /model must be one of process, thread/);
});
