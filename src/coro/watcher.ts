/**
 * The hub's I/O watcher: gevent's `loop.io(fd, events)` for weft/coro's own
 * sockets. Every watched fd sits in one edge-triggered epoll set, and that
 * epoll fd sits in Node's event loop as one libuv poll handle; when it turns
 * readable, the ready fds wake the greenlets parked on them.
 *
 * Sockets here are non-blocking and registered once, for both directions,
 * so a wait costs no epoll_ctl. Each watch remembers whether its fd may be
 * readable or writable: an event sets that, a call that found the kernel
 * buffer drained (EAGAIN, or a short read or write) clears it, and a call is
 * made only while it is set. An echo then costs recv, send and its share of
 * one epoll_wait, not a recv that fails with EAGAIN each time. No readiness
 * is missed: new data after a drained read is an edge, and edges are all
 * epoll reports.
 * @module
 */
import { io, ok } from '../io/_native.js';
import type { WatchHandle } from '../io/_native.js';
import { EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP } from '../io/constants.js';
import { EPOLL_CTL_ADD, EPOLL_CTL_DEL } from '../io/select.js';
import { type Waiter, newWaiter } from './hub.js';

const READ_EVENTS = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP;
const WRITE_EVENTS = EPOLLOUT | EPOLLERR | EPOLLHUP;
const MAX_EVENTS = 512;

/**
 * One watched fd and the greenlets parked on it: at most one reading and one
 * writing, as gevent allows one waiter per watcher. @internal
 */
export class IoWatch {
  reader: Waiter<void> | undefined = undefined;
  writer: Waiter<void> | undefined = undefined;
  /** Worth calling recv (or accept): false once a call found nothing left, until the next event. */
  readable = true;
  /** Worth calling send: false once the kernel buffer was found full, until the next event. */
  writable = true;
  /**
   * The peer shut down its side or the connection failed (EPOLLRDHUP, HUP or
   * ERR seen). Edge-triggered, the FIN that came with the last data raises no
   * event of its own: after a short read, the EOF is still there to read.
   */
  hungUp = false;
  constructor(readonly fd: number) {}
}

let epfd = -1;
let handle: WatchHandle | undefined;
let armed = false;
/** Greenlets parked on any fd: the libuv handle is armed (and keeps the loop alive) while there are some. */
let parked = 0;
const watches: (IoWatch | undefined)[] = [];
const ready = new Int32Array(2 * MAX_EVENTS);
const target = {};

function dispatch(): void {
  for (;;) {
    const n = io.epollWait(epfd, ready, MAX_EVENTS, 0);
    for (let i = 0; i < n; i++) {
      const w = watches[ready[2 * i]!];
      if (w === undefined) continue;
      const events = ready[2 * i + 1]!;
      if (events & READ_EVENTS) {
        w.readable = true;
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) w.hungUp = true;
        wake(w, true);
      }
      if (events & WRITE_EVENTS) {
        w.writable = true;
        wake(w, false);
      }
    }
    if (n < MAX_EVENTS) break;
  }
  disarmIfIdle();
}

/** Nobody waits on I/O: stop the libuv handle, so that it does not keep the process alive. */
function disarmIfIdle(): void {
  if (parked === 0 && armed) {
    armed = false;
    io.watchStop(handle!);
  }
}

function wake(w: IoWatch, reading: boolean): void {
  const waiter = reading ? w.reader : w.writer;
  if (waiter === undefined) return;
  if (reading) w.reader = undefined;
  else w.writer = undefined;
  parked--;
  waiter.switch(undefined);
}

/**
 * Start watching `fd` (non-blocking, not watched yet).
 * @throws {OSError} when epoll refuses it
 * @internal
 */
export function watchFd(fd: number): IoWatch {
  if (epfd < 0) {
    epfd = ok(io.epollCreate());
    const h = io.watchOpen(epfd, target, dispatch);
    if (typeof h === 'number') ok(h);
    handle = h as WatchHandle;
  }
  ok(io.epollCtl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET));
  const w = new IoWatch(fd);
  watches[fd] = w;
  return w;
}

/**
 * Stop watching (before the fd is closed): a parked reader or writer is
 * woken, and finds the socket closed when it retries.
 * @internal
 */
export function unwatch(w: IoWatch): void {
  if (watches[w.fd] !== w) return;
  watches[w.fd] = undefined;
  io.epollCtl(epfd, EPOLL_CTL_DEL, w.fd, 0);
  wake(w, true);
  wake(w, false);
  disarmIfIdle();
}

/**
 * Park the running greenlet until `w`'s fd may be readable (or writable).
 * A kill or `Timeout` lands here like on any weft/coro wait.
 * @throws {Error} when another greenlet already waits on it that way
 * @internal
 */
export function waitFd(w: IoWatch, reading: boolean): Promise<void> {
  if ((reading ? w.reader : w.writer) !== undefined) {
    return Promise.reject(
      new Error(`this socket is already being ${reading ? 'read' : 'written'} by another greenlet`),
    );
  }
  const waiter = newWaiter<void>();
  if (waiter.settled) return waiter.promise;
  if (reading) w.reader = waiter;
  else w.writer = waiter;
  parked++;
  waiter.cleanup = () => {
    // killed or timed out while parked
    if (reading ? w.reader !== waiter : w.writer !== waiter) return;
    if (reading) w.reader = undefined;
    else w.writer = undefined;
    parked--;
    disarmIfIdle();
  };
  if (!armed) {
    armed = true;
    ok(io.watchStart(handle!, true));
  }
  return waiter.promise;
}
