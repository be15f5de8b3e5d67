/**
 * A real redis-server for the weft/redis suites: a free port on loopback, its
 * own temporary directory, no RDB snapshots, stopped by pid. No mock Redis:
 * the guarantees under test (leases, Lua atomicity, AOF across a restart) are
 * the server's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port on 127.0.0.1 that nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Where a server runs: its address, and the command prefix that puts it there (none on loopback). */
export interface ServerPlace {
  host: string;
  prefix: string[];
}

/** One redis-server of a suite. `args` are added to its command line (`--appendonly yes`, `--requirepass x`). */
export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'weft-redis-'));
  #child: ChildProcess | null = null;
  #log = '';

  private constructor(
    readonly port: number,
    readonly args: string[],
    readonly where: ServerPlace,
  ) {}

  /**
   * Starts a server and resolves once it accepts connections (10 s at most).
   * `where` puts it on another address, run through a command prefix
   * (`ip netns exec NS`): a second host's server.
   */
  static async start(args: string[] = [], where: ServerPlace = { host: '127.0.0.1', prefix: [] }): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), args, where);
    try {
      await server.restart();
    } catch (err) {
      rmSync(server.dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  /** `redis://HOST:PORT` (127.0.0.1 unless started elsewhere). */
  get url(): string {
    return `redis://${this.where.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the server again on the same port and directory (after `kill`). */
  restart(): Promise<void> {
    const argv = ['--port', String(this.port), '--bind', this.where.host, '--dir', this.dir, '--save', '', '--daemonize', 'no', ...this.args];
    // `ip netns exec` execs the command, so the pid stays the server's own.
    const [command, ...rest] = [...this.where.prefix, 'redis-server', ...argv] as [string, ...string[]];
    const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`redis-server did not start within 10 s:\n${this.#log}`)), 10_000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(err);
      };
      const onData = (d: Buffer) => {
        this.#log += d;
        if (this.#log.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => (this.#log += d));
      child.once('exit', (code, signal) => fail(new Error(`redis-server exited (${code ?? signal}):\n${this.#log}`)));
      // Not skipped when missing: .ci/run installs it, so its absence is a broken set-up, said plainly.
      child.once('error', (err) => fail(new Error(`cannot start redis-server (${err.message}): install it (apt-get install redis-server)`)));
    });
  }

  /** Kills the server with `signal` (SIGKILL: a crash) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.removeAllListeners('exit'); // the start's failure handler
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid!, signal);
    await exited;
  }

  /** Stops the server and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a fixture script (`node file ...args`, after `wrap`) and resolves once it prints a
 * line starting with `mark` (within 10 s): the child, the rest of that line,
 * and every line so far (the array keeps growing).
 */
export async function startFixture(
  file: string, args: string[], mark: string, what: string, wrap: string[] = [],
): Promise<{ child: ChildProcess; rest: string; lines: string[] }> {
  // `wrap` (`ip netns exec NS`) runs it on another host; it execs node, so the pid is node's.
  const [command, ...rest] = [...wrap, process.execPath, file, ...args] as [string, ...string[]];
  const child = spawn(command, rest, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  const found = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${what} did not print '${mark}' within 10 s`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line.startsWith(mark)) {
          clearTimeout(timer);
          resolve(line.slice(mark.length));
        }
      }
    });
    child.once('exit', () => reject(new Error(`the ${what} exited early: ${lines.join('\n')}`)));
  });
  return { child, rest: found, lines };
}

/**
 * A local Redis Cluster of `masters` servers (no replicas), each a
 * {@link RedisServer} with cluster mode on, joined by `redis-cli --cluster
 * create`; resolves once every node reports `cluster_state:ok`.
 */
export class RedisClusterFixture {
  private constructor(readonly nodes: RedisServer[]) {}

  static async start(masters = 3): Promise<RedisClusterFixture> {
    const nodes: RedisServer[] = [];
    const fixture = new RedisClusterFixture(nodes);
    try {
      for (let i = 0; i < masters; i++) {
        // Its node table in its own directory (the server's --dir); a short node timeout: nothing here fails over.
        nodes.push(await RedisServer.start(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000', '--appendonly', 'no']));
      }
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
      for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
        const states = await Promise.all(nodes.map((n) => run('redis-cli', ['-p', String(n.port), 'cluster', 'info'])));
        if (states.every((s) => s.includes('cluster_state:ok'))) break;
        if (Date.now() - t0 > 15_000) throw new Error(`the cluster did not become ready within 15 s:\n${states.join('\n')}`);
      }
    } catch (err) {
      await fixture.stop();
      throw err;
    }
    return fixture;
  }

  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…`: what `connect` takes for a cluster. */
  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  /** Every server stopped by pid, their directories removed. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

/** Runs a command to its end; its stdout, or an error with its output. */
export function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}
