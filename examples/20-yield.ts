// Seed: 2. Coroutines — yield producer/consumer (the producer makes baozi 1..5 and sends each to c1)
/**
 * The seed's generator coroutines: two consumers are primed (Python's
 * `con.__next__()`), then the producer `send`s each baozi to c1 — in
 * JavaScript `send(n)` is `next(n)`. The c2 send stays commented out, as in the seed.
 */
import { prime } from 'weft/coro';

const green = (s: string): string => (process.stdout.isTTY ? `\x1b[32;1m${s}\x1b[0m` : s);

function* consumer(name: string): Generator<void, never, number> {
  console.log('----->starting');
  for (;;) {
    const newBaozi = yield;
    console.log(`[${name}] is eating baozi ${newBaozi}`);
  }
}

function producer(): void {
  prime(con);
  prime(con2);
  let n = 0;
  while (n < 5) {
    n += 1;
    console.log(`${green('[producer]')} is making baozi ${n}`);
    con.next(n);
    // con2.next(n);
  }
}

const con = consumer('c1');
const con2 = consumer('c2');
producer();
