/** The README's weft/io sample, verbatim (so the paragraph handed to the README keeps working). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DefaultSelector, EVENT_READ, socketpair } from 'weft/io';

test("the README sample: a selector over a socket pair, awaited without blocking Node's loop", async () => {
  const lines: unknown[][] = [];
  const log = (...args: unknown[]) => lines.push(args);
  // --- README sample starts
  const [a, b] = socketpair();
  const sel = new DefaultSelector<string>();
  sel.register(a, EVENT_READ, 'a is readable');
  b.sendAll(Buffer.from('ping'));
  for (const [key] of await sel.selectAsync(1)) log(key.data, a.recv(4).toString()); // a is readable ping
  // --- README sample ends
  assert.deepEqual(lines, [['a is readable', 'ping']]);
  sel.close();
  a.close();
  b.close();
});
