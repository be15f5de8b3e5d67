/**
 * `fetchAll`: the seed's concurrent page download (gevent + monkey-patched
 * urllib) as one call. No gevent twin: gevent leaves this to the user's
 * `joinall([spawn(f, url) ...])`; this module is that program made reusable,
 * and `weft fetch` is its command line. One greenlet per URL in a `Pool`,
 * Node's `fetch` (undici) underneath, cancelled through the greenlet's signal.
 * @module
 */
import { ValueError } from '../errors.js';
import { getCurrent } from './greenlet.js';
import { sleep, wait } from './hub.js';
import { Pool } from './pool.js';

/**
 * What happened to one URL.
 * @example
 * import { fetchAll } from 'weft/coro';
 * const [r] = await fetchAll(['ftp://127.0.0.1/file']);
 * console.log(r.ok, r.bytes, r.attempts); // false 0 0
 * console.log(r.error?.message); // unsupported URL scheme 'ftp:' in ftp://127.0.0.1/file; use http:// or https://
 */
export interface FetchResult {
  /** The URL as given. */
  url: string;
  /** True when the body was received with a 2xx status. */
  ok: boolean;
  /** The HTTP status, when a response came. */
  status?: number;
  /** The body (present when `ok`). */
  body?: Buffer;
  /** Body length in bytes (0 when failed). */
  bytes: number;
  /** Why it failed. */
  error?: Error;
  /** How many tries it took (1 + retries used). */
  attempts: number;
  /** Seconds from the first try to the outcome. */
  seconds: number;
}

/**
 * A progress event of {@link fetchAll}.
 * @example
 * import { once } from 'node:events';
 * import { createServer } from 'node:http';
 * import { fetchAll, type FetchProgress } from 'weft/coro';
 * const server = createServer((req, res) => { res.statusCode = 503; res.end(); }).listen(0, '127.0.0.1');
 * await once(server, 'listening');
 * const events: string[] = [];
 * const onProgress = (e: FetchProgress) => events.push(`${e.type} ${e.type === 'done' ? e.finished : e.attempt}`);
 * await fetchAll([`http://127.0.0.1:${(server.address() as { port: number }).port}/`], { retries: 1, onProgress });
 * console.log(events); // [ 'start 1', 'retry 1', 'start 2', 'done 1' ]
 * server.close();
 */
export type FetchProgress =
  | { type: 'start'; url: string; attempt: number }
  | { type: 'retry'; url: string; attempt: number; error: Error }
  | { type: 'done'; url: string; result: FetchResult; finished: number; total: number };

/**
 * Options of {@link fetchAll}.
 * @example
 * import { once } from 'node:events';
 * import { createServer } from 'node:http';
 * import { fetchAll, type FetchAllOptions } from 'weft/coro';
 * const server = createServer((req, res) => { res.statusCode = 503; res.end(); }).listen(0, '127.0.0.1');
 * await once(server, 'listening');
 * const options: FetchAllOptions = { concurrency: 5, timeout: 10, retries: 2 };
 * const [r] = await fetchAll([`http://127.0.0.1:${(server.address() as { port: number }).port}/`], options);
 * console.log(r.status, r.attempts); // 503 3
 * server.close();
 */
export interface FetchAllOptions {
  /** At most this many downloads at once (default 10). */
  concurrency?: number;
  /** Seconds allowed per try, headers and body (default: none). */
  timeout?: number;
  /** Extra tries after a network error, a timeout or a 5xx status (default 0). */
  retries?: number;
  /** Aborting it stops every download (each then fails with the abort reason). */
  signal?: AbortSignal;
  /** Called as downloads start, retry and finish. */
  onProgress?: (event: FetchProgress) => void;
  /**
   * Stream each body here as it arrives instead of keeping it in
   * `FetchResult.body` (memory then holds a chunk, not the file). Called once
   * per try; `write` is awaited before the next chunk is read, `close` ends a
   * 2xx body, `abort` discards a try that failed.
   */
  sink?: (url: string, attempt: number) => {
    write(chunk: Uint8Array): void | Promise<void>;
    close(): void | Promise<void>;
    abort(): void | Promise<void>;
  };
}

/**
 * A response with a non-2xx status (Python's `urllib.error.HTTPError`).
 * @example
 * import { once } from 'node:events';
 * import { createServer } from 'node:http';
 * import { HTTPError, fetchAll } from 'weft/coro';
 * const server = createServer((req, res) => { res.statusCode = 404; res.end(); }).listen(0, '127.0.0.1');
 * await once(server, 'listening');
 * const [r] = await fetchAll([`http://127.0.0.1:${(server.address() as { port: number }).port}/missing`]);
 * if (r.error instanceof HTTPError) console.log(r.error.status); // 404
 * server.close();
 */
export class HTTPError extends Error {
  override name = 'HTTPError';
  constructor(
    readonly status: number,
    statusText: string,
    readonly url: string,
  ) {
    super(`HTTP Error ${status}: ${statusText || 'error'} (${url})`);
  }
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ValueError(`fetchAll: ${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/**
 * Download every URL concurrently (at most `concurrency` at once) and return
 * one result per URL, in input order. A bad URL or a failed download is
 * reported in its result; the others go on. A kill of the calling greenlet
 * aborts the downloads.
 * @throws {ValueError} when `concurrency` or `retries` is out of range
 * @example
 * import { once } from 'node:events';
 * import { createServer } from 'node:http';
 * import { fetchAll } from 'weft/coro';
 * const server = createServer((req, res) => res.end(`page ${req.url}`)).listen(0, '127.0.0.1');
 * await once(server, 'listening');
 * const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
 * const results = await fetchAll([`${base}/a`, `${base}/b`], { concurrency: 2 });
 * console.log(results.map((r) => String(r.body))); // [ 'page /a', 'page /b' ]
 * server.close();
 */
export async function fetchAll(urls: Iterable<string>, options: FetchAllOptions = {}): Promise<FetchResult[]> {
  const list = [...urls];
  const concurrency = checkCount('concurrency', options.concurrency ?? 10, 1);
  const retries = checkCount('retries', options.retries ?? 0, 0);
  if (options.timeout !== undefined && !(options.timeout > 0)) {
    throw new ValueError(`fetchAll: timeout must be a positive number of seconds, got ${options.timeout}`);
  }
  const outer = getCurrent().signal;
  const signals = options.signal ? [outer, options.signal] : [outer];
  let finished = 0;
  const pool = new Pool(concurrency);
  return pool.map(async (url: string): Promise<FetchResult> => {
    const result = await fetchOne(url, retries, options, signals);
    finished++;
    options.onProgress?.({ type: 'done', url, result, finished, total: list.length });
    return result;
  }, list);
}

async function fetchOne(
  url: string,
  retries: number,
  options: FetchAllOptions,
  outer: AbortSignal[],
): Promise<FetchResult> {
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ValueError(`unsupported URL scheme '${parsed.protocol}' in ${url}; use http:// or https://`);
    }
  } catch (e) {
    const error = e instanceof ValueError ? e : new ValueError(`invalid URL '${url}'; expected e.g. https://example.com/`);
    return { url, ok: false, bytes: 0, error, attempts: 0, seconds: seconds() };
  }
  for (let attempt = 1; ; attempt++) {
    options.onProgress?.({ type: 'start', url, attempt });
    const parts = [...outer, getCurrent().signal];
    // our own timer rather than AbortSignal.timeout, so it is cleared as soon as the try ends
    let timer: NodeJS.Timeout | undefined;
    if (options.timeout !== undefined) {
      const expiry = new AbortController();
      const ms = options.timeout * 1000;
      timer = setTimeout(() => expiry.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
      parts.push(expiry.signal);
    }
    const signal = AbortSignal.any(parts);
    let status: number | undefined;
    try {
      const res = await wait(fetch(parsed, { signal, redirect: 'follow' }));
      status = res.status;
      if (options.sink && res.ok && res.body) {
        const bytes = await streamTo(res.body, options.sink(url, attempt));
        return { url, ok: true, status, bytes, attempts: attempt, seconds: seconds() };
      }
      const body = Buffer.from(await wait(res.arrayBuffer()));
      if (!res.ok) throw new HTTPError(res.status, res.statusText, url);
      return { url, ok: true, status, body, bytes: body.length, attempts: attempt, seconds: seconds() };
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      const aborted = outer.some((s) => s.aborted);
      const retriable = !aborted && (!(error instanceof HTTPError) || error.status >= 500);
      if (attempt > retries || !retriable) {
        return { url, ok: false, status, bytes: 0, error: describe(error, url), attempts: attempt, seconds: seconds() };
      }
      options.onProgress?.({ type: 'retry', url, attempt, error });
      await sleep(Math.min(0.1 * 2 ** (attempt - 1), 2));
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}

/** Copy a body into a sink chunk by chunk; the sink is aborted if the body fails. Resolves to the byte count. */
async function streamTo(body: ReadableStream<Uint8Array>, sink: ReturnType<NonNullable<FetchAllOptions['sink']>>): Promise<number> {
  const reader = body.getReader();
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await wait(reader.read());
      if (done) break;
      bytes += value.length;
      await wait(Promise.resolve(sink.write(value)));
    }
    await wait(Promise.resolve(sink.close()));
    return bytes;
  } catch (err) {
    await Promise.resolve(sink.abort()).catch(() => {});
    void reader.cancel().catch(() => {});
    throw err;
  }
}

/** undici's `TypeError: fetch failed` hides the reason in `cause`: bring it out. */
function describe(error: Error, url: string): Error {
  if (error.name === 'TimeoutError') return new Error(`timed out fetching ${url}`, { cause: error });
  const cause = (error as { cause?: unknown }).cause;
  if (error.message === 'fetch failed' && cause instanceof Error) {
    return new Error(`${cause.message} (${url})`, { cause: error });
  }
  return error;
}
