// The Kubernetes path against a FAKE apiserver (test/helpers/fake-apiserver.ts):
// no real kube-apiserver can run here, so a plain node:http server answers the
// real API's JSON for the calls rackjoin makes. What this proves: the requests
// rackjoin sends (paths, verbs, patch content type, Eviction and bootstrap-token
// Secret shapes) and its handling of the real answers (429 from a PDB, 404s,
// watch streams). What it cannot prove: apiserver-side semantics beyond these.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { KubeClient } from '../../src/kube/client.js';
import { buildConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startDaemon } from '../../src/serve.js';
import { EXAMPLE_PROFILE, TOKENS, api, workspace } from '../helpers/daemon.js';
import { startFakeApiServer } from '../helpers/fake-apiserver.js';

const quiet = () => createLogger({ level: 'fatal', destination: new PassThrough() });
const b64 = (s: string) => Buffer.from(s, 'base64').toString();

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('fake apiserver: cordon and drain honour PodDisruptionBudgets (429) until the deadline', async (t) => {
  const fake = await startFakeApiServer(t);
  const kube = KubeClient.fromFile(fake.kubeconfig, quiet());
  fake.addNode('worker-01', true);
  fake.addPod('default', 'web-1', 'worker-01');
  fake.addPod('default', 'db-0', 'worker-01');
  fake.addPod('kube-system', 'kube-proxy-x', 'worker-01', { daemonSet: true });
  fake.addPod('default', 'elsewhere', 'worker-02');
  fake.pdbProtected.add('default/db-0');

  const blocked = await kube.drainNode('worker-01', { timeoutMs: 300, retryMs: 100 });
  t.equal(blocked.found, true);
  t.same(blocked.evicted, ['default/web-1']);
  t.same(blocked.remaining, [
    { pod: 'default/db-0', reason: "HTTP 429: Cannot evict pod as it would violate the pod's disruption budget." },
  ]);
  t.equal(fake.nodes.get('worker-01')!.spec.unschedulable, true, 'cordoned');
  const patch = fake.requests.find((r) => r.method === 'PATCH')!;
  t.equal(patch.path, '/api/v1/nodes/worker-01');
  t.equal(patch.contentType, 'application/merge-patch+json');
  t.same(patch.body, { spec: { unschedulable: true } });
  const eviction = fake.requests.find((r) => r.path.endsWith('/eviction'))!;
  t.equal(eviction.path, '/api/v1/namespaces/default/pods/web-1/eviction');
  t.match(eviction.body, {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: 'web-1', namespace: 'default' },
  });
  t.ok(
    fake.requests.filter((r) => r.path === '/api/v1/namespaces/default/pods/db-0/eviction').length >= 2,
    'a PDB refusal is retried',
  );
  t.notOk(
    fake.requests.some((r) => r.path.includes('kube-proxy')),
    'DaemonSet pods are left alone',
  );
  t.ok(fake.pods.has('default/elsewhere'));

  // The budget allows it now (another replica became ready): the drain completes.
  setTimeout(() => fake.pdbProtected.clear(), 150);
  const done = await kube.drainNode('worker-01', { timeoutMs: 5000, retryMs: 50 });
  t.same(done, { found: true, evicted: ['default/db-0'], remaining: [] });
  t.same(await kube.drainNode('never-joined', { timeoutMs: 100 }), { found: false, evicted: [], remaining: [] });

  t.equal(await kube.deleteNode('worker-01'), true);
  t.equal(await kube.deleteNode('worker-01'), false, '404 is "already gone"');
});

t.test(
  'fake apiserver: bootstrap tokens are kube-system Secrets of the standard type, revoked by node label',
  async (t) => {
    const fake = await startFakeApiServer(t);
    const kube = KubeClient.fromFile(fake.kubeconfig, quiet());
    const now = Date.parse('2025-03-01T10:00:00Z');
    const tok = await kube.createBootstrapToken('worker-01', 120, now);
    t.match(tok.token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    const s = fake.secrets.get(`bootstrap-token-${tok.id}`)!;
    t.equal(s.type, 'bootstrap.kubernetes.io/token');
    t.equal(s.metadata.namespace, 'kube-system');
    t.same(s.metadata.labels, { 'rackjoin.io/node': 'worker-01' });
    t.equal(b64(s.data['token-id']), tok.id);
    t.equal(`${b64(s.data['token-id'])}.${b64(s.data['token-secret'])}`, tok.token);
    t.equal(b64(s.data.expiration), '2025-03-01T12:00:00Z');
    t.equal(b64(s.data['usage-bootstrap-authentication']), 'true');
    t.equal(b64(s.data['usage-bootstrap-signing']), 'true');
    t.equal(b64(s.data['auth-extra-groups']), 'system:bootstrappers:kubeadm:default-node-token');

    await kube.createBootstrapToken('worker-01', 120);
    await kube.createBootstrapToken('worker-02', 120);
    t.equal(await kube.revokeBootstrapTokens('worker-01'), 2);
    t.same(
      [...fake.secrets.values()].map((x) => x.metadata.labels['rackjoin.io/node']),
      ['worker-02'],
    );
    const list = fake.requests.find((r) => r.method === 'GET' && r.path.endsWith('/secrets'))!;
    t.same(list.query, {
      labelSelector: 'rackjoin.io/node=worker-01',
      fieldSelector: 'type=bootstrap.kubernetes.io/token',
    });
  },
);

t.test('fake apiserver: the Node watch reports Ready once per turn to True', async (t) => {
  const fake = await startFakeApiServer(t);
  const kube = KubeClient.fromFile(fake.kubeconfig, quiet());
  fake.addNode('cp-1', true);
  fake.addNode('worker-01', false);
  const ready: string[] = [];
  const stop = await kube.watchNodeReady((n) => ready.push(n));
  t.teardown(stop);
  await until(() => ready.includes('cp-1'), 'initial list');
  await until(() => fake.requests.some((r) => r.query.watch === 'true'), 'watch request');
  fake.setReady('worker-01', true);
  await until(() => ready.includes('worker-01'), 'worker-01 Ready');
  fake.heartbeat('worker-01');
  fake.heartbeat('worker-01');
  fake.setReady('worker-01', false);
  fake.setReady('worker-01', true);
  await until(() => ready.length === 3, 'Ready again');
  t.same(ready, ['cp-1', 'worker-01', 'worker-01'], 'heartbeats of a Ready node are not news');
});

t.test(
  'fake apiserver: the daemon mints, deletes the stale Node at install, sees Ready, revokes, drains on reimage',
  async (t) => {
    const fake = await startFakeApiServer(t);
    const ws = workspace(t);
    ws.writeInventory('main.yaml', {
      profiles: [EXAMPLE_PROFILE],
      nodes: [{ name: 'worker-01', macs: ['52:54:00:00:00:01'], profile: 'ubuntu-worker' }],
    });
    const config = buildConfig(
      {
        dataDir: 'data',
        inventory: 'inventory',
        dhcp: { mode: 'off' },
        tftp: { enabled: false },
        http: { port: 0, host: '127.0.0.1' },
        api: { tokens: [{ name: 'ops', token: TOKENS.admin, scope: 'admin' }] },
        kubernetes: {
          kubeconfig: fake.kubeconfig,
          tokenTtlMinutes: 90,
          drainTimeoutSeconds: 1,
          apiServerEndpoint: '10.0.0.10:6443',
        },
      },
      'test',
      { isRoot: false },
      ws.root,
    );
    const logs = new PassThrough();
    let logText = '';
    logs.on('data', (d) => (logText += d));
    const daemon = await startDaemon(config, createLogger({ level: 'debug', destination: logs }));
    t.teardown(() => daemon.close());
    const { parts: ctx } = daemon;
    const base = `http://127.0.0.1:${daemon.httpPort}`;
    const node = () => ctx.nodes.get('worker-01')!;
    const types = () => ctx.events.list(node().id).map((e) => e.type);

    // A Node of that name from an earlier life is still in the cluster.
    fake.addNode('worker-01', true);
    fake.pdbProtected.clear();

    const token = await ctx.joinTokens.joinTokenFor(node());
    t.match(token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/, 'minted, not the static token');
    t.equal(fake.secrets.size, 1);
    t.equal(b64([...fake.secrets.values()][0].data.expiration).slice(0, 4), String(new Date().getUTCFullYear()));

    const nodeToken = ctx.nodes.tokenOf(node().id);
    t.equal((await api(base, 'POST', `/api/v1/callback/${nodeToken}`, { body: { stage: 'installing' } })).status, 200);
    await until(() => !fake.nodes.has('worker-01'), 'stale Node deleted');
    await until(() => types().includes('kube.node-deleted'), 'node-deleted event');

    await api(base, 'POST', `/api/v1/callback/${nodeToken}`, { body: { stage: 'installed' } });
    await api(base, 'POST', `/api/v1/callback/${nodeToken}`, { body: { stage: 'joining' } });
    fake.addNode('worker-01', false);
    fake.setReady('worker-01', true);
    await until(() => node().state === 'joined', 'Ready Node moves the node to joined');
    const ready = ctx.events.list(node().id, { type: 'kube.ready' });
    t.same(
      ready.map((e) => e.data.outcome),
      ['ignored', 'advanced'],
      'the old Ready Node seen at start did not count; the rejoined one did',
    );
    t.match(ctx.events.list(node().id, { type: 'state' }).at(-1)!.data, {
      from: 'joining',
      to: 'joined',
      reason: 'Kubernetes Node worker-01 is Ready',
    });
    await until(() => fake.secrets.size === 0, 'bootstrap token revoked after join');
    await until(() => types().includes('kube.token-revoked'), 'revocation event');
    t.equal(await ctx.joinTokens.joinTokenFor(node()), null, 'a joined node gets no token');

    // Reimage: a PDB blocks the drain → refused (409), nothing changes; --force goes on.
    fake.addPod('default', 'db-0', 'worker-01');
    fake.pdbProtected.add('default/db-0');
    const refused = await api(base, 'POST', '/api/v1/nodes/worker-01/reimage', { token: TOKENS.admin, body: {} });
    t.equal(refused.status, 409);
    t.match(
      refused.body.message,
      /drain of Node worker-01 did not finish in 1 s; still running: default\/db-0 \(HTTP 429: Cannot evict pod/,
    );
    t.equal(node().state, 'joined');
    t.equal(fake.nodes.get('worker-01')!.spec.unschedulable, true, 'left cordoned');
    const forced = await api(base, 'POST', '/api/v1/nodes/worker-01/reimage', {
      token: TOKENS.admin,
      body: { force: true },
    });
    t.equal(forced.status, 200);
    t.match(forced.body.kubernetes, { managed: true, drained: false, message: /reimaged anyway \(force\)/ });
    t.equal(node().state, 'registered');
    t.equal(node().netboot, true);

    t.notOk(logText.includes(token!.split('.')[1]!), 'the join token secret never reaches the log');
    t.notOk(JSON.stringify(ctx.events.list(node().id)).includes(token!.split('.')[1]!), 'nor the timeline');
  },
);
