// The child of bench/multiprocessing/transfer.ts: takes buffers and acks each, at once or
// after reading a byte of every page ([buffer, read] messages; null ends it).
import { type Queue, task } from 'weft';

export const receive = task(import.meta, async function receive(inbox: Queue<[Buffer, boolean] | null>, acks: Queue<number>) {
  for (;;) {
    const m = await inbox.get();
    if (m === null) return;
    const [b, read] = m;
    let sum = 0;
    if (read) for (let i = 0; i < b.length; i += 4096) sum += b[i]!;
    await acks.put(sum + b.length);
  }
});
