// The site check (src/check/): each mistake an operator makes in the config or
// the inventory is found, named with its file and line, and graded error or warning.
import t from 'tap';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { reservationRules } from '../../src/check/addresses.js';
import { checkConfig } from '../../src/check/config.js';
import { checkSite } from '../../src/check/site.js';
import { buildConfig, loadConfig } from '../../src/config.js';
import { exitCodeOf, formatFinding, type Finding } from '../../src/findings.js';
import type { HostView } from '../../src/host.js';
import { ipToInt } from '../../src/ip.js';
import { REPO } from '../helpers/daemon.js';

/** A host with these interfaces and addresses. */
function host(ifaces: Record<string, string[]>): HostView {
  return {
    addressesOf: (name) => ifaces[name]?.map(ipToInt) ?? null,
    interfaces: () =>
      Object.entries(ifaces)
        .filter(([, a]) => a.length > 0)
        .map(([name, a]) => ({ name, addresses: a.map(ipToInt) })),
  };
}
const ONE_NIC = host({ eth0: ['198.18.0.1'] });

function site(t: { teardown(fn: () => void): void }, config: Record<string, unknown>, inventory?: unknown) {
  const dir = mkdtempSync(join(tmpdir(), 'rj-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'inventory'));
  mkdirSync(join(dir, 'assets'));
  if (inventory) writeFileSync(join(dir, 'inventory', 'site.yaml'), stringify(inventory));
  writeFileSync(join(dir, 'rackjoin.yaml'), stringify({ inventory: 'inventory', assets: 'assets', ...config }));
  return { dir, file: join(dir, 'rackjoin.yaml') };
}

const lines = (fs: Finding[]) => fs.map(formatFinding);
const configFindings = (raw: Record<string, unknown>, h: HostView = ONE_NIC) =>
  lines(checkConfig(buildConfig(raw, 'c.yaml', { isRoot: true }, '/'), () => 'c.yaml', h).findings);

t.test('config meaning errors name the key', async (t) => {
  const subnet = (s: Record<string, unknown>) => ({ dhcp: { mode: 'pool', subnets: [s] } });
  t.match(configFindings({ interface: 'eth9' }), [
    /error: c\.yaml: interface: no interface "eth9".*did you mean "eth0"/,
  ]);
  t.match(configFindings(subnet({ cidr: '198.18.0.300/24', range: '198.18.0.10-198.18.0.20' })), [
    /error: .*dhcp\.subnets\[0\]\.cidr: 198\.18\.0\.300\/24 is not an IPv4 network/,
  ]);
  t.match(configFindings(subnet({ cidr: '198.18.0.5/24', range: '198.18.0.10-198.18.0.20' })), [
    /has host bits set \(did you mean 198\.18\.0\.0\/24\?\)/,
  ]);
  t.match(configFindings(subnet({ cidr: '198.18.0.0/24', range: '198.18.1.10-198.18.1.20' })), [
    /error: .*dhcp\.subnets\[0\]\.range: 198\.18\.1\.10-198\.18\.1\.20 is not inside 198\.18\.0\.0\/24/,
  ]);
  t.match(configFindings(subnet({ cidr: '198.18.0.0/24', range: '198.18.0.50-198.18.0.20' })), [
    /range: 198\.18\.0\.50-198\.18\.0\.20 is reversed \(did you mean 198\.18\.0\.20-198\.18\.0\.50\?\)/,
  ]);
  t.match(configFindings(subnet({ cidr: '198.18.0.0/24' })), [/pool mode needs at least one subnet with a range/]);
  t.match(
    configFindings({ api: { tokens: [1, 2].map(() => ({ name: 'a', token: 'x'.repeat(16), scope: 'read' })) } }),
    [/api\.tokens: name "a" appears twice/],
  );
});

t.test('overlapping subnets are refused with both named, at their lines', async (t) => {
  const { file } = site(t, {
    interface: 'eth0',
    dhcp: { mode: 'reservation', subnets: [{ cidr: '198.18.0.0/24' }, { cidr: '198.18.0.0/16' }] },
  });
  const { config, locate } = loadConfig(file, { isRoot: true });
  const found = lines(checkConfig(config, locate, ONE_NIC).findings);
  t.match(found, [
    /^error: .*rackjoin\.yaml:8: dhcp\.subnets\[1\]\.cidr: 198\.18\.0\.0\/16 overlaps 198\.18\.0\.0\/24 \(.*rackjoin\.yaml:7\)/,
  ]);
});

t.test('a range that names the network, broadcast or router address is warned about', async (t) => {
  const found = configFindings({
    interface: 'eth0',
    dhcp: { mode: 'pool', subnets: [{ cidr: '198.18.0.0/30', range: '198.18.0.0-198.18.0.3', router: '198.18.0.1' }] },
  });
  t.match(found, [
    /warning: .*network address 198\.18\.0\.0/,
    /warning: .*broadcast address 198\.18\.0\.3/,
    /warning: .*router 198\.18\.0\.1/,
  ]);
});

t.test('first run: DHCP needs exactly one candidate interface, and names them all otherwise', async (t) => {
  const twoNics = host({ eth0: ['192.0.2.10'], eth1: ['198.18.0.1'] });
  const refused = configFindings({ dhcp: { mode: 'proxy' } }, twoNics);
  t.match(refused, [
    /error: .*2 interfaces could be the provisioning network: eth0 \(192\.0\.2\.10\), eth1 \(198\.18\.0\.1\)\. Set `interface:`/,
  ]);
  const one = checkConfig(buildConfig({}, 'c', { isRoot: true }, '/'), () => 'c', ONE_NIC);
  t.same([one.findings, one.servedInterface], [[], 'eth0'], 'one interface: served, no finding');
  const bySubnet = checkConfig(
    buildConfig({ dhcp: { mode: 'proxy', subnets: [{ cidr: '198.18.0.0/24' }] } }, 'c', { isRoot: true }, '/'),
    () => 'c',
    twoNics,
  );
  t.same([bySubnet.findings, bySubnet.servedInterface], [[], 'eth1'], 'the one inside a configured subnet is served');
  t.same(configFindings({ dhcp: { mode: 'off' } }, twoNics), [], 'DHCP off: no interface needed');
  const none = host({});
  t.match(
    configFindings({ dhcp: { mode: 'proxy' } }, none),
    [/error: .*dhcp \(mode proxy\): this host has no interface with an IPv4 address to answer from; .*`advertise`/],
    'no address at all: refused with what to do, not a crash at start',
  );
  t.match(configFindings({ advertise: '127.0.0.1', dhcp: { mode: 'proxy' } }, none), [/warning: .*no interface/]);
  t.same(configFindings({ dhcp: { mode: 'off' } }, none), [], 'DHCP off: nothing to answer from is fine');
});

t.test('advertise must be ours when DHCP names it as the server', async (t) => {
  t.match(configFindings({ interface: 'eth0', advertise: '198.18.9.9' }), [
    /error: .*advertise: 198\.18\.9\.9 is not an address of this host/,
  ]);
  t.match(configFindings({ advertise: '198.18.9.9', dhcp: { mode: 'off' } }), [/warning: .*behind NAT/]);
});

t.test('reserved addresses: inside a subnet, never the network, broadcast, router or our own', async (t) => {
  const profile = { name: 'p', kernel: 'k', installer: 'none' };
  const node = (name: string, ip: string, mac: number) => ({
    name,
    ip,
    macs: [`02:00:00:00:00:0${mac}`],
    profile: 'p',
  });
  const { file } = site(
    t,
    { interface: 'eth0', dhcp: { mode: 'reservation', subnets: [{ cidr: '198.18.0.0/24', router: '198.18.0.254' }] } },
    {
      profiles: [profile],
      nodes: [
        node('outside', '10.20.30.40', 1),
        node('network', '198.18.0.0', 2),
        node('broadcast', '198.18.0.255', 3),
        node('router', '198.18.0.254', 4),
        node('ours', '198.18.0.1', 5),
        node('fine', '198.18.0.21', 6),
      ],
    },
  );
  const { config, locate } = loadConfig(file, { isRoot: true });
  const errors = checkSite(config, locate, ONE_NIC).findings.filter((f) => f.severity === 'error');
  t.match(lines(errors), [
    /site\.yaml:\d+: node outside: ip 10\.20\.30\.40 is in no configured subnet/,
    /node network: ip 198\.18\.0\.0 is the network address/,
    /node broadcast: ip 198\.18\.0\.255 is the broadcast address/,
    /node router: ip 198\.18\.0\.254 is the router/,
    /node ours: ip 198\.18\.0\.1 is rackjoin's own address/,
  ]);
  t.equal(errors.length, 5, 'the good reservation passes');
  t.same(
    errors.map((e) => e.node),
    ['outside', 'network', 'broadcast', 'router', 'ours'],
    'each names its node',
  );

  const proxy = loadConfig(
    site(t, { interface: 'eth0' }, { profiles: [profile], nodes: [node('x', '10.9.9.9', 1)] }).file,
  );
  const inProxy = checkSite(proxy.config, proxy.locate, ONE_NIC).findings.filter((f) => f.severity === 'error');
  t.same(inProxy, [], 'proxy mode hands out no addresses: nothing to check');
});

t.test('an installing node leased an address without a name server is warned about, with the fix', async (t) => {
  const preseed = (name: string, extra = '') => ({
    name,
    kernel: 'k',
    cmdline: `auto=true priority=critical url={{urls.preseed}}${extra}`,
    installer: 'preseed',
  });
  const profiles = [
    preseed('debian'),
    preseed('static-dns', ' netcfg/get_nameservers=198.18.0.53'),
    { name: 'local', kernel: 'k', installer: 'none' },
    { name: 'spare', kernel: 'k', cmdline: 'inst.ks={{urls.kickstart}}', installer: 'kickstart' },
  ];
  const node = (name: string, profile: string, mac: number, ip?: string) => ({
    name,
    macs: [`02:00:00:00:0e:0${mac}`],
    profile,
    ...(ip ? { ip } : {}),
  });
  const nodes = [
    node('no-dns', 'debian', 1, '198.18.0.21'),
    node('with-dns', 'debian', 2, '198.18.1.21'),
    node('installs-nothing', 'local', 3, '198.18.0.22'),
    node('names-its-own', 'static-dns', 4, '198.18.0.23'),
  ];
  const subnets = [{ cidr: '198.18.0.0/24' }, { cidr: '198.18.1.0/24', dns: ['198.18.1.1'] }];
  const dnsFindings = (mode: string, extra: unknown[] = [], range?: string) => {
    const withRange = range ? [{ ...subnets[0], range }, subnets[1]] : subnets;
    const { file } = site(
      t,
      { interface: 'eth0', dhcp: { mode, subnets: withRange } },
      {
        profiles,
        nodes: [...nodes, ...extra],
      },
    );
    const { config, locate } = loadConfig(file, { isRoot: true });
    return checkSite(config, locate, ONE_NIC).findings.filter((f) => /DNS server/.test(f.message));
  };

  const reserved = dnsFindings('reservation');
  t.match(lines(reserved), [
    /^warning: .*site\.yaml:\d+: node no-dns: its reserved ip 198\.18\.0\.21 is in subnet 198\.18\.0\.0\/24, which hands out no DNS server, and its profile debian installs with preseed: Debian's installer stops at "Name server addresses:" before it reads its preseed; add `dns:` .* under that subnet in dhcp\.subnets$/,
  ]);
  t.equal(reserved.length, 1, 'not a node whose subnet has dns:, installs nothing, or names its own name server');
  t.equal(reserved[0]!.node, 'no-dns', 'about the node, so its view shows it');

  t.same(dnsFindings('proxy'), [], 'proxy mode: the other DHCP server sends address and name servers');
  t.same(dnsFindings('off'), [], 'DHCP off: likewise');

  const allReserved = dnsFindings('pool', [], '198.18.0.100-198.18.0.200');
  t.same(
    allReserved.map((f) => f.node ?? f.profile),
    ['no-dns', 'spare'],
    'pool mode: the reserved node, and a profile no node in the files uses yet (API nodes lease from the pool)',
  );
  t.match(allReserved[1]!.message, /profile spare: .* installs with kickstart: Anaconda cannot resolve/);
  const pooled = dnsFindings('pool', [node('pooled', 'debian', 5)], '198.18.0.100-198.18.0.200');
  t.match(lines(pooled), [
    /node no-dns: its reserved ip/,
    /^warning: .*site\.yaml:\d+: profile debian: its nodes without a reserved ip lease from the range of subnet 198\.18\.0\.0\/24, which hands out no DNS server, and it installs with preseed: Debian's installer stops at "Name server addresses:"/,
  ]);
  t.equal(pooled.length, 3, 'not the profile that names its own name server');
  t.equal(pooled[1]!.profile, 'debian', 'about the profile, so its nodes show it');
  t.equal(exitCodeOf(pooled), 1, 'a warning, not an error');
});

t.test('a Debian node leased an address without a router is warned about (its installer stops)', async (t) => {
  const profile = (name: string, installer: string, cmdline: string) => ({ name, kernel: 'k', cmdline, installer });
  const { file } = site(
    t,
    { interface: 'eth0', dhcp: { mode: 'reservation', subnets: [{ cidr: '198.18.0.0/24', dns: ['198.18.0.1'] }] } },
    {
      profiles: [
        profile('debian', 'preseed', 'auto=true url={{urls.preseed}}'),
        profile('debian-no-route', 'preseed', 'url={{urls.preseed}} netcfg/no_default_route=true'),
        profile('rocky', 'kickstart', 'inst.ks={{urls.kickstart}}'),
      ],
      nodes: [
        { name: 'deb', macs: ['02:00:00:00:0f:01'], profile: 'debian', ip: '198.18.0.21' },
        { name: 'deb-flat', macs: ['02:00:00:00:0f:02'], profile: 'debian-no-route', ip: '198.18.0.22' },
        { name: 'rocky', macs: ['02:00:00:00:0f:03'], profile: 'rocky', ip: '198.18.0.23' },
      ],
    },
  );
  const { config, locate } = loadConfig(file, { isRoot: true });
  const found = checkSite(config, locate, ONE_NIC).findings.filter((f) => /no router/.test(f.message));
  t.match(lines(found), [
    /^warning: .*node deb: its reserved ip 198\.18\.0\.21 is in subnet 198\.18\.0\.0\/24, which hands out no router, and its profile debian installs with preseed: Debian's installer stops at "Continue without a default route\?" before it reads its preseed; add `router:` under that subnet in dhcp\.subnets$/,
  ]);
  t.equal(found.length, 1, 'not a Debian profile that says no_default_route, nor Anaconda, which copes');
});

t.test('profiles: templates render, cmdlines reach their installer, assets exist', async (t) => {
  const profiles = [
    { name: 'no-seed', kernel: 'k', cmdline: 'ip=dhcp autoinstall', installer: 'cloud-init' },
    { name: 'typo', kernel: 'k', cmdline: 'inst.ks={{urls.kickstrat}}', installer: 'kickstart' },
    { name: 'broken', kernel: 'k', cmdline: 'inst.ks={{urls.kickstart}}', installer: 'kickstart', template: 'bad' },
    { name: 'remote', kernel: 'https://mirror.example/vmlinuz', installer: 'none' },
  ];
  const { dir, file } = site(t, { templates: 'templates', dhcp: { mode: 'off' } }, { profiles });
  mkdirSync(join(dir, 'templates'));
  writeFileSync(join(dir, 'templates', 'bad.kickstart.hbs'), 'text\n{{#if node.name}}\nx\n{{/iff}}\n');
  const { config, locate } = loadConfig(file);
  const found = checkSite(config, locate, ONE_NIC).findings;
  const errors = lines(found.filter((f) => f.severity === 'error'));
  t.match(errors, [
    /site\.yaml:2: profile no-seed: cmdline never names its cloud-init config \(add ds=nocloud-net;s=\{\{urls\.seed\}\}\)/,
    /site\.yaml:\d+: profile typo: template profile typo cmdline line 1: "kickstrat" not defined/,
    /site\.yaml:\d+: profile broken: template bad\.kickstart line 2: if doesn't match iff/,
  ]);
  const warnings = lines(found.filter((f) => f.severity === 'warning'));
  t.match(warnings.join('\n'), /profile no-seed: kernel k is not in assets\//);
  t.notMatch(warnings.join('\n'), /profile remote: kernel/, 'a URL kernel is not looked for in assets/');
  t.match(warnings.join('\n'), /profile remote: BIOS machines need undionly\.kpxe in assets\//);
});

t.test('the example inventory passes, with its assets in place and a cluster to join', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-check-example-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(REPO, 'inventory'), join(dir, 'inventory'), { recursive: true });
  for (const f of ['ubuntu-2404/vmlinuz', 'ubuntu-2404/initrd', 'rocky-9/vmlinuz', 'rocky-9/initrd.img']) {
    mkdirSync(join(dir, 'assets', f, '..'), { recursive: true });
    writeFileSync(join(dir, 'assets', f), 'x');
  }
  for (const f of ['undionly.kpxe', 'ipxe.efi', 'pxelinux.0', 'syslinux.efi'])
    writeFileSync(join(dir, 'assets', f), 'x');
  const kubernetes = {
    apiServerEndpoint: '198.18.0.10:6443',
    joinToken: 'abcdef.0123456789abcdef',
    caCertHashes: [`sha256:${'0'.repeat(64)}`],
  };
  writeFileSync(join(dir, 'rackjoin.yaml'), stringify({ kubernetes }));
  const { config, locate } = loadConfig(join(dir, 'rackjoin.yaml'), { isRoot: true });
  const { findings } = checkSite(config, locate, ONE_NIC);
  t.same(lines(findings), [], 'no findings');
  t.equal(exitCodeOf(findings), 0);
});

t.test('a /31 or /32 has no network or broadcast address (RFC 3021): both its addresses may be reserved', async (t) => {
  const config = buildConfig(
    { dhcp: { mode: 'reservation', subnets: [{ cidr: '198.18.5.0/31' }, { cidr: '198.18.0.0/24' }] } },
    'c',
    { isRoot: true },
    '/',
  );
  const rules = reservationRules(config, ONE_NIC);
  t.equal(rules.problem('198.18.5.0'), null);
  t.equal(rules.problem('198.18.5.1'), null);
  t.match(rules.problem('198.18.0.0'), /network address/, 'a /24 still has one');
});
