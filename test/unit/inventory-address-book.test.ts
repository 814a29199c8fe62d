import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeDatabase, openDatabase } from '../../src/db.js';
import { EventLog, eventMigrations } from '../../src/events.js';
import { AddressBook } from '../../src/inventory/addressBook.js';
import { ipToInt } from '../../src/ip.js';
import { inventoryMigrations } from '../../src/inventory/migrations.js';
import { NodeStore } from '../../src/inventory/store.js';

const turn = () => new Promise((r) => setImmediate(r));

t.test('the in-memory address book follows every inventory change', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-view-'));
  const db = openDatabase(dir, [...inventoryMigrations, ...eventMigrations]);
  t.teardown(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });
  const nodes = new NodeStore(db, new EventLog(db));
  const view = new AddressBook(nodes);
  t.equal(view.nodeByMac('02:00:00:00:00:01'), undefined);

  const a = nodes.create({ name: 'a', macs: ['02:00:00:00:00:01'], ip: '198.18.0.21' });
  await turn();
  t.equal(view.nodeByMac('02:00:00:00:00:01')?.name, 'a', 'a new node is seen');
  t.ok(view.reservedByOther(ipToInt('198.18.0.21'), null));
  t.notOk(view.reservedByOther(ipToInt('198.18.0.21'), a.id), 'not reserved against its own node');

  nodes.patch('a', { ip: '198.18.0.22', macs: ['02:00:00:00:00:02'] });
  await turn();
  t.notOk(view.reservedByOther(ipToInt('198.18.0.21'), null), 'old reservation gone');
  t.ok(view.reservedByOther(ipToInt('198.18.0.22'), null));
  t.equal(view.nodeByMac('02:00:00:00:00:01'), undefined, 'old MAC gone');
  t.equal(view.nodeByMac('02:00:00:00:00:02')?.name, 'a');

  nodes.delete('a');
  await turn();
  t.equal(view.nodeByMac('02:00:00:00:00:02'), undefined, 'deleted');
  t.notOk(view.reservedByOther(ipToInt('198.18.0.22'), null));
});
