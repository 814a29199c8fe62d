// `rackjoin nodes` and `rackjoin node` against a running API (the in-process app,
// listening on loopback): the REASON column for failed and stuck nodes, full event
// details wrapped to the width, and a failed join's output coming home from the
// real firstboot script, run by /bin/sh with a failing kubeadm, secrets scrubbed.
import t from 'tap';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { CLI, EXAMPLE_PROFILE, TOKENS } from '../helpers/daemon.js';
import { inProcessApp, type InProcess } from '../helpers/inproc.js';

const execFileP = promisify(execFile);
const JOIN_TOKEN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'a'.repeat(64)}`;

async function site(t: Parameters<typeof inProcessApp>[0]): Promise<InProcess & { url: string }> {
  const app = await inProcessApp(
    t,
    {
      profiles: [EXAMPLE_PROFILE],
      nodes: ['01', '02', '03'].map((n) => ({
        name: `worker-${n}`,
        macs: [`52:54:00:00:00:${n}`],
        profile: 'ubuntu-worker',
      })),
    },
    () => ({
      advertise: '127.0.0.1',
      timeouts: { install: 2 },
      kubernetes: { apiServerEndpoint: '198.18.0.10:6443', joinToken: JOIN_TOKEN, caCertHashes: [HASH] },
    }),
  );
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.app.server.address() as { port: number };
  app.ctx.endpoint.httpPort = port; // as serve does once HTTP listens: the URLs nodes get carry it
  return { ...app, url: `http://127.0.0.1:${port}` };
}

async function cli(url: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, RACKJOIN_URL: url, RACKJOIN_TOKEN: TOKENS.admin };
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, ...args], { env, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The REASON cell of `name` in `rackjoin nodes` output, continuation lines joined. */
function reasonIn(table: string, name: string): string {
  const lines = table.split('\n');
  const col = lines[0]!.indexOf('REASON');
  const at = lines.findIndex((l) => l.startsWith(`${name} `));
  const cont = lines.slice(at + 1).findIndex((l) => !l.startsWith(' '.repeat(col)));
  const mine = lines.slice(at, cont < 0 ? undefined : at + 1 + cont);
  return mine.map((l) => l.slice(col).trim()).join(' ');
}

const squash = (s: string) => s.replace(/\s+/g, ' ');

t.test('callback output: bounded, only its end kept, secrets scrubbed, never logged', async (t) => {
  const { ctx, call, tokenOf, logs } = await site(t);
  const token = tokenOf('worker-03');
  const id = ctx.nodes.get('worker-03')!.id;
  const huge = await call('POST', `/api/v1/callback/${token}`, {
    body: { stage: 'failed', output: 'x'.repeat(70_000) },
  });
  t.equal(huge.status, 400, 'more than 64 KiB of output is refused');
  t.same(ctx.events.list(id), [], 'and leaves no trace');

  const secretLines = [
    `curl: (22) The requested URL returned error: 500 http://127.0.0.1/api/v1/callback/${token}`,
    `kubeadm join 198.18.0.10:6443 --token ${JOIN_TOKEN} --discovery-token-ca-cert-hash ${HASH}`,
    'kubeadm join 198.18.0.10:6443 --token=zzzzzz.notabootstraptoken0 --discovery-token qqqqqq.qqqqqqqqqqqqqqqq',
    '--certificate-key 0123456789abcdef0123456789abcdef',
    'bootstrap token 9a8b7c.1234567890abcdef expired',
    'colour:\x1b[31m red\x1b[0m\r\nbell\x07 done',
  ];
  const output = `${'early line that falls off\n'.repeat(400)}${secretLines.join('\n')}\nerror: the last line\n`;
  const r = await call('POST', `/api/v1/callback/${token}`, {
    body: { stage: 'failed', message: `join failed (token ${JOIN_TOKEN})`, output },
  });
  t.equal(r.status, 200);
  const [ev] = ctx.events.list(id, { type: 'callback' });
  const stored = String(ev!.data.output);
  t.ok(Buffer.byteLength(stored) <= 4096, `at most 4 KiB kept (${Buffer.byteLength(stored)} bytes)`);
  t.ok(stored.endsWith('error: the last line\n'), 'the end is kept');
  t.ok(stored.startsWith('early line'), 'cut at a line boundary');
  t.ok(output.length > 8192, 'the beginning fell off');
  const everything = JSON.stringify(ctx.events.list(id));
  for (const secret of [token, JOIN_TOKEN, 'zzzzzz.notabootstraptoken0', 'qqqqqq', '9a8b7c', '0123456789abcdef0123'])
    t.notOk(everything.includes(secret) || logs().includes(secret), `${secret.slice(0, 8)}... never stored or logged`);
  t.match(stored, `/api/v1/callback/[node-token]`);
  t.match(stored, `--token [redacted] --discovery-token-ca-cert-hash ${HASH}`, 'the CA hash is no secret');
  t.match(stored, '--token=[redacted] --discovery-token [redacted]');
  t.match(stored, '--certificate-key [redacted]');
  t.match(stored, 'bootstrap token [join-token] expired');
  t.match(stored, 'colour:[31m red[0m\nbell done', 'control characters dropped, CRLF made LF');
  t.equal(ev!.data.message, 'join failed (token [join-token])', 'the message is scrubbed too');
  t.notOk(logs().includes('the last line'), 'the output is not logged');
});

t.test('nodes: REASON for stuck and failed nodes; node: every detail in full, wrapped', async (t) => {
  const { ctx, call, tokenOf, url } = await site(t);
  await call('POST', `/api/v1/callback/${tokenOf('worker-02')}`, { body: { stage: 'installing' } });
  const reasonOf = async (name: string) =>
    (await call('GET', `/api/v1/nodes/${name}`, { token: TOKENS.read })).body.reason;
  t.equal(await reasonOf('worker-02'), null, 'installing for less than half its budget: no reason');
  const fresh = await cli(url, ['nodes']);
  t.equal(fresh.code, 0, fresh.stderr);
  t.match(fresh.stdout.split('\n')[0], /^NAME +STATE +AGE +PROFILE +IP +MACS +SOURCE +REASON$/);
  t.equal(reasonIn(fresh.stdout, 'worker-03'), '-', 'a registered node: no reason');

  await sleep(1100); // past half of timeouts.install (2 s)
  const stuckReason = await reasonOf('worker-02');
  t.match(stuckReason, /^stuck: installing for over \d s: called back "installing" at \S+Z, never reported installed/);
  const stuck = await cli(url, ['nodes']);
  // Stuck until the sweep fails it (none runs here); only the seconds go on while the CLI starts.
  const seconds = (s: string) => s.replace(/over \d+ s/, 'over N s');
  t.equal(seconds(reasonIn(stuck.stdout, 'worker-02')), seconds(stuckReason), 'the CLI shows the API field in full');
  t.equal(await reasonOf('worker-03'), null);

  await sleep(1000);
  const [failed] = ctx.lifecycle.checkTimeouts();
  t.equal(failed?.node, 'worker-02', 'timed out');
  const listed = await cli(url, ['nodes', '--json']);
  const mine = JSON.parse(listed.stdout).find((n: { name: string }) => n.name === 'worker-02');
  t.equal(mine.reason, failed!.reason, 'a failed node: the reason its failure was recorded with');
  t.match(
    mine.reason,
    /^timed out: installing for over 2 s: called back "installing" at \S+Z, never reported installed: check/,
  );
  const table = await cli(url, ['nodes']);
  t.equal(reasonIn(table.stdout, 'worker-02'), failed!.reason);
  // Wrapped to 100 columns, but the reason keeps at least 30 of its own however wide the rest is.
  const limit = Math.max(100, table.stdout.indexOf('REASON') + 30);
  for (const l of table.stdout.trimEnd().split('\n'))
    t.ok(l.length <= limit, `nodes fits ${limit} columns: ${l.length}`);

  const shown = await cli(url, ['node', 'worker-02']);
  t.equal(shown.code, 0);
  t.match(shown.stdout, new RegExp(`^Reason: +${failed!.reason.slice(0, 40).replace(/[()]/g, '.')}`, 'm'));
  const timeline = shown.stdout.slice(shown.stdout.indexOf('Timeline:'));
  for (const l of timeline.trimEnd().split('\n')) t.ok(l.length <= 100, `wrapped to 100 columns: ${l.length}`);
  t.ok(
    squash(timeline).includes(squash(`reason=timed out: ${failed!.reason.slice('timed out: '.length)}`)),
    'the diagnosis in full, never cut',
  );
});

t.test('a failed kubeadm join: the firstboot script sends the end of its log home', async (t) => {
  const { ctx, tokenOf, url, logs } = await site(t);
  const token = tokenOf('worker-01');
  const res = await fetch(`${url}/n/${token}/user-data`);
  t.equal(res.status, 200);
  const userData = parseYaml(await res.text());
  const files = userData.autoinstall['user-data'].write_files as { path: string; content: string }[];
  const script = files.find((f) => f.path === '/usr/local/sbin/rackjoin-join')!.content;

  const dir = mkdtempSync(join(tmpdir(), 'rj-firstboot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  // A kubeadm that fails as a real one does, quoting its command line (the join token in it),
  // after a lot of output that must fall off, with the characters JSON and sh care about.
  writeFileSync(
    join(dir, 'bin', 'kubeadm'),
    `#!/bin/sh
i=0; while [ $i -lt 300 ]; do echo "[preflight] line $i of noise"; i=$((i+1)); done
echo "[preflight] Running pre-flight checks with args: $*"
printf 'a "quoted" word, a back\\\\slash, a\\ttab, a\\rCR, an \\033[1mescape\\033[0m\\n'
echo "error execution phase preflight: couldn't validate the identity of the API Server: connection refused" >&2
exit 1
`,
  );
  chmodSync(join(dir, 'bin', 'kubeadm'), 0o755);
  writeFileSync(join(dir, 'rackjoin-join'), script);
  // /var/log/rackjoin-join.log as the script has it, on a tmpfs of a private mount namespace.
  const r = await execFileP(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs rj /var/log && exec /bin/sh "$0"',
      join(dir, 'rackjoin-join'),
    ],
    { env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` }, timeout: 60_000 },
  );
  t.equal(r.stderr, '', 'curl reported no error');

  const node = ctx.nodes.get('worker-01')!;
  t.equal(node.state, 'failed');
  const [joining, failed] = ctx.events.list(node.id, { type: 'callback' });
  t.equal(joining!.data.stage, 'joining');
  t.equal(failed!.data.stage, 'failed');
  t.match(failed!.data.message, /^kubeadm join failed/);
  const output = String(failed!.data.output);
  t.ok(Buffer.byteLength(output) <= 4096, `the end only (${Buffer.byteLength(output)} bytes)`);
  t.notMatch(output, /line 0 of noise/, 'the beginning fell off');
  t.match(output, /^\[preflight\] line \d+ of noise\n/, 'at a line boundary');
  t.match(
    output,
    /couldn't validate the identity of the API Server: connection refused\n$/,
    "kubeadm's error came home",
  );
  t.match(
    output,
    'a "quoted" word, a back\\slash, a tab, aCR, an [1mescape[0m\n',
    'escaped for JSON, control characters dropped',
  );
  t.match(output, `with args: join 198.18.0.10:6443 --token [redacted] --discovery-token-ca-cert-hash ${HASH}`);
  const all = JSON.stringify(ctx.events.list(node.id));
  t.notOk(all.includes(JOIN_TOKEN) || all.includes(token), 'no join token and no node token on the timeline');
  t.notOk(logs().includes(JOIN_TOKEN) || logs().includes('identity of the API Server'), 'nor in the log');

  const shown = await cli(url, ['node', 'worker-01']);
  t.equal(shown.code, 0);
  const lines = shown.stdout.split('\n');
  const at = lines.findIndex((l) => / api +callback +stage=failed /.test(l));
  t.ok(at > 0, 'the failed callback is on the timeline');
  const below = lines.slice(at + 1).filter((l) => /^ {4}(output:|\| )/.test(l));
  t.equal(below[0], '    output:');
  const text = squash(below.map((l) => l.replace(/^ {4}(\| )?/, '')).join(' '));
  t.ok(text.endsWith("couldn't validate the identity of the API Server: connection refused"), 'indented, full, last');
  for (const l of below) t.ok(l.length <= 100, `output wrapped to 100 columns: ${l.length}`);
  t.ok(below.length > 20, `the whole output shown (${below.length} lines)`);
  t.notOk(shown.stdout.includes('\x1b'), 'nothing that drives the terminal');
});
