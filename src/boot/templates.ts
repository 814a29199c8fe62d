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
import { CALLBACK_OUTPUT } from '../lifecycle/machine.js';

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

const hbs = Handlebars.create();
// Shell single-quoting: values from the inventory (labels, names) can be anything.
const shq = (v: unknown) => `'${String(v ?? '').replace(/'/g, `'"'"'`)}'`;
hbs.registerHelper('shq', shq);
// JSON is valid YAML: the safe way to put any string into user-data.
hbs.registerHelper('json', (v: unknown) => JSON.stringify(v ?? null));
hbs.registerHelper('join', (arr: unknown, sep: unknown) =>
  Array.isArray(arr) ? arr.join(typeof sep === 'string' ? sep : ' ') : '',
);
hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
hbs.registerHelper('base64', (v: unknown) => Buffer.from(String(v ?? '')).toString('base64'));
// {{indent text 8}}: every line after the first indented, for YAML block scalars.
hbs.registerHelper('indent', (text: unknown, n: unknown) =>
  String(text ?? '')
    .trimEnd()
    .replace(/\n/g, `\n${' '.repeat(Number(n) || 0)}`),
);
hbs.registerHelper('default', (v: unknown, fallback: unknown) =>
  v === undefined || v === null || v === '' ? fallback : v,
);

// {{callback "installed" "optional message"}}: one shell line that reports a stage to
// rackjoin, retried: a callback must survive the server restarting (docs/lifecycle.md).
function callbackBody(args: unknown[]): string {
  const [stage, message] = args;
  return JSON.stringify(typeof message === 'string' ? { stage, message } : { stage });
}
function callbackUrl(options: Handlebars.HelperOptions): string {
  return (options.data.root as { urls: { callback: string } }).urls.callback;
}
const CURL = "curl -fsS --retry 10 --retry-delay 3 --retry-all-errors -H 'content-type: application/json'";
hbs.registerHelper('callback', (...args: unknown[]) => {
  const options = args.pop() as Handlebars.HelperOptions;
  return `${CURL} -d ${shq(callbackBody(args))} ${callbackUrl(options)}`;
});
// The same for installers that only have busybox wget (debian-installer).
hbs.registerHelper('wgetCallback', (...args: unknown[]) => {
  const options = args.pop() as Handlebars.HelperOptions;
  const wget = "wget -q -O /dev/null --header='Content-Type: application/json'";
  return `${wget} --post-data=${shq(callbackBody(args))} ${callbackUrl(options)}`;
});

// The end of a log as the inside of a JSON string, in plain POSIX sh (no jq or python
// in every installer): control characters dropped, tabs made spaces, backslash and
// quote escaped, lines joined with \n.
const jsonTail = (log: string) =>
  `tail -c ${CALLBACK_OUTPUT.sentBytes} ${shq(log)} 2>/dev/null | tr -d '\\000-\\010\\013-\\037\\177' | tr '\\011' ' ' | ` +
  `sed -e 's/\\\\/\\\\\\\\/g' -e 's/"/\\\\"/g' -e 's/$/\\\\n/' | tr -d '\\n'`;
// {{failedCallback "message" "/var/log/x.log"}}: report `failed` with the end of that
// log (the failing command's output); rackjoin masks secrets before storing it.
hbs.registerHelper('failedCallback', (message: unknown, log: unknown, options: Handlebars.HelperOptions) => {
  const head = `${JSON.stringify({ stage: 'failed', message: String(message) }).slice(0, -1)},"output":"`;
  const body = `{ printf '%s' ${shq(head)}; ${jsonTail(String(log))}; printf '"}'; }`;
  return `${body} | ${CURL} --data-binary @- ${callbackUrl(options)}`;
});

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

function asTemplateError(name: string, err: unknown): TemplateError {
  const msg = (err as Error).message ?? String(err);
  // "Parse error on line 3:" / '"foo" not defined in [object Object] - 3:10'
  const line = /on line (\d+)/.exec(msg)?.[1] ?? / - (\d+):\d+/.exec(msg)?.[1];
  return new TemplateError(name, line ? Number(line) : null, msg.split('\n')[0]!.replace(/ in \[object Object\]/, ''));
}
