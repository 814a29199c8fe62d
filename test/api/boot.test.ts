// The boot plane over HTTP (in-process): scripts by MAC, assets with Range,
// installer files behind the node token, local boot after install, explain.
import t from 'tap';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { TOKENS } from '../helpers/daemon.js';
import { inProcessApp } from '../helpers/inproc.js';

const JOIN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'cd'.repeat(32)}`;

async function setup(t: { teardown(fn: () => unknown): void }) {
  const kernel = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
  const p = await inProcessApp(
    t,
    {
      profiles: [
        {
          name: 'ubuntu',
          loader: 'ipxe',
          kernel: 'ubuntu/vmlinuz',
          initrd: ['ubuntu/initrd'],
          cmdline: 'ip=dhcp autoinstall ds=nocloud-net;s={{urls.seed}}',
          installer: 'cloud-init',
        },
        {
          name: 'rocky',
          loader: 'pxelinux',
          kernel: 'rocky/vmlinuz',
          initrd: ['rocky/initrd.img'],
          cmdline: 'inst.ks={{urls.kickstart}}',
          installer: 'kickstart',
          localBoot: 'http-404',
        },
      ],
      nodes: [
        { name: 'worker-01', macs: ['52:54:00:00:00:01'], profile: 'ubuntu' },
        { name: 'worker-02', macs: ['52:54:00:00:00:02'], profile: 'rocky' },
      ],
    },
    (ws) => {
      const assets = join(ws.root, 'assets');
      mkdirSync(join(assets, 'ubuntu'), { recursive: true });
      writeFileSync(join(assets, 'ubuntu/vmlinuz'), kernel);
      writeFileSync(join(ws.root, 'secret.txt'), 'outside the root');
      symlinkSync(join(ws.root, 'secret.txt'), join(assets, 'escape'));
      return {
        assets,
        advertise: '198.18.0.1',
        kubernetes: { apiServerEndpoint: '198.18.0.10:6443', joinToken: JOIN, caCertHashes: [HASH] },
      };
    },
  );
  const { ctx } = p;
  const get = async (url: string, headers: Record<string, string> = {}) => {
    const res = await p.call('GET', url, { headers });
    return {
      status: res.status,
      body: typeof res.body === 'string' ? res.body : JSON.stringify(res.body),
      raw: res.raw,
      headers: res.headers,
    };
  };
  /** The installer's `installed` callback, or a reimage, through the lifecycle. */
  const setInstalled = async (name: string, installed: boolean) => {
    const n = ctx.nodes.get(name)!;
    if (installed) ctx.lifecycle.observe(n, { kind: 'callback', stage: 'installed', client: 'test' });
    else await ctx.lifecycle.reimage(n);
  };
  return { ...p, get, token: p.tokenOf, kernel, setInstalled };
}

t.test('iPXE: entry script, node script by MAC, unknown MAC recorded and sent to disk', async (t) => {
  const { get, ctx, token } = await setup(t);
  const entry = await get('/boot.ipxe');
  t.equal(entry.status, 200);
  t.match(entry.body, /^#!ipxe\n/);
  const script = await get('/ipxe/52-54-00-00-00-01?platform=efi&arch=x86_64');
  t.equal(script.status, 200);
  t.match(script.body, new RegExp(`ds=nocloud-net;s=http://198\\.18\\.0\\.1:\\d+/n/${token('worker-01')}/`));
  t.notMatch(script.body, JOIN, 'the join token is only in the installer config');
  const unknown = await get('/ipxe/52-54-00-00-00-77');
  t.equal(unknown.status, 200);
  t.match(unknown.body, /^exit 1$/m);
  t.equal(ctx.nodes.get('52:54:00:00:00:77')?.state, 'discovered', 'unknown MAC recorded as discovered');
  t.equal((await get('/ipxe/not-a-mac')).status, 404);
});

t.test('every file served lands on the node timeline and moves it along', async (t) => {
  const { get, ctx, token } = await setup(t);
  const id = ctx.nodes.get('worker-01')!.id;
  await get('/ipxe/52-54-00-00-00-01?platform=pcbios&arch=i386');
  await get('/assets/ubuntu/vmlinuz');
  await get('/assets/ubuntu/vmlinuz', { range: 'bytes=0-99' });
  const sent = ctx.events.list(id, { type: 'http.sent' }).map((e) => [e.data.role, e.data.file, e.data.bytes]);
  t.same(sent, [
    ['boot-config', 'ipxe/52-54-00-00-00-01', sent[0]![2]],
    ['kernel', 'assets/ubuntu/vmlinuz', 100_000],
    ['kernel', 'assets/ubuntu/vmlinuz', 100],
  ]);
  t.equal(ctx.nodes.get('worker-01')!.state, 'booting');
  await get(`/n/${token('worker-01')}/user-data`);
  t.same(
    ctx.events.list(id, { type: 'installer.config' }).map((e) => e.data.file),
    ['user-data'],
  );
  t.equal(ctx.nodes.get('worker-01')!.state, 'installing');
  t.same(ctx.events.list(ctx.nodes.get('worker-02')!.id, { type: 'http.sent' }), [], 'nothing on another node');
});

t.test('installer files: only with the right token, only while provisioning', async (t) => {
  const { get, token, setInstalled, logs } = await setup(t);
  const tok = token('worker-01');
  const ud = await get(`/n/${tok}/user-data`);
  t.equal(ud.status, 200);
  t.match(ud.headers['content-type'], /yaml/);
  const doc = parseYaml(ud.body);
  t.match(
    doc.autoinstall['user-data'].write_files[1].content,
    `kubeadm join 198.18.0.10:6443 --token ${JOIN} --discovery-token-ca-cert-hash ${HASH}`,
  );
  t.equal((await get(`/n/${tok}/meta-data`)).status, 200);
  t.equal((await get(`/n/${tok}/network-config`)).status, 200);

  for (const bad of [
    `/n/wrong-token/user-data`,
    `/n/${tok}/kickstart`,
    `/n/${tok}/etc-passwd`,
    `/n/${token('worker-02')}/user-data`,
  ]) {
    const res = await get(bad);
    t.equal(res.status, 404, bad.replace(tok, 'TOKEN'));
    t.equal(res.body, 'not found\n', 'serves nothing');
  }
  t.equal((await get(`/n/${token('worker-02')}/kickstart`)).status, 200);

  await setInstalled('worker-01', true);
  t.equal((await get(`/n/${tok}/user-data`)).status, 404, 'no installer config (or join token) once installed');
  t.notMatch(logs(), JOIN, 'join token never logged');
  t.notMatch(logs(), tok, 'node token never logged');
});

t.test('installed nodes boot from disk until reimaged', async (t) => {
  const { get, setInstalled } = await setup(t);
  await setInstalled('worker-01', true);
  const local = await get('/ipxe/52:54:00:00:00:01');
  t.match(local.body, /^exit 1$/m);
  t.notMatch(local.body, /kernel/);
  await setInstalled('worker-02', true);
  const http404 = await get('/ipxe/52-54-00-00-00-02');
  t.equal(http404.status, 404, 'localBoot http-404 answers 404 so the firmware moves on');
  await setInstalled('worker-01', false);
  t.match((await get('/ipxe/52:54:00:00:00:01')).body, /^kernel /m, 'armed again after reimage');
});

t.test('a failed node is held: what the API shows is what it is served', async (t) => {
  const { get, ctx, token, call } = await setup(t);
  const tok = token('worker-01');
  ctx.lifecycle.observe(ctx.nodes.get('worker-01')!, { kind: 'callback', stage: 'failed', client: 'test' });
  const view = await call('GET', '/api/v1/nodes/worker-01', { token: TOKENS.read });
  t.match(view.body, { state: 'failed', boot: { intent: 'local', reason: /failed: held until a reimage/ } });
  t.match((await get('/ipxe/52-54-00-00-00-01')).body, /^exit 1$/m, 'its script boots the disk');
  t.equal((await get(`/n/${tok}/user-data`)).status, 404, 'no installer config');
  const fetches = ctx.events.list(ctx.nodes.get('worker-01')!.id, { type: 'http.sent' });
  t.match(fetches.at(-1)!.data, { outcome: 'stale', note: /held/ }, 'the reboot is no progress');
  t.equal(ctx.nodes.get('worker-01')!.state, 'failed');
  const armed = await call('GET', '/api/v1/nodes/worker-02', { token: TOKENS.read });
  t.match(armed.body, { state: 'registered', boot: { intent: 'install' } });
});

t.test('assets: Range gives 206 with the right bytes; escapes refused', async (t) => {
  const { get, kernel } = await setup(t);
  const full = await get('/assets/ubuntu/vmlinuz');
  t.equal(full.status, 200);
  t.ok(full.raw.equals(kernel), 'whole file intact');
  t.equal(full.headers['accept-ranges'], 'bytes');
  const part = await get('/assets/ubuntu/vmlinuz', { range: 'bytes=1000-1999' });
  t.equal(part.status, 206);
  t.equal(part.headers['content-range'], `bytes 1000-1999/${kernel.length}`);
  t.ok(part.raw.equals(kernel.subarray(1000, 2000)), 'the requested bytes');
  const tail = await get('/assets/ubuntu/vmlinuz', { range: 'bytes=-100' });
  t.equal(tail.status, 206);
  t.ok(tail.raw.equals(kernel.subarray(-100)));
  t.equal((await get('/assets/ubuntu/vmlinuz', { range: 'bytes=200000-' })).status, 416);
  t.equal((await get('/assets/escape')).status, 403, 'symlink out of the root');
  t.equal((await get('/assets/..%2f..%2fsecret.txt')).status, 403);
  t.equal((await get('/assets/ubuntu/missing')).status, 404);
  t.equal((await get('/assets/ubuntu')).status, 404, 'a directory is not a file');
});

t.test('explain: every stage, secrets masked, nothing recorded', async (t) => {
  const { ctx, token, logs, app, call: request } = await setup(t);
  const call = (url: string) => request('GET', url, { token: TOKENS.read });
  const e = await call('/api/v1/nodes/worker-01/explain?arch=uefi');
  t.equal(e.status, 200);
  t.same(
    e.body.stages.map((s: { stage: string }) => s.stage),
    ['dhcp', 'loader', 'loader-config', 'kernel', 'installer'],
  );
  t.match(e.body.stages[0], { file: 'ipxe.efi' });
  const text = JSON.stringify(e.body);
  t.notMatch(text, JOIN);
  t.notMatch(text, token('worker-01'));
  t.match(text, /\[join-token\]/);
  t.match(text, /\[node-token\]/);
  const vars = Object.fromEntries(e.body.variables.map((v: { name: string }) => [v.name, v]));
  t.match(vars.kubernetesVersion, { source: /default|profile/ }, 'the variables its templates use');
  const px = await call('/api/v1/nodes/52-54-00-00-00-02/explain?arch=bios');
  t.match(px.body.stages[0], { file: 'pxelinux.0' });
  t.match(px.body.stages[1], { file: 'pxelinux.cfg/01-52-54-00-00-00-02', content: /KERNEL rocky\/vmlinuz/ });
  const unknown = await call('/api/v1/nodes/52:54:00:00:00:99/explain');
  t.equal(unknown.status, 200);
  t.match(unknown.body.stages[0].reason, /unknown MAC/);
  t.equal(ctx.nodes.get('52:54:00:00:00:99'), undefined, 'a dry run records nothing');
  t.equal((await call('/api/v1/nodes/worker-01/explain?arch=sparc')).status, 400);
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/nodes/worker-01/explain' })).statusCode, 401);
  t.notMatch(logs(), JOIN);
});

t.test('a broken template is an error naming it, never half a config', async (t) => {
  const { get, ctx } = await setup(t);
  mkdirSync(ctx.config.templates, { recursive: true });
  writeFileSync(join(ctx.config.templates, 'ipxe.hbs'), '#!ipxe\nkernel {{urls.kernal}}\n');
  const res = await get('/ipxe/52-54-00-00-00-01');
  t.equal(res.status, 500);
  t.match(res.body, /^rackjoin: template ipxe line 2: "kernal" not defined/, 'the console shows why');
  t.notMatch(res.body, /#!ipxe/);
  const node = ctx.nodes.get('worker-01')!;
  t.match(
    ctx.events.list(node.id, { type: 'render.failed' }),
    [{ source: 'http', data: { template: 'ipxe', line: 2, file: 'ipxe/52-54-00-00-00-01', detail: /kernal/ } }],
    'on the node timeline, with template and line',
  );
});

t.test('TFTP-rendered files: pxelinux per MAC, GRUB per MAC, autoexec.ipxe', async (t) => {
  const { ctx } = await setup(t);
  const px = ctx.plane.tftpFile('pxelinux.cfg/01-52-54-00-00-00-02', '198.18.0.50');
  t.match(px?.content.toString(), /KERNEL rocky\/vmlinuz/);
  t.equal(px?.node?.name, 'worker-02');
  t.equal(
    ctx.plane.tftpFile('pxelinux.cfg/default', '198.18.0.50'),
    null,
    'non per-node names fall through to assets/',
  );
  t.equal(ctx.plane.tftpFile('pxelinux.cfg/C612000A', '198.18.0.50'), null);
  t.match(
    ctx.plane.tftpFile('/grub/grub.cfg-01-52-54-00-00-00-02', '198.18.0.50')?.content.toString(),
    /linux \/rocky\/vmlinuz/,
  );
  t.match(ctx.plane.tftpFile('autoexec.ipxe', '198.18.0.50')?.content.toString(), /^#!ipxe/);
  t.equal(ctx.plane.tftpFile('undionly.kpxe', '198.18.0.50'), null);
});
