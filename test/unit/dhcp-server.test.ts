// The server's plumbing on loopback, no namespaces: ProxyDHCP answers on the
// 4011 socket go back to the sender, so high ports on 127.0.0.1 are enough to
// see counters, timeline events, the boot-offer callback and clean shutdown.
import t from 'tap';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config.js';
import { closeDatabase, openDatabase } from '../../src/db.js';
import { DHCP, parse } from '../../src/dhcp/codec.js';
import { leaseMigrations } from '../../src/dhcp/leaseStore.js';
import { startDhcpServer, type BootOfferDetails } from '../../src/dhcp/server.js';
import { EventLog } from '../../src/events.js';
import { Inventory } from '../../src/inventory/index.js';
import { inventoryMigrations } from '../../src/inventory/migrations.js';
import type { Node } from '../../src/inventory/store.js';
import { createLogger } from '../../src/log.js';
import { buildRequest, CAPTURED } from '../helpers/dhcp.js';

const MAC = '52:54:00:0e:00:02';

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
  const db = openDatabase(join(dir, 'data'), [...inventoryMigrations, ...leaseMigrations]);
  const inventory = new Inventory(db, join(dir, 'inv'), log);
  inventory.reload();
  const events = new EventLog(db);
  const port = 20000 + (process.pid % 20000);
  const config = buildConfig(
    { advertise: '127.0.0.1', dhcp: { mode: 'proxy', port, proxyPort: port + 1 } },
    'test',
    { isRoot: true },
    dir,
  );
  const offers: [Node, BootOfferDetails][] = [];
  const server = await startDhcpServer({
    config,
    db,
    nodes: inventory.nodes,
    events,
    log,
    httpPort: 8080,
    addresses: [0x7f000001],
    onBootOffer: (node, details) => offers.push([node, details]),
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
  });
  t.equal(offers.length, 1);
  t.match(offers[0], [
    { name: 'w1' },
    { reply: 'ACK', proxy: true, bootFile: 'ipxe.efi', transport: 'tftp', arch: 'x64 UEFI', ipxe: false, yiaddr: null },
  ]);
  const w1 = inventory.nodes.get('w1')!;
  t.match(events.list(w1.id), [
    {
      type: 'dhcp.proxy-ack',
      source: 'dhcp',
      data: { received: 'REQUEST', port: port + 1, sent: { file: 'ipxe.efi' } },
    },
  ]);
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
  const server = await startDhcpServer({
    config,
    db: undefined as never,
    nodes: undefined as never,
    events: undefined as never,
    log: createLogger({ level: 'silent' }),
    httpPort: 8080,
  });
  t.same(server.stats(), { received: {}, sent: {}, dropped: {} });
  await server.close();
});
