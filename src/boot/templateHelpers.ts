// The helpers templates may call (templates/README.md lists them), registered on an
// isolated Handlebars environment: pure functions of their arguments and the render
// context, nothing from disk. Callbacks, install steps and preseed lines are built
// here so every built-in template reports the same way.
import Handlebars from 'handlebars';
import { CALLBACK_OUTPUT } from '../lifecycle/machine.js';

/** The sandboxed Handlebars environment every template renders in: only these helpers. */
export const hbs = Handlebars.create();
// Shell single-quoting: values from the inventory (labels, names) can be anything.
const shq = (v: unknown) => `'${String(v ?? '').replace(/'/g, `'"'"'`)}'`;
hbs.registerHelper('shq', shq);
// JSON is valid YAML: the safe way to put any string into user-data.
hbs.registerHelper('json', (v: unknown) => JSON.stringify(v ?? null));
hbs.registerHelper('join', (arr: unknown, sep: unknown) =>
  Array.isArray(arr) ? arr.join(typeof sep === 'string' ? sep : ' ') : '',
);
hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
// {{base64 x}}, or {{#base64}}a whole script{{/base64}}: a script embedded in a one-line
// installer setting (a preseed command) survives any quoting as base64.
hbs.registerHelper('base64', function (this: unknown, ...args: unknown[]) {
  const options = args.pop() as Handlebars.HelperOptions;
  const text = args.length ? String(args[0] ?? '') : options.fn(this);
  return Buffer.from(text).toString('base64');
});
// {{indent text 8}}: every line after the first indented, for YAML block scalars.
hbs.registerHelper('indent', (text: unknown, n: unknown) =>
  String(text ?? '')
    .trimEnd()
    .replace(/\n/g, `\n${' '.repeat(Number(n) || 0)}`),
);
// {{words "a b" vars.extraPackages}}: every whitespace-separated word of the arguments, as a list.
hbs.registerHelper('words', (...args: unknown[]) =>
  args
    .slice(0, -1)
    .flatMap((a) => String(a ?? '').split(/\s+/))
    .filter(Boolean),
);
// {{urlPart vars.mirror "host"}}: protocol (no colon), host (with port) or path (no trailing slash).
hbs.registerHelper('urlPart', (value: unknown, part: unknown) => {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new Error(`urlPart: ${JSON.stringify(value)} is not a URL`);
  }
  if (part === 'protocol') return url.protocol.replace(/:$/, '');
  if (part === 'host') return url.host;
  if (part === 'path') return url.pathname.replace(/\/+$/, '') || '/';
  throw new Error(`urlPart: part must be protocol, host or path, not ${JSON.stringify(part)}`);
});
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

// Standard input as the inside of a JSON string, in plain POSIX sh (no jq or python in
// every installer): control characters dropped, tabs made spaces, backslash and quote
// escaped, lines joined with \n.
const JSON_ESCAPE = String.raw`tr -d '\000-\010\013-\037\177' | tr '\011' ' ' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/$/\\n/' | tr -d '\n'`;
// The end of a log, so escaped.
const jsonTail = (log: string) => `tail -c ${CALLBACK_OUTPUT.sentBytes} ${shq(log)} 2>/dev/null | ${JSON_ESCAPE}`;
// {{failedCallback "message" "/var/log/x.log"}}: report `failed` with the end of that
// log (the failing command's output); rackjoin masks secrets before storing it.
hbs.registerHelper('failedCallback', (message: unknown, log: unknown, options: Handlebars.HelperOptions) => {
  const head = `${JSON.stringify({ stage: 'failed', message: String(message) }).slice(0, -1)},"output":"`;
  const body = `{ printf '%s' ${shq(head)}; ${jsonTail(String(log))}; printf '"}'; }`;
  return `${body} | ${CURL} --data-binary @- ${callbackUrl(options)}`;
});

// {{preseed "mirror/http/proxy" "string" vars.proxy}}: one debconf line, `d-i <question> <type> <value>`
// (owner="tasksel" for another owner than d-i),
// unless the kernel command line already answers the question (by name or by the alias
// debian-installer takes for it). The preseed file is loaded after the command line, so
// setting the question here again would erase what the operator passed there.
const PRESEED_ALIASES: Record<string, string> = {
  locale: 'debian-installer/locale',
  language: 'debian-installer/language',
  country: 'debian-installer/country',
  keymap: 'keyboard-configuration/xkb-keymap',
  hostname: 'netcfg/get_hostname',
  domain: 'netcfg/get_domain',
  interface: 'netcfg/choose_interface',
  protocol: 'mirror/protocol',
  suite: 'mirror/suite',
  priority: 'debconf/priority',
  recommends: 'base-installer/install-recommends',
  tasks: 'tasksel/first',
};
function cmdlineAnswers(cmdline: string): Set<string> {
  const answered = new Set<string>();
  for (const word of cmdline.split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq <= 0) continue;
    const key = word.slice(0, eq).replace(/^[^/:]+:/, ''); // tasksel:tasksel/first= names its owner
    answered.add(PRESEED_ALIASES[key] ?? key);
  }
  return answered;
}
hbs.registerHelper('preseed', (question: unknown, type: unknown, value: unknown, options: Handlebars.HelperOptions) => {
  const q = String(question);
  const root = options.data.root as { cmdline?: string };
  if (cmdlineAnswers(root.cmdline ?? '').has(q)) return `# ${q}: set on the kernel command line`;
  const v = value === undefined || value === null ? '' : String(value);
  if (/[\r\n]/.test(v)) throw new Error(`preseed ${q}: a value cannot span lines`);
  const owner = typeof options.hash.owner === 'string' ? options.hash.owner : 'd-i';
  return `${owner} ${q} ${String(type)}${v === '' ? '' : ` ${v}`}`;
});

// {{installSteps "/var/log/rackjoin-install.log"}}: the shell function every built-in
// installer runs its steps with. `rackjoin_step "what it does" command...` runs the
// command with its output captured (and appended to the log); the first step that
// fails reports `failed` to rackjoin, "<what> failed: <its last line of output>", with
// the end of its output, and exits, so the install stops where it failed. No `set -e`
// around it: a step's status is tested, never lost to a pipeline or a later command.
// Reports with curl, else busybox wget (debian-installer, minimal systems).
hbs.registerHelper('installSteps', (log: unknown, options: Handlebars.HelperOptions) => {
  const url = callbackUrl(options);
  const out = '/tmp/rackjoin-step.out';
  return [
    '# rackjoin install steps (templates/README.md): each named; the first that fails reports it and stops.',
    `rackjoin_log=${shq(log)}`,
    // One line of text as the inside of a JSON string, without the \n JSON_ESCAPE ends it with.
    String.raw`rackjoin_json() { ${JSON_ESCAPE} | sed 's/\\n$//'; }`,
    'rackjoin_post() {',
    `  if command -v curl >/dev/null 2>&1; then ${CURL} --data-binary "@$1" ${url}`,
    `  else wget -q -O /dev/null --header='Content-Type: application/json' --post-file="$1" ${url}; fi`,
    '}',
    'rackjoin_step() {',
    '  rackjoin_what=$1; shift',
    '  echo "rackjoin: $rackjoin_what" >>"$rackjoin_log"',
    `  if "$@" >${out} 2>&1; then cat ${out} >>"$rackjoin_log"; return 0; else rackjoin_rc=$?; fi`,
    `  cat ${out} >>"$rackjoin_log"`,
    `  rackjoin_last=$(grep -v '^[[:space:]]*$' ${out} | tail -n 1)`,
    '  {',
    `    printf '{"stage":"failed","message":"%s failed' "$(printf '%s' "$rackjoin_what" | rackjoin_json)"`,
    `    if [ -n "$rackjoin_last" ]; then printf ': %s' "$(printf '%s' "$rackjoin_last" | rackjoin_json)"; ` +
      `else printf ' (exit %s)' "$rackjoin_rc"; fi`,
    `    printf '","output":"%s"}' "$(${jsonTail(out)})"`,
    '  } >/tmp/rackjoin-failed.json',
    '  rackjoin_post /tmp/rackjoin-failed.json',
    '  echo "rackjoin: $rackjoin_what failed (exit $rackjoin_rc); reported to rackjoin" >&2',
    '  exit "$rackjoin_rc"',
    '}',
  ].join('\n');
});
