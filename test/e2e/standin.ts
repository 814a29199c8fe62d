// The stand-in that bench/e2e measures rackjoin against: dnsmasq (DHCP + TFTP) and a
// static Python HTTP server, tuned as the lab recipe found best (no ping check,
// option 175.176 for iPXE, the same RA responder), serving the very files rackjoin
// renders for the same machines (taken from its explain dry run, the masked tokens
// filled in), on the same address and ports. Only one of the two runs at a time.
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { macHyphen } from '../../src/mac.js';
import { onJsonLines } from '../helpers/jsonLines.js';
import type { Lab } from './lab.js';
import { ASSETS, HTTP_PORT, JOIN_TOKEN, type Rackjoin } from './rackjoin.js';
import { BOOT_PATHS, type BootPathId } from './vm.js';

export interface StandinMachine {
  name: string;
  mac: string;
  path: BootPathId;
}

/** A static HTTP server that also takes the installer's callbacks and logs every request with its time. */
const HTTP_SERVER = `
import http.server, json, os, sys, time
root = sys.argv[1]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)
    def log_message(self, *a):
        pass
    def note(self, **kw):
        print(json.dumps({"t": time.time(), **kw}), flush=True)
    def do_GET(self):
        self.note(method="GET", path=self.path)
        super().do_GET()
    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        try:
            stage = json.loads(body).get("stage")
        except Exception:
            stage = None
        self.note(method="POST", path=self.path, stage=stage)
        out = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
http.server.ThreadingHTTPServer((sys.argv[2], int(sys.argv[3])), H).serve_forever()
`;

export interface StandinRoot {
  dir: string;
  /** Per machine: the fake node token in its URLs (the callback path carries it). */
  tokens: Record<string, string>;
}

/**
 * The stand-in's TFTP and HTTP trees: the loaders and installer from assets/, and
 * per machine its iPXE script or pxelinux config and its NoCloud seed, as rackjoin
 * renders them for a node that is about to install.
 */
export async function prepareStandin(lab: Lab, rj: Rackjoin, machines: StandinMachine[]): Promise<StandinRoot> {
  const dir = join(lab.runDir, 'standin');
  rmSync(dir, { recursive: true, force: true });
  const tftp = join(dir, 'tftp');
  const http = join(dir, 'http');
  mkdirSync(join(tftp, 'pxelinux.cfg'), { recursive: true });
  mkdirSync(join(http, 'ipxe'), { recursive: true });
  for (const f of ['pxelinux.0', 'ldlinux.c32', 'ipxe.efi', 'undionly.kpxe', 'snponly.efi', 'e2e'])
    symlinkSync(join(ASSETS, f), join(tftp, f));
  symlinkSync(ASSETS, join(http, 'assets'));
  const tokens: Record<string, string> = {};
  const write = (path: string, content: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  };
  for (const [i, m] of machines.entries()) {
    const token = `standin${i}x${'0'.repeat(24)}`;
    tokens[m.name] = token;
    const fill = (s: string) => s.replaceAll('[node-token]', token).replaceAll('[join-token]', JOIN_TOKEN);
    const r = await rj.api('GET', `/api/v1/nodes/${m.name}/explain?arch=ipxe`);
    if (r.status !== 200) throw new Error(`explain ${m.name}: ${r.status} ${JSON.stringify(r.body)}`);
    const stages = r.body.stages as { stage: string; content?: string; file?: string }[];
    const config = stages.find((s) => s.stage === 'loader-config');
    const installer = stages.find((s) => s.stage === 'installer');
    if (!config?.content || !installer?.content)
      throw new Error(`explain ${m.name}: the node is not about to install (${r.body.state})`);
    if (BOOT_PATHS[m.path].loader === 'pxelinux') {
      write(join(tftp, 'pxelinux.cfg', `01-${macHyphen(m.mac)}`), fill(config.content));
    } else {
      // "<boot.ipxe>\n--- <node script URL> ---\n<node script>"
      const [entry, script] = config.content.split(/\n--- \S+ ---\n/);
      write(join(http, 'boot.ipxe'), fill(entry!));
      write(join(http, 'ipxe', macHyphen(m.mac)), fill(script!));
    }
    const seed = join(http, 'n', token);
    write(join(seed, 'user-data'), fill(installer.content));
    write(
      join(seed, 'meta-data'),
      `instance-id: ${JSON.stringify(`${m.name}-standin`)}\nlocal-hostname: ${JSON.stringify(m.name)}\n`,
    );
    write(join(seed, 'vendor-data'), '#cloud-config\n{}\n');
  }
  return { dir, tokens };
}

export interface StandinRecord {
  t: number;
  method: string;
  path: string;
  stage?: string | null;
}

export interface Standin {
  /** Requests seen by the HTTP server so far. */
  records: StandinRecord[];
  /** Epoch ms the `stage` callback for `token` arrived, or undefined. */
  callbackAt(token: string, stage: string): number | undefined;
  stop(): Promise<void>;
}

export async function startStandin(lab: Lab, root: StandinRoot, machines: StandinMachine[]): Promise<Standin> {
  const conf = join(root.dir, 'dnsmasq.conf');
  const base = `http://${lab.serverIp}:${HTTP_PORT}`;
  const lines = [
    'port=0', // no DNS
    `interface=${lab.bridge}`,
    'bind-interfaces',
    `dhcp-range=${lab.prefix}.100,${lab.prefix}.199,255.255.255.0,10m`,
    `dhcp-leasefile=${join(root.dir, 'dnsmasq.leases')}`,
    'dhcp-authoritative',
    'no-ping', // the default ping check costs every new client 3 s
    'enable-tftp',
    `tftp-root=${join(root.dir, 'tftp')}`,
    'dhcp-userclass=set:ipxe,iPXE',
    'dhcp-match=set:efi64,option:client-arch,7',
    // iPXE: option 175 sub-option 176 (no-pxedhcp) = 1, or it waits ~3 s for ProxyDHCP.
    'dhcp-option=tag:ipxe,175,b0:01:01',
    ...machines.filter((m) => BOOT_PATHS[m.path].loader === 'pxelinux').map((m) => `dhcp-host=${m.mac},set:pxelinux`),
    'dhcp-boot=tag:pxelinux,pxelinux.0',
    `dhcp-boot=tag:!pxelinux,tag:ipxe,${base}/boot.ipxe`,
    'dhcp-boot=tag:!pxelinux,tag:!ipxe,tag:efi64,ipxe.efi',
    'dhcp-boot=tag:!pxelinux,tag:!ipxe,tag:!efi64,undionly.kpxe',
  ];
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const children: ChildProcess[] = [];
  const records: StandinRecord[] = [];
  const log = join(root.dir, 'standin.log');
  let out = '';
  const dnsmasq = lab.spawn([
    'dnsmasq',
    '--keep-in-foreground',
    '--no-daemon',
    '--log-facility=-',
    `--conf-file=${conf}`,
    '--pid-file=',
  ]);
  children.push(dnsmasq);
  // dnsmasq logs each DHCP reply and TFTP file sent: timestamped here as the lines arrive.
  let dbuf = '';
  const onDnsmasq = (d: Buffer) => {
    out += d;
    dbuf += d.toString();
    let nl: number;
    while ((nl = dbuf.indexOf('\n')) >= 0) {
      const line = dbuf.slice(0, nl);
      dbuf = dbuf.slice(nl + 1);
      if (/DHCP(OFFER|ACK)\(/.test(line)) records.push({ t: Date.now(), method: 'DHCP', path: line.trim() });
      const sent = /sent (\S+) to /.exec(line);
      if (sent) records.push({ t: Date.now(), method: 'TFTP', path: sent[1]! });
    }
  };
  dnsmasq.stdout!.on('data', onDnsmasq);
  dnsmasq.stderr!.on('data', onDnsmasq);
  const http = lab.spawn(['python3', '-u', '-c', HTTP_SERVER, join(root.dir, 'http'), lab.serverIp, String(HTTP_PORT)]);
  children.push(http);
  onJsonLines(http.stdout!, (rec) => {
    const r = rec as unknown as StandinRecord;
    records.push({ ...r, t: r.t * 1000 });
  });
  http.stderr!.on('data', (d) => (out += d));
  // Ready when both answer: HTTP by a request, dnsmasq by its start-up line.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await lab.exec(['curl', '-s', '-o', '/dev/null', '--max-time', '1', `${base}/boot.ipxe`], {
      timeoutMs: 3000,
    });
    if (r.code === 0 && /started, version/.test(out)) break;
    if (dnsmasq.exitCode !== null || http.exitCode !== null || Date.now() > deadline) {
      for (const c of children) c.kill('SIGKILL');
      throw new Error(`the stand-in did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  records.length = 0; // the readiness probe is not part of any boot
  return {
    records,
    callbackAt(token, stage) {
      return records.find((r) => r.method === 'POST' && r.path.endsWith(`/callback/${token}`) && r.stage === stage)?.t;
    },
    async stop() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      await Promise.race([
        Promise.all(
          children.map((c) =>
            c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)),
          ),
        ),
        new Promise((r) => setTimeout(r, 3000)),
      ]);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      writeFileSync(log, out + records.map((r) => JSON.stringify(r)).join('\n'));
    },
  };
}
