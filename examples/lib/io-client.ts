/**
 * The seed's client logic as a worker thread for the examples' tour mode:
 * connect, then for each line `sendall` it and print `Recv: <reply>`. Output
 * goes straight to fd 1 (writeSync): the server's thread is blocked in select()
 * and could not relay a worker's console.
 */
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { createConnection } from 'weft/io';

const { port, name, lines } = workerData as { port: number; name: string; lines: string[] };
const sock = createConnection(['localhost', port], 10);
for (const line of lines) {
  const msg = Buffer.from(line);
  sock.sendAll(msg);
  const parts: Buffer[] = [];
  let got = 0;
  while (got < msg.length) {
    const data = sock.recv(1024);
    if (data.length === 0) break;
    parts.push(data);
    got += data.length;
  }
  writeSync(1, `${name} Recv: ${Buffer.concat(parts).toString()}\n`);
}
sock.close();
