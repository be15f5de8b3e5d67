/**
 * `weft` command line: `weft <command> [options]`. Each command is a module in
 * this folder exporting {@link Command}; `weft <command> --help` prints its
 * help. The executable is main.ts.
 * @module
 */

/** A subcommand of the `weft` CLI. */
export interface Command {
  /** One line for `weft --help`. */
  summary: string;
  /** Full help for `weft <command> --help`. */
  help: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** Subcommands, loaded on demand so `weft tour` does not pay for the others. */
const commands: Record<string, () => Promise<{ command: Command }>> = {
  tour: () => import('./tour.js'),
  load: () => import('./load.js'),
  fetch: () => import('./fetch.js'),
};

function usage(summaries: [string, string][]): string {
  const width = Math.max(...summaries.map(([name]) => name.length));
  return [
    'Usage: weft <command> [options]',
    '',
    'Commands:',
    ...summaries.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`),
    '',
    'Run `weft <command> --help` for the options of one command.',
  ].join('\n');
}

/** Entry point of the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const summaries: [string, string][] = [];
    for (const [n, load] of Object.entries(commands)) summaries.push([n, (await load()).command.summary]);
    console.log(usage(summaries));
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    console.error(`weft: unknown command '${name}'. Commands: ${Object.keys(commands).join(', ')}.`);
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
    // Bad options (parseArgs' errors, RangeErrors of our own) are usage errors: a line, not a stack.
    const usage = err instanceof RangeError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(`weft ${name}: ${usage ? (err as Error).message : String((err as Error).stack ?? err)}`);
    if (usage) console.error(`Run \`weft ${name} --help\` for the options.`);
    return usage ? 2 : 1;
  }
}
