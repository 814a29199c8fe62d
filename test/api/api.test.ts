// The operator API in-process (fastify inject): auth, validation, ownership, reload, import, docs.
import t from 'tap';
import { maskSecrets } from '../../src/boot/urls.js';
import { EXAMPLE_PROFILE, TOKENS } from '../helpers/daemon.js';
import { inProcessApp } from '../helpers/inproc.js';

async function setup(t: { teardown(fn: () => unknown): void }) {
  return inProcessApp(t, {
    profiles: [EXAMPLE_PROFILE],
    nodes: [
      {
        name: 'worker-01',
        macs: ['52:54:00:00:00:01'],
        ip: '198.18.0.21',
        profile: 'ubuntu-worker',
        labels: { rack: 'r1' },
      },
      { name: 'worker-02', macs: ['52:54:00:00:00:02'], profile: 'ubuntu-worker', labels: { rack: 'r2' } },
    ],
  });
}

t.test('auth: 401 without a token, 403 for a read token on writes', async (t) => {
  const { call } = await setup(t);
  const anon = await call('GET', '/api/v1/nodes');
  t.equal(anon.status, 401);
  t.same(Object.keys(anon.body).sort(), ['error', 'message']);
  t.equal((await call('GET', '/api/v1/nodes', { token: 'wrong-token-wrong-token' })).status, 401);
  t.equal((await call('GET', '/api/v1/nodes', { token: TOKENS.read })).status, 200);
  const denied = await call('POST', '/api/v1/nodes', {
    token: TOKENS.read,
    body: { name: 'x', macs: ['52:54:00:00:00:99'] },
  });
  t.equal(denied.status, 403);
  t.match(denied.body.message, /scope read; this needs admin/);
  t.equal((await call('GET', '/healthz')).status, 200, 'health needs no token');
});

t.test('list with filters; get by name or any MAC spelling', async (t) => {
  const { call } = await setup(t);
  const all = await call('GET', '/api/v1/nodes', { token: TOKENS.read });
  t.same(
    all.body.nodes.map((n: { name: string }) => n.name),
    ['worker-01', 'worker-02'],
  );
  const r2 = await call('GET', '/api/v1/nodes?label=rack=r2', { token: TOKENS.read });
  t.same(
    r2.body.nodes.map((n: { name: string }) => n.name),
    ['worker-02'],
  );
  t.same((await call('GET', '/api/v1/nodes?state=joined', { token: TOKENS.read })).body.nodes, []);
  t.equal((await call('GET', '/api/v1/nodes?state=bogus', { token: TOKENS.read })).status, 400);
  t.equal((await call('GET', '/api/v1/nodes?label=norack', { token: TOKENS.read })).status, 400);
  for (const id of [
    'worker-01',
    '52:54:00:00:00:01',
    '52-54-00-00-00-01',
    '525400000001',
    '52:54:00:00:00:01'.toUpperCase(),
  ]) {
    const one = await call('GET', `/api/v1/nodes/${encodeURIComponent(id)}`, { token: TOKENS.read });
    t.equal(one.body.name, 'worker-01', id);
  }
  const one = await call('GET', '/api/v1/nodes/worker-01', { token: TOKENS.read });
  t.equal(one.body.state, 'registered');
  t.ok(one.body.stages.registered);
  t.notOk('token' in one.body, 'the node secret is never part of the view');
  t.equal((await call('GET', '/api/v1/nodes/nope', { token: TOKENS.read })).status, 404);
});

t.test('create, patch, delete; bad input is a 4xx with a message', async (t) => {
  const { call } = await setup(t);
  const created = await call('POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-01', macs: ['52-54-00-AA-00-01'], profile: 'ubuntu-worker', ip: '198.18.0.41' },
  });
  t.equal(created.status, 201);
  t.same(created.body.macs, ['52:54:00:aa:00:01']);
  t.equal(created.body.source, 'api');

  const badMac = await call('POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-02', macs: ['52:54:00:zz:00:01'] },
  });
  t.equal(badMac.status, 400);
  t.match(badMac.body.message, /macs\/0|macs\.0|macs/);
  const unknownKey = await call('POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-02', macs: ['52:54:00:00:aa:02'], colour: 'red' },
  });
  t.equal(unknownKey.status, 400);
  t.match(unknownKey.body.message, /colour: unknown key$/);
  const typo = await call('POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-02', macs: ['52:54:00:00:aa:02'], profle: 'ubuntu-worker' },
  });
  t.match(typo.body.message, /profle: unknown key \(did you mean "profile"\?\)/);
  const noProfile = await call('POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-02', macs: ['52:54:00:00:aa:02'], profile: 'nope' },
  });
  t.equal(noProfile.status, 400);
  t.match(noProfile.body.message, /profile nope does not exist/);
  const dupMac = await call('POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-02', macs: ['52:54:00:00:00:01'] },
  });
  t.equal(dupMac.status, 409);
  t.match(dupMac.body.message, /already belongs to node worker-01 \(.*main\.yaml\)/);
  const dupIp = await call('POST', '/api/v1/nodes', {
    token: TOKENS.admin,
    body: { name: 'api-02', macs: ['52:54:00:00:aa:02'], ip: '198.18.0.21' },
  });
  t.equal(dupIp.status, 409);
  t.match(dupIp.body.message, /IP 198\.18\.0\.21 is already reserved for node worker-01/);
  t.equal(
    (
      await call('POST', '/api/v1/nodes', {
        token: TOKENS.admin,
        body: { name: 'Bad Name', macs: ['52:54:00:00:aa:02'] },
      })
    ).status,
    400,
  );
  t.equal((await call('POST', '/api/v1/nodes', { token: TOKENS.admin, body: { name: 'x', macs: [] } })).status, 400);

  const patched = await call('PATCH', '/api/v1/nodes/52:54:00:aa:00:01', {
    token: TOKENS.admin,
    body: { labels: { rack: 'r9' }, ip: null },
  });
  t.equal(patched.status, 200);
  t.same(patched.body.labels, { rack: 'r9' });
  t.equal(patched.body.ip, null);
  const withVars = await call('PATCH', '/api/v1/nodes/api-01', {
    token: TOKENS.admin,
    body: { vars: { proxy: 'http://198.18.0.9:3142', passwordHash: '$6$x$y' } },
  });
  t.same(withVars.body.vars, { proxy: 'http://198.18.0.9:3142', passwordHash: '[set]' }, 'node vars, secrets masked');
  t.same(withVars.body.labels, { rack: 'r9' }, 'a patch of vars keeps the labels');
  const badVar = await call('PATCH', '/api/v1/nodes/api-01', { token: TOKENS.admin, body: { vars: { 'a-b': 'x' } } });
  t.equal(badVar.status, 400, 'a variable name must be a template path');
  t.match(badVar.body.message, /a-b/, 'named');
  const fileOwned = await call('PATCH', '/api/v1/nodes/worker-01', { token: TOKENS.admin, body: { labels: {} } });
  t.equal(fileOwned.status, 409);
  t.match(fileOwned.body.message, /managed by its inventory file/);
  t.equal((await call('DELETE', '/api/v1/nodes/worker-01', { token: TOKENS.admin })).status, 409);
  t.equal((await call('DELETE', '/api/v1/nodes/api-01', { token: TOKENS.admin })).status, 204);
  t.equal((await call('GET', '/api/v1/nodes/api-01', { token: TOKENS.read })).status, 404);
  const notJson = await call('POST', '/api/v1/nodes', { token: TOKENS.admin, body: '{"name": "x", ' });
  t.equal(notJson.status, 400);
  t.match(notJson.body.message, /JSON/);
});

t.test('reload: a broken file is refused and every node kept', async (t) => {
  const { call, ws } = await setup(t);
  ws.writeInventory('extra.yaml', { nodes: [{ name: 'worker-03', macs: ['52:54:00:00:00:03'] }] });
  const ok = await call('POST', '/api/v1/inventory/reload', { token: TOKENS.admin });
  t.equal(ok.status, 200);
  t.same(ok.body.nodes.added, ['worker-03']);

  ws.writeInventory('main.yaml', 'profiles:\n  - name: ubuntu-worker\n    kernel: [unclosed\n');
  const broken = await call('POST', '/api/v1/inventory/reload', { token: TOKENS.admin });
  t.equal(broken.status, 400);
  t.match(broken.body.message, /main\.yaml:\d+: not valid YAML/);
  ws.writeInventory('main.yaml', '');
  const empty = await call('POST', '/api/v1/inventory/reload', { token: TOKENS.admin });
  t.equal(empty.status, 400);
  t.match(empty.body.message, /main\.yaml: file is empty/);
  const list = await call('GET', '/api/v1/nodes', { token: TOKENS.read });
  t.same(
    list.body.nodes.map((n: { name: string }) => n.name),
    ['worker-01', 'worker-02', 'worker-03'],
  );
  t.equal((await call('POST', '/api/v1/inventory/reload', { token: TOKENS.read })).status, 403);
});

t.test('import and profiles', async (t) => {
  const { call } = await setup(t);
  const content =
    'profiles:\n  - name: rocky\n    kernel: rocky/vmlinuz\n    loader: pxelinux\nnodes:\n  - name: imp-01\n    macs: ["52:54:00:00:bb:01"]\n    profile: rocky\n';
  const res = await call('POST', '/api/v1/inventory/import', {
    token: TOKENS.admin,
    body: { files: [{ name: 'batch.yaml', content }] },
  });
  t.equal(res.status, 200);
  t.same(res.body.nodes.added, ['imp-01']);
  const bad = await call('POST', '/api/v1/inventory/import', {
    token: TOKENS.admin,
    body: { files: [{ name: 'bad.yaml', content: 'nodes:\n  - name: x\n' }] },
  });
  t.equal(bad.status, 400);
  t.match(bad.body.message, /bad\.yaml:2: nodes\[0\]\.macs: is required/);
  const profiles = await call('GET', '/api/v1/profiles', { token: TOKENS.read });
  t.same(
    profiles.body.profiles.map((p: { profile: { name: string }; source: string }) => [p.profile.name, p.source]),
    [
      ['rocky', 'api'],
      ['ubuntu-worker', 'file'],
    ],
  );
  t.equal(profiles.body.profiles[0].profile.localBoot, 'exit', 'defaults filled');
});

t.test('events timeline and OpenAPI docs', async (t) => {
  const { call, ctx } = await setup(t);
  const node = ctx.nodes.get('worker-01')!;
  ctx.events.record(node.id, 'dhcp.offer', 'dhcp', { file: 'undionly.kpxe' });
  ctx.events.record(node.id, 'tftp.sent', 'tftp', { file: 'undionly.kpxe', bytes: 70000 });
  const ev = await call('GET', '/api/v1/nodes/worker-01/events', { token: TOKENS.read });
  t.same(
    ev.body.events.map((e: { type: string }) => e.type),
    ['dhcp.offer', 'tftp.sent'],
  );
  const after = await call('GET', `/api/v1/nodes/worker-01/events?after=${ev.body.events[0].id}`, {
    token: TOKENS.read,
  });
  t.same(
    after.body.events.map((e: { type: string }) => e.type),
    ['tftp.sent'],
  );
  const docs = await call('GET', '/docs');
  t.equal(docs.status, 200);
  t.match(docs.body.openapi, /^3\./);
  for (const p of [
    '/api/v1/nodes',
    '/api/v1/nodes/{id}',
    '/api/v1/nodes/{id}/events',
    '/api/v1/profiles',
    '/api/v1/inventory/reload',
  ]) {
    t.ok(docs.body.paths[p], `documents ${p}`);
  }
  t.ok(docs.body.paths['/api/v1/nodes'].post.requestBody, 'request schema documented');
});

t.test('secrets never reach the logs', async (t) => {
  const { call, logs } = await setup(t);
  await call('GET', '/api/v1/nodes', { token: TOKENS.admin });
  await call('GET', '/api/v1/callback/sekrit-node-token-123/x');
  t.notMatch(logs(), TOKENS.admin);
  t.notMatch(logs(), 'sekrit-node-token-123');
  t.match(logs(), '/api/v1/callback/[token]/x');
  t.equal(maskSecrets('/n/abc/user-data?x=1'), '/n/[token]/user-data?x=1');
});
