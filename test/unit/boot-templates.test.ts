// Every built-in template rendered for sample nodes, and checked against the
// rules of its format; plus the template sandbox and error reporting.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildConfig } from '../../src/config.js';
import { BootRenderer } from '../../src/boot/render.js';
import { TemplateError, TemplateStore } from '../../src/boot/templates.js';
import { variablesOf } from '../../src/boot/installerVars.js';
import type { Profile } from '../../src/inventory/schema.js';
import type { Node } from '../../src/inventory/store.js';

const ENDPOINT = '198.18.0.10:6443';
const JOIN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'ab'.repeat(32)}`;
const NODE_TOKEN = 'node-token-abcdefghijklmnop';

const config = buildConfig(
  { advertise: '198.18.0.1', kubernetes: { apiServerEndpoint: ENDPOINT, joinToken: JOIN, caCertHashes: [HASH] } },
  'test',
  { isRoot: false },
  '/srv',
);
const server = { advertise: '198.18.0.1', httpPort: 8080, tftpPort: 69 };

function node(over: Partial<Node> = {}): Node {
  return {
    id: 1,
    name: 'worker-01',
    macs: ['52:54:00:00:00:01'],
    ip: '198.18.0.21',
    profile: 'p',
    labels: { rack: 'r1' },
    vars: {},
    bmc: null,
    loaderFile: null,
    localBoot: null,
    source: 'file',
    sourceFile: 'inv.yaml',
    state: 'registered',
    stateSince: 0,
    stages: {},
    netboot: true,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

function profile(over: Partial<Profile>): Profile {
  return {
    name: 'p',
    loader: 'ipxe',
    kernel: 'distro/vmlinuz',
    initrd: ['distro/initrd.img'],
    cmdline: 'ip=dhcp',
    installer: 'none',
    localBoot: 'exit',
    vars: {},
    kubernetes: { role: 'worker', labels: { pool: 'general' } },
    ...over,
  };
}

const renderer = new BootRenderer(config, new TemplateStore('/nonexistent-user-templates'), server);
const secrets = { nodeToken: NODE_TOKEN, joinToken: JOIN };

// ---- format checks ---------------------------------------------------------

const IPXE_COMMANDS = new Set([
  'echo',
  'kernel',
  'initrd',
  'boot',
  'chain',
  'sleep',
  'exit',
  'sanboot',
  'goto',
  'iseq',
  'isset',
  'imgfree',
  'dhcp',
  'set',
]);

function checkIpxe(t: Test, script: string) {
  const lines = script.split('\n');
  t.equal(lines[0], '#!ipxe', 'starts with #!ipxe');
  const labels = new Set(lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1)));
  for (const line of lines.slice(1)) {
    const l = line.trim();
    if (!l || l.startsWith('#') || l.startsWith(':')) continue;
    for (const part of l.split(/\s*(?:\|\||&&)\s*/).filter(Boolean)) {
      const cmd = part.split(/\s+/)[0]!;
      t.ok(IPXE_COMMANDS.has(cmd), `known iPXE command: ${cmd}`);
      if (cmd === 'goto') t.ok(labels.has(part.split(/\s+/)[1]!), `goto target ${part} exists`);
    }
  }
  t.ok(!/\{\{|\}\}/.test(script), 'no Handlebars left over');
}

t.test('iPXE: entry script, install script, local boot', async (t) => {
  checkIpxe(t, renderer.entryScript().content);
  // --replace: the node script's `exit 1` (local boot) ends the boot instead of failing this chain into the retry.
  const chains = renderer.entryScript().content.match(/^chain .*$/gm) ?? [];
  t.equal(chains.length, 2, 'the entry script chains twice: once, and once more after a failed fetch');
  for (const c of chains) t.match(c, /^chain --replace http:\/\/198\.18\.0\.1:8080\/ipxe\/\$\{netX\/mac:hexhyp\}/);

  const p = profile({ cmdline: 'ip=dhcp ds=nocloud-net;s={{urls.seed}}', installer: 'cloud-init' });
  const install = renderer.loaderConfig(
    'ipxe',
    renderer.context(node(), p, '52:54:00:00:00:01', 'uefi', { nodeToken: NODE_TOKEN, joinToken: null }),
  ).content;
  checkIpxe(t, install);
  t.match(
    install,
    /^kernel http:\/\/198\.18\.0\.1:8080\/assets\/distro\/vmlinuz initrd=initrd\.img ip=dhcp ds=nocloud-net;s=http:\/\/198\.18\.0\.1:8080\/n\/node-token-abcdefghijklmnop\/ BOOTIF=01-52-54-00-00-00-01 \|\| goto failed$/m,
  );
  t.match(install, /^initrd http:\/\/198\.18\.0\.1:8080\/assets\/distro\/initrd\.img \|\| goto failed$/m);
  // boot.ipxe chains here with --replace: a failed download must retry here, or the boot ends.
  for (const step of install.split('\n').filter((l) => /^(kernel|initrd|boot)\b/.test(l))) {
    t.match(step, / \|\| goto failed$/, `${step.split(' ')[0]} retries through :failed`);
  }
  t.notMatch(install, JOIN, 'no join token in a loader config');

  const installed = renderer.loaderConfig(
    'ipxe',
    renderer.context(node({ netboot: false, state: 'installed' }), p, '52:54:00:00:00:01', 'uefi', secrets),
  ).content;
  checkIpxe(t, installed);
  t.match(installed, /^exit 1$/m, 'exit 1, so UEFI tries the next boot entry');
  t.notMatch(installed, /kernel/);
  const san = renderer.loaderConfig(
    'ipxe',
    renderer.context(node({ netboot: false, localBoot: 'sanboot' }), p, '52:54:00:00:00:01', 'bios', secrets),
  ).content;
  t.match(san, /^sanboot --no-describe --drive 0x80 \|\| exit 1$/m);
  const url = renderer.loaderConfig(
    'ipxe',
    renderer.context(
      node(),
      profile({ kernel: 'https://mirror.example/vmlinuz', initrd: [] }),
      '52:54:00:00:00:01',
      'bios',
      secrets,
    ),
  ).content;
  t.match(url, /^kernel https:\/\/mirror\.example\/vmlinuz ip=dhcp BOOTIF=/m, 'absolute kernel URLs pass through');
});

t.test('pxelinux and GRUB configs', async (t) => {
  const p = profile({ loader: 'pxelinux', cmdline: 'inst.ks={{urls.kickstart}}', installer: 'kickstart' });
  const px = renderer.loaderConfig(
    'pxelinux',
    renderer.context(node(), p, '52:54:00:00:00:01', 'bios', secrets),
  ).content;
  const keywords = new Set([
    'DEFAULT',
    'PROMPT',
    'TIMEOUT',
    'LABEL',
    'KERNEL',
    'INITRD',
    'APPEND',
    'IPAPPEND',
    'LOCALBOOT',
  ]);
  for (const line of px
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))) {
    t.ok(keywords.has(line.split(/\s+/)[0]!), `pxelinux keyword: ${line}`);
  }
  t.match(px, /^\s+KERNEL distro\/vmlinuz$/m);
  t.match(px, /^\s+INITRD distro\/initrd\.img$/m);
  t.match(px, /^\s+APPEND inst\.ks=http:\/\/198\.18\.0\.1:8080\/n\/node-token-abcdefghijklmnop\/kickstart$/m);
  t.match(px, /^\s+IPAPPEND 2$/m);
  const pxLocal = renderer.loaderConfig(
    'pxelinux',
    renderer.context(node({ netboot: false }), p, '52:54:00:00:00:01', 'bios', secrets),
  ).content;
  t.match(pxLocal, /^\s+LOCALBOOT 0$/m);
  t.notMatch(pxLocal, /KERNEL/);

  const grub = renderer.loaderConfig(
    'grub',
    renderer.context(node(), { ...p, loader: 'grub' }, '52:54:00:00:00:01', 'uefi', secrets),
  ).content;
  t.match(grub, /^\s+linux \/distro\/vmlinuz inst\.ks=\S+ BOOTIF=01-52-54-00-00-00-01$/m);
  t.match(grub, /^\s+initrd \/distro\/initrd\.img$/m);
  t.equal((grub.match(/\{/g) ?? []).length, (grub.match(/\}/g) ?? []).length, 'braces balance');
  t.match(
    renderer.loaderConfig('grub', renderer.context(node({ netboot: false }), p, '52:54:00:00:00:01', 'uefi', secrets))
      .content,
    /^\s+exit 1$/m,
  );
});

function joinLine(text: string): string {
  const m = /kubeadm join (\S+) --token (\S+) --discovery-token-ca-cert-hash (\S+) --node-name (\S+)/.exec(text);
  if (!m) throw new Error('no kubeadm join line');
  return m.slice(1).join(' ');
}

t.test('cloud-init NoCloud: user-data, meta-data, network-config parse as YAML', async (t) => {
  const p = profile({
    installer: 'cloud-init',
    template: 'ubuntu-autoinstall',
    vars: { sshAuthorizedKey: 'ssh-ed25519 AAAA op@host', kubernetesVersion: 'v1.30' },
  });
  const ctx = renderer.context(node(), p, '52:54:00:00:00:01', 'bios', secrets);
  const userData = renderer.installerFile('user-data', ctx)!;
  t.equal(userData.template, 'ubuntu-autoinstall.user-data');
  t.match(userData.content, /^#cloud-config\n/);
  const doc = parseYaml(userData.content);
  t.equal(doc.autoinstall.version, 1);
  t.equal(doc.autoinstall.identity.hostname, 'worker-01');
  t.same(doc.autoinstall.ssh['authorized-keys'], ['ssh-ed25519 AAAA op@host']);
  t.match(
    doc.autoinstall['early-commands'][0],
    /"stage":"installing".*\/api\/v1\/callback\/node-token-abcdefghijklmnop$/,
  );
  t.match(doc.autoinstall['late-commands'].at(-1), /"stage":"installed"/);
  t.match(
    doc.autoinstall['error-commands'][0],
    /^\{ printf '%s' '\{"stage":"failed","message":"the Ubuntu installer failed[^']*,"output":"'; tail -c 8192 '\/var\/log\/installer\/subiquity-server-debug\.log' .* \| curl .* --data-binary @- \S+\/api\/v1\/callback\/node-token-abcdefghijklmnop$/,
    'a failed install reports the end of the installer log',
  );
  const files = Object.fromEntries(
    doc.autoinstall['user-data'].write_files.map((f: { path: string; content: string }) => [f.path, f.content]),
  );
  const join = files['/usr/local/sbin/rackjoin-join'];
  t.equal(joinLine(join), `${ENDPOINT} ${JOIN} ${HASH} worker-01`, 'kubeadm join carries endpoint, token and CA hash');
  t.match(join, /"stage":"joining"/);
  t.match(join, /"stage":"joined"/);
  t.match(join, /"stage":"failed"/);
  const prepare = files['/usr/local/sbin/rackjoin-prepare'];
  t.match(prepare, /^k8s_repo='https:\/\/pkgs\.k8s\.io\/core:\/stable:'\/'v1\.30'\/deb$/m, 'the version var');
  t.match(prepare, /--node-labels='pool=general,rack=r1'/);
  t.match(prepare, /^rackjoin_step 'adding the Kubernetes apt repository' k8s_repository$/m, 'named steps');
  t.same(doc.autoinstall['user-data'].runcmd, [
    'set -e',
    ['/usr/local/sbin/rackjoin-prepare'],
    ['/usr/local/sbin/rackjoin-join'],
  ]);

  const meta = parseYaml(renderer.installerFile('meta-data', ctx)!.content);
  t.equal(meta['local-hostname'], 'worker-01');
  t.match(meta['instance-id'], /^worker-01-[0-9a-f]{12}$/);
  t.notMatch(meta['instance-id'], NODE_TOKEN, 'instance-id derives from the token without revealing it');
  const net = parseYaml(renderer.installerFile('network-config', ctx)!.content);
  t.equal(net.ethernets.boot.match.macaddress, '52:54:00:00:00:01');
  t.equal(renderer.installerFile('kickstart', ctx), null, 'a cloud-init profile has no kickstart');

  const noJoin = renderer.context(node(), p, '52:54:00:00:00:01', 'bios', { nodeToken: NODE_TOKEN, joinToken: null });
  const failing = parseYaml(renderer.installerFile('user-data', noJoin)!.content);
  t.match(
    failing.autoinstall['user-data'].write_files[1].content,
    /"stage":"failed","message":"rackjoin has no kubernetes.apiServerEndpoint or join token configured"/,
  );
});

t.test('kickstart: sections closed, join and callbacks present', async (t) => {
  const p = profile({ loader: 'pxelinux', installer: 'kickstart', template: 'rocky-kickstart' });
  const ks = renderer.installerFile(
    'kickstart',
    renderer.context(node(), p, '52:54:00:00:00:01', 'bios', secrets),
  )!.content;
  const opened = ks.match(/^%(packages|pre|post|onerror)\b/gm) ?? [];
  const closed = ks.match(/^%end$/gm) ?? [];
  t.same(
    opened.map((s) => s.slice(1)),
    ['packages', 'pre', 'post', 'onerror'],
  );
  t.equal(closed.length, opened.length, 'every section ends with %end');
  for (const cmd of [
    'text',
    'reboot',
    'url',
    'lang',
    'keyboard',
    'timezone',
    'network',
    'rootpw',
    'zerombr',
    'clearpart',
    'autopart',
    'bootloader',
  ]) {
    t.match(ks, new RegExp(`^${cmd}\\b`, 'm'), `kickstart command ${cmd}`);
  }
  t.match(ks, /^network --bootproto=dhcp --device=52:54:00:00:00:01 --hostname=worker-01 --activate$/m);
  t.equal(joinLine(ks), `${ENDPOINT} ${JOIN} ${HASH} worker-01`);
  const pre = ks.slice(ks.indexOf('%pre'), ks.indexOf('%end', ks.indexOf('%pre')));
  t.match(pre, /"stage":"installing"/);
  const post = ks.slice(ks.indexOf('%post'), ks.indexOf('%onerror'));
  t.match(post, /^%post --erroronfail /, 'a failing %post stops the install');
  t.match(post, /"stage":"installed"[^\n]*\n%end\n/, 'installed is reported last in %post');
  t.match(post, /^rackjoin_step 'installing containerd, kubelet and kubeadm' k8s_packages$/m, 'named steps');
  t.notMatch(post, /^set -e$/m, 'no set -e: each step is tested');
  t.match(ks.slice(ks.indexOf('%onerror')), /"stage":"failed".*'\/tmp\/anaconda\.log'/, '%onerror reports the rest');
});

t.test('preseed: every line is a d-i answer, callbacks by busybox wget', async (t) => {
  const p = profile({
    installer: 'preseed',
    template: 'debian-preseed',
    vars: { sshAuthorizedKey: "ssh-ed25519 AAAA it's-me" },
  });
  const pre = renderer.installerFile(
    'preseed',
    renderer.context(node(), p, '52:54:00:00:00:01', 'bios', secrets),
  )!.content;
  const logical = pre
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  for (const l of logical)
    t.match(l, /^(d-i|tasksel) \S+ (string|boolean|select|multiselect|password|note)( |$)/, l.slice(0, 60));
  t.match(
    pre,
    /^d-i preseed\/early_command string wget -q -O \/dev\/null --header='Content-Type: application\/json' --post-data='\{"stage":"installing"\}' http:\/\/198\.18\.0\.1:8080\/api\/v1\/callback\/node-token-abcdefghijklmnop$/m,
  );
  const late = Buffer.from(
    /late_command string in-target sh -c 'echo (\S+) \| base64 -d/.exec(pre)![1]!,
    'base64',
  ).toString();
  t.equal(joinLine(late), `${ENDPOINT} ${JOIN} ${HASH} worker-01`);
  t.match(
    late,
    /echo 'ssh-ed25519 AAAA it'"'"'s-me' >\/root\/.ssh\/authorized_keys/,
    'shell-quoted key survives a quote',
  );
  t.match(pre, /sh \/root\/rackjoin-install' && wget .*"stage":"installed"/, 'installed only after every step passed');
});

t.test('user templates override built-ins; errors name template and line; sandbox', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-tpl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new TemplateStore(dir);
  writeFileSync(join(dir, 'ipxe.hbs'), '#!ipxe\necho custom {{node.name}}\n');
  const r = new BootRenderer(config, store, server);
  const ctx = r.context(node(), profile({}), '52:54:00:00:00:01', 'bios', secrets);
  t.equal(r.loaderConfig('ipxe', ctx).content, '#!ipxe\necho custom worker-01\n');
  t.equal(r.loaderConfig('pxelinux', ctx).template, 'pxelinux', 'others still built-in');

  writeFileSync(join(dir, 'ipxe.hbs'), '#!ipxe\necho ok\necho {{node.nmae}}\n');
  t.throws(() => r.loaderConfig('ipxe', ctx), {
    template: 'ipxe',
    line: 3,
    message: 'template ipxe line 3: "nmae" not defined - 3:7',
  });
  writeFileSync(join(dir, 'ipxe.hbs'), '#!ipxe\n{{#if boot.install}}\nkernel x\n');
  t.throws(() => r.loaderConfig('ipxe', ctx), /template ipxe line \d+: Parse error/);
  writeFileSync(
    join(dir, 'ipxe.hbs'),
    '{{lookup node "__proto__"}}|{{node.constructor}}|{{lookup this "constructor"}}',
  );
  t.equal(r.loaderConfig('ipxe', ctx).content, '||', 'no prototype access from a template');
  writeFileSync(join(dir, 'ipxe.hbs'), '{{constructor.name}}');
  t.throws(() => r.loaderConfig('ipxe', ctx), TemplateError, 'a reach for the prototype is an error, not a leak');
});

// ---- installer variables ------------------------------------------------------

const FAMILIES = [
  { installer: 'preseed', template: 'debian-preseed', file: 'preseed' },
  { installer: 'kickstart', template: 'rocky-kickstart', file: 'kickstart' },
  { installer: 'cloud-init', template: 'ubuntu-autoinstall', file: 'user-data' },
] as const;

function installerConfig(
  f: (typeof FAMILIES)[number],
  vars: Record<string, string>,
  over: { nodeVars?: Record<string, string>; cmdline?: string } = {},
): string {
  const p = profile({ installer: f.installer, template: f.template, vars, cmdline: over.cmdline ?? 'ip=dhcp' });
  const ctx = renderer.context(node({ vars: over.nodeVars ?? {} }), p, '52:54:00:00:00:01', 'bios', secrets);
  return renderer.installerFile(f.file, ctx)!.content;
}

t.test('installer variables: documented defaults, profile over default, node over profile', async (t) => {
  const pre = (vars: Record<string, string>, nodeVars?: Record<string, string>) =>
    installerConfig(FAMILIES[0], vars, nodeVars ? { nodeVars } : {});
  t.match(pre({}), /^d-i mirror\/http\/hostname string deb\.debian\.org$/m, 'default mirror');
  t.match(pre({}), /^d-i mirror\/suite string bookworm$/m, 'default suite');
  t.match(pre({}), /^d-i time\/zone string UTC$/m, 'default time zone');
  t.match(pre({ timezone: 'Europe/Berlin' }), /^d-i time\/zone string Europe\/Berlin$/m, 'profile var');
  t.match(
    pre({ timezone: 'Europe/Berlin' }, { timezone: 'Asia/Tokyo' }),
    /^d-i time\/zone string Asia\/Tokyo$/m,
    'node var over profile var',
  );
  t.match(
    pre({ mirror: 'https://mirror.example:8443/debian/' }),
    /^d-i mirror\/protocol string https\nd-i mirror\/https\/hostname string mirror\.example:8443\nd-i mirror\/https\/directory string \/debian$/m,
    'an https mirror, taken apart',
  );
  t.throws(
    () => pre({ mirror: 'deb.debian.org' }),
    /urlPart: "deb\.debian\.org" is not a URL/,
    'a mirror must be a URL',
  );
});

t.test('every built-in installer takes the site settings', async (t) => {
  const vars = {
    proxy: 'http://198.18.0.1:3142',
    extraPackages: 'htop  jq',
    diskLayout: 'direct',
    passwordHash: '$6$salt$hash',
    timezone: 'Europe/Paris',
    kubernetesVersion: 'v1.30',
    kubernetesRepo: 'https://k8s-mirror.example/core:/stable:',
  };
  const [pre, ks, ud] = FAMILIES.map((f) => installerConfig(f, vars));
  const late = Buffer.from(/late_command string in-target sh -c 'echo (\S+) \|/.exec(pre!)![1]!, 'base64').toString();
  t.match(pre, /^d-i mirror\/http\/proxy string http:\/\/198\.18\.0\.1:3142$/m, 'preseed: proxy');
  t.match(pre, /^d-i pkgsel\/include string containerd curl gpg ca-certificates htop jq$/m, 'preseed: packages');
  t.match(pre, /^d-i partman-auto\/method string regular$/m, 'preseed: plain partitions');
  t.match(pre, /^d-i passwd\/root-password-crypted password \$6\$salt\$hash$/m, 'preseed: password hash');
  t.match(pre, /^d-i time\/zone string Europe\/Paris$/m);
  t.match(late, /^k8s_repo='https:\/\/k8s-mirror\.example\/core:\/stable:'\/'v1\.30'\/deb$/m, 'preseed: repo');
  t.match(ks, /^url --url=\S+ --proxy=http:\/\/198\.18\.0\.1:3142$/m, 'kickstart: proxy');
  t.match(ks, /^\s+dnf install -y containerd\.io kubelet kubeadm htop jq$/m, 'kickstart: packages');
  t.match(ks, /^autopart --type=plain /m, 'kickstart: plain partitions');
  t.match(ks, /^rootpw --iscrypted \$6\$salt\$hash$/m, 'kickstart: password hash');
  t.match(ks, /^timezone Europe\/Paris --utc$/m);
  t.match(ks, /^baseurl=https:\/\/k8s-mirror\.example\/core:\/stable:\/v1\.30\/rpm\/$/m, 'kickstart: repo');
  const doc = parseYaml(ud!).autoinstall;
  t.equal(doc.proxy, 'http://198.18.0.1:3142', 'autoinstall: proxy');
  t.same(doc.packages.slice(-2), ['htop', 'jq'], 'autoinstall: packages');
  t.same(doc.storage.layout, { name: 'direct' }, 'autoinstall: plain partitions');
  t.equal(doc.identity.password, '$6$salt$hash', 'autoinstall: password hash');
  t.equal(doc['user-data'].timezone, 'Europe/Paris');
  t.match(doc['user-data'].write_files[0].content, /k8s_repo='https:\/\/k8s-mirror\.example\/core:\/stable:'/);
  t.notOk('apt' in doc, 'no mirror set: the Ubuntu installer keeps its own');
  t.match(installerConfig(FAMILIES[1], {}), /^rootpw --lock$/m, 'kickstart: locked root by default');
});

t.test('preseed: what the kernel command line answers is not set again', async (t) => {
  const cmdline =
    'auto=true priority=critical url={{urls.preseed}} mirror/http/proxy=http://198.18.0.9:3128 hostname=rack7-01 ' +
    'suite=trixie tasksel:tasksel/first=standard';
  const pre = installerConfig(FAMILIES[0], {}, { cmdline });
  t.notMatch(pre, /^d-i mirror\/http\/proxy /m, 'no proxy line to erase the command line one');
  t.match(pre, /^# mirror\/http\/proxy: set on the kernel command line$/m, 'and says so');
  t.notMatch(pre, /^d-i netcfg\/get_hostname /m, 'the hostname= alias');
  t.notMatch(pre, /^d-i mirror\/suite /m, 'the suite= alias');
  t.notMatch(pre, /^tasksel tasksel\/first /m, 'an owner-prefixed question');
  t.match(pre, /^d-i mirror\/http\/hostname string deb\.debian\.org$/m, 'the rest is still set');
  const plain = installerConfig(FAMILIES[0], {});
  t.match(plain, /^d-i mirror\/http\/proxy string$/m, 'without it, an empty proxy keeps the question unasked');
});

t.test('the variables a profile uses, with values and where they came from', async (t) => {
  const p = profile({
    installer: 'preseed',
    template: 'debian-preseed',
    vars: { timezone: 'Europe/Paris', rootSecretToken: 'x' },
  });
  const used = renderer.variablesUsed(p);
  for (const v of ['mirror', 'suite', 'proxy', 'kubernetesVersion', 'kubernetesRepo', 'timezone', 'passwordHash'])
    t.ok(used.includes(v), `debian-preseed uses ${v}`);
  t.notOk(used.includes('adminUser'), 'not the Ubuntu-only adminUser');
  const views = variablesOf([...used, 'rootSecretToken', 'notDefined'], p, { vars: { proxy: 'http://p:3128' } });
  const by = Object.fromEntries(views.map((v) => [v.name, v]));
  t.match(by.mirror, { value: 'http://deb.debian.org/debian', source: 'default', description: /mirror/ });
  t.match(by.timezone, { value: 'Europe/Paris', source: 'profile' });
  t.match(by.proxy, { value: 'http://p:3128', source: 'node' });
  t.match(by.rootSecretToken, { value: '[set]', source: 'profile' }, 'secret-looking values are masked');
  t.match(by.notDefined, { value: '', source: 'unset' });
  t.equal(views[0]!.name, 'mirror', 'in the documented order');
});
