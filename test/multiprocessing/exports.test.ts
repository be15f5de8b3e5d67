// Pins the public names of `weft`: adding or removing one is a decision, made here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as weft from 'weft';

test("weft exports exactly its public API", () => {
  assert.deepEqual(Object.keys(weft).sort(), [
    'AbortError', 'ArrayProxy', 'AsyncResult', 'AsyncResultProxy', 'AuthenticationError', 'AutoProxy', 'Barrier', 'BarrierProxy',
    'BaseContext', 'BaseProxy', 'BlockingIOError', 'BoundedSemaphore', 'BrokenBarrierError', 'BrokenPipeError', 'BufferTooShort',
    'Condition', 'ConditionProxy', 'Connection', 'ConnectionError', 'ConnectionResetError', 'DictProxy', 'EOFError',
    'Empty', 'Event', 'EventProxy', 'Full', 'IndexError', 'JoinableQueue', 'JoinableQueueProxy', 'KeyError',
    'ListProxy', 'Lock', 'LockProxy', 'Manager', 'MemoryError', 'NamespaceProxy', 'OSError', 'Pipe', 'Pool', 'PoolProxy', 'Process', 'Queue',
    'QueueProxy', 'RLock', 'RawArray', 'RawValue', 'RemoteError', 'Semaphore', 'SemaphoreProxy', 'SharedArray', 'SimpleQueue', 'TimeoutError',
    'UnsendableError', 'Value', 'ValueError', 'ValueProxy', 'WorkerLostError', 'activeChildren', 'cpuCount',
    'currentProcess', 'getContext', 'isMainModule', 'parentProcess', 'registerType', 'task', 'transfer', 'wait',
  ]);
});

test('a context carries every class and function of the multiprocessing API', () => {
  for (const name of ['process', 'thread'] as const) {
    const ctx = weft.getContext(name);
    for (const member of ['Process', 'Queue', 'JoinableQueue', 'SimpleQueue', 'Pipe', 'Lock', 'RLock', 'Semaphore',
      'BoundedSemaphore', 'Condition', 'Event', 'Barrier', 'Value', 'SharedArray', 'RawValue', 'RawArray', 'Pool', 'Manager',
      'currentProcess', 'parentProcess', 'activeChildren', 'cpuCount'] as const) {
      assert.equal(typeof ctx[member], 'function', `${name} context lacks ${member}`);
    }
    assert.equal(ctx.Queue, weft.Queue);
    assert.equal(ctx.Lock, weft.Lock);
  }
});
