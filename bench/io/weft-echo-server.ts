/**
 * The weft echo server the benchmark measures: the seed's selectors server
 * (DefaultSelector = epoll, callbacks in key.data) minus the printing, with one
 * receive buffer reused for every read (recvInto) and partial sends queued.
 * Usage: node dist/bench/io/weft-echo-server.js PORT   (prints "ready PORT")
 */
import {
  BlockingIOError, ConnectionError, DefaultSelector, EVENT_READ, EVENT_WRITE, IPPROTO_TCP, TCP_NODELAY,
  createServer, type socket,
} from 'weft/io';

type Handler = (sock: socket, mask: number) => void;
const sel = new DefaultSelector<Handler>();
const buf = Buffer.allocUnsafe(65536);
const backlog = new Map<socket, Buffer>(); // bytes the kernel did not take yet

function accept(listener: socket): void {
  for (;;) {
    let conn: socket;
    try {
      [conn] = listener.accept();
    } catch (err) {
      if (err instanceof BlockingIOError) return;
      throw err;
    }
    conn.setBlocking(false);
    conn.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1);
    sel.register(conn, EVENT_READ, echo);
  }
}

function drop(conn: socket): void {
  sel.unregister(conn);
  backlog.delete(conn);
  conn.close();
}

function echo(conn: socket, mask: number): void {
  try {
    if (mask & EVENT_WRITE) {
      const rest = backlog.get(conn)!;
      const n = conn.send(rest);
      if (n < rest.length) backlog.set(conn, rest.subarray(n));
      else {
        backlog.delete(conn);
        sel.modify(conn, EVENT_READ, echo);
      }
      return;
    }
    const n = conn.recvInto(buf);
    if (n === 0) return drop(conn);
    const sent = conn.send(buf.subarray(0, n));
    if (sent < n) {
      backlog.set(conn, Buffer.from(buf.subarray(sent, n)));
      sel.modify(conn, EVENT_WRITE, echo);
    }
  } catch (err) {
    if (err instanceof BlockingIOError) return;
    if (err instanceof ConnectionError) return drop(conn);
    throw err;
  }
}

const port = Number(process.argv[2] ?? 0);
const listener = createServer(['127.0.0.1', port], { backlog: 4096 });
listener.setBlocking(false);
sel.register(listener, EVENT_READ, accept);
console.log(`ready ${(listener.getSockName() as [string, number])[1]}`);
for (;;) {
  for (const [key, mask] of sel.select()) key.data(key.fileobj as socket, mask);
}
