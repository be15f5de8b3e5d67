/**
 * Node's own echo server, the baseline: net.createServer, write back each chunk.
 * Usage: node dist/bench/io/node-net-echo-server.js PORT   (prints "ready PORT")
 */
import { createServer } from 'node:net';

const server = createServer({ noDelay: true }, (sock) => {
  sock.on('data', (chunk) => sock.write(chunk));
  sock.on('error', () => sock.destroy());
});
server.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0), backlog: 4096 }, () => {
  const addr = server.address();
  console.log(`ready ${typeof addr === 'object' && addr ? addr.port : 0}`);
});
