import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inventoryMigrations } from '../../src/inventory/migrations.js';
import { closeDatabase, openDatabase, type Db } from '../../src/db.js';
import { ipToInt } from '../../src/ip.js';
import { LeaseStore, leaseMigrations } from '../../src/dhcp/leaseStore.js';

const A = 'aa:00:00:00:00:01';
const B = 'aa:00:00:00:00:02';
const ip = ipToInt;

function setup(t: { teardown(fn: () => unknown): void }): {
  db: Db;
  dir: string;
  clock: { now: number };
  store: () => LeaseStore;
} {
  const dir = mkdtempSync(join(tmpdir(), 'rj-leases-'));
  const db = openDatabase(dir, [...inventoryMigrations, ...leaseMigrations]);
  t.teardown(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = { now: 1_000_000 };
  return {
    db,
    dir,
    clock,
    store: () => {
      const s = new LeaseStore(db, () => clock.now);
      s.addRange(ip('198.18.0.10'), ip('198.18.0.12'));
      return s;
    },
  };
}

const none = () => false;
const LO = ip('198.18.0.0');
const HI = ip('198.18.0.255');

t.test('free addresses run upwards and skip what is held', async (t) => {
  const { store } = setup(t);
  const s = store();
  const a = s.free(A, LO, HI, none)!;
  t.equal(a, ip('198.18.0.10'));
  s.offer(A, a, 30_000);
  const b = s.free(B, LO, HI, none)!;
  t.equal(b, ip('198.18.0.11'), 'an offered address is held');
  s.offer(B, b, 30_000);
  t.equal(
    s.free('aa:00:00:00:00:03', LO, HI, (x) => x === ip('198.18.0.12')),
    null,
    'a reserved address is never pooled; range exhausted',
  );
  t.equal(s.free(B, ip('198.19.0.0'), ip('198.19.0.255'), none), null, 'ranges outside the subnet are not used');
});

t.test('offers expire and free their address', async (t) => {
  const { store, clock } = setup(t);
  const s = store();
  for (const [mac, n] of [
    [A, 10],
    [B, 11],
    ['aa:00:00:00:00:03', 12],
  ] as const) {
    const got = s.free(mac, LO, HI, none)!;
    t.equal(got, ip(`198.18.0.${n}`));
    s.offer(mac, got, 30_000);
  }
  t.equal(s.free('aa:00:00:00:00:04', LO, HI, none), null, 'exhausted');
  clock.now += 31_000;
  t.equal(s.holder(ip('198.18.0.10')), undefined, 'offer expired');
  t.ok(s.free('aa:00:00:00:00:04', LO, HI, none), 'addresses come back after the hold');
});

t.test('a lease is on disk once committed and survives a restart', async (t) => {
  const { store, db } = setup(t);
  const s = store();
  s.offer(A, ip('198.18.0.10'), 30_000);
  s.bind(A, ip('198.18.0.10'), 600, '198.18.0.0/24', 'w1');
  t.equal(db.prepare('SELECT count(*) FROM dhcp_leases').pluck().get(), 0, 'not written before it is committed');
  t.equal(s.pending, 1);
  s.commit();
  t.same(db.prepare('SELECT ip, mac, state, hostname FROM dhcp_leases').all(), [
    { ip: '198.18.0.10', mac: A, state: 'bound', hostname: 'w1' },
  ]);
  const again = store();
  t.equal(again.leaseOf(A)?.ip, ip('198.18.0.10'), 'reloaded');
  t.same(again.holder(ip('198.18.0.10')), { kind: 'lease', mac: A });
  t.equal(again.free(B, LO, HI, none), ip('198.18.0.11'), 'the leased address is not handed to another client');
});

t.test('expiry, release and decline', async (t) => {
  const { store, clock, db } = setup(t);
  const s = store();
  s.bind(A, ip('198.18.0.10'), 60, '198.18.0.0/24', null);
  clock.now += 61_000;
  t.equal(s.leaseOf(A), undefined, 'expired lease is not live');
  t.ok(s.availableTo(ip('198.18.0.10'), B), 'and its address is free');
  t.equal(s.sweep(), 1);
  s.commit();
  t.equal(db.prepare('SELECT count(*) FROM dhcp_leases').pluck().get(), 0, 'sweep deletes the row');

  s.bind(A, ip('198.18.0.10'), 600, '198.18.0.0/24', null);
  t.notOk(s.release(B, ip('198.18.0.10')), 'only the holder may release');
  t.ok(s.release(A, ip('198.18.0.10')));
  t.equal(s.leaseOf(A), undefined);
  s.commit();
  t.equal(db.prepare('SELECT count(*) FROM dhcp_leases').pluck().get(), 0);

  s.bind(A, ip('198.18.0.11'), 600, '198.18.0.0/24', null);
  s.decline(A, ip('198.18.0.11'), 3600, '198.18.0.0/24');
  t.same(s.holder(ip('198.18.0.11')), { kind: 'declined', mac: A });
  t.notOk(s.availableTo(ip('198.18.0.11'), A), 'quarantined even for the decliner');
  const got = new Set([s.free(B, LO, HI, none), s.free('aa:00:00:00:00:09', LO, HI, none)]);
  t.notOk(got.has(ip('198.18.0.11')));
  s.commit();
  t.equal(
    db.prepare("SELECT state FROM dhcp_leases WHERE ip = '198.18.0.11'").pluck().get(),
    'declined',
    'quarantine is durable',
  );
  clock.now += 3601_000;
  s.sweep();
  t.ok(s.availableTo(ip('198.18.0.11'), B), 'quarantine ends');
});

t.test('a client moving to another address frees the old one', async (t) => {
  const { store, db } = setup(t);
  const s = store();
  s.bind(A, ip('198.18.0.10'), 600, '198.18.0.0/24', null);
  s.bind(A, ip('198.18.0.12'), 600, '198.18.0.0/24', null);
  t.equal(s.holder(ip('198.18.0.10')), undefined);
  s.commit();
  t.same(db.prepare('SELECT ip, mac FROM dhcp_leases').all(), [{ ip: '198.18.0.12', mac: A }], 'one lease left');
});

t.test('a failed commit stays queued and the next commit writes the newest state', async (t) => {
  const { store, db } = setup(t);
  const s = store();
  s.bind(A, ip('198.18.0.10'), 600, '198.18.0.0/24', null);
  s.bind(B, ip('198.18.0.11'), 600, '198.18.0.0/24', null);
  db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON dhcp_leases BEGIN SELECT RAISE(ABORT, 'disk says no'); END`);
  t.throws(() => s.commit(), /disk says no/);
  t.equal(s.pending, 2, 'both changes still queued');
  t.equal(db.prepare('SELECT count(*) FROM dhcp_leases').pluck().get(), 0, 'nothing half-written');
  db.exec('DROP TRIGGER refuse');
  s.release(B, ip('198.18.0.11')); // newer than the failed write of .11
  s.commit();
  t.equal(s.pending, 0);
  t.same(
    db.prepare('SELECT ip, mac FROM dhcp_leases').all(),
    [{ ip: '198.18.0.10', mac: A }],
    '.10 written, .11 stays released',
  );
});

t.test('a commit inside an open transaction is refused: it would not be on disk when it returns', async (t) => {
  const { store, db } = setup(t);
  const s = store();
  s.bind(A, ip('198.18.0.10'), 600, '198.18.0.0/24', null);
  db.transaction(() => t.throws(() => s.commit(), /inside an open transaction/))();
  t.equal(s.pending, 1, 'still queued');
  s.commit();
  t.equal(db.prepare('SELECT count(*) FROM dhcp_leases').pluck().get(), 1);
});

t.test('unchecked: the next addresses the pool hands out that still need a conflict check', async (t) => {
  const { db, clock } = setup(t);
  const s = new LeaseStore(db, () => clock.now);
  s.addRange(ip('198.18.0.10'), ip('198.18.0.19'));
  const range = (n: number) => Array.from({ length: n }, (_, i) => ip(`198.18.0.${10 + i}`));
  t.same(s.unchecked(LO, HI, 3, 10, none), range(3), 'in the order free() hands them out');
  t.same(s.unchecked(LO, HI, 3, 10, none), range(6).slice(3), 'each address is looked at once');
  t.same(s.unchecked(LO, HI, 100, 8, none), range(8).slice(6), 'never deeper than `depth` ahead');
  s.offer(A, s.free(A, LO, HI, none)!, 30_000);
  t.same(s.unchecked(LO, HI, 100, 9, none), [ip('198.18.0.18')], 'the window moves with the pool');

  const fresh = new LeaseStore(db, () => clock.now);
  fresh.addRange(ip('198.18.0.10'), ip('198.18.0.19'));
  fresh.markChecked(ip('198.18.0.10'));
  fresh.offer(B, ip('198.18.0.11'), 30_000);
  const skip = (a: number) => a === ip('198.18.0.12');
  t.same(fresh.unchecked(LO, HI, 2, 10, skip), [ip('198.18.0.13'), ip('198.18.0.14')], 'not checked, held or skipped');
  const narrow = new LeaseStore(db, () => clock.now);
  narrow.addRange(ip('198.18.0.10'), ip('198.18.0.19'));
  t.same(narrow.unchecked(LO, ip('198.18.0.12'), 10, 10, none), range(3), 'only within [lo, hi]');
});

t.test('dhcp-004 keeps every lease of an older database and keys the table by address alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-leases-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const before = leaseMigrations.filter((m) => m.id !== 'dhcp-004-leases-by-address');
  const old = openDatabase(dir, [...inventoryMigrations, ...before]);
  const insert = old.prepare('INSERT INTO dhcp_leases VALUES (?, ?, ?, ?, ?, ?, ?)');
  insert.run('198.18.0.10', A, 'bound', '198.18.0.0/24', 'w1', 1, 2_000_000);
  insert.run('198.18.0.11', B, 'declined', '198.18.0.0/24', null, 1, 2_000_000);
  closeDatabase(old);

  const db = openDatabase(dir, [...inventoryMigrations, ...leaseMigrations]);
  t.teardown(() => closeDatabase(db));
  t.same(db.prepare('SELECT ip, mac, state, hostname FROM dhcp_leases ORDER BY ip').all(), [
    { ip: '198.18.0.10', mac: A, state: 'bound', hostname: 'w1' },
    { ip: '198.18.0.11', mac: B, state: 'declined', hostname: null },
  ]);
  const sql = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'dhcp_leases'").pluck().get() as string;
  t.match(sql, /WITHOUT ROWID/);
  t.same(
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dhcp_leases'").all(),
    [],
    'one b-tree: no index beside the table',
  );
  const s = new LeaseStore(db, () => 1_000_000);
  t.equal(s.leaseOf(A)?.ip, ip('198.18.0.10'), 'the store loads them');
});
