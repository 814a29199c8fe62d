// tcpdump without tcpdump: after a real udhcpc exchange (posing as BIOS PXE
// firmware) and real TFTP fetches (tftp-hpa for the loader and the rendered
// pxelinux config, curl with blksize for a kernel, which gets an OACK), the node's
// pcap, fetched through the API and through the CLI, is read by tcpdump: DISCOVER,
// OFFER, REQUEST, ACK and the RRQs and OACK are there, and every packet in it is
// one a real tcpdump on the client's link saw, with the same addresses and ports.
// The node's token, which its pxelinux config carries, is masked in the capture.
import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, TOKENS } from '../helpers/daemon.js';
import { scratch, startRackjoin, udhcpc } from '../helpers/dhcpLab.js';
import { createLab, labUnavailable, type Lab } from '../helpers/netns.js';

const skip = process.env.CI ? false : (labUnavailable() ?? false);
const MAC = '02:00:00:00:0d:01';
const BIOS = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-O', '66', '-O', '67'];
const CONFIG = 'pxelinux.cfg/01-02-00-00-00-0d-01';

async function run(lab: Lab, argv: string[]) {
  const r = await lab.exec(lab.client, argv, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** tcpdump's one-line summaries of `file` (filtered), without timestamps; TFTP decoded on any port. */
function summaries(file: string, filter: string, tftp = false): string[] {
  const args = ['-nn', '-r', file, ...(tftp ? ['-T', 'tftp'] : []), filter];
  return execFileSync('tcpdump', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^\S+ /, ''));
}

/** Resolves once `file` has not grown for 400 ms (at most 15 s): the capture writing it has caught up. */
async function caughtUp(file: string): Promise<void> {
  let size = -1;
  for (let i = 0; i < 75 && statSync(file).size !== size; i++) {
    size = statSync(file).size;
    await new Promise((r) => setTimeout(r, 400));
  }
}

const DHCP = 'udp port 67 or udp port 68';
const TFTP = 'udp and not (port 67 or port 68)';

t.test("a node's pcap after real DHCP and TFTP clients reads like tcpdump on its link", { skip }, async (t) => {
  const lab = await createLab(t);
  const assets = scratch(t, 'rj-assets-');
  mkdirSync(join(assets, 'rocky'));
  writeFileSync(join(assets, 'pxelinux.0'), Buffer.alloc(5_000, 1));
  writeFileSync(join(assets, 'rocky/vmlinuz'), Buffer.alloc(100_000, 2));
  // pxelinux.cfg's text up to the kernel command line (templates/pxelinux.hbs); the padding puts the
  // token across the end of the first 512-byte block, where a per-packet mask would miss half of it.
  const before = `# rackjoin: worker-01 (${MAC})\nDEFAULT rackjoin\nPROMPT 0\nTIMEOUT 0\nLABEL rackjoin\n  KERNEL rocky/vmlinuz\n  APPEND `;
  const urlToToken = `inst.ks=http://${lab.serverIp}:8080/n/`;
  const pad = `rackjoin.pad=${'x'.repeat(500 - before.length - urlToToken.length - 'rackjoin.pad= '.length)}`;
  const d = await startRackjoin(t, lab, {
    dhcp: { mode: 'reservation', subnets: [{ cidr: `${lab.prefix}.0/24`, router: lab.serverIp, leaseSeconds: 600 }] },
    profiles: [
      {
        name: 'rocky',
        loader: 'pxelinux',
        kernel: 'rocky/vmlinuz',
        cmdline: `${pad} inst.ks={{urls.kickstart}} inst.stage2=http://mirror.example/rocky/9/BaseOS/x86_64/os`,
        installer: 'kickstart',
      },
    ],
    nodes: [
      { name: 'worker-01', macs: [MAC], ip: `${lab.prefix}.21`, profile: 'rocky' },
      { name: 'worker-02', macs: ['02:00:00:00:0d:02'], profile: 'rocky' },
    ],
    config: { assets, advertise: lab.serverIp, tftp: { enabled: true, port: 69 } },
  });
  const dir = scratch(t, 'rj-pcap-');

  // The real capture on the client's side of the link, for comparison.
  const truth = join(dir, 'link.pcap');
  const dump = lab.spawn(lab.client, [
    'tcpdump',
    '-i',
    lab.clientIf,
    '--immediate-mode',
    '-U',
    '-n',
    '-w',
    truth,
    'udp',
  ]);
  let dumpSaid = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tcpdump did not start')), 10_000);
    dump.stderr!.on('data', (b: Buffer) => {
      dumpSaid += b.toString();
      if (!dumpSaid.includes('listening on')) return;
      clearTimeout(timer);
      resolve();
    });
  });

  const lease = await udhcpc(t, lab, MAC, BIOS);
  t.equal(lease.ip, `${lab.prefix}.21`);
  await run(lab, ['ip', 'addr', 'add', `${lease.ip}/24`, 'dev', lab.clientIf]);
  await run(lab, ['tftp', lab.serverIp, '-m', 'binary', '-c', 'get', 'pxelinux.0', join(dir, 'pxelinux.0')]);
  await run(lab, ['tftp', lab.serverIp, '-m', 'binary', '-c', 'get', CONFIG, join(dir, 'pxelinux.cfg')]);
  const cfg = readFileSync(join(dir, 'pxelinux.cfg'), 'utf8');
  await run(lab, [
    'curl',
    '-s',
    '--tftp-blksize',
    '1408',
    '-o',
    join(dir, 'k'),
    `tftp://${lab.serverIp}/rocky/vmlinuz`,
  ]);
  await caughtUp(truth); // tcpdump may be a little behind on a busy machine
  dump.kill('SIGTERM');
  // 'close', not 'exit': tcpdump's closing counts are on stderr, which may still be unread at 'exit'.
  await new Promise((r) => dump.once('close', r));
  const counts = /(\d+) packets captured\s+(\d+) packets received by filter\s+0 packets dropped by kernel/.exec(
    dumpSaid,
  );
  t.ok(counts && counts[1] === counts[2], `the comparison capture is complete: ${counts?.[0]}`);

  // Through the API: a pcap, named after the node.
  const api = join(dir, 'api.pcap');
  const headers = await run(lab, [
    'curl',
    '-s',
    '-D',
    '-',
    '-o',
    api,
    '-H',
    `Authorization: Bearer ${TOKENS.read}`,
    `http://${lab.serverIp}:8080/api/v1/nodes/worker-01/pcap`,
  ]);
  t.match(headers, /^HTTP\/1\.1 200/);
  t.match(headers, /^content-type: application\/vnd\.tcpdump\.pcap/im);
  t.match(headers, /^content-disposition: attachment; filename="worker-01\.pcap"/im);

  // Through the CLI, by MAC.
  const cli = join(dir, 'cli.pcap');
  const env = ['env', `RACKJOIN_URL=http://${lab.serverIp}:8080`, `RACKJOIN_TOKEN=${TOKENS.read}`];
  const said = await run(lab, [...env, process.execPath, CLI, 'node', MAC.toUpperCase(), '--pcap', cli]);
  t.match(said, new RegExp(`^${cli}: \\d+ packets`));

  const db = new Database(join(d.dataDir, 'rackjoin.db'), { readonly: true });
  const token = db.prepare(`SELECT token FROM nodes WHERE name = 'worker-01'`).pluck().get() as string;
  db.close();
  const at = cfg.indexOf(token);
  t.ok(at > 400 && at < 512 && at + token.length > 512, `the client got the real token, across blocks 1 and 2 (${at})`);
  const link = { dhcp: summaries(truth, DHCP), tftp: summaries(truth, TFTP, true) };
  for (const file of [api, cli]) {
    t.test(file.endsWith('api.pcap') ? 'the API pcap' : 'the CLI pcap', async (t) => {
      const verbose = execFileSync('tcpdump', ['-nn', '-v', '-r', file, DHCP], { encoding: 'utf8' });
      const types = [...verbose.matchAll(/DHCP-Message \(53\), length 1: (\w+)/g)].map((m) => m[1]);
      t.same(types.slice(0, 4), ['Discover', 'Offer', 'Request', 'ACK'], 'the DORA, in order');
      const dhcp = summaries(file, DHCP);
      t.match(dhcp[0], /^IP 0\.0\.0\.0\.68 > 255\.255\.255\.255\.67: BOOTP\/DHCP, Request from 02:00:00:00:0d:01/);
      t.match(dhcp[1], new RegExp(`^IP ${lab.serverIp.replace(/\./g, '\\.')}\\.67 > \\S+\\.68: BOOTP/DHCP, Reply`));
      t.same(dhcp, link.dhcp, 'every DHCP packet on the link, and nothing else, with its addresses and ports');

      const tftp = summaries(file, TFTP, true);
      const server = lab.serverIp.replace(/\./g, '\\.');
      const client = lease.ip!.replace(/\./g, '\\.');
      t.match(tftp, [new RegExp(`^IP ${client}\\.\\d+ > ${server}\\.69: TFTP, length \\d+, RRQ "pxelinux\\.0" octet`)]);
      t.ok(
        tftp.some((l) => l.includes(`RRQ "${CONFIG}" octet`)),
        'the config RRQ',
      );
      const oack = tftp.find((l) => / OACK /.test(l));
      t.match(oack, new RegExp(`^IP ${server}\\.\\d+ > ${client}\\.\\d+: TFTP, length \\d+, OACK .*blksize 1408`));
      for (const l of tftp) t.ok(link.tftp.includes(l), `on the link too: ${l}`);
      const kinds = (ls: string[]) => ls.filter((l) => /RRQ|OACK|ERROR/.test(l));
      t.same(kinds(tftp), kinds(link.tftp), 'every request, OACK and error');
      t.ok(tftp.length < link.tftp.length / 4, 'not every DATA block of the kernel');

      const bytes = readFileSync(file);
      const inFirst = 512 - at; // of the token's characters, in DATA block 1
      t.ok(
        bytes.includes(`/n/${'*'.repeat(inFirst)}`) && bytes.includes(`${'*'.repeat(32 - inFirst)}/kickstart`),
        'the installer URL is in the capture, its token masked in both blocks',
      );
      t.notOk(bytes.includes(token.slice(0, 8)) || bytes.includes(token.slice(-8)), 'no part of the token is');
    });
  }

  // A node never heard from: a valid, empty capture. An unknown name: the API's 404.
  const empty = join(dir, 'empty.pcap');
  await run(lab, [...env, process.execPath, CLI, 'node', 'worker-02', '--pcap', empty]);
  t.equal(readFileSync(empty).length, 24, 'just the pcap header');
  t.same(summaries(empty, 'udp'), []);
  const missing = await lab.exec(lab.client, [...env, process.execPath, CLI, 'node', 'nope', '--pcap', empty]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^rackjoin: 404 no node with name or MAC "nope"/);
  const json = await run(lab, [
    'curl',
    '-s',
    '-H',
    `Authorization: Bearer ${TOKENS.read}`,
    `http://${lab.serverIp}:8080/api/v1/nodes/nope/pcap`,
  ]);
  t.same(JSON.parse(json), { error: 'not_found', message: 'no node with name or MAC "nope"' });
});
