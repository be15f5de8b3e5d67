/**
 * `weft worker`: usage errors and a refused connection are one line with the
 * fix, as every weft command's are.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { runNode } from '../helpers/run.js';
import { RedisServer } from './server.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
let server: RedisServer;
before(async () => {
  server = await RedisServer.start(['--requirepass', 'sesame']);
});
after(() => server.stop());

test('weft worker: no server, bad options, a wrong password', async () => {
  const none = await runNode([cli, 'worker'], { env: { WEFT_REDIS_URL: undefined } });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^weft worker: no Redis server given: pass --redis redis:\/\/host:6379 .* — run `weft worker --help` for the options\n$/);
  const bad = await runNode([cli, 'worker', '--redis', server.url, '--context', 'fiber']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--context must be process or thread, got fiber/);
  const wrong = await runNode([cli, 'worker', '--redis', `redis://:nope@127.0.0.1:${server.port}`]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^weft worker: Redis at 127\.0\.0\.1:\d+ refused to authenticate user 'default' .* — check --redis, and that redis-server runs there\n$/);
  assert.equal(wrong.stderr.split('\n').length, 2, 'one line');
});
