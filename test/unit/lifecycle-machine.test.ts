// The state machine's rules as pure functions: every forward step, skips,
// repeats, stale evidence, failure and recovery, discovered nodes, stage budgets,
// and the stall diagnosis.
import t from 'tap';
import { decide, failedStage, overdue, type Observation } from '../../src/lifecycle/machine.js';
import { explainStall } from '../../src/lifecycle/diagnose.js';
import type { NodeEvent } from '../../src/events.js';
import type { NodeState } from '../../src/inventory/states.js';

const offer: Observation = {
  kind: 'dhcp',
  exchange: { type: 'dhcp.offer', mode: 'reservation', bootFile: 'ipxe.efi', client: '198.18.0.21', data: {} },
};
const file = (role: 'loader' | 'kernel' | 'initrd'): Observation => ({
  kind: 'file-served',
  via: 'tftp',
  role,
  file: `${role}.bin`,
  bytes: 10,
  durationMs: 1,
  client: 'x',
});
const config: Observation = { kind: 'installer-config', file: 'user-data', client: 'x' };
const cb = (stage: 'installing' | 'installed' | 'joining' | 'joined' | 'failed', message?: string): Observation => ({
  kind: 'callback',
  stage,
  client: 'x',
  ...(message ? { message } : {}),
});
const node = (state: NodeState, stages: Partial<Record<NodeState, number>> = { [state]: 1 }) => ({ state, stages });

t.test('each observation moves a node one step along the path', async (t) => {
  const path: [NodeState, Observation, NodeState][] = [
    ['registered', offer, 'pxe'],
    ['pxe', file('loader'), 'booting'],
    ['booting', config, 'installing'],
    ['installing', cb('installed'), 'installed'],
    ['installed', cb('joining'), 'joining'],
    ['joining', cb('joined'), 'joined'],
    ['joining', { kind: 'node-ready', kubeNode: 'w1' }, 'joined'],
    ['booting', cb('installing'), 'installing'],
  ];
  for (const [from, obs, to] of path) {
    const d = decide(node(from), obs);
    t.ok(d.move, `${from} + ${obs.kind} moves`);
    if (d.move) t.equal(d.to, to, `${from} → ${to}`);
  }
});

t.test('evidence may skip states; it never moves a node back', async (t) => {
  const skip = decide(node('registered'), config);
  t.same(skip.move && skip.to, 'installing', 'a node booted from media goes straight to installing');
  t.same(decide(node('installing'), cb('joined')).move, true, 'a lost callback is skipped over');

  const stale: [NodeState, Observation][] = [
    ['booting', offer], // iPXE's own DHCP after the loader
    ['installing', offer], // retried DHCP during install
    ['installed', cb('installing')], // late installing after installed
    ['installed', offer], // installed nodes PXE to local boot
    ['joined', file('kernel')],
    ['joined', config],
    ['joining', cb('installed')],
  ];
  for (const [from, obs] of stale) {
    const d = decide(node(from), obs);
    t.same(d, { move: false, outcome: 'stale', note: d.move ? '' : d.note }, `${from} + ${obs.kind} is stale`);
  }
});

t.test('repeats are idempotent', async (t) => {
  for (const [from, obs] of [
    ['pxe', offer],
    ['booting', file('kernel')],
    ['installing', config],
    ['installed', cb('installed')],
    ['joined', cb('joined')],
    ['joined', { kind: 'node-ready', kubeNode: 'w1' }],
    ['failed', cb('failed')],
  ] as [NodeState, Observation][]) {
    const d = decide(node(from), obs);
    t.equal(d.move, false);
    t.equal(!d.move && d.outcome, 'repeat', `${from} + ${obs.kind}`);
  }
});

t.test('failed: from any stage; stays failed against old evidence; follows evidence past the failure', async (t) => {
  for (const s of ['registered', 'pxe', 'booting', 'installing', 'installed', 'joining', 'joined'] as NodeState[]) {
    const d = decide(node(s), cb('failed', 'disk not found'));
    t.ok(d.move && d.to === 'failed', `${s} → failed`);
    t.match(d.move && d.reason, /disk not found/);
  }
  const failedInInstall = node('failed', { registered: 1, pxe: 2, booting: 3, installing: 4, failed: 5 });
  t.equal(failedStage(failedInInstall), 'installing');
  for (const obs of [offer, file('kernel'), config, cb('installing')]) {
    const d = decide(failedInInstall, obs);
    t.equal(!d.move && d.outcome, 'stale', `${obs.kind} after an install failure does not revive the node`);
  }
  const late = decide(failedInInstall, cb('installed'));
  t.ok(late.move && late.to === 'installed', 'an install that finished after its timeout is followed');
  t.match(late.move && late.reason, /got past installing/);

  // A held node that reboots is sent to its disk: its DHCP and file fetches are no progress.
  const failedEarly = node('failed', { registered: 1, failed: 2 });
  for (const obs of [offer, file('loader'), file('kernel')]) {
    const d = decide(failedEarly, obs);
    t.same(d, { move: false, outcome: 'stale', note: d.move ? '' : d.note }, `${obs.kind} does not revive a held node`);
    t.match(!d.move && d.note, /held/);
  }
  t.ok(decide(failedEarly, config).move, 'the installer itself past the failure is followed');

  // Same millisecond: the later path state wins.
  t.equal(failedStage(node('failed', { registered: 1, pxe: 1, failed: 1 })), 'pxe');
});

t.test('a Ready Node counts only after the install', async (t) => {
  const ready: Observation = { kind: 'node-ready', kubeNode: 'worker-01' };
  for (const s of ['registered', 'pxe', 'booting', 'installing'] as NodeState[]) {
    const d = decide(node(s), ready);
    t.equal(!d.move && d.outcome, 'ignored', `${s}: the Node is from an earlier life`);
  }
  t.equal(decide(node('failed', { installing: 1, failed: 2 }), ready).move, false);
  const late = decide(node('failed', { installed: 1, joining: 2, failed: 3 }), ready);
  t.ok(late.move && late.to === 'joined', 'a join that beat its timeout late is followed');
  t.ok(decide(node('installed'), ready).move);
});

t.test('discovered nodes never progress', async (t) => {
  for (const obs of [offer, file('loader'), config, cb('installed'), cb('failed')]) {
    const d = decide(node('discovered'), obs);
    t.equal(!d.move && d.outcome, 'ignored');
  }
});

t.test('stage budgets run from the first state of their group', async (t) => {
  const timeouts = { pxe: 60, install: 600, join: 120 };
  const booting = node('booting', { registered: 0, pxe: 1000, booting: 50_000 });
  t.equal(overdue(booting, timeouts, 60_999), null, 'within 60 s of the offer');
  t.same(
    overdue(booting, timeouts, 61_001),
    { budget: 'pxe', seconds: 60, since: 1000 },
    'booting does not restart the pxe clock',
  );
  const installing = node('installing', { pxe: 0, booting: 1, installing: 10_000 });
  t.equal(overdue(installing, timeouts, 600_000), null);
  t.equal(overdue(installing, timeouts, 610_001)?.budget, 'install');
  const joining = node('joining', { installed: 1000, joining: 5000 });
  t.equal(overdue(joining, timeouts, 121_001)?.budget, 'join');
  for (const s of ['registered', 'joined', 'failed', 'discovered'] as NodeState[]) {
    t.equal(overdue(node(s, { [s]: 0 }), timeouts, 1e12), null, `${s} has no budget`);
  }
});

t.test('stall diagnosis names the last thing seen and the likely cause', async (t) => {
  const at = Date.parse('2025-01-01T10:02:11Z');
  let id = 0;
  const ev = (type: string, data: Record<string, unknown>, ts = at): NodeEvent => ({
    id: ++id,
    nodeId: 1,
    ts,
    type,
    source: 'x',
    data,
  });
  const loaderThenDhcp = [
    ev('dhcp.offer', { sent: { file: 'ipxe.efi' } }, at - 5000),
    ev('tftp.sent', { role: 'loader', file: 'ipxe.efi' }),
    ev('dhcp.offer', { sent: { file: 'http://198.18.0.1/boot.ipxe' } }, at + 2000),
  ];
  t.equal(
    explainStall('booting', 600, loaderThenDhcp),
    'booting for over 600 s: got ipxe.efi at 10:02:11Z, never fetched its script or boot config: check Secure Boot (unsigned loader refused) and the loader build; try loaderFile: snponly.efi for NIC hangs',
  );
  t.match(
    explainStall('pxe', 60, [ev('dhcp.offer', { sent: { file: 'undionly.kpxe' } })]),
    /sent a DHCP boot offer \(undionly\.kpxe\) at 10:02:11Z, never fetched its boot file/,
  );
  t.match(
    explainStall('booting', 60, [ev('http.sent', { role: 'kernel', file: 'ubuntu/vmlinuz' })]),
    /got vmlinuz at .*never fetched the initrd/,
  );
  t.match(
    explainStall('booting', 60, [ev('http.sent', { role: 'initrd', file: 'ubuntu/initrd' })]),
    /installer never fetched its config/,
  );
  t.match(
    explainStall('installing', 60, [ev('installer.config', { file: 'user-data' })]),
    /installer fetched user-data at 10:02:11Z, never reported installed/,
  );
  t.match(
    explainStall('installed', 60, [ev('callback', { stage: 'installed' })]),
    /called back "installed" at .*never called back: check that it boots from its disk/,
  );
  t.match(explainStall('joining', 60, [ev('callback', { stage: 'joining' })]), /kubeadm join never reported success/);
  t.equal(
    explainStall('pxe', 60, []),
    'pxe for over 60 s: never fetched its boot file: check that TFTP/HTTP on the advertised address is reachable (firewall, next-server) and that no other DHCP server answered instead',
  );
});
