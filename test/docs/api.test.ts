// The API reference (`npm run docs`, TypeDoc with typedoc.json) covers every
// name the entry points export, types included: each has its own
// reflection (a page, or for a name re-exported by a second entry point a
// link to the first one's), is filed under a Python module, and shows a
// summary and an `@example` (a class: in its class comment). The names come
// from the real modules and their .d.ts, so the reference cannot drift from
// what `import` gives. examples.test.ts runs the examples; this file checks
// what the reference shows. TypeDoc converts without writing any output.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import ts from 'typescript';
import {
  Application,
  type Comment,
  type DeclarationReflection,
  Logger,
  LogLevel,
  type ProjectReflection,
  ReflectionKind,
} from 'typedoc';
import { docTestsSkipped } from './snippets.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const entries = [
  { module: 'weft', dts: 'dist/src/index.d.ts', load: () => import('weft') },
  { module: 'weft/coro', dts: 'dist/src/coro/index.d.ts', load: () => import('weft/coro') },
  { module: 'weft/io', dts: 'dist/src/io/index.d.ts', load: () => import('weft/io') },
  { module: 'weft/servers', dts: 'dist/src/servers/index.d.ts', load: () => import('weft/servers') },
  { module: 'weft/redis', dts: 'dist/src/redis/index.d.ts', load: () => import('weft/redis') },
] as const;

/** Keeps TypeDoc's warnings and errors to assert on. */
class Collecting extends Logger {
  readonly problems: string[] = [];
  override log(message: string, level: LogLevel): void {
    if (level >= LogLevel.Warn) this.problems.push(message);
  }
}

let project: ProjectReflection;
let logger: Collecting;

before(async () => {
  if (docTestsSkipped) return;
  const app = await Application.bootstrapWithPlugins({ options: join(root, 'typedoc.json'), logLevel: LogLevel.Warn });
  logger = new Collecting();
  app.logger = logger;
  const converted = await app.convert();
  assert.ok(converted, `TypeDoc could not convert the sources:\n${logger.problems.join('\n')}`);
  app.validate(converted);
  project = converted;
}, { timeout: 180_000 });

/** Every name `file` (a .d.ts) exports, types and values. */
function declaredExports(program: ts.Program, file: string): string[] {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const symbol = source && checker.getSymbolAtLocation(source);
  assert.ok(symbol, `${file} is not a module: run npm run build:ts`);
  return checker.getExportsOfModule(symbol).map((s) => s.name);
}

/** The comments a reader sees for `r`: its own and its signatures'. */
function commentsOf(r: DeclarationReflection): Comment[] {
  return [r.comment, ...(r.signatures ?? []).map((s) => s.comment)].filter((c): c is Comment => c !== undefined);
}

test('TypeDoc builds the reference without a warning', { skip: docTestsSkipped }, () => {
  // a broken {@link}, or a public signature that names an unexported type not listed in
  // typedoc.json's intentionallyNotExported, shows here
  assert.deepEqual(logger.problems, []);
});

test('the reference documents exactly what each entry point exports, each name with a summary and an @example', { skip: docTestsSkipped }, async () => {
  const files = entries.map((e) => join(root, e.dts));
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, noEmit: true, types: ['node'] });
  const modules = new Map(project.getChildrenByKind(ReflectionKind.Module).map((m) => [m.name, m]));
  for (const entry of entries) {
    const values = Object.keys(await entry.load());
    const names = declaredExports(program, join(root, entry.dts));
    assert.deepEqual(values.filter((n) => !names.includes(n)), [], `${entry.module}: values missing from ${entry.dts}`);
    const module = modules.get(entry.module);
    assert.ok(module, `no module named ${entry.module} in the reference: its index.ts needs \`@module ${entry.module}\``);
    const documented = new Map((module.children ?? []).map((c) => [c.name, c]));

    assert.deepEqual([...documented.keys()].filter((n) => !names.includes(n)).sort(), [], `${entry.module}: documented but not exported`);
    assert.deepEqual(names.filter((n) => !documented.has(n)).sort(), [], `${entry.module}: exported but not in the reference`);

    const comments = new Map(names.map((name) => {
      const child = documented.get(name)!;
      const declared = child.isReference() ? child.getTargetReflectionDeep() : child;
      return [name, declared.isDeclaration() ? commentsOf(declared) : []];
    }));
    const lacking = (has: (c: Comment) => boolean) => names.filter((n) => !comments.get(n)!.some(has)).sort();
    assert.deepEqual(lacking((c) => c.getTag('@example') !== undefined), [], `${entry.module}: names whose doc comment has no @example`);
    assert.deepEqual(lacking((c) => c.summary.some((part) => part.text.trim() !== '')), [], `${entry.module}: names whose doc comment has no summary`);

    const filed = new Set((module.categories ?? []).filter((c) => c.title !== 'Other').flatMap((c) => c.children.map((r) => r.name)));
    assert.deepEqual(names.filter((n) => !filed.has(n)).sort(), [], `${entry.module}: names under no Python module (add their file to typedoc.json's pythonModules)`);
  }
});
