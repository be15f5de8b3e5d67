// How many children weft boots ahead (src/multiprocessing/boot_ahead.ts): one
// after a start, once the children started have booted (a spare booting beside
// them would take a core from them); two after a child that ran alone and
// briefly, so that a loop of start + join waits for half a boot, not a whole
// one; never two after children that ran side by side, whose successors need
// the cores themselves.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BootAhead, SHORT_LIFE_MS, Spares } from '../../src/internals.js';
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

/** Spares of fake children (numbers), and the boots they asked for so far, seen after the loop's next turn. */
function fakeSpares() {
  let next = 0;
  const booted: number[] = [];
  const spares = new Spares<number>(() => {
    booted.push(next);
    return next++;
  }, () => {});
  const settle = () => new Promise((r) => setImmediate(r));
  return { spares, booted, settle };
}

/** A boot that settles when told to. */
function pendingBoot(): { promise: Promise<void>; done: () => void } {
  let done = () => {};
  const promise = new Promise<void>((r) => (done = r));
  return { promise, done };
}

describe('Spares: when the next spare boots', () => {
  test('a child handed its work without a boot of its own (booted ahead) calls the next spare at once', async () => {
    const { spares, booted, settle } = fakeSpares();
    spares.started();
    await settle();
    assert.deepEqual(booted, [0]);
  });

  test('the next spare waits until every child started has booted', async () => {
    const { spares, booted, settle } = fakeSpares();
    const a = pendingBoot();
    const b = pendingBoot();
    spares.started(a.promise);
    spares.started(b.promise);
    await settle();
    assert.deepEqual(booted, [], 'a spare booted beside two children still booting');
    a.done();
    await settle();
    await settle();
    assert.deepEqual(booted, [], 'a spare booted while the second child was still booting');
    b.done();
    await settle();
    await settle();
    assert.deepEqual(booted, [0]);
    assert.equal(spares.take(), 0);
  });

  test('a start while children boot joins the wait; a failed boot counts as ended', async () => {
    const { spares, booted, settle } = fakeSpares();
    const a = pendingBoot();
    spares.started(a.promise);
    spares.started(); // booted ahead, but another child is still booting
    await settle();
    assert.deepEqual(booted, []);
    spares.started(Promise.reject(new Error('died while booting')));
    a.done();
    await settle();
    await settle();
    assert.deepEqual(booted, [0]);
    for (const s of spares.all()) spares.forget(s);
  });
});

/** Runs `body` in a fresh node and returns how many child processes it has 300 ms later (its spares: the children it started are joined). */
async function sparesAfter(body: string): Promise<number> {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { Process } from 'weft';
    import { noop, sleepFor } from ${JSON.stringify(new URL('./fixtures/procs.js', import.meta.url).href)};
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

  test('two children started side by side boot alone: the spare boots after them', async () => {
    // 10 ms after the starts no node has booted (a bare `node -e 0` takes 30 ms or more),
    // so a spare booted at once would be a third child here.
    const n = await sparesAfter(`
      const ps = [new Process({ target: sleepFor, args: [5] }), new Process({ target: sleepFor, args: [5] })];
      for (const p of ps) p.start();
      await new Promise((r) => setTimeout(r, 10));
      let early = 0;
      for (const pid of readdirSync('/proc').filter((d) => /^\\d+$/.test(d))) {
        try {
          const stat = readFileSync('/proc/' + pid + '/stat', 'utf8');
          if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid) early++;
        } catch {}
      }
      if (early !== 2) throw new Error(early + ' children 10 ms after two starts');
      await new Promise((r) => setTimeout(r, 3000));
      for (const p of ps) p.kill();
      for (const p of ps) await p.join();
    `);
    assert.equal(n, 1);
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
