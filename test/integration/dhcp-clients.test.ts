// Real DHCP clients (busybox udhcpc, ISC dhclient, perfdhcp) against the real
// daemon, each side in its own network namespace.
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { DHCP } from '../../src/dhcp/codec.js';
import { intToIp } from '../../src/ip.js';
import { buildRequest, CAPTURED, hexOpt } from '../helpers/dhcp.js';
import { dhclient, perfdhcp, probe, startRackjoin, udhcpc } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const PROFILES = [
  { name: 'ipxe', loader: 'ipxe', kernel: 'k/vmlinuz' },
  { name: 'pxelinux', loader: 'pxelinux', kernel: 'k/vmlinuz' },
];
const mac = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;

const BIOS = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000'];
const UEFI = ['-V', 'PXEClient:Arch:00007:UNDI:003000', '-x', '0x5d:0007'];
const IPXE = [...BIOS, '-x', '77:69505845'];
const WANT = ['-O', '66', '-O', '67'];

const dhclientConf = (send: string) => `
option pxe-arch code 93 = unsigned integer 16;
${send}
request subnet-mask, routers, domain-name-servers, host-name, domain-name, tftp-server-name, bootfile-name;
`;

function nodes(prefix: string) {
  return [
    { name: 'bios', macs: [mac(1)], ip: `${prefix}.21`, profile: 'ipxe' },
    { name: 'uefi', macs: [mac(2)], ip: `${prefix}.22`, profile: 'ipxe' },
    { name: 'ipxe', macs: [mac(3)], ip: `${prefix}.23`, profile: 'ipxe' },
    { name: 'plain', macs: [mac(4)], ip: `${prefix}.24`, profile: 'ipxe' },
    { name: 'syslinux', macs: [mac(5)], ip: `${prefix}.25`, profile: 'pxelinux' },
  ];
}

function subnet(prefix: string, range = false) {
  return {
    cidr: `${prefix}.0/24`,
    ...(range ? { range: `${prefix}.100-${prefix}.150` } : {}),
    router: `${prefix}.1`,
    dns: [`${prefix}.1`],
    domain: 'lab.example',
    leaseSeconds: 600,
  };
}

t.test('reservation mode: udhcpc and dhclient posing as BIOS, UEFI, iPXE and plain clients', { skip }, async (t) => {
  const lab = await createLab(t);
  const p = lab.prefix;
  const d = await startRackjoin(t, lab, {
    dhcp: { mode: 'reservation', subnets: [subnet(p)] },
    profiles: PROFILES,
    nodes: nodes(p),
  });
  const srv = lab.serverIp;

  const bios = await udhcpc(t, lab, mac(1), [...BIOS, ...WANT]);
  t.match(
    bios,
    {
      ip: `${p}.21`,
      siaddr: srv,
      boot_file: 'undionly.kpxe',
      bootfile: 'undionly.kpxe',
      tftp: srv,
      serverid: srv,
      hostname: 'bios',
      router: srv,
      domain: 'lab.example',
    },
    'udhcpc BIOS',
  );
  const uefi = await udhcpc(t, lab, mac(2), [...UEFI, ...WANT]);
  t.match(
    uefi,
    { ip: `${p}.22`, siaddr: srv, boot_file: 'ipxe.efi', bootfile: 'ipxe.efi', tftp: srv },
    'udhcpc UEFI (arch 7)',
  );
  const ipxe = await udhcpc(t, lab, mac(3), [...IPXE, ...WANT]);
  t.match(
    ipxe,
    { ip: `${p}.23`, siaddr: srv, bootfile: `http://${srv}:8080/boot.ipxe`, boot_file: `http://${srv}:8080/boot.ipxe` },
    'udhcpc iPXE',
  );
  t.notOk(ipxe.tftp, 'no TFTP server name for an HTTP boot file');
  const plain = await udhcpc(t, lab, mac(4), WANT);
  t.match(plain, { ip: `${p}.24`, serverid: srv }, 'udhcpc plain');
  t.notOk(plain.bootfile ?? plain.boot_file ?? plain.siaddr ?? plain.tftp, 'a plain client gets no boot information');
  const syslinux = await udhcpc(t, lab, mac(5), [...BIOS, ...WANT]);
  t.match(syslinux, { ip: `${p}.25`, bootfile: 'pxelinux.0', boot_file: 'pxelinux.0' }, 'profile loader pxelinux');
  t.same(await udhcpc(t, lab, mac(99), [...BIOS, ...WANT]), {}, 'an unknown MAC gets nothing in reservation mode');

  const dBios = await dhclient(
    t,
    lab,
    mac(1),
    dhclientConf('send vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";\nsend pxe-arch 0;'),
  );
  t.match(
    dBios,
    {
      ip_address: `${p}.21`,
      next_server: srv,
      filename: 'undionly.kpxe',
      bootfile_name: 'undionly.kpxe',
      tftp_server_name: srv,
    },
    'dhclient BIOS',
  );
  const dUefi = await dhclient(
    t,
    lab,
    mac(2),
    dhclientConf('send vendor-class-identifier "PXEClient:Arch:00007:UNDI:003016";\nsend pxe-arch 7;'),
  );
  t.match(
    dUefi,
    { ip_address: `${p}.22`, next_server: srv, filename: 'ipxe.efi', bootfile_name: 'ipxe.efi' },
    'dhclient UEFI',
  );
  const dIpxe = await dhclient(
    t,
    lab,
    mac(3),
    dhclientConf(
      'send vendor-class-identifier "PXEClient:Arch:00007:UNDI:003010";\nsend pxe-arch 7;\nsend user-class "iPXE";',
    ),
  );
  t.match(
    dIpxe,
    { ip_address: `${p}.23`, next_server: srv, bootfile_name: `http://${srv}:8080/boot.ipxe` },
    'dhclient iPXE',
  );
  const dPlain = await dhclient(t, lab, mac(4), dhclientConf(''));
  t.match(dPlain, { ip_address: `${p}.24`, next_server: '0.0.0.0' }, 'dhclient plain');
  t.notOk(dPlain.filename ?? dPlain.bootfile_name, 'no boot file for a plain client');

  const db = new Database(join(d.dataDir, 'rackjoin.db'), { readonly: true });
  t.teardown(() => db.close());
  const events = db
    .prepare(
      "SELECT e.type, e.data FROM events e JOIN nodes n ON n.id = e.node_id WHERE n.name = 'bios' AND e.type LIKE 'dhcp.%' ORDER BY e.id",
    )
    .all() as { type: string; data: string }[];
  t.ok(
    events.some((e) => e.type === 'dhcp.offer') && events.some((e) => e.type === 'dhcp.ack'),
    'exchanges are on the node timeline',
  );
  const ack = JSON.parse(events.find((e) => e.type === 'dhcp.ack')!.data);
  t.match(ack, {
    received: 'REQUEST',
    arch: { code: 0, name: 'x86 BIOS' },
    sent: { type: 'ACK', yiaddr: `${p}.21`, siaddr: srv, file: 'undionly.kpxe' },
  });
  t.equal(ack.in['60 vendor-class'], 'PXEClient:Arch:00000:UNDI:002001');
  const discovered = db
    .prepare('SELECT state FROM nodes n JOIN node_macs m ON m.node_id = n.id WHERE m.mac = ?')
    .pluck()
    .get(mac(99));
  t.equal(discovered, 'discovered', 'the unknown PXE client is recorded as discovered');
  const leases = db.prepare('SELECT ip, mac FROM dhcp_leases ORDER BY ip').all();
  t.same(
    leases,
    [1, 2, 3, 4, 5].map((n) => ({ ip: `${p}.2${n}`, mac: mac(n) })),
    'one durable lease per client',
  );
});

t.test('pool mode: strangers lease from the range; a relayed perfdhcp run is answered', { skip }, async (t) => {
  const lab = await createLab(t, { clientAddress: true });
  const p = lab.prefix;
  await startRackjoin(t, lab, {
    dhcp: { mode: 'pool', subnets: [subnet(p, true)] },
    profiles: PROFILES,
    nodes: nodes(p),
  });
  const stranger = await udhcpc(t, lab, mac(0x42), WANT);
  t.match(stranger, { ip: new RegExp(`^${p.replace(/\./g, '\\.')}\\.1[0-5]\\d$`), serverid: lab.serverIp });
  t.notOk(stranger.bootfile, 'no boot file for an unknown, non-PXE client');
  t.match(
    await udhcpc(t, lab, mac(1), [...BIOS, ...WANT]),
    { ip: `${p}.21`, bootfile: 'undionly.kpxe' },
    'reservations still apply',
  );

  // perfdhcp acts as a relay: giaddr = its address, source port 67; replies must go to giaddr:67.
  const r = await perfdhcp(lab, ['-r', '40', '-R', '30', '-p', '3']);
  t.ok(r.doSent > 50, `perfdhcp sent ${r.doSent} DISCOVERs`);
  t.equal(r.raReceived, r.raSent, `every relayed REQUEST answered (${r.raReceived}/${r.raSent})`);
});

t.test('proxy mode: boot information only, never an address; port 4011 answered', { skip }, async (t) => {
  const lab = await createLab(t, { clientAddress: true });
  const p = lab.prefix;
  // A client in proxy mode already has its address from the LAN's DHCP server; the route lets it broadcast.
  await lab.exec(lab.client, ['ip', 'route', 'add', 'default', 'dev', lab.clientIf]);
  const d = await startRackjoin(t, lab, { dhcp: { mode: 'proxy' }, profiles: PROFILES, nodes: nodes(p) });
  const srv = lab.serverIp;

  const uefiOffer = await probe(lab, {
    bindPort: 68,
    to: '255.255.255.255',
    port: 67,
    packet: buildRequest({ type: DHCP.DISCOVER, mac: mac(2), options: CAPTURED.edk2 }),
  });
  t.equal(uefiOffer.length, 1, 'one ProxyDHCP offer');
  const o = uefiOffer[0]!.packet;
  t.equal(o.options.get(53)![0], DHCP.OFFER);
  t.equal(intToIp(o.yiaddr), '0.0.0.0', 'no address');
  t.notOk(o.options.has(51) || o.options.has(1), 'no lease time, no mask');
  t.equal(intToIp(o.siaddr), srv);
  t.equal(o.file, 'ipxe.efi');
  t.equal(o.options.get(67)!.toString(), 'ipxe.efi');
  t.equal(o.options.get(66)!.toString(), srv);
  t.equal(o.options.get(60)!.toString(), 'PXEClient');
  t.notOk(o.options.has(43), 'UEFI: no option 43, the client asks port 4011');

  const biosOffer = await probe(lab, {
    bindPort: 68,
    to: '255.255.255.255',
    port: 67,
    packet: buildRequest({
      type: DHCP.DISCOVER,
      mac: mac(1),
      options: [[93, '0000'], hexOpt(60, 'PXEClient:Arch:00000:UNDI:002001')],
    }),
  });
  t.same(biosOffer[0]?.packet.options.get(43), Buffer.from([6, 1, 8, 255]), 'BIOS: PXE discovery control 8');
  t.equal(biosOffer[0]?.packet.file, 'undionly.kpxe');

  const ack = await probe(lab, {
    bindPort: 4011,
    to: srv,
    port: 4011,
    packet: buildRequest({ type: DHCP.REQUEST, mac: mac(2), ciaddr: lab.clientIp, options: CAPTURED.edk2 }),
  });
  t.equal(ack.length, 1, 'port 4011 REQUEST answered');
  t.equal(ack[0]!.from, `${srv}:4011`, 'from the ProxyDHCP port, back to the sender');
  t.equal(ack[0]!.packet.options.get(53)![0], DHCP.ACK);
  t.equal(ack[0]!.packet.file, 'ipxe.efi');
  t.equal(ack[0]!.packet.yiaddr, 0);

  t.same(
    await probe(lab, {
      bindPort: 68,
      to: '255.255.255.255',
      port: 67,
      packet: buildRequest({ type: DHCP.DISCOVER, mac: mac(4), options: CAPTURED.udhcpc }),
    }),
    [],
    'a non-PXE client is not answered',
  );
  t.same(await udhcpc(t, lab, mac(1), [...BIOS, ...WANT]), {}, 'udhcpc gets no lease from a ProxyDHCP');
  t.notOk(d.output().includes('"level":50'), 'no errors logged');
});

t.test(
  'a provisioning interface without carrier at start-up: DHCP starts, warns, and answers once the link is up',
  { skip },
  async (t) => {
    const lab = await createLab(t);
    const p = lab.prefix;
    // The client end down: the server's veth has its address but no carrier, as a NIC
    // whose switch port is still off (Node's os.networkInterfaces() does not list it).
    const down = await lab.exec(lab.client, ['ip', 'link', 'set', 'dev', lab.clientIf, 'down']);
    t.equal(down.code, 0, down.stderr);
    // The kernel reports the new state (operstate, IFF_RUNNING) through linkwatch, up to a second later.
    let state = '';
    for (let i = 0; i < 50 && state !== 'down'; i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      state = (await lab.exec(lab.server, ['cat', `/sys/class/net/${lab.serverIf}/operstate`])).stdout.trim();
    }
    t.equal(state, 'down', 'the server end has lost its carrier');
    const d = await startRackjoin(t, lab, {
      dhcp: { mode: 'reservation', subnets: [subnet(p)] },
      profiles: PROFILES,
      nodes: nodes(p),
    });
    t.match(d.output(), /interface has no carrier/, 'the daemon says why nobody is answered yet');
    t.equal(d.proc.exitCode, null, 'and keeps running');
    const up = await lab.exec(lab.client, ['ip', 'link', 'set', 'dev', lab.clientIf, 'up']);
    t.equal(up.code, 0, up.stderr);
    t.match(
      await udhcpc(t, lab, mac(1), [...BIOS, ...WANT]),
      { ip: `${p}.21`, serverid: lab.serverIp, bootfile: 'undionly.kpxe' },
      'answered from the interface address',
    );
  },
);
