/**
 * The constants of Python's `socket` and `select` modules, under Python's names,
 * with Linux's values (as `python3 -c 'import socket; print(socket.AF_INET)'`
 * prints them). CPython generates these from the C headers in
 * Modules/socketmodule.c and Modules/selectmodule.c; weft spells them out.
 * @module
 */

/**
 * Address families.
 * @example
 * import { AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC } from 'weft/io';
 * console.log(AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6); // 0 1 2 10
 */
export const AF_UNSPEC = 0;
/**
 * Address family: Unix domain sockets (local, addressed by a path).
 * @example
 * import { AF_UNIX, SOCK_STREAM, socketpair } from 'weft/io';
 * const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
 * console.log(a.family === AF_UNIX); // true
 * a.close(); b.close();
 */
export const AF_UNIX = 1;
/**
 * Address family: IPv4.
 * @example
 * import { AF_INET, SOCK_STREAM, socket } from 'weft/io';
 * using sock = new socket(AF_INET, SOCK_STREAM);
 * sock.bind(['127.0.0.1', 0]);
 * console.log(sock.getSockName()[0]); // 127.0.0.1
 */
export const AF_INET = 2;
/**
 * Address family: IPv6.
 * @example
 * import { AF_INET6, createServer } from 'weft/io';
 * using srv = createServer(['::1', 0], { family: AF_INET6 });
 * console.log(srv.family === AF_INET6, srv.getSockName()[0]); // true ::1
 */
export const AF_INET6 = 10;

/**
 * Socket types.
 * @example
 * import { AF_INET, SOCK_STREAM, socket } from 'weft/io';
 * using sock = new socket(AF_INET, SOCK_STREAM);
 * console.log(sock.type === SOCK_STREAM); // true
 */
export const SOCK_STREAM = 1;
/**
 * Socket type: datagrams (UDP on AF_INET and AF_INET6).
 * @example
 * import { AF_INET, SOCK_DGRAM, socket } from 'weft/io';
 * using udp = new socket(AF_INET, SOCK_DGRAM);
 * udp.bind(['127.0.0.1', 0]);
 * udp.sendTo(Buffer.from('ping'), udp.getSockName());
 * console.log(String(udp.recv(16))); // ping
 */
export const SOCK_DGRAM = 2;
/**
 * Socket type: raw packets of one protocol (needs CAP_NET_RAW).
 * @example
 * import { AF_INET, OSError, SOCK_RAW, socket } from 'weft/io';
 * try {
 *   new socket(AF_INET, SOCK_RAW, 1).close(); // ICMP: needs CAP_NET_RAW
 * } catch (e) {
 *   if (!(e instanceof OSError && e.code === 'EPERM')) throw e;
 * }
 */
export const SOCK_RAW = 3;
/**
 * Socket type: reliable messages, each received whole and alone.
 * @example
 * import { AF_UNIX, SOCK_SEQPACKET, socketpair } from 'weft/io';
 * const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET);
 * a.sendAll(Buffer.from('one'));
 * a.sendAll(Buffer.from('two'));
 * console.log(String(b.recv(100)), String(b.recv(100))); // one two
 * a.close(); b.close();
 */
export const SOCK_SEQPACKET = 5;
/**
 * Or-ed into the type: the socket starts non-blocking.
 * @example
 * import { AF_INET, SOCK_NONBLOCK, SOCK_STREAM, socket } from 'weft/io';
 * using sock = new socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
 * console.log(sock.getBlocking()); // false
 */
export const SOCK_NONBLOCK = 0o4000;
/**
 * Or-ed into the type (weft sets close-on-exec on every socket anyway).
 * @example
 * import { AF_INET, SOCK_CLOEXEC, SOCK_STREAM, socket } from 'weft/io';
 * using sock = new socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC);
 * console.log(sock.type === SOCK_STREAM); // true
 */
export const SOCK_CLOEXEC = 0o2000000;

/**
 * Protocol numbers.
 * @example
 * import { AF_INET, IPPROTO_IP, SOCK_STREAM, socket } from 'weft/io';
 * using sock = new socket(AF_INET, SOCK_STREAM, IPPROTO_IP); // the family's default protocol
 * console.log(sock.proto); // 0
 */
export const IPPROTO_IP = 0;
/**
 * Protocol number of TCP, and the level of the `TCP_*` options.
 * @example
 * import { IPPROTO_TCP, TCP_NODELAY, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1);
 * console.log(sock.getSockOpt(IPPROTO_TCP, TCP_NODELAY)); // 1
 */
export const IPPROTO_TCP = 6;
/**
 * Protocol number of UDP.
 * @example
 * import { AF_INET, IPPROTO_UDP, SOCK_DGRAM, socket } from 'weft/io';
 * using udp = new socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
 * console.log(udp.proto); // 17
 */
export const IPPROTO_UDP = 17;
/**
 * Protocol number of IPv6, and the level of the `IPV6_*` options.
 * @example
 * import { AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, socket } from 'weft/io';
 * using sock = new socket(AF_INET6);
 * sock.setSockOpt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
 * console.log(sock.getSockOpt(IPPROTO_IPV6, IPV6_V6ONLY)); // 1
 */
export const IPPROTO_IPV6 = 41;
/**
 * IPv6 option: 1 takes IPv6 only; 0 also IPv4, seen as `::ffff:a.b.c.d`.
 * @example
 * import { AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, socket } from 'weft/io';
 * using sock = new socket(AF_INET6);
 * sock.setSockOpt(IPPROTO_IPV6, IPV6_V6ONLY, 0); // also accept IPv4, as ::ffff:a.b.c.d
 * console.log(sock.getSockOpt(IPPROTO_IPV6, IPV6_V6ONLY)); // 0
 */
export const IPV6_V6ONLY = 26;

/**
 * Socket-level options.
 * @example
 * import { SOL_SOCKET, SO_KEEPALIVE, socket } from 'weft/io';
 * using sock = new socket();
 * console.log(sock.getSockOpt(SOL_SOCKET, SO_KEEPALIVE)); // 0
 */
export const SOL_SOCKET = 1;
/**
 * Ancillary message type at SOL_SOCKET: open fds passed over a Unix socket
 * (the receiver gets its own copies), as `IoUring.sendmsg`'s ancdata.
 * @example
 * import { SCM_RIGHTS, SOL_SOCKET, type AncillaryData } from 'weft/io';
 * const pass: AncillaryData = [SOL_SOCKET, SCM_RIGHTS, new Uint8Array(new Int32Array([0]).buffer)];
 * console.log(pass[1]); // 1
 */
export const SCM_RIGHTS = 1;
/**
 * Socket option: bind an address whose last connection is still in TIME_WAIT.
 * @example
 * import { SOL_SOCKET, SO_REUSEADDR, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(SOL_SOCKET, SO_REUSEADDR, 1);
 * console.log(sock.getSockOpt(SOL_SOCKET, SO_REUSEADDR)); // 1
 */
export const SO_REUSEADDR = 2;
/**
 * Socket option, read-only: the socket type, e.g. SOCK_STREAM.
 * @example
 * import { AF_INET, SOCK_DGRAM, SOL_SOCKET, SO_TYPE, socket } from 'weft/io';
 * using udp = new socket(AF_INET, SOCK_DGRAM);
 * console.log(udp.getSockOpt(SOL_SOCKET, SO_TYPE) === SOCK_DGRAM); // true
 */
export const SO_TYPE = 3;
/**
 * Socket option, read-only: the pending error, cleared by reading it (0 once a non-blocking connect succeeded).
 * @example
 * import { AF_INET, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_ERROR, createServer, select, socket } from 'weft/io';
 * using srv = createServer(['127.0.0.1', 0]);
 * using sock = new socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
 * sock.connectEx(srv.getSockName()); // in progress
 * select([], [sock], [], 1);
 * console.log(sock.getSockOpt(SOL_SOCKET, SO_ERROR)); // 0
 */
export const SO_ERROR = 4;
/**
 * Socket option: allow datagrams to a broadcast address.
 * @example
 * import { AF_INET, SOCK_DGRAM, SOL_SOCKET, SO_BROADCAST, socket } from 'weft/io';
 * using udp = new socket(AF_INET, SOCK_DGRAM);
 * udp.setSockOpt(SOL_SOCKET, SO_BROADCAST, 1);
 * console.log(udp.getSockOpt(SOL_SOCKET, SO_BROADCAST)); // 1
 */
export const SO_BROADCAST = 6;
/**
 * Socket option: send buffer size in bytes (the kernel doubles the value set).
 * @example
 * import { SOL_SOCKET, SO_SNDBUF, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(SOL_SOCKET, SO_SNDBUF, 32768);
 * console.log(sock.getSockOpt(SOL_SOCKET, SO_SNDBUF)); // 65536
 */
export const SO_SNDBUF = 7;
/**
 * Socket option: receive buffer size in bytes (the kernel doubles the value set).
 * @example
 * import { SOL_SOCKET, SO_RCVBUF, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(SOL_SOCKET, SO_RCVBUF, 32768);
 * console.log(sock.getSockOpt(SOL_SOCKET, SO_RCVBUF)); // 65536
 */
export const SO_RCVBUF = 8;
/**
 * Socket option: send TCP keep-alive probes on an idle connection.
 * @example
 * import { SOL_SOCKET, SO_KEEPALIVE, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(SOL_SOCKET, SO_KEEPALIVE, 1);
 * console.log(sock.getSockOpt(SOL_SOCKET, SO_KEEPALIVE)); // 1
 */
export const SO_KEEPALIVE = 9;
/**
 * Value: two int32 (onoff, seconds).
 * @example
 * import { SOL_SOCKET, SO_LINGER, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])); // on, 0 s: close() resets
 * console.log(sock.getSockOpt(SOL_SOCKET, SO_LINGER, 8)); // <Buffer 01 00 00 00 00 00 00 00>
 */
export const SO_LINGER = 13;
/**
 * Socket option: several sockets may bind one address and port; the kernel spreads connections between them.
 * @example
 * import { SOL_SOCKET, SO_REUSEPORT, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(SOL_SOCKET, SO_REUSEPORT, 1);
 * console.log(sock.getSockOpt(SOL_SOCKET, SO_REUSEPORT)); // 1
 */
export const SO_REUSEPORT = 15;
/**
 * Socket option, read-only: 1 when the socket listens.
 * @example
 * import { SOL_SOCKET, SO_ACCEPTCONN, createServer } from 'weft/io';
 * using srv = createServer(['127.0.0.1', 0]);
 * console.log(srv.getSockOpt(SOL_SOCKET, SO_ACCEPTCONN)); // 1
 */
export const SO_ACCEPTCONN = 30;

/**
 * TCP options.
 * @example
 * import { IPPROTO_TCP, TCP_NODELAY, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(IPPROTO_TCP, TCP_NODELAY, true);
 * console.log(sock.getSockOpt(IPPROTO_TCP, TCP_NODELAY)); // 1
 */
export const TCP_NODELAY = 1;
/**
 * TCP option: seconds a connection is idle before the first keep-alive probe.
 * @example
 * import { IPPROTO_TCP, TCP_KEEPIDLE, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(IPPROTO_TCP, TCP_KEEPIDLE, 60);
 * console.log(sock.getSockOpt(IPPROTO_TCP, TCP_KEEPIDLE)); // 60
 */
export const TCP_KEEPIDLE = 4;
/**
 * TCP option: seconds between keep-alive probes.
 * @example
 * import { IPPROTO_TCP, TCP_KEEPINTVL, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(IPPROTO_TCP, TCP_KEEPINTVL, 10);
 * console.log(sock.getSockOpt(IPPROTO_TCP, TCP_KEEPINTVL)); // 10
 */
export const TCP_KEEPINTVL = 5;
/**
 * TCP option: unanswered keep-alive probes before the connection is dropped.
 * @example
 * import { IPPROTO_TCP, TCP_KEEPCNT, socket } from 'weft/io';
 * using sock = new socket();
 * sock.setSockOpt(IPPROTO_TCP, TCP_KEEPCNT, 5);
 * console.log(sock.getSockOpt(IPPROTO_TCP, TCP_KEEPCNT)); // 5
 */
export const TCP_KEEPCNT = 6;

/**
 * `shutdown(how)` values.
 * @example
 * import { SHUT_RD, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * a.shutdown(SHUT_RD);
 * console.log(a.recv(10).length); // 0
 * a.close(); b.close();
 */
export const SHUT_RD = 0;
/**
 * `shutdown` value: no more sending (the peer reads end of file).
 * @example
 * import { SHUT_WR, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * a.shutdown(SHUT_WR);
 * console.log(b.recv(10).length); // 0
 * a.close(); b.close();
 */
export const SHUT_WR = 1;
/**
 * `shutdown` value: no more receiving and no more sending.
 * @example
 * import { SHUT_RDWR, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * a.shutdown(SHUT_RDWR);
 * console.log(a.recv(10).length, b.recv(10).length); // 0 0
 * a.close(); b.close();
 */
export const SHUT_RDWR = 2;

/**
 * `recv`/`send` flags.
 * @example
 * import { MSG_OOB, createServer, select, socket } from 'weft/io';
 * using srv = createServer(['127.0.0.1', 0]);
 * using client = new socket();
 * client.connect(srv.getSockName());
 * using conn = srv.accept()[0];
 * client.send(Buffer.from('!'), MSG_OOB); // TCP urgent data
 * select([], [], [conn], 1);
 * console.log(String(conn.recv(1, MSG_OOB))); // !
 */
export const MSG_OOB = 1;
/**
 * Flag: return the data without taking it from the receive queue.
 * @example
 * import { MSG_PEEK, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * a.sendAll(Buffer.from('hello'));
 * console.log(String(b.recv(10, MSG_PEEK)), String(b.recv(10))); // hello hello
 * a.close(); b.close();
 */
export const MSG_PEEK = 2;
/**
 * Flag: this one call does not block (BlockingIOError instead of a wait).
 * @example
 * import { BlockingIOError, MSG_DONTWAIT, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * try { b.recv(10, MSG_DONTWAIT); } catch (e) { console.log(e instanceof BlockingIOError); } // true
 * a.close(); b.close();
 */
export const MSG_DONTWAIT = 64;
/**
 * Flag: `recv` waits for the full count (an error, a signal or end of file still stops it early).
 * @example
 * import { MSG_WAITALL, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * a.sendAll(Buffer.from('abc'));
 * a.sendAll(Buffer.from('def'));
 * console.log(String(b.recv(6, MSG_WAITALL))); // abcdef
 * a.close(); b.close();
 */
export const MSG_WAITALL = 256;
/**
 * Flag: sending to a closed peer raises BrokenPipeError (EPIPE) instead of the signal SIGPIPE.
 * @example
 * import { BrokenPipeError, MSG_NOSIGNAL, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * b.close();
 * try {
 *   a.send(Buffer.from('x'), MSG_NOSIGNAL); // weft always adds it: EPIPE, not SIGPIPE
 * } catch (e) {
 *   console.log(e instanceof BrokenPipeError); // true
 * }
 * a.close();
 */
export const MSG_NOSIGNAL = 0x4000;

/**
 * The kernel's backlog ceiling (`net.core.somaxconn` default).
 * @example
 * import { SOMAXCONN, SOL_SOCKET, SO_ACCEPTCONN, socket } from 'weft/io';
 * using srv = new socket();
 * srv.bind(['127.0.0.1', 0]);
 * srv.listen(SOMAXCONN);
 * console.log(srv.getSockOpt(SOL_SOCKET, SO_ACCEPTCONN)); // 1
 */
export const SOMAXCONN = 4096;

/**
 * `select` / `poll` limits and events. FD_SETSIZE is glibc's fixed bitmap size.
 * @example
 * import { FD_SETSIZE, select } from 'weft/io';
 * try { select([FD_SETSIZE], [], [], 0); } catch (e) { console.log((e as Error).message); } // filedescriptor out of range in select()
 */
export const FD_SETSIZE = 1024;
/**
 * poll event: data to read.
 * @example
 * import { POLLIN, poll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * const p = poll();
 * p.register(b, POLLIN);
 * a.sendAll(Buffer.from('x'));
 * console.log(p.poll(0)[0][1] === POLLIN); // true
 * a.close(); b.close();
 */
export const POLLIN = 0x001;
/**
 * poll event: urgent data to read.
 * @example
 * import { POLLIN, POLLPRI, poll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * const p = poll();
 * p.register(b, POLLIN | POLLPRI); // POLLPRI: urgent data, such as TCP's out-of-band byte
 * a.sendAll(Buffer.from('x'));
 * console.log(p.poll(0)[0][1] === POLLIN); // true
 * a.close(); b.close();
 */
export const POLLPRI = 0x002;
/**
 * poll event: writing will not block.
 * @example
 * import { POLLOUT, poll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * const p = poll();
 * p.register(a, POLLOUT);
 * console.log(p.poll(0)[0][1] === POLLOUT); // true
 * a.close(); b.close();
 */
export const POLLOUT = 0x004;
/**
 * poll event, reported without being asked for: an error condition.
 * @example
 * import { AF_INET, POLLERR, POLLOUT, SOCK_NONBLOCK, SOCK_STREAM, poll, socket } from 'weft/io';
 * using closed = new socket();
 * closed.bind(['127.0.0.1', 0]); // bound, not listening: a connection is refused
 * using sock = new socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
 * sock.connectEx(closed.getSockName());
 * const p = poll();
 * p.register(sock, POLLOUT);
 * console.log((p.poll(1000)[0][1] & POLLERR) !== 0); // true
 */
export const POLLERR = 0x008;
/**
 * poll event, reported without being asked for: the peer hung up.
 * @example
 * import { POLLHUP, POLLIN, poll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * b.close();
 * const p = poll();
 * p.register(a, POLLIN);
 * console.log((p.poll(0)[0][1] & POLLHUP) !== 0); // true
 * a.close();
 */
export const POLLHUP = 0x010;
/**
 * poll event, reported without being asked for: the fd is not open.
 * @example
 * import { POLLIN, POLLNVAL, poll } from 'weft/io';
 * const p = poll();
 * p.register(1000, POLLIN); // no fd 1000 is open
 * console.log(p.poll(0)[0][1] === POLLNVAL); // true
 */
export const POLLNVAL = 0x020;
/**
 * poll event: normal data to read (POLLIN, on Linux).
 * @example
 * import { POLLRDNORM, poll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * const p = poll();
 * p.register(b, POLLRDNORM);
 * a.sendAll(Buffer.from('x'));
 * console.log(p.poll(0)[0][1] === POLLRDNORM); // true
 * a.close(); b.close();
 */
export const POLLRDNORM = 0x040;
/**
 * poll event: normal data may be written (POLLOUT, on Linux).
 * @example
 * import { POLLWRNORM, poll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * const p = poll();
 * p.register(a, POLLWRNORM);
 * console.log(p.poll(0)[0][1] === POLLWRNORM); // true
 * a.close(); b.close();
 */
export const POLLWRNORM = 0x100;
/**
 * poll event: the peer shut down its sending side (Linux only).
 * @example
 * import { POLLIN, POLLRDHUP, SHUT_WR, poll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * b.shutdown(SHUT_WR); // the peer will send no more
 * const p = poll();
 * p.register(a, POLLIN | POLLRDHUP);
 * console.log((p.poll(0)[0][1] & POLLRDHUP) !== 0); // true
 * a.close(); b.close();
 */
export const POLLRDHUP = 0x2000;

/**
 * epoll events.
 * @example
 * import { EPOLLIN, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(b, EPOLLIN);
 * a.sendAll(Buffer.from('x'));
 * console.log(ep.poll(0)[0][1] === EPOLLIN); // true
 * a.close(); b.close();
 */
export const EPOLLIN = 0x001;
/**
 * epoll event: urgent data to read.
 * @example
 * import { EPOLLIN, EPOLLPRI, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(b, EPOLLIN | EPOLLPRI); // EPOLLPRI: urgent data, such as TCP's out-of-band byte
 * a.sendAll(Buffer.from('x'));
 * console.log(ep.poll(0)[0][1] === EPOLLIN); // true
 * a.close(); b.close();
 */
export const EPOLLPRI = 0x002;
/**
 * epoll event: writing will not block.
 * @example
 * import { EPOLLOUT, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(a, EPOLLOUT);
 * console.log(ep.poll(0)[0][1] === EPOLLOUT); // true
 * a.close(); b.close();
 */
export const EPOLLOUT = 0x004;
/**
 * epoll event, always reported: an error condition.
 * @example
 * import { AF_INET, EPOLLERR, EPOLLOUT, SOCK_NONBLOCK, SOCK_STREAM, epoll, socket } from 'weft/io';
 * using closed = new socket();
 * closed.bind(['127.0.0.1', 0]); // bound, not listening: a connection is refused
 * using sock = new socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
 * sock.connectEx(closed.getSockName());
 * using ep = new epoll();
 * ep.register(sock, EPOLLOUT);
 * console.log((ep.poll(1)[0][1] & EPOLLERR) !== 0); // true
 */
export const EPOLLERR = 0x008;
/**
 * epoll event, always reported: the peer hung up.
 * @example
 * import { EPOLLHUP, EPOLLIN, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * b.close();
 * using ep = new epoll();
 * ep.register(a, EPOLLIN);
 * console.log((ep.poll(0)[0][1] & EPOLLHUP) !== 0); // true
 * a.close();
 */
export const EPOLLHUP = 0x010;
/**
 * epoll event: normal data to read.
 * @example
 * import { EPOLLRDNORM, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(b, EPOLLRDNORM);
 * a.sendAll(Buffer.from('x'));
 * console.log(ep.poll(0)[0][1] === EPOLLRDNORM); // true
 * a.close(); b.close();
 */
export const EPOLLRDNORM = 0x040;
/**
 * epoll event: normal data may be written.
 * @example
 * import { EPOLLWRNORM, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(a, EPOLLWRNORM);
 * console.log(ep.poll(0)[0][1] === EPOLLWRNORM); // true
 * a.close(); b.close();
 */
export const EPOLLWRNORM = 0x100;
/**
 * epoll event that the kernel accepts and never reports.
 * @example
 * import { EPOLLMSG, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(b, EPOLLMSG); // accepted, never reported
 * a.sendAll(Buffer.from('x'));
 * console.log(ep.poll(0)); // []
 * a.close(); b.close();
 */
export const EPOLLMSG = 0x400;
/**
 * epoll event: the peer shut down its sending side.
 * @example
 * import { EPOLLIN, EPOLLRDHUP, SHUT_WR, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * b.shutdown(SHUT_WR); // the peer will send no more
 * using ep = new epoll();
 * ep.register(a, EPOLLIN | EPOLLRDHUP);
 * console.log((ep.poll(0)[0][1] & EPOLLRDHUP) !== 0); // true
 * a.close(); b.close();
 */
export const EPOLLRDHUP = 0x2000;
/**
 * epoll flag: of several epoll instances waiting on one fd, one wakes per event (no thundering herd).
 * @example
 * import { EPOLLEXCLUSIVE, EPOLLIN, createServer, epoll, socket } from 'weft/io';
 * using srv = createServer(['127.0.0.1', 0]);
 * using ep = new epoll();
 * ep.register(srv, EPOLLIN | EPOLLEXCLUSIVE); // of several epolls waiting on srv, one wakes per connection
 * using client = new socket();
 * client.connect(srv.getSockName());
 * console.log(ep.poll(1).length); // 1
 */
export const EPOLLEXCLUSIVE = 0x10000000;
/**
 * epoll flag: one event, then the fd is disabled until `modify()`.
 * @example
 * import { EPOLLIN, EPOLLONESHOT, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(b, EPOLLIN | EPOLLONESHOT); // one event, then disabled until modify()
 * a.sendAll(Buffer.from('x'));
 * console.log(ep.poll(0).length, ep.poll(0).length); // 1 0
 * a.close(); b.close();
 */
export const EPOLLONESHOT = 0x40000000;
/**
 * Edge-triggered (bit 31; passed to the kernel as its unsigned value).
 * @example
 * import { EPOLLET, EPOLLIN, epoll, socketpair } from 'weft/io';
 * const [a, b] = socketpair();
 * using ep = new epoll();
 * ep.register(b, EPOLLIN | EPOLLET); // reported when data arrives, not while it waits unread
 * a.sendAll(Buffer.from('x'));
 * console.log(ep.poll(0).length, ep.poll(0).length); // 1 0
 * a.close(); b.close();
 */
export const EPOLLET = 0x80000000;
/**
 * `epoll` creation flag: close-on-exec.
 * @example
 * import { EPOLL_CLOEXEC, epoll } from 'weft/io';
 * using ep = new epoll(-1, EPOLL_CLOEXEC); // weft sets close-on-exec anyway
 * console.log(ep.fileno() > 2); // true
 */
export const EPOLL_CLOEXEC = 0o2000000;
