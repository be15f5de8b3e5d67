// Seed: 3. Event-driven I/O — select server (replies upper-cased)
/**
 * The seed's select server, line for line: a non-blocking listening socket, the
 * `inputs` / `outputs` lists handed to select(), one message queue per
 * connection, replies sent back upper-cased when the socket is writable,
 * clean-up on disconnect and on exceptional sockets. Added to the seed: a
 * client that resets its connection (ConnectionResetError) is cleaned up like
 * one that disconnects, and a closed connection is closed, not just forgotten.
 *
 * Its limits, handled: select() watches only fds below FD_SETSIZE (1024), so
 * past about 1,020 clients a newcomer is told so and closed while the others
 * are served; a reply the kernel takes only in part keeps its rest queued; a
 * client that sends without reading stops being read once MAX_QUEUED bytes
 * wait for it (its own sends then block, not the server). For more clients,
 * use a selector (examples/31-selectors-server.ts).
 *
 *   node dist/examples/30-select-server.js [--port 10000]
 *   WEFT_TOUR=1 node dist/examples/30-select-server.js   # serve two scripted clients, then stop
 */
import { BlockingIOError, ConnectionError, FD_SETSIZE, OSError, select, socket, type Address } from 'weft/io';
import { pyAddress, pyBytes, serverOptions, startTourClients } from './lib/io-tour.js';

const { port, tour } = serverOptions();
const server = new socket();
server.setBlocking(false);
server.bind(['localhost', port]);
server.listen(128); // the seed's 5 leaves a burst of clients waiting on SYN retransmits (1 s, 3 s, ...)
const serverAddr = server.getSockName() as [string, number];
console.log(`starting up on localhost port ${serverAddr[1]}`);

const inputs: socket[] = [server]; // the server is an fd too: readable means a new connection
const outputs: socket[] = [];
const messageQueues = new Map<socket, Buffer[]>();
const peers = new Map<socket, Address>(); // getpeername() fails once a peer has reset

/** Bytes queued for one client before the server stops reading from it. */
const MAX_QUEUED = 64 * 1024;
const queued = (s: socket): number => messageQueues.get(s)!.reduce((n, b) => n + b.length, 0);

const host = (s: socket): string => (peers.get(s) as readonly [string, number])[0];

const clients = tour ? startTourClients(serverAddr[1], { c1: ['hello', 'select'], c2: ['weft io'] }) : Infinity;
let gone = 0;

const remove = (list: socket[], s: socket): void => {
  const i = list.indexOf(s);
  if (i >= 0) list.splice(i, 1);
};

/** bytes.upper(): ASCII letters only, as Python's. */
const upper = (data: Buffer): Buffer => data.map((c) => (c >= 0x61 && c <= 0x7a ? c - 32 : c)) as Buffer;

function cleanUp(s: socket): void {
  remove(outputs, s);
  remove(inputs, s);
  messageQueues.delete(s);
  peers.delete(s);
  s.close();
  gone++;
}

while (gone < clients) {
  console.log('waiting for next event...');
  // Blocks here until some fd is ready, as the seed's select.select(inputs, outputs, inputs)
  // (the tour bounds the wait: a scripted client that died would otherwise hang it).
  const [readable, writable, exceptional] = select(inputs, outputs, inputs, tour ? 10 : null);
  if (tour && readable.length + writable.length + exceptional.length === 0) throw new Error('tour: no client activity for 10 s');
  for (const s of readable) {
    if (s === server) {
      let conn: socket;
      let clientAddr: Address;
      try {
        [conn, clientAddr] = s.accept();
      } catch (err) {
        // Gone before we got to it, or out of fds (EMFILE): the others are still served.
        if (!(err instanceof OSError)) throw err;
        if (!(err instanceof BlockingIOError)) console.log('accept failed:', err.message);
        continue;
      }
      if (conn.fileno() >= FD_SETSIZE) {
        // select() could not watch it (ValueError for every later call): refuse this one client, not all of them.
        console.log('refusing', pyAddress(clientAddr), `: fd ${conn.fileno()} is past select()'s FD_SETSIZE (${FD_SETSIZE})`);
        conn.close();
        continue;
      }
      console.log('new connection from', pyAddress(clientAddr));
      conn.setBlocking(false);
      inputs.push(conn);
      messageQueues.set(conn, []);
      peers.set(conn, clientAddr);
    } else {
      let data: Buffer;
      try {
        data = s.recv(1024);
      } catch (err) {
        if (err instanceof BlockingIOError) continue; // a spurious wake-up
        if (!(err instanceof ConnectionError)) throw err;
        console.log(`connection from [${host(s)}] reset:`, err.message);
        cleanUp(s);
        continue;
      }
      if (data.length > 0) {
        console.log(`received data from [${host(s)}]:`, pyBytes(data));
        messageQueues.get(s)!.push(data); // queued; sent back when the socket is writable
        if (!outputs.includes(s)) outputs.push(s);
        if (queued(s) >= MAX_QUEUED) remove(inputs, s); // read again once the queue drains
      } else {
        console.log('client disconnected', String(s));
        cleanUp(s);
      }
    }
  }
  for (const s of writable) {
    const queue = messageQueues.get(s);
    if (queue === undefined) continue; // cleaned up above, in this round
    const nextMsg = queue[0];
    if (nextMsg === undefined) {
      console.log(`client [${host(s)}] queue is empty..`);
      remove(outputs, s);
    } else {
      console.log(`sending msg to [${host(s)}]`, pyBytes(nextMsg));
      try {
        const sent = s.send(upper(nextMsg)); // may send only part: the rest stays queued
        if (sent < nextMsg.length) queue[0] = nextMsg.subarray(sent);
        else queue.shift();
      } catch (err) {
        if (err instanceof BlockingIOError) continue; // the send buffer filled up: wait for writable again
        if (!(err instanceof ConnectionError)) throw err;
        cleanUp(s);
        continue;
      }
      if (queued(s) < MAX_QUEUED && !inputs.includes(s)) inputs.push(s);
    }
  }
  for (const s of exceptional) {
    if (!messageQueues.has(s)) continue;
    console.log('handling exception for', pyAddress(peers.get(s)));
    cleanUp(s);
  }
}
server.close();
