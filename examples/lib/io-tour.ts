/**
 * Helpers shared by the event-driven I/O examples (30-*, 31-*): the command
 * line (`--port`, default the seed's 10000), Python-style reprs for what the
 * seed prints, and the scripted clients of `weft tour` mode (WEFT_TOUR=1),
 * which run on worker threads because the server blocks its own thread in
 * select(), exactly as the seed's does.
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

/** The port to serve on: `--port N`, 0 in tour mode, else the seed's 10000. */
export function serverOptions(): { port: number; tour: boolean } {
  const tour = process.env.WEFT_TOUR === '1';
  const { values } = parseArgs({ options: { port: { type: 'string' } }, strict: false });
  const port = typeof values.port === 'string' ? Number(values.port) : tour ? 0 : 10000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`--port must be 0-65535, got ${values.port}`);
  return { port, tour };
}

/** Python's repr of bytes: b'hello\n'. */
export function pyBytes(data: Uint8Array): string {
  let out = "b'";
  for (const c of data) {
    if (c === 0x5c) out += '\\\\';
    else if (c === 0x27) out += "\\'";
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += '\\x' + c.toString(16).padStart(2, '0');
  }
  return out + "'";
}

/** Python's repr of an address tuple: ('127.0.0.1', 54321). */
export function pyAddress(address: unknown): string {
  if (!Array.isArray(address)) return `'${String(address)}'`;
  return `(${address.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')})`;
}

/**
 * Start one worker thread per scripted client; each connects to `port`, sends
 * its lines one by one and prints `<name> Recv: <reply>` like the seed's client.
 * Returns how many clients were started.
 */
export function startTourClients(port: number, scripts: Record<string, string[]>): number {
  const url = new URL('./io-client.js', import.meta.url);
  for (const [name, lines] of Object.entries(scripts)) {
    const worker = new Worker(url, { workerData: { port, name, lines } });
    worker.on('error', (err) => {
      console.error(`client ${name} failed:`, err);
      process.exitCode = 1;
    });
  }
  return Object.keys(scripts).length;
}
