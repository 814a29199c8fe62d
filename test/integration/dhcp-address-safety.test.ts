// Pool mode never hands out a wrong address: real udhcpc clients (each on its own
// macvlan, so they run at once with their own MACs) against pool ranges that take in
// the subnet's network and broadcast addresses, the server's own, the router's and
// a node's reservation; and a host already answering on a pool address (ARP on the
// served link, ICMP echo for a relayed subnet) is found before anyone is offered it.
import t from 'tap';
import { DHCP } from '../../src/dhcp/codec.js';
import { intToIp } from '../../src/ip.js';
import { TOKENS } from '../helpers/daemon.js';
import { buildRequest, ipHex } from '../helpers/dhcp.js';
import { addClientLink, eventually, probe, startRackjoin, timeline, udhcpc } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const PROFILES = [{ name: 'ipxe', loader: 'ipxe', kernel: 'k/vmlinuz' }];
const mac = (group: number, n: number) =>
  `02:00:00:00:${group.toString(16).padStart(2, '0')}:${n.toString(16).padStart(2, '0')}`;

const HOLDER_MAC = '02:00:00:00:0e:ff';

t.test(
  'a pool range over network, broadcast, server, router and a reservation hands out none of them',
  { skip },
  async (t) => {
    const lab = await createLab(t);
    const p = lab.prefix;
    // A second address of ours, advertised: both of rackjoin's addresses are in the range.
    const r = await lab.exec(lab.server, ['ip', 'addr', 'add', `${p}.5/24`, 'dev', lab.serverIf]);
    t.equal(r.code, 0, r.stderr);
    await startRackjoin(t, lab, {
      dhcp: {
        mode: 'pool',
        subnets: [{ cidr: `${p}.0/29`, range: `${p}.0-${p}.7`, router: `${p}.6`, leaseSeconds: 600 }],
      },
      profiles: PROFILES,
      nodes: [{ name: 'reserved', macs: [mac(0x0d, 0xee)], ip: `${p}.3`, profile: 'ipxe' }],
      config: { advertise: `${p}.5` },
    });
    const clients = Array.from({ length: 8 }, (_, i) => ({ dev: `m${i}`, mac: mac(0x0d, i + 1) }));
    for (const c of clients) await addClientLink(lab, c.dev, c.mac);
    const got = await Promise.all(clients.map((c) => udhcpc(t, lab, c.mac, [], c.dev)));
    const leased = got
      .map((g) => g.ip)
      .filter(Boolean)
      .sort();
    t.same(leased, [`${p}.2`, `${p}.4`], 'only the two addresses that are nobody else’s are leased, once each');
    for (const g of got.filter((x) => x.ip)) t.equal(g.serverid, `${p}.5`, 'the advertised address is the server id');
  },
);

async function metric(lab: Lab, name: string): Promise<number> {
  const r = await lab.exec(lab.server, [
    'curl',
    '-sf',
    '--max-time',
    '5',
    '-H',
    `Authorization: Bearer ${TOKENS.read}`,
    'http://127.0.0.1:8080/metrics',
  ]);
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

/** A lab whose client side also holds `${prefix}.100` on its own MAC (HOLDER_MAC): a host the pool does not know. */
async function labWithSquatter(t: { teardown(fn: () => unknown): void }, clientAddress: boolean): Promise<Lab> {
  const lab = await createLab(t, { clientAddress });
  await addClientLink(lab, 'h0', HOLDER_MAC, `${lab.prefix}.100/24`);
  return lab;
}

function poolWithSquatter(lab: Lab, conflictCheckMs?: number) {
  const p = lab.prefix;
  return {
    dhcp: {
      mode: 'pool',
      subnets: [{ cidr: `${p}.0/24`, range: `${p}.100-${p}.110`, router: lab.serverIp, leaseSeconds: 600 }],
      ...(conflictCheckMs === undefined ? {} : { conflictCheckMs }),
    },
    profiles: PROFILES,
    // No reserved address: it leases from the pool, and has a timeline.
    nodes: [{ name: 'worker', macs: [mac(0x0e, 1)], profile: 'ipxe' }],
  };
}

t.test(
  'on the served link, an address that answers ARP is quarantined and the next one offered',
  { skip },
  async (t) => {
    const lab = await labWithSquatter(t, false);
    const p = lab.prefix;
    const d = await startRackjoin(t, lab, poolWithSquatter(lab));
    const lease = await udhcpc(t, lab, mac(0x0e, 1), []);
    t.equal(lease.ip, `${p}.101`, 'the client gets the next address');
    const events = timeline(t, d, 'worker');
    const conflict = await eventually(() => events().find((e) => e.type === 'dhcp.conflict'));
    t.match(conflict?.data, { address: `${p}.100`, method: 'arp', answeredBy: HOLDER_MAC, quarantineSeconds: 86400 });
    t.match(
      d.output(),
      new RegExp(`"level":40.*${p.replace(/\./g, '\\.')}\\.100 is already in use \\(ARP answer from ${HOLDER_MAC}\\)`),
    );
    const offered = events().filter((e) => e.type === 'dhcp.offer');
    t.same(
      offered.map((e) => e.data.sent.yiaddr),
      [`${p}.101`],
      'one OFFER, of the free address',
    );
    t.ok((await metric(lab, 'rackjoin_dhcp_probes_total{method="arp"}')) >= 2, 'probes are counted');
    t.equal(await metric(lab, 'rackjoin_dhcp_conflicts_total{method="arp"}'), 1, 'the conflict is counted');
    const again = await udhcpc(t, lab, mac(0x0e, 2), []);
    t.equal(again.ip, `${p}.102`, 'the quarantined address stays out of use');
  },
);

t.test(
  'the next addresses are checked ahead of demand: a new client after the first waits for no probe of its own',
  { skip },
  async (t) => {
    const lab = await createLab(t);
    const p = lab.prefix;
    const range = { cidr: `${p}.0/24`, range: `${p}.100-${p}.110`, router: lab.serverIp, leaseSeconds: 600 };
    await startRackjoin(t, lab, { dhcp: { mode: 'pool', subnets: [range] }, profiles: PROFILES, nodes: [] });
    const arpProbes = () => metric(lab, 'rackjoin_dhcp_probes_total{method="arp"}');
    t.equal(await arpProbes(), 0, 'nothing is probed before a client asks');
    t.equal((await udhcpc(t, lab, mac(0x0f, 1), [])).ip, `${p}.100`);
    let probed = await arpProbes();
    for (let i = 0; i < 50 && probed < 11; i++) {
      await new Promise((r) => setTimeout(r, 100));
      probed = await arpProbes();
    }
    t.equal(probed, 11, 'the first OFFER probed its address and the rest of the range at once');
    t.equal((await udhcpc(t, lab, mac(0x0f, 2), [])).ip, `${p}.101`);
    t.equal(await arpProbes(), 11, 'the second client was offered an address already checked');
    t.equal(await metric(lab, 'rackjoin_dhcp_unchecked_total{method="arp"}'), 0, 'none went out unchecked');
  },
);

t.test(
  'with conflictCheckMs 0 the same client is handed the address in use (the check is what avoids it)',
  { skip },
  async (t) => {
    const lab = await labWithSquatter(t, false);
    const d = await startRackjoin(t, lab, poolWithSquatter(lab, 0));
    const lease = await udhcpc(t, lab, mac(0x0e, 1), []);
    t.equal(lease.ip, `${lab.prefix}.100`);
    t.notOk(timeline(t, d, 'worker')().some((e) => e.type === 'dhcp.conflict'));
  },
);

t.test(
  'relayed: an address that answers an echo is skipped; a DECLINE is on the timeline with its address',
  { skip },
  async (t) => {
    const lab = await labWithSquatter(t, true);
    const p = lab.prefix;
    const d = await startRackjoin(t, lab, poolWithSquatter(lab));
    const events = timeline(t, d, 'worker');
    const relayed = (type: number, options: [number, string][] = []) =>
      probe(lab, {
        bindPort: 67,
        to: lab.serverIp,
        port: 67,
        packet: buildRequest({ type, mac: mac(0x0e, 1), giaddr: lab.clientIp, options }),
      });
    const offers = await relayed(DHCP.DISCOVER);
    t.same(
      offers.map((o) => intToIp(o.packet.yiaddr)),
      [`${p}.101`],
      'offered the next address',
    );
    const conflict = await eventually(() => events().find((e) => e.type === 'dhcp.conflict'));
    if (!t.match(conflict?.data, { address: `${p}.100`, method: 'icmp', answeredBy: null, relay: lab.clientIp }))
      t.comment(
        JSON.stringify(events()),
        d
          .output()
          .split('\n')
          .filter((l) => /"level":[45]0/.test(l)),
      );
    t.equal(await metric(lab, 'rackjoin_dhcp_conflicts_total{method="icmp"}'), 1);

    const chosen = [
      [50, ipHex(`${p}.101`)],
      [54, ipHex(lab.serverIp)],
    ] as [number, string][];
    const acks = await relayed(DHCP.REQUEST, chosen);
    t.equal(acks[0]?.packet.options.get(53)?.[0], DHCP.ACK, 'the client takes it');
    t.same(await relayed(DHCP.DECLINE, chosen), [], 'a DECLINE gets no answer');
    const declined = await eventually(() => events().find((e) => e.type === 'dhcp.decline'));
    t.match(declined?.data, { received: 'DECLINE', address: `${p}.101`, quarantineSeconds: 86400 });
    const next = await relayed(DHCP.DISCOVER);
    t.same(
      next.map((o) => intToIp(o.packet.yiaddr)),
      [`${p}.102`],
      'neither the declined address nor the one in use is offered again',
    );
  },
);
