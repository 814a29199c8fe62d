// Where a reply to a client without an address goes (RFC 2131 §4.1): to yiaddr at
// the client's MAC when it did not set the broadcast flag, as Kea and dnsmasq do;
// a broadcast when it did, or when the daemon cannot add the neighbour entry the
// unicast needs (no CAP_NET_ADMIN). Real udhcpc, a real tcpdump on the client's
// side of the link, and the node's timeline, which must say where each reply went.
import t, { type Test } from 'tap';
import type { ChildProcess } from 'node:child_process';
import { eventually, startRackjoin, timeline, udhcpc, type DaemonSpec } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const UNICAST_MAC = '02:00:00:00:0f:01';
const BROADCAST_MAC = '02:00:00:00:0f:02';
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

function spec(lab: Lab, wrap?: string[]): DaemonSpec {
  const p = lab.prefix;
  return {
    dhcp: { mode: 'pool', subnets: [{ cidr: `${p}.0/24`, range: `${p}.100-${p}.150`, leaseSeconds: 600 }] },
    profiles: [{ name: 'ipxe', loader: 'ipxe', kernel: 'k/vmlinuz' }],
    nodes: [
      { name: 'unicast', macs: [UNICAST_MAC], profile: 'ipxe' },
      { name: 'broadcast', macs: [BROADCAST_MAC], profile: 'ipxe' },
    ],
    ...(wrap ? { wrap } : {}),
  };
}

/** tcpdump on the client's link: the Ethernet and IP destination of each DHCP reply, as "MAC IP". */
async function watchReplies(t: Test, lab: Lab): Promise<() => string[]> {
  const dump: ChildProcess = lab.spawn(lab.client, [
    'tcpdump',
    '-i',
    lab.clientIf,
    '-e',
    '-nn',
    '-l',
    'udp dst port 68',
  ]);
  let out = '';
  let said = '';
  dump.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  t.teardown(() => void dump.kill('SIGTERM'));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${said}`)), 10_000);
    dump.stderr!.on('data', (b: Buffer) => {
      said += b.toString();
      if (!said.includes('listening on')) return;
      clearTimeout(timer);
      resolve();
    });
  });
  // "<src mac> > <dst mac>, ethertype IPv4 (0x0800), length N: <src ip>.67 > <dst ip>.68: BOOTP/DHCP, Reply, ..."
  return () =>
    out
      .split('\n')
      .map((l) => / > ([0-9a-f:]{17}), .*: [\d.]+\.67 > ([\d.]+)\.68: BOOTP\/DHCP, Reply/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[1]} ${m[2]}`);
}

t.test('a client without the broadcast flag gets OFFER and ACK at its MAC; with it, broadcast', { skip }, async (t) => {
  const lab = await createLab(t);
  const d = await startRackjoin(t, lab, spec(lab));
  const replies = await watchReplies(t, lab);

  const lease = await udhcpc(t, lab, UNICAST_MAC, []);
  t.match(lease.ip, new RegExp(`^${lab.prefix.replace(/\./g, '\\.')}\\.1[0-5]\\d$`), 'bound');
  t.same(
    await eventually(() => (replies().length >= 2 ? replies() : undefined)),
    [`${UNICAST_MAC} ${lease.ip}`, `${UNICAST_MAC} ${lease.ip}`],
    'OFFER and ACK went to yiaddr at the client MAC, not to the whole link',
  );
  const events = timeline(t, d, 'unicast');
  const sent = (await eventually(() => {
    const e = events().filter((e) => e.type === 'dhcp.offer' || e.type === 'dhcp.ack');
    return e.length >= 2 ? e : undefined;
  }))!;
  t.same(
    sent.map((e) => e.data.sent.to),
    [`${lease.ip}:68`, `${lease.ip}:68`],
    'the timeline says where they went',
  );

  const flagged = await udhcpc(t, lab, BROADCAST_MAC, ['-B']);
  t.ok(flagged.ip, 'bound with the broadcast flag');
  t.same(
    (await eventually(() => (replies().length >= 4 ? replies() : undefined)))?.slice(2),
    [`${BROADCAST} 255.255.255.255`, `${BROADCAST} 255.255.255.255`],
    'broadcast, as asked',
  );
});

t.test(
  'without CAP_NET_ADMIN the replies are broadcast, the timeline says so, and the log says why once',
  { skip },
  async (t) => {
    const lab = await createLab(t);
    const d = await startRackjoin(t, lab, spec(lab, ['setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin']));
    const replies = await watchReplies(t, lab);
    const lease = await udhcpc(t, lab, UNICAST_MAC, []);
    t.ok(lease.ip, 'bound all the same');
    t.same(
      await eventually(() => (replies().length >= 2 ? replies() : undefined)),
      [`${BROADCAST} 255.255.255.255`, `${BROADCAST} 255.255.255.255`],
      'no neighbour entry could be made: broadcast',
    );
    const events = timeline(t, d, 'unicast');
    const sent = await eventually(() => events().find((e) => e.type === 'dhcp.ack'));
    t.equal(sent?.data.sent.to, '255.255.255.255:68', 'the timeline records the broadcast, not the unicast it meant');
    const refusals = d.output().match(/not permitted to add neighbour entries/g) ?? [];
    t.equal(refusals.length, 1, 'the daemon says why once, not once per reply');
  },
);
