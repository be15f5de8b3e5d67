/**
 * A small local web server for examples/23-download.ts: three pages named
 * after the seed's sites, each answered after a different delay so the
 * concurrent download finishes out of order. Loopback only, port 0.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const pages: Record<string, { bytes: number; delayMs: number }> = {
  '/www.python.org/': { bytes: 50_123, delayMs: 120 },
  '/www.yahoo.com/': { bytes: 12_345, delayMs: 20 },
  '/github.com/': { bytes: 30_000, delayMs: 60 },
};

/** Start the server; returns its page URLs and a `close()`. */
export async function startPages(): Promise<{ urls: string[]; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const page = pages[req.url ?? ''];
    if (!page) {
      res.writeHead(404).end('not found\n');
      return;
    }
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/html' }).end(Buffer.alloc(page.bytes, 'x'));
    }, page.delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urls: Object.keys(pages).map((p) => `http://127.0.0.1:${port}${p}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
