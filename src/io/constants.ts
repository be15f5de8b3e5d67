/**
 * The constants of Python's `socket` and `select` modules, under Python's names,
 * with Linux's values (as `python3 -c 'import socket; print(socket.AF_INET)'`
 * prints them). CPython generates these from the C headers in
 * Modules/socketmodule.c and Modules/selectmodule.c; weft spells them out.
 * @module
 */

/** Address families. @example new socket(AF_INET6, SOCK_STREAM) */
export const AF_UNSPEC = 0;
/** @example new socket(AF_UNIX, SOCK_STREAM) */
export const AF_UNIX = 1;
/** @example new socket(AF_INET, SOCK_STREAM) */
export const AF_INET = 2;
/** @example new socket(AF_INET6, SOCK_STREAM) */
export const AF_INET6 = 10;

/** Socket types. @example new socket(AF_INET, SOCK_STREAM) */
export const SOCK_STREAM = 1;
/** @example new socket(AF_INET, SOCK_DGRAM) */
export const SOCK_DGRAM = 2;
/** @example new socket(AF_INET, SOCK_RAW) // needs CAP_NET_RAW */
export const SOCK_RAW = 3;
/** @example new socket(AF_UNIX, SOCK_SEQPACKET) */
export const SOCK_SEQPACKET = 5;
/** Or-ed into the type: the socket starts non-blocking. @example new socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK) */
export const SOCK_NONBLOCK = 0o4000;
/** Or-ed into the type (weft sets close-on-exec on every socket anyway). @example new socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC) */
export const SOCK_CLOEXEC = 0o2000000;

/** Protocol numbers. @example sock.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1) */
export const IPPROTO_IP = 0;
/** @example sock.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1) */
export const IPPROTO_TCP = 6;
/** @example new socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP) */
export const IPPROTO_UDP = 17;
/** @example sock.setSockOpt(IPPROTO_IPV6, IPV6_V6ONLY, 0) */
export const IPPROTO_IPV6 = 41;
/** @example sock.setSockOpt(IPPROTO_IPV6, IPV6_V6ONLY, 0) */
export const IPV6_V6ONLY = 26;

/** Socket-level options. @example sock.setSockOpt(SOL_SOCKET, SO_REUSEADDR, 1) */
export const SOL_SOCKET = 1;
/** @example sock.setSockOpt(SOL_SOCKET, SO_REUSEADDR, 1) */
export const SO_REUSEADDR = 2;
/** @example sock.getSockOpt(SOL_SOCKET, SO_TYPE) === SOCK_STREAM */
export const SO_TYPE = 3;
/** @example sock.getSockOpt(SOL_SOCKET, SO_ERROR) */
export const SO_ERROR = 4;
/** @example sock.setSockOpt(SOL_SOCKET, SO_BROADCAST, 1) */
export const SO_BROADCAST = 6;
/** @example sock.setSockOpt(SOL_SOCKET, SO_SNDBUF, 1 << 20) */
export const SO_SNDBUF = 7;
/** @example sock.setSockOpt(SOL_SOCKET, SO_RCVBUF, 1 << 20) */
export const SO_RCVBUF = 8;
/** @example sock.setSockOpt(SOL_SOCKET, SO_KEEPALIVE, 1) */
export const SO_KEEPALIVE = 9;
/** Value: two int32 (onoff, seconds). @example sock.setSockOpt(SOL_SOCKET, SO_LINGER, Buffer.from([1,0,0,0, 0,0,0,0])) */
export const SO_LINGER = 13;
/** @example sock.setSockOpt(SOL_SOCKET, SO_REUSEPORT, 1) */
export const SO_REUSEPORT = 15;
/** @example sock.getSockOpt(SOL_SOCKET, SO_ACCEPTCONN) */
export const SO_ACCEPTCONN = 30;

/** TCP options. @example sock.setSockOpt(IPPROTO_TCP, TCP_NODELAY, 1) */
export const TCP_NODELAY = 1;
/** @example sock.setSockOpt(IPPROTO_TCP, TCP_KEEPIDLE, 60) */
export const TCP_KEEPIDLE = 4;
/** @example sock.setSockOpt(IPPROTO_TCP, TCP_KEEPINTVL, 10) */
export const TCP_KEEPINTVL = 5;
/** @example sock.setSockOpt(IPPROTO_TCP, TCP_KEEPCNT, 5) */
export const TCP_KEEPCNT = 6;

/** `shutdown(how)` values. @example sock.shutdown(SHUT_WR) */
export const SHUT_RD = 0;
/** @example sock.shutdown(SHUT_WR) */
export const SHUT_WR = 1;
/** @example sock.shutdown(SHUT_RDWR) */
export const SHUT_RDWR = 2;

/** `recv`/`send` flags. @example sock.recv(10, MSG_PEEK) */
export const MSG_OOB = 1;
/** @example sock.recv(10, MSG_PEEK) */
export const MSG_PEEK = 2;
/** @example sock.recv(10, MSG_DONTWAIT) */
export const MSG_DONTWAIT = 64;
/** @example sock.recv(10, MSG_WAITALL) */
export const MSG_WAITALL = 256;
/** @example sock.send(data, MSG_NOSIGNAL) // weft always adds it: EPIPE, not SIGPIPE */
export const MSG_NOSIGNAL = 0x4000;

/** The kernel's backlog ceiling (`net.core.somaxconn` default). @example sock.listen(SOMAXCONN) */
export const SOMAXCONN = 4096;

/** `select` / `poll` limits and events. FD_SETSIZE is glibc's fixed bitmap size. @example fd < FD_SETSIZE */
export const FD_SETSIZE = 1024;
/** @example p.register(sock, POLLIN) */
export const POLLIN = 0x001;
/** @example p.register(sock, POLLIN | POLLPRI) */
export const POLLPRI = 0x002;
/** @example p.register(sock, POLLOUT) */
export const POLLOUT = 0x004;
/** @example (events & POLLERR) !== 0 */
export const POLLERR = 0x008;
/** @example (events & POLLHUP) !== 0 */
export const POLLHUP = 0x010;
/** @example (events & POLLNVAL) !== 0 // the fd is not open */
export const POLLNVAL = 0x020;
/** @example p.register(sock, POLLRDNORM) */
export const POLLRDNORM = 0x040;
/** @example p.register(sock, POLLWRNORM) */
export const POLLWRNORM = 0x100;
/** @example p.register(sock, POLLIN | POLLRDHUP) */
export const POLLRDHUP = 0x2000;

/** epoll events. @example ep.register(sock, EPOLLIN) */
export const EPOLLIN = 0x001;
/** @example ep.register(sock, EPOLLIN | EPOLLPRI) */
export const EPOLLPRI = 0x002;
/** @example ep.register(sock, EPOLLOUT) */
export const EPOLLOUT = 0x004;
/** @example (events & EPOLLERR) !== 0 */
export const EPOLLERR = 0x008;
/** @example (events & EPOLLHUP) !== 0 */
export const EPOLLHUP = 0x010;
/** @example ep.register(sock, EPOLLRDNORM) */
export const EPOLLRDNORM = 0x040;
/** @example ep.register(sock, EPOLLWRNORM) */
export const EPOLLWRNORM = 0x100;
/** @example ep.register(sock, EPOLLMSG) */
export const EPOLLMSG = 0x400;
/** @example ep.register(sock, EPOLLIN | EPOLLRDHUP) */
export const EPOLLRDHUP = 0x2000;
/** @example ep.register(listener, EPOLLIN | EPOLLEXCLUSIVE) */
export const EPOLLEXCLUSIVE = 0x10000000;
/** @example ep.register(sock, EPOLLIN | EPOLLONESHOT) */
export const EPOLLONESHOT = 0x40000000;
/** Edge-triggered (bit 31; passed to the kernel as its unsigned value). @example ep.register(sock, EPOLLIN | EPOLLET) */
export const EPOLLET = 0x80000000;
/** @example new epoll(-1, EPOLL_CLOEXEC) */
export const EPOLL_CLOEXEC = 0o2000000;
