import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { joinAll, monitor, sleep, spawn, type BlockingReport } from 'weft/coro';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

const busy = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

test('monitor names the greenlet that blocked the loop and for how long', async () => {
  const reports: BlockingReport[] = [];
  const m = monitor({ maxBlockingTime: 0.05, report: (r) => reports.push(r) });
  try {
    const hog = spawn(async () => {
      await sleep(0.001);
      busy(120);
    });
    hog.name = 'hog';
    const first = spawn(() => busy(80)); // blocks in its very first slice
    first.name = 'first-slice';
    const polite = spawn(async () => {
      for (let i = 0; i < 5; i++) {
        busy(5);
        await sleep(0);
      }
    });
    polite.name = 'polite';
    await joinAll([hog, first, polite]);
  } finally {
    m.stop();
  }
  const names = reports.map((r) => r.greenlet).sort();
  assert.deepEqual(names, ['first-slice', 'hog']);
  const hogReport = reports.find((r) => r.greenlet === 'hog')!;
  assert.ok(hogReport.seconds >= 0.11 && hogReport.seconds < 1, `hog blocked ${hogReport.seconds} s`);
});

test('the default report is a warning line on stderr; one monitor at a time; stop removes it', async () => {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const m = monitor({ maxBlockingTime: 0.02 });
    assert.throws(() => monitor(), /already running/);
    const g = spawn(() => busy(40));
    g.name = 'busy-one';
    await g.join();
    m.stop();
    const after = spawn(() => busy(40));
    await after.join();
  } finally {
    process.stderr.write = write;
  }
  assert.equal(lines.length, 1, lines.join(''));
  assert.match(lines[0]!, /<Greenlet "busy-one"> blocked the event loop for 0\.0\d\d s \(max 0\.02 s\)/);
});
