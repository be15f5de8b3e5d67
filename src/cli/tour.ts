/**
 * `weft tour`: runs the TypeScript twin of every seed program in `examples/`,
 * in the seed's order, each under a heading. The examples are the compiled
 * files `dist/examples/NN-name.js`; `WEFT_TOUR=1` asks each one for its short,
 * self-contained form (servers serve a scripted client, then stop).
 * @module
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IoUring } from '../io/uring.js';
import { examplesDir as examplesUrl } from '../layout.js';
import type { Command } from './commands.js';

const examplesDir = fileURLToPath(examplesUrl);

/** The runnable examples, in order: `NN-name.js`. */
export function listExamples(): string[] {
  return readdirSync(examplesDir)
    .filter((f) => /^\d\d-[\w-]+\.js$/.test(f))
    .sort();
}

/** The heading of an example: the text after `// Seed:` on its first lines. */
function heading(file: string): string {
  const text = readFileSync(examplesDir + file, 'utf8');
  const match = /^\/\/ Seed: (.*)$/m.exec(text);
  return match?.[1] ?? file;
}

function runOne(file: string, timeoutSeconds: number): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [examplesDir + file], {
      stdio: 'inherit',
      env: { ...process.env, WEFT_TOUR: '1' },
    });
    const timer = setTimeout(() => {
      console.error(`weft tour: ${file} ran past ${timeoutSeconds} s; stopping it`);
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

export const command: Command = {
  summary: 'run the TypeScript version of each program of the lecture weft grew from, in order',
  help: [
    'Usage: weft tour [--only SUBSTRING] [--timeout SECONDS]',
    '',
    'Runs the TypeScript version of each program of the lecture on Python concurrency',
    'weft grew from (processes, gevent coroutines, select/poll/epoll; examples/), in',
    'order, each under a heading, and exits non-zero if any of them failed.',
    '',
    '  --only SUBSTRING   run only the examples whose file name contains SUBSTRING',
    '  --timeout SECONDS  stop an example that runs longer (default 60)',
    '',
    'Exit status: 0 when every example ran cleanly, 1 when any failed, 2 on bad usage',
    '(including an --only that matches no example).',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { only: { type: 'string' }, timeout: { type: 'string', default: '60' } },
    });
    const timeout = Number(values.timeout);
    if (!(timeout > 0)) throw new RangeError(`--timeout must be a positive number of seconds, got ${values.timeout}`);
    const all = listExamples();
    const files = all.filter((f) => !values.only || f.includes(values.only));
    if (files.length === 0) {
      // Running nothing and reporting success would hide a typo in a script.
      throw new RangeError(`--only ${JSON.stringify(values.only)} matches no example; the examples are ${all.map((f) => f.replace(/\.js$/, '')).join(', ')}`);
    }
    const failed: string[] = [];
    let skipped = 0;
    for (const file of files) {
      console.log(`\n=== ${heading(file)} (${file.replace(/\.js$/, '.ts')}) ===`);
      // The proactor needs io_uring, which kernels and containers may lack:
      // the tour says why it skips it rather than counting a failure.
      const uring = file.includes('proactor') ? IoUring.available() : { ok: true as const };
      if (!uring.ok) {
        console.log(`skipped: ${uring.reason}`);
        skipped++;
        continue;
      }
      const code = await runOne(file, timeout);
      if (code !== 0) failed.push(`${file} (exit ${code})`);
    }
    console.log(`\nweft tour: ${files.length - failed.length - skipped} of ${files.length} programs ran cleanly${skipped ? `, ${skipped} skipped` : ''}.`);
    if (failed.length) console.error(`failed: ${failed.join(', ')}`);
    return failed.length ? 1 : 0;
  },
};
