/**
 * `weft fetch URL… [-i file] [-c N] [-o dir]`: the seed's concurrent page
 * download on weft/coro. Prints `Get: url`, then `N bytes received from url`
 * for each URL (a progress bar on a TTY), an error line per failed URL while
 * the others go on, a summary, and exits 1 if any URL failed.
 * @module
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type FetchResult, fetchAll } from '../coro/fetch.js';
import { CommandError, type Command } from './commands.js';

const help = [
  'Usage: weft fetch URL... [-i FILE] [-c N] [-o DIR] [--timeout SECONDS] [--retries N] [-q]',
  '',
  'Downloads the URLs concurrently on greenlets (the lecture\'s gevent download):',
  'prints "Get: URL" as each starts and "N bytes received from URL" as each ends.',
  '',
  '  -i, --input FILE        read more URLs from FILE, one per line (# comments allowed; - for stdin)',
  '  -c, --concurrency N     at most N downloads at once (default 10)',
  '  -o, --output DIR        save each body in DIR (file named after the URL), written as it arrives',
  '                          and renamed into place once complete',
  '      --timeout SECONDS   give up on a try after SECONDS (default 30)',
  '      --retries N         retry a network error, timeout or 5xx N times (default 0)',
  '  -q, --quiet             no per-URL lines, only errors and the summary',
  '',
  'Exit status: 0 when every URL was fetched, 1 when any failed, 2 on bad usage.',
].join('\n');

/** A file name for a URL: host and path, with unsafe characters replaced. */
function fileNameFor(url: string, taken: Set<string>): string {
  let name: string;
  try {
    const u = new URL(url);
    const path = u.pathname.replace(/\/$/, '/index.html');
    name = `${u.host}${path}${u.search}`;
  } catch {
    name = url;
  }
  name = name.replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 150) || 'download';
  let unique = name;
  for (let i = 2; taken.has(unique); i++) unique = `${name}.${i}`;
  taken.add(unique);
  return unique;
}

/**
 * Make sure -o's directory exists and takes files, before anything is
 * downloaded: finding out after minutes of downloads would lose them all.
 */
function checkOutputDir(dir: string): void {
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.X_OK);
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new CommandError(`cannot save into ${dir} (${reason})`, 'give -o/--output a directory you can write to', { exitCode: 2 });
  }
}

/**
 * A body saved as it arrives: into `<name>.<pid>.<try>.part`, renamed to its
 * final name once complete, so memory holds a chunk, not the file, and a run
 * killed midway leaves no truncated file under the final name.
 */
class FileSink {
  #file: Promise<FileHandle> | null = null;
  constructor(
    readonly path: string,
    readonly temp: string,
  ) {}
  async write(chunk: Uint8Array): Promise<void> {
    this.#file ??= open(this.temp, 'w');
    const file = await this.#file;
    await file.write(chunk);
  }
  async close(): Promise<void> {
    this.#file ??= open(this.temp, 'w'); // an empty body is still a file
    await (await this.#file).close();
    await rename(this.temp, this.path);
  }
  async abort(): Promise<void> {
    if (this.#file) await (await this.#file).close().catch(() => {});
    await rm(this.temp, { force: true });
  }
}

function bar(done: number, total: number, bytes: number): string {
  const width = 24;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  ${(bytes / 1024).toFixed(1)} KiB `;
}

export const command: Command = {
  summary: 'download URLs concurrently on greenlets (the lecture\'s gevent download)',
  help,
  async run(argv) {
    // Usage errors are thrown: the CLI's main prints each as one line with a hint.
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        input: { type: 'string', short: 'i' },
        concurrency: { type: 'string', short: 'c', default: '10' },
        output: { type: 'string', short: 'o' },
        timeout: { type: 'string', default: '30' },
        retries: { type: 'string', default: '0' },
        quiet: { type: 'boolean', short: 'q', default: false },
      },
    });
    const urls = [...positionals];
    if (values.input !== undefined) {
      let text: string;
      try {
        text = readFileSync(values.input === '-' ? 0 : values.input, 'utf8');
      } catch (e) {
        throw new CommandError(`cannot read ${values.input}: ${(e as Error).message}`, 'check the file given to -i/--input', { exitCode: 2 });
      }
      for (const line of text.split('\n')) {
        const url = line.trim();
        if (url && !url.startsWith('#')) urls.push(url);
      }
    }
    if (urls.length === 0) throw new RangeError('no URLs given: name them as arguments or in a file given to -i/--input');
    const concurrency = Number(values.concurrency);
    const timeout = Number(values.timeout);
    const retries = Number(values.retries);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`-c/--concurrency must be an integer >= 1, got ${values.concurrency}`);
    }
    if (!(timeout > 0)) throw new RangeError(`--timeout must be a positive number of seconds, got ${values.timeout}`);
    if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`--retries must be an integer >= 0, got ${values.retries}`);
    const outDir = values.output;
    if (outDir !== undefined) checkOutputDir(outDir);
    const tty = process.stderr.isTTY === true && !values.quiet;
    const quiet = values.quiet;
    let received = 0;
    let finished = 0;
    const clearBar = (): void => {
      if (tty) process.stderr.write('\r\x1b[K');
    };
    const t0 = performance.now();
    const taken = new Set<string>();
    const names = new Map<string, string>(); // one file per URL, whatever its tries
    const sink =
      outDir === undefined
        ? undefined
        : (url: string, attempt: number): FileSink => {
            let name = names.get(url);
            if (name === undefined) names.set(url, (name = fileNameFor(url, taken)));
            const path = join(outDir, name);
            return new FileSink(path, `${path}.${process.pid}.${attempt}.part`);
          };
    const results: FetchResult[] = await fetchAll(urls, {
      concurrency,
      timeout,
      retries,
      sink,
      onProgress(e) {
        clearBar();
        if (e.type === 'start' && e.attempt === 1 && !quiet) console.log(`Get: ${e.url}`);
        else if (e.type === 'retry') console.error(`retry ${e.attempt}/${retries}: ${e.url}: ${e.error.message}`);
        else if (e.type === 'done') {
          received += e.result.bytes;
          if (e.result.ok) {
            if (!quiet) console.log(`${e.result.bytes} bytes received from ${e.url}`);
          } else console.error(`error: ${e.url}: ${e.result.error?.message ?? 'failed'}`);
        }
        if (e.type === 'done') finished = e.finished;
        if (tty) process.stderr.write(bar(finished, urls.length, received));
      },
    });
    clearBar();
    const failed = results.filter((r) => !r.ok);
    const seconds = ((performance.now() - t0) / 1000).toFixed(2);
    console.log(
      `fetched ${results.length - failed.length} of ${results.length} URLs, ${received} bytes in ${seconds} s` +
        (failed.length ? `; ${failed.length} failed` : '') +
        (outDir !== undefined ? `; saved in ${outDir}` : ''),
    );
    return failed.length ? 1 : 0;
  },
};
