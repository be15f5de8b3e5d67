import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as coro from 'weft/coro';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

test('weft/coro exports exactly its public names', () => {
  assert.deepEqual(Object.keys(coro).sort(), [
    'AsyncResult',
    'BoundedSemaphore',
    'Channel',
    'CoroSocket',
    'Empty',
    'Event',
    'Full',
    'Greenlet',
    'GreenletExit',
    'Group',
    'HTTPError',
    'JoinableQueue',
    'LifoQueue',
    'Lock',
    'Pool',
    'PriorityQueue',
    'Queue',
    'RLock',
    'Semaphore',
    'StopIteration',
    'StreamServer',
    'Timeout',
    'fetchAll',
    'getCurrent',
    'getCurrentRaw',
    'getHub',
    'greenlet',
    'idle',
    'joinAll',
    'killAll',
    'monitor',
    'prime',
    'sleep',
    'spawn',
    'spawnLater',
    'wait',
    'withTimeout',
  ]);
});

test('Empty and Full are weft errors shared with the rest of the library', async () => {
  const errors = await import('weft');
  assert.equal(coro.Empty, errors.Empty);
  assert.equal(coro.Full, errors.Full);
});
