// The site check at the edges an operator meets: `rackjoin serve` refuses a config
// or inventory that means something impossible with exit 2, the key named and the
// database untouched byte for byte; `rackjoin check` reports a broken site whole,
// each mistake with its file and line; the API and reloads refuse impossible
// reservations by name.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, EXAMPLE_PROFILE, startDaemonProcess, TOKENS, workspace } from '../helpers/daemon.js';
import { inProcessApp } from '../helpers/inproc.js';

const cli = (args: string[], cwd?: string) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, ...(cwd ? { cwd } : {}) });

/** Every file in the data directory and a hash of its bytes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort())
    out[f] = createHash('sha256')
      .update(readFileSync(join(dir, f)))
      .digest('hex');
  return out;
}

const NODE = { name: 'worker-01', macs: ['02:00:00:00:0d:01'], profile: EXAMPLE_PROFILE.name };
// DHCP on in these configs: the check must refuse them before any socket or file is opened.
const subnets = (s: Record<string, unknown>[]) => ({
  interface: 'lo',
  dhcp: { mode: 'reservation', port: 6700, subnets: s },
});

t.test('serve refuses config meaning errors with exit 2, the key named, the database untouched', async (t) => {
  const ws = workspace(t);
  ws.writeInventory('site.yaml', { profiles: [EXAMPLE_PROFILE], nodes: [NODE] });
  const daemon = await startDaemonProcess(t, ws.writeConfig());
  await daemon.stop();
  const before = snapshot(ws.dataDir);
  t.ok(before['rackjoin.db'], 'a database from the first, good run');

  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      'missing interface',
      { interface: 'eth9', dhcp: { mode: 'proxy', port: 6700 } },
      /:\d+: interface: no interface "eth9"/,
    ],
    [
      'bad cidr',
      subnets([{ cidr: '198.18.0.300/24' }]),
      /:\d+: dhcp\.subnets\[0\]\.cidr: 198\.18\.0\.300\/24 is not an IPv4 network/,
    ],
    [
      'range outside its subnet',
      subnets([{ cidr: '198.18.0.0/24', range: '198.18.1.1-198.18.1.9' }]),
      /:\d+: dhcp\.subnets\[0\]\.range: 198\.18\.1\.1-198\.18\.1\.9 is not inside 198\.18\.0\.0\/24/,
    ],
    [
      'reversed range',
      subnets([{ cidr: '198.18.0.0/24', range: '198.18.0.9-198.18.0.1' }]),
      /:\d+: dhcp\.subnets\[0\]\.range: 198\.18\.0\.9-198\.18\.0\.1 is reversed/,
    ],
    [
      'overlapping subnets',
      subnets([{ cidr: '198.18.0.0/24' }, { cidr: '198.18.0.128/25' }]),
      /dhcp\.subnets\[1\]\.cidr: 198\.18\.0\.128\/25 overlaps 198\.18\.0\.0\/24/,
    ],
  ];
  for (const [what, extra, message] of cases) {
    const r = cli(['serve', '--config', ws.writeConfig(extra)]);
    t.equal(r.status, 2, `${what}: exit 2`);
    t.match(r.stderr, message, `${what}: names the key and what is wrong`);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
    t.same(snapshot(ws.dataDir), before, `${what}: the database is untouched`);
  }

  ws.writeInventory('site.yaml', { profiles: [EXAMPLE_PROFILE], nodes: [{ ...NODE, ip: '10.20.30.40' }] });
  const r = cli(['serve', '--config', ws.writeConfig(subnets([{ cidr: '198.18.0.0/24' }]))]);
  t.equal(r.status, 2, 'an impossible reservation refuses the start');
  t.match(r.stderr, /site\.yaml:\d+: node worker-01: ip 10\.20\.30\.40 is in no configured subnet/);
  t.same(snapshot(ws.dataDir), before, 'the database is untouched');
});

t.test('rackjoin check reports a broken site whole, every mistake with file and line', async (t) => {
  const ws = workspace(t);
  mkdirSync(join(ws.root, 'templates'));
  writeFileSync(join(ws.root, 'templates', 'broken.kickstart.hbs'), '{{#if node.name}}\n{{/iff}}\n');
  ws.writeInventory('site.yaml', {
    profiles: [
      { name: 'no-seed', kernel: 'k', cmdline: 'ip=dhcp autoinstall', installer: 'cloud-init' },
      { name: 'typo', kernel: 'k', cmdline: 'inst.ks={{urls.kickstrat}}', installer: 'kickstart' },
      {
        name: 'bad-vars',
        kernel: 'k',
        cmdline: 'url={{urls.preseed}}',
        installer: 'preseed',
        vars: { diskLayout: 'zfs', mirror: 'deb.debian.org' },
      },
      {
        name: 'broken',
        kernel: 'k',
        cmdline: 'inst.ks={{urls.kickstart}}',
        installer: 'kickstart',
        template: 'broken',
      },
    ],
    nodes: [
      { name: 'outside', macs: ['02:00:00:00:0d:01'], ip: '10.20.30.40', profile: 'typo' },
      { name: 'broadcast', macs: ['02:00:00:00:0d:02'], ip: '198.18.0.255', profile: 'typo' },
      { name: 'router', macs: ['02:00:00:00:0d:03'], ip: '198.18.0.1', profile: 'typo' },
      { name: 'orphan', macs: ['02:00:00:00:0d:04'], profile: 'nope' },
      { name: 'odd-node', macs: ['02:00:00:00:0d:05'], profile: 'typo', vars: { kubernetesRepo: 'pkgs.k8s.io' } },
    ],
  });
  const config = ws.writeConfig({
    templates: 'templates',
    interface: 'eth9',
    dhcp: {
      mode: 'pool',
      subnets: [
        { cidr: '198.18.0.0/24', router: '198.18.0.1', range: '198.18.0.50-198.18.0.10' },
        { cidr: '198.18.0.0/16' },
        { cidr: '198.18.300.0/24' },
      ],
    },
    kubernetes: { kubeconfig: './no-such-admin.conf' },
  });
  const r = cli(['check', '--config', config]);
  t.equal(r.status, 2, 'exit 2: errors');
  const errors = r.stdout.split('\n').filter((l) => l.startsWith('error: '));
  t.ok(errors.length >= 10, `at least ten mistakes reported (${errors.length})`);
  for (const e of errors) t.match(e, /^error: [^:]+\.yaml:\d+: /, `with file and line: ${e}`);
  for (const m of [
    /interface: no interface "eth9"/,
    /range: 198\.18\.0\.50-198\.18\.0\.10 is reversed/,
    /198\.18\.0\.0\/16 overlaps 198\.18\.0\.0\/24/,
    /198\.18\.300\.0\/24 is not an IPv4 network/,
    /kubernetes\.kubeconfig: .*does not exist/,
    /node outside: ip 10\.20\.30\.40 is in no configured subnet/,
    /node broadcast: ip 198\.18\.0\.255 is the broadcast address/,
    /node router: ip 198\.18\.0\.1 is the router/,
    /node orphan: no profile nope/,
    /profile no-seed: cmdline never names its cloud-init config/,
    /profile typo: template profile typo cmdline line 1: "kickstrat" not defined/,
    /profile broken: template broken\.kickstart line 1: if doesn't match iff/,
    /profile bad-vars: vars\.diskLayout is "zfs", not one of lvm, direct/,
    /profile bad-vars: vars\.mirror is "deb\.debian\.org", not a URL/,
    /node odd-node: vars\.kubernetesRepo is "pkgs\.k8s\.io", not a URL/,
  ])
    t.match(r.stdout, m);
  t.match(r.stdout, /\d+ error\(s\), \d+ warning\(s\)/, 'a summary line');

  const clean = workspace(t);
  clean.writeInventory('site.yaml', {
    profiles: [
      { name: 'local', kernel: 'https://mirror.example/k' },
      {
        name: 'debian',
        kernel: 'https://mirror.example/k',
        cmdline: 'url={{urls.preseed}}',
        installer: 'preseed',
        vars: { timezone: 'Europe/Paris', timzone: 'UTC' },
      },
    ],
    nodes: [
      { name: 'deb-01', macs: ['02:00:00:00:0d:06'], profile: 'debian', vars: { proxy: 'http://198.18.0.9:3142' } },
    ],
  });
  const ok = cli(['check', '--config', clean.writeConfig()]);
  t.match(ok.stdout, /profile local: BIOS machines need undionly\.kpxe/, 'a warning');
  t.match(
    ok.stdout,
    /warning: .*profile debian: vars\.timzone is used by none of profile debian's templates \(did you mean "timezone"\?\)/,
    'a variable no template reads',
  );
  t.equal(ok.status, 1, 'warnings only: exit 1');
  t.match(
    ok.stdout,
    /^profile debian: installer variables for node deb-01$/m,
    'the variables of each installer profile',
  );
  t.match(ok.stdout, /^ {2}mirror +http:\/\/deb\.debian\.org\/debian +default$/m, 'a default');
  t.match(ok.stdout, /^ {2}timezone +Europe\/Paris +profile$/m, "the profile's");
  t.match(ok.stdout, /^ {2}proxy +http:\/\/198\.18\.0\.9:3142 +node$/m, "the node's");
  t.notMatch(ok.stdout, /profile local: installer variables/, 'none for a profile without an installer');
});

t.test('the API and reloads refuse impossible reservations, naming node and address', async (t) => {
  const inv = { profiles: [EXAMPLE_PROFILE], nodes: [{ ...NODE, ip: '198.18.0.21' }] };
  const { call, ws } = await inProcessApp(t, inv, () => ({
    dhcp: { mode: 'reservation', subnets: [{ cidr: '198.18.0.0/24', router: '198.18.0.1' }] },
  }));
  const admin = TOKENS.admin;
  const create = await call('POST', '/api/v1/nodes', {
    token: admin,
    body: { name: 'api-node', macs: ['02:00:00:00:0d:09'], ip: '10.9.9.9' },
  });
  t.equal(create.status, 400);
  t.match(create.body, { error: 'invalid', message: /node api-node: ip 10\.9\.9\.9 is in no configured subnet/ });
  const patch = await call('PATCH', '/api/v1/nodes/api-node', { token: admin, body: { ip: '198.18.0.1' } });
  t.equal(patch.status, 404, 'nothing was created');
  const made = await call('POST', '/api/v1/nodes', {
    token: admin,
    body: { name: 'api-node', macs: ['02:00:00:00:0d:09'], ip: '198.18.0.30' },
  });
  t.equal(made.status, 201);
  const toRouter = await call('PATCH', '/api/v1/nodes/api-node', { token: admin, body: { ip: '198.18.0.1' } });
  t.match(
    [toRouter.status, toRouter.body.message],
    [400, /node api-node: ip 198\.18\.0\.1 is the router of 198\.18\.0\.0\/24/],
  );

  ws.writeInventory('main.yaml', stringify({ ...inv, nodes: [{ ...NODE, ip: '198.18.0.255' }] }));
  const reload = await call('POST', '/api/v1/inventory/reload', { token: admin });
  t.equal(reload.status, 400);
  t.match(reload.body.message, /main\.yaml:\d+: node worker-01: ip 198\.18\.0\.255 is the broadcast address/);
  const kept = await call('GET', '/api/v1/nodes/worker-01', { token: admin });
  t.equal(kept.body.ip, '198.18.0.21', 'the last good inventory stays');
});

t.test('a node leased no name server: rackjoin check warns, the node view and explain show it', async (t) => {
  const nodes = [
    { ...NODE, ip: '198.18.0.21' },
    { name: 'worker-02', macs: ['02:00:00:00:0d:02'], ip: '198.18.1.21', profile: EXAMPLE_PROFILE.name },
  ];
  const dhcp = {
    mode: 'reservation',
    subnets: [{ cidr: '198.18.0.0/24' }, { cidr: '198.18.1.0/24', dns: ['198.18.1.1'] }],
  };
  const { call, ws } = await inProcessApp(t, { profiles: [EXAMPLE_PROFILE], nodes }, () => ({ dhcp }));
  const noDns =
    /worker-01: its reserved ip 198\.18\.0\.21 is in subnet 198\.18\.0\.0\/24, which hands out no DNS server/;
  const view = await call('GET', '/api/v1/nodes/worker-01', { token: TOKENS.read });
  t.match(view.body.warnings.join('\n'), noDns, 'on the node it concerns');
  const explained = await call('GET', '/api/v1/nodes/worker-01/explain', { token: TOKENS.read });
  t.match(explained.body.warnings.join('\n'), noDns, 'and in explain');
  const other = await call('GET', '/api/v1/nodes/worker-02', { token: TOKENS.read });
  t.notMatch(other.body.warnings.join('\n'), /DNS/, 'not on the node whose subnet has dns:');

  const r = cli(['check', '--config', ws.writeConfig({ interface: 'lo', dhcp })]);
  t.match(r.stdout, new RegExp(`^warning: [^:]+main\\.yaml:\\d+: node ${noDns.source}.*add \`dns:\``, 'm'));
  t.equal(r.status, 1, 'a warning: exit 1');
});
