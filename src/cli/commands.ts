/**
 * `weft` command line: `weft <command> [options]`. Each command is a module in
 * this folder exporting {@link Command}; `weft <command> --help` (or
 * `weft help <command>`) prints its help. The executable is main.ts.
 *
 * Every failure is one line on stderr, `weft <command>: what went wrong — what
 * to do`, never a stack trace unless `--debug` (or WEFT_DEBUG=1) is given: the people running a
 * command want the fix, not weft's insides.
 * @module
 */
import { readFileSync } from 'node:fs';

/** A subcommand of the `weft` CLI. */
export interface Command {
  /** One line for `weft --help`. */
  summary: string;
  /** Full help for `weft <command> --help`. */
  help: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/**
 * A failure a command expects (a refused connection, a missing file): `main`
 * prints its message and its hint on one line and exits with `exitCode`.
 * Usage errors (bad options) are `RangeError`s or parseArgs' errors instead.
 * (The CLI is no part of weft's API: its examples are `weft --help`'s.)
 */
export class CommandError extends Error {
  constructor(
    message: string,
    /** What to do about it, after the message: `is the server running?`. */
    readonly hint: string,
    options?: ErrorOptions & { exitCode?: number },
  ) {
    super(message, options);
    this.name = 'CommandError';
    this.exitCode = options?.exitCode ?? 1;
  }

  /** The process exit code (1 unless given). */
  readonly exitCode: number;
}

/** Subcommands, loaded on demand so `weft tour` does not pay for the others. */
const commands: Record<string, () => Promise<{ command: Command }>> = {
  tour: () => import('./tour.js'),
  load: () => import('./load.js'),
  fetch: () => import('./fetch.js'),
  serve: () => import('./serve.js'),
  client: () => import('./client.js'),
  bench: () => import('./bench.js'),
  worker: () => import('./worker.js'),
  top: () => import('./top.js'),
};

function usage(summaries: [string, string][]): string {
  const width = Math.max(...summaries.map(([name]) => name.length));
  return [
    'Usage: weft <command> [options]',
    '',
    'Commands:',
    ...summaries.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`),
    '',
    'Options:',
    '  -h, --help     this help (`weft help <command>` or `weft <command> --help` for one command)',
    '  -V, --version  weft\'s version',
    '  --debug        print the stack trace of an error, after its one-line message (or set WEFT_DEBUG=1)',
    '',
    'Exit status: 0 success; 1 the command failed (a refused connection, a failed download, a failed example),',
    'said in one line on stderr; 2 bad usage (an unknown command or option, a value out of range).',
  ].join('\n');
}

/**
 * weft's version, from its package.json. Two directories up from this module
 * either way it runs: src/cli/commands.ts from source, dist/src/index.js (the
 * `import.meta` of weft's bundle) when built.
 */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The one line `main` prints for an error thrown by command `name`, and the exit code. */
function describe(err: unknown, name: string, debug: boolean): { line: string; code: number } {
  // One line even where the message has several (parseArgs' have).
  const message = (err instanceof Error ? err.message : String(err)).trim().replace(/\s*\n\s*/g, ' ');
  if (err instanceof CommandError) return { line: `${message} — ${err.hint}`, code: err.exitCode };
  // Bad options (parseArgs' errors, RangeErrors of a command's own checks) are usage errors.
  if (err instanceof RangeError || (err as { code?: unknown } | null)?.code?.toString().startsWith('ERR_PARSE_ARGS')) {
    return { line: `${message} — run \`weft ${name} --help\` for the options`, code: 2 };
  }
  return { line: debug ? message : `${message} — run it again with --debug for the stack trace`, code: 1 };
}

/** Entry point of the CLI (`main(['help', 'load'])` prints `weft load`'s options); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // --debug may stand anywhere; the commands never see it. WEFT_DEBUG=1 does the same for scripts and CI.
  const debug = argv.includes('--debug') || process.env.WEFT_DEBUG === '1';
  const [first, ...others] = argv.filter((a) => a !== '--debug');
  if (first === '--version' || first === '-V') {
    console.log(version());
    return 0;
  }
  // `weft help <command>` is `weft <command> --help`.
  const [name, ...rest] = first === 'help' && others.length > 0 ? [others[0]!, '--help'] : [first, ...others];
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const summaries: [string, string][] = [];
    for (const [n, load] of Object.entries(commands)) summaries.push([n, (await load()).command.summary]);
    console.log(usage(summaries));
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    const known = Object.keys(commands).join(', ');
    console.error(`weft: unknown command '${name}' — the commands are ${known}; run \`weft --help\` for what each does`);
    return 2;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    const { line, code } = describe(err, name, debug);
    console.error(`weft ${name}: ${line}`);
    if (debug) console.error(err); // the stack, and its cause's
    return code;
  }
}
