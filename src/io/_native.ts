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

/** `fn`, which blocks this thread unless `timeout` (its argument at `at`) is 0, first making stdio blocking (stdio.ts says why). */
function mayBlock<K extends keyof IoNative>(name: K, at: number): IoNative[K] {
  const fn = raw[name] as (...args: unknown[]) => unknown;
  return ((...args: unknown[]) => {
    if (args[at] !== 0) blockingStdio();
    return fn(...args);
  }) as IoNative[K];
}

export const io: IoNative = {
  ...raw,
  sockConnect: mayBlock('sockConnect', 1),
  sockAccept: mayBlock('sockAccept', 1),
  sockRecv: mayBlock('sockRecv', 5),
  sockSend: mayBlock('sockSend', 5),
  sockSendAll: mayBlock('sockSendAll', 5),
  sockRecvFrom: mayBlock('sockRecvFrom', 5),
  sockSendTo: mayBlock('sockSendTo', 5),
  selectWait: mayBlock('selectWait', 3),
  pollWait: mayBlock('pollWait', 2),
  epollWait: mayBlock('epollWait', 3),
};

/** The sentinel socket.cc returns when a socket timeout runs out (ETIME, never a socket errno). */
const TIMED_OUT = -62;

/** Raise Python's exception for a negative result, else return it. */
export function ok(result: number): number {
  if (result >= 0) return result;
  if (result === TIMED_OUT) throw new TimeoutError('timed out');
  throw fromErrno(result);
}
