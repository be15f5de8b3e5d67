// Terminating a thread child at any moment is safe: a stop that lands while a
// thread (or a thread below it) evaluates its task's module waits for that
// evaluation to end, since V8 can abort the whole process when a termination
// lands inside an ES module's top-level await (src/multiprocessing/thread_stop.ts);
// a task in a busy loop is still stopped at once, and past a grace period a
// module that never finishes is stopped anyway. Then a stress run, in a child
// process so that a fatal error fails the test rather than the runner:
// WEFT_TERMINATE_STRESS_SECONDS (default 12) and WEFT_TERMINATE_STRESS_SEED
// (default: the clock) make it longer or repeat one.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { Process } from 'weft';
import { STOP_GRACE_SECONDS } from '../../src/internals.js';
import { eventually, runNode } from '../helpers/run.js';
import { nest, rest, spin } from './fixtures/slow-import.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-terminate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let logs = 0;
/** A fresh evaluation log, and what slow-import.ts's evaluations take from now on. */
function evaluations(ms: number): { lines: () => string[] } {
  const file = join(dir, `log-${++logs}`);
  process.env.WEFT_EVALUATION_LOG = file;
  process.env.WEFT_EVALUATION_MS = String(ms);
  return {
    lines: () => {
      try {
        return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

/** The thread ids whose evaluation started and never ended. */
function unfinished(lines: string[]): string[] {
  const ended = new Set(lines.filter((l) => l.startsWith('end ')).map((l) => l.slice(4)));
  return lines.filter((l) => l.startsWith('start ') && !ended.has(l.slice(6)));
}

describe('terminating thread children', () => {
  test('terminate() while the task module is evaluated waits for the evaluation to end, then gives -15', async () => {
    const log = evaluations(400);
    const p = new Process({ target: rest, context: 'thread' });
    p.start();
    await eventually(() => log.lines().some((l) => l.startsWith('start ')), 30, 'the child to start evaluating its module');
    p.terminate();
    await p.join(30);
    assert.equal(p.exitCode, -15);
    assert.deepEqual(unfinished(log.lines()), [], `an evaluation was cut short: ${log.lines().join(', ')}`);
  });

  test('kill() of a thread child while its own thread child evaluates waits for that one too, then gives -9', async () => {
    const log = evaluations(400);
    const outer = new Process({ target: nest, context: 'thread' });
    outer.start();
    // the outer's own evaluation, then the inner's
    await eventually(() => log.lines().filter((l) => l.startsWith('start ')).length >= 2, 30, 'the nested child to start evaluating');
    outer.kill();
    await outer.join(30);
    assert.equal(outer.exitCode, -9);
    assert.deepEqual(unfinished(log.lines()), [], `an evaluation was cut short: ${log.lines().join(', ')}`);
  });

  test(`an evaluation that never ends is stopped anyway after ${STOP_GRACE_SECONDS} s`, async () => {
    const log = evaluations(60_000);
    const p = new Process({ target: rest, context: 'thread' });
    p.start();
    await eventually(() => log.lines().some((l) => l.startsWith('start ')), 30, 'the child to start evaluating its module');
    const stopped = performance.now();
    p.terminate();
    await p.join(STOP_GRACE_SECONDS + 20);
    const took = (performance.now() - stopped) / 1000;
    assert.equal(p.exitCode, -15);
    assert.ok(took >= STOP_GRACE_SECONDS * 0.9, `stopped after ${took.toFixed(2)} s, before the grace period ended`);
  });

  test('a task in a busy loop is killed at once, not after the grace period', async () => {
    const log = evaluations(0);
    const p = new Process({ target: spin, context: 'thread' });
    p.start();
    await eventually(() => log.lines().some((l) => l.startsWith('running ')), 30, 'the task to run');
    const stopped = performance.now();
    p.kill();
    await p.join(30);
    const took = (performance.now() - stopped) / 1000;
    assert.equal(p.exitCode, -9);
    assert.ok(took < STOP_GRACE_SECONDS * 0.75, `a busy loop took ${took.toFixed(2)} s to stop`);
  });

  test('stress: nested thread children started and stopped at random moments, with boot-ahead spares and without', async () => {
    const seconds = Number(process.env.WEFT_TERMINATE_STRESS_SECONDS ?? 12);
    const seed = Number(process.env.WEFT_TERMINATE_STRESS_SEED ?? Date.now() % 2 ** 31);
    const script = fileURLToPath(new URL('./fixtures/terminate.js', import.meta.url));
    const r = await runNode([script, String(seconds), String(seed)], { timeout: seconds + 120 });
    const repeat = `(repeat with WEFT_TERMINATE_STRESS_SEED=${seed})`;
    assert.doesNotMatch(r.stderr, /Fatal error|Check failed/, `V8 aborted ${repeat}:\n${r.stderr}`);
    assert.equal(r.signal, null, `the stress run died of ${r.signal} ${repeat}:\n${r.stderr}`);
    assert.equal(r.code, 0, `exit code ${r.code} ${repeat}:\n${r.stderr}`);
    const counts = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { rounds: number; children: number; wrong: string[]; slowestStopMs: number };
    assert.deepEqual(counts.wrong, [], `wrong exit codes ${repeat}`);
    assert.ok(counts.children >= 10, `only ${counts.children} children in ${seconds} s ${repeat}`);
    console.log(`terminate stress: ${JSON.stringify(counts)} seed ${seed} on Node ${process.versions.node}`);
  });
});
