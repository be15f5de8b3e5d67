// Seed: 2. Coroutines — gevent switches automatically on I/O (foo sleeps 1 s, bar sleeps 0)
/**
 * The seed's gevent program: `foo` and `bar` run in two greenlets; each
 * `sleep` (standing in for I/O) switches to the other, so bar finishes
 * while foo still sleeps.
 */
import { joinAll, sleep, spawn } from 'weft/coro';

async function foo(): Promise<void> {
  console.log('Running in foo');
  await sleep(1); // stands in for I/O
  console.log('Explicit context switch to foo again');
}

async function bar(): Promise<void> {
  console.log('Explicit context to bar');
  await sleep(0);
  console.log('Implicit context switch back to bar');
}

await joinAll([spawn(foo), spawn(bar)]);
