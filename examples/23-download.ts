// Seed: 2. Coroutines — concurrent page download (Get: url, then N bytes received from url)
/**
 * The seed's gevent + monkey-patched urllib download: one greenlet per URL,
 * all fetching at once. Node's `fetch` is already non-blocking, so there is
 * nothing to monkey-patch; `wait()` makes it a greenlet wait (a kill lands
 * there) and the greenlet's signal cancels the request.
 *
 * `node dist/examples/23-download.js URL...` fetches the given URLs; with
 * none (or under `weft tour`) it starts a local web server and fetches three
 * pages from it.
 */
import { getCurrent, joinAll, spawn, wait } from 'weft/coro';
import { startPages } from './lib/coro-pages.js';

async function f(url: string): Promise<void> {
  console.log(`Get: ${url}`);
  const res = await wait(fetch(url, { signal: getCurrent().signal }));
  const data = await wait(res.arrayBuffer());
  console.log(`${data.byteLength} bytes received from ${url}`);
}

const given = process.env.WEFT_TOUR ? [] : process.argv.slice(2);
const local = given.length ? undefined : await startPages();
const urls = given.length ? given : local!.urls;
try {
  const greenlets = await joinAll(urls.map((url) => spawn(f, url)));
  if (greenlets.some((g) => !g.successful())) process.exitCode = 1;
} finally {
  await local?.close();
}
