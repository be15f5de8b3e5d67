/**
 * Two hosts: redis-server and a `weft worker` on one, the producer on the
 * other, as two network namespaces joined by a veth pair (link-local
 * addresses, made here and deleted in the after hook). The worker's side also
 * gets a UTS namespace and a hostname of its own, so the host a
 * WorkerLostError names is provably the worker's, not the producer's. Where
 * namespaces cannot be made (not root), the test's name says so and it runs
 * over loopback instead.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { RedisServer, run, startFixture } from './server.js';
import { WeftWorker } from './workers.js';

const tag = `w${process.pid}`; // interface names: 15 characters at most
const ns = { worker: `weft-${tag}-w`, producer: `weft-${tag}-p` };
const addr = { worker: '169.254.77.1', producer: '169.254.77.2' };
const workerHost = `weft-worker-${tag}`;

/** Makes the two namespaces and their link; the reason when this machine does not allow it. */
async function makeHosts(): Promise<string | null> {
  try {
    await run('ip', ['netns', 'add', ns.worker]);
    await run('ip', ['netns', 'add', ns.producer]);
    await run('ip', ['link', 'add', `${tag}w`, 'type', 'veth', 'peer', 'name', `${tag}p`]);
    for (const side of ['worker', 'producer'] as const) {
      const dev = `${tag}${side[0]}`;
      await run('ip', ['link', 'set', dev, 'netns', ns[side]]);
      await run('ip', ['-n', ns[side], 'addr', 'add', `${addr[side]}/24`, 'dev', dev]);
      await run('ip', ['-n', ns[side], 'link', 'set', dev, 'up']);
      await run('ip', ['-n', ns[side], 'link', 'set', 'lo', 'up']);
    }
    // The worker's side gets a hostname of its own (a UTS namespace) for the worker.
    await run('unshare', ['--uts', 'true']);
    return null;
  } catch (err) {
    await removeHosts();
    return (err as Error).message.split('\n').slice(0, 2).join(' ').trim();
  }
}

async function removeHosts(): Promise<void> {
  // Deleting a namespace deletes the veth end inside it, and so the pair.
  for (const name of Object.values(ns)) await run('ip', ['netns', 'del', name]).catch(() => {});
}

const unavailable = await makeHosts();
const scratch = mkdtempSync(join(tmpdir(), 'weft-redis-hosts-'));
let server: RedisServer | undefined;
let workers: WeftWorker[] = [];
let producer: ChildProcess | undefined;
after(async () => {
  if (producer && producer.exitCode === null) producer.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.stop()));
  await server?.stop();
  if (!unavailable) await removeHosts();
  rmSync(scratch, { recursive: true, force: true });
});

const name = unavailable
  ? `two hosts NOT TESTED: network namespaces unavailable here (${unavailable}); producer and worker ran over loopback instead`
  : 'two hosts (network namespaces joined by a veth pair): the Pool result, and WorkerLostError naming the worker\'s host';

describe('two hosts', () => {
  test(name, async (t) => {
    const place = unavailable ? undefined : { host: addr.worker, prefix: ['ip', 'netns', 'exec', ns.worker] };
    // A password, as a server reachable from another host needs (protected mode refuses other hosts without one).
    server = await RedisServer.start(['--appendonly', 'no', '--requirepass', tag], place);
    const url = server.url.replace('//', `//:${tag}@`);
    const wrap = unavailable ? [] : ['ip', 'netns', 'exec', ns.worker, 'unshare', '--uts', 'sh', '-c', `hostname ${workerHost} && exec "$0" "$@"`];
    // Two workers: a task whose worker was lost is rejected by the next worker that takes it.
    workers = [new WeftWorker(url, 'hosts', { wrap }), new WeftWorker(url, 'hosts', { wrap })];
    await Promise.all(workers.map((w) => w.ready()));
    t.diagnostic(unavailable ? 'ran over loopback' : `redis and weft worker at ${addr.worker} (host ${workerHost}), producer at ${addr.producer} (host ${hostname()})`);
    const file = join(scratch, 'ran');
    const producerFile = fileURLToPath(new URL('./fixtures/producer.js', import.meta.url));
    const started = await startFixture(producerFile, [url, file], 'map ', 'producer', unavailable ? [] : ['ip', 'netns', 'exec', ns.producer]);
    producer = started.child;
    assert.equal(started.rest, `[1,4,9,16,25] from ${hostname()}`);
    // The producer's next call runs on the worker; kill the worker mid-task.
    for (const t0 = Date.now(); !readIfAny(file); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() - t0 > 10_000) throw new Error('the task never started on the worker');
    }
    const worker = workers.find((w) => w.pid === Number(readIfAny(file)));
    assert.ok(worker, `the task ran under a weft worker (${workers.map((w) => w.pid)}), not ${readIfAny(file)}`);
    worker.kill();
    const t0 = Date.now();
    while (!started.lines.some((l) => l.startsWith('lost '))) {
      if (Date.now() - t0 > 15_000) throw new Error(`no WorkerLostError within 15 s: ${started.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const lost = JSON.parse(started.lines.find((l) => l.startsWith('lost '))!.slice(5)) as { lost: boolean; host: string; pid: number; message: string };
    assert.equal(lost.lost, true, lost.message);
    assert.equal(lost.pid, worker.pid);
    assert.equal(lost.host, unavailable ? hostname() : workerHost);
    if (!unavailable) assert.notEqual(lost.host, hostname(), "the worker's host, not the producer's");
  });
});

function readIfAny(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
