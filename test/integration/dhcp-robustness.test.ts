// The DHCP server under abuse: 100,000 broken datagrams, relayed requests with a
// malformed option 82, and kill -9 in the middle of a perfdhcp run (no ACKed lease
// lost, no address handed to two clients).
import t from 'tap';
import Database from 'better-sqlite3';
import { once } from 'node:events';
import { join } from 'node:path';
import { DHCP } from '../../src/dhcp/codec.js';
import { intToIp } from '../../src/ip.js';
import { macFromBytes } from '../../src/mac.js';
import { REPO } from '../helpers/daemon.js';
import { buildRequest } from '../helpers/dhcp.js';
import { pcapDhcp, perfdhcp, probe, scratch, startRackjoin, udhcpc } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const PROFILES = [{ name: 'ipxe', loader: 'ipxe', kernel: 'k/vmlinuz' }];
const KNOWN = '02:00:00:00:00:01';

function poolSpec(lab: Lab, moreSubnets: Record<string, unknown>[] = []) {
  const p = lab.prefix;
  return {
    dhcp: {
      mode: 'pool',
      subnets: [{ cidr: `${p}.0/24`, range: `${p}.100-${p}.250`, router: `${p}.1`, leaseSeconds: 600 }, ...moreSubnets],
    },
    profiles: PROFILES,
    nodes: [{ name: 'known', macs: [KNOWN], ip: `${p}.21`, profile: 'ipxe' }],
  };
}

t.test('100,000 random and truncated datagrams leave the daemon alive and answering', { skip }, async (t) => {
  const lab = await createLab(t, { clientAddress: true });
  const d = await startRackjoin(t, lab, poolSpec(lab));
  const udpBefore = await udpCounters(lab);
  const started = Date.now();
  const r = await lab.exec(
    lab.client,
    ['node', join(REPO, 'dist/test/helpers/dhcpFuzz.js'), lab.clientIp, lab.serverIp, '100000'],
    {
      timeoutMs: 180_000,
    },
  );
  t.equal(r.code, 0, `fuzzer sent 100,000 datagrams in ${((Date.now() - started) / 1000).toFixed(1)} s ${r.stderr}`);
  const udp = await udpCounters(lab);
  const delivered = udp.InDatagrams! - udpBefore.InDatagrams!;
  const overflowed = udp.RcvbufErrors! - udpBefore.RcvbufErrors!;
  // Enough of the flood must reach the daemon for the test to mean something; how
  // much of it a busy machine keeps up with is a speed question (bench/dhcp), not this one.
  t.ok(
    delivered >= 50_000,
    `the daemon's sockets received ${delivered} datagrams (${overflowed} overflowed its buffer)`,
  );
  t.equal(d.proc.exitCode, null, 'daemon still running');
  t.equal(d.proc.signalCode, null);
  const lease = await udhcpc(t, lab, KNOWN, [
    '-V',
    'PXEClient:Arch:00000:UNDI:002001',
    '-x',
    '0x5d:0000',
    '-O',
    '66',
    '-O',
    '67',
  ]);
  t.match(
    lease,
    { ip: `${lab.prefix}.21`, bootfile: 'undionly.kpxe', siaddr: lab.serverIp },
    'a real client is still served',
  );
  t.notOk(d.output().includes('request handling failed'), 'no datagram made a handler throw');
  t.notOk(d.output().includes('"level":50'), 'no errors logged');
});

t.test('relayed requests: option 82 echoed when well-formed, left out when malformed', { skip }, async (t) => {
  const lab = await createLab(t, { clientAddress: true });
  const token = 'relay-test-token-0123456789';
  const d = await startRackjoin(t, lab, {
    ...poolSpec(lab),
    config: { api: { tokens: [{ name: 'metrics', token, scope: 'read' }] } },
  });
  // The client namespace plays the relay: giaddr is its address, it listens on 67 for the reply.
  const relay = async (mac: string, o82: number[]) => {
    const packet = buildRequest({
      type: DHCP.DISCOVER,
      mac,
      giaddr: lab.clientIp,
      options: [[82, Buffer.from(o82).toString('hex')]],
    });
    return probe(lab, { bindPort: 67, to: lab.serverIp, port: 67, packet });
  };
  const wellFormed = [1, 4, ...Buffer.from('eth7'), 2, 6, 2, 0, 0, 0, 0, 9];
  const cases: [string, number[], boolean][] = [
    ['well-formed', wellFormed, true],
    ['sub-option overruns the option', [1, 40, ...Buffer.from('eth7')], false],
    ['empty', [], false],
    ['a good sub-option, then a code without its length', [1, 4, ...Buffer.from('eth7'), 2], false],
  ];
  let n = 0;
  for (const [name, o82, echoed] of cases) {
    const got = await relay(`02:00:00:00:82:0${++n}`, o82);
    t.equal(got.length, 1, `${name}: one reply`);
    const offer = got[0]?.packet;
    t.equal(got[0]?.from, `${lab.serverIp}:67`, `${name}: to the relay, from port 67`);
    t.equal(offer?.options.get(53)?.[0], DHCP.OFFER, `${name}: an OFFER`);
    t.equal(intToIp(offer?.giaddr ?? 0), lab.clientIp);
    if (echoed) t.same(offer?.options.get(82), Buffer.from(o82), `${name}: option 82 echoed verbatim`);
    else t.notOk(offer?.options.has(82), `${name}: no option 82 in the reply`);
  }
  const r = await lab.exec(lab.client, [
    'curl',
    '-sS',
    '--max-time',
    '10',
    '-H',
    `Authorization: Bearer ${token}`,
    `http://${lab.serverIp}:8080/metrics`,
  ]);
  t.match(r.stdout, /^rackjoin_dhcp_relay_agent_info_malformed_total 3$/m, 'the malformed ones are counted');
  t.notOk(d.output().includes('request handling failed'), 'no request made a handler throw');
});

/** The server namespace's UDP counters (/proc/net/snmp is per network namespace). */
async function udpCounters(lab: Lab): Promise<Record<string, number>> {
  const r = await lab.exec(lab.server, ['cat', '/proc/net/snmp']);
  const [names, values] = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const keys = names!.split(/\s+/).slice(1);
  const nums = values!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, nums[i]!]));
}

/** ACKs seen on the wire: the last yiaddr each IP was ACKed to, by MAC. */
function acked(file: string): Map<string, string> {
  const byIp = new Map<string, string>();
  for (const p of pcapDhcp(file)) {
    if (p.op !== 2 || p.options.get(53)?.[0] !== DHCP.ACK || p.yiaddr === 0) continue;
    byIp.set(intToIp(p.yiaddr), macFromBytes(p.chaddr));
  }
  return byIp;
}

async function capture(lab: Lab, file: string) {
  const proc = lab.spawn(lab.client, [
    'tcpdump',
    '-i',
    lab.clientIf,
    '-n',
    '-U',
    '--immediate-mode',
    '-w',
    file,
    'udp port 67 or udp port 68',
  ]);
  let err = '';
  proc.stderr!.on('data', (b) => (err += b));
  const deadline = Date.now() + 10_000;
  while (!err.includes('listening on') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return async () => {
    proc.kill('SIGINT');
    if (proc.exitCode === null) await once(proc, 'exit');
  };
}

// perfdhcp's clients land in this big relayed subnet (option 82 link selection), so
// nearly every ACK around the kill is a new lease, not the renewal of an old one.
const BIG = { cidr: '198.19.0.0/16', range: '198.19.1.0-198.19.254.254', leaseSeconds: 600 };
const LINK_SELECTION = ['-o', '82,0504c6130001'];
// The kill lands while DORAs arrive at 80% of the most rackjoin holds on this kind
// of 2-core machine (bench/dhcp: 9,576 DORA/s at <= 1% drops, median of 3 rounds),
// so commits are large and many ACKs wait on one when it dies. Drops at this rate
// (a loaded CI host) do not matter: what counts is that every ACK that left is on disk.
const KILL_RATE = '7600';

t.test('kill -9 during a perfdhcp run: no ACKed lease lost, no address given twice', { skip }, async (t) => {
  const lab = await createLab(t, { clientAddress: true });
  const d = await startRackjoin(t, lab, poolSpec(lab, [BIG]));
  const dir = scratch(t, 'rj-kill9-');

  const before = join(dir, 'before.pcap');
  let stop = await capture(lab, before);
  const run = perfdhcp(lab, ['-r', KILL_RATE, '-R', '100000', '-p', '4', ...LINK_SELECTION]);
  await new Promise((r) => setTimeout(r, 1500));
  d.proc.kill('SIGKILL');
  await once(d.proc, 'exit');
  await run;
  await stop();

  const ackedBefore = acked(before);
  t.ok(ackedBefore.size >= 200, `${ackedBefore.size} addresses ACKed before the kill`);
  const db = new Database(join(d.dataDir, 'rackjoin.db'));
  const rows = new Map(
    (db.prepare("SELECT ip, mac FROM dhcp_leases WHERE state = 'bound'").all() as { ip: string; mac: string }[]).map(
      (r) => [r.ip, r.mac],
    ),
  );
  db.close();
  const lost = [...ackedBefore].filter(([ip, mac]) => rows.get(ip) !== mac);
  t.same(lost, [], 'every ACKed lease is in the database after kill -9');

  await d.restart();
  const after = join(dir, 'after.pcap');
  stop = await capture(lab, after);
  // New clients (another MAC range) ask for addresses while the old leases are still valid.
  const r2 = await perfdhcp(lab, [
    '-r',
    '300',
    '-R',
    '100000',
    '-p',
    '2',
    '-b',
    'mac=02:77:00:00:00:00',
    ...LINK_SELECTION,
  ]);
  await stop();
  t.ok(r2.raReceived > 0, `${r2.raReceived} ACKs after the restart`);
  const ackedAfter = acked(after);
  const reused = [...ackedAfter].filter(([ip, mac]) => ackedBefore.has(ip) && ackedBefore.get(ip) !== mac);
  t.same(reused, [], 'no address ACKed before the kill was handed to another client after it');
  t.ok(ackedAfter.size > 0);
});
