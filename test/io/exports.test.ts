/** Pins weft/io's public names (trio's test_exports.py does the same): a change here is an API change. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as io from 'weft/io';

const expected = [
  'AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_UNSPEC', 'BaseSelector', 'BlockingIOError', 'BrokenPipeError',
  'ConnectionAbortedError', 'ConnectionError', 'ConnectionRefusedError', 'ConnectionResetError',
  'DefaultSelector', 'EPOLLERR', 'EPOLLET', 'EPOLLEXCLUSIVE', 'EPOLLHUP', 'EPOLLIN', 'EPOLLMSG',
  'EPOLLONESHOT', 'EPOLLOUT', 'EPOLLPRI', 'EPOLLRDHUP', 'EPOLLRDNORM', 'EPOLLWRNORM', 'EPOLL_CLOEXEC',
  'EVENT_READ', 'EVENT_WRITE', 'EpollSelector', 'FD_SETSIZE', 'FileExistsError', 'FileNotFoundError',
  'IPPROTO_IP', 'IPPROTO_IPV6', 'IPPROTO_TCP', 'IPPROTO_UDP', 'IPV6_V6ONLY', 'InterruptedError', 'IoUring', 'KeyError',
  'MSG_DONTWAIT', 'MSG_NOSIGNAL', 'MSG_OOB', 'MSG_PEEK', 'MSG_WAITALL', 'MemoryError', 'OSError', 'OverflowError', 'POLLERR',
  'POLLHUP', 'POLLIN', 'POLLNVAL', 'POLLOUT', 'POLLPRI', 'POLLRDHUP', 'POLLRDNORM', 'POLLWRNORM', 'Poll',
  'PollSelector', 'Proactor', 'RuntimeError', 'SCM_RIGHTS', 'SHUT_RD', 'SHUT_RDWR', 'SHUT_WR', 'SOCK_CLOEXEC', 'SOCK_DGRAM',
  'SOCK_NONBLOCK', 'SOCK_RAW', 'SOCK_SEQPACKET', 'SOCK_STREAM', 'SOL_SOCKET', 'SOMAXCONN', 'SO_ACCEPTCONN',
  'SO_BROADCAST', 'SO_ERROR', 'SO_KEEPALIVE', 'SO_LINGER', 'SO_RCVBUF', 'SO_REUSEADDR', 'SO_REUSEPORT',
  'SO_SNDBUF', 'SO_TYPE', 'SelectSelector', 'SelectorKey', 'SelectorMapping', 'TCP_KEEPCNT', 'TCP_KEEPIDLE',
  'TCP_KEEPINTVL', 'TCP_NODELAY', 'TimeoutError', 'ValueError', 'createConnection', 'createServer', 'epoll',
  'fromFd', 'gaierror', 'herror', 'poll', 'select', 'socket', 'socketpair',
];

test('weft/io exports exactly its public names', () => {
  assert.deepEqual(Object.keys(io).sort(), [...expected].sort());
});

test('the seed-facing names have Python\'s values', () => {
  assert.equal(io.AF_INET, 2);
  assert.equal(io.SOCK_STREAM, 1);
  assert.equal(io.SOL_SOCKET, 1);
  assert.equal(io.SO_REUSEADDR, 2);
  assert.equal(io.EVENT_READ, 1);
  assert.equal(io.EVENT_WRITE, 2);
  assert.equal(io.EPOLLET, 2 ** 31);
  assert.equal(new io.TimeoutError().message, 'timed out');
});
