// Process start options over both start methods: env, cwd, execArgv, argv, stdio,
// resourceLimits and title, and the clear refusals where a context cannot honour one.
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { Process, Queue, ValueError } from 'weft';
import { nameAndProbe, probe, speak, type Seen } from './fixtures/options-tasks.js';

const nodeMajor = Number(process.versions.node.split('.')[0]);

async function run(options: Omit<ConstructorParameters<typeof Process<typeof probe>>[0], 'target' | 'args'>): Promise<Seen> {
  const q = new Queue<Seen>();
  const p = new Process({ target: probe, args: [q], ...options });
  p.start();
  const seen = await q.get({ timeout: 30 });
  await p.join(30);
  assert.equal(p.exitCode, 0);
  return seen;
}

async function readAll(stream: Readable | null): Promise<string> {
  assert.ok(stream, 'stdio: pipe gives a stream');
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

for (const context of ['process', 'thread'] as const) {
  describe(`Process options (${context})`, () => {
    test('env replaces the environment; by default the parent\'s at start() is inherited', async () => {
      process.env.WEFT_OPTION_PROBE = 'inherited';
      try {
        assert.equal((await run({ context })).env, 'inherited');
        assert.equal((await run({ context, env: { WEFT_OPTION_PROBE: 'given', PATH: process.env.PATH } })).env, 'given');
        assert.equal((await run({ context, env: { PATH: process.env.PATH } })).env, null);
      } finally {
        delete process.env.WEFT_OPTION_PROBE;
      }
    });

    if (context === 'process') {
      test('variables Node reads as it starts (NODE_OPTIONS) take effect, given or changed after a child booted ahead', async () => {
        const limited = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=96` };
        // 96 MiB of old space, plus a young generation of 48 (Node 20, 22) or 192 MiB (Node 24), against a
        // default of gigabytes here.
        const usual = (await run({ context })).heapLimitMb;
        const isLimited = (mb: number) => mb < 400 && mb < usual - 200;
        assert.ok(isLimited((await run({ context, env: limited })).heapLimitMb), 'env given to the start');
        // A child was booted ahead after the starts above, with the parent's environment of then.
        const before = process.env.NODE_OPTIONS;
        process.env.NODE_OPTIONS = '--max-old-space-size=96';
        try {
          assert.ok(isLimited((await run({ context })).heapLimitMb), 'the parent changed NODE_OPTIONS after the boot ahead');
        } finally {
          if (before === undefined) delete process.env.NODE_OPTIONS;
          else process.env.NODE_OPTIONS = before;
        }
        assert.equal((await run({ context })).heapLimitMb, usual, 'and changed it back');
      });

      test('any other variable travels with the work: the child booted ahead still serves', async () => {
        await run({ context }); // a child is booted ahead once this one has booted
        await new Promise((r) => setTimeout(r, 1500));
        const asked = Date.now();
        const seen = await run({ context, env: { ...process.env, WEFT_OPTION_PROBE: 'given' } });
        assert.equal(seen.env, 'given');
        assert.ok(seen.origin < asked - 100, `started ${seen.origin - asked} ms after start() was called: booted for it`);
        await new Promise((r) => setTimeout(r, 1500));
        const again = Date.now();
        const own = await run({ context, env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --no-deprecation` } });
        assert.ok(own.origin >= again - 5, `started ${again - own.origin} ms before start() was called: not booted for its NODE_OPTIONS`);
      });
    }

    test('a name and env values cross as they were given (a lone surrogate; undefined leaves the variable out; a number is a string)', async () => {
      for (const [value, expected] of [[undefined, null], [5, '5'], ['\ud800 z', '\ufffd z']] as const) {
        const q = new Queue<[string, string | null]>();
        const env = { WEFT_OPTION_PROBE: value as string | undefined, PATH: process.env.PATH };
        const p = new Process({ target: nameAndProbe, args: [q], context, env, name: 'lone \udc00 surrogate' });
        p.start();
        const [name, probed] = await q.get({ timeout: 30 });
        await p.join(30);
        assert.equal(name, 'lone \udc00 surrogate');
        assert.equal(probed, expected);
      }
    });

    test('argv lands in process.argv; execArgv is added to the inherited options', async () => {
      const seen = await run({ context, argv: ['--flag', 'value'], execArgv: ['--no-deprecation'] });
      assert.deepEqual(seen.argv, ['--flag', 'value']);
      assert.ok(seen.execArgv.includes('--no-deprecation'), `execArgv: ${seen.execArgv.join(' ')}`);
      assert.deepEqual((await run({ context })).argv, []);
    });

    test("stdio: 'pipe' gives Readable streams; 'ignore' discards; the default inherits (no streams)", async () => {
      const piped = new Process({ target: speak, args: ['to stdout', 'to stderr'], context, stdio: 'pipe' });
      assert.equal(piped.stdout, null);
      piped.start();
      const [out, err] = await Promise.all([readAll(piped.stdout), readAll(piped.stderr), piped.join(30)]);
      assert.equal(out, 'to stdout');
      assert.equal(err, 'to stderr');
      const ignored = new Process({ target: speak, args: ['', ''], context, stdio: 'ignore' });
      ignored.start();
      await ignored.join(30);
      assert.equal(ignored.exitCode, 0);
      assert.equal(ignored.stdout, null);
      const plain = new Process({ target: speak, args: ['', ''], context });
      plain.start();
      await plain.join(30);
      assert.equal(plain.stdout, null);
    });

    test('bad options are refused at construction, naming the fix', () => {
      const make = (o: object) => () => new Process({ target: probe, context, ...o });
      assert.throws(make({ stdio: 'tty' }), { name: 'ValueError', message: /stdio must be 'inherit', 'ignore' or 'pipe'/ });
      assert.throws(make({ argv: 'x' }), { name: 'TypeError', message: /argv must be an array of strings/ });
      assert.throws(make({ execArgv: [1] }), { name: 'TypeError', message: /execArgv must be an array of strings/ });
      assert.throws(make({ env: 'A=1' }), { name: 'TypeError', message: /env must be an object/ });
    });

    if (context === 'process') {
      test('cwd sets the working directory; title is what ps shows', async () => {
        const dir = realpathSync(mkdtempSync(join(tmpdir(), 'weft-cwd-')));
        try {
          const seen = await run({ context, cwd: dir, title: 'weft-probe' });
          assert.equal(seen.cwd, dir);
          assert.equal(seen.title, 'weft-probe');
          assert.equal(seen.comm, 'weft-probe'); // /proc/PID/comm, what ps and top show
          assert.equal((await run({ context })).cwd, process.cwd());
        } finally {
          rmSync(dir, { recursive: true });
        }
      });

      test('resourceLimits is refused for a process child, naming execArgv', () => {
        assert.throws(() => new Process({ target: probe, context, resourceLimits: { maxOldGenerationSizeMb: 64 } }), (e: Error) =>
          e instanceof ValueError && /--max-old-space-size/.test(e.message));
      });
    } else {
      test('cwd is refused for a thread, naming the process context', () => {
        assert.throws(() => new Process({ target: probe, context, cwd: '/' }), (e: Error) =>
          e instanceof ValueError && /cwd does not apply to a worker thread/.test(e.message) && /'process' context/.test(e.message));
      });

      test('resourceLimits bound the thread\'s heap; title names the thread (Node 22+) without renaming the process', async () => {
        const seen = await run({ context, resourceLimits: { maxOldGenerationSizeMb: 48 }, title: 'weft-probe' });
        // heap_size_limit adds the young generation (48 MiB on Node 20, 192 on 24) to the old one; unlimited, it is the starter's (~4 GiB).
        assert.ok(seen.heapLimitMb < 512, `heap limit ${seen.heapLimitMb} MiB`);
        assert.notEqual(process.title, 'weft-probe');
        if (nodeMajor >= 24) assert.equal(seen.threadName, 'weft-probe');
        else console.log(`# Node ${process.versions.node} has no worker threadName to check; the name is passed as Worker's name option`);
      });
    }
  });
}
