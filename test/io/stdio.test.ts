// A thread blocked in select() or a …Sync wait runs no event loop, and Node writes to a pipe through
// that loop: a server whose loop blocks in select() stopped printing once its reader fell behind
// (seen as a missing line in the select server's output under a busy CI). Python's print blocks
// until the pipe takes the line; weft makes stdout do the same from the first blocking call on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

/**
 * 256 KiB of lines: four times a pipe's buffer, so most of it must wait for the reader. A line on
 * stderr first says the flood begins: the reader's 300 ms away count from there, not from the spawn
 * (a child that took longer than that to boot on a loaded machine met a reader already reading, and
 * its whole flood went out at once).
 */
const FLOOD = 'process.stderr.write("flood\\n"); for (let i = 0; i < 2048; i++) console.log(String(i).padStart(127, "."));';

/**
 * Runs `code` (which floods stdout, prints "blocked", then blocks its thread for 6 s) with nobody
 * reading its stdout for 300 ms from the flood's start; resolves with the seconds from then until
 * "blocked" arrived.
 */
function untilBlockedLine(code: string): Promise<{ seconds: number; lines: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let start = NaN;
    let out = '';
    let err = '';
    child.stdout.pause();
    child.stderr.on('data', (d) => {
      err += d;
      if (Number.isNaN(start) && err.includes('flood\n')) {
        start = performance.now();
        setTimeout(() => child.stdout.resume(), 300);
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "blocked" line after 20 s; ${out.length} bytes came; stderr: ${err.trim()}`));
    }, 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (!out.includes('blocked\n')) return;
      clearTimeout(timer);
      resolve({ seconds: (performance.now() - start) / 1000, lines: out.split('\n').length - 1 });
      child.kill('SIGKILL');
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before its "blocked" line; ${out.length} bytes came; stderr: ${err.trim()}`));
    });
  });
}

test('output printed after a blocking select() reaches a slow reader while the thread blocks again', async () => {
  const { seconds, lines } = await untilBlockedLine(`
    import { select } from 'weft/io';
    select([], [], [], 0.01);
    ${FLOOD}
    console.log('blocked');
    select([], [], [], 6);
  `);
  assert.equal(lines, 2049, 'every line, then "blocked"');
  assert.ok(seconds < 5, `"blocked" came after ${seconds.toFixed(1)} s: stdout waited for the 6 s select`);
});

test('output printed after a blocking acquireSync() reaches a slow reader while the thread blocks again', async () => {
  const { seconds, lines } = await untilBlockedLine(`
    import { Lock } from 'weft';
    const lock = new Lock();
    await lock.acquire();
    lock.acquireSync({ timeout: 0.01 });
    ${FLOOD}
    console.log('blocked');
    lock.acquireSync({ timeout: 6 });
  `);
  assert.equal(lines, 2049, 'every line, then "blocked"');
  assert.ok(seconds < 5, `"blocked" came after ${seconds.toFixed(1)} s: stdout waited for the 6 s acquireSync`);
});

test('a nonblocking call leaves stdout as Node made it', async () => {
  // select(..., 0) never blocks, so nothing needs changing: the flood waits in libuv's queue for the
  // event loop, which runs again once the script ends (here after a 6 s blocking wait, so it comes late).
  const { seconds } = await untilBlockedLine(`
    import { select } from 'weft/io';
    select([], [], [], 0);
    ${FLOOD}
    console.log('blocked');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 6000);
  `);
  assert.ok(seconds >= 5, `"blocked" came after ${seconds.toFixed(1)} s: select(…, 0) changed stdout`);
});
