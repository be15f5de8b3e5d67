// Makes the control build for pool_observe.ts: this checkout's Pool with the
// hot-path lines of its events, diagnostics channels and stats() histograms
// taken out (no flag or hasSubscribers test per task, no clock reading per
// burst or per result frame, no histogram or queue-history update), and
// nothing else changed. Comparing this build against it measures what those
// cost today, apart from every other change since the build before them.
//
//   node bench/multiprocessing/strip_observe.mjs DIR
//   node dist/bench/multiprocessing/pool_observe.js --baseline DIR
//
// DIR gets `git archive HEAD` of this checkout, this checkout's node_modules
// and build/ linked in, src/multiprocessing/pool.ts patched, and `npm run
// build:ts`. A line that is no longer where this script expects it fails the
// script, naming it: keep the patterns in step with pool.ts.
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = resolve(process.argv[2] ?? '');
if (!process.argv[2] || existsSync(join(dir, 'package.json'))) {
  throw new Error('usage: node bench/multiprocessing/strip_observe.mjs DIR (a directory not holding a checkout yet)');
}
mkdirSync(dir, { recursive: true });
execSync(`git -C ${JSON.stringify(root)} archive HEAD | tar -x -C ${JSON.stringify(dir)}`);
symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
symlinkSync(join(root, 'build'), join(dir, 'build'));

/** [what, the text in pool.ts, what it becomes] */
const cuts = [
  ['a clock reading per burst of submits', 'if (!this.#scheduled) this.#burst = new Instant(performance.now());', ''],
  ['taskQueued', "if (this.#watched || poolChannels.taskQueued.hasSubscribers) this.#publish('taskQueued', this.#taskEvent(job, null));", ''],
  ['taskFinish / taskFail', 'if (this.#watched || poolChannels.taskFinish.hasSubscribers || poolChannels.taskFail.hasSubscribers) {\n      this.#publish(', 'if ((0 as number) === 1) {\n      this.#publish('],
  ['the queue history', 'this.#queueHistory.note(this.#burst.at, this.#pendingLive);', ''],
  ['the dispatch clock', 'if (this.#watched) this.#clock = performance.now();', ''],
  ['taskStart', 'if (this.#watched || poolChannels.taskStart.hasSubscribers) {', 'if ((0 as number) === 1) {'],
  ['the histograms', 'const wait = Math.max(0, (this.#arrival - job.queued.at) / 1000 - run);\n    this.#runTimes.add(run);\n    this.#waitTimes.add(wait);', 'const wait = 0;'],
  ['the wait and run figures', 'if (this.#watched || poolChannels.taskFinish.hasSubscribers || poolChannels.taskFail.hasSubscribers) {\n      const x', 'if ((0 as number) === 1) {\n      const x'],
  ['the arrival clock', 'let initError: unknown;\n      this.#arrival = performance.now();', 'let initError: unknown;'],
];
const file = join(dir, 'src/multiprocessing/pool.ts');
let source = readFileSync(file, 'utf8');
for (const [what, from, to] of cuts) {
  if (source.split(from).length !== 2) throw new Error(`strip_observe: ${what} is not once in pool.ts as expected: ${from}`);
  source = source.replace(from, to);
}
writeFileSync(file, source);
execFileSync('npm', ['run', 'build:ts'], { cwd: dir, stdio: 'inherit' });
console.log(`built ${dir}: pool.ts without ${cuts.map(([what]) => what).join(', ')}`);
