// A TypeDoc plugin that files each exported name of weft's entry points under
// the Python module it stands for (Queue under `multiprocessing.queues`,
// Greenlet under `gevent.greenlet`), so the reference reads like Python's
// library reference. The category comes from the file that declares the name
// (STYLE.md, habit 1: a file is named for its Python twin), through the
// `pythonModules` map of typedoc.json, so src/ needs no `@category` tags.
// A name whose file the map does not cover is a warning: it would land in
// "Other" and the test in test/docs/api.test.ts fails.
import { dirname, relative } from 'node:path';
import { Comment, CommentTag, Converter, ParameterType, ReflectionKind } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.options.addDeclaration({
    name: 'pythonModules',
    help: 'Category of each source file: {"src/x.ts": "title", "src/prefix*": "title"}; the longest matching key wins.',
    type: ParameterType.Mixed,
    defaultValue: {},
  });

  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    /** @type {Record<string, string>} */
    const map = app.options.getValue('pythonModules');
    const keys = Object.keys(map).sort((a, b) => b.length - a.length);
    const titleOf = (file) => {
      const key = keys.find((k) => (k.endsWith('*') ? file.startsWith(k.slice(0, -1)) : file === k));
      return key && map[key];
    };
    // the map's paths are relative to the project's root, where tsconfig.json is
    const root = dirname(app.options.getValue('tsconfig'));
    const fileOf = (reflection) => {
      const declaration = context.getSymbolFromReflection(reflection)?.declarations?.[0];
      return declaration && relative(root, declaration.getSourceFile().fileName);
    };
    for (const module of context.project.getChildrenByKind(ReflectionKind.Module)) {
      for (const child of module.children ?? []) {
        const declared = child.isReference() ? child.getTargetReflectionDeep() : child;
        const file = fileOf(declared);
        const title = file && titleOf(file);
        if (!title) {
          app.logger.warn(`${module.name}.${child.name}: typedoc.json's pythonModules has no entry for ${file ?? 'its file'}`);
          continue;
        }
        // a function's doc comment sits on its first signature: the tag goes with it
        const holder = !child.comment && child.signatures?.[0]?.comment ? child.signatures[0] : child;
        holder.comment ??= new Comment();
        holder.comment.blockTags.push(new CommentTag('@category', [{ kind: 'text', text: title }]));
      }
    }
  });
}
