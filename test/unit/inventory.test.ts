import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { openDatabase, closeDatabase } from '../../src/db.js';
import { EventLog } from '../../src/events.js';
import { Lifecycle } from '../../src/lifecycle/lifecycle.js';
import { createLogger } from '../../src/log.js';
import { MIGRATIONS } from '../../src/parts.js';
import { parseInventory, InventoryFileError } from '../../src/inventory/files.js';
import { InventoryError, NodeStore } from '../../src/inventory/store.js';
import { importInventory, reloadFiles } from '../../src/inventory/sync.js';

const profile = { name: 'p1', kernel: 'k', installer: 'none' };

function fixture(t: { teardown(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'rj-inv-'));
  const db = openDatabase(dir, MIGRATIONS);
  t.teardown(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });
  const events = new EventLog(db);
  const store = new NodeStore(db, events);
  const file = (name: string, doc: unknown) => parseInventory(typeof doc === 'string' ? doc : stringify(doc), name);
  const log = createLogger({ level: 'silent' });
  const lifecycle = new Lifecycle({ db, nodes: store, events, timeouts: { pxe: 600, install: 3600, join: 900 }, log });
  return { db, store, file, events, lifecycle };
}

t.test('parse errors carry file and line', async (t) => {
  const { file } = fixture(t);
  t.throws(() => file('a.yaml', 'nodes:\n  - name: w1\n    macs: [52:54:00:00:00:01\n'), InventoryFileError);
  t.throws(() => file('a.yaml', 'nodes:\n  - name: w1\n    macs: [52:54:00:00:00:01\n'), /a\.yaml:\d+: not valid YAML/);
  const bad =
    'profiles:\n  - name: p1\n    kernel: k\nnodes:\n  - name: w1\n    macs: ["52:54:00:00:00:01"]\n  - name: w2\n    macs: ["not-a-mac"]\n';
  t.throws(() => file('b.yaml', bad), /b\.yaml:8: nodes\[1\]\.macs\[0\]: must match pattern/);
  t.throws(
    () => file('c.yaml', 'nodes:\n  - name: w1\n    macs: ["52:54:00:00:00:01"]\n    colour: red\n'),
    /c\.yaml:4: nodes\[0\]\.colour: unknown key$/,
  );
  t.throws(
    () => file('c2.yaml', 'nodes:\n  - name: w1\n    macs: ["52:54:00:00:00:01"]\n    lables: {}\n'),
    /c2\.yaml:4: nodes\[0\]\.lables: unknown key \(did you mean "labels"\?\)/,
  );
  t.throws(() => file('d.yaml', ''), /d\.yaml: file is empty/);
  t.throws(
    () => file('e.yaml', 'nodes:\n  - name: Worker_1\n    macs: ["52:54:00:00:00:01"]\n'),
    /e\.yaml:2: nodes\[0\]\.name/,
  );
  t.throws(() => file('f.yaml', 'nodes: []\nnodes: []\n'), /f\.yaml:2: not valid YAML: Map keys must be unique/);
});

t.test('reload adds, updates and removes file nodes, keeping their progress', async (t) => {
  const { store, file, lifecycle } = fixture(t);
  const v1 = file('inv.yaml', {
    profiles: [profile],
    nodes: [
      { name: 'w1', macs: ['52:54:00:00:00:01'], ip: '198.18.0.21', profile: 'p1' },
      { name: 'w2', macs: ['52-54-00-00-00-02'] },
    ],
  });
  const s1 = reloadFiles(store, [v1]);
  t.same(s1.nodes.added, ['w1', 'w2']);
  t.equal(store.get('52:54:00:00:00:02')?.name, 'w2', 'MACs normalised');
  const w1 = store.get('w1')!;
  lifecycle.observe(w1, { kind: 'callback', stage: 'installing', client: 'test' });

  const v2 = file('inv.yaml', {
    profiles: [profile],
    nodes: [
      {
        name: 'w1',
        macs: ['52:54:00:00:00:01', '52:54:00:00:00:11'],
        ip: '198.18.0.21',
        profile: 'p1',
        labels: { rack: 'r1' },
      },
    ],
  });
  const s2 = reloadFiles(store, [v2]);
  t.same(s2.nodes.updated, ['w1']);
  t.same(s2.nodes.removed, ['w2']);
  const after = store.get('52:54:00:00:00:11')!;
  t.equal(after.name, 'w1');
  t.equal(after.state, 'installing', 'runtime state survives a reload');
  t.same(after.labels, { rack: 'r1' });
  t.same(reloadFiles(store, [v2]).nodes.updated, [], 'an unchanged file changes nothing');
});

t.test('conflicts name both sides and leave the database as it was', async (t) => {
  const { store, file } = fixture(t);
  reloadFiles(store, [
    file('a.yaml', { profiles: [profile], nodes: [{ name: 'w1', macs: ['52:54:00:00:00:01'], ip: '198.18.0.21' }] }),
  ]);
  const api = store.create({ name: 'api-1', macs: ['52:54:00:00:00:09'], ip: '198.18.0.29' });

  const dupMac = [
    file('a.yaml', { profiles: [profile], nodes: [{ name: 'w1', macs: ['52:54:00:00:00:01'] }] }),
    file('b.yaml', { nodes: [{ name: 'w2', macs: ['52:54:00:00:00:01'] }] }),
  ];
  t.throws(
    () => reloadFiles(store, dupMac),
    /MAC 52:54:00:00:00:01 is claimed by node w1 \(a\.yaml:\d+\) and node w2 \(b\.yaml:\d+\)/,
  );
  const dupIp = [
    file('a.yaml', {
      nodes: [
        { name: 'w1', macs: ['52:54:00:00:00:01'], ip: '198.18.0.5' },
        { name: 'w2', macs: ['52:54:00:00:00:02'], ip: '198.18.0.5' },
      ],
    }),
  ];
  t.throws(() => reloadFiles(store, dupIp), /IP 198\.18\.0\.5 is reserved for node w1 .* and node w2/);
  const stealApiMac = [
    file('a.yaml', { profiles: [profile], nodes: [{ name: 'w1', macs: ['52:54:00:00:00:01', '52:54:00:00:00:09'] }] }),
  ];
  t.throws(
    () => reloadFiles(store, stealApiMac),
    /MAC 52:54:00:00:00:09 already belongs to node api-1 \(created via the API\)/,
  );
  const stealApiName = [
    file('a.yaml', { profiles: [profile], nodes: [{ name: 'api-1', macs: ['52:54:00:00:00:07'] }] }),
  ];
  t.throws(() => reloadFiles(store, stealApiName), /node api-1 \(created via the API\)/);
  const missingProfile = [file('a.yaml', { nodes: [{ name: 'w1', macs: ['52:54:00:00:00:01'], profile: 'nope' }] })];
  t.throws(() => reloadFiles(store, missingProfile), /profile nope does not exist/);

  t.same(
    store.list().map((n) => n.name),
    ['api-1', 'w1'],
    'nothing changed',
  );
  t.equal(store.get('w1')!.ip, '198.18.0.21');
  t.equal(store.get(api.name)!.source, 'api');
});

t.test('a profile still used by an API node cannot vanish from the files', async (t) => {
  const { store, file } = fixture(t);
  reloadFiles(store, [file('a.yaml', { profiles: [profile] })]);
  store.create({ name: 'api-1', macs: ['52:54:00:00:00:09'], profile: 'p1' });
  t.throws(
    () => reloadFiles(store, [file('a.yaml', { nodes: [] })]),
    /profile p1 .* node api-1 \(created via the API\) still use/,
  );
  t.ok(store.getProfile('p1'));
});

t.test('discovered MACs are adopted with their timeline', async (t) => {
  const { store, file, events } = fixture(t);
  const d = store.recordDiscovered('52:54:00:00:00:05');
  t.equal(d.state, 'discovered');
  t.equal(store.recordDiscovered('52:54:00:00:00:05').id, d.id, 'idempotent');
  events.record(d.id, 'dhcp.discover', 'dhcp', { arch: 0 });
  const s = reloadFiles(store, [
    file('a.yaml', { profiles: [profile], nodes: [{ name: 'w5', macs: ['52:54:00:00:00:05'], profile: 'p1' }] }),
  ]);
  t.same(s.nodes.adopted, [d.name]);
  const w5 = store.get('52:54:00:00:00:05')!;
  t.equal(w5.name, 'w5');
  t.equal(w5.state, 'registered');
  t.same(
    events.list(w5.id).map((e) => e.type),
    ['dhcp.discover'],
    'timeline moved to the real node',
  );
  t.equal(store.get(d.name), undefined);
});

t.test('API ownership: file nodes are read-only through the API', async (t) => {
  const { store, file } = fixture(t);
  reloadFiles(store, [file('a.yaml', { profiles: [profile], nodes: [{ name: 'w1', macs: ['52:54:00:00:00:01'] }] })]);
  t.throws(() => store.patch('w1', { labels: { a: 'b' } }), InventoryError);
  t.throws(() => store.patch('w1', { labels: { a: 'b' } }), { code: 'conflict' });
  t.throws(() => store.delete('52:54:00:00:00:01'), /managed by its inventory file/);
  const n = store.create({ name: 'api-1', macs: ['52:54:00:00:00:09'] });
  t.equal(store.patch('API-1'.toLowerCase(), { profile: 'p1', ip: '198.18.0.9' }).ip, '198.18.0.9');
  t.throws(
    () => store.create({ name: 'api-2', macs: ['52:54:00:00:00:09'] }),
    /MAC 52:54:00:00:00:09 already belongs to node api-1/,
  );
  t.throws(() => store.create({ name: 'api-1', macs: ['52:54:00:00:00:19'] }), /already exists/);
  t.throws(() => store.patch('api-1', { ip: null, macs: ['bogus'] }), /"bogus" is not a MAC/);
  t.equal(store.get('api-1')!.ip, '198.18.0.9', 'failed patch changed nothing');
  store.delete(n.name);
  t.equal(store.get('api-1'), undefined);
});

t.test('import brings YAML in as API-owned records and never deletes', async (t) => {
  const { store, file } = fixture(t);
  const s = importInventory(store, [
    file('x.yaml', { profiles: [profile], nodes: [{ name: 'imp-1', macs: ['52:54:00:00:00:31'], profile: 'p1' }] }),
  ]);
  t.same(s.nodes.added, ['imp-1']);
  t.equal(store.get('imp-1')!.source, 'api');
  reloadFiles(store, []);
  t.ok(store.get('imp-1'), 'a reload of an empty inventory dir keeps imported nodes');
  t.throws(
    () => reloadFiles(store, [file('a.yaml', { profiles: [profile] })]),
    /profile p1 .* already managed by the API/,
  );
});
