// The `weft` command line: help everywhere, the tour, and clear failures.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createServer, socket } from 'weft/io';
import { runNode } from '../helpers/run.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('weft --help lists every command; each command has --help', async () => {
  const r = await runNode([cli, '--help']);
  assert.equal(r.code, 0);
  for (const name of ['tour', 'load', 'fetch', 'serve', 'client', 'bench', 'worker', 'top']) {
    assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'));
    const help = await runNode([cli, name, '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`Usage: weft ${name}`));
  }
});

test('weft runs through a symlink, as npm installs its bin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bin-'));
  try {
    symlinkSync(cli, join(dir, 'weft'));
    const r = await runNode([join(dir, 'weft'), '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^  tour /m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('weft tour --only runs the matching programs under their headings', async () => {
  const r = await runNode([cli, 'tour', '--only', '11-queue'], { timeout: 60 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /=== 1\. Processes — Queue: .* \(11-queue\.ts\) ===\nhahaha123\n/);
  assert.match(r.stdout, /1 of 1 programs ran cleanly/);
});

test('an unknown command or bad option fails with a message and a non-zero exit', async () => {
  const unknown = await runNode([cli, 'frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const bad = await runNode([cli, 'tour', '--timeout', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--timeout must be a positive number/);
  const unknownOption = await runNode([cli, 'tour', '--frob']);
  assert.equal(unknownOption.code, 2);
  assert.match(unknownOption.stderr, /Unknown option '--frob'/);
  assert.doesNotMatch(unknownOption.stderr, /at .*\.js:\d+/); // a message, not a stack
});

/** stderr as lines, the final newline dropped. */
const lines = (stderr: string) => stderr.replace(/\n$/, '').split('\n');

test('weft --version and -V print the version of package.json', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runNode([cli, flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
  }
});

test('weft help <command> prints what weft <command> --help does; weft help alone the command list', async () => {
  for (const name of ['tour', 'load', 'fetch', 'serve', 'client', 'bench', 'worker', 'top']) {
    const [viaHelp, viaFlag] = await Promise.all([runNode([cli, 'help', name]), runNode([cli, name, '--help'])]);
    assert.equal(viaHelp.code, 0, viaHelp.stderr);
    assert.match(viaHelp.stdout, new RegExp(`Usage: weft ${name}`));
    assert.equal(viaHelp.stdout, viaFlag.stdout);
  }
  const list = await runNode([cli, 'help']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^  load /m);
  const unknown = await runNode([cli, 'help', 'frobnicate']);
  assert.equal(unknown.code, 2);
  assert.deepEqual(lines(unknown.stderr), ["weft: unknown command 'frobnicate' — the commands are tour, load, fetch, serve, client, bench, worker, top; run `weft --help` for what each does"]);
});

test('every error is one line with a hint: a bad option, an unknown command', async () => {
  const bad = await runNode([cli, 'load', '--size=-5']);
  assert.equal(bad.code, 2);
  assert.deepEqual(lines(bad.stderr), ['weft load: --size must be a positive integer, got -5 — run `weft load --help` for the options']);
  // parseArgs' own messages take several lines; they are joined.
  for (const args of [['--frob'], ['--size', '-5']]) {
    const r = await runNode([cli, 'load', ...args]);
    assert.equal(r.code, 2);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^weft load: \S.* — run `weft load --help` for the options\n$/);
  }
});

test('weft load against a port nobody listens on: one line that says so, the stack only with --debug', async () => {
  // A bound socket that does not listen: a connection to its port is refused, and no other process can take the port meanwhile.
  using idle = new socket();
  idle.bind(['127.0.0.1', 0]);
  const [, port] = idle.getSockName() as [string, number];
  const args = [cli, 'load', '--port', String(port), '--connections', '2', '--duration', '0.2'];
  const r = await runNode(args);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.deepEqual(lines(r.stderr), [`weft load: cannot connect to 127.0.0.1:${port}: connection refused — is the server running?`]);
  const debug = await runNode([...args, '--debug']);
  assert.equal(debug.code, 1);
  assert.equal(lines(debug.stderr)[0], lines(r.stderr)[0]);
  assert.match(debug.stderr, /\n\s+at connect \(.*\)\n/); // the stack follows
  assert.match(debug.stderr, /ConnectionRefusedError/); // and its cause
});

test('weft load against a server that listens but never answers reports the load, not a connection failure', async () => {
  // A server that accepts and never answers: the load runs, sees no echo and reports errors, not a connection failure.
  using srv = createServer(['127.0.0.1', 0]);
  const [, port] = srv.getSockName() as [string, number];
  const r = await runNode([cli, 'load', '--port', String(port), '--connections', '1', '--duration', '0.2', '--json']);
  assert.doesNotMatch(r.stderr, /cannot connect/);
  assert.equal((JSON.parse(r.stdout) as { connections: number }).connections, 1);
});
