// How many children weft boots ahead (src/multiprocessing/boot_ahead.ts): one
// after a start; two after a child that ran alone and briefly, so that a loop
// of start + join waits for half a boot, not a whole one; never two after
// children that ran side by side, whose successors need the cores themselves.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BootAhead, SHORT_LIFE_MS } from '../../src/internals.js';
import { runNode } from '../helpers/run.js';

describe('BootAhead: the policy', () => {
  test('a child that ran alone and briefly asks for two spares', () => {
    const ahead = new BootAhead();
    const life = ahead.started();
    assert.equal(ahead.ended(life, life.startedAt + 5), 2);
  });

  test('a child that ran alone for long asks for no more spares', () => {
    const ahead = new BootAhead();
    const life = ahead.started();
    assert.equal(ahead.ended(life, life.startedAt + SHORT_LIFE_MS + 1), 0);
  });

  test('children that overlapped ask for no more spares, whichever started first or ended last', () => {
    const ahead = new BootAhead();
    const a = ahead.started();
    const b = ahead.started();
    assert.equal(ahead.ended(a, a.startedAt + 5), 0);
    assert.equal(ahead.ended(b, b.startedAt + 5), 0);
    // the next child runs alone again
    const c = ahead.started();
    assert.equal(ahead.ended(c, c.startedAt + 5), 2);
  });

  test('a child started while another ran marks that other as not alone too', () => {
    const ahead = new BootAhead();
    const a = ahead.started();
    const b = ahead.started();
    assert.equal(ahead.ended(b, b.startedAt + 5), 0);
    assert.equal(a.alone, false);
    assert.equal(ahead.ended(a, a.startedAt + 5), 0);
  });
});

/** Runs `body` in a fresh node and returns how many child processes it has 300 ms later (its spares: the children it started are joined). */
async function sparesAfter(body: string): Promise<number> {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { Process } from 'weft';
    import { noop } from ${JSON.stringify(new URL('./fixtures/procs.js', import.meta.url).href)};
    ${body}
    await new Promise((r) => setTimeout(r, 300));
    let children = 0;
    for (const pid of readdirSync('/proc').filter((d) => /^\\d+$/.test(d))) {
      try {
        const stat = readFileSync('/proc/' + pid + '/stat', 'utf8');
        const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(ppid) === process.pid && state !== 'Z') children++;
      } catch {}
    }
    console.log(children);
  `;
  const r = await runNode(['--input-type=module', '-e', script]);
  assert.equal(r.code, 0, r.stderr);
  return Number(r.stdout.trim());
}

describe('BootAhead: the process start method', () => {
  test('after a brief child that ran alone, two children are booted ahead', async () => {
    // The first child of a process boots from nothing, which on a slow machine
    // can take longer than a brief life; the child measured runs on a spare.
    const n = await sparesAfter(`
      const first = new Process({ target: noop });
      first.start();
      await first.join();
      await new Promise((r) => setTimeout(r, 1000));
      const p = new Process({ target: noop });
      p.start();
      await p.join();
    `);
    assert.equal(n, 2);
  });

  test('after two brief children side by side, one is', async () => {
    const n = await sparesAfter(`
      const ps = [new Process({ target: noop }), new Process({ target: noop })];
      for (const p of ps) p.start();
      for (const p of ps) await p.join();
    `);
    assert.equal(n, 1);
  });
});
