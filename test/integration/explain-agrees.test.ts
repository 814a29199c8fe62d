// explain against the live daemon: for every node of the example inventory (plus a
// failed node, an installed one, one whose reserved IP lies in no subnet, one
// without an IP, a discovered MAC and a MAC never seen), every firmware explain
// knows and every DHCP mode, what explain says is what `rackjoin serve` does: the
// DHCP answer (or its silence) to that firmware's DISCOVER, the loader config over
// HTTP or TFTP, and the installer file, byte for byte once secrets are masked.
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DHCP, type DhcpPacket } from '../../src/dhcp/codec.js';
import { intToIp } from '../../src/ip.js';
import { REPO, TOKENS } from '../helpers/daemon.js';
import { buildRequest, CAPTURED, hexOpt } from '../helpers/dhcp.js';
import { probe, startRackjoin } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const JOIN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'9a'.repeat(32)}`;
const DISCOVERED = '52:54:00:00:09:99';
const UNKNOWN = '52:54:00:00:09:98';

const example = parseYaml(readFileSync(join(REPO, 'inventory/example.yaml'), 'utf8')) as {
  profiles: Record<string, unknown>[];
  nodes: Record<string, unknown>[];
};
const ubuntu = 'ubuntu-2404-worker';
const EXTRA = [
  { name: 'failed-01', macs: ['52:54:00:00:05:01'], ip: '198.18.0.31', profile: ubuntu },
  { name: 'installed-01', macs: ['52:54:00:00:05:02'], ip: '198.18.0.32', profile: 'rocky-9-worker' },
  { name: 'noip-01', macs: ['52:54:00:00:05:04'], profile: ubuntu },
];
const MACS = [...example.nodes, ...EXTRA].map((n) => String((n.macs as string[])[0]).replace(/-/g, ':'));

/** What each firmware sends in its DISCOVER, and what iPXE on it reports as ${platform} and ${buildarch}. */
const FIRMWARE = {
  bios: {
    options: CAPTURED.edk2!.map(([c, h]) =>
      c === 93 ? [93, '0000'] : c === 60 ? hexOpt(60, 'PXEClient:Arch:00000:UNDI:002001') : [c, h],
    ) as [number, string][],
    ipxe: 'platform=pcbios&arch=i386',
  },
  uefi: { options: CAPTURED.edk2!, ipxe: 'platform=efi&arch=x86_64' },
  ipxe: { options: CAPTURED.biosIpxeRom!, ipxe: 'platform=pcbios&arch=i386' },
  arm64: {
    options: [[93, '000b'], hexOpt(60, 'PXEClient:Arch:00011:UNDI:003016')] as [number, string][],
    ipxe: 'platform=efi&arch=arm64',
  },
};
type Arch = keyof typeof FIRMWARE;

interface Stage {
  stage: string;
  summary: string;
  reason: string;
  file?: string;
  url?: string;
  content?: string;
}

async function curl(lab: Lab, args: string[]): Promise<{ status: number; body: string }> {
  const r = await lab.exec(lab.client, ['curl', '-s', '-w', '\\n%{http_code}', ...args], { timeoutMs: 20_000 });
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

async function setup(t: Test, mode: string) {
  const lab = await createLab(t, { octet: 0, clientAddress: true });
  // The probe's broadcasts leave by the lab link (the client namespace has no other).
  await lab.exec(lab.client, ['ip', 'route', 'add', 'default', 'dev', lab.clientIf]);
  const d = await startRackjoin(t, lab, {
    dhcp: {
      mode,
      subnets: [
        {
          cidr: '198.18.0.0/24',
          router: lab.serverIp,
          dns: [lab.serverIp],
          leaseSeconds: 600,
          ...(mode === 'pool' ? { range: '198.18.0.100-198.18.0.120' } : {}),
        },
      ],
    },
    profiles: example.profiles,
    nodes: [...example.nodes, ...EXTRA],
    config: {
      advertise: lab.serverIp,
      tftp: { enabled: true, port: 69 },
      kubernetes: { apiServerEndpoint: '198.18.0.10:6443', joinToken: JOIN, caCertHashes: [HASH] },
    },
  });
  const db = new Database(join(d.dataDir, 'rackjoin.db'), { readonly: true });
  t.teardown(() => db.close());
  const tokenOf = (mac: string) =>
    db.prepare('SELECT token FROM nodes n JOIN node_macs m ON m.node_id = n.id WHERE m.mac = ?').pluck().get(mac) as
      string | undefined;
  const base = `http://${lab.serverIp}:8080`;
  const callback = async (mac: string, stage: string) => {
    const r = await curl(lab, [
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ stage }),
      `${base}/api/v1/callback/${tokenOf(mac)}`,
    ]);
    if (r.status !== 200) throw new Error(`callback ${stage} for ${mac}: ${r.status} ${r.body}`);
  };
  await callback('52:54:00:00:05:01', 'failed');
  await callback('52:54:00:00:05:02', 'installed');
  // The discovered machine PXE-boots once before anyone asks about it.
  await discover(lab, DISCOVERED, 'uefi');
  return { lab, d, base, tokenOf };
}

let xid = 0x5e000000;

/** `mac`'s firmware DISCOVER, as the probe sends it; the replies to it. */
async function discover(lab: Lab, mac: string, arch: Arch): Promise<DhcpPacket[]> {
  const id = ++xid;
  // The probe is a UDP socket on the lab's interface, not at `mac`: it asks for a
  // broadcast reply, as a client that cannot take a unicast before it has an address.
  const packet = buildRequest({ type: DHCP.DISCOVER, mac, xid: id, flags: 0x8000, options: FIRMWARE[arch].options });
  const replies = await probe(lab, { bindPort: 68, to: '255.255.255.255', port: 67, packet, waitMs: 600 });
  return replies.map((r) => r.packet).filter((p) => p.xid === id);
}

const bootFileOf = (p: DhcpPacket) => p.options.get(67)?.toString('latin1') ?? (p.file || undefined);
const mask = (text: string, token: string | undefined) =>
  (token ? text.split(token).join('[node-token]') : text).split(JOIN).join('[join-token]');

async function compare(t: Test, env: Awaited<ReturnType<typeof setup>>, mac: string, arch: Arch) {
  const { lab, base, tokenOf } = env;
  const what = `${mac} ${arch}`;
  const res = await curl(lab, [
    '-H',
    `Authorization: Bearer ${TOKENS.read}`,
    `${base}/api/v1/nodes/${mac}/explain?arch=${arch}`,
  ]);
  t.equal(res.status, 200, `${what}: explain answers`);
  const stages = (JSON.parse(res.body) as { stages: Stage[] }).stages;
  const byName = (name: string) => stages.find((s) => s.stage === name);

  // DHCP: the same answer, or the same silence.
  const dhcp = stages[0]!;
  const replies = await discover(lab, mac, arch);
  const answered = !dhcp.summary.startsWith('not answered');
  t.equal(
    replies.length > 0,
    answered,
    `${what}: DHCP ${answered ? 'answers' : 'stays silent'} as explain says (${dhcp.summary})`,
  );
  if (replies.length > 0) {
    const reply = replies[0]!;
    t.equal(bootFileOf(reply), dhcp.file, `${what}: the boot file explain names`);
    const yiaddr = reply.yiaddr ? intToIp(reply.yiaddr) : null;
    t.equal(
      / with (\d+\.\d+\.\d+\.\d+):/.exec(dhcp.summary)?.[1] ?? null,
      yiaddr,
      `${what}: the address explain names`,
    );
  }

  // The loader's per-node config, as that loader fetches it.
  const token = tokenOf(mac);
  const config = byName('loader-config');
  if (config?.url) {
    const live = await curl(lab, [`${config.url}?${FIRMWARE[arch].ipxe}`]);
    if (config.content === undefined) t.equal(live.status, 404, `${what}: the node script is refused, as explain says`);
    else
      t.equal(mask(live.body, token), config.content.split(`--- ${config.url} ---\n`)[1], `${what}: the iPXE script`);
  } else if (config?.file) {
    const live = await curl(lab, [`tftp://${lab.serverIp}/${config.file}`]);
    t.equal(mask(live.body, token), config.content, `${what}: the ${config.file} TFTP serves`);
  }

  // The installer's main file, served to the node's own token.
  const installer = byName('installer');
  if (installer?.content !== undefined && token) {
    const live = await curl(lab, [installer.url!.replace('[node-token]', token)]);
    t.equal(live.status, 200, `${what}: the installer file is served`);
    t.equal(mask(live.body, token), installer.content, `${what}: the installer file`);
  }
  return stages;
}

for (const mode of ['reservation', 'proxy', 'pool']) {
  t.test(`${mode} mode: explain says what the daemon does, for every node and firmware`, { skip }, async (t) => {
    const env = await setup(t, mode);
    const unknownBefore = await curl(env.lab, [
      '-H',
      `Authorization: Bearer ${TOKENS.read}`,
      `${env.base}/api/v1/nodes/${UNKNOWN}`,
    ]);
    t.equal(unknownBefore.status, 404, 'the unknown MAC is not in the database');
    const seen: Record<string, Stage[]> = {};
    for (const mac of [...MACS, DISCOVERED, UNKNOWN]) {
      for (const arch of Object.keys(FIRMWARE) as Arch[]) seen[`${mac} ${arch}`] = await compare(t, env, mac, arch);
    }
    // The cases the operator asked about, as explain states them.
    const dhcpOf = (mac: string, arch: Arch) => seen[`${mac} ${arch}`]![0]!;
    t.match(dhcpOf('52:54:00:00:05:01', 'uefi').reason, /failed: held until a reimage/, 'a failed node is held');
    t.match(dhcpOf('52:54:00:00:05:02', 'bios').reason, /installed/, 'an installed node boots its disk');
    if (mode === 'reservation') {
      t.match(dhcpOf('52:54:00:00:05:04', 'uefi'), { summary: /^not answered \(no-address\)/ }, 'no reservation');
    }
    t.match(dhcpOf(DISCOVERED, 'uefi').reason, /discovered machine/);
    t.match(dhcpOf(UNKNOWN, 'bios').reason, /unknown MAC/);
  });
}
