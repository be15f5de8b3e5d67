// Seed: 3. Event-driven I/O — the selectors echo server as a proactor (asynchronous I/O)
/**
 * The seed's selectors server (31-selectors-server.ts) rewritten for the
 * fifth I/O model, asynchronous I/O: instead of asking which socket is ready
 * and then calling accept/recv/send itself, the server asks the kernel to do
 * the accept, the recv and the send (io_uring) and is told when each is done.
 * The same program, turned inside out: `await proactor.accept(sock)` where the
 * selectors server registered `accept` as a callback, `await proactor.recv`
 * where it registered `read`. Node's event loop keeps running meanwhile.
 * Where io_uring is unavailable (an old kernel, a container's seccomp
 * profile) it says why and exits with status 2: 31-selectors-server.ts
 * serves there.
 *
 *   node dist/examples/32-proactor-server.js [--port 10000]
 *   WEFT_TOUR=1 node dist/examples/32-proactor-server.js   # serve two scripted clients, then stop
 */
import { ConnectionError, IoUring, OSError, Proactor, socket, type Address } from 'weft/io';
import { pyAddress, pyBytes, serverOptions, startTourClients } from './lib/io-tour.js';

const available = IoUring.available();
if (!available.ok) {
  console.error(`io_uring unavailable: ${available.reason}`);
  process.exit(2);
}

const proactor = new Proactor();
const { port, tour } = serverOptions();
let gone = 0;
let clients = Infinity;

async function serve(conn: socket): Promise<void> {
  for (;;) {
    let data: Buffer;
    try {
      data = await proactor.recv(conn, 1000);
    } catch (err) {
      if (!(err instanceof ConnectionError)) throw err;
      data = Buffer.alloc(0);
    }
    if (data.length === 0) break;
    console.log('echoing', pyBytes(data), 'to', String(conn));
    try {
      await proactor.sendAll(conn, data);
    } catch (err) {
      if (!(err instanceof ConnectionError)) throw err;
      break;
    }
  }
  console.log('closing', String(conn));
  conn.close();
  if (++gone >= clients) stop();
}

const sock = new socket();
sock.bind(['localhost', port]);
sock.listen(100);
const bound = (sock.getSockName() as [string, number])[1];
console.log(`listening on localhost port ${bound}`);

function stop(): void {
  proactor.close(); // cancels the pending accept
  sock.close();
}

if (tour) {
  clients = startTourClients(bound, { c1: ['hello', 'proactor'], c2: ['echo me'] });
  // In case a scripted client died: no tour takes 10 s.
  setTimeout(() => {
    console.error('tour: clients did not finish in 10 s');
    process.exit(1);
  }, 10_000).unref();
}

for (;;) {
  let conn: socket;
  let addr: Address;
  try {
    [conn, addr] = await proactor.accept(sock);
  } catch (err) {
    if (gone >= clients) break; // stop() cancelled the accept
    if (err instanceof OSError && err.code === 'ENOTCONN') continue; // reset before its address was read
    throw err;
  }
  console.log('accepted', String(conn), 'from', pyAddress(addr));
  void serve(conn);
}
