// Every built-in installer config, as the daemon serves it at GET /n/<token>/<file>
// (in process: the inventory loaded and checked, the boot decision, the renderer), for
// sample nodes of every template family, judged by the installers' own tools:
//   cloud-init  `cloud-init schema` (Debian 12's 22.4, unpacked by scripts/unpack-cloud-init)
//               on user-data, vendor-data and the autoinstall's nested user-data, each as its
//               own file; `cloud-init devel net-convert` on network-config; its YAML loader on
//               meta-data; unknown cloud-config and autoinstall keys; the shell inside
//   preseed     `debconf-set-selections --checkonly`, and `sh -n` on the commands debconf stores
//   kickstart   pykickstart's rules for RHEL 9 (sections, commands, options), `bash -n` on scripts
// (test/helpers/*-check.ts say how). Then each check is shown a deliberately broken copy
// of each template, served through the same path, and must reject it.
// The families are whatever templates/ holds (<family>.<file>.hbs), and the profile vars
// whatever they use, so a new template or variable is checked without changing this file.
import t, { type Test } from 'tap';
import { readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { INSTALLERS, type InstallerFile } from '../../src/boot/installers.js';
import { NAMED_FIRMWARE } from '../../src/boot/firmware.js';
import { BUILTIN_TEMPLATES } from '../../src/boot/templates.js';
import type { Profile } from '../../src/inventory/schema.js';
import { cloudConfigProblems, metaDataProblems, networkConfigProblems } from '../helpers/cloud-init-check.js';
import { inProcessApp, type InProcess } from '../helpers/inproc.js';
import { CloudInit, Debconf } from '../helpers/installer-tools.js';
import { kickstartProblems } from '../helpers/kickstart-check.js';
import { preseedProblems } from '../helpers/preseed-check.js';
import { scriptProblems } from '../helpers/shell-check.js';

const JOIN = { apiServerEndpoint: '198.18.0.10:6443', joinToken: 'abcdef.0123456789abcdef' };
const HASH = `sha256:${'5e'.repeat(32)}`;

let tools: { ci: CloudInit; debconf: Debconf } | null = null;
let unavailable: string | false = false;
try {
  tools = { ci: CloudInit.unpack(), debconf: new Debconf() };
} catch (err) {
  // Off CI a machine without apt access skips; CI must have the tools (install-deps --test).
  if (process.env.CI) throw err;
  unavailable = `the installer tools are not available: ${(err as Error).message}`;
}

/** Each installer file's judge. A Record: a new installer file cannot go unchecked. */
const CHECKS: Record<InstallerFile, (text: string, where: string) => string[]> = {
  'user-data': (text, where) => cloudConfigProblems(tools!.ci, text, where),
  'vendor-data': (text, where) => cloudConfigProblems(tools!.ci, text, where),
  'meta-data': (text, where) => metaDataProblems(tools!.ci, text, where),
  'network-config': (text, where) => networkConfigProblems(tools!.ci, text, where),
  kickstart: (text, where) => kickstartProblems(text, where),
  preseed: (text, where) => preseedProblems(tools!.debconf, text, where),
};

type Installer = Exclude<Profile['installer'], 'none'>;
interface Family {
  installer: Installer;
  family: string;
}

/** Every template family in templates/: `<family>.<main file>.hbs` for an installer's main file. */
function families(): Family[] {
  const names = readdirSync(BUILTIN_TEMPLATES);
  return (Object.keys(INSTALLERS) as Profile['installer'][]).flatMap((installer) => {
    const main = INSTALLERS[installer].main;
    if (installer === 'none' || !main) return [];
    const suffix = `.${main}.hbs`;
    return names.filter((n) => n.endsWith(suffix)).map((n) => ({ installer, family: n.slice(0, -suffix.length) }));
  });
}

/** The template a family's `file` renders from (its own, else the generic one), as the renderer picks it. */
function templateOf({ family }: Family, file: InstallerFile): string | null {
  for (const name of [`${family}.${file}`, file])
    if (readdirSync(BUILTIN_TEMPLATES).includes(`${name}.hbs`)) return name;
  return null;
}

/** The profile vars a family's templates read. */
function varsOf(f: Family): string[] {
  const sources = [...INSTALLERS[f.installer].files.map((file) => templateOf(f, file)), 'firstboot']
    .filter((n): n is string => n !== null)
    .map((n) => readFileSync(join(BUILTIN_TEMPLATES, `${n}.hbs`), 'utf8'));
  return [...new Set(sources.flatMap((s) => [...s.matchAll(/\bvars\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!)))];
}

/** Sample values for the vars templates use; a var without one is rendered with its default only. */
const SAMPLE_VARS: Record<string, string> = {
  // A key comment with spaces and an apostrophe, as operators' keys have.
  sshAuthorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJhY2tqb2luIHRlc3Qga2V5IG5vdCByZWFs ops team's key",
  kubernetesVersion: 'v1.30',
  kubernetesRepo: 'https://k8s-mirror.example/core:/stable:',
  containerdRepo: 'https://mirror.example/docker-ce.repo',
  adminUser: 'ops',
  diskLayout: 'direct',
  proxy: 'http://198.18.0.9:3142',
  suite: 'trixie',
  extraPackages: 'htop  jq',
  passwordHash: '$6$rounds=4096$saltsalt$hashhashhash',
  timezone: 'Europe/Paris',
};
/** Each family's mirror: a Debian archive, a BaseOS tree, an Ubuntu archive. */
const FAMILY_VARS: Record<string, Record<string, string>> = {
  'debian-preseed': { mirror: 'https://ftp.de.debian.org/debian/' },
  'rocky-kickstart': { mirror: 'https://download.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/' },
  'ubuntu-autoinstall': { mirror: 'http://archive.ubuntu.com/ubuntu' },
};

/** How each installer's kernel command line reaches its config (the inventory check insists). */
const CMDLINE: Record<Installer, string> = {
  'cloud-init': 'ip=dhcp autoinstall ds=nocloud-net;s={{urls.seed}}',
  kickstart: 'inst.ks={{urls.kickstart}} inst.text',
  preseed: 'auto=true priority=critical url={{urls.preseed}}',
};

interface Sample {
  id: string;
  title: string;
  role: 'worker' | 'control-plane';
  /** Set every var the templates use that SAMPLE_VARS knows (else none: the templates' defaults). */
  vars: boolean;
  labels: Record<string, string>;
  ip: boolean;
  /** The config has a kubernetes join endpoint and token (else firstboot reports failed). */
  join: boolean;
}

const SAMPLES: Sample[] = [
  {
    id: 'worker',
    title: 'a worker, no optional vars',
    role: 'worker',
    vars: false,
    labels: { rack: 'r1' },
    ip: false,
    join: true,
  },
  {
    id: 'cp',
    title: 'a control-plane node with every var',
    role: 'control-plane',
    vars: true,
    labels: { rack: 'r2', 'topology.kubernetes.io/zone': 'z1' },
    ip: true,
    join: true,
  },
  {
    id: 'spaces',
    title: 'a label with spaces and double quotes',
    role: 'worker',
    vars: true,
    labels: { 'example.com/room': 'hall "B" row 3' },
    ip: true,
    join: true,
  },
  {
    id: 'quote',
    title: 'a label with an apostrophe',
    role: 'worker',
    vars: false,
    labels: { owner: "O'Brien" },
    ip: false,
    join: true,
  },
  {
    id: 'nojoin',
    title: 'no kubernetes join configured',
    role: 'worker',
    vars: false,
    labels: {},
    ip: false,
    join: false,
  },
];

const nodeName = (s: Sample, i: number) => `${s.id}-${i}`;
const profileName = (s: Sample, f: Family) => `${f.family}-${s.id}`;

function inventory(samples: Sample[], fams: Family[]) {
  const profiles = samples.flatMap((s) =>
    fams.map((f) => {
      const known = { ...SAMPLE_VARS, ...FAMILY_VARS[f.family] };
      const vars = s.vars ? Object.fromEntries(varsOf(f).flatMap((v) => (known[v] ? [[v, known[v]]] : []))) : {};
      return {
        name: profileName(s, f),
        loader: 'ipxe',
        kernel: `${f.family}/vmlinuz`,
        initrd: [`${f.family}/initrd`],
        cmdline: CMDLINE[f.installer],
        installer: f.installer,
        template: f.family,
        vars,
        kubernetes: {
          role: s.role,
          labels: { pool: 'general' },
          ...(s.role === 'control-plane' ? { taints: ['node-role.kubernetes.io/control-plane:NoSchedule'] } : {}),
        },
      };
    }),
  );
  const nodes = samples.flatMap((s) =>
    fams.map((f, i) => {
      const n = SAMPLES.indexOf(s) * 16 + i + 1;
      return {
        name: nodeName(s, i),
        macs: [`52:54:00:00:${n.toString(16).padStart(2, '0')}:01`],
        ...(s.ip ? { ip: `198.18.0.${100 + n}` } : {}),
        profile: profileName(s, f),
        labels: s.labels,
      };
    }),
  );
  return { profiles, nodes };
}

function daemon(t: Test, samples: Sample[], fams: Family[], joins: boolean, templates?: string): Promise<InProcess> {
  return inProcessApp(t, inventory(samples, fams), (ws) => ({
    advertise: '198.18.0.1',
    ...(joins ? { kubernetes: { ...JOIN, caCertHashes: [HASH] } } : {}),
    ...(templates ? { templates } : {}),
    assets: join(ws.root, 'assets'),
  }));
}

/** One assertion per problem (TODO for a known defect), or one pass. */
function report(t: Test, problems: string[], where: string) {
  for (const p of problems) t.fail(p);
  if (!problems.length) t.pass(`${where}: accepted`);
}

const FAMILIES = families();

t.test('the installer tools', { skip: unavailable }, async (t) => {
  const { ci, debconf } = tools!;
  t.comment(`cloud-init ${ci.version} (${ci.root}); debconf ${debconf.version}`);
  t.ok(ci.knownKeys().has('runcmd'), "cloud-init's schema lists its keys");
  const families = FAMILIES.map((f) => f.family);
  for (const kind of ['cloud-init', 'kickstart', 'preseed'] as const)
    t.ok(families.includes(INSTALLERS[kind].family!), `the built-in ${kind} family is found in templates/`);
});

t.test('every installer config of every family passes its installer tools', { skip: unavailable }, async (t) => {
  for (const joins of [true, false]) {
    const samples = SAMPLES.filter((s) => s.join === joins);
    const app = await daemon(t, samples, FAMILIES, joins);
    for (const s of samples)
      for (const [i, f] of FAMILIES.entries()) {
        await t.test(`${f.family}: ${s.title}`, async (t) => {
          const name = nodeName(s, i);
          const token = app.tokenOf(name);
          const unsampled = varsOf(f).filter((v) => s.vars && !{ ...SAMPLE_VARS, ...FAMILY_VARS[f.family] }[v]);
          if (unsampled.length)
            t.comment(`no sample value for vars ${unsampled.join(', ')}: rendered with their defaults`);
          const kind = INSTALLERS[f.installer];
          for (const file of kind.files) {
            const res = await app.call('GET', `/n/${token}/${file}`);
            // An optional file without a template (a family with no vendor-data) is a 404, as it should be.
            if (file !== kind.main && res.status === 404 && !templateOf(f, file)) continue;
            if (!t.equal(res.status, 200, `${file} is served`, { body: res.raw.toString() })) continue;
            const where = `${templateOf(f, file)} for ${name}`;
            report(t, CHECKS[file](res.raw.toString(), where), where);
          }
          // The installed system's first boot: embedded base64 or in a heredoc, where nothing else parses it.
          const node = app.ctx.nodes.get(name)!;
          const secrets = { nodeToken: token, joinToken: joins ? JOIN.joinToken : null };
          const scripts = app.ctx.plane.context(app.ctx.plane.subjectOf(node), NAMED_FIRMWARE.bios, secrets).scripts;
          for (const [script, text] of Object.entries(scripts))
            report(t, scriptProblems(text, `${script} for ${name}`), `${script} for ${name}`);
        });
      }
  }
});

interface Breakage {
  what: string;
  /** The broken template source, or null when its anchor is not in this template. */
  mutate: (source: string) => string | null;
  rejects: RegExp;
}

/** `line` as the first child of the block `key:` (at the block's own indentation). */
function insertUnder(source: string, key: string, line: string): string | null {
  const m = new RegExp(`^([ \\t]*)${key}:[ \\t]*\\n(?:[ \\t]*\\n)*([ \\t]+)`, 'm').exec(source);
  if (!m || m[2]!.length <= m[1]!.length) return null;
  const at = m.index + source.slice(m.index).indexOf('\n') + 1;
  return `${source.slice(0, at)}${m[2]}${line}\n${source.slice(at)}`;
}
const replace = (source: string, re: RegExp, by: string) => (re.test(source) ? source.replace(re, by) : null);

const YAML_ERROR: Breakage = {
  what: 'a YAML syntax error',
  mutate: (s) => `${s}\nbroken: [unclosed\n`,
  rejects: /not valid yaml|YAML loader/i,
};
/** Every file's breakages: each must be rejected. A Record: a new installer file needs its own. */
const BREAKAGES: Record<InstallerFile, Breakage[]> = {
  'user-data': [
    YAML_ERROR,
    {
      what: 'runcmd of the wrong type',
      mutate: (s) => `${s}\nruncmd: 5\n`,
      rejects: /runcmd: 5 is not of type 'array'/,
    },
    { what: 'a misspelt key', mutate: (s) => `${s}\nruncmds: [ls]\n`, rejects: /runcmds: not a key cloud-init/ },
    {
      what: "a wrong type in the installed system's cloud-config",
      mutate: (s) => insertUnder(s, 'user-data', 'ntp: 5'),
      rejects: /autoinstall\.user-data: cloud-init schema: .*ntp: 5 is not of type/,
    },
    {
      what: "a shell syntax error in the installed system's bootcmd",
      mutate: (s) => insertUnder(s, 'user-data', 'bootcmd: ["if true; then"]'),
      rejects: /autoinstall\.user-data bootcmd\[0\]: sh -n: /,
    },
    {
      what: 'a misspelt autoinstall key',
      mutate: (s) => insertUnder(s, 'autoinstall', 'late-command: []'),
      rejects: /autoinstall\.late-command: not an autoinstall key/,
    },
  ],
  'vendor-data': [YAML_ERROR],
  'meta-data': [
    YAML_ERROR,
    { what: 'no instance-id', mutate: (s) => replace(s, /^instance-id:.*\n/m, ''), rejects: /no instance-id/ },
  ],
  'network-config': [
    YAML_ERROR,
    {
      what: 'ethernets as a list',
      mutate: (s) => replace(s, /^([ \t]*)ethernets:/m, '$1ethernets: [boot]\n$1unused:'),
      rejects: /cloud-init net-convert: .*'list' object has no attribute/s,
    },
  ],
  kickstart: [
    {
      what: 'an unclosed last section',
      mutate: (s) => replace(s, /\n%end\s*$/, '\n'),
      rejects: /section %\S+ does not end with %end/,
    },
    {
      what: 'an unknown command',
      mutate: (s) => `zerombrr\n${s}`,
      rejects: /line 1: unknown kickstart command zerombrr/,
    },
    {
      what: 'an unknown option',
      mutate: (s) => `network --bootprotocol=dhcp\n${s}`,
      rejects: /line 1: network has no option --bootprotocol/,
    },
    {
      what: 'a shell syntax error in %post',
      mutate: (s) => replace(s, /^%post.*$/m, '$&\nif true; then'),
      rejects: /%post: bash -n: /,
    },
  ],
  preseed: [
    {
      what: 'an unknown type',
      mutate: (s) => `${s}\nd-i netcfg/get_domain strin example.org\n`,
      rejects: /--checkonly: warning: Unknown type strin/,
    },
    {
      what: 'a line without a type',
      mutate: (s) => `${s}\nd-i netcfg/get_domain\n`,
      rejects: /--checkonly: error: parse error/,
    },
    {
      what: 'late_command with an unclosed quote, across a continued line',
      mutate: (s) => `${s}\nd-i preseed/late_command string echo 'unclosed \\\n  still open\n`,
      rejects: /preseed\/late_command: sh -n: /,
    },
    {
      what: 'a quote that ends a nested sh -c early',
      mutate: (s) => `${s}\nd-i preseed/late_command string in-target sh -c 'echo 'two words' > /etc/motd'\n`,
      rejects: /sh -c 'echo two' is followed by "words > \/etc\/motd"/,
    },
  ],
};

t.test('each check rejects a broken config served through the same path', { skip: unavailable }, async (t) => {
  const sample = SAMPLES[0]!;
  const app = await daemon(t, [sample], FAMILIES, true, 'broken-templates');
  const dir = join(app.ws.root, 'broken-templates');
  mkdirSync(dir, { recursive: true });
  for (const [i, f] of FAMILIES.entries()) {
    const token = app.tokenOf(nodeName(sample, i));
    for (const file of INSTALLERS[f.installer].files) {
      const template = templateOf(f, file);
      if (!template) continue;
      const source = readFileSync(join(BUILTIN_TEMPLATES, `${template}.hbs`), 'utf8');
      for (const b of BREAKAGES[file]) {
        const broken = b.mutate(source);
        if (broken === null) {
          t.fail(`${template}: the breakage "${b.what}" found no place in the template: update it`);
          continue;
        }
        // The user templates directory overrides the built-in by name, read on every request.
        writeFileSync(join(dir, `${template}.hbs`), broken);
        const res = await app.call('GET', `/n/${token}/${file}`);
        rmSync(join(dir, `${template}.hbs`));
        t.equal(res.status, 200, `${template} with ${b.what} is served`);
        const problems = CHECKS[file](res.raw.toString(), template);
        t.ok(
          problems.some((p) => b.rejects.test(p)),
          `${template} with ${b.what} is rejected`,
          { found: problems, wanted: b.rejects },
        );
      }
    }
  }
});
