// Tasks run by bench/multiprocessing/transport.ts in its children.
import { type Connection, type Queue, task } from 'weft';

export const produce = task(import.meta, async function produce(q: Queue<unknown>, n: number) {
  for (let i = 0; i < n; i++) await q.put({ id: i, name: 'hahaha123', tags: [1, 2, 3] });
  await q.put(null);
});

export const echo = task(import.meta, async function echo(conn: Connection) {
  for (;;) {
    const x = await conn.recv();
    if (x === null) return;
    conn.send(x);
  }
});

export const noop = task(import.meta, function noop() {});

export const putOne = task(import.meta, async function putOne(q: Queue<number>, i: number) {
  await q.put(i);
});
