/**
 * `Proactor`: promises over an `IoUring` for weft sockets, the shape of
 * asyncio's proactor (CPython's `Lib/asyncio/windows_events.py`,
 * `IocpProactor`: `recv`, `recv_into`, `send`, `accept`, `connect`), with
 * io_uring where asyncio has Windows' IOCP. Each call starts the operation in
 * the kernel and settles when the kernel reports it done; sockets may stay
 * blocking (the ring never blocks on them).
 * @module
 */
import { OSError, ValueError } from '../errors.js';
import { socket, type Address, type BytesLike } from './socket.js';
import { IoUring, type Completion, type IoUringOptions } from './uring.js';

/**
 * asyncio's proactor on io_uring: `await proactor.recv(sock, n)`,
 * `await proactor.send(sock, data)`, `await proactor.accept(sock)`, without
 * blocking Node's event loop. Errors reject with Python's exceptions.
 * @example
 * import { IoUring, Proactor, socketpair } from 'weft/io';
 * if (IoUring.available().ok) {
 *   using proactor = new Proactor();
 *   const [a, b] = socketpair();
 *   await proactor.sendAll(a, Buffer.from('ping'));
 *   console.log(String(await proactor.recv(b, 1024))); // ping
 *   a.close(); b.close();
 * }
 */
export class Proactor implements Disposable {
  /** The ring the operations go through. */
  readonly ring: IoUring;

  /**
   * @throws {OSError} io_uring is unavailable (the message gives `IoUring.available()`'s reason).
   */
  constructor(options: IoUringOptions = {}) {
    this.ring = new IoUring(options);
  }

  /**
   * Receive at most `nbytes` bytes: an empty Buffer means the peer closed (EOF).
   * @throws {ConnectionResetError} the peer reset the connection.
   * @throws {ValueError} `nbytes` is negative.
   * @example
   * import { IoUring, Proactor, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using proactor = new Proactor();
   *   const [a, b] = socketpair();
   *   a.close();
   *   console.log((await proactor.recv(b, 100)).length); // 0
   *   b.close();
   * }
   */
  async recv(sock: socket, nbytes: number): Promise<Buffer> {
    if (!Number.isInteger(nbytes) || nbytes < 0) throw new ValueError(`negative buffersize in recv: ${nbytes}`);
    const buf = Buffer.allocUnsafe(nbytes);
    const n = await this.#run((cb) => this.ring.recv(sock, { into: buf }, cb));
    return buf.subarray(0, n);
  }

  /**
   * Receive into `buffer`: the number of bytes received (0 at EOF).
   * @example
   * import { IoUring, Proactor, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using proactor = new Proactor();
   *   const [a, b] = socketpair();
   *   a.send(Buffer.from('abc'));
   *   const buf = Buffer.alloc(8);
   *   console.log(await proactor.recvInto(b, buf)); // 3
   *   a.close(); b.close();
   * }
   */
  recvInto(sock: socket, buffer: Uint8Array): Promise<number> {
    return this.#run((cb) => this.ring.recv(sock, { into: buffer }, cb));
  }

  /**
   * Send `data`: the number of bytes the kernel took (possibly fewer: see `sendAll`).
   * @throws {BrokenPipeError} the peer has gone.
   * @example
   * import { IoUring, Proactor, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using proactor = new Proactor();
   *   const [a, b] = socketpair();
   *   console.log(await proactor.send(a, Buffer.from('hello'))); // 5
   *   a.close(); b.close();
   * }
   */
  send(sock: socket, data: BytesLike): Promise<number> {
    return this.#run((cb) => this.ring.send(sock, data, cb));
  }

  /**
   * Send all of `data`, sending the rest after each partial send.
   * @throws {BrokenPipeError} the peer has gone.
   * @example
   * import { IoUring, Proactor, socketpair } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using proactor = new Proactor();
   *   const [a, b] = socketpair();
   *   await proactor.sendAll(a, Buffer.from('all of it'));
   *   console.log(String(b.recv(100))); // all of it
   *   a.close(); b.close();
   * }
   */
  async sendAll(sock: socket, data: BytesLike): Promise<void> {
    for (let sent = 0; sent < data.length;) sent += await this.send(sock, data.subarray(sent));
  }

  /**
   * Accept a connection: `[conn, address]`, as `socket.accept()` (the new socket is blocking).
   * @throws {OSError} ENOTCONN: the peer reset the connection before its address
   *   was read (the connection is closed; asyncio's IocpProactor raises there too).
   * @example
   * import { IoUring, Proactor, createServer, socket } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using proactor = new Proactor();
   *   using srv = createServer(['127.0.0.1', 0]);
   *   using client = new socket();
   *   const accepted = proactor.accept(srv);
   *   await proactor.connect(client, srv.getSockName());
   *   const [conn, addr] = await accepted;
   *   console.log(addr[0]); // 127.0.0.1
   *   conn.close();
   * }
   */
  async accept(sock: socket): Promise<[socket, Address]> {
    const fd = await this.#run((cb) => this.ring.accept(sock, {}, cb));
    const conn = new socket(sock.family, sock.type, sock.proto, fd);
    let address: Address;
    try {
      address = conn.getPeerName();
    } catch (err) {
      conn.close();
      throw err;
    }
    return [conn, address];
  }

  /**
   * Connect `sock` to `address`.
   * @throws {ConnectionRefusedError} nobody listens there.
   * @example
   * import { ConnectionRefusedError, IoUring, Proactor, socket } from 'weft/io';
   * if (IoUring.available().ok) {
   *   using proactor = new Proactor();
   *   using closed = new socket();
   *   closed.bind(['127.0.0.1', 0]);
   *   using sock = new socket();
   *   try { await proactor.connect(sock, closed.getSockName()); } catch (e) { console.log(e instanceof ConnectionRefusedError); } // true
   * }
   */
  async connect(sock: socket, address: Address): Promise<void> {
    await this.#run((cb) => this.ring.connect(sock, address, cb));
  }

  /**
   * Close the ring: operations still pending reject with `OSError` ECANCELED.
   * @example
   * import { IoUring, Proactor } from 'weft/io';
   * if (IoUring.available().ok) {
   *   const proactor = new Proactor();
   *   proactor.close();
   *   console.log(proactor.ring.fileno()); // -1
   * }
   */
  close(): void {
    this.ring.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** One operation as a promise: its result, or its error raised. */
  #run(start: (cb: (c: Completion) => void) => number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      start((c) => (c.error ? reject(c.error as OSError) : resolve(c.result)));
    });
  }
}
