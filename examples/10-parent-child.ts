// Seed: 1. Processes — starting processes, a process inside a process, parent and child pids
//
// The lecture's first programs: start processes, start a process from inside a
// process, and have each print its own pid and its parent's.
import { Process, currentProcess, isMainModule, parentProcess, task } from 'weft';

function info(title: string): void {
  // One write per report, so that concurrent processes do not interleave its lines.
  console.log(
    [
      title,
      `  module name: ${currentProcess().name}`,
      `  parent process: ${parentProcess()?.pid ?? process.ppid}`,
      `  process id: ${currentProcess().pid}`,
    ].join('\n'),
  );
}

/** A grandchild: prints who it is. */
export const grandchild = task(import.meta, function grandchild(name: string) {
  info(`grandchild ${name}`);
});

/** A child that starts its own child: the seed's "process inside a process". */
export const child = task(import.meta, async function child(name: string) {
  info(`child ${name}`);
  const p = new Process({ target: grandchild, args: [name] });
  p.start();
  await p.join();
});

if (isMainModule(import.meta)) {
  info('main process');
  const children = ['bob', 'alice'].map((name) => new Process({ target: child, args: [name] }));
  for (const p of children) p.start();
  for (const p of children) await p.join();
  console.log(`exit codes: ${children.map((p) => p.exitCode).join(', ')}`);
}
