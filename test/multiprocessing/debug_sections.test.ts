// WEFT_DEBUG=queue, manager and spin (src/debug.ts): the lines each section
// writes on stderr, each with its writer's pid, and nothing from a section not named.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runNode } from '../helpers/run.js';

const program = fileURLToPath(new URL('./fixtures/debug-sections.js', import.meta.url));

/** Runs the fixture in `mode` with WEFT_DEBUG=`debug`; its pid and its stderr lines. */
async function run(mode: 'queue' | 'manager' | 'spin', debug: string): Promise<{ pid: number; lines: string[]; stdout: string }> {
  const r = await runNode([program, mode], { env: { WEFT_DEBUG: debug, WEFT_INSPECT: undefined } });
  assert.equal(r.code, 0, r.stderr);
  const pid = Number(/^pid (\d+)$/m.exec(r.stdout)?.[1]);
  return { pid, lines: r.stderr.split('\n').filter(Boolean), stdout: r.stdout };
}

/** The one line of `section` from `pid` that matches `what`; ISO timestamp first. */
function line(lines: string[], section: string, pid: number | string, what: RegExp): string {
  const prefix = new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z weft:${section} ${pid} `);
  const found = lines.filter((l) => prefix.test(l) && what.test(l));
  assert.ok(found.length >= 1, `no weft:${section} line from ${pid} matching ${what} in:\n${lines.join('\n')}`);
  return found[0]!;
}

test('WEFT_DEBUG=queue: a queue created and closed, its feeder started and stopped, a pipe whose peer is gone', async () => {
  const { pid, lines, stdout } = await run('queue', 'queue');
  assert.match(stdout, /recv: EOFError true/);
  line(lines, 'queue', pid, /Queue created \(fd \d+, capacity 4096 bytes, maxsize 0\)$/);
  line(lines, 'queue', pid, /Queue \(fd \d+\): feeder started: the ring is full, 1 message\(s\) buffered$/);
  line(lines, 'queue', pid, /Queue \(fd \d+\): feeder stopped: 0 message\(s\) left in the buffer$/);
  line(lines, 'queue', pid, /Queue \(fd \d+\) closed here \(0 messages still buffered\)$/);
  line(lines, 'queue', pid, /Pipe end \(fd \d+\): the other end is gone \(closed, or every holder died\)$/);
  assert.deepEqual(lines.filter((l) => !/ weft:queue /.test(l)), [], 'only the section named');
});

test('WEFT_DEBUG=manager: the server started and stopped, clients connected and gone, a failed handshake', async () => {
  const { pid, lines, stdout } = await run('manager', 'manager');
  assert.match(stdout, /connect: true/);
  const started = line(lines, 'manager', pid, /started SyncManager-1 \(pid (\d+)\) on .*manager\.sock$/);
  const server = Number(/\(pid (\d+)\)/.exec(started)![1]);
  assert.notEqual(server, pid);
  line(lines, 'manager', server, /server listening on .*manager\.sock$/);
  line(lines, 'manager', server, /server listening on tcp:\/\/127\.0\.0\.1:\d+$/);
  line(lines, 'manager', server, /client 1 connected on .*manager\.sock \(1 connections\)$/);
  line(lines, 'manager', server, /connection from 127\.0\.0\.1 not authenticated: digest received was wrong$/);
  line(lines, 'manager', pid, /connect to tcp:\/\/127\.0\.0\.1:\d+ failed: /);
  line(lines, 'manager', pid, /shutting down the server on .*manager\.sock$/);
  line(lines, 'manager', server, /server stopping: 1 objects, 1 connections$/);
  line(lines, 'manager', server, /client 1 disconnected \(0 connections\)$/);
  assert.deepEqual(lines.filter((l) => !/ weft:manager /.test(l)), [], 'only the section named');
});

test('WEFT_DEBUG=spin: as each process and thread exits, what its spins came to, in figures that add up', async () => {
  const { pid, lines, stdout } = await run('spin', 'spin');
  const child = Number(/^process (\d+)$/m.exec(stdout)?.[1]);
  assert.ok(child > 0, stdout);
  const figures = /over (\d+) ms: (\d+) waits asked to spin, (\d+) spun \((\d+) answered, (\d+) lost the core\), (\d+) of them probes \((\d+) answered\); ([\d.]+) ms spinning, ([\d.]+) ms of it answered; (\d+) naps \((\d+) answered\), ([\d.]+) ms napping; the process's CPU (\d+) ms$/;
  let asked = 0;
  for (const who of [pid, `${pid}/thread \\d+`, child]) {
    const l = line(lines, 'spin', who, figures);
    const [, overMs, ask, spun, answered, lost, probes, probesAnswered, spinMs, answeredMs, naps, napsAnswered, napMs] = figures.exec(l)!.map(Number);
    assert.ok(spun! <= ask! && answered! + lost! <= spun! && probesAnswered! <= probes! && probes! <= spun! + naps!, l);
    assert.ok(answeredMs! <= spinMs! && spinMs! + napMs! <= overMs! && napsAnswered! <= naps!, l);
    asked += ask!;
  }
  assert.ok(asked >= 1, 'the 4,000 round trips waited, and every wait asks whether to spin');
  assert.deepEqual(lines.filter((l) => !/ weft:spin /.test(l)), [], 'only the section named');
});

test('a section not named logs nothing', async () => {
  const queue = await run('queue', 'pool,process,manager');
  assert.deepEqual(queue.lines.filter((l) => / weft:(queue|manager) /.test(l)), []);
  const manager = await run('manager', 'queue');
  assert.deepEqual(manager.lines.filter((l) => / weft:manager /.test(l)), []);
});
