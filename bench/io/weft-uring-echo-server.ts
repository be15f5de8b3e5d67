/**
 * The io_uring echo server the benchmark measures beside weft-echo-server.ts
 * (the selectors/epoll one): the same echo, as completions. A multishot accept
 * on the listener, a multishot recv per connection into the ring's provided
 * buffers, and each chunk sent back straight from the buffer it arrived in
 * (no copy in JavaScript), the buffer handed back once the send completes;
 * a partial send sends the rest. One blocking `ring.wait()` per batch both
 * submits the sends the previous batch queued and waits for the next: one
 * system call per batch instead of epoll_wait + recv + send per message.
 * Usage: node dist/bench/io/weft-uring-echo-server.js PORT   (prints "ready PORT")
 */
import {
  AF_INET, IPPROTO_TCP, IoUring, SOCK_STREAM, TCP_NODELAY, createServer, socket, type Completion,
} from 'weft/io';

const ring = new IoUring({ entries: 4096, bufferCount: 8192, bufferSize: 2048 });

function accepted(c: Completion): void {
  if (c.error) throw c.error;
  const conn = new socket(AF_INET, SOCK_STREAM, 0, c.result);
  conn.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1);
  const onData = (r: Completion): void => {
    if (r.data !== null && r.result > 0) echo(conn, r.data, r.bufferId);
    if (r.more) return;
    // The multishot recv ended: EOF or an error closes; ENOBUFS (every buffer
    // in use) re-arms once sends have handed some back.
    if (r.error?.code === 'ENOBUFS') ring.recv(conn, { multishot: true }, onData);
    else conn.close();
  };
  ring.recv(conn, { multishot: true }, onData);
}

function echo(conn: socket, data: Buffer, bufferId: number): void {
  ring.send(conn, data, (s) => {
    if (s.error === null && s.result < data.length) return echo(conn, data.subarray(s.result), bufferId);
    ring.releaseBuffer(bufferId);
  });
}

const port = Number(process.argv[2] ?? 0);
const listener = createServer(['127.0.0.1', port], { backlog: 4096 });
ring.accept(listener, { multishot: true }, accepted);
console.log(`ready ${(listener.getSockName() as [string, number])[1]}`);
for (;;) ring.wait(1);
