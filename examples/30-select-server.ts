// Seed: 3. Event-driven I/O — select server (replies upper-cased)
/**
 * The seed's select server, line for line: a non-blocking listening socket, the
 * `inputs` / `outputs` lists handed to select(), one message queue per
 * connection, replies sent back upper-cased when the socket is writable,
 * clean-up on disconnect and on exceptional sockets. Added to the seed: a
 * client that resets its connection (ConnectionResetError) is cleaned up like
 * one that disconnects, and a closed connection is closed, not just forgotten.
 *
 *   node dist/examples/30-select-server.js [--port 10000]
 *   WEFT_TOUR=1 node dist/examples/30-select-server.js   # serve two scripted clients, then stop
 */
import { ConnectionError, select, socket, type Address } from 'weft/io';
import { pyAddress, pyBytes, serverOptions, startTourClients } from './lib/io-tour.js';

const { port, tour } = serverOptions();
const server = new socket();
server.setBlocking(false);
server.bind(['localhost', port]);
server.listen(5);
const serverAddr = server.getSockName() as [string, number];
console.log(`starting up on localhost port ${serverAddr[1]}`);

const inputs: socket[] = [server]; // the server is an fd too: readable means a new connection
const outputs: socket[] = [];
const messageQueues = new Map<socket, Buffer[]>();
const peers = new Map<socket, Address>(); // getpeername() fails once a peer has reset

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
      const [conn, clientAddr] = s.accept();
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
        if (!(err instanceof ConnectionError)) throw err;
        console.log(`connection from [${host(s)}] reset:`, err.message);
        cleanUp(s);
        continue;
      }
      if (data.length > 0) {
        console.log(`received data from [${host(s)}]:`, pyBytes(data));
        messageQueues.get(s)!.push(data); // queued; sent back when the socket is writable
        if (!outputs.includes(s)) outputs.push(s);
      } else {
        console.log('client disconnected', String(s));
        cleanUp(s);
      }
    }
  }
  for (const s of writable) {
    const queue = messageQueues.get(s);
    if (queue === undefined) continue; // cleaned up above, in this round
    const nextMsg = queue.shift();
    if (nextMsg === undefined) {
      console.log(`client [${host(s)}] queue is empty..`);
      remove(outputs, s);
    } else {
      console.log(`sending msg to [${host(s)}]`, pyBytes(nextMsg));
      try {
        s.send(upper(nextMsg));
      } catch (err) {
        if (!(err instanceof ConnectionError)) throw err;
        cleanUp(s);
      }
    }
  }
  for (const s of exceptional) {
    if (!messageQueues.has(s)) continue;
    console.log('handling exception for', pyAddress(peers.get(s)));
    cleanUp(s);
  }
}
server.close();
