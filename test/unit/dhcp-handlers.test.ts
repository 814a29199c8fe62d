// Protocol semantics of the mode handlers, without sockets: what each request
// gets, where the reply goes, and what is echoed.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config.js';
import { inventoryMigrations } from '../../src/inventory/migrations.js';
import { closeDatabase, openDatabase } from '../../src/db.js';
import { bootPlan } from '../../src/boot/decide.js';
import { fingerprintOf } from '../../src/dhcp/fingerprint.js';
import { DHCP, encode, parse, type DhcpPacket } from '../../src/dhcp/codec.js';
import type { HandlerContext, Outcome } from '../../src/dhcp/handler.js';
import { intToIp, ipToInt } from '../../src/ip.js';
import { LeaseStore, leaseMigrations } from '../../src/dhcp/leaseStore.js';
import { buildNetwork } from '../../src/dhcp/network.js';
import type { Request } from '../../src/dhcp/reply.js';
import { handle } from '../../src/dhcp/modes.js';
import type { Profile } from '../../src/inventory/schema.js';
import type { Node } from '../../src/inventory/store.js';
import { macFromBytes } from '../../src/mac.js';
import { buildRequest, CAPTURED, hexOpt, ipHex, type RequestSpec } from '../helpers/dhcp.js';

const KNOWN = '52:54:00:0e:00:01';
const OTHER = '52:54:00:0e:00:07';
const SERVER = '198.18.0.1';

function world(t: { teardown(fn: () => unknown): void }, mode: HandlerContext['mode'], nodeOver: Partial<Node> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'rj-handlers-'));
  const db = openDatabase(dir, [...inventoryMigrations, ...leaseMigrations]);
  t.teardown(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });
  const config = buildConfig(
    {
      dhcp: {
        mode,
        subnets: [
          {
            cidr: '198.18.0.0/24',
            range: '198.18.0.100-198.18.0.102',
            router: '198.18.0.1',
            dns: ['198.18.0.1'],
            domain: 'lab.example',
            leaseSeconds: 600,
          },
          { cidr: '198.19.5.0/24', range: '198.19.5.10-198.19.5.20', leaseSeconds: 300 },
        ],
      },
    },
    'test',
    { isRoot: true },
    dir,
  );
  const net = buildNetwork(config, [ipToInt(SERVER)]);
  const leases = new LeaseStore(db);
  for (const s of net.subnets) if (s.range) leases.addRange(s.range[0], s.range[1]);
  const node = {
    id: 1,
    name: 'w1',
    macs: [KNOWN],
    ip: '198.18.0.21',
    profile: 'p',
    loaderFile: null,
    netboot: true,
    source: 'file',
    state: 'registered',
    ...nodeOver,
  } as Node;
  const profile = { name: 'p', loader: 'ipxe', localBoot: 'exit' } as Profile;
  const settings = { base: `http://${SERVER}:8080`, installedBoot: 'ipxe-script' } as const;
  const ctx: HandlerContext = {
    mode,
    net,
    leases,
    nodeByMac: (mac) => (mac === KNOWN ? node : undefined),
    plan: (mac, n) => bootPlan({ mac, node: n ?? null, profile: n ? profile : null }, settings),
    reservedByOther: (ip, id) => intToIp(ip) === node.ip && id !== node.id,
    offerHoldMs: 30_000,
    declineSeconds: 3600,
  };
  const run = (
    spec: RequestSpec,
    from = { address: '0.0.0.0', port: 68 },
    proxyPort = false,
  ): Outcome & { sent?: DhcpPacket } => {
    const r = parse(buildRequest(spec));
    if (!r.ok) throw new Error(r.error);
    const req: Request = {
      packet: r.packet,
      type: spec.type,
      mac: macFromBytes(r.packet.chaddr),
      fp: fingerprintOf(r.packet),
      from,
      proxyPort,
    };
    const out = handle(ctx, req);
    if (out.lease) leases.apply(out.lease); // what the server does with the handler's decision
    if (!out.reply) return out;
    const back = parse(encode(out.reply.packet));
    if (!back.ok) throw new Error(back.error);
    return { ...out, sent: back.packet };
  };
  return { run, leases, node };
}

const ip = (p: DhcpPacket | undefined, code: number) => intToIp(p!.options.get(code)!.readUInt32BE(0));
const str = (p: DhcpPacket | undefined, code: number) => p!.options.get(code)?.toString('latin1');

t.test('reservation: known PXE client gets its address and boot file, at its MAC', async (t) => {
  const { run } = world(t, 'reservation');
  const offer = run({ type: DHCP.DISCOVER, options: CAPTURED.edk2 });
  t.equal(offer.reply?.type, DHCP.OFFER);
  t.same(
    offer.reply?.to,
    { address: '198.18.0.21', port: 68, hardware: Buffer.from(KNOWN.split(':').map((h) => parseInt(h, 16))) },
    'no broadcast flag: unicast to yiaddr at chaddr (RFC 2131 §4.1)',
  );
  const flagged = run({ type: DHCP.DISCOVER, options: CAPTURED.edk2, flags: 0x8000 });
  t.same(flagged.reply?.to, { address: '255.255.255.255', port: 68 }, 'broadcast flag: broadcast');
  t.equal(intToIp(offer.sent!.yiaddr), '198.18.0.21');
  t.equal(intToIp(offer.sent!.siaddr), SERVER);
  t.equal(offer.sent!.file, 'ipxe.efi');
  t.equal(str(offer.sent, 67), 'ipxe.efi');
  t.equal(str(offer.sent, 66), SERVER);
  t.notOk(offer.sent!.options.has(60), 'no PXEClient echo outside proxy mode (EDK2 would ask port 4011)');
  t.equal(ip(offer.sent, 54), SERVER);
  t.equal(offer.sent!.options.get(51)!.readUInt32BE(0), 600);
  t.equal(str(offer.sent, 12), 'w1');
  t.notOk(offer.sent!.options.has(43), 'no PXE vendor options outside proxy mode');

  const ack = run({ type: DHCP.REQUEST, options: [[54, ipHex(SERVER)], [50, ipHex('198.18.0.21')], ...CAPTURED.edk2] });
  t.equal(ack.reply?.type, DHCP.ACK);
  t.ok(ack.reply?.durable, 'ACK waits for the commit');
  t.equal(ack.boot?.bootFile, 'ipxe.efi');
});

t.test('reservation: iPXE gets the script and 175.176', async (t) => {
  const { run } = world(t, 'reservation');
  const offer = run({ type: DHCP.DISCOVER, options: CAPTURED.biosIpxeRom });
  t.equal(str(offer.sent, 67), 'http://198.18.0.1:8080/boot.ipxe');
  t.same(offer.sent!.options.get(175), Buffer.from([176, 1, 1]));
});

t.test('reservation: unknown MACs are recorded (if netbooting) and not answered', async (t) => {
  const { run } = world(t, 'reservation');
  t.match(run({ type: DHCP.DISCOVER, mac: OTHER, options: CAPTURED.edk2 }), {
    drop: 'unknown-mac',
    discovered: true,
    reply: undefined,
  });
  t.match(run({ type: DHCP.DISCOVER, mac: OTHER, options: CAPTURED.udhcpc }), {
    drop: 'unknown-mac',
    discovered: false,
  });
  t.match(
    run({ type: DHCP.REQUEST, mac: OTHER, options: [[50, ipHex('198.18.0.50')]] }),
    { drop: 'unknown-mac', reply: undefined },
    'INIT-REBOOT of a stranger: silence',
  );
});

t.test('REQUEST semantics', async (t) => {
  const { run, leases } = world(t, 'pool');
  const offer = run({ type: DHCP.DISCOVER, mac: OTHER });
  const offered = intToIp(offer.sent!.yiaddr);
  t.equal(offered, '198.18.0.100');
  t.same(leases.holder(ipToInt(offered)), { kind: 'offer', mac: OTHER });

  const elsewhere = run({
    type: DHCP.REQUEST,
    mac: OTHER,
    options: [
      [54, ipHex('198.18.0.99')],
      [50, ipHex(offered)],
    ],
  });
  t.match(elsewhere, { drop: 'other-server', reply: undefined }, 'REQUEST naming another server is ignored');
  t.equal(leases.holder(ipToInt(offered)), undefined, 'and our offer is withdrawn');

  const wrong = run({
    type: DHCP.REQUEST,
    mac: OTHER,
    options: [
      [54, ipHex(SERVER)],
      [50, ipHex('198.18.0.21')],
    ],
  });
  t.equal(wrong.reply?.type, DHCP.NAK, 'a reserved address of another node: NAK');
  t.equal(wrong.reason, 'address reserved for another node');
  t.same(wrong.reply?.to, { address: '255.255.255.255', port: 68 });
  t.equal(
    run({ type: DHCP.REQUEST, mac: OTHER, options: [[50, ipHex('10.1.2.3')]] }).reply?.type,
    DHCP.NAK,
    'wrong subnet: NAK',
  );
  t.equal(
    run({ type: DHCP.REQUEST, mac: OTHER, options: [[50, ipHex('198.18.0.150')]] }).reply?.type,
    DHCP.NAK,
    'outside the pool: NAK',
  );

  const ok = run({
    type: DHCP.REQUEST,
    mac: OTHER,
    options: [
      [54, ipHex(SERVER)],
      [50, ipHex('198.18.0.101')],
    ],
  });
  t.equal(ok.reply?.type, DHCP.ACK, 'INIT-REBOOT for a free pool address');
  t.equal(
    run({ type: DHCP.REQUEST, mac: '52:54:00:0e:00:08', options: [[50, ipHex('198.18.0.101')]] }).reply?.type,
    DHCP.NAK,
    'in use: NAK',
  );

  const renew = run({ type: DHCP.REQUEST, mac: OTHER, ciaddr: '198.18.0.101' });
  t.equal(renew.reply?.type, DHCP.ACK);
  t.same(renew.reply?.to, { address: '198.18.0.101', port: 68 }, 'renewal: unicast to ciaddr');
  t.equal(intToIp(renew.sent!.ciaddr), '198.18.0.101');
  t.notOk(renew.sent!.options.has(67), 'plain client: no boot file');
  t.equal(renew.sent!.file, '');
  t.equal(renew.sent!.siaddr, 0);
});

t.test('DECLINE quarantines, RELEASE frees, INFORM is answered', async (t) => {
  const { run, leases } = world(t, 'pool');
  run({ type: DHCP.REQUEST, mac: OTHER, options: [[50, ipHex('198.18.0.100')]] });
  t.notOk(
    run({ type: DHCP.DECLINE, mac: '52:54:00:0e:00:09', options: [[50, ipHex('198.18.0.100')]] }).drop === undefined,
    'only the holder declines',
  );
  run({
    type: DHCP.DECLINE,
    mac: OTHER,
    options: [
      [54, ipHex(SERVER)],
      [50, ipHex('198.18.0.100')],
    ],
  });
  t.equal(leases.holder(ipToInt('198.18.0.100'))?.kind, 'declined');
  const next = run({ type: DHCP.DISCOVER, mac: OTHER });
  t.equal(intToIp(next.sent!.yiaddr), '198.18.0.101', 'a declined address is not offered');
  run({
    type: DHCP.REQUEST,
    mac: OTHER,
    options: [
      [54, ipHex(SERVER)],
      [50, ipHex('198.18.0.101')],
    ],
  });
  t.match(run({ type: DHCP.RELEASE, mac: OTHER, ciaddr: '198.18.0.101', options: [[54, ipHex(SERVER)]] }), {
    reply: undefined,
  });
  t.equal(leases.holder(ipToInt('198.18.0.101')), undefined, 'released');
  const info = run({ type: DHCP.INFORM, mac: OTHER, ciaddr: '198.18.0.77' });
  t.equal(info.reply?.type, DHCP.ACK);
  t.equal(info.sent!.yiaddr, 0);
  t.notOk(info.sent!.options.has(51), 'no lease time in an INFORM reply');
  t.same(info.reply?.to, { address: '198.18.0.77', port: 68 });
});

t.test('pool exhaustion is a counted drop', async (t) => {
  const { run } = world(t, 'pool');
  for (let i = 0; i < 3; i++)
    t.equal(run({ type: DHCP.DISCOVER, mac: `02:00:00:00:01:0${i}` }).reply?.type, DHCP.OFFER);
  t.match(run({ type: DHCP.DISCOVER, mac: '02:00:00:00:01:09' }), { drop: 'no-address', reason: 'pool exhausted' });
});

t.test('relayed: subnet by giaddr or 82.5, reply to giaddr:67, 82 echoed last', async (t) => {
  const { run } = world(t, 'pool');
  const byGiaddr = run({ type: DHCP.DISCOVER, mac: OTHER, giaddr: '198.19.5.1' });
  t.same(byGiaddr.reply?.to, { address: '198.19.5.1', port: 67 });
  t.equal(intToIp(byGiaddr.sent!.yiaddr), '198.19.5.10');
  t.equal(intToIp(byGiaddr.sent!.giaddr), '198.19.5.1');
  t.equal(byGiaddr.sent!.options.get(51)!.readUInt32BE(0), 300);

  const o82 = Buffer.from([1, 4, 0x65, 0x74, 0x68, 0x31, 5, 4, 198, 19, 5, 0]).toString('hex');
  const byLink = run({ type: DHCP.DISCOVER, mac: '02:00:00:00:00:77', giaddr: '10.9.9.1', options: [[82, o82]] });
  t.equal(intToIp(byLink.sent!.yiaddr), '198.19.5.11', 'link selection wins over giaddr');
  t.same(byLink.reply?.to, { address: '10.9.9.1', port: 67 });
  const keys = [...byLink.sent!.options.keys()];
  t.equal(keys[keys.length - 1], 82, 'option 82 echoed, last');
  t.equal(byLink.sent!.options.get(82)!.toString('hex'), o82);

  const nak = run({ type: DHCP.REQUEST, mac: OTHER, giaddr: '198.19.5.1', options: [[50, ipHex('198.19.5.99')]] });
  t.equal(nak.reply?.type, DHCP.NAK);
  t.same(nak.reply?.to, { address: '198.19.5.1', port: 67 }, 'relayed NAK goes to the relay');
  t.equal(nak.sent!.flags & 0x8000, 0x8000, 'with the broadcast bit');
  t.match(run({ type: DHCP.DISCOVER, mac: OTHER, giaddr: '10.50.0.1' }), { drop: 'no-subnet' });
});

t.test('proxy: boot info only, never an address; 4011 answered where it came from', async (t) => {
  const { run } = world(t, 'proxy');
  const bios = run({ type: DHCP.DISCOVER, options: CAPTURED.edk2.map(([c, h]) => (c === 93 ? [93, '0000'] : [c, h])) });
  t.equal(bios.reply?.type, DHCP.OFFER);
  t.equal(bios.sent!.yiaddr, 0);
  t.notOk(bios.sent!.options.has(51), 'no lease time');
  t.notOk(bios.sent!.options.has(1), 'no subnet mask');
  t.equal(str(bios.sent, 60), 'PXEClient');
  t.same(bios.sent!.options.get(43), Buffer.from([6, 1, 8, 255]), 'BIOS: discovery control = 8');
  t.equal(bios.sent!.file, 'undionly.kpxe');
  t.equal(bios.sent!.options.get(97)!.length, 17, 'machine id echoed');
  t.same(bios.reply?.to, { address: '255.255.255.255', port: 68 });

  const uefi = run({ type: DHCP.DISCOVER, options: CAPTURED.edk2 });
  t.notOk(uefi.sent!.options.has(43), 'UEFI: no option 43, so it asks port 4011');
  t.equal(uefi.sent!.file, 'ipxe.efi');

  const at4011 = run(
    { type: DHCP.REQUEST, ciaddr: '198.18.0.50', options: CAPTURED.edk2 },
    { address: '198.18.0.50', port: 4011 },
    true,
  );
  t.equal(at4011.reply?.type, DHCP.ACK);
  t.same(at4011.reply?.to, { address: '198.18.0.50', port: 4011 });
  t.equal(at4011.sent!.file, 'ipxe.efi');
  t.equal(at4011.sent!.yiaddr, 0);

  const ipxe = run({ type: DHCP.DISCOVER, options: CAPTURED.biosIpxeRom });
  t.equal(str(ipxe.sent, 67), 'http://198.18.0.1:8080/boot.ipxe');
  t.notOk(ipxe.sent!.options.has(175), 'no 175.176 from a ProxyDHCP');

  t.match(run({ type: DHCP.DISCOVER, options: CAPTURED.udhcpc }), { drop: 'not-netboot' });
  t.match(run({ type: DHCP.DISCOVER, mac: OTHER, options: CAPTURED.edk2 }), { drop: 'unknown-mac', discovered: true });
  t.match(run({ type: DHCP.REQUEST, options: [[54, ipHex('198.18.0.99')], ...CAPTURED.edk2] }), {
    drop: 'other-server',
  });
  const http = run({ type: DHCP.DISCOVER, options: [[93, '0010'], hexOpt(60, 'HTTPClient:Arch:00016:UNDI:003016')] });
  t.equal(str(http.sent, 60), 'HTTPClient');
  t.equal(str(http.sent, 67), 'http://198.18.0.1:8080/assets/ipxe.efi');
  t.notOk(http.sent!.options.has(66), 'no TFTP server for HTTP boot');
});

t.test('proxy: installed nodes are left to their disk', async (t) => {
  const { run } = world(t, 'proxy', { netboot: false });
  t.match(run({ type: DHCP.DISCOVER, options: CAPTURED.edk2 }), {
    drop: 'no-boot',
    reply: undefined,
    reason: /installed/,
  });
  t.equal(
    run({ type: DHCP.DISCOVER, options: CAPTURED.biosIpxeRom }).reply?.type,
    DHCP.OFFER,
    'iPXE gets the script that exits to disk',
  );
});
