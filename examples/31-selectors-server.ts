// Seed: 3. Event-driven I/O — selectors echo server (callbacks in key.data)
/**
 * The seed's selectors server: a DefaultSelector (epoll on Linux), the
 * listening socket registered with `accept` as its data, each connection with
 * `read`; the loop calls `key.data(key.fileobj, mask)` for every ready key.
 * Added to the seed, as a production server needs: a connection reset is closed
 * like an EOF; output the kernel did not take yet (a partial send, or a full
 * send buffer: BlockingIOError) waits in a per-connection queue and goes out
 * on EVENT_WRITE; a client that sends without reading its replies stops being
 * read once MAX_PENDING bytes wait for it, so it cannot grow the server's
 * memory or stall the other clients.
 *
 *   node dist/examples/31-selectors-server.js [--port 10000]
 *   WEFT_TOUR=1 node dist/examples/31-selectors-server.js   # serve two scripted clients, then stop
 */
import { BlockingIOError, ConnectionError, DefaultSelector, EVENT_READ, EVENT_WRITE, socket } from 'weft/io';
import { pyAddress, pyBytes, serverOptions, startTourClients } from './lib/io-tour.js';

type Callback = (sock: socket, mask: number) => void;
const sel = new DefaultSelector<Callback>();
const { port, tour } = serverOptions();
let gone = 0;

/** Bytes a connection may have waiting to be sent before the server stops reading from it. */
const MAX_PENDING = 64 * 1024;
/** Output per connection that the kernel has not taken yet. */
const pending = new Map<socket, Buffer[]>();

function accept(sock: socket, mask: number): void {
  let conn: socket;
  let addr: unknown;
  try {
    [conn, addr] = sock.accept(); // should be ready
  } catch (err) {
    if (err instanceof BlockingIOError) return; // the client went away before we got to it
    throw err;
  }
  console.log('accepted', String(conn), 'from', pyAddress(addr));
  conn.setBlocking(false);
  pending.set(conn, []);
  sel.register(conn, EVENT_READ, serve);
}

function serve(conn: socket, mask: number): void {
  if (mask & EVENT_READ) read(conn);
  if (mask & EVENT_WRITE && pending.has(conn)) flush(conn);
}

function read(conn: socket): void {
  let data: Buffer;
  try {
    data = conn.recv(1000); // should be ready
  } catch (err) {
    if (err instanceof BlockingIOError) return; // a spurious wake-up
    if (!(err instanceof ConnectionError)) throw err;
    data = Buffer.alloc(0);
  }
  if (data.length === 0) return close(conn);
  console.log('echoing', pyBytes(data), 'to', String(conn));
  pending.get(conn)!.push(data);
  flush(conn);
}

/** Send what the kernel takes now; wait for EVENT_WRITE for the rest, and stop reading while too much waits. */
function flush(conn: socket): void {
  const queue = pending.get(conn)!;
  try {
    while (queue.length > 0) {
      const head = queue[0]!;
      const sent = conn.send(head); // may send only part: the rest stays queued
      if (sent < head.length) {
        queue[0] = head.subarray(sent);
        break;
      }
      queue.shift();
    }
  } catch (err) {
    if (err instanceof ConnectionError) return close(conn);
    if (!(err instanceof BlockingIOError)) throw err; // the send buffer is full: EVENT_WRITE says when it drains
  }
  const waiting = queue.reduce((n, b) => n + b.length, 0);
  const events = (waiting < MAX_PENDING ? EVENT_READ : 0) | (waiting > 0 ? EVENT_WRITE : 0);
  if (events !== sel.getKey(conn).events) sel.modify(conn, events, serve);
}

function close(conn: socket): void {
  console.log('closing', String(conn));
  sel.unregister(conn);
  pending.delete(conn);
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
