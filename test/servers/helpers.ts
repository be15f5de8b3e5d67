// Helpers of the `weft serve` suites: start a server as a person would
// (`weft serve --json`), talk to it from Python's socket module and from
// `weft client`, stop it with a signal, and see which processes it left.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { pidAlive, runNode, runProgram, type RunResult } from '../helpers/run.js';

export const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export const MODELS = ['process', 'thread', 'select', 'poll', 'epoll', 'coro', 'event', 'prefork', 'uring'] as const;

/** How a `weft serve` ended. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The `{"event":"stopped",...}` line, parsed. */
  stopped?: { event: string; connections: number; messages: number; bytes: number; seconds: number };
}

const running = new Set<ChildProcessWithoutNullStreams>();
// A failed assertion must not leave a server behind: every one started here is killed (by its pid) at the end.
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** A `weft serve --port 0 --json` started by a test. */
export class Served {
  stdout = '';
  stderr = '';
  readonly ended: Promise<Ended>;

  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    readonly listening: { model: string; host: string; port: number; pid: number; pids: number[] },
    ended: Promise<Ended>,
  ) {
    this.ended = ended;
  }

  get port(): number {
    return this.listening.port;
  }

  /** Start `weft serve --model model --port 0 --json ...args`; resolves once its listening line is out (60 s at most). */
  static start(model: string, args: string[] = [], options: { prefix?: string[] } = {}): Promise<Served> {
    const [cmd, ...pre] = options.prefix ?? [process.execPath];
    const argv = [...pre, ...(options.prefix ? [process.execPath] : []), cli, 'serve', '--model', model, '--port', '0', '--json', ...args];
    const child = spawn(cmd!, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    const ended = new Promise<Ended>((resolve) => {
      child.on('exit', (code, signal) => {
        running.delete(child);
        const last = stdout.trim().split('\n').at(-1) ?? '';
        let stopped: Ended['stopped'];
        try {
          const parsed = JSON.parse(last) as Ended['stopped'];
          if (parsed?.event === 'stopped') stopped = parsed;
        } catch {
          stopped = undefined;
        }
        resolve({ code, signal, stdout, stderr, stopped });
      });
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`weft serve --model ${model} did not listen within 60 s; stderr: ${stderr}`));
      }, 60_000);
      child.stderr.on('data', (d) => {
        stderr += d;
        if (served) served.stderr = stderr;
      });
      let served: Served | undefined;
      child.stdout.on('data', (d) => {
        stdout += d;
        if (served) served.stdout = stdout;
        else if (stdout.includes('\n')) {
          clearTimeout(timer);
          served = new Served(child, JSON.parse(stdout.split('\n')[0]!), ended);
          served.stdout = stdout;
          served.stderr = stderr;
          resolve(served);
        }
      });
      void ended.then((e) => {
        clearTimeout(timer);
        if (!served) reject(Object.assign(new Error(`weft serve --model ${model} exited with ${e.code} before listening: ${e.stderr}`), { ended: e }));
      });
    });
  }

  /** Run `checks`; when they fail, the server is killed before their failure is reported (and no later assertion hides it). */
  async stopOnFailure(checks: () => Promise<void>): Promise<void> {
    try {
      await checks();
    } catch (err) {
      this.child.kill('SIGKILL');
      await this.ended;
      throw err;
    }
  }

  /** Send `signal` and wait for the end (20 s at most, then SIGKILL and a failure). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', seconds = 20): Promise<Ended> {
    this.child.kill(signal);
    return this.wait(seconds);
  }

  /** The end, within `seconds`. */
  async wait(seconds = 20): Promise<Ended> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, seconds * 1000, 'late')));
    const r = await Promise.race([this.ended, late]);
    clearTimeout(timer);
    if (r === 'late') {
      this.child.kill('SIGKILL');
      assert.fail(`weft serve did not exit within ${seconds} s; stderr: ${this.stderr}`);
    }
    return r;
  }
}

/**
 * Python's `socket` as the client: `connections` connections, all open at
 * once before any sends, each with two round trips (a greeting, the 256 byte
 * values) and then `big` random bytes streamed (sent from one thread, read
 * from another, so that no buffer size matters), checked byte for byte (the
 * reply upper-cased with `upper`, as bytes.upper() does), then EOF both ways.
 * Prints `ok N` or the first errors. Its waits are long: the process design
 * boots a Node process per connection, ~50 ms each on an idle machine but
 * seconds each on one that other builds and tests load.
 */
const PY_CLIENT = String.raw`
import random, socket, sys, threading
port, conns, upper, big = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == '1', int(sys.argv[4])
errors = []
barrier = threading.Barrier(conns, timeout=150)
def exact(s, n):
    got = bytearray()
    while len(got) < n:
        d = s.recv(65536)
        if not d:
            raise Exception('EOF after %d of %d bytes' % (len(got), n))
        got += d
    return bytes(got)
def one(i):
    rnd = random.Random(i)
    try:
        s = socket.create_connection(('127.0.0.1', port), timeout=150)
    except Exception as e:
        errors.append('connection %d: connect: %r' % (i, e))
        barrier.abort()
        return
    try:
        barrier.wait()
        for m in [b'hello from %d' % i, bytes(range(256))]:
            s.sendall(m)
            got = exact(s, len(m))
            if got != (m.upper() if upper else m):
                raise Exception('reply differs: %r for %r' % (got[:40], m[:40]))
        m = rnd.randbytes(big)
        sender = threading.Thread(target=s.sendall, args=(m,))
        sender.start()
        got = exact(s, len(m))
        sender.join()
        if got != (m.upper() if upper else m):
            raise Exception('the %d byte reply differs' % big)
        s.shutdown(socket.SHUT_WR)
        rest = s.recv(1)
        if rest != b'':
            raise Exception('more than the echo: %r' % rest)
    except Exception as e:
        errors.append('connection %d: %r' % (i, e))
    finally:
        s.close()
threads = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
print('ok %d' % conns if not errors else '\n'.join(errors[:5]))
sys.exit(1 if errors else 0)
`;

/** Run `program` to its end (bounded), collecting its output. */
export const run = (cmd: string, args: string[], { input = '', timeout = 60 } = {}): Promise<RunResult> => runProgram(cmd, args, { input, timeout });

/** Python's socket client against `port` (see PY_CLIENT); fails the test with its errors. */
export async function pythonEcho(port: number, { connections = 1, upper = false, big = 100_000 } = {}): Promise<void> {
  const r = await run('python3', ['-c', PY_CLIENT, String(port), String(connections), upper ? '1' : '0', String(big)], { timeout: 240 });
  assert.equal(r.code, 0, `python client: ${r.stdout}${r.stderr}`);
  assert.equal(r.stdout.trim(), `ok ${connections}`);
}

/** `weft client --port port` with `input` piped in. */
export function weftClient(port: number, input: string, args: string[] = []): Promise<RunResult> {
  return runNode([cli, 'client', '--port', String(port), ...args], { input, timeout: 30 });
}

/** bytes.upper() of a UTF-8 string: ASCII letters only. */
export const asciiUpper = (s: string): string => s.replace(/[a-z]+/g, (m) => m.toUpperCase());

/** Every process below `pid` (children, their children...), read from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out; // gone
  }
  for (const tid of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const c of children.split(' ').filter(Boolean).map(Number)) out.push(c, ...descendants(c));
  }
  return out;
}

/** Threads of `pid` (its main thread included). */
export function threadCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

/** The processes of `pids` still alive. */
export const alive = (pids: number[]): number[] => pids.filter(pidAlive);

/** Send `signal` to each pid (those already gone are skipped). */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}
