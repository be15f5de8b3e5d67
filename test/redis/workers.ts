/**
 * `weft worker` processes for the weft/redis Pool suites, started on a
 * suite's redis-server and stopped by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** The root the workers serve and the producers name tasks against. */
export const root = fileURLToPath(new URL('./fixtures/', import.meta.url));

export class WeftWorker {
  readonly child: ChildProcess;
  log = '';
  /** Set by a test that froze it (SIGSTOP): not to be given work again. */
  frozen = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `wrap` runs it through a command that execs it elsewhere (another network namespace), its pid unchanged. */
  constructor(url: string, queue: string, { lease = 1, concurrency = 1, context = 'process', prefix = 'weft:', wrap = [] as string[] } = {}) {
    const args = [cli, 'worker', '--redis', url, '--queue', queue, '--root', root, '--lease', String(lease), '-c', String(concurrency), '--context', context, '--prefix', prefix];
    const [command, ...rest] = [...wrap, process.execPath, ...args] as [string, ...string[]];
    // A process group of its own: the worker and its consumer children freeze together (freeze()).
    this.child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.on('data', (d: Buffer) => (this.log += d));
    this.child.stderr!.on('data', (d: Buffer) => (this.log += d));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves once the worker said it serves (30 s at most: a busy machine boots slowly). */
  async ready(): Promise<this> {
    const t0 = Date.now();
    while (!this.log.includes('serving queue')) {
      if (this.child.exitCode !== null) throw new Error(`weft worker exited: ${this.log}`);
      if (Date.now() - t0 > 30_000) throw new Error(`weft worker did not start within 30 s: ${this.log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this;
  }

  /** Sends `signal` (SIGKILL by default) unless it already exited. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, signal);
  }

  /**
   * Freezes the whole worker, its consumers included (SIGSTOP to its process
   * group), as a host that stalls would; `thaw()` lets it go on.
   */
  freeze(): void {
    process.kill(-this.child.pid!, 'SIGSTOP');
    this.frozen = true;
  }

  thaw(): void {
    if (this.frozen) process.kill(-this.child.pid!, 'SIGCONT');
  }

  async stop(): Promise<void> {
    this.thaw();
    this.kill();
    await this.exited;
  }
}
