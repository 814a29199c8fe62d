// The installer settings sites differ on, with their defaults, defined once: the
// template context fills `vars` from here (node vars over profile vars over these
// defaults), and explain and `rackjoin check` show which ones a profile's templates
// use and where each value came from. templates/README.md documents the same table.
import type { Profile } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import { INSTALLERS } from './installers.js';

/** The built-in installer families (the `family` of src/boot/installers.ts). */
type Family = 'debian-preseed' | 'rocky-kickstart' | 'ubuntu-autoinstall';

export interface InstallerVar {
  name: string;
  description: string;
  /** The default per built-in family; a family absent here has no default ('' when a template uses it). */
  defaults: Partial<Record<Family, string>>;
  /** The values the built-in templates understand, when they are few. */
  choices?: readonly string[];
  /** The value must parse as a URL (the templates take it apart). */
  url?: true;
}

const all = (v: string): Record<Family, string> => ({
  'debian-preseed': v,
  'rocky-kickstart': v,
  'ubuntu-autoinstall': v,
});

export const INSTALLER_VARS: readonly InstallerVar[] = [
  {
    name: 'mirror',
    description: "the distribution's package mirror, a URL (Ubuntu: empty keeps the installer's choice)",
    defaults: {
      'debian-preseed': 'http://deb.debian.org/debian',
      'rocky-kickstart': 'https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/',
      'ubuntu-autoinstall': '',
    },
    url: true,
  },
  { name: 'suite', description: 'the Debian release to install', defaults: { 'debian-preseed': 'bookworm' } },
  {
    name: 'proxy',
    description: 'HTTP proxy for packages and downloads (empty: none, or what the kernel command line sets)',
    defaults: all(''),
  },
  { name: 'kubernetesVersion', description: 'Kubernetes minor release (pkgs.k8s.io channel)', defaults: all('v1.31') },
  {
    name: 'kubernetesRepo',
    description: 'base of the Kubernetes package repository, laid out as pkgs.k8s.io (a mirror of it works)',
    defaults: all('https://pkgs.k8s.io/core:/stable:'),
    url: true,
  },
  {
    name: 'containerdRepo',
    description: 'the dnf repository file that provides containerd.io',
    defaults: { 'rocky-kickstart': 'https://download.docker.com/linux/rhel/docker-ce.repo' },
  },
  { name: 'extraPackages', description: 'more packages to install, separated by spaces', defaults: all('') },
  {
    name: 'diskLayout',
    description: 'lvm (LVM on the first disk) or direct (plain partitions)',
    defaults: all('lvm'),
    choices: ['lvm', 'direct'],
  },
  {
    name: 'sshAuthorizedKey',
    description: "an SSH public key for root (the admin user's on Ubuntu)",
    defaults: all(''),
  },
  {
    name: 'passwordHash',
    description: 'crypt(3) hash of the root (Ubuntu: admin user) password; ! locks it (SSH key only)',
    defaults: all('!'),
  },
  { name: 'adminUser', description: 'the first user Ubuntu creates', defaults: { 'ubuntu-autoinstall': 'ubuntu' } },
  { name: 'timezone', description: 'the installed system time zone', defaults: all('UTC') },
];

export type VarSource = 'node' | 'profile' | 'default';

export interface ResolvedVar {
  name: string;
  value: string;
  source: VarSource;
}

/** The family whose defaults apply: the profile's built-in one (a custom template keeps its installer's defaults). */
function familyOf(profile: Profile): Family | null {
  return (INSTALLERS[profile.installer].family as Family | null) ?? null;
}

/** Every variable the node's templates see, with where its value came from. */
export function resolveVars(profile: Profile | null, node: Pick<Node, 'vars'>): ResolvedVar[] {
  const family = profile ? familyOf(profile) : null;
  const out = new Map<string, ResolvedVar>();
  for (const v of INSTALLER_VARS) {
    const d = family ? v.defaults[family] : undefined;
    if (d !== undefined) out.set(v.name, { name: v.name, value: d, source: 'default' });
  }
  for (const [name, value] of Object.entries(profile?.vars ?? {})) out.set(name, { name, value, source: 'profile' });
  for (const [name, value] of Object.entries(node.vars)) out.set(name, { name, value, source: 'node' });
  return [...out.values()];
}

/** The `vars` of the template context. */
export function templateVars(profile: Profile | null, node: Pick<Node, 'vars'>): Record<string, string> {
  return Object.fromEntries(resolveVars(profile, node).map((v) => [v.name, v.value]));
}

// Variables are free-form: a password hash or a token may be among them. What the API
// and explain show of a value whose name says it is a secret is only that it is set.
const SECRET_NAME = /password|secret|token|private/i;

export function shownValue(name: string, value: string): string {
  return SECRET_NAME.test(name) && value !== '' && value !== '!' ? '[set]' : value;
}

export function shownVars(vars: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, shownValue(k, v)]));
}

/** A variable as explain and `rackjoin check` show it: secret-looking values masked. */
export interface VariableView {
  name: string;
  value: string;
  /** unset: a template refers to it, and no node, profile or default gives it a value. */
  source: VarSource | 'unset';
  description?: string;
}

/** The variables `used` (by the profile's templates) with their values for this node, in table order. */
export function variablesOf(used: string[], profile: Profile, node: Pick<Node, 'vars'>): VariableView[] {
  const resolved = new Map(resolveVars(profile, node).map((v) => [v.name, v]));
  const order = (name: string) => {
    const i = INSTALLER_VARS.findIndex((v) => v.name === name);
    return i < 0 ? INSTALLER_VARS.length : i;
  };
  return [...used]
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b))
    .map((name) => {
      const r = resolved.get(name);
      const description = INSTALLER_VARS.find((v) => v.name === name)?.description;
      return {
        name,
        value: r ? shownValue(name, r.value) : '',
        source: r ? r.source : 'unset',
        ...(description ? { description } : {}),
      };
    });
}

/** What is wrong with a variable's value, or null: a value the built-in templates cannot use. */
export function varProblem(name: string, value: string): string | null {
  const v = INSTALLER_VARS.find((x) => x.name === name);
  if (!v || value === '') return null;
  if (v.choices && !v.choices.includes(value))
    return `${name} is ${JSON.stringify(value)}, not one of ${v.choices.join(', ')}`;
  if (v.url && !URL.canParse(value)) return `${name} is ${JSON.stringify(value)}, not a URL (scheme://host/path)`;
  return null;
}
