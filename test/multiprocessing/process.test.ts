// Process over both start methods: lifecycle, exit codes, errors, nesting,
// and the fault paths Python leaves to the user (orphans, fork bombs).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { Process, UnsendableError, ValueError, activeChildren, cpuCount, currentProcess, getContext, parentProcess } from 'weft';
import { eventually, pidAlive, runNode, sleep } from '../helpers/run.js';
import { environment, exitWith, fail, nest, noop, report, sleepFor } from './fixtures/procs.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

for (const context of ['process', 'thread'] as const) {
  describe(`Process (${context})`, () => {
    test('runs the target and exits 0; pid is set and unique', async () => {
      const p = new Process({ target: noop, context });
      assert.equal(p.exitCode, null);
      assert.equal(p.pid, undefined);
      p.start();
      assert.ok(p.pid! > 0);
      assert.notEqual(p.pid, process.pid);
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.equal(p.isAlive(), false);
      assert.equal(p.context, context);
    });

    test('a target that throws exits 1; process.exit(N) exits N', async () => {
      const f = new Process({ target: fail, args: ['deliberate'], context });
      const e = new Process({ target: exitWith, args: [7], context });
      f.start();
      e.start();
      await Promise.all([f.join(), e.join()]);
      assert.equal(f.exitCode, 1);
      assert.equal(e.exitCode, 7);
    });

    test('process.exitCode set by the target is the exit code; a timer that throws after it returned is reported, exit 1 (unless the task handles it)', async () => {
      const script = `
        import { Process } from 'weft';
        import { catchLater, setExitCode, throwLater } from ${JSON.stringify(new URL('./fixtures/procs.js', import.meta.url).href)};
        const coded = new Process({ target: setExitCode, args: [20], context: '${context}', name: 'coded' });
        const late = new Process({ target: throwLater, args: ['thrown by a timer'], context: '${context}', name: 'late' });
        const caught = new Process({ target: catchLater, args: ['its own handler'], context: '${context}', name: 'caught' });
        for (const p of [coded, late, caught]) p.start();
        await Promise.all([coded.join(20), late.join(20), caught.join(20)]);
        console.log(JSON.stringify([coded.exitCode, late.exitCode, caught.exitCode]));
      `;
      const r = await runNode(['--input-type=module', '-e', script], { timeout: 60 });
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(JSON.parse(lines.at(-1)!), [20, 1, 0], r.stderr);
      assert.ok(lines.includes('caught: its own handler'), r.stdout);
      assert.doesNotMatch(r.stderr, /Process caught/);
      assert.match(r.stderr, /Process late:\n.*RangeError: thrown by a timer/s);
    });

    test('kill() gives -9 and terminate() gives -15, as Python', async () => {
      const k = new Process({ target: sleepFor, args: [30], context });
      const t = new Process({ target: sleepFor, args: [30], context });
      k.start();
      t.start();
      void k.pid; // wait for a worker thread to be running
      void t.pid;
      k.kill();
      t.terminate();
      await Promise.all([k.join(), t.join()]);
      assert.equal(k.exitCode, -9);
      assert.equal(t.exitCode, -15);
    });

    test('join(timeout) returns while the child still runs', async () => {
      const p = new Process({ target: sleepFor, args: [30], context });
      p.start();
      const started = performance.now();
      await p.join(0.2);
      const waited = (performance.now() - started) / 1000;
      assert.ok(waited >= 0.19 && waited < 2, `waited ${waited} s`);
      assert.equal(p.isAlive(), true);
      assert.equal(p.exitCode, null);
      assert.throws(() => p.close(), ValueError);
      p.kill();
      await p.join();
      p.close();
      assert.throws(() => p.isAlive(), /closed/);
    });

    test('a child sees the environment as it was at start(), even when booted before', async () => {
      const { Queue } = await import('weft');
      const q = new Queue<{ value: string | null; cwd: string }>();
      const first = new Process({ target: environment, args: [q, 'WEFT_TEST_VALUE'], context });
      first.start();
      assert.deepEqual(await q.get({ timeout: 20 }), { value: null, cwd: process.cwd() });
      await first.join();
      await sleep(0.3); // the next child is booting meanwhile
      process.env.WEFT_TEST_VALUE = `set after boot (${context})`;
      try {
        const second = new Process({ target: environment, args: [q, 'WEFT_TEST_VALUE'], context });
        second.start();
        assert.deepEqual(await q.get({ timeout: 20 }), { value: `set after boot (${context})`, cwd: process.cwd() });
        await second.join();
      } finally {
        delete process.env.WEFT_TEST_VALUE;
      }
    });

    test('a process starts a process; each knows its own and its parent pid and name', async () => {
      const lines: string[] = [];
      const original = process.stdout.write.bind(process.stdout);
      // Children write straight to fd 1 (processes) or through this stream (threads): run in a child node to see both.
      void original;
      void lines;
      const script = `
        import { Process } from 'weft';
        import { nest } from ${JSON.stringify(new URL('./fixtures/procs.js', import.meta.url).href)};
        const p = new Process({ target: nest, args: [${JSON.stringify(context)}], context: ${JSON.stringify(context)} });
        p.start();
        console.log(JSON.stringify({ tag: 'main', pid: process.pid, child: p.pid }));
        await p.join();
        process.exitCode = p.exitCode;
      `;
      const r = await runNode(['--input-type=module', '-e', script]);
      assert.equal(r.code, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const main = rows.find((x) => x.tag === 'main');
      const outer = rows.find((x) => x.tag === 'outer');
      const inner = rows.find((x) => x.tag === 'inner');
      assert.equal(outer.pid, main.child);
      assert.equal(outer.ppid, main.pid);
      assert.equal(outer.name, 'Process-1');
      assert.equal(outer.pname, 'MainProcess');
      assert.equal(inner.ppid, outer.pid);
      assert.equal(inner.name, 'Process-1:1');
      assert.equal(inner.pname, 'Process-1');
      assert.notEqual(inner.pid, outer.pid);
    });
  });
}

describe('Process: errors name the fix', () => {
  test('a target not declared with task() is refused at start() with a TypeError', () => {
    const p = new Process({ target: function plain() {} });
    assert.throws(() => p.start(), (err: Error) => err instanceof TypeError && /task\(import\.meta, plain\)/.test(err.message));
    assert.equal(p.pid, undefined);
  });

  test('an argument that cannot cross is refused with its path, and nothing starts', () => {
    const before = activeChildren().length;
    const p = new Process({ target: report, args: [{ deep: [1, { fn: () => 1 }] }] as never });
    assert.throws(() => p.start(), (err: Error) => err instanceof UnsendableError && /args\[0\]\.deep\[1\]\.fn/.test(err.message));
    assert.equal(activeChildren().length, before);
  });

  test('starting twice throws; options must be an object', async () => {
    const p = new Process({ target: noop });
    p.start();
    assert.throws(() => p.start(), /twice/);
    await p.join();
    assert.throws(() => new Process(undefined as never), TypeError);
  });

  test('getContext refuses unknown start methods', () => {
    assert.throws(() => getContext('fork' as never), ValueError);
    assert.equal(getContext('thread').name, 'thread');
    assert.equal(getContext(), getContext('process'));
    const ctx = getContext('thread');
    const p = new ctx.Process({ target: noop });
    assert.equal(p.context, 'thread');
  });

  test('a child that imports an unguarded module cannot start processes (no fork bomb)', async () => {
    const r = await runNode([fixture('unguarded.js')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /child exit code 1/);
    assert.match(r.stderr, /bootstrapping phase/);
    assert.match(r.stderr, /isMainModule/);
    assert.doesNotMatch(r.stdout, /hello from child/);
  });
});

describe('Process: the main process and its children', () => {
  test('currentProcess, parentProcess, cpuCount, activeChildren', async () => {
    assert.equal(currentProcess().name, 'MainProcess');
    assert.equal(currentProcess().pid, process.pid);
    assert.equal(parentProcess(), null);
    assert.ok(cpuCount() >= 1);
    const p = new Process({ target: sleepFor, args: [30] });
    p.start();
    assert.ok(activeChildren().includes(p));
    p.kill();
    await p.join();
    assert.ok(!activeChildren().includes(p));
  });

  test("a process's repr never waits: a thread's tid shows once the thread has published it", async () => {
    // In a fresh process, so that no thread booted ahead of need (whose tid
    // is known at once) serves the start.
    const { code, stdout, stderr } = await runNode(['--input-type=module', '-e', `
      import { Process } from 'weft';
      import { noop } from ${JSON.stringify(new URL('./fixtures/procs.js', import.meta.url).href)};
      const t = new Process({ target: noop, name: 'T', context: 'thread' });
      const out = [String(t)];
      t.start();
      out.push(String(t)); // the thread boots for tens of ms after start() returns
      await t.join();
      out.push(String(t));
      const p = new Process({ target: noop, name: 'P' });
      p.start();
      out.push(String(p), String(p.pid));
      await p.join();
      console.log(JSON.stringify(out));`]);
    assert.equal(code, 0, stderr);
    const [initial, started, stopped, process, pid] = JSON.parse(stdout) as string[];
    assert.equal(initial, "<Process name='T' initial>");
    assert.equal(started, "<Process name='T' started>", 'reading the tid here would have blocked until the thread booted');
    assert.match(stopped!, /^<Process name='T' pid=\d+ stopped exitcode=0>$/);
    assert.equal(process, `<Process name='P' pid=${pid} started>`);
  });

  test('no child outlives a parent killed with SIGKILL (daemon or not), within 5 s', async () => {
    const { spawn } = await import('node:child_process');
    const parent = spawn(process.execPath, [fixture('orphans.js'), 'wait'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => parent.stdout.once('data', (d) => resolve(String(d))));
    const pids = JSON.parse(line) as { daemon: number; normal: number };
    assert.ok(pidAlive(pids.daemon) && pidAlive(pids.normal));
    parent.kill('SIGKILL');
    // The kernel sends the children SIGKILL as the parent's exit ends (PR_SET_PDEATHSIG), at once
    // on an idle machine; on one whose load average is in the tens, the parent's and then the
    // children's teardown (unmapping a Node heap each) has been seen to take over a second.
    await eventually(() => !pidAlive(pids.daemon) && !pidAlive(pids.normal), 5, 'children to exit after their parent died');
  });

  test('a worker thread that runs out of memory ends alone (exit 1); its starter lives on', async () => {
    const script = `
      import { Process } from 'weft';
      import { exhaustMemory } from ${JSON.stringify(new URL('./fixtures/procs.js', import.meta.url).href)};
      const p = new Process({ target: exhaustMemory, context: 'thread' });
      p.start();
      await p.join();
      console.log('child exit code', p.exitCode, '- parent still here');
    `;
    const r = await runNode(['--max-old-space-size=96', '--input-type=module', '-e', script], { timeout: 60 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /child exit code 1 - parent still here/);
  });

  test('await join() on a daemon child keeps the program alive until the child ends', async () => {
    const script = `
      import { Process } from 'weft';
      import { sleepFor } from ${JSON.stringify(new URL('./fixtures/procs.js', import.meta.url).href)};
      async function main() {
        for (const context of ['process', 'thread']) {
          const p = new Process({ target: sleepFor, args: [0.3], daemon: true, context });
          p.start();
          await p.join();
          console.log('joined', context, p.exitCode);
        }
      }
      void main(); // not awaited at the top level: only the join holds the program
    `;
    const r = await runNode(['--input-type=module', '-e', script], { timeout: 60 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'joined process 0\njoined thread 0\n');
  });

  test('a daemon child ends when its parent exits and does not keep it alive', async () => {
    const r = await runNode([fixture('orphans.js'), 'exit'], { timeout: 20 });
    assert.equal(r.code, 0, r.stderr);
    const pids = JSON.parse(r.stdout) as { daemon: number };
    await eventually(() => !pidAlive(pids.daemon), 1, 'the daemon child to exit');
  });
});
