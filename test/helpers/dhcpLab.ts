// The real daemon and real DHCP clients in a test lab (helpers/netns.ts): run
// `rackjoin serve` in the server namespace (helpers/daemon.ts), and busybox
// udhcpc, ISC dhclient, perfdhcp or our probe in the client namespace.
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { parse, type DhcpPacket } from '../../src/dhcp/codec.js';
import type { Lab } from './netns.js';
import { startDaemonProcess, workspace, type DaemonProcess } from './daemon.js';

const HELPERS = fileURLToPath(new URL('.', import.meta.url));

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface DaemonSpec {
  dhcp: Record<string, unknown>;
  profiles?: Record<string, unknown>[];
  nodes?: Record<string, unknown>[];
  /** Further config keys (assets, tftp, advertise, kubernetes, ...). */
  config?: Record<string, unknown>;
  /** A command the daemon runs under inside the namespace (e.g. setpriv dropping a capability). */
  wrap?: string[];
}

export interface RunningDaemon {
  dataDir: string;
  proc: ChildProcess;
  /** Every JSON log line of the current process, as text. */
  output(): string;
  /** Start it again on the same config and data (after a crash or stop). */
  restart(): Promise<void>;
}

export function scratch(t: Teardownable, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `rackjoin serve` in lab.server (helpers/daemon.ts), on the lab link; resolves once DHCP listens. */
export async function startRackjoin(t: Teardownable, lab: Lab, spec: DaemonSpec): Promise<RunningDaemon> {
  const ws = workspace(t);
  ws.writeInventory('lab.yaml', { profiles: spec.profiles ?? [], nodes: spec.nodes ?? [] });
  const config = ws.writeConfig({
    interface: lab.serverIf,
    dhcp: spec.dhcp,
    http: { port: 8080, host: '0.0.0.0' },
    ...spec.config,
  });
  let daemon: DaemonProcess;
  const d: RunningDaemon = {
    dataDir: ws.dataDir,
    proc: undefined as unknown as ChildProcess,
    output: () => daemon.logs.map((l) => JSON.stringify(l)).join('\n'),
    async restart() {
      daemon = await startDaemonProcess(t, config, ['ip', 'netns', 'exec', lab.server, ...(spec.wrap ?? [])]);
      d.proc = daemon.proc;
      await daemon.waitForLog((l) => l.msg === 'dhcp listening');
    },
  };
  await d.restart();
  return d;
}

export interface TimelineEvent {
  type: string;
  data: Record<string, any>;
}

/** Reads `node`'s timeline from the daemon's database, as it is at each call. */
export function timeline(t: Teardownable, d: RunningDaemon, node: string): () => TimelineEvent[] {
  const db = new Database(join(d.dataDir, 'rackjoin.db'), { readonly: true });
  db.pragma('busy_timeout = 5000');
  t.teardown(() => db.close());
  const q = db.prepare(
    'SELECT e.type, e.data FROM events e JOIN nodes n ON n.id = e.node_id WHERE n.name = ? ORDER BY e.id',
  );
  return () => (q.all(node) as { type: string; data: string }[]).map((e) => ({ ...e, data: JSON.parse(e.data) }));
}

/** Waits (bounded) until `read` returns something truthy. */
export async function eventually<T>(read: () => T | undefined, ms = 5000): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = read();
    if (v || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function setClientMac(lab: Lab, mac: string, dev = lab.clientIf): Promise<void> {
  const r = await lab.exec(lab.client, ['ip', 'link', 'set', dev, 'address', mac]);
  if (r.code !== 0) throw new Error(`cannot set MAC: ${r.stderr}`);
}

/**
 * A macvlan `name` on the client's link in lab.client, up: one more machine on the
 * wire (its own MAC), for clients that run at the same time. Only the interface
 * that holds an address answers ARP for it (arp_ignore 1), as separate hosts would.
 */
export async function addClientLink(lab: Lab, name: string, mac: string, address?: string): Promise<void> {
  const run = async (argv: string[]) => {
    const r = await lab.exec(lab.client, argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  };
  await run(['sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1']);
  await run(['ip', 'link', 'add', name, 'link', lab.clientIf, 'address', mac, 'type', 'macvlan', 'mode', 'bridge']);
  if (address) await run(['ip', 'addr', 'add', address, 'dev', name]);
  await run(['ip', 'link', 'set', name, 'up']);
}

/**
 * busybox udhcpc, once, on `dev` (default the client's link, whose MAC becomes `mac`;
 * another device keeps its own); returns the variables its script saw at "bound" (empty: no lease).
 */
export async function udhcpc(
  t: Teardownable,
  lab: Lab,
  mac: string,
  extra: string[],
  dev = lab.clientIf,
): Promise<Record<string, string>> {
  if (dev === lab.clientIf) await setClientMac(lab, mac);
  const dir = scratch(t, 'rj-udhcpc-');
  const script = join(dir, 'script.sh');
  writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && env | sed "s/^/VAR /"\nexit 0\n');
  chmodSync(script, 0o755);
  const r = await lab.exec(
    lab.client,
    ['busybox', 'udhcpc', '-f', '-q', '-n', '-t', '4', '-T', '1', '-A', '1', '-i', dev, '-s', script, ...extra],
    { timeoutMs: 20_000 },
  );
  return Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('VAR '))
      .map((l) => {
        const kv = l.slice(4);
        const i = kv.indexOf('=');
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
  );
}

/** ISC dhclient with `conf`; returns its script's new_* variables at BOUND (empty: none within 20 s). */
export async function dhclient(t: Teardownable, lab: Lab, mac: string, conf: string): Promise<Record<string, string>> {
  await setClientMac(lab, mac);
  const dir = scratch(t, 'rj-dhclient-');
  const script = join(dir, 'script.sh');
  const outFile = join(dir, 'out');
  writeFileSync(
    script,
    `#!/bin/sh\n[ "$reason" = BOUND ] && env | grep '^new_' > ${outFile}.tmp && mv ${outFile}.tmp ${outFile}\nexit 0\n`,
  );
  chmodSync(script, 0o755);
  writeFileSync(join(dir, 'dhclient.conf'), conf);
  const proc = lab.spawn(lab.client, [
    'dhclient',
    '-1',
    '-d',
    '-sf',
    script,
    '-cf',
    join(dir, 'dhclient.conf'),
    '-lf',
    join(dir, 'leases'),
    '-pf',
    join(dir, 'pid'),
    lab.clientIf,
  ]);
  try {
    const deadline = Date.now() + 20_000;
    while (!existsSync(outFile) && Date.now() < deadline && proc.exitCode === null)
      await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(outFile)) return {};
    return Object.fromEntries(
      readFileSync(outFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const i = l.indexOf('=');
          return [l.slice(4, i), l.slice(i + 1).replace(/^'|'$/g, '')];
        }),
    );
  } finally {
    proc.kill('SIGKILL');
    if (proc.exitCode === null) await once(proc, 'exit');
  }
}

/** Send one datagram from lab.client and collect what comes back (see dhcpProbe.ts). */
export async function probe(
  lab: Lab,
  o: { bindPort: number; to: string; port: number; packet: Buffer; waitMs?: number },
): Promise<{ from: string; packet: DhcpPacket }[]> {
  const r = await lab.exec(lab.client, [
    'node',
    join(HELPERS, 'dhcpProbe.js'),
    String(o.bindPort),
    o.to,
    String(o.port),
    o.packet.toString('hex'),
    String(o.waitMs ?? 1500),
  ]);
  if (r.code !== 0) throw new Error(`probe failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [from, hex] = line.split(' ');
      const p = parse(Buffer.from(hex!, 'hex'));
      if (!p.ok) throw new Error(`probe got a bad reply: ${p.error}`);
      return { from: from!, packet: p.packet };
    });
}

/** perfdhcp (a relay: giaddr = the client's address) against the server; the parsed counters. */
export async function perfdhcp(
  lab: Lab,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ out: string; doSent: number; raReceived: number; raSent: number }> {
  const r = await lab.exec(lab.client, ['perfdhcp', '-4', '-l', lab.clientIf, ...args, lab.serverIp], { timeoutMs });
  const out = r.stdout + r.stderr;
  const section = (name: string) => out.split(`Statistics for: ${name}`)[1] ?? '';
  const num = (text: string, key: string) => Number(new RegExp(`${key}: (\\d+)`).exec(text)?.[1] ?? 0);
  return {
    out,
    doSent: num(section('DISCOVER-OFFER'), 'sent packets'),
    raSent: num(section('REQUEST-ACK'), 'sent packets'),
    raReceived: num(section('REQUEST-ACK'), 'received packets'),
  };
}

/** DHCP payloads in a pcap file (Ethernet, IPv4, UDP), in capture order. */
export function pcapDhcp(file: string): DhcpPacket[] {
  const buf = readFileSync(file);
  if (buf.length < 24) return [];
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4 || buf.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const out: DhcpPacket[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = u32(off + 8);
    const frame = buf.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (frame.length < 14 + 20 + 8 || frame.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (frame[14]! & 0x0f) * 4;
    if (frame[14 + 9] !== 17) continue;
    const p = parse(frame.subarray(14 + ihl + 8));
    if (p.ok) out.push(p.packet);
  }
  return out;
}
