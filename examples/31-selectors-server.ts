// Seed: 3. Event-driven I/O — selectors echo server (callbacks in key.data)
/**
 * The seed's selectors server: a DefaultSelector (epoll on Linux), the
 * listening socket registered with `accept` as its data, each connection with
 * `read`; the loop calls `key.data(key.fileobj, mask)` for every ready key.
 * Added to the seed: a connection reset is closed like an EOF.
 *
 *   node dist/examples/31-selectors-server.js [--port 10000]
 *   WEFT_TOUR=1 node dist/examples/31-selectors-server.js   # serve two scripted clients, then stop
 */
import { ConnectionError, DefaultSelector, EVENT_READ, socket } from 'weft/io';
import { pyAddress, pyBytes, serverOptions, startTourClients } from './lib/io-tour.js';

type Callback = (sock: socket, mask: number) => void;
const sel = new DefaultSelector<Callback>();
const { port, tour } = serverOptions();
let gone = 0;

function accept(sock: socket, mask: number): void {
  const [conn, addr] = sock.accept(); // should be ready
  console.log('accepted', String(conn), 'from', pyAddress(addr));
  conn.setBlocking(false);
  sel.register(conn, EVENT_READ, read);
}

function read(conn: socket, mask: number): void {
  let data: Buffer;
  try {
    data = conn.recv(1000); // should be ready
  } catch (err) {
    if (!(err instanceof ConnectionError)) throw err;
    data = Buffer.alloc(0);
  }
  if (data.length > 0) {
    console.log('echoing', pyBytes(data), 'to', String(conn));
    try {
      conn.send(data); // hope it won't block
      return;
    } catch (err) {
      if (!(err instanceof ConnectionError)) throw err;
    }
  }
  console.log('closing', String(conn));
  sel.unregister(conn);
  conn.close();
  gone++;
}

const sock = new socket();
sock.bind(['localhost', port]);
sock.listen(100);
sock.setBlocking(false);
sel.register(sock, EVENT_READ, accept);
const bound = (sock.getSockName() as [string, number])[1];
console.log(`listening on localhost port ${bound}`);

const clients = tour ? startTourClients(bound, { c1: ['hello', 'selectors'], c2: ['echo me'] }) : Infinity;
while (gone < clients) {
  const events = sel.select(tour ? 10 : null); // the tour bounds the wait, in case a scripted client died
  if (tour && events.length === 0) throw new Error('tour: no client activity for 10 s');
  for (const [key, mask] of events) {
    const callback = key.data;
    callback(key.fileobj as socket, mask);
  }
}
sel.close();
sock.close();
