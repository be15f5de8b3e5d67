/** Shared checks for the weft/coro suites. */
import assert from 'node:assert/strict';
import { getHub } from 'weft/coro';

/** Handles a suite may leave behind: none of these should outlive a test file. */
const LEAKY = new Set(['Timeout', 'Immediate', 'TCPWrap', 'TCPServerWrap', 'TCPSocketWrap']);

/** Fail when timers or sockets are left running (call from `after`). */
export async function assertNoLeaks(): Promise<void> {
  // let close callbacks of just-destroyed sockets run
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const left = process.getActiveResourcesInfo().filter((r) => LEAKY.has(r));
  assert.deepEqual(left, [], `leftover handles: ${left.join(', ')}`);
}

/** Collect what the hub would print for failed greenlets, instead of printing it. */
export function captureErrors(): { errors: unknown[]; restore: () => void } {
  const hub = getHub();
  const saved = hub.handleError;
  const errors: unknown[] = [];
  hub.handleError = (_ctx, e) => errors.push(e);
  return { errors, restore: () => (hub.handleError = saved) };
}
