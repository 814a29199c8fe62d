// The boot plane wired into the daemon, with real clients: udhcpc posing as BIOS
// PXE firmware, tftp-hpa and curl fetching the loader, the rendered per-MAC
// pxelinux config, kernel and initrd over TFTP, the kickstart over HTTP, and the
// installer's callbacks: the node walks pxe → booting → installing → installed →
// joining → joined, and every file is on its timeline.
import t from 'tap';
import Database from 'better-sqlite3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOKENS } from '../helpers/daemon.js';
import { scratch, startRackjoin, udhcpc } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const MAC = '02:00:00:00:0b:01';
const BIOS = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-O', '66', '-O', '67'];
const JOIN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'ef'.repeat(32)}`;

async function run(lab: Lab, argv: string[]) {
  const r = await lab.exec(lab.client, argv, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

t.test('BIOS pxelinux install path end to end over real TFTP and HTTP', { skip }, async (t) => {
  const lab = await createLab(t);
  const assets = scratch(t, 'rj-assets-');
  mkdirSync(join(assets, 'rocky'));
  writeFileSync(join(assets, 'pxelinux.0'), Buffer.alloc(40_000, 1));
  writeFileSync(join(assets, 'rocky/vmlinuz'), Buffer.alloc(3_000_000, 2));
  writeFileSync(join(assets, 'rocky/initrd.img'), Buffer.alloc(1_000_000, 3));
  const d = await startRackjoin(t, lab, {
    dhcp: { mode: 'reservation', subnets: [{ cidr: `${lab.prefix}.0/24`, router: lab.serverIp, leaseSeconds: 600 }] },
    profiles: [
      {
        name: 'rocky',
        loader: 'pxelinux',
        kernel: 'rocky/vmlinuz',
        initrd: ['rocky/initrd.img'],
        cmdline: 'inst.ks={{urls.kickstart}}',
        installer: 'kickstart',
      },
    ],
    nodes: [{ name: 'worker-01', macs: [MAC], ip: `${lab.prefix}.21`, profile: 'rocky' }],
    config: {
      assets,
      advertise: lab.serverIp,
      tftp: { enabled: true, port: 69 },
      kubernetes: { apiServerEndpoint: '198.18.255.10:6443', joinToken: JOIN, caCertHashes: [HASH] },
    },
  });
  const db = new Database(join(d.dataDir, 'rackjoin.db'), { readonly: true });
  t.teardown(() => db.close());
  const state = () => db.prepare(`SELECT state FROM nodes WHERE name = 'worker-01'`).pluck().get() as string;
  const events = (type: string) =>
    (
      db
        .prepare(
          `SELECT data FROM events WHERE type = ? AND node_id = (SELECT id FROM nodes WHERE name = 'worker-01') ORDER BY id`,
        )
        .pluck()
        .all(type) as string[]
    ).map((s) => JSON.parse(s));

  // Firmware: DHCP gives the reserved address and pxelinux.0 with siaddr.
  const lease = await udhcpc(t, lab, MAC, BIOS);
  t.equal(lease.ip, `${lab.prefix}.21`);
  t.equal(lease.siaddr, lab.serverIp);
  t.equal(lease.boot_file, 'pxelinux.0');
  t.equal(state(), 'pxe');
  await run(lab, ['ip', 'addr', 'add', `${lease.ip}/24`, 'dev', lab.clientIf]);
  const leases = JSON.parse(
    await run(lab, [
      'curl',
      '-s',
      '-H',
      `Authorization: Bearer ${TOKENS.read}`,
      `http://${lab.serverIp}:8080/api/v1/leases`,
    ]),
  );
  t.match(
    leases.leases,
    [{ ip: `${lab.prefix}.21`, mac: MAC, node: 'worker-01', state: 'bound' }],
    'GET /api/v1/leases shows the ACKed lease',
  );
  t.match(
    await run(lab, ['curl', '-s', `http://${lab.serverIp}:8080/api/v1/leases`]),
    /unauthorized/,
    'leases need a token',
  );

  // pxelinux: loader, its per-MAC config (rendered), kernel and initrd, all over TFTP.
  const dir = scratch(t, 'rj-client-');
  await run(lab, ['tftp', lab.serverIp, '-m', 'binary', '-c', 'get', 'pxelinux.0', join(dir, 'pxelinux.0')]);
  const cfg = await run(lab, [
    'curl',
    '-s',
    '--tftp-blksize',
    '1408',
    `tftp://${lab.serverIp}/pxelinux.cfg/01-02-00-00-00-0b-01`,
  ]);
  t.match(cfg, /^\s+KERNEL rocky\/vmlinuz$/m);
  t.match(cfg, /^\s+INITRD rocky\/initrd\.img$/m);
  const ks = /APPEND inst\.ks=(\S+)/.exec(cfg)![1]!;
  await run(lab, [
    'curl',
    '-s',
    '--tftp-blksize',
    '1408',
    '-o',
    join(dir, 'vmlinuz'),
    `tftp://${lab.serverIp}/rocky/vmlinuz`,
  ]);
  await run(lab, [
    'atftp',
    '--option',
    'blksize 1468',
    '--option',
    'windowsize 16',
    '-g',
    '-r',
    'rocky/initrd.img',
    '-l',
    join(dir, 'initrd'),
    lab.serverIp,
  ]);
  await new Promise((r) => setTimeout(r, 300)); // the transfer's end reaches the timeline from the TFTP worker
  t.equal(state(), 'booting');
  t.same(
    events('tftp.sent').map((e) => [e.role, e.file, e.bytes]),
    [
      ['loader', 'pxelinux.0', 40_000],
      ['boot-config', 'pxelinux.cfg/01-02-00-00-00-0b-01', Buffer.byteLength(cfg)],
      ['kernel', 'rocky/vmlinuz', 3_000_000],
      ['initrd', 'rocky/initrd.img', 1_000_000],
    ],
    'every TFTP file on the timeline, with its role and size',
  );

  // The installer fetches its kickstart (the token is in the URL pxelinux got) and calls back.
  const kickstart = await run(lab, ['curl', '-sf', ks]);
  t.match(
    kickstart,
    `kubeadm join 198.18.255.10:6443 --token ${JOIN} --discovery-token-ca-cert-hash ${HASH} --node-name worker-01`,
  );
  t.equal(state(), 'installing');
  const callback = /(http:\/\/\S+\/api\/v1\/callback\/\S+)/.exec(kickstart)![1]!;
  for (const stage of ['installed', 'joining', 'joined']) {
    await run(lab, ['curl', '-sf', '-H', 'content-type: application/json', '-d', JSON.stringify({ stage }), callback]);
    t.equal(state(), stage);
  }
  t.equal(
    (await lab.exec(lab.client, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', ks])).stdout,
    '404',
    'kickstart (and its join token) gone once installed',
  );
  const local = await run(lab, ['curl', '-s', `tftp://${lab.serverIp}/pxelinux.cfg/01-02-00-00-00-0b-01`]);
  t.match(local, /LOCALBOOT 0/, 'installed: pxelinux boots the local disk');
  t.notMatch(d.output(), JOIN, 'the join token never reached the log');
  const nodes = JSON.parse(
    await run(lab, [
      'curl',
      '-s',
      '-H',
      `Authorization: Bearer ${TOKENS.read}`,
      `http://${lab.serverIp}:8080/api/v1/nodes/worker-01`,
    ]),
  );
  t.same(Object.keys(nodes.stages).sort(), [
    'booting',
    'installed',
    'installing',
    'joined',
    'joining',
    'pxe',
    'registered',
  ]);
});
