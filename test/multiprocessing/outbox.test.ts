// The Outbox gathers the Manager messages one turn makes into one write: a client's calls, a server's
// answers. These tests check that a batch leaves when it should and that no batch repeats or loses a body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameReader, Outbox } from '../../src/internals.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** The bodies of the frames in one batch (byte 0 is the ring's tag byte, left free). */
function bodies(batch: Buffer): string[] {
  const out: Buffer[] = [];
  new FrameReader().push(batch.subarray(1), out);
  return out.map((b) => b.toString());
}

function outbox(canWrite = () => true) {
  const batches: string[][] = [];
  const box = new Outbox(canWrite, (batch) => batches.push(bodies(batch)));
  return { box, batches };
}

test('the messages of one turn leave in one write, at its end, and the next turn writes only its own', async () => {
  const { box, batches } = outbox();
  box.add(Buffer.from('a'), false);
  box.add(Buffer.from('bb'), false);
  assert.deepEqual(batches, [], 'nothing leaves before the turn ends');
  await turn();
  box.add(Buffer.from('ccc'), false);
  await turn();
  assert.deepEqual(batches, [['a', 'bb'], ['ccc']]);
});

test('on a ring a full batch of 64 leaves at once; the rest at the end of the turn', async () => {
  const { box, batches } = outbox();
  for (let i = 0; i < 70; i++) box.add(Buffer.from(String(i)), true);
  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0], Array.from({ length: 64 }, (_, i) => String(i)));
  await turn();
  assert.deepEqual(batches[1], ['64', '65', '66', '67', '68', '69']);
  assert.equal(batches.length, 2);
});

test('while there is nowhere to write the messages wait, in order, for the next flush', async () => {
  let open = false;
  const { box, batches } = outbox(() => open);
  box.add(Buffer.from('x'), false);
  await turn();
  box.add(Buffer.from('y'), false);
  await turn();
  assert.deepEqual(batches, []);
  open = true;
  box.flush();
  assert.deepEqual(batches, [['x', 'y']]);
});

test('clear drops what is queued', async () => {
  const { box, batches } = outbox();
  box.add(Buffer.from('lost'), false);
  box.clear();
  await turn();
  box.add(Buffer.from('kept'), false);
  await turn();
  assert.deepEqual(batches, [['kept']]);
});
