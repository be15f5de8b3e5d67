/**
 * Internal: the typed view of the addon functions weft/io uses (native/socket.cc
 * and native/select.cc), and the one place their `-errno` results become
 * Python's exceptions. No Python twin: CPython's socket and select modules are C.
 * @module
 */
import { native } from '../native.js';
import { fromErrno, TimeoutError } from '../errors.js';
import { blockingStdio } from '../stdio.js';

/** A libuv poll handle made by `watchOpen` (opaque). */
export type WatchHandle = { readonly __watch: unique symbol };

/** The addon's socket and select functions. Negative numbers are `-errno`. */
export interface IoNative {
  sockSocket(family: number, type: number, proto: number): number;
  sockPair(family: number, type: number, proto: number): [number, number] | number;
  sockInfo(fd: number): [number, number, number] | number;
  sockDup(fd: number): number;
  sockClose(fd: number): number;
  sockSetNonblock(fd: number, on: boolean): number;
  sockBind(fd: number, family: number, host: string | Buffer, port?: number, flowinfo?: number, scope?: number): number;
  sockListen(fd: number, backlog: number): number;
  sockConnect(
    fd: number, timeout: number, family: number, host: string | Buffer, port?: number, flowinfo?: number, scope?: number,
  ): number;
  sockAccept(fd: number, timeout: number): [number, unknown] | number;
  sockRecv(fd: number, buf: Uint8Array, offset: number, length: number, flags: number, timeout: number): number;
  sockSend(fd: number, buf: Uint8Array, offset: number, length: number, flags: number, timeout: number): number;
  sockSendAll(fd: number, buf: Uint8Array, offset: number, length: number, flags: number, timeout: number): number;
  sockRecvFrom(
    fd: number, buf: Uint8Array, offset: number, length: number, flags: number, timeout: number,
  ): [number, unknown] | number;
  sockSendTo(
    fd: number, buf: Uint8Array, offset: number, length: number, flags: number, timeout: number,
    family: number, host: string | Buffer, port?: number, flowinfo?: number, scope?: number,
  ): number;
  sockShutdown(fd: number, how: number): number;
  sockName(fd: number, peer: boolean): unknown;
  sockSetOpt(fd: number, level: number, name: number, value: number | Uint8Array): number;
  sockGetOpt(fd: number, level: number, name: number, buflen: number): number | Buffer;
  sockResolve(host: string, family: number): [number, string][] | number;
  sockGaiStrerror(code: number): string;
  selectWait(r: Int32Array, w: Int32Array, x: Int32Array, timeout: number): number;
  pollWait(pollfds: Int32Array, count: number, timeout: number): number;
  epollCreate(): number;
  epollCtl(epfd: number, op: number, fd: number, events: number): number;
  epollWait(epfd: number, out: Int32Array, maxevents: number, timeout: number): number;
  watchOpen<T extends object>(fd: number, target: T, callback: (this: T, status: number) => void): WatchHandle | number;
  watchStart(watch: WatchHandle, repeat?: boolean): number;
  watchStop(watch: WatchHandle): number;
  watchRef(watch: WatchHandle, ref: boolean): number;
  watchClose(watch: WatchHandle): number;
}

const raw = native as unknown as IoNative;

/**
 * The addon's functions; those that block this thread unless their timeout is
 * 0 first make stdio blocking (stdio.ts says why).
 */
export const io: IoNative = {
  ...raw,
  sockConnect: (fd, timeout, family, host, port, flowinfo, scope) => (
    timeout !== 0 && blockingStdio(), raw.sockConnect(fd, timeout, family, host, port, flowinfo, scope)
  ),
  sockAccept: (fd, timeout) => (timeout !== 0 && blockingStdio(), raw.sockAccept(fd, timeout)),
  sockRecv: (fd, buf, offset, length, flags, timeout) => (
    timeout !== 0 && blockingStdio(), raw.sockRecv(fd, buf, offset, length, flags, timeout)
  ),
  sockSend: (fd, buf, offset, length, flags, timeout) => (
    timeout !== 0 && blockingStdio(), raw.sockSend(fd, buf, offset, length, flags, timeout)
  ),
  sockSendAll: (fd, buf, offset, length, flags, timeout) => (
    timeout !== 0 && blockingStdio(), raw.sockSendAll(fd, buf, offset, length, flags, timeout)
  ),
  sockRecvFrom: (fd, buf, offset, length, flags, timeout) => (
    timeout !== 0 && blockingStdio(), raw.sockRecvFrom(fd, buf, offset, length, flags, timeout)
  ),
  sockSendTo: (fd, buf, offset, length, flags, timeout, family, host, port, flowinfo, scope) => (
    timeout !== 0 && blockingStdio(),
    raw.sockSendTo(fd, buf, offset, length, flags, timeout, family, host, port, flowinfo, scope)
  ),
  selectWait: (r, w, x, timeout) => (timeout !== 0 && blockingStdio(), raw.selectWait(r, w, x, timeout)),
  pollWait: (pollfds, count, timeout) => (timeout !== 0 && blockingStdio(), raw.pollWait(pollfds, count, timeout)),
  epollWait: (epfd, out, maxevents, timeout) => (
    timeout !== 0 && blockingStdio(), raw.epollWait(epfd, out, maxevents, timeout)
  ),
};

/** The sentinel socket.cc returns when a socket timeout runs out (ETIME, never a socket errno). */
const TIMED_OUT = -62;

/** Raise Python's exception for a negative result, else return it. */
export function ok(result: number): number {
  if (result >= 0) return result;
  if (result === TIMED_OUT) throw new TimeoutError('timed out');
  throw fromErrno(result);
}
