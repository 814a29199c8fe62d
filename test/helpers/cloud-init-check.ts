// cloud-init's NoCloud files as cloud-init itself judges them: user-data and vendor-data
// by `cloud-init schema`, network-config by `cloud-init devel net-convert` (22.4 has no
// schema for it: its own parser renders it or refuses), meta-data by its YAML loader.
// What 22.4 lets through is asked of its own schema file (unknown top-level keys) or of
// the Ubuntu autoinstall reference (unknown autoinstall keys, fatal since 24.04), and the
// shell inside goes to shell-check.ts. Every function returns problems; none means good.
import type { CloudInit } from './installer-tools.js';
import { commandProblems, scriptProblems, shellOf } from './shell-check.js';

/**
 * The autoinstall keys of version 1 (Ubuntu Server docs, "Autoinstall configuration
 * reference manual"). Unknown keys are ignored by older installers and an error from 24.04 on.
 */
export const AUTOINSTALL_KEYS = new Set([
  'version',
  'interactive-sections',
  'early-commands',
  'locale',
  'refresh-installer',
  'keyboard',
  'source',
  'network',
  'proxy',
  'apt',
  'storage',
  'identity',
  'active-directory',
  'ubuntu-pro',
  'ubuntu-advantage',
  'ssh',
  'codecs',
  'drivers',
  'oem',
  'snaps',
  'debconf-selections',
  'packages',
  'kernel',
  'kernel-crash-dumps',
  'timezone',
  'updates',
  'shutdown',
  'late-commands',
  'error-commands',
  'reporting',
  'user-data',
  'zdevs',
]);

type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A cloud-config, or a user-data script (#!). */
export function cloudConfigProblems(ci: CloudInit, text: string, where: string): string[] {
  // A user-data script: cloud-init runs it as it is; only shell scripts can be parsed here.
  if (text.startsWith('#!')) return shellOf(text) ? scriptProblems(text, where) : [];
  const out: string[] = [];
  const schema = ci.onFile('user-data', text, ['schema', '--config-file', '{file}']);
  if (schema.status !== 0 || !schema.stdout.startsWith('Valid cloud-config:'))
    out.push(`${where}: cloud-init schema: ${(schema.stderr + schema.stdout).replace(/^Error:\s*/, '').trim()}`);
  const parsed = ci.loadYaml(text);
  if (!parsed.ok || !isMapping(parsed.value)) return out; // the schema has said why
  const doc = parsed.value;
  const known = ci.knownKeys();
  for (const key of Object.keys(doc))
    if (!known.has(key)) out.push(`${where}: ${key}: not a key cloud-init ${ci.version} knows (it would be ignored)`);
  out.push(...commandListProblems(doc.bootcmd, `${where} bootcmd`));
  out.push(...commandListProblems(doc.runcmd, `${where} runcmd`));
  if (Array.isArray(doc.write_files))
    doc.write_files.forEach((f: unknown, i) => {
      if (!isMapping(f) || typeof f.content !== 'string') return;
      const content = /^(b64|base64)$/.test(String(f.encoding ?? ''))
        ? Buffer.from(f.content, 'base64').toString()
        : f.content;
      if (shellOf(content)) out.push(...scriptProblems(content, `${where} write_files[${i}] ${String(f.path)}`));
    });
  if ('autoinstall' in doc) out.push(...autoinstallProblems(ci, doc.autoinstall, `${where} autoinstall`));
  return out;
}

/** A command list (runcmd, early-commands, ...): strings run as `sh -c`, lists as argv. */
function commandListProblems(list: unknown, where: string): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) return [`${where}: not a list`];
  const commands: { where: string; command: string }[] = [];
  const out: string[] = [];
  list.forEach((c: unknown, i) => {
    if (typeof c === 'string') commands.push({ where: `${where}[${i}]`, command: c });
    else if (!Array.isArray(c) || !c.every((a) => typeof a === 'string'))
      out.push(`${where}[${i}]: neither a shell command nor a list of strings`);
  });
  return [...out, ...commandProblems(commands)];
}

/** The autoinstall section: its keys, its commands, and the installed system's own cloud-config. */
function autoinstallProblems(ci: CloudInit, ai: unknown, where: string): string[] {
  if (!isMapping(ai)) return [`${where}: not a mapping`];
  const out: string[] = [];
  if (ai.version !== 1) out.push(`${where}.version: ${JSON.stringify(ai.version)}, not 1`);
  for (const key of Object.keys(ai))
    if (!AUTOINSTALL_KEYS.has(key)) out.push(`${where}.${key}: not an autoinstall key (an error since Ubuntu 24.04)`);
  for (const key of ['early-commands', 'late-commands', 'error-commands'])
    out.push(...commandListProblems(ai[key], `${where}.${key}`));
  const userData = ai['user-data'];
  if (userData !== undefined) {
    if (!isMapping(userData)) out.push(`${where}.user-data: not a mapping`);
    // As its own file: JSON is YAML, and the values are those PyYAML read (0755 stays a number).
    else out.push(...cloudConfigProblems(ci, `#cloud-config\n${JSON.stringify(userData)}\n`, `${where}.user-data`));
  }
  return out;
}

/** NoCloud meta-data: a mapping with the instance-id (cloud-init runs again only when it changes). */
export function metaDataProblems(ci: CloudInit, text: string, where: string): string[] {
  const parsed = ci.loadYaml(text);
  if (!parsed.ok) return [`${where}: cloud-init's YAML loader: ${parsed.error}`];
  const md = parsed.value;
  if (!isMapping(md)) return [`${where}: not a mapping`];
  const out: string[] = [];
  if (typeof md['instance-id'] !== 'string' || !md['instance-id']) out.push(`${where}: no instance-id`);
  if ('local-hostname' in md && typeof md['local-hostname'] !== 'string')
    out.push(`${where}: local-hostname is not a string`);
  return out;
}

/** network-config (v1 or v2): cloud-init's own parser renders it to ENI, or says why not. */
export function networkConfigProblems(ci: CloudInit, text: string, where: string): string[] {
  const parsed = ci.loadYaml(text);
  if (!parsed.ok) return [`${where}: cloud-init's YAML loader: ${parsed.error}`];
  const top = parsed.value;
  const net = isMapping(top) && isMapping(top.network) ? top.network : top;
  if (!isMapping(net) || (net.version !== 1 && net.version !== 2))
    return [`${where}: not a network config of version 1 or 2`];
  const args = ['devel', 'net-convert', '--network-data', '{file}', '--kind', 'yaml'];
  const r = ci.onFile('network-config', text, [...args, '--distro', 'debian', '--output-kind', 'eni', '-d', '{out}']);
  // skip_broken: cloud-init logs what it cannot use and goes on; a machine would boot without it.
  const warned = /WARNING|Traceback|Error/.exec(r.stderr);
  if (r.status !== 0 || warned) return [`${where}: cloud-init net-convert: ${r.stderr.trim()}`];
  const out: string[] = [];
  if (net.version === 2)
    for (const [key, eth] of Object.entries(isMapping(net.ethernets) ? net.ethernets : {})) {
      const name = isMapping(eth) && typeof eth['set-name'] === 'string' ? eth['set-name'] : key;
      if (!new RegExp(`^iface ${name} `, 'm').test(r.out))
        out.push(`${where}: ethernets.${key}: cloud-init rendered no interface ${name} from it`);
    }
  return out;
}
