// Runs every `@example` of weft's sources as its own program (STYLE.md, habit 8).
// Each is written into a directory inside the checkout, so that its
// `import … from 'weft'` resolves to this build: type-checked as TypeScript,
// then transpiled with esbuild and run with node. A run must exit 0, print
// nothing on stderr, and print what its `console.log(…); // text` comments
// say, in that order (`text` exactly as node prints it: `// x`, `// [ 1, 2 ]`).
//
// So an example imports what it uses from 'weft', 'weft/coro', 'weft/io' (...),
// ends by itself (closing what it opened), and talks to loopback only. One
// that runs code in a child declares it at the top level,
// `export const f = task(import.meta, …)`, and guards the rest with
// `if (isMainModule(import.meta))`, because the child imports the example.
// A comment that is not printed output goes on a line without console.log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { transform } from 'esbuild';
import ts from 'typescript';
import * as weft from 'weft';
import * as coro from 'weft/coro';
import * as io from 'weft/io';
import * as redis from 'weft/redis';
import * as servers from 'weft/servers';
import { collectSnippets, docTestsSkipped, expectedOutput, publicDeclarations, type Snippet } from './snippets.js';
import { RedisServer } from '../redis/server.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = join(root, 'dist/test/docs', `.examples-${process.pid}`);
/** Seconds one example may run. */
const TIMEOUT = 20;
/** Examples running at once: most of their time is process start-up and short waits. */
const CONCURRENCY = 4;
const snippets = collectSnippets(root);
const fileOf = (i: number, ext: string) => join(dir, `${String(i).padStart(3, '0')}-${snippets[i]!.symbol.replace(/\W+/g, '_')}.${ext}`);

// weft/redis's examples connect to process.env.REDIS_URL: a redis-server of this suite's own.
let redisServer: RedisServer | undefined;
before(async () => {
  mkdirSync(dir, { recursive: true });
  if (docTestsSkipped) return; // WEFT_DOC_TESTS=0 (snippets.ts)
  redisServer = await RedisServer.start();
  process.env.REDIS_URL = redisServer.url;
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await redisServer?.stop();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node file` in a process group of its own and resolves once its output
 * is closed, so that a child it leaves running shows as a time-out; then the
 * whole group is killed.
 */
function run(file: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      reject(new Error(`ran past ${TIMEOUT} s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, TIMEOUT * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** True when `expected` occurs in `lines` in this order, other lines allowed between. */
function inOrder(lines: string[], expected: string[]): boolean {
  let i = 0;
  for (const line of lines) if (i < expected.length && line === expected[i]) i++;
  return i === expected.length;
}

test('every public class, function and constant has an @example', { skip: docTestsSkipped }, () => {
  const entries = [['src/index.ts', weft], ['src/coro/index.ts', coro], ['src/io/index.ts', io], ['src/redis/index.ts', redis], ['src/servers/index.ts', servers]] as const;
  const documented = new Set(snippets.map((s) => `${s.file}: ${s.symbol.replace(/ \(\d+\)$/, '')}`));
  const missing: string[] = [];
  for (const [entry, module] of entries) {
    for (const [name, at] of publicDeclarations(root, entry, Object.keys(module))) {
      if (!documented.has(`${at.file}: ${at.name}`)) missing.push(`${name} (${at.file})`);
    }
  }
  assert.deepEqual(missing, [], 'public names without an @example');
});

test('every @example type-checks on its own', { skip: docTestsSkipped }, () => {
  const files = snippets.map((s, i) => {
    const file = fileOf(i, 'ts');
    writeFileSync(file, s.code);
    return file;
  });
  // the project's settings (tsconfig.json), with 'weft' found as a user finds it: through package.json
  const { options } = ts.convertCompilerOptionsFromJson({
    target: 'ES2022', lib: ['ES2023', 'ESNext.Disposable'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
    noImplicitOverride: true, skipLibCheck: true, noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')],
  }, root);
  const program = ts.createProgram(files, options);
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const i = files.indexOf(d.file?.fileName ?? '');
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
    const where = i >= 0 ? `${snippets[i]!.name}, line ${line} of the example` : (d.file?.fileName ?? 'options');
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
  assert.deepEqual(problems, []);
});

describe('@example blocks', { concurrency: CONCURRENCY, skip: docTestsSkipped }, () => {
  snippets.forEach((s, i) => {
    test(s.name, async () => {
      const { code } = await transform(s.code, { loader: 'ts', format: 'esm', target: 'node20', sourcefile: s.name });
      const file = fileOf(i, 'mjs');
      writeFileSync(file, code);
      const r = await run(file);
      const where = `${s.file}:${s.line}`;
      assert.equal(r.stderr, '', `${where} wrote to stderr`);
      assert.equal(r.code, 0, `${where} exited with ${r.code ?? r.signal}\n${r.stdout}`);
      const printed = r.stdout.split('\n').slice(0, -1);
      const expected = expectedOutput(s.code);
      if (expected.all) assert.deepEqual(printed, expected.lines, `${where} printed other lines than its comments say`);
      else assert.ok(inOrder(printed, expected.lines), `${where} printed:\n${r.stdout}\nexpected, in order:\n${expected.lines.join('\n')}`);
    });
  });
});
