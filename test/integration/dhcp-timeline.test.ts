// Each DHCP exchange is one timeline event, written once its outcome is known, and
// the transition it causes comes after it and names it. A real udhcpc against the
// real daemon; the lease commit is made to fail by a trigger on the daemon's own
// database, so the ACK is withheld, and the timeline must say so.
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { startRackjoin, udhcpc } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const MAC = '02:00:00:00:0c:01';
const BIOS = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-O', '66', '-O', '67'];

interface Event {
  id: number;
  type: string;
  data: Record<string, any>;
}

t.test(
  'a withheld ACK is on the timeline as withheld; the pxe transition points at its exchange',
  { skip },
  async (t) => {
    const lab = await createLab(t);
    const d = await startRackjoin(t, lab, {
      dhcp: { mode: 'reservation', subnets: [{ cidr: `${lab.prefix}.0/24`, router: lab.serverIp, leaseSeconds: 600 }] },
      profiles: [{ name: 'p', loader: 'ipxe', kernel: 'k' }],
      nodes: [{ name: 'worker-01', macs: [MAC], ip: `${lab.prefix}.21`, profile: 'p' }],
    });
    const db = new Database(join(d.dataDir, 'rackjoin.db'));
    db.pragma('busy_timeout = 5000');
    t.teardown(() => db.close());
    const events = () =>
      (
        db
          .prepare(
            `SELECT e.id, e.type, e.data FROM events e JOIN nodes n ON n.id = e.node_id
           WHERE n.name = 'worker-01' ORDER BY e.id`,
          )
          .all() as { id: number; type: string; data: string }[]
      ).map((e): Event => ({ ...e, data: JSON.parse(e.data) }));

    // The disk refuses every lease write.
    db.exec(`CREATE TRIGGER refuse_leases BEFORE INSERT ON dhcp_leases
           BEGIN SELECT RAISE(ABORT, 'injected: the disk refused the write'); END`);
    const refused = await udhcpc(t, lab, MAC, BIOS);
    t.same(refused, {}, 'no ACK reached the client');
    await new Promise((r) => setTimeout(r, 200));
    const during = events();
    const withheld = during.filter((e) => e.type === 'dhcp.request');
    t.ok(withheld.length >= 1, 'each REQUEST is on the timeline');
    t.match(withheld[0]!.data, {
      received: 'REQUEST',
      withheld: { type: 'ACK', reason: /^lease commit failed: injected: the disk refused the write/ },
    });
    t.notOk('sent' in withheld[0]!.data, 'nothing claims the ACK was sent');
    t.equal(during.filter((e) => e.type === 'dhcp.ack').length, 0, 'no dhcp.ack event');
    const offer = during.find((e) => e.type === 'dhcp.offer')!;
    t.match(offer.data, { sent: { type: 'OFFER', file: 'undionly.kpxe' } });
    const pxe = during.find((e) => e.type === 'state' && e.data.to === 'pxe')!;
    t.ok(pxe.id > offer.id, 'the transition comes after the exchange');
    t.equal(pxe.data.cause, offer.id, 'and names it');
    t.equal(during.filter((e) => e.type === 'state').length, 1, 'one transition');

    // The disk is back: the next attempt is granted, and recorded as sent.
    db.exec('DROP TRIGGER refuse_leases');
    const lease = await udhcpc(t, lab, MAC, BIOS);
    t.equal(lease.ip, `${lab.prefix}.21`);
    await new Promise((r) => setTimeout(r, 200));
    const ack = events().find((e) => e.type === 'dhcp.ack')!;
    t.match(ack.data, { sent: { type: 'ACK', yiaddr: `${lab.prefix}.21`, file: 'undionly.kpxe' } });
    t.notOk('withheld' in ack.data);
    t.same(db.prepare('SELECT ip, mac FROM dhcp_leases').all(), [{ ip: `${lab.prefix}.21`, mac: MAC }]);
  },
);
