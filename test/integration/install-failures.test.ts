// Each built-in installer's own steps, run for real the way the installer runs them,
// against a real daemon: debian-installer's preseed/early_command and late_command
// (with `in-target` a chroot into the new system, as in debian-installer, and busybox
// wget outside it), anaconda's %pre and %post (chrooted) and %onerror, and Ubuntu's
// early/late-commands then the installed system's cloud-init runcmd. The "new system"
// is an overlay of this Debian machine (test/helpers/target.ts) on a rack with no DNS,
// so fetching the Kubernetes (or containerd) repository key fails for real, with
// curl's own words. The node must fail at that step, with the step named and curl's
// output, and never report `installed` (or join) after it.
import t, { type Test } from 'tap';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { CLI, TOKENS } from '../helpers/daemon.js';
import { startRackjoin } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';
import { createTarget, type Target } from '../helpers/target.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const MAC = '02:00:00:00:14:01';
const NODE = 'worker-01';

interface Ctx {
  lab: Lab;
  target: Target;
  /** A directory on PATH with what the installer environment has: busybox wget, in-target. */
  bin: string;
}

/** A shell command line as the installer runs it: in the node's network, outside the target. */
async function installerShell(c: Ctx, command: string) {
  return c.lab.exec(c.lab.client, ['env', `PATH=${c.bin}:/usr/sbin:/usr/bin:/sbin:/bin`, 'sh', '-c', command], {
    timeoutMs: 60_000,
  });
}

/** A script run inside the new system, as anaconda's %post and cloud-init's first boot run theirs. */
async function inTarget(c: Ctx, path: string, script: string) {
  c.target.write(path, script, 0o755);
  return c.lab.exec(c.lab.client, ['chroot', c.target.root, '/bin/sh', path], { timeoutMs: 60_000 });
}

async function setup(t: Test, profile: Record<string, unknown>) {
  const lab = await createLab(t);
  const ip = `${lab.prefix}.21`;
  await startRackjoin(t, lab, {
    dhcp: { mode: 'reservation', subnets: [{ cidr: `${lab.prefix}.0/24`, router: lab.serverIp, dns: [lab.serverIp] }] },
    profiles: [{ name: 'p', loader: 'ipxe', kernel: 'k/vmlinuz', initrd: ['k/initrd'], ...profile }],
    nodes: [{ name: NODE, macs: [MAC], ip, profile: 'p' }],
    config: {
      advertise: lab.serverIp,
      kubernetes: { apiServerEndpoint: `${lab.serverIp}:6443`, joinToken: 'abcdef.0123456789abcdef' },
    },
  });
  // The address DHCP would have given it (the DHCP path has its own tests).
  await lab.exec(lab.client, ['ip', 'addr', 'add', `${ip}/24`, 'dev', lab.clientIf]);
  const bin = mkdtempSync(join(tmpdir(), 'rj-installer-bin-'));
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  symlinkSync(execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim(), join(bin, 'wget'));
  const target = createTarget(t);
  // debian-installer's in-target: the command, chrooted into the new system.
  writeFileSync(join(bin, 'in-target'), `#!/bin/sh\nexec chroot ${target.root} "$@"\n`);
  chmodSync(join(bin, 'in-target'), 0o755);
  const c: Ctx = { lab, target, bin };
  const http = async (url: string, auth = false) => {
    const r = await lab.exec(lab.client, [
      'curl',
      '-sf',
      ...(auth ? ['-H', `Authorization: Bearer ${TOKENS.read}`] : []),
      url,
    ]);
    if (r.code !== 0) throw new Error(`GET ${url}: curl exit ${r.code}`);
    return r.stdout;
  };
  const base = `http://${lab.serverIp}:8080`;
  // What the firmware's iPXE fetches: the node's script, whose kernel line carries the config URL.
  const script = await http(`${base}/ipxe/${MAC.replace(/:/g, '-')}`);
  const node = async () => JSON.parse(await http(`${base}/api/v1/nodes/${NODE}`, true));
  const callbacks = async () =>
    (JSON.parse(await http(`${base}/api/v1/nodes/${NODE}/events?limit=500`, true)).events as any[]).filter(
      (e) => e.type === 'callback',
    );
  return { c, http, script, node, callbacks, lab };
}

/** "<stage>: <step> failed: curl: (6) Could not resolve host: <host>" and curl's own output with it. */
async function assertFailedAt(
  t: Test,
  s: Awaited<ReturnType<typeof setup>>,
  stage: string,
  step: string,
  host: string,
) {
  const n = await s.node();
  t.equal(n.state, 'failed', 'the node failed');
  const reason = new RegExp(
    `^${stage}: ${step} failed: curl: \\(6\\) Could not resolve host: ${host.replace(/\./g, '\\.')}`,
  );
  t.match(n.reason, reason, 'its reason names the step and quotes curl');
  const failed = (await s.callbacks()).filter((e) => e.data.stage === 'failed');
  t.ok(failed.length >= 1, 'the failure was reported by the node');
  t.match(failed[0].data.output, /Could not resolve host/, "with the step's output");
}

t.test('debian-installer: a failing late_command step fails the node, named', { skip }, async (t) => {
  const s = await setup(t, {
    cmdline: 'auto=true priority=critical url={{urls.preseed}}',
    installer: 'preseed',
  });
  const url = /\burl=(\S+)/.exec(s.script)?.[1];
  t.ok(url, 'the kernel line names the preseed');
  const preseed = await s.http(url!);
  const value = (q: string) => new RegExp(`^d-i ${q} string (.*)$`, 'm').exec(preseed)?.[1] ?? '';
  const early = await installerShell(s.c, value('preseed/early_command'));
  t.equal(early.code, 0, 'early_command called back', { stderr: early.stderr });
  t.equal((await s.node()).state, 'installing');

  const late = await installerShell(s.c, value('preseed/late_command'));
  t.not(late.code, 0, 'late_command fails: debian-installer stops the install there');
  await assertFailedAt(t, s, 'installing', 'adding the Kubernetes apt repository', 'pkgs.k8s.io');
  t.notOk(
    (await s.callbacks()).some((e) => e.data.stage === 'installed'),
    'installed is never reported after a failed step',
  );
  // The steps before it ran in the target, as they would in /target.
  t.match(
    execFileSync('cat', [join(s.c.target.root, 'etc/modules-load.d/k8s.conf')], { encoding: 'utf8' }),
    /br_netfilter/,
  );
  const shown = execFileSync('ip', ['netns', 'exec', s.lab.client, 'node', CLI, 'node', NODE], {
    encoding: 'utf8',
    env: { ...process.env, RACKJOIN_URL: `http://${s.lab.serverIp}:8080`, RACKJOIN_TOKEN: TOKENS.read },
  });
  t.match(shown, /adding the Kubernetes apt repository failed: curl: \(6\)/, '`rackjoin node` shows it');
  t.comment(`rackjoin node ${NODE}:\n${shown}`);
});

t.test('anaconda: a failing %post step fails the node, named; %onerror repeats it', { skip }, async (t) => {
  const s = await setup(t, { cmdline: 'inst.ks={{urls.kickstart}}', installer: 'kickstart' });
  const url = /\binst\.ks=(\S+)/.exec(s.script)?.[1];
  t.ok(url, 'the kernel line names the kickstart');
  const ks = await s.http(url!);
  const section = (name: string) => new RegExp(`^%${name}\\b[^\\n]*\\n([\\s\\S]*?)^%end$`, 'm').exec(ks)?.[1] ?? '';
  t.match(ks, /^%post --erroronfail/m, '%post stops the install when it fails');
  const pre = await installerShell(s.c, section('pre'));
  t.equal(pre.code, 0, '%pre called back', { stderr: pre.stderr });
  const post = await inTarget(s.c, '/tmp/ks-script-post', section('post'));
  t.not(post.code, 0, '%post fails');
  await assertFailedAt(
    t,
    s,
    'installing',
    'adding the containerd and Kubernetes package repositories',
    'download.docker.com',
  );
  const reason = (await s.node()).reason;
  const onerror = await installerShell(s.c, section('onerror'));
  t.equal(onerror.code, 0, '%onerror reports too', { stderr: onerror.stderr });
  t.equal((await s.node()).reason, reason, 'the first failure stays the reason');
  t.notOk(
    (await s.callbacks()).some((e) => e.data.stage === 'installed'),
    'installed is never reported',
  );
});

t.test('Ubuntu: a failing first-boot step fails the node, named, and it never joins', { skip }, async (t) => {
  const s = await setup(t, {
    cmdline: 'ip=dhcp autoinstall ds=nocloud-net;s={{urls.seed}}',
    installer: 'cloud-init',
  });
  const seed = /ds=nocloud-net;s=(\S+)/.exec(s.script)?.[1];
  t.ok(seed, 'the kernel line names the seed');
  const ud = parseYaml(await s.http(`${seed}user-data`)).autoinstall;
  for (const cmd of [...ud['early-commands'], ...ud['late-commands']]) {
    const r = await installerShell(s.c, cmd);
    t.equal(r.code, 0, `installer command ran: ${String(cmd).slice(0, 40)}...`, { stderr: r.stderr });
  }
  t.equal((await s.node()).state, 'installed');
  // First boot: cloud-init writes the files, then runs runcmd as one script (strings
  // verbatim, lists quoted: cloud-init's shellify).
  for (const f of ud['user-data'].write_files) s.c.target.write(f.path, f.content, parseInt(f.permissions, 8));
  const runcmd = (ud['user-data'].runcmd as (string | string[])[])
    .map((c) => (Array.isArray(c) ? c.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ') : c))
    .join('\n');
  const boot = await inTarget(s.c, '/var/lib/cloud/instance/scripts/runcmd', `#!/bin/sh\n${runcmd}\n`);
  t.not(boot.code, 0, 'runcmd stops at the failed step');
  await assertFailedAt(t, s, 'installed', 'adding the Kubernetes apt repository', 'pkgs.k8s.io');
  t.notOk(
    (await s.callbacks()).some((e) => e.data.stage === 'joining'),
    'the join never ran',
  );
});
