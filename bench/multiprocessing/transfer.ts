// A 64 MiB Buffer crossing a Queue to a child, copied through the ring
// (q.put(buf)) against moved (q.put(transfer(buf))): through shared memory to
// a process, without a copy to a thread (the queue is passed to that thread
// alone). Both contexts, side by side in one run: the same child takes all kinds,
// interleaved, each run timing 3 crossings. A crossing is the put until the
// child's ack, sent as soon as its get() returned ("arrived"), or after it
// read a byte of every page ("arrived+read": on a VM the first touch of a
// fresh page is not free). Buffers
// are made and filled before the clock starts; the warm-up crossings fill the
// sender's pool of memfds, as any program moving buffers of one size does
// after its first (transfer.ts). Medians with min..max, and
// each contender's CPU time (parent + child) per crossing; JSON in
// bench/results/transfer.json (transfer-<size>.json for another size).
//
//   node dist/bench/multiprocessing/transfer.js [--runs 7] [--mib 64 | --kib 4] [--per-run 3]
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Process, Queue, isMainModule, transfer, type ContextName } from 'weft';
import { readFileSync } from 'node:fs';
import { summarize, type Summary } from '../lib/stats.js';
import { receive } from './transfer_tasks.js';

let PER_RUN = 3;
const KINDS = [
  ['copy', false, false],
  ['transfer', true, false],
  ['copy+read', false, true],
  ['transfer+read', true, true],
] as const;

/** CPU seconds of this process (all its threads, worker threads included) and of the child process `pid` (0: none). */
function cpuSeconds(pid: number): number {
  const { user, system } = process.cpuUsage();
  if (!pid) return (user + system) / 1e6;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (user + system) / 1e6 + (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (proc(5))
}

interface Sample {
  ms: number;
  cpuMs: number;
}

async function crossings(inbox: Queue<[Buffer, boolean] | null>, acks: Queue<number>, child: number, bytes: number, move: boolean, read: boolean): Promise<Sample> {
  const buffers = Array.from({ length: PER_RUN }, (_, i) => Buffer.alloc(bytes, i + 1));
  const cpu0 = cpuSeconds(child);
  const started = performance.now();
  for (const b of buffers) {
    await inbox.put([move ? transfer(b) : b, read]);
    await acks.get({ timeout: 120 });
  }
  const ms = (performance.now() - started) / PER_RUN;
  return { ms, cpuMs: ((cpuSeconds(child) - cpu0) * 1000) / PER_RUN };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '7' }, mib: { type: 'string', default: '64' }, kib: { type: 'string' }, 'per-run': { type: 'string', default: '3' } },
  });
  const runs = Number(values.runs);
  PER_RUN = Number(values['per-run']);
  const bytes = values.kib !== undefined ? Number(values.kib) * 2 ** 10 : Number(values.mib) * 2 ** 20;
  const size = values.kib !== undefined ? `${values.kib} KiB` : `${values.mib} MiB`;
  const results: Record<string, Record<string, { ms: Summary; cpuMs: Summary }>> = {};
  for (const context of ['process', 'thread'] as ContextName[]) {
    const inbox = new Queue<[Buffer, boolean] | null>();
    const acks = new Queue<number>();
    const child = new Process({ target: receive, args: [inbox, acks], context });
    child.start();
    // a thread's CPU time is counted with this process's
    const childPid = context === 'process' ? child.pid! : 0;
    for (const [, move, read] of KINDS) await crossings(inbox, acks, childPid, bytes, move, read); // warm-up
    const samples = new Map<string, Sample[]>(KINDS.map(([name]) => [name, []]));
    for (let r = 0; r < runs; r++) {
      // each run takes the contenders in another order, so none always follows another's garbage
      for (let k = 0; k < KINDS.length; k++) {
        const [name, move, read] = KINDS[(k + r) % KINDS.length]!;
        samples.get(name)!.push(await crossings(inbox, acks, childPid, bytes, move, read));
      }
    }
    await inbox.put(null);
    await child.join(60);
    const row: Record<string, { ms: Summary; cpuMs: Summary }> = {};
    for (const [name, xs] of samples) row[name] = { ms: summarize(xs.map((x) => x.ms)), cpuMs: summarize(xs.map((x) => x.cpuMs)) };
    results[context] = row;
    const n = (x: number) => x.toFixed(x < 1 ? 3 : x < 10 ? 1 : 0);
    const f = (s: Summary) => `${n(s.median)} ms (${n(s.min)}..${n(s.max)})`;
    for (const [plain, moved] of [['copy', 'transfer'], ['copy+read', 'transfer+read']] as const) {
      const a = row[plain]!;
      const b = row[moved]!;
      console.log(`${context}, ${size}, ${plain === 'copy' ? 'arrived' : 'arrived+read'}: copy ${f(a.ms)} cpu ${n(a.cpuMs.median)} ms, ` +
        `transfer ${f(b.ms)} cpu ${n(b.cpuMs.median)} ms: ${(a.ms.median / b.ms.median).toFixed(1)}x (cpu ${(a.cpuMs.median / b.cpuMs.median).toFixed(1)}x)`);
    }
  }
  const out = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  const name = bytes === 64 * 2 ** 20 ? 'transfer' : `transfer-${size.replace(' ', '')}`;
  writeFileSync(`${out}${name}.json`, `${JSON.stringify({ node: process.version, bytes, runs, perRun: PER_RUN, results }, null, 2)}\n`);
}

if (isMainModule(import.meta)) await main();
