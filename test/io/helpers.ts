/**
 * Shared by the weft/io suites: the open-fd count (the after-hooks fail on a
 * leaked fd) and the selector backends every selectors test runs over, as
 * CPython's test_selectors.py installs its tests per selector.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import {
  DefaultSelector, EpollSelector, PollSelector, SelectSelector, createServer, socket, type BaseSelector, type Completion, type IoUring,
} from 'weft/io';

/** Number of fds this process has open now. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** The selector classes under test, by name. */
export const backends: [string, new () => BaseSelector<unknown>][] = [
  ['SelectSelector', SelectSelector],
  ['PollSelector', PollSelector],
  ['EpollSelector', EpollSelector],
  ['DefaultSelector', DefaultSelector],
];

/** Wait `ms` milliseconds without blocking the loop. */
/** A connected TCP pair over loopback: [client, server side]. */
export function tcpPair(): [socket, socket] {
  using srv = createServer(['127.0.0.1', 0]);
  const client = new socket();
  client.connect(srv.getSockName());
  const [conn] = srv.accept();
  return [client, conn];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Builds, before the suite it is called in, the seccomp helper that makes
 * io_uring_setup fail with EPERM for the program it runs (fixtures/no_io_uring.c:
 * the container case itself), and removes it after. `path()` is '' where no C
 * compiler is installed (an install from prebuilds), the one legitimate reason
 * to skip what needs it; the suite's output says so.
 */
export function noIoUringHelper(): { path: () => string } {
  let helper = '';
  let dir = '';
  before(() => {
    dir = mkdtempSync(tmpdir() + '/weft-no-uring-');
    const source = fileURLToPath(new URL('../../../test/io/fixtures/no_io_uring.c', import.meta.url));
    try {
      execFileSync('cc', ['-O2', '-o', dir + '/no_io_uring', source], { stdio: 'pipe' });
      helper = dir + '/no_io_uring';
    } catch (err) {
      console.log(`# no C compiler to build the seccomp helper (${(err as Error).message.split('\n')[0]}): not checked here`);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return { path: () => helper };
}

/** Wait until `pred` holds on the completions gathered so far (bounded: 5 s). */
export function gather(ring: IoUring, pred: (all: Completion[]) => boolean): Completion[] {
  const all: Completion[] = [];
  const deadline = performance.now() + 5000;
  while (!pred(all)) {
    if (performance.now() > deadline) assert.fail(`completions never arrived; got ${JSON.stringify(all.map((c) => [c.op, c.result]))}`);
    all.push(...ring.wait(1, 0.5));
  }
  return all;
}
