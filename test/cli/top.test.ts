// `weft top` and WEFT_INSPECT: a program's socket (only when asked, private, gone
// at exit), the snapshot of its pools, queues and manager, the frame, the errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import type { Snapshot } from '../../src/inspect.js';
import { runNode } from '../helpers/run.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const program = fileURLToPath(new URL('./fixtures/inspected.js', import.meta.url));

// Each test's programs put their sockets in a directory of its own, so the list weft top finds is the test's.
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function runtimeDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-top-'));
  dirs.push(d);
  return d;
}

/** Starts the fixture program and resolves once it printed `ready`. */
async function start(dir: string, args: string[], inspect: string | undefined): Promise<ChildProcessWithoutNullStreams> {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: dir };
  if (inspect === undefined) delete env.WEFT_INSPECT;
  else env.WEFT_INSPECT = inspect;
  const child = spawn(process.execPath, [program, ...args], { env });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the program did not get ready: ${err}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the program exited with ${code}: ${err}`)));
  });
  return child;
}

/** Closes the program's stdin (it then ends) and waits for its exit. */
function finish(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdin.end();
  return exited;
}

const top = (dir: string, args: string[]) => runNode([cli, 'top', ...args], { env: { XDG_RUNTIME_DIR: dir, WEFT_INSPECT: undefined }, timeout: 30 });
const sockets = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('weft-inspect-'));

test('WEFT_INSPECT=1: weft top --json shows the pool, queues and manager; the socket is 0600 and gone at exit', async () => {
  const dir = runtimeDir();
  const child = await start(dir, ['process', 'manager'], '1');
  try {
    // The main process alone listens: its pool workers and manager server inherit the variable.
    assert.deepEqual(sockets(dir), [`weft-inspect-${child.pid}.sock`]);
    assert.equal(statSync(join(dir, sockets(dir)[0]!)).mode & 0o777, 0o600);
    const r = await top(dir, ['--json', String(child.pid)]);
    assert.equal(r.code, 0, r.stderr);
    const snap = JSON.parse(r.stdout) as Snapshot;
    assert.equal(snap.pid, child.pid);
    assert.equal(snap.pools.length, 1);
    const [pool] = snap.pools;
    assert.equal(pool!.name, 'inspected');
    assert.equal(pool!.context, 'process');
    assert.equal(pool!.state, 'RUN');
    assert.equal(pool!.stats.completed, 50);
    assert.equal(pool!.stats.failed, 0);
    assert.equal(pool!.stats.runTime.count, 50);
    assert.deepEqual(pool!.workers.map((w) => w.name), ['inspected-1', 'inspected-2']);
    assert.equal(pool!.workers.reduce((n, w) => n + w.tasksDone, 0), 50);
    for (const w of pool!.workers) {
      assert.ok(w.pid > 0 && w.pid !== child.pid, `worker pid ${w.pid}`);
      assert.equal(w.state, 'idle');
      assert.ok(w.utilization >= 0 && w.utilization <= 1);
    }
    assert.deepEqual(
      snap.queues.map(({ kind, qsize, puts, gets, maxsize }) => ({ kind, qsize, puts, gets, maxsize })),
      [
        { kind: 'Queue', qsize: 2, puts: 3, gets: 1, maxsize: 0 },
        { kind: 'JoinableQueue', qsize: 0, puts: 0, gets: 0, maxsize: 8 },
      ],
    );
    assert.equal(snap.managers.length, 1);
    const [m] = snap.managers;
    assert.equal(m!.started, true);
    assert.equal(m!.stats?.pid, m!.pid);
    assert.equal(m!.stats?.objects, 1); // the dict
    assert.equal(m!.stats?.connections, 1);
    assert.ok(m!.stats!.calls >= 2, `calls ${m!.stats!.calls}`); // dict() and set(), and this info

    // Without a PID, the only program is the one shown; --once prints one frame.
    const frame = await top(dir, ['--once']);
    assert.equal(frame.code, 0, frame.stderr);
    assert.match(frame.stdout, new RegExp(`^weft top: pid ${child.pid} · inspected\\.js process manager`));
    assert.match(frame.stdout, /^POOL 1 inspected · process · RUN · workers 2\/2 · queued 0 · running 0 · done 50 · failed 0/m);
    for (const w of pool!.workers) assert.match(frame.stdout, new RegExp(`^ *${w.pid}  ${w.name} +idle +0 +${w.tasksDone} `, 'm'));
    assert.match(frame.stdout, /^ +1 +Queue +2 +3 +1 +0 +- +1 MiB$/m);
    assert.match(frame.stdout, new RegExp(`^ +1 +${m!.address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +${m!.pid} +1 +1 `, 'm'));
    const list = await top(dir, ['--list']);
    assert.match(list.stdout, /^1 inspectable program \(weft top PID shows one\):\n *PID +UP +POOLS +QUEUES +MANAGERS +COMMAND\n/);
    assert.match(list.stdout, new RegExp(`^ *${child.pid} +[\\d.]+ s +1 +2 +1 +\\S*/inspected\\.js process manager$`, 'm'));
  } finally {
    assert.equal(await finish(child), 0);
  }
  assert.deepEqual(sockets(dir), [], 'the socket is removed at exit');
});

test('a thread pool shows its workers by tid; a SIGTERM nobody handles still removes the socket', async () => {
  const dir = runtimeDir();
  const child = await start(dir, ['thread'], '1');
  const r = await top(dir, ['--json', String(child.pid)]);
  assert.equal(r.code, 0, r.stderr);
  const snap = JSON.parse(r.stdout) as Snapshot;
  const [pool] = snap.pools;
  assert.equal(pool!.context, 'thread');
  assert.equal(pool!.stats.completed, 50);
  assert.equal(new Set(pool!.workers.map((w) => w.pid)).size, 2);
  for (const w of pool!.workers) assert.ok(w.pid > child.pid!, `a thread's tid, got ${w.pid}`);
  assert.deepEqual(snap.managers, []);
  const ended = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGTERM');
  assert.equal(await ended, 'SIGTERM', 'it still dies of the signal');
  assert.deepEqual(sockets(dir), []);
});

test('the socket keeps no program alive: one that only imports weft ends at once, and takes its socket along', async () => {
  const dir = runtimeDir();
  const weft = new URL('../../src/index.js', import.meta.url).href;
  const script = [
    `const { Queue } = await import(${JSON.stringify(weft)});`,
    `const { existsSync } = await import('node:fs');`,
    'new Queue();',
    "console.log('listening', existsSync(`${process.env.XDG_RUNTIME_DIR}/weft-inspect-${process.pid}.sock`));",
  ].join(' ');
  const r = await runNode(['--input-type=module', '-e', script], { env: { XDG_RUNTIME_DIR: dir, WEFT_INSPECT: '1' }, timeout: 20 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'listening true\n');
  assert.deepEqual(sockets(dir), []);
});

test('without WEFT_INSPECT no socket is opened, and weft top says how to fix it in one line, exit 2', async () => {
  const dir = runtimeDir();
  const child = await start(dir, ['thread'], undefined);
  try {
    assert.deepEqual(sockets(dir), []);
    const r = await top(dir, [String(child.pid)]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^weft top: program ${child.pid} does not answer on .*weft-inspect-${child.pid}\\.sock \\(ENOENT\\) — set WEFT_INSPECT=1 in the program's environment`));
    const none = await top(dir, ['--json']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^weft top: no inspectable weft program found in .* — set WEFT_INSPECT=1/);
    const debug = await top(dir, [String(child.pid), '--debug']);
    assert.match(debug.stderr, /\n +at /, 'the stack trace with --debug');
  } finally {
    await finish(child);
  }
  const gone = await top(dir, ['2147483646']);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /^weft top: no process 2147483646 is running — run `weft top` without a PID/);
});

test('on a terminal the view refreshes until q, and the terminal is restored', { skip: spawnSync('python3', ['-c', 'import pty']).status !== 0 && 'needs python3 for a pseudo-terminal' }, async () => {
  const dir = runtimeDir();
  const child = await start(dir, ['thread'], '1');
  try {
    // python3's pty module gives weft top a terminal; q is typed once the first frame is drawn.
    const driver = [
      'import os, pty, sys, time',
      'pid, fd = pty.fork()',
      'if pid == 0: os.execv(sys.argv[1], sys.argv[1:])',
      'out = b""',
      'end = time.time() + 20',
      'while b"QUEUES" not in out and time.time() < end: out += os.read(fd, 65536)',
      'time.sleep(0.3); os.write(fd, b"q")',
      'while True:',
      '  try: chunk = os.read(fd, 65536)',
      '  except OSError: break',
      '  if not chunk: break',
      '  out += chunk',
      '_, status = os.waitpid(pid, 0)',
      'sys.stdout.buffer.write(out); sys.exit(os.waitstatus_to_exitcode(status))',
    ].join('\n');
    const r = spawnSync('python3', ['-c', driver, process.execPath, cli, 'top', String(child.pid), '--interval', '0.1'], {
      env: { ...process.env, XDG_RUNTIME_DIR: dir },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.ok(r.stdout.startsWith('\x1b[?1049h\x1b[?25l'), 'the alternate screen, cursor hidden');
    assert.match(r.stdout, new RegExp(`weft top: pid ${child.pid} `));
    assert.match(r.stdout, /every 0\.1 s · q or Ctrl-C quits/);
    assert.match(r.stdout, /POOL 1 inspected · thread · RUN/);
    assert.ok(r.stdout.trimEnd().endsWith('\x1b[?25h\x1b[?1049l'), 'the cursor and the screen given back last');
  } finally {
    await finish(child);
  }
});
