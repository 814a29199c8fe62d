// Lifecycle routes in-process: callbacks (node token), reimage (admin), the SSE
// stream of transitions, /metrics, and stage durations on the node views.
import t from 'tap';
import { EXAMPLE_PROFILE, TOKENS } from '../helpers/daemon.js';
import { inProcessApp } from '../helpers/inproc.js';

async function setup(t: { teardown(fn: () => unknown): void }) {
  return inProcessApp(t, {
    profiles: [EXAMPLE_PROFILE],
    nodes: [
      {
        name: 'worker-01',
        macs: ['52:54:00:00:00:01'],
        profile: 'ubuntu-worker',
        bmc: { type: 'redfish', address: 'http://127.0.0.1:9', passwordEnv: 'RJ_TEST_BMC_PW' },
      },
      { name: 'worker-02', macs: ['52:54:00:00:00:02'], profile: 'ubuntu-worker' },
    ],
  });
}

t.test('callback: the node token moves the node; a wrong token or a bad body changes nothing', async (t) => {
  const { ctx, call, tokenOf, logs } = await setup(t);
  const token = tokenOf('worker-01');
  const bad = await call('POST', '/api/v1/callback/not-a-real-token', { body: { stage: 'installed' } });
  t.equal(bad.status, 404);
  t.same(Object.keys(bad.body).sort(), ['error', 'message']);
  t.equal((await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'done' } })).status, 400);
  t.equal((await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'installed', extra: 1 } })).status, 400);
  t.equal((await call('POST', `/api/v1/callback/${token}`)).status, 400);
  t.equal(ctx.nodes.get('worker-01')!.state, 'registered');
  t.same(ctx.events.list(ctx.nodes.get('worker-01')!.id), [], 'refused callbacks leave no trace on the node');

  const ok = await call('POST', `/api/v1/callback/${token}`, {
    body: { stage: 'installing', message: 'subiquity started' },
  });
  t.same(ok.body, { node: 'worker-01', state: 'installing', outcome: 'advanced' });
  t.same((await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'installing' } })).body.outcome, 'repeat');
  t.same((await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'installed' } })).body, {
    node: 'worker-01',
    state: 'installed',
    outcome: 'advanced',
  });
  t.same((await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'installing' } })).body, {
    node: 'worker-01',
    state: 'installed',
    outcome: 'stale',
  });
  const cb = ctx.events.list(ctx.nodes.get('worker-01')!.id, { type: 'callback' })[0]!;
  t.match(cb.data, { stage: 'installing', message: 'subiquity started', client: '127.0.0.1' });
  t.notOk(logs().includes(token), 'the node token never reaches the log');
});

t.test('reimage: admin only, returns the node to registered with a new token; power errors are clear', async (t) => {
  const { ctx, call, tokenOf } = await setup(t);
  const old = tokenOf('worker-02');
  await call('POST', `/api/v1/callback/${old}`, { body: { stage: 'joined' } });
  t.equal((await call('POST', '/api/v1/nodes/worker-02/reimage', { token: TOKENS.read, body: {} })).status, 403);
  t.equal((await call('POST', '/api/v1/nodes/nope/reimage', { token: TOKENS.admin, body: {} })).status, 404);
  t.equal(
    (await call('POST', '/api/v1/nodes/worker-02/reimage', { token: TOKENS.admin, body: { bogus: true } })).status,
    400,
  );
  const noBmc = await call('POST', '/api/v1/nodes/worker-02/reimage', {
    token: TOKENS.admin,
    body: { powerCycle: true },
  });
  t.equal(noBmc.status, 400);
  t.match(noBmc.body.message, /has no bmc/);

  const r = await call('POST', '/api/v1/nodes/52-54-00-00-00-02/reimage', { token: TOKENS.admin });
  t.equal(r.status, 200, 'no body needed');
  t.equal(r.body.from, 'joined');
  t.equal(r.body.node.state, 'registered');
  t.equal(r.body.node.netboot, true);
  t.match(r.body.kubernetes, { managed: false, message: /no kubernetes\.kubeconfig configured/ });
  t.notOk(JSON.stringify(r.body).includes(tokenOf('worker-02')), 'the new token is not in the response');
  t.equal(
    (await call('POST', `/api/v1/callback/${old}`, { body: { stage: 'installing' } })).status,
    404,
    'the old token is dead',
  );
  t.equal(
    (await call('POST', `/api/v1/callback/${tokenOf('worker-02')}`, { body: { stage: 'installing' } })).body.state,
    'installing',
  );

  // Redfish at a closed loopback port: armed, but the power cycle fails with a clear message.
  process.env.RJ_TEST_BMC_PW = 'secret-bmc-password';
  t.teardown(() => delete process.env.RJ_TEST_BMC_PW);
  const p = await call('POST', '/api/v1/nodes/worker-01/reimage', { token: TOKENS.admin, body: { powerCycle: true } });
  t.equal(p.status, 502);
  t.equal(p.body.error, 'power_cycle_failed');
  t.match(
    p.body.message,
    /node worker-01 is armed for reimage, but the power cycle failed: Redfish BMC 127\.0\.0\.1:9 unreachable: ECONNREFUSED/,
  );
  t.equal(ctx.nodes.get('worker-01')!.netboot, true);
  t.match(ctx.events.list(ctx.nodes.get('worker-01')!.id).at(-2)!.data, { phase: 'requested' });
});

t.test('SSE: every transition arrives as one data line; Last-Event-ID resumes', async (t) => {
  const { app, call, tokenOf } = await setup(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/api/v1/events`;
  t.equal((await fetch(url)).status, 401);

  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKENS.read}` }, signal: ac.signal });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const until = async (pred: () => boolean) => {
    while (!pred()) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      text += value;
    }
  };
  await until(() => text.includes(': connected'));

  const token = tokenOf('worker-01');
  await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'installing' } });
  await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'installing' } }); // a repeat: no transition
  await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'failed', message: 'no disk' } });
  await until(() => (text.match(/^data: /gm) ?? []).length >= 2);
  const messages = text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)));
  t.equal(messages.length, 2);
  t.match(messages[0], { node: 'worker-01', from: 'registered', to: 'installing', reason: 'callback: installing' });
  t.match(messages[1], {
    node: 'worker-01',
    from: 'installing',
    to: 'failed',
    reason: /^installing: no disk/,
  });
  t.ok(!Number.isNaN(Date.parse(messages[0].at)));
  const firstId = /^id: (\d+)$/m.exec(text)![1]!;
  ac.abort();

  const resumed = await fetch(url, { headers: { authorization: `Bearer ${TOKENS.read}`, 'last-event-id': firstId } });
  const r2 = resumed.body!.pipeThrough(new TextDecoderStream()).getReader();
  let replay = '';
  while (!replay.includes(': connected')) replay += (await r2.read()).value ?? '';
  await r2.cancel();
  t.match(replay, /data: \{"node":"worker-01","from":"installing","to":"failed"/);
  t.notMatch(replay, /"to":"installing"/, 'only what came after the given id');
});

t.test('metrics: nodes per state, transitions, stage durations, callbacks, service counters', async (t) => {
  const { ctx, call, tokenOf } = await setup(t);
  t.equal((await call('GET', '/metrics')).status, 401);
  const scrape = async () => {
    const r = await call('GET', '/metrics', { token: TOKENS.read });
    t.equal(r.status, 200);
    return r.body as string;
  };
  const before = await scrape();
  t.match(before, /rackjoin_nodes\{state="registered"\} 2/);
  t.match(before, /rackjoin_nodes\{state="joined"\} 0/);

  const token = tokenOf('worker-01');
  ctx.lifecycle.observe(ctx.nodes.get('worker-01')!, {
    kind: 'file-served',
    via: 'tftp',
    role: 'loader',
    file: 'ipxe.efi',
    bytes: 1000,
    durationMs: 5,
    client: 'x',
  });
  ctx.lifecycle.observe(ctx.nodes.get('worker-01')!, {
    kind: 'file-served',
    via: 'http',
    role: 'kernel',
    file: 'vmlinuz',
    bytes: 5000,
    durationMs: 5,
    client: 'x',
  });
  await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'installed' } });
  await call('POST', `/api/v1/callback/${token}`, { body: { stage: 'installed' } });
  await call('POST', '/api/v1/callback/wrong-token', { body: { stage: 'joined' } });

  const after = await scrape();
  t.match(after, /rackjoin_nodes\{state="registered"\} 1/);
  t.match(after, /rackjoin_nodes\{state="installed"\} 1/);
  t.match(after, /rackjoin_transitions_total\{from="registered",to="booting"\} 1/);
  t.match(after, /rackjoin_transitions_total\{from="booting",to="installed"\} 1/);
  t.match(after, /rackjoin_stage_duration_seconds_count\{stage="booting",to="installed"\} 1/);
  t.match(after, /rackjoin_stage_duration_seconds_bucket\{le="1",stage="registered",to="booting"\} 1/);
  t.match(after, /rackjoin_boot_files_served_total\{via="tftp",role="loader"\} 1/);
  t.match(after, /rackjoin_boot_file_bytes_total\{via="http",role="kernel"\} 5000/);
  t.match(after, /rackjoin_callbacks_total\{stage="installed",result="advanced"\} 1/);
  t.match(after, /rackjoin_callbacks_total\{stage="installed",result="repeat"\} 1/);
  t.match(after, /rackjoin_callbacks_total\{stage="joined",result="refused"\} 1/);

  // A service hands over its own counters; they are read at every scrape.
  const stats = { received: { discover: 2 } as Record<string, number>, dropped: { 'unknown-mac': 1 }, active: 0 };
  ctx.metrics.addSource({
    subsystem: 'dhcp',
    stats: () => stats,
    labels: { received: 'type', dropped: 'reason' },
    gauges: ['active'],
  });
  t.match(await scrape(), /rackjoin_dhcp_received_total\{type="discover"\} 2/);
  stats.received = { discover: 3, request: 1 };
  stats.active = 4;
  const later = await scrape();
  t.match(later, /rackjoin_dhcp_received_total\{type="discover"\} 3/);
  t.match(later, /rackjoin_dhcp_received_total\{type="request"\} 1/);
  t.match(later, /rackjoin_dhcp_dropped_total\{reason="unknown-mac"\} 1/);
  t.match(later, /# TYPE rackjoin_dhcp_active gauge\nrackjoin_dhcp_active 4/);
});

t.test('node views carry stage timestamps and durations', async (t) => {
  const { ctx, call, tokenOf } = await setup(t);
  await call('POST', `/api/v1/callback/${tokenOf('worker-01')}`, { body: { stage: 'installing' } });
  const one = await call('GET', '/api/v1/nodes/worker-01', { token: TOKENS.read });
  t.same(Object.keys(one.body.stages).sort(), ['installing', 'registered']);
  t.type(one.body.durations.registered, 'number');
  t.type(one.body.durations.installing, 'number');
  t.ok(one.body.durations.installing >= 0);
  const list = await call('GET', '/api/v1/nodes?state=installing', { token: TOKENS.read });
  t.same(
    list.body.nodes.map((n: { name: string }) => n.name),
    ['worker-01'],
  );
  t.ok('durations' in list.body.nodes[0]);
  const events = await call('GET', '/api/v1/nodes/worker-01/events', { token: TOKENS.read });
  t.same(
    events.body.events.map((e: { type: string }) => e.type),
    ['callback', 'state'],
  );
  t.ok(ctx);
});

t.test(
  'enrolment: a profile PATCHed onto a discovered machine is a transition on its timeline, the stream and /metrics',
  async (t) => {
    const { ctx, call } = await setup(t);
    const seen: string[] = [];
    ctx.lifecycle.on('transition', (tr) => seen.push(`${tr.node} ${tr.from}->${tr.to}`));
    const found = ctx.nodes.recordDiscovered('52:54:00:00:00:77');
    t.equal(found.state, 'discovered');

    const labelled = await call('PATCH', '/api/v1/nodes/52:54:00:00:00:77', {
      token: TOKENS.admin,
      body: { labels: { rack: 'r1' } },
    });
    t.equal(labelled.status, 200);
    t.equal(labelled.body.state, 'discovered', 'labels alone do not enrol it');
    t.same(ctx.events.list(found.id, { type: 'state' }), []);

    const enrolled = await call('PATCH', `/api/v1/nodes/${found.name}`, {
      token: TOKENS.admin,
      body: { profile: 'ubuntu-worker' },
    });
    t.equal(enrolled.status, 200);
    t.equal(enrolled.body.state, 'registered');
    const [ev] = ctx.events.list(found.id, { type: 'state' });
    t.match(ev?.data, {
      from: 'discovered',
      to: 'registered',
      reason: /^enrolled with profile ubuntu-worker by \S+/,
      enrolled: true,
    });
    t.same(seen, [`${found.name} discovered->registered`], 'subscribers (SSE, metrics) hear of it once');
    const metrics = String((await call('GET', '/metrics', { token: TOKENS.read })).body);
    t.match(metrics, /rackjoin_transitions_total\{from="discovered",to="registered"\} 1/);

    const again = await call('PATCH', `/api/v1/nodes/${found.name}`, {
      token: TOKENS.admin,
      body: { labels: { rack: 'r2' } },
    });
    t.equal(again.status, 200);
    t.equal(ctx.events.list(found.id, { type: 'state' }).length, 1, 'a later edit is no second enrolment');
    const bad = await call('PATCH', `/api/v1/nodes/${found.name}`, {
      token: TOKENS.admin,
      body: { profile: 'no-such-profile' },
    });
    t.equal(bad.status, 400);
  },
);
