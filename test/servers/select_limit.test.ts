// select() watches fds below FD_SETSIZE (1024) only: `weft serve --model
// select` refuses a connection whose fd is past it, with one log line each,
// and keeps serving every other one. The server runs under a soft limit of
// 1024 open files, the usual default: Node raises its own soft limit to the
// hard one at start (checked here), so the server reaches fd 1024 and the
// limit it meets is select()'s, not EMFILE. The Python client raises its own
// limit to open 1,100 connections.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { Served, run } from './helpers.js';

const CLIENT = String.raw`
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < 1200:
    print('hard limit %d' % hard); sys.exit(3)
resource.setrlimit(resource.RLIMIT_NOFILE, (4096 if hard == resource.RLIM_INFINITY else min(hard, 4096), hard))
port = int(sys.argv[1])
def echoes(s, i):
    try:
        s.sendall(b'ping %d' % i)
        return s.recv(100) == b'ping %d' % i
    except OSError:
        return False
conns = [socket.create_connection(('127.0.0.1', port), timeout=10) for i in range(1100)]
time.sleep(0.5)
ok = [echoes(s, i) for i, s in enumerate(conns)]
served = [i for i, v in enumerate(ok) if v]
refused = [i for i, v in enumerate(ok) if not v]
for s in conns[:50]: s.close()
time.sleep(0.2)
later = [socket.create_connection(('127.0.0.1', port), timeout=10) for i in range(10)]
print(len(served), len(refused), max(served), min(refused), sum(echoes(s, i) for i, s in enumerate(later)))
`;

test('--model select refuses fds >= 1024 with one log line each and serves the others', async (t) => {
  let prefix: string[] | undefined = ['prlimit', '--nofile=1024:4096'];
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
  } catch {
    prefix = undefined; // util-linux's prlimit absent: the server keeps this process's limit
    t.diagnostic('prlimit is not installed: the server runs with the test\'s own limit on open files');
  }
  const server = await Served.start('select', [], { prefix });
  const limits = execFileSync('cat', [`/proc/${server.listening.pid}/limits`], { encoding: 'utf8' });
  const [, soft, hard] = /Max open files\s+(\d+)\s+(\d+)/.exec(limits)!;
  assert.equal(soft, hard, 'Node raised its soft limit on open files to the hard one');
  const r = await run('python3', ['-c', CLIENT, String(server.port)], { timeout: 60 });
  if (r.code === 3) {
    await server.stop();
    return t.diagnostic(`the hard limit on open files (${r.stdout.trim()}) is too low for 1,100 connections: not checked here`);
  }
  assert.equal(r.code, 0, r.stderr);
  const [served, refused, lastServed, firstRefused, later] = r.stdout.trim().split(' ').map(Number) as [number, number, number, number, number];
  assert.ok(refused > 0 && served > 900, `served ${served}, refused ${refused}`);
  assert.ok(lastServed < firstRefused, 'only the connections past the limit were refused');
  assert.equal(later, 10, 'connections made after some closed get low fds and are served');
  const end = await server.stop();
  assert.equal(end.code, 0, end.stderr);
  const lines = end.stderr.split('\n').filter((l) => l.includes("is past select()'s FD_SETSIZE (1024)"));
  assert.equal(lines.length, refused, end.stderr.slice(0, 500));
  assert.match(lines[0]!, /^weft serve: refusing 127\.0\.0\.1:\d+: fd \d{4,} is past select\(\)'s FD_SETSIZE \(1024\); --model poll or epoll serve it$/);
  assert.equal(end.stopped?.connections, served + 10);
});
