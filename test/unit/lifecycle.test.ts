// The Lifecycle against a real database with an injected clock: the full path
// with its timeline, repeats and stale evidence, timeouts, reimage (with fake
// Kubernetes and BMC), and the join token rules.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { buildConfig } from '../../src/config.js';
import { buildParts, type Parts } from '../../src/parts.js';
import { closeDatabase } from '../../src/db.js';
import { createLogger } from '../../src/log.js';
import { Lifecycle, type Transition } from '../../src/lifecycle/lifecycle.js';
import type { DrainResult, KubeOps } from '../../src/kube/client.js';
import { JoinTokens } from '../../src/kube/joinTokens.js';
import type { Bmc } from '../../src/inventory/schema.js';
import { EXAMPLE_PROFILE, workspace } from '../helpers/daemon.js';

const T0 = Date.parse('2025-03-01T10:00:00Z');

function fakeKube(drain: Partial<DrainResult> | Error = {}): KubeOps & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async drainNode(name) {
      calls.push(`drain ${name}`);
      if (drain instanceof Error) throw drain;
      return { found: true, evicted: ['default/web-1'], remaining: [], ...drain };
    },
    async deleteNode(name) {
      calls.push(`delete ${name}`);
      return true;
    },
    async createBootstrapToken(name, ttl, now = Date.now()) {
      calls.push(`mint ${name} ${ttl}`);
      const id = `abc${calls.length}`.padEnd(6, '0').slice(0, 6);
      return { token: `${id}.0123456789abcdef`, id, expiresAt: now + ttl * 60_000 };
    },
    async revokeBootstrapTokens(name) {
      calls.push(`revoke ${name}`);
      return 1;
    },
    async watchNodeReady() {
      return async () => {};
    },
  };
}

async function setup(
  t: { teardown(fn: () => unknown): void },
  opts: { kube?: KubeOps; power?: (b: Bmc) => Promise<{ method: 'ipmi'; action: string }> } = {},
) {
  const ws = workspace(t);
  ws.writeInventory('main.yaml', {
    profiles: [EXAMPLE_PROFILE],
    nodes: [
      {
        name: 'worker-01',
        macs: ['52:54:00:00:00:01'],
        profile: 'ubuntu-worker',
        bmc: { type: 'ipmi', address: '198.18.9.9', passwordEnv: 'PW' },
      },
      { name: 'worker-02', macs: ['52:54:00:00:00:02'], profile: 'ubuntu-worker' },
      { name: 'bare', macs: ['52:54:00:00:00:03'] },
    ],
  });
  const config = buildConfig({ dataDir: ws.dataDir, inventory: ws.inventoryDir }, 'test', { isRoot: false }, ws.root);
  const ctx: Parts = buildParts(config, createLogger({ level: 'fatal', destination: new PassThrough() }));
  t.teardown(() => closeDatabase(ctx.db));
  ctx.inventory.reload();
  const clock = { now: T0 };
  const lifecycle = new Lifecycle({
    db: ctx.db,
    nodes: ctx.nodes,
    events: ctx.events,
    timeouts: { pxe: 60, install: 600, join: 120 },
    log: ctx.log,
    kube: opts.kube ?? null,
    drainTimeoutMs: 5000,
    ...(opts.power ? { powerCycle: opts.power } : {}),
    now: () => clock.now,
  });
  const transitions: Transition[] = [];
  lifecycle.on('transition', (tr) => transitions.push(tr));
  const node = (name = 'worker-01') => ctx.nodes.get(name)!;
  return { ctx, lifecycle, clock, transitions, node };
}

const offer = {
  kind: 'dhcp',
  exchange: { type: 'dhcp.offer', mode: 'reservation', bootFile: 'ipxe.efi', client: '198.18.0.21', data: {} },
} as const;

t.test('a node walks the whole path; every step is timestamped and in the timeline', async (t) => {
  const { ctx, lifecycle, clock, transitions, node } = await setup(t);
  const steps: [number, Parameters<Lifecycle['observe']>[1], string][] = [
    [1000, offer, 'pxe'],
    [
      2000,
      {
        kind: 'file-served',
        via: 'tftp',
        role: 'loader',
        file: 'ipxe.efi',
        bytes: 1024,
        durationMs: 30,
        client: '198.18.0.21:2070',
      },
      'booting',
    ],
    [
      3000,
      {
        kind: 'file-served',
        via: 'http',
        role: 'kernel',
        file: 'ubuntu/vmlinuz',
        bytes: 9000,
        durationMs: 80,
        client: '198.18.0.21',
      },
      'booting',
    ],
    [60_000, { kind: 'installer-config', file: 'user-data', client: '198.18.0.21' }, 'installing'],
    [400_000, { kind: 'callback', stage: 'installed', message: 'curtin done', client: '198.18.0.21' }, 'installed'],
    [460_000, { kind: 'callback', stage: 'joining', client: '198.18.0.21' }, 'joining'],
    [500_000, { kind: 'callback', stage: 'joined', client: '198.18.0.21' }, 'joined'],
  ];
  for (const [dt, obs, state] of steps) {
    clock.now = T0 + dt;
    const r = lifecycle.observe(node(), obs);
    t.equal(r?.state, state, `${obs.kind} → ${state}`);
    t.equal(node().state, state);
  }
  const n = node();
  t.same(n.stages, {
    registered: n.stages.registered,
    pxe: T0 + 1000,
    booting: T0 + 2000,
    installing: T0 + 60_000,
    installed: T0 + 400_000,
    joining: T0 + 460_000,
    joined: T0 + 500_000,
  });
  t.equal(n.netboot, false, 'installed turned netboot off');
  t.same(
    transitions.map((x) => `${x.from}>${x.to}`),
    [
      'registered>pxe',
      'pxe>booting',
      'booting>installing',
      'installing>installed',
      'installed>joining',
      'joining>joined',
    ],
  );
  t.equal(transitions[2]!.durationMs, 58_000, 'time spent in booting');

  const events = ctx.events.list(n.id);
  t.same(
    events.map((e) => e.type),
    [
      'dhcp.offer',
      'state',
      'tftp.sent',
      'state',
      'http.sent',
      'installer.config',
      'state',
      'callback',
      'state',
      'callback',
      'state',
      'callback',
      'state',
    ],
  );
  const kernel = events.find((e) => e.type === 'http.sent')!;
  t.match(kernel.data, {
    role: 'kernel',
    file: 'ubuntu/vmlinuz',
    bytes: 9000,
    durationMs: 80,
    client: '198.18.0.21',
    outcome: 'repeat',
  });
  const installed = events.filter((e) => e.type === 'state')[3]!;
  t.match(installed.data, { from: 'installing', to: 'installed', reason: 'callback: installed (curtin done)' });
  t.equal(installed.data.cause, installed.id - 1, 'the transition names the observation that caused it');
});

t.test('repeated and out-of-order evidence is recorded and changes nothing', async (t) => {
  const { ctx, lifecycle, clock, transitions, node } = await setup(t);
  lifecycle.observe(node(), { kind: 'callback', stage: 'installed', client: 'x' });
  t.equal(node().state, 'installed');
  const before = node();
  for (const obs of [
    offer,
    { kind: 'file-served', via: 'tftp', role: 'loader', file: 'ipxe.efi', bytes: 1, durationMs: 1, client: 'x' },
    { kind: 'installer-config', file: 'user-data', client: 'x' },
    { kind: 'callback', stage: 'installing', client: 'x' },
    { kind: 'callback', stage: 'installed', client: 'x' },
  ] as const) {
    clock.now += 1000;
    const r = lifecycle.observe(node(), obs);
    t.equal(r?.transition, null, `${obs.kind} does not move an installed node`);
  }
  t.same(node().stages, before.stages);
  t.equal(node().netboot, false);
  t.equal(transitions.length, 1);
  const outcomes = ctx.events
    .list(before.id)
    .filter((e) => e.type !== 'state')
    .map((e) => e.data.outcome);
  t.same(outcomes, ['advanced', 'stale', 'stale', 'stale', 'stale', 'repeat']);
  t.match(
    ctx.events.list(before.id).at(-2)!.data.note,
    /installed already; evidence of installing does not move it back/,
  );

  // One DHCP exchange is one event; the transition it causes comes after it and names it.
  const other = node('worker-02');
  const r = lifecycle.observe(other, offer);
  t.equal(r?.state, 'pxe');
  const timeline = ctx.events.list(other.id);
  t.same(
    timeline.map((e) => e.type),
    ['dhcp.offer', 'state'],
  );
  t.equal(timeline[1]!.data.cause, timeline[0]!.id, 'the pxe transition points at the exchange');
  // An exchange that sent no boot offer (a NAK, a withheld ACK) is recorded and is no evidence.
  const nak = { kind: 'dhcp', exchange: { ...offer.exchange, type: 'dhcp.nak', bootFile: null } } as const;
  t.match(lifecycle.observe(other, nak), { outcome: 'none', state: 'pxe', transition: null });
  t.same(
    ctx.events.list(other.id).map((e) => e.type),
    ['dhcp.offer', 'state', 'dhcp.nak'],
  );
  t.equal(lifecycle.observe({ id: 9999 }, offer), null, 'a deleted node is no observation');
  // A batch (DHCP's) records what it can: one entry that cannot be recorded is left out alone.
  const batch = lifecycle.observeAll([
    { node: { mac: 'not-a-mac', discover: true }, obs: offer },
    { node: node('worker-01'), obs: offer },
  ]);
  t.equal(batch[0], null, 'the bad entry is dropped');
  t.match(batch[1], { outcome: 'stale', state: 'installed' }, 'the good one is recorded');
  t.equal(ctx.nodes.findByMac('not-a-mac'), undefined);
});

t.test('a stage that runs over its budget fails the node with what was seen last', async (t) => {
  const { ctx, lifecycle, clock, transitions, node } = await setup(t);
  clock.now = Date.parse('2025-03-01T10:02:00Z');
  lifecycle.observe(node(), offer);
  clock.now = Date.parse('2025-03-01T10:02:11Z');
  lifecycle.observe(node(), {
    kind: 'file-served',
    via: 'tftp',
    role: 'loader',
    file: 'ipxe.efi',
    bytes: 1,
    durationMs: 1,
    client: 'x',
  });
  lifecycle.observe(node('worker-02'), { kind: 'callback', stage: 'installing', client: 'x' });

  t.same(lifecycle.checkTimeouts(Date.parse('2025-03-01T10:02:59Z')), [], 'inside the budget');
  const failed = lifecycle.checkTimeouts(Date.parse('2025-03-01T10:03:01Z'));
  t.equal(failed.length, 1);
  t.equal(failed[0]!.node, 'worker-01');
  t.equal(failed[0]!.from, 'booting');
  t.match(
    failed[0]!.reason,
    /^timed out: booting for over 60 s: got ipxe\.efi at 10:02:11Z, never fetched its script or boot config: check Secure Boot/,
  );
  t.equal(node().state, 'failed');
  const ev = ctx.events.list(node().id, { type: 'state' }).at(-1)!;
  t.match(ev.data, { from: 'booting', to: 'failed', stage: 'booting', timeout: 'pxe', timeoutSeconds: 60 });
  t.same(
    lifecycle.checkTimeouts(Date.parse('2025-03-01T11:00:00Z')).map((x) => x.node),
    ['worker-02'],
    'failed once; worker-02 runs out of its install budget later',
  );
  t.equal(transitions.filter((x) => x.to === 'failed').length, 2);

  // Evidence past the failed stage is followed; evidence before it is not.
  clock.now = Date.parse('2025-03-01T11:00:01Z');
  t.equal(lifecycle.observe(node(), offer)?.state, 'failed');
  t.equal(lifecycle.observe(node(), { kind: 'installer-config', file: 'user-data', client: 'x' })?.state, 'installing');
});

t.test('reimage: drained, new token, netboot on, stages restarted, power cycled last', async (t) => {
  const kube = fakeKube();
  const order: string[] = [];
  const { ctx, lifecycle, clock, transitions, node } = await setup(t, {
    kube,
    power: async (bmc) => {
      order.push(`power ${bmc.address} state=${ctx.nodes.get('worker-01')!.state}`);
      return { method: 'ipmi', action: 'chassis power cycle' };
    },
  });
  for (const stage of ['installed', 'joined'] as const)
    lifecycle.observe(node(), { kind: 'callback', stage, client: 'x' });
  const oldToken = ctx.nodes.tokenOf(node().id);
  clock.now = T0 + 10_000;
  const r = await lifecycle.reimage(node(), { powerCycle: true, by: 'ops' });
  t.same(kube.calls, ['drain worker-01']);
  t.same(order, ['power 198.18.9.9 state=registered'], 'the node was armed before the power cycle');
  t.match(r.kubernetes, { managed: true, drained: true, evicted: ['default/web-1'] });
  t.match(r.power, { requested: true, ok: true, action: 'chassis power cycle' });
  t.equal(r.transition.from, 'joined');
  t.equal(r.transition.reason, 'reimage requested by ops');
  const n = node();
  t.equal(n.state, 'registered');
  t.equal(n.netboot, true);
  t.same(n.stages, { registered: T0 + 10_000 }, "the last run's stages are cleared");
  t.not(ctx.nodes.tokenOf(n.id), oldToken, 'new node token');
  t.equal(ctx.nodes.findByToken(oldToken), undefined, 'old token no longer works');
  t.equal(transitions.at(-1)!.to, 'registered');
  t.same(
    ctx.events
      .list(n.id)
      .slice(-4)
      .map((e) => `${e.type}:${e.data.phase ?? e.data.to ?? e.data.ok}`),
    ['kube.drain:true', 'state:registered', 'power.cycle:requested', 'power.cycle:done'],
  );
  // And the installer path works again.
  t.equal(lifecycle.observe(n, offer)?.state, 'pxe');
});

t.test('reimage refusals and failures', async (t) => {
  const blocked = fakeKube({
    remaining: [
      { pod: 'default/db-0', reason: "HTTP 429: Cannot evict pod as it would violate the pod's disruption budget." },
    ],
  });
  const { ctx, lifecycle, node } = await setup(t, {
    kube: blocked,
    power: async () => {
      throw new Error('IPMI BMC 198.18.9.9 unreachable or refused: no answer');
    },
  });
  lifecycle.observe(node(), { kind: 'callback', stage: 'joined', client: 'x' });
  await t.rejects(lifecycle.reimage(node('bare')), { code: 'conflict', message: /has no profile/ });
  await t.rejects(lifecycle.reimage(node('worker-02'), { powerCycle: true }), {
    code: 'invalid',
    message: /has no bmc/,
  });
  const discovered = ctx.nodes.recordDiscovered('52:54:00:00:99:99');
  await t.rejects(lifecycle.reimage(discovered), { code: 'conflict', message: /discovered machine/ });

  await t.rejects(lifecycle.reimage(node()), {
    code: 'conflict',
    message: /drain of Node worker-01 did not finish in 5 s; still running: default\/db-0 \(HTTP 429.*use force/,
  });
  t.equal(node().state, 'joined', 'a refused reimage changes nothing');
  const forced = await lifecycle.reimage(node(), { force: true, powerCycle: true });
  t.equal(node().state, 'registered');
  t.match(forced.kubernetes, { managed: true, drained: false, message: /reimaged anyway \(force\)/ });
  t.match(forced.power, { requested: true, ok: false, error: /unreachable/ });
  t.match(ctx.events.list(node().id).at(-1)!.data, { phase: 'failed', error: /unreachable/ });

  const down = await setup(t, { kube: fakeKube(new Error('ECONNREFUSED')) });
  await t.rejects(down.lifecycle.reimage(down.node()), {
    message: /could not drain Node worker-01: ECONNREFUSED; nothing changed/,
  });
  const noKube = await setup(t);
  const plain = await noKube.lifecycle.reimage(noKube.node());
  t.match(plain.kubernetes, { managed: false, message: /no kubernetes\.kubeconfig configured/ });
  t.match(plain.power, { requested: false, message: /reboot it/ });
});

t.test('join tokens: static or minted, only while provisioning, revoked', async (t) => {
  const { node, lifecycle } = await setup(t);
  const log = createLogger({ level: 'fatal', destination: new PassThrough() });
  const cfg = { caCertHashes: [], tokenTtlMinutes: 60, drainTimeoutSeconds: 60, joinToken: 'abcdef.0123456789abcdef' };
  const fixed = new JoinTokens(cfg, null, log);
  t.equal(await fixed.joinTokenFor(node()), 'abcdef.0123456789abcdef');

  const kube = fakeKube();
  let now = T0;
  const minted = new JoinTokens(cfg, kube, log, () => now);
  const first = await minted.joinTokenFor(node());
  t.match(first, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
  t.equal(await minted.joinTokenFor(node()), first, 'a retried fetch gets the same token');
  now += 31 * 60_000;
  t.not(await minted.joinTokenFor(node()), first, 'past half its TTL a new one is minted');
  t.same(kube.calls, ['mint worker-01 60', 'mint worker-01 60']);

  lifecycle.observe(node(), { kind: 'callback', stage: 'installed', client: 'x' });
  t.equal(await minted.joinTokenFor(node()), null, 'an installed node is not provisioning any more');
  t.equal(await fixed.joinTokenFor(node()), null);
  t.equal(await minted.revoke(node()), 1);
  t.equal(kube.calls.at(-1), 'revoke worker-01');
});
