/**
 * Internal: a socket address as the kernel's `struct sockaddr` bytes, for
 * io_uring's connect (the kernel copies them when it takes the entry). No
 * Python twin: CPython builds these in C (`getsockaddrarg` in
 * Modules/socketmodule.c), as socket.cc does for weft's own calls.
 * @module
 */
import { isIP } from 'node:net';
import { OSError, OverflowError, ValueError } from '../errors.js';
import { AF_INET, AF_INET6, AF_UNIX } from './constants.js';
import { resolveHost, type Address } from './socket.js';

/** Bytes of a sockaddr for `sock`'s family, which the kernel copies when it takes the connect. */
export function sockaddr(family: number, address: Address): Buffer {
  if (family === AF_UNIX) {
    if (typeof address !== 'string' && !Buffer.isBuffer(address)) {
      throw new TypeError('AF_UNIX address must be str or bytes');
    }
    const path = Buffer.from(address as string | Buffer);
    if (path.length > 107) throw new OSError(36, 'AF_UNIX path too long');
    const out = Buffer.alloc(2 + path.length + (path[0] === 0 ? 0 : 1));
    out.writeUInt16LE(AF_UNIX, 0);
    path.copy(out, 2);
    return out;
  }
  if (!Array.isArray(address) || typeof address[0] !== 'string' || typeof address[1] !== 'number') {
    throw new TypeError(`${family === AF_INET6 ? 'AF_INET6' : 'AF_INET'} address must be tuple, not ${typeof address}`);
  }
  const port = address[1] as number;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OverflowError('port must be 0-65535.');
  const [fam, host] = resolveHost(address[0] as string, family);
  if (fam === AF_INET) {
    const out = Buffer.alloc(16);
    out.writeUInt16LE(AF_INET, 0);
    out.writeUInt16BE(port, 2);
    host.split('.').forEach((part, i) => (out[4 + i] = Number(part)));
    return out;
  }
  const out = Buffer.alloc(28);
  out.writeUInt16LE(AF_INET6, 0);
  out.writeUInt16BE(port, 2);
  out.writeUInt32BE(((address[2] as number | undefined) ?? 0) >>> 0, 4);
  ipv6Bytes(host).copy(out, 8);
  out.writeUInt32LE(((address[3] as number | undefined) ?? 0) >>> 0, 24);
  return out;
}

/** The 16 bytes of a numeric IPv6 address (with `::` and an embedded IPv4 tail). */
function ipv6Bytes(host: string): Buffer {
  const text = host.split('%')[0]!;
  if (isIP(text) !== 6) throw new ValueError(`not a numeric IPv6 address: '${host}'`);
  const words = (s: string): number[] => {
    if (s === '') return [];
    return s.split(':').flatMap((w) => {
      if (!w.includes('.')) return [parseInt(w, 16)];
      const [a, b, c, d] = w.split('.').map(Number) as [number, number, number, number];
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}
