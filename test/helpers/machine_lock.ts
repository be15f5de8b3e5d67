/**
 * A lock across every test run on this machine, for the few tests that read a
 * machine-wide figure (shared memory in /proc/meminfo): CI runs the suite under
 * two Node versions at once, and their figures would mix. A directory made
 * atomically holds the owner's pid; a lock whose owner has died is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { sleep } from './run.js';

/** Waits (at most `seconds`) for the lock `name`; resolves to its release. */
export async function machineLock(name: string, seconds = 300): Promise<() => void> {
  const dir = `${tmpdir()}/weft-test-lock-${name}`;
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(`${dir}/pid`, String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(`${dir}/pid`, 'utf8'));
      } catch {
        // being made or removed right now
      }
      if (owner > 0 && !alive(owner)) rmSync(dir, { recursive: true, force: true });
      else if (performance.now() > deadline) throw new Error(`the test lock ${dir} is still held by pid ${owner}`);
      else await sleep(0.2);
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
