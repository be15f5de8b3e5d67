/**
 * Finds the `@example` blocks of weft's sources and what they should print,
 * for examples.test.ts. An example counts when it documents an exported
 * declaration or a public member of an exported class or interface. Its text
 * is TypeScript; a line that calls `console.log` and ends with `// text`
 * promises that node prints `text` there.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/**
 * Whether the docs suites are skipped (WEFT_DOC_TESTS=0): what they check, the reference and the
 * @example blocks, does not depend on the Node version, so .ci/run runs them under Node 20 (the
 * README's `npm test`) and skips them under 22 and 24, where they would cost ~100 s of CPU each
 * and push three Node versions on two cores past CI's time. Reported as skipped, with the reason.
 */
export const docTestsSkipped: string | false =
  process.env.WEFT_DOC_TESTS === '0' ? 'WEFT_DOC_TESTS=0: the docs are checked under one Node version' : false;

export interface Snippet {
  /** e.g. `src/multiprocessing/queues.ts: Queue.put` */
  name: string;
  file: string;
  symbol: string;
  /** Line of the `@example` tag (1-based). */
  line: number;
  code: string;
}

/** Every `src/**\/*.ts` file but `src/internals.ts`, relative to `root`, sorted. */
export function sourceFiles(root: string): string[] {
  const files: string[] = [];
  (function walk(dir: string) {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && path !== 'src/internals.ts') files.push(path);
    }
  })('src');
  return files.sort();
}

const parsed = new Map<string, ts.SourceFile>();

/** The syntax tree of `file` (sources do not change while the tests run: each is parsed once). */
function parse(root: string, file: string): ts.SourceFile {
  const path = join(root, file);
  let source = parsed.get(path);
  if (!source) {
    source = ts.createSourceFile(file, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
    parsed.set(path, source);
  }
  return source;
}

const hasModifier = (node: ts.Node, kind: ts.SyntaxKind) =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);

/** The local names a file exports with `export { a, b as c }` (no `from`). */
function localExports(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement) && !statement.moduleSpecifier && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const el of statement.exportClause.elements) names.add((el.propertyName ?? el.name).text);
    }
  }
  return names;
}

/**
 * Classes of the file that an exported class extends, directly or not: their
 * public members are part of the exported class (Lock's `abandoned` comes
 * from a base class the module keeps to itself).
 */
function inheritedBases(source: ts.SourceFile, exported: Set<string>): Set<string> {
  const classes = new Map(source.statements.filter(ts.isClassDeclaration).filter((c) => c.name).map((c) => [c.name!.text, c]));
  const isExported = (c: ts.ClassDeclaration) => hasModifier(c, ts.SyntaxKind.ExportKeyword) || exported.has(c.name!.text);
  const bases = new Set<string>();
  const visit = (c: ts.ClassDeclaration) => {
    for (const clause of c.heritageClauses ?? []) {
      if (clause.token !== ts.SyntaxKind.ExtendsKeyword) continue;
      for (const type of clause.types) {
        const base = classes.get(type.expression.getText(source));
        if (base && !bases.has(base.name!.text)) {
          bases.add(base.name!.text);
          visit(base);
        }
      }
    }
  };
  for (const c of classes.values()) if (isExported(c)) visit(c);
  return bases;
}

/** The declared names of a top-level statement. */
function declaredNames(node: ts.Node): string[] {
  if (ts.isVariableStatement(node)) {
    return node.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name.text] : []));
  }
  const name = (node as ts.NamedDeclaration).name;
  return name && ts.isIdentifier(name) ? [name.text] : [];
}

function memberName(member: ts.Node): string | undefined {
  if (ts.isConstructorDeclaration(member)) return 'constructor';
  const name = (member as ts.NamedDeclaration).name;
  if (!name || ts.isPrivateIdentifier(name)) return undefined;
  if (hasModifier(member, ts.SyntaxKind.PrivateKeyword) || hasModifier(member, ts.SyntaxKind.ProtectedKeyword)) return undefined;
  if (ts.isIdentifier(name) || ts.isStringLiteral(name)) return name.text;
  if (ts.isComputedPropertyName(name)) return `[${name.expression.getText()}]`;
  return undefined;
}

/** The text of each `@example` in the JSDoc comments attached to `node`. */
function examplesOf(node: ts.Node, source: ts.SourceFile): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  for (const doc of ts.getJSDocCommentsAndTags(node)) {
    if (!ts.isJSDoc(doc)) continue;
    if ((doc.tags ?? []).some((t) => t.tagName.text === 'internal')) return [];
    for (const tag of doc.tags ?? []) {
      if (tag.tagName.text !== 'example') continue;
      // The raw text keeps the indentation that the parsed comment drops.
      const raw = source.text.slice(tag.tagName.end, tag.end).replace(/\*\/\s*$/, '');
      const lines = raw.split('\n').map((line, i) => (i === 0 ? line.trim() : line.replace(/^\s*\*( |$)/, '')));
      const line = source.getLineAndCharacterOfPosition(tag.getStart()).line + 1;
      out.push({ line, code: lines.join('\n').trim() });
    }
  }
  return out;
}

/** Every example of an exported declaration in `file`, named by file and symbol. */
export function snippetsOf(root: string, file: string): Snippet[] {
  const source = parse(root, file);
  const exported = localExports(source);
  for (const base of inheritedBases(source, exported)) exported.add(base);
  const snippets: Snippet[] = [];
  const add = (symbol: string, node: ts.Node) => {
    const examples = examplesOf(node, source);
    examples.forEach(({ line, code }, i) => {
      const label = examples.length > 1 ? `${symbol} (${i + 1})` : symbol;
      snippets.push({ name: `${file}: ${label}`, file, symbol: label, line, code });
    });
  };
  for (const statement of source.statements) {
    const names = declaredNames(statement);
    if (!names.length) continue;
    if (!hasModifier(statement, ts.SyntaxKind.ExportKeyword) && !names.some((n) => exported.has(n))) continue;
    add(names.join(', '), statement);
    if (ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement)) {
      const members: readonly ts.Node[] = statement.members;
      const isStatic = (m: ts.Node) => hasModifier(m, ts.SyntaxKind.StaticKeyword);
      const instanceNames = new Set(members.filter((m) => !isStatic(m)).map(memberName));
      for (const member of members) {
        const name = memberName(member);
        // a static method and an instance method may share a name (Timeout.start)
        const suffix = isStatic(member) && instanceNames.has(name) ? ' (static)' : '';
        if (name) add(`${names[0]}.${name}${suffix}`, member);
      }
    }
  }
  return snippets;
}

/** Every example of `src/**\/*.ts`. */
export function collectSnippets(root: string): Snippet[] {
  return sourceFiles(root).flatMap((file) => snippetsOf(root, file));
}

/** Where the comment of a line starts, or -1: `//` outside quotes. */
function commentStart(line: string): number {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === "'" || c === '"' || c === '`') {
      quote = c;
    } else if (c === '/' && line[i + 1] === '/') {
      return i;
    }
  }
  return -1;
}

/**
 * What the snippet promises to print: the trailing comment of each line that
 * calls `console.log`, in order. `all` is false when some `console.log` line
 * has no such comment (its output is then not checked).
 */
export function expectedOutput(code: string): { lines: string[]; all: boolean } {
  const lines: string[] = [];
  let all = true;
  for (const line of code.split('\n')) {
    if (!line.includes('console.log(')) continue;
    const at = commentStart(line);
    if (at < 0) all = false;
    else lines.push(line.slice(at + 2).trim());
  }
  return { lines, all };
}

/** A public name and where it is declared: `file`'s `name` (it may be renamed on export). */
export interface Declaration {
  file: string;
  name: string;
}

const moduleFile = (root: string, from: string, spec: ts.Expression) =>
  relative(root, join(root, from, '..', (spec as ts.StringLiteral).text.replace(/\.js$/, '.ts')));

/** Follows `export … from` and `import`-then-`export` chains from `file`'s export `name` to its declaration. */
function resolve(root: string, file: string, name: string): Declaration | undefined {
  const source = parse(root, file);
  for (const statement of source.statements) {
    if (declaredNames(statement).includes(name) && !ts.isImportDeclaration(statement)) return { file, name };
  }
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && statement.importClause?.namedBindings && ts.isNamedImports(statement.importClause.namedBindings)) {
      const el = statement.importClause.namedBindings.elements.find((e) => e.name.text === name);
      if (el) return resolve(root, moduleFile(root, file, statement.moduleSpecifier), (el.propertyName ?? el.name).text);
    }
    if (!ts.isExportDeclaration(statement) || !statement.moduleSpecifier) continue;
    const target = moduleFile(root, file, statement.moduleSpecifier);
    if (!statement.exportClause) {
      const found = resolve(root, target, name);
      if (found) return found;
    } else if (ts.isNamedExports(statement.exportClause)) {
      const el = statement.exportClause.elements.find((e) => e.name.text === name);
      if (el) return resolve(root, target, (el.propertyName ?? el.name).text);
    }
  }
  return undefined;
}

/** The values (not types) `entry` exports, with their declarations. */
export function publicDeclarations(root: string, entry: string, names: string[]): Map<string, Declaration> {
  const out = new Map<string, Declaration>();
  for (const name of names) {
    const found = resolve(root, entry, name);
    if (!found) throw new Error(`${entry}: cannot find the declaration of ${name}`);
    out.set(name, found);
  }
  return out;
}
