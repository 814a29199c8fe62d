// templateStore: Handlebars templates by name, user files overriding built-ins.
//
// Sandboxed: an isolated Handlebars environment with a handful of pure helpers,
// no partials from disk, prototype access off (Handlebars' default since 4.6),
// and a context of plain JSON data. `strict` makes a misspelled field an error at
// render time instead of an empty string in a node's boot config. A failed render
// throws TemplateError naming the template and line, and nothing is served.
import Handlebars from 'handlebars';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hbs } from './templateHelpers.js';

/** The repository's templates/ directory (dist/src/boot → ../../../templates). */
export const BUILTIN_TEMPLATES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../templates');

export class TemplateError extends Error {
  constructor(
    readonly template: string,
    readonly line: number | null,
    detail: string,
  ) {
    super(`template ${template}${line ? ` line ${line}` : ''}: ${detail}`);
    this.name = 'TemplateError';
  }
}

interface Compiled {
  source: string;
  fn: HandlebarsTemplateDelegate;
}

export class TemplateStore {
  private readonly cache = new Map<string, Compiled>();

  constructor(
    private readonly userDir: string,
    private readonly builtinDir = BUILTIN_TEMPLATES,
  ) {}

  /** The file a template name resolves to, user directory first. */
  locate(name: string): string | null {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) return null;
    for (const dir of [this.userDir, this.builtinDir]) {
      const file = join(dir, `${name}.hbs`);
      if (existsSync(file)) return file;
    }
    return null;
  }

  has(name: string): boolean {
    return this.locate(name) !== null;
  }

  render(name: string, context: object): string {
    const file = this.locate(name);
    if (!file) throw new TemplateError(name, null, `no ${name}.hbs in ${this.userDir} or the built-in templates`);
    const fn = this.compile(name, file);
    try {
      return fn(context, { allowProtoPropertiesByDefault: false, allowProtoMethodsByDefault: false });
    } catch (err) {
      throw asTemplateError(name, err);
    }
  }

  /**
   * The `vars.<name>` a template refers to, read from its syntax tree (every branch,
   * taken or not): what explain and `rackjoin check` list for a profile. [] for a
   * template that does not exist or does not parse (rendering reports those).
   */
  varsUsed(name: string): string[] {
    const file = this.locate(name);
    if (!file) return [];
    try {
      return varsIn(hbs.parse(readFileSync(file, 'utf8')));
    } catch {
      return [];
    }
  }

  /** The same for a template held in data (a profile's cmdline). */
  varsUsedByString(source: string): string[] {
    try {
      return varsIn(hbs.parse(source));
    } catch {
      return [];
    }
  }

  /** A template held in data rather than a file (a profile's cmdline). Not cached: it is short. */
  renderString(label: string, source: string, context: object): string {
    try {
      hbs.parse(source);
      return hbs.compile(source, { strict: true, noEscape: true })(context, {
        allowProtoPropertiesByDefault: false,
        allowProtoMethodsByDefault: false,
      });
    } catch (err) {
      throw asTemplateError(label, err);
    }
  }

  // Templates are small: reading the file on every render is cheap and means an edited
  // template takes effect at once (mtime granularity would miss quick successive edits).
  private compile(name: string, file: string): HandlebarsTemplateDelegate {
    const source = readFileSync(file, 'utf8');
    const hit = this.cache.get(file);
    if (hit && hit.source === source) return hit.fn;
    let fn: HandlebarsTemplateDelegate;
    try {
      // Handlebars compiles lazily; parsing now makes syntax errors surface here, with their line.
      hbs.parse(source);
      fn = hbs.compile(source, { strict: true, noEscape: true });
    } catch (err) {
      throw asTemplateError(name, err);
    }
    this.cache.set(file, { source, fn });
    return fn;
  }
}

type Program = ReturnType<typeof Handlebars.parse>;
type PathExpression = Parameters<Handlebars.Visitor['PathExpression']>[0];

function varsIn(ast: Program): string[] {
  const found = new Set<string>();
  class Paths extends Handlebars.Visitor {
    override PathExpression(path: PathExpression): void {
      // vars.mirror, @root.vars.mirror
      const parts = path.parts;
      if (parts[0] === 'vars' && parts[1]) found.add(parts[1]);
    }
  }
  new Paths().accept(ast);
  return [...found];
}

function asTemplateError(name: string, err: unknown): TemplateError {
  const msg = (err as Error).message ?? String(err);
  // "Parse error on line 3:" / '"foo" not defined in [object Object] - 3:10'
  const line = /on line (\d+)/.exec(msg)?.[1] ?? / - (\d+):\d+/.exec(msg)?.[1];
  return new TemplateError(name, line ? Number(line) : null, msg.split('\n')[0]!.replace(/ in \[object Object\]/, ''));
}
