// What the day-one suites share: a throw-away project outside the repository
// that depends on weft as a user's does (node_modules/weft is a link to this
// checkout, resolved through package.json's "exports"), and a way to run real
// `node` commands in it with a time limit.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode, type RunResult } from '../helpers/run.js';

/** The checkout's root (this file runs from dist/test/daytrap/). */
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** tsx's loader, as a user's project would name it in `--import`. */
export const tsxLoader = import.meta.resolve('tsx');

export const nodeMajor = Number(process.versions.node.split('.')[0]);

/** A project in a temporary directory with weft as a dependency; `files` are written into it. */
export function project(files: Record<string, string>): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'weft-daytrap-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'daytrap', private: true, type: 'module' }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'weft'), 'dir');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs `node args` in `cwd`, feeding it `input`; rejects after `timeout`
 * seconds. NODE_TEST_CONTEXT (set by the runner of this very suite) is
 * removed: the command is what a user types in a terminal.
 */
export function node(args: string[], { cwd, input = '', timeout = 60 }: { cwd: string; input?: string; timeout?: number }): Promise<RunResult> {
  return runNode(args, { cwd, input, timeout, env: { NODE_TEST_CONTEXT: undefined } });
}

/** The messages of the lines `REFUSED <message>` a fixture printed for each refusal it met. */
export function refusals(out: string): string[] {
  return [...out.matchAll(/REFUSED (.*)/g)].map((m) => m[1]!);
}

/** A refusal is one sentence that says what to do: one line, no sentence break inside. */
export function assertOneSentence(message: string, fix: RegExp): void {
  assert.match(message, fix);
  assert.doesNotMatch(message, /\n|\.\s+[A-Z]/, `more than one sentence: ${message}`);
}
