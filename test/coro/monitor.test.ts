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
  const m = monitor({ maxBlockingTime: 0.2, report: (r) => reports.push(r) });
  try {
    const hog = spawn(async () => {
      await sleep(0.001);
      busy(450);
    });
    hog.name = 'hog';
    const first = spawn(() => busy(300)); // blocks in its very first slice
    first.name = 'first-slice';
    const polite = spawn(async () => {
      for (let i = 0; i < 5; i++) {
        busy(2); // short slices: never reported, even on a busy machine
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
  assert.ok(hogReport.seconds >= 0.44 && hogReport.seconds < 5, `hog blocked ${hogReport.seconds} s`);
});

test('the default report is a warning line on stderr; one monitor at a time; stop removes it', async () => {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const m = monitor({ maxBlockingTime: 0.1 });
    assert.throws(() => monitor(), /already running/);
    const g = spawn(() => busy(250));
    g.name = 'busy-one';
    await g.join();
    m.stop();
    const later = spawn(() => busy(250));
    later.name = 'after-stop';
    await later.join();
  } finally {
    process.stderr.write = write;
  }
  const mine = lines.filter((l) => l.includes('busy-one'));
  assert.equal(mine.length, 1, lines.join(''));
  assert.ok(!lines.some((l) => l.includes('after-stop')), 'nothing is reported after stop()');
  assert.match(mine[0]!, /<Greenlet "busy-one"> blocked the event loop for \d\.\d\d\d s \(max 0\.1 s\)/);
});
