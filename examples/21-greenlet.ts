// Seed: 2. Coroutines — greenlet switching (prints 12, 56, 34, 78)
/**
 * The seed's manual switching between test1 and test2 with `greenlet`:
 * each `switch` suspends the running greenlet and resumes the other.
 */
import { greenlet } from 'weft/coro';

async function test1(): Promise<void> {
  console.log(12);
  await gr2.switch();
  console.log(34);
  await gr2.switch();
}

async function test2(): Promise<void> {
  console.log(56);
  await gr1.switch();
  console.log(78);
  await gr1.switch();
}

const gr1 = greenlet(test1); // start a coroutine
const gr2 = greenlet(test2);
await gr1.switch();
