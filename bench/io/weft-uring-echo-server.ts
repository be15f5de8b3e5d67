/**
 * The io_uring echo server the benchmark measures beside weft-echo-server.ts
 * (the selectors/epoll one): the same echo, as completions. A multishot accept
 * on the listener, a multishot recv per connection into the ring's provided
 * buffers, and each chunk sent back straight from the buffer it arrived in
 * (`sendBuffer`: no copy, no Buffer view; the kernel finishes a partial send
 * and takes the buffer back itself). Both run on IoUring's allocation-free
 * path: completions come to callbacks as numbers, no Completion object per
 * message. One send at a time per connection (the kernel could reorder two):
 * chunks that arrive meanwhile wait in a queue. One blocking `ring.wait()`
 * per batch both submits the sends the previous batch queued and waits for
 * the next: one system call per batch instead of epoll_wait + recv + send
 * per message.
 * Usage: node dist/bench/io/weft-uring-echo-server.js PORT [--wait-only]   (prints "ready PORT")
 * (--wait-only: a `waitOnly` ring, IORING_SETUP_DEFER_TASKRUN.)
 */
import {
  AF_INET, IPPROTO_TCP, IoUring, SOCK_STREAM, TCP_NODELAY, createServer, socket, type Completion,
} from 'weft/io';

const ring = new IoUring({ entries: 4096, bufferCount: 8192, bufferSize: 2048, waitOnly: process.argv.includes('--wait-only') });
const ENOBUFS = -105;

function accepted(c: Completion): void {
  if (c.error) throw c.error;
  const conn = new socket(AF_INET, SOCK_STREAM, 0, c.result);
  conn.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1);
  const fd = conn.fileno();
  const queue: number[] = []; // [bufferId, length] pairs received while a send was in flight
  let sending = false;
  let open = true;
  const sent = (): void => {
    sending = queue.length > 0;
    if (sending) ring.sendBuffer(fd, queue.shift()!, queue.shift()!, 0, sent);
    else if (!open) conn.close();
  };
  const onData = (n: number, bufferId: number, more: boolean): void => {
    if (n > 0) {
      if (sending) queue.push(bufferId, n);
      else {
        sending = true;
        ring.sendBuffer(fd, bufferId, n, 0, sent);
      }
    }
    if (more) return;
    // The multishot recv ended: EOF or an error closes (once the sends are
    // done); ENOBUFS (every buffer in use) or a last chunk re-arms.
    if (n > 0 || n === ENOBUFS) ring.recvMultishot(fd, onData);
    else if (sending) open = false;
    else conn.close();
  };
  ring.recvMultishot(fd, onData);
}

const port = Number(process.argv[2] ?? 0);
const listener = createServer(['127.0.0.1', port], { backlog: 4096 });
ring.accept(listener, { multishot: true }, accepted);
console.log(`ready ${(listener.getSockName() as [string, number])[1]}`);
for (;;) ring.wait(1);
