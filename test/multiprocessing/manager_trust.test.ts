/**
 * The remote Manager's trust boundary: what a network peer can do before it
 * authenticates (hold a slot for a while, no more), what a key holder can reach
 * (what the listener exposed and what that hands out), which module files a
 * manager.Pool() imports, what an error tells a remote peer, and the errors a
 * client sees when it cannot get through.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { AuthenticationError, EOFError, Manager, RemoteError, type DictProxy, type PoolProxy } from 'weft';
import { ConnectionRefusedError, gaierror } from 'weft/io';
import { Client, answerChallenge } from '../../src/internals.js';
import { makeCounter, type Counter } from './fixtures/manager-counter.js';
import { square } from './fixtures/pool-tasks.js';
import { trackManagers } from './started.js';

Manager.register('Counter', makeCounter);

const started = trackManagers();

/** A TCP connection that never says a word, from `localAddress` (any of 127.0.0.0/8 on Linux). */
function silent(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('Remote manager: before authentication', () => {
  test('4,096 silent connections do not keep a client with the key out; a connection closed for them says why', async () => {
    await using m = await started();
    const d = await m.dict({ k: 'v' });
    const { port } = await m.serve({ port: 0, authkey: 'secret', exposed: { d } });
    const socks: net.Socket[] = [];
    try {
      const t0 = performance.now();
      for (let i = 0; i < 4096; i += 256) {
        // From 17 loopback addresses: past the limit per address, and in all.
        const batch = Array.from({ length: 256 }, (_, j) => silent(port, `127.0.0.${2 + ((i + j) % 17)}`));
        for (const s of await Promise.all(batch)) {
          s.on('error', () => {});
          socks.push(s);
        }
      }
      const t1 = performance.now();
      await using remote = await Manager.connect({ host: '127.0.0.1', port, authkey: 'secret' });
      const rd = await remote.get<DictProxy<string, string>>('d');
      assert.equal(await rd.get('k'), 'v');
      const t2 = performance.now();
      assert.ok(t2 - t1 < 3000, `the keyed client got through in ${Math.round(t2 - t1)} ms (after a flood of ${Math.round(t1 - t0)} ms)`);
      // A silent connection closed to make room for newer ones from its address learns why when it answers.
      const first = await silent(port, '127.0.0.1');
      for (let i = 0; i < 8; i++) socks.push(await silent(port, '127.0.0.1'));
      // The server greets the eighth once it has made room for it.
      await new Promise((resolve) => socks.at(-1)!.once('data', resolve));
      const why = await answerChallenge(first, Buffer.from('secret'), 5000, 1 << 20, `tcp://127.0.0.1:${port}`).catch((e: Error) => e);
      first.destroy();
      assert.ok(why instanceof ConnectionRefusedError && /turned this connection away: closed unauthenticated after newer connections from 127\.0\.0\.1/.test(why.message), String(why));
    } finally {
      for (const s of socks) s.destroy();
    }
  });

  test('a connection that does not finish the handshake in time is closed with the reason', async () => {
    await using m = await started({ handshakeTimeout: 0.3 });
    const { port } = await m.serve({ port: 0, authkey: 'secret' });
    const s = await silent(port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 600));
    const why = await answerChallenge(s, Buffer.from('secret'), 5000, 1 << 20, `tcp://127.0.0.1:${port}`).catch((e: Error) => e);
    s.destroy();
    assert.ok(why instanceof ConnectionRefusedError && /closed unauthenticated: manager handshake did not complete within 0.3 s/.test(why.message), String(why));
  });
});

describe('Remote manager: what a key holder reaches', () => {
  test('only the exposed objects and what they hand out, by any id; server operations only if allowed', async () => {
    await using m = await started();
    const secret = await m.dict<string, string>({ password: 'hunter2' });
    const shared = await m.dict<string, unknown>({ hits: 1 });
    const { port } = await m.serve({ port: 0, authkey: 'k', exposed: { shared } });
    const address = `tcp://127.0.0.1:${port}`;
    const peer = new Client(address, Buffer.from('k'));
    await peer.connect();
    try {
      const notReachable = (e: Error) => e instanceof ReferenceError && /not reachable from this connection/.test(e.message);
      await assert.rejects(peer.call(secret.id, 'get', ['password']), notReachable);
      await assert.rejects(peer.call(secret.id, 'set', ['password', 'owned']), notReachable);
      await assert.rejects(peer.call(0, 'incref', [secret.id]), notReachable);
      await assert.rejects(peer.call(987654, 'get', ['x']), notReachable, 'an id that does not exist answers the same');
      // A record naming the secret dict, stored through an exposed object, gives no access either.
      const rshared = (await peer.call(0, 'lookup', ['shared'])) as DictProxy<string, unknown>;
      await peer.call(rshared.id, 'set', ['stolen', secret]);
      await assert.rejects(peer.call(secret.id, 'get', ['password']), notReachable);
      assert.equal(await secret.get('password'), 'hunter2');
      // Server operations the owner did not allow.
      const refused = (op: string) => (e: Error) => e instanceof RemoteError && e.remoteName === 'PermissionError' && new RegExp(`'${op}' operation is not open to remote clients`).test(e.message);
      await assert.rejects(peer.call(0, 'serve', [{ host: '0.0.0.0', port: 0, authkey: '6b', exposed: {} }]), refused('serve'));
      await assert.rejects(peer.call(0, 'create', ['dict', [{}]]), refused('create'));
      await assert.rejects(peer.call(0, 'shutdown', []), refused('shutdown'));
      assert.equal(await m.stats().then((s) => s.pid), m.pid, 'the server is still up');
    } finally {
      peer.close();
    }
    // What an exposed object hands out is reachable, and `allow` opens create.
    const counter = await m.create<Counter>('Counter', 1);
    await shared.set('counter', counter);
    const { port: open } = await m.serve({ port: 0, authkey: 'k2', exposed: { shared }, allow: ['create'] });
    await using remote = await Manager.connect({ host: '127.0.0.1', port: open, authkey: 'k2' });
    const rs = await remote.get<DictProxy<string, Counter>>('shared');
    const rc = (await rs.get('counter')) as unknown as Counter;
    assert.equal(await rc.add(1), 2);
    const made = await remote.dict({ z: 26 });
    assert.deepEqual(await made.toObject(), { z: 26 });
    await assert.rejects(m.serve({ port: 0, authkey: 'k3', allow: ['register' as 'create'] }), (e: Error) => e instanceof TypeError && /allow/.test(e.message));
  });

  test("a remote peer gets an error's class and message, not the server's stack; a local one keeps it", async () => {
    await using m = await started();
    const counter = await m.create<Counter>('Counter', 0);
    await assert.rejects(counter.callMethod('failCustom'), (e: Error) => e instanceof RemoteError && /failCustom/.test(e.remoteStack));
    const { port } = await m.serve({ port: 0, authkey: 'k', exposed: { counter } });
    await using remote = await Manager.connect({ host: '127.0.0.1', port, authkey: 'k' });
    const rc = await remote.get('counter');
    await assert.rejects(rc.callMethod('failCustom'), (e: Error) =>
      e instanceof RemoteError && e.remoteName === 'CounterError' && e.message === 'CounterError: custom trouble' && e.remoteStack === '');
    await assert.rejects(rc.callMethod('fail'), (e: Error) => e instanceof RangeError && !/manager-counter|on the manager server/.test(e.stack!));
  });
});

describe('Remote manager: task modules of manager.Pool()', () => {
  test('only module files under the allowed roots, with a module extension; every refusal reads the same', async () => {
    const base = mkdtempSync(join(tmpdir(), 'weft-trust-'));
    const root = join(base, 'tasks');
    const elsewhere = join(base, 'elsewhere');
    mkdirSync(root);
    mkdirSync(elsewhere);
    const marker = join(base, 'imported');
    const weft = new URL('../../src/index.js', import.meta.url).href; // this build's weft, by path: the temp dir has no node_modules
    // Each would leave the marker if the server ran it.
    const leaves = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`;
    writeFileSync(join(root, 'noext'), leaves);
    writeFileSync(join(elsewhere, 'outside.mjs'), `import { writeFileSync } from 'node:fs';\nimport { task } from '${weft}';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport const t = task(import.meta, () => 1, 't');\n`);
    symlinkSync(join(elsewhere, 'outside.mjs'), join(root, 'link.mjs'));
    writeFileSync(join(root, 'ok.mjs'), `import { task } from '${weft}';\nexport const double = task(import.meta, (x) => 2 * x, 'double');\n`);
    try {
      await using m = await started({ taskRoots: [root] });
      const pool: PoolProxy = await m.Pool({ processes: 1 });
      const url = (path: string) => pathToFileURL(path).href;
      const refusals = [
        'file:///etc/shadow',
        url(join(root, 'noext')),
        url(join(elsewhere, 'outside.mjs')),
        url(join(root, 'link.mjs')),
        url(join(root, 'missing.mjs')),
        `${url(join(root, 'ok.mjs'))}?again`,
        'data:text/javascript,export default 1',
      ];
      for (const target of refusals) {
        await assert.rejects(pool.callMethod('apply', [{ url: target, name: 't' }, [1]]), (e: Error) =>
          e instanceof TypeError && e.message === 'not an allowed task module', target);
      }
      assert.equal(existsSync(marker), false, 'no refused module was run');
      // weft's own modules are never task modules: the manager server's task would remove the directory it is given.
      const victim = join(base, 'victim');
      mkdirSync(victim);
      await using wide = await started({ taskRoots: [fileURLToPath(new URL('../../../', import.meta.url)), root] });
      const widePool: PoolProxy = await wide.Pool({ processes: 1 });
      for (const url of [weft, new URL('../../src/multiprocessing/manager_server.js', import.meta.url).href]) {
        await assert.rejects(widePool.callMethod('apply', [{ url, name: 'managerServerMain' }, [{ path: join(victim, 's'), dir: victim, authkey: '6b', registry: [], parentPid: process.pid, taskRoots: [] }]]), (e: Error) =>
          e instanceof TypeError && e.message === 'not an allowed task module', url);
      }
      assert.equal(existsSync(victim), true);
      assert.equal(await widePool.callMethod('apply', [{ url: url(join(root, 'ok.mjs')), name: 'double' }, [4]]), 8);
      assert.equal(await pool.callMethod('apply', [{ url: url(join(root, 'ok.mjs')), name: 'double' }, [21]]), 42);
      // The default root is the directory of the script that started the manager (this test's).
      await using byDefault = await started();
      const fromHere = await byDefault.Pool({ processes: 1 });
      assert.equal(await fromHere.apply(square, [5]), 25);
      await assert.rejects(fromHere.callMethod('apply', [{ url: url(join(root, 'ok.mjs')), name: 'double' }, [1]]), /^TypeError: not an allowed task module$/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('Remote manager: client errors', () => {
  test('no authkey, an unknown host, a bad port, a peer that is not a weft manager: each says so', async () => {
    await assert.rejects(Manager.connect({ host: '127.0.0.1', port: 1 } as never), (e: Error) => e instanceof TypeError && /authkey is required/.test(e.message));
    await using m = await started();
    await assert.rejects(m.serve({ port: 0 } as never), (e: Error) => e instanceof TypeError && /serve: authkey is required/.test(e.message));
    await assert.rejects(Manager.connect({ host: 'no-such-host.invalid', port: 1, authkey: 'k' }), (e: Error) =>
      e instanceof gaierror && (e.errno === -2 || e.errno === -3) && /^\[Errno -[23]\] (Name or service not known|Temporary failure in name resolution)$/.test(e.message));
    await assert.rejects(Manager.connect({ host: '127.0.0.1', port: 70000, authkey: 'k' }), /port must be 0-65535/);
    // An HTTP server answers with its own bytes, another closes at once, a third says nothing.
    const servers = [
      net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')),
      net.createServer((s) => s.destroy()),
      net.createServer((s) => s.on('error', () => {})),
    ];
    const ports = await Promise.all(servers.map((srv) => new Promise<number>((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port)))));
    try {
      await assert.rejects(Manager.connect({ host: '127.0.0.1', port: ports[0]!, authkey: 'k' }), (e: Error) =>
        e instanceof AuthenticationError && /is not a weft manager: its first bytes are not a weft manager's greeting/.test(e.message));
      await assert.rejects(Manager.connect({ host: '127.0.0.1', port: ports[1]!, authkey: 'k' }), (e: Error) =>
        e instanceof EOFError && /closed before a weft manager's greeting .*or the peer is not a weft manager/.test(e.message));
      const s = net.connect(ports[2]!, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      await assert.rejects(answerChallenge(s, Buffer.from('k'), 200, 1 << 20, `tcp://127.0.0.1:${ports[2]}`), (e: Error) =>
        e instanceof AuthenticationError && /is not a weft manager: it sent no greeting within 0.2 s/.test(e.message));
      s.destroy();
    } finally {
      for (const srv of servers) srv.close();
    }
  });
});
