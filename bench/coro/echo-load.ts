/**
 * A closed-loop TCP echo load generator for the StreamServer point of
 * bench/coro: `node echo-load.js PORT [connections=100] [size=1024] [seconds=2]`.
 * Each connection sends one message, waits for all of its bytes to come
 * back, and sends the next; prints one JSON line with messages/s. The same
 * generator drives weft's and gevent's servers. Plain node:net, so it does
 * not depend on the rest of weft.
 */
import * as net from 'node:net';

const [portArg, connArg = '100', sizeArg = '1024', secondsArg = '2'] = process.argv.slice(2);
const port = Number(portArg);
const connections = Number(connArg);
const size = Number(sizeArg);
const seconds = Number(secondsArg);
if (!(port > 0)) {
  console.error('usage: echo-load.js PORT [connections] [size] [seconds]');
  process.exit(2);
}

const message = Buffer.alloc(size, 'x');
let messages = 0;
let measuring = false;
let stopping = false;
const sockets: net.Socket[] = [];

function drive(sock: net.Socket): void {
  let pending = 0;
  sock.on('data', (chunk) => {
    pending -= chunk.length;
    if (pending > 0) return;
    if (pending < 0) throw new Error('the server sent more than it received');
    if (measuring) messages++;
    if (stopping) return;
    pending = size;
    sock.write(message);
  });
  pending = size;
  sock.write(message);
}

await Promise.all(
  Array.from({ length: connections }, () => {
    return new Promise<void>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.setNoDelay(true);
        sockets.push(sock);
        resolve();
      });
      sock.on('error', reject);
    });
  }),
);
for (const s of sockets) drive(s);
await new Promise((r) => setTimeout(r, 300)); // warm-up
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const elapsed = (performance.now() - t0) / 1000;
measuring = false;
stopping = true;
for (const s of sockets) s.destroy();
console.log(JSON.stringify({ connections, size, seconds: elapsed, messages, rate: messages / elapsed, unit: 'messages/s' }));
