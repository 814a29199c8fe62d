// One node's whole life with real clients across network namespaces: the daemon
// runs in the server namespace; busybox udhcpc (posing as UEFI PXE firmware),
// curl (installer callbacks, SSE, metrics) and `rackjoin watch` / `rackjoin
// reimage` run in the client namespace. Then a stage timeout with short budgets.
import t from 'tap';
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { CLI, EXAMPLE_PROFILE, TOKENS } from '../helpers/daemon.js';
import { udhcpc } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const MAC = '02:00:00:00:0a:01';
const UEFI = ['-V', 'PXEClient:Arch:00007:UNDI:003000', '-x', '0x5d:0007', '-O', '66', '-O', '67'];
const PORT = 8080;

interface Daemon {
  dir: string;
  proc: ChildProcess;
  base: string;
  token(node: string): string;
}

async function startInLab(
  t: { teardown(fn: () => unknown): void },
  lab: Lab,
  extra: Record<string, unknown> = {},
): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'rj-lifecycle-it-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'inventory'));
  mkdirSync(join(dir, 'assets'));
  const p = lab.prefix;
  writeFileSync(
    join(dir, 'inventory', 'lab.yaml'),
    JSON.stringify({
      profiles: [EXAMPLE_PROFILE],
      nodes: [
        {
          name: 'worker-01',
          macs: [MAC],
          ip: `${p}.21`,
          profile: EXAMPLE_PROFILE.name,
          // Nothing answers at .99: the BMC is unreachable.
          bmc: { type: 'ipmi', address: `${p}.99`, username: 'admin', passwordEnv: 'RJ_TEST_BMC_PW' },
        },
      ],
    }),
  );
  const cfg = join(dir, 'rackjoin.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({
      dataDir: join(dir, 'data'),
      inventory: join(dir, 'inventory'),
      assets: join(dir, 'assets'),
      interface: lab.serverIf,
      advertise: lab.serverIp,
      dhcp: { mode: 'reservation', subnets: [{ cidr: `${p}.0/24`, router: lab.serverIp, leaseSeconds: 600 }] },
      tftp: { enabled: false },
      http: { port: PORT, host: '0.0.0.0' },
      api: {
        tokens: [
          { name: 'ops', token: TOKENS.admin, scope: 'admin' },
          { name: 'dash', token: TOKENS.read, scope: 'read' },
        ],
      },
      log: { level: 'info' },
      ...extra,
    }),
  );
  const proc = lab.spawn(lab.server, [process.execPath, CLI, 'serve', '--config', cfg], {
    env: { ...process.env, RJ_TEST_BMC_PW: 'not-the-real-password' },
  });
  let out = '';
  proc.stdout!.on('data', (b) => (out += b));
  proc.stderr!.on('data', (b) => (out += b));
  const deadline = Date.now() + 30_000;
  while (!out.includes('"msg":"rackjoin ready"')) {
    if (proc.exitCode !== null) throw new Error(`rackjoin exited:\n${out}`);
    if (Date.now() > deadline) throw new Error(`rackjoin did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const dbFile = join(dir, 'data', 'rackjoin.db');
  return {
    dir,
    proc,
    base: `http://${lab.serverIp}:${PORT}`,
    // The node secret, as the installer config would carry it.
    token(node) {
      const db = new Database(dbFile, { readonly: true });
      try {
        return db.prepare('SELECT token FROM nodes WHERE name = ?').pluck().get(node) as string;
      } finally {
        db.close();
      }
    },
  };
}

/** curl in the client namespace; JSON bodies parsed. */
async function curl(
  lab: Lab,
  method: string,
  url: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: any; text: string }> {
  const args = ['curl', '-s', '-X', method, '-w', '\n%{http_code}', '--max-time', '30'];
  if (opts.token) args.push('-H', `Authorization: Bearer ${opts.token}`);
  if (opts.body !== undefined)
    args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(opts.body));
  const r = await lab.exec(lab.client, [...args, url], { timeoutMs: 40_000 });
  const nl = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, nl);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: Number(r.stdout.slice(nl + 1)), body, text };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

t.test('one node from DHCP to joined, reimaged, and back to the installer', { skip, timeout: 240_000 }, async (t) => {
  const lab = await createLab(t, { clientAddress: true });
  const d = await startInLab(t, lab);
  const node = async () => (await curl(lab, 'GET', `${d.base}/api/v1/nodes/worker-01`, { token: TOKENS.read })).body;
  const events = async () =>
    (await curl(lab, 'GET', `${d.base}/api/v1/nodes/worker-01/events`, { token: TOKENS.read })).body.events as any[];
  const callback = (token: string, stage: string, message?: string) =>
    curl(lab, 'POST', `${d.base}/api/v1/callback/${token}`, { body: { stage, ...(message ? { message } : {}) } });

  // Watchers: raw SSE with curl, and the CLI's live view (piped: one line per transition).
  const sse = lab.spawn(lab.client, [
    'curl',
    '-s',
    '-N',
    '-H',
    `Authorization: Bearer ${TOKENS.read}`,
    `${d.base}/api/v1/events`,
  ]);
  let sseText = '';
  sse.stdout!.on('data', (b) => (sseText += b));
  const watch = lab.spawn(lab.client, [process.execPath, CLI, 'watch'], {
    env: { ...process.env, RACKJOIN_URL: d.base, RACKJOIN_TOKEN: TOKENS.read },
  });
  let watchText = '';
  watch.stdout!.on('data', (b) => (watchText += b));
  await until('watch table', async () => watchText.includes('worker-01'));
  await until('SSE connected', async () => sseText.includes(': connected'));

  const before = await node();
  t.equal(before.state, 'registered');

  // DHCP: firmware asks, gets ipxe.efi → pxe.
  const lease = await udhcpc(t, lab, MAC, UEFI);
  t.match(lease, { ip: `${lab.prefix}.21`, boot_file: 'ipxe.efi' });
  const pxe = await until('pxe', async () => {
    const n = await node();
    return n.state === 'pxe' && n;
  });
  t.ok(Date.parse(pxe.stages.pxe) >= Date.parse(pxe.stages.registered));
  const dhcpEvents = (await events()).filter((e) => e.source === 'dhcp');
  t.ok(dhcpEvents.length >= 2, 'DISCOVER/OFFER and REQUEST/ACK are in the timeline');
  t.match(dhcpEvents.at(-1).data, { received: 'REQUEST', sent: { type: 'ACK', file: 'ipxe.efi' } });

  // Installer and first boot call back (curl, as the templates' late-commands do).
  const token = d.token('worker-01');
  const wrong = await callback('x'.repeat(32), 'installed');
  t.equal(wrong.status, 404, 'an unknown token is refused');
  t.equal((await node()).state, 'pxe', '... and changes nothing');

  t.same((await callback(token, 'installing', 'subiquity started')).body, {
    node: 'worker-01',
    state: 'installing',
    outcome: 'advanced',
  });
  t.same((await callback(token, 'installing')).body.outcome, 'repeat');
  t.same((await callback(token, 'installed', 'curtin done')).body.state, 'installed');
  t.equal((await node()).netboot, false, 'installed: PXE gets local boot from now on');

  // A retried DHCP after the install (the machine reboots through PXE) does not restart anything.
  await udhcpc(t, lab, MAC, UEFI);
  t.same(
    (await callback(token, 'installing')).body,
    { node: 'worker-01', state: 'installed', outcome: 'stale' },
    'a late installing does not move back',
  );
  t.equal((await node()).state, 'installed');

  t.same((await callback(token, 'joining')).body.state, 'joining');
  t.same((await callback(token, 'joined', 'kubeadm join ok')).body.state, 'joined');
  const joined = await node();
  const order = ['registered', 'pxe', 'installing', 'installed', 'joining', 'joined'];
  const stamps = order.map((s) => Date.parse(joined.stages[s]));
  t.same(
    [...stamps].sort((a, b) => a - b),
    stamps,
    'stage timestamps in path order',
  );
  t.same(Object.keys(joined.durations).sort(), [...order].sort());
  const timeline = await events();
  const states = timeline.filter((e) => e.type === 'state').map((e) => `${e.data.from}>${e.data.to}`);
  t.same(states, ['registered>pxe', 'pxe>installing', 'installing>installed', 'installed>joining', 'joining>joined']);
  t.match(timeline.find((e) => e.type === 'callback' && e.data.stage === 'installed').data, {
    message: 'curtin done',
    client: lab.clientIp,
    outcome: 'advanced',
  });

  // SSE and the watch saw every transition.
  await until('SSE transitions', async () => (sseText.match(/^data: /gm) ?? []).length >= 5);
  const sseMsgs = sseText
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)));
  t.same(
    sseMsgs.map((m) => m.to),
    ['pxe', 'installing', 'installed', 'joining', 'joined'],
  );
  t.match(sseMsgs[0], { node: 'worker-01', from: 'registered', to: 'pxe', reason: /boot offer sent/ });
  await until('watch lines', async () => watchText.includes('joining -> joined'));
  t.match(watchText, /worker-01 {2}registered -> pxe {2}boot offer sent/);

  // Metrics moved with it.
  const metrics = (await curl(lab, 'GET', `${d.base}/metrics`, { token: TOKENS.read })).text;
  t.match(metrics, /rackjoin_nodes\{state="joined"\} 1/);
  t.match(metrics, /rackjoin_transitions_total\{from="joining",to="joined"\} 1/);
  t.match(metrics, /rackjoin_callbacks_total\{stage="installing",result="repeat"\} 1/);
  t.match(metrics, /rackjoin_callbacks_total\{stage="installed",result="refused"\} 1/);
  t.match(metrics, /rackjoin_stage_duration_seconds_count\{stage="pxe",to="installing"\} 1/);
  t.match(metrics, /rackjoin_dhcp_received_total\{type="discover"\} [1-9]/);
  t.match(metrics, /rackjoin_dhcp_sent_total\{type="ack"\} [1-9]/);
  t.match(metrics, /^rackjoin_dhcp_lease_commits_total [1-9]/m, 'the ACKed leases were committed');
  t.match(metrics, /^rackjoin_dhcp_lease_commit_seconds_total 0\.\d*[1-9]/m, 'and the commits took time');

  // Reimage with a power cycle: the BMC does not answer. The node is armed all the same.
  const env = { ...process.env, RACKJOIN_URL: d.base, RACKJOIN_TOKEN: TOKENS.admin };
  const cycled = await lab.exec(
    lab.client,
    [
      'env',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      CLI,
      'reimage',
      'worker-01',
      '--power-cycle',
    ],
    {
      timeoutMs: 60_000,
    },
  );
  t.equal(cycled.code, 1);
  t.match(
    cycled.stderr,
    new RegExp(
      `502 node worker-01 is armed for reimage, but the power cycle failed: IPMI BMC ${lab.prefix.replace(/\./g, '\\.')}\\.99 unreachable or refused`,
    ),
  );
  const armed = await node();
  t.equal(armed.state, 'registered');
  t.equal(armed.netboot, true);
  t.same(Object.keys(armed.stages), ['registered'], 'a new run');
  t.equal((await callback(token, 'joined')).status, 404, 'the old node token is dead');

  const again = await lab.exec(lab.client, [
    'env',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    process.execPath,
    CLI,
    'reimage',
    'worker-01',
  ]);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /worker-01: armed for reimage \(was registered\)/);
  t.match(again.stdout, /kubernetes: no kubernetes\.kubeconfig configured/);

  // Back to the installer: DHCP offers the loader again and the node is in pxe.
  const relapse = await udhcpc(t, lab, MAC, UEFI);
  t.equal(relapse.boot_file, 'ipxe.efi');
  await until('pxe again', async () => (await node()).state === 'pxe');
  t.equal((await callback(d.token('worker-01'), 'installing')).body.state, 'installing', 'the new token works');

  watch.kill('SIGINT');
  const code = await new Promise((r) => watch.on('exit', (c) => r(c)));
  t.equal(code, 0, 'watch exits cleanly on Ctrl-C');
});

t.test('a node that stops after the boot offer times out with the reason', { skip, timeout: 120_000 }, async (t) => {
  const lab = await createLab(t, { clientAddress: true });
  const d = await startInLab(t, lab, { timeouts: { pxe: 2, install: 2, join: 2 } });
  await udhcpc(t, lab, MAC, UEFI);
  const failed = await until('failed', async () => {
    const n = (await curl(lab, 'GET', `${d.base}/api/v1/nodes/worker-01`, { token: TOKENS.read })).body;
    return n.state === 'failed' && n;
  });
  t.ok(failed.durations.pxe >= 2, 'it sat in pxe for its budget');
  const last = (
    await curl(lab, 'GET', `${d.base}/api/v1/nodes/worker-01/events?type=state`, { token: TOKENS.read })
  ).body.events.at(-1);
  t.match(last.data, {
    from: 'pxe',
    to: 'failed',
    stage: 'pxe',
    timeout: 'pxe',
    timeoutSeconds: 2,
    reason:
      /^timed out: pxe for over 2 s: sent a DHCP boot offer \(ipxe\.efi\) at \d\d:\d\d:\d\dZ, never fetched its boot file: check that TFTP\/HTTP/,
  });
  const metrics = (await curl(lab, 'GET', `${d.base}/metrics`, { token: TOKENS.read })).text;
  t.match(metrics, /rackjoin_nodes\{state="failed"\} 1/);
  t.match(metrics, /rackjoin_transitions_total\{from="pxe",to="failed"\} 1/);
});
