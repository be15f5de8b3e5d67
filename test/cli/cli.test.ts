// The `weft` command line: help everywhere, the tour, and clear failures.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runNode } from '../helpers/run.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('weft --help lists every command; each command has --help', async () => {
  const r = await runNode([cli, '--help']);
  assert.equal(r.code, 0);
  for (const name of ['tour', 'load', 'fetch']) {
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
