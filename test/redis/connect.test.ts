/**
 * weft/redis connect(): credentials and ACL permissions are checked at
 * connect, with errors that say what to fix; close() and `await using`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthenticationError, ConnectionRefusedError, PermissionError, ValueError, connect } from 'weft/redis';
import { RedisServer, freePort } from './server.js';

let server: RedisServer;
before(async () => {
  server = await RedisServer.start(['--requirepass', 'sesame']);
  const admin = await connect(server.url, { password: 'sesame' });
  // A user that may touch only other keys, and one that lacks BLMOVE.
  await admin._conn.client.call('ACL', 'SETUSER', 'elsewhere', 'on', '>pw', '~other:*', '+@all');
  await admin._conn.client.call('ACL', 'SETUSER', 'noblock', 'on', '>pw', '~weft:*', '+@all', '-blmove');
  await admin.close();
});
after(() => server.stop());

describe('connect', () => {
  test('the right password connects; close() ends it and later calls say so', async () => {
    const cluster = await connect(`redis://:sesame@127.0.0.1:${server.port}`);
    assert.match(cluster.url, /:\*\*\*@/, 'the password is not shown');
    const d = await cluster.dict<string, number>('c1');
    await d.set('a', 1);
    assert.equal(await d.get('a'), 1);
    await cluster.close();
    await assert.rejects(d.get('a'), (e: Error) => e instanceof ValueError && /closed/.test(e.message));
    await cluster.close(); // twice is fine
  });

  test('await using closes at the end of the block', async () => {
    let kept;
    {
      await using cluster = await connect(server.url, { password: 'sesame' });
      kept = cluster;
      assert.equal(kept.prefix, 'weft:');
    }
    assert.throws(() => kept.Queue('q'), ValueError);
  });

  test('a wrong password fails at connect with AuthenticationError', async () => {
    await assert.rejects(connect(server.url, { password: 'wrong' }), (e: Error) => {
      assert.ok(e instanceof AuthenticationError, String(e));
      assert.match(e.message, /WRONGPASS/);
      assert.match(e.message, /check the username and password/);
      return true;
    });
    await assert.rejects(connect(server.url), (e: Error) => e instanceof AuthenticationError && /NOAUTH/.test(e.message));
  });

  test('a user without the key pattern or a command fails at connect, naming them', async () => {
    await assert.rejects(connect(server.url, { username: 'elsewhere', password: 'pw' }), (e: Error) => {
      assert.ok(e instanceof PermissionError, String(e));
      assert.match(e.message, /user 'elsewhere'/);
      assert.match(e.message, /keys 'weft:\*'/);
      return true;
    });
    await assert.rejects(connect(server.url, { username: 'noblock', password: 'pw' }), (e: Error) => {
      assert.ok(e instanceof PermissionError, String(e));
      assert.match(e.message, /blmove/);
      return true;
    });
  });

  test('nothing listening: ConnectionRefusedError naming the address', async () => {
    const port = await freePort();
    await assert.rejects(connect(`redis://127.0.0.1:${port}`), (e: Error) => {
      assert.ok(e instanceof ConnectionRefusedError, String(e));
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}.*is redis-server running`));
      return true;
    });
  });

  test('a prefix with braces is refused', async () => {
    await assert.rejects(connect(server.url, { prefix: 'a{b}' }), ValueError);
  });
});
