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
 *
 * Accepted sockets go straight into the ring's registered files (a direct
 * accept): no fd, and no fd look-up in the kernel on each recv and send. They
 * inherit TCP_NODELAY from the listener, since a slot takes no setsockopt.
 * Where the kernel refuses the table (`ring.fixedFilesError`) the server
 * accepts plain fds, as with --plain-fds.
 * Usage: node dist/bench/io/weft-uring-echo-server.js PORT [--wait-only] [--plain-fds]
 *   (prints "ready PORT registered-files", or "ready PORT plain-fds")
 * (--wait-only: a `waitOnly` ring, IORING_SETUP_DEFER_TASKRUN.)
 */
import {
  AF_INET, IPPROTO_TCP, IoUring, SOCK_STREAM, TCP_NODELAY, createServer, socket, type Completion, type RingFile,
} from 'weft/io';

const CONNECTIONS = 16384; // slots of the registered-file table: the most connections served at once
const ring = new IoUring({
  entries: 4096, bufferCount: 8192, bufferSize: 2048, waitOnly: process.argv.includes('--wait-only'),
  fixedFiles: process.argv.includes('--plain-fds') ? 0 : CONNECTIONS,
});
const direct = ring.fixedFiles > 0;
const ENOBUFS = -105;

function accepted(c: Completion): void {
  if (c.error) throw c.error;
  let target: RingFile;
  let close: () => void;
  if (direct) {
    target = { fixed: c.result };
    close = () => ring.closeFd(target);
  } else {
    const conn = new socket(AF_INET, SOCK_STREAM, 0, c.result);
    conn.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1);
    target = conn.fileno();
    close = () => conn.close();
  }
  const queue: number[] = []; // [bufferId, length] pairs received while a send was in flight
  let sending = false;
  let open = true;
  const sent = (): void => {
    sending = queue.length > 0;
    if (sending) ring.sendBuffer(target, queue.shift()!, queue.shift()!, 0, sent);
    else if (!open) close();
  };
  const onData = (n: number, bufferId: number, more: boolean): void => {
    if (n > 0) {
      if (sending) queue.push(bufferId, n);
      else {
        sending = true;
        ring.sendBuffer(target, bufferId, n, 0, sent);
      }
    }
    if (more) return;
    // The multishot recv ended: EOF or an error closes (once the sends are
    // done); ENOBUFS (every buffer in use) or a last chunk re-arms.
    if (n > 0 || n === ENOBUFS) ring.recvMultishot(target, onData);
    else if (sending) open = false;
    else close();
  };
  ring.recvMultishot(target, onData);
}

const port = Number(process.argv[2] ?? 0);
const listener = createServer(['127.0.0.1', port], { backlog: 4096 });
listener.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1); // inherited by every accepted socket
ring.accept(listener, { multishot: true, direct }, accepted);
console.log(`ready ${(listener.getSockName() as [string, number])[1]} ${direct ? 'registered-files' : 'plain-fds'}`);
for (;;) ring.wait(1);
