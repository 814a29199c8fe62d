// The server's plumbing on loopback, no namespaces: ProxyDHCP answers on the
// 4011 socket go back to the sender, so high ports on 127.0.0.1 are enough to
// see counters, the exchanges recorded (written by the lifecycle, each before
// the transition it causes) and clean shutdown.
import t from 'tap';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config.js';
import { closeDatabase, openDatabase } from '../../src/db.js';
import { bootPlan } from '../../src/boot/decide.js';
import { DHCP, parse } from '../../src/dhcp/codec.js';
import type { ExchangeRecord } from '../../src/dhcp/exchange.js';
import { startDhcpServer } from '../../src/dhcp/server.js';
import { createDhcp } from '../../src/dhcp/service.js';
import { EventLog } from '../../src/events.js';
import { Inventory } from '../../src/inventory/index.js';
import type { Node } from '../../src/inventory/store.js';
import { Lifecycle } from '../../src/lifecycle/lifecycle.js';
import { createLogger } from '../../src/log.js';
import { MIGRATIONS } from '../../src/parts.js';
import { buildRequest, CAPTURED } from '../helpers/dhcp.js';

const MAC = '52:54:00:0e:00:02';

// Conflict checks run in pool mode only.
const NO_PROBES = {
  probes: { arp: 0, icmp: 0 },
  conflicts: { arp: 0, icmp: 0 },
  unchecked: { arp: 0, icmp: 0 },
};

t.test('proxy server on loopback: 4011 answers, counters, events, callback', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-dhcp-server-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'inv'));
  writeFileSync(
    join(dir, 'inv', 'lab.yaml'),
    JSON.stringify({
      profiles: [{ name: 'p', loader: 'ipxe', kernel: 'k' }],
      nodes: [{ name: 'w1', macs: [MAC], profile: 'p' }],
    }),
  );
  const log = createLogger({ level: 'silent' });
  const db = openDatabase(join(dir, 'data'), MIGRATIONS);
  const events = new EventLog(db);
  const inventory = new Inventory(db, events, join(dir, 'inv'), log, () => []);
  inventory.reload();
  const timeouts = { pxe: 600, install: 3600, join: 900 };
  const lifecycle = new Lifecycle({ db, nodes: inventory.nodes, events, timeouts, log });
  const port = 20000 + (process.pid % 20000);
  const config = buildConfig(
    { advertise: '127.0.0.1', dhcp: { mode: 'proxy', port, proxyPort: port + 1 } },
    'test',
    { isRoot: true },
    dir,
  );
  const settings = { base: 'http://127.0.0.1:8080', installedBoot: config.dhcp.installedBoot };
  const plan = (mac: string, node: Node | undefined) =>
    bootPlan({ mac, node: node ?? null, profile: node ? inventory.nodes.profileOf(node) : null }, settings);
  const dhcp = createDhcp({ config, db, nodes: inventory.nodes, plan, log, addresses: [0x7f000001] });
  const recorded: ExchangeRecord[] = [];
  const server = await startDhcpServer({
    config,
    dhcp,
    log,
    record: (records) => {
      recorded.push(...records);
      lifecycle.observeAll(records.map((r) => ({ node: r, obs: { kind: 'dhcp', exchange: r.exchange } })));
    },
  });

  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  const replies: Buffer[] = [];
  client.on('message', (m) => replies.push(m));
  const send = (buf: Buffer, to: number) => new Promise<void>((r) => client.send(buf, to, '127.0.0.1', () => r()));

  await send(buildRequest({ type: DHCP.REQUEST, mac: MAC, ciaddr: '127.0.0.1', options: CAPTURED.edk2 }), port + 1);
  await send(Buffer.from('garbage'), port);
  await send(buildRequest({ type: DHCP.DISCOVER, mac: '02:00:00:00:00:99', options: CAPTURED.edk2 }), port);
  await send(buildRequest({ type: DHCP.DISCOVER, mac: '02:00:00:00:00:98', options: CAPTURED.udhcpc }), port);
  const deadline = Date.now() + 3000;
  while ((replies.length < 1 || server.stats().received.discover !== 2) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 50)); // let the group commit run

  t.equal(replies.length, 1, 'the 4011 REQUEST got one reply, back at the sender');
  const ack = parse(replies[0]!);
  t.ok(ack.ok && ack.packet.file === 'ipxe.efi' && ack.packet.options.get(53)![0] === DHCP.ACK);
  t.same(server.stats(), {
    received: { request: 1, invalid: 1, discover: 2 },
    sent: { ack: 1 },
    dropped: { short: 1, 'unknown-mac': 1, 'not-netboot': 1 },
    relayAgentInfoMalformed: 0,
    ...NO_PROBES,
    leaseCommits: 0,
    leaseCommitSeconds: 0,
  });
  const offers = recorded.filter((r) => r.exchange.bootFile !== null);
  t.equal(offers.length, 1);
  t.match(offers[0], {
    mac: MAC,
    exchange: {
      mode: 'proxy',
      bootFile: 'ipxe.efi',
      data: { sent: { type: 'ACK', yiaddr: '0.0.0.0', sname: '127.0.0.1' }, arch: { name: 'x64 UEFI' } },
    },
  });
  t.notOk('77 user-class' in (offers[0]!.exchange.data.in as object), 'not iPXE');
  const w1 = inventory.nodes.get('w1')!;
  const timeline = events.list(w1.id);
  t.match(timeline, [
    {
      type: 'dhcp.proxy-ack',
      source: 'dhcp',
      data: { received: 'REQUEST', port: port + 1, sent: { file: 'ipxe.efi' } },
    },
    { type: 'state', data: { from: 'registered', to: 'pxe', cause: timeline[0]!.id } },
  ]);
  t.equal(timeline.length, 2, 'one event for the exchange, one for the transition it caused, in that order');
  const discovered = inventory.nodes.findByMac('02:00:00:00:00:99');
  t.equal(discovered?.state, 'discovered', 'unknown PXE client recorded');
  t.match(events.list(discovered!.id), [
    { type: 'dhcp.discover', data: { dropped: 'unknown-mac', reason: 'unknown MAC' } },
  ]);
  t.equal(inventory.nodes.findByMac('02:00:00:00:00:98'), undefined, 'a non-PXE stranger is not recorded');

  client.close();
  await server.close();
  closeDatabase(db);
});

t.test('mode off starts nothing', async (t) => {
  const config = buildConfig({ dhcp: { mode: 'off' } }, 'test', { isRoot: true }, tmpdir());
  const log = createLogger({ level: 'silent' });
  const dhcp = createDhcp({ config, db: undefined as never, nodes: undefined as never, plan: undefined as never, log });
  t.equal(dhcp, null, 'no decider');
  const server = await startDhcpServer({ config, dhcp, log, record: () => {} });
  t.same(server.stats(), {
    received: {},
    sent: {},
    dropped: {},
    relayAgentInfoMalformed: 0,
    ...NO_PROBES,
    leaseCommits: 0,
    leaseCommitSeconds: 0,
  });
  await server.close();
});
