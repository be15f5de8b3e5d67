// Seed: 1. Processes — Pipe: the child sends two messages, the parent answers
//
// A Pipe is two connected ends. The child sends "qqqqqq" and "qqqqqq2" and
// prints what the parent sends back ("hehehhe").
import { type Connection, Pipe, Process, isMainModule, task } from 'weft';

export const f = task(import.meta, async function f(conn: Connection) {
  conn.send('qqqqqq');
  conn.send('qqqqqq2');
  console.log('from parent:', await conn.recv());
  conn.close();
});

if (isMainModule(import.meta)) {
  const [parentConn, childConn] = Pipe();
  const p = new Process({ target: f, args: [childConn] });
  p.start();
  console.log(await parentConn.recv());
  console.log(await parentConn.recv());
  parentConn.send('hehehhe');
  await p.join();
}
