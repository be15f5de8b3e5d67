// Checks of `npm run bench -- --load ...` (bench/lib/harness.ts) that need no
// quiet machine: a run interrupted with Ctrl-C or SIGTERM leaves no CPU hog and
// no measurement behind, and a wrong option is refused with the fix named.
//   node --test dist/bench/load/harness.test.js
import { spawn, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const run = fileURLToPath(new URL('../run.js', import.meta.url));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => boolean, seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} mid-run ends the hogs and the measurement in progress`, async () => {
    const harness = spawn(process.execPath, [run, '--load', 'hogs', '--rows', 'lock', '--quick', '--runs', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    harness.stderr!.on('data', (d: Buffer) => (err += d));
    const exited = new Promise<number | null>((r) => harness.on('exit', (code) => r(code)));
    let hogs: number[] = [];
    let running: number[] = [];
    try {
      await until('the hogs to start', () => /pids [\d ]+\n/.test(err), 30);
      hogs = err.match(/pids ([\d ]+)\n/)![1]!.trim().split(' ').map(Number);
      assert.ok(hogs.length >= 1 && hogs.every(alive), `hogs ${hogs} running`);
      // the first measurement is a process group led by a child of the harness
      const measurement = () =>
        spawnSync('ps', ['-o', 'pid=', '--ppid', String(harness.pid)], { encoding: 'utf8' }).stdout.split('\n').map(Number)
          .filter((pid) => pid && !hogs.includes(pid));
      await until('a measurement to start', () => measurement().length > 0, 30);
      running = measurement();
      harness.kill(signal);
      assert.equal(await exited, signal === 'SIGINT' ? 130 : 143);
      await until('hogs and measurement to end', () => ![...hogs, ...running].some(alive), 5);
    } finally {
      // a failing harness must not leave its hogs to the next test or the next user
      if (harness.exitCode === null) harness.kill('SIGKILL');
      for (const pid of hogs.filter(alive)) process.kill(pid, 'SIGKILL');
      for (const pid of running.filter(alive)) process.kill(-pid, 'SIGKILL'); // it leads its process group
    }
  });
}

test('an unknown condition or row is refused with the choices', () => {
  for (const [flag, bad, choices] of [['--load', 'busy', 'idle, hogs, quota, onecore'], ['--rows', 'queue', 'transport, lock, manager, pool, first']]) {
    const r = spawnSync(process.execPath, [run, flag!, bad!], { encoding: 'utf8', timeout: 30_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`${flag} ${bad}: unknown; choose from ${choices}`));
  }
});
