// The pool's allocator, on the real decision side (createDhcp: network plan, lease
// store, the inventory's address book): the addresses a pool never hands out, a
// reservation followed as the inventory changes, and which addresses the conflict
// check must ask the wire about.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootPlan } from '../../src/boot/decide.js';
import { buildConfig } from '../../src/config.js';
import { closeDatabase, openDatabase } from '../../src/db.js';
import { DHCP, parse } from '../../src/dhcp/codec.js';
import { fingerprintOf } from '../../src/dhcp/fingerprint.js';
import { leaseMigrations } from '../../src/dhcp/leaseStore.js';
import { handle } from '../../src/dhcp/modes.js';
import { createDhcp, type Dhcp } from '../../src/dhcp/service.js';
import { EventLog, eventMigrations } from '../../src/events.js';
import { inventoryMigrations } from '../../src/inventory/migrations.js';
import { NodeStore } from '../../src/inventory/store.js';
import { intToIp, ipToInt } from '../../src/ip.js';
import { createLogger } from '../../src/log.js';
import { macFromBytes } from '../../src/mac.js';
import { buildRequest, ipHex, type RequestSpec } from '../helpers/dhcp.js';

const SERVER = '198.18.0.1';
const turn = () => new Promise((r) => setImmediate(r));
const mac = (n: number) => `02:00:00:00:0f:${n.toString(16).padStart(2, '0')}`;

function world(t: { teardown(fn: () => unknown): void }, subnet: Record<string, unknown>, advertise?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'rj-pool-'));
  const db = openDatabase(dir, [...inventoryMigrations, ...eventMigrations, ...leaseMigrations]);
  t.teardown(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });
  const config = buildConfig(
    { dhcp: { mode: 'pool', subnets: [subnet] }, ...(advertise ? { advertise } : {}) },
    'test',
    { isRoot: true },
    dir,
  );
  const nodes = new NodeStore(db, new EventLog(db));
  const settings = { base: `http://${SERVER}:8080`, installedBoot: 'ipxe-script' } as const;
  const dhcp = createDhcp({
    config,
    db,
    nodes,
    plan: (m, node) => bootPlan({ mac: m, node: node ?? null, profile: null }, settings),
    log: createLogger({ level: 'silent' }),
    addresses: [ipToInt(SERVER)],
  }) as Dhcp;
  /** What the server does: handle, then apply the lease change. Returns the offered or acked address. */
  const run = (spec: RequestSpec): string | undefined => {
    const r = parse(buildRequest(spec));
    if (!r.ok) throw new Error(r.error);
    const req = {
      packet: r.packet,
      type: spec.type,
      mac: macFromBytes(r.packet.chaddr),
      fp: fingerprintOf(r.packet),
      from: { address: '0.0.0.0', port: 68 },
      proxyPort: false,
    };
    const out = handle(dhcp.ctx, req);
    if (out.lease) dhcp.leases.apply(out.lease);
    return out.reply && out.reply.type !== DHCP.NAK ? intToIp(out.reply.packet.yiaddr) : undefined;
  };
  const discover = (m: string, wish?: string) =>
    run({ type: DHCP.DISCOVER, mac: m, options: wish ? [[50, ipHex(wish)]] : [] });
  const request = (m: string, want: string) =>
    run({
      type: DHCP.REQUEST,
      mac: m,
      options: [
        [50, ipHex(want)],
        [54, ipHex(SERVER)],
      ],
    });
  return { dhcp, nodes, discover, request };
}

t.test('network, broadcast, our addresses and the router are never leased, asked for or not', async (t) => {
  const { dhcp, discover, request } = world(
    t,
    { cidr: '198.18.0.0/29', range: '198.18.0.0-198.18.0.7', router: '198.18.0.6' },
    '198.18.0.5',
  );
  t.same(
    [...dhcp.net.subnets[0]!.excluded].sort(),
    ['198.18.0.0', '198.18.0.7', '198.18.0.1', '198.18.0.5', '198.18.0.6'].map(ipToInt).sort(),
  );
  for (const wish of ['198.18.0.0', '198.18.0.1', '198.18.0.5', '198.18.0.6', '198.18.0.7']) {
    t.equal(request(mac(20), wish), undefined, `a REQUEST for ${wish} is refused`);
    t.equal(discover(mac(20), wish), '198.18.0.2', `a DISCOVER wishing ${wish} is offered an ordinary address`);
  }
  const got = Array.from({ length: 8 }, (_, i) => discover(mac(i + 1)));
  t.same(got.filter(Boolean).sort(), ['198.18.0.3', '198.18.0.4'], 'only the ordinary addresses, once each');
});

t.test('a /31 has no network or broadcast address to keep out (RFC 3021)', async (t) => {
  const { dhcp } = world(t, { cidr: '198.18.0.8/31', range: '198.18.0.8-198.18.0.9' });
  t.same([...dhcp.net.subnets[0]!.excluded], []);
});

t.test('a reservation leaves the pool as soon as the inventory has it, and comes back when it goes', async (t) => {
  const { nodes, discover, request } = world(t, { cidr: '198.18.0.0/24', range: '198.18.0.100-198.18.0.102' });
  t.equal(discover(mac(1)), '198.18.0.100');
  t.equal(request(mac(1), '198.18.0.100'), '198.18.0.100', 'a stranger holds .100');
  nodes.create({ name: 'n1', macs: [mac(9)], ip: '198.18.0.101' });
  nodes.create({ name: 'n2', macs: [mac(8)], ip: '198.18.0.100' });
  await turn();
  t.equal(discover(mac(2)), '198.18.0.102', 'the new reservation (.101) is skipped by the next stranger');
  t.equal(request(mac(1), '198.18.0.100'), undefined, 'renewing an address now reserved for a node is refused');
  t.not(discover(mac(1)), '198.18.0.100', 'and it is not offered to that stranger again');
  nodes.patch('n1', { ip: '198.18.0.50' });
  await turn();
  t.equal(discover(mac(3), '198.18.0.101'), '198.18.0.101', 'a released reservation is a pool address again');
});

t.test('which pool addresses have lease history (the conflict check asks about the others)', async (t) => {
  const { dhcp, discover, request } = world(t, { cidr: '198.18.0.0/24', range: '198.18.0.100-198.18.0.103' });
  const { leases } = dhcp;
  const ip = ipToInt;
  t.notOk(leases.hasHistory(ip('198.18.0.100')), 'never held');
  t.ok(leases.hasHistory(ip('198.18.0.50')), 'not a pool address: nothing to ask');
  t.equal(discover(mac(1)), '198.18.0.100');
  t.notOk(leases.hasHistory(ip('198.18.0.100')), 'an offer alone is no history: the check has not answered yet');
  leases.markChecked(ip('198.18.0.100'));
  t.ok(leases.hasHistory(ip('198.18.0.100')), 'probed free');
  t.equal(request(mac(2), '198.18.0.101'), '198.18.0.101');
  t.ok(leases.hasHistory(ip('198.18.0.101')), 'leased');
  leases.apply({ kind: 'decline', mac: mac(3), ip: ip('198.18.0.102'), seconds: 60, subnet: '198.18.0.0/24' });
  t.ok(leases.hasHistory(ip('198.18.0.102')), 'declined');
  t.notOk(leases.hasHistory(ip('198.18.0.103')));
});
