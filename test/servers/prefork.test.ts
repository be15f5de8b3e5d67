// `weft serve --model prefork`: several processes serve one port
// (SO_REUSEPORT), and connections are spread over them.
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { Served } from './helpers.js';

/** Inodes of the established TCP sockets whose local port is `port` (the server's ends). */
function serverSockets(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && parseInt(f[1]!.split(':')[1]!, 16) === port && f[3] === '01') inodes.add(f[9]!);
  }
  return inodes;
}

/** Inodes of the sockets `pid` holds open. */
function socketsOf(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

test('--model prefork --workers 2 serves connections from both processes', async () => {
  const server = await Served.start('prefork', ['--workers', '2']);
  const [parent, ...workers] = server.listening.pids;
  assert.equal(parent, server.listening.pid);
  assert.equal(workers.length, 2);
  const clients: net.Socket[] = [];
  try {
    for (let i = 0; i < 24; i++) {
      const sock = net.connect(server.port, '127.0.0.1');
      await once(sock, 'connect');
      sock.write('x');
      await once(sock, 'data'); // accepted and served by now
      clients.push(sock);
    }
    const established = serverSockets(server.port);
    const serving = workers.filter((pid) => [...socketsOf(pid)].some((inode) => established.has(inode)));
    // 24 connections hashed over 2 sockets all landing on one: odds of 2^-23.
    assert.deepEqual(serving, workers, `connections held by ${serving.join(', ')} of ${workers.join(', ')}`);
    assert.ok(![...socketsOf(parent)].some((inode) => established.has(inode)), 'the parent serves none');
  } finally {
    clients.forEach((c) => c.destroy());
    const end = await server.stop();
    assert.equal(end.code, 0, end.stderr);
    assert.equal(end.stopped?.connections, 24);
  }
});
