// `rackjoin serve`: build the parts, load the inventory, start HTTP and the boot
// services on them, and take them all down again in reverse order.
import type { AddressInfo } from 'node:net';
import { buildApp } from './api/app.js';
import { resolveAsset } from './assets.js';
import { isLoaderConfig } from './boot/firmware.js';
import { LOADERS } from './inventory/schema.js';
import { maskSecretsKeepLength } from './boot/urls.js';
import type { Datagram } from './capture/pcap.js';
import { errorsOf, SiteCheckError, warningsOf } from './findings.js';
import { checkSite } from './check/site.js';
import type { Config, Locate } from './config.js';
import { closeDatabase } from './db.js';
import { startDhcpServer, type DhcpServer } from './dhcp/server.js';
import type { Node } from './inventory/store.js';
import { followCluster } from './lifecycle/cluster.js';
import { thisHost, type HostView } from './host.js';
import type { Failure, FileRole } from './lifecycle/machine.js';
import { startTimeoutSweeper } from './lifecycle/sweeper.js';
import type { Logger } from './log.js';
import { buildParts, type Parts } from './parts.js';
import { startTftpServer, type FailureRecord, type TftpServer } from './tftp/server.js';

export interface Daemon {
  parts: Parts;
  /** The HTTP port actually bound (config may say 0 in tests). */
  httpPort: number;
  close(): Promise<void>;
}

type Closer = () => unknown;

export interface StartOptions {
  /** Where config keys are written, for the site check's messages. */
  locate?: Locate;
  host?: HostView;
}

export async function startDaemon(given: Config, log: Logger, opts: StartOptions = {}): Promise<Daemon> {
  const config = checkedConfig(given, log, opts);
  const parts = buildParts(config, log);
  const closers: Closer[] = [() => closeDatabase(parts.db)];
  const closeAll = async () => {
    for (const close of closers.splice(0)) {
      try {
        await close();
      } catch (err) {
        log.error({ err }, 'error while shutting down');
      }
    }
  };
  try {
    // A broken inventory stops the start: the database keeps the last good one,
    // and the operator sees the file and line instead of a half-provisioned rack.
    parts.inventory.reload();

    const app = await buildApp(parts);
    await app.listen({ port: config.http.port, host: config.http.host });
    closers.unshift(() => app.close());
    // Before any request is handled: URLs in boot files carry the port actually bound.
    parts.endpoint.httpPort = (app.server.address() as AddressInfo).port;

    const dhcp = await startDhcp(parts);
    closers.unshift(() => dhcp.close());
    if (config.tftp.enabled) {
      const tftp = await startTftp(parts);
      closers.unshift(() => tftp.close());
    }

    closers.unshift(startTimeoutSweeper(parts.lifecycle, config.timeouts, log.child({ mod: 'lifecycle' })));
    if (parts.kube) {
      const { kube, lifecycle, nodes, events, joinTokens } = parts;
      closers.unshift(
        await followCluster({ kube, lifecycle, nodes, events, joinTokens, log: log.child({ mod: 'kube' }) }),
      );
    }

    const http = `${config.http.host}:${parts.endpoint.httpPort}`;
    log.info({ http, dhcp: config.dhcp.mode, dataDir: config.dataDir }, 'rackjoin ready');
    return { parts, httpPort: parts.endpoint.httpPort, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * The site check before anything is opened: an error refuses the start with the
 * database untouched; warnings are logged. A first run without `interface:` gets
 * the one candidate interface the check found, named in the log.
 */
function checkedConfig(config: Config, log: Logger, opts: StartOptions): Config {
  const site = checkSite(config, opts.locate ?? (() => '(config)'), opts.host ?? thisHost);
  if (errorsOf(site.findings).length > 0) throw new SiteCheckError(site.findings, 'start');
  // The inventory's warnings are logged by the reload that follows, which also sees the database's profiles.
  for (const w of warningsOf(site.findings.slice(0, site.configFindings))) log.warn({ where: w.where }, w.message);
  if (config.interface || !site.servedInterface) return config;
  log.info({ interface: site.servedInterface }, 'no interface: configured; DHCP serves the only candidate');
  return { ...config, interface: site.servedInterface };
}

async function startDhcp(parts: Parts): Promise<DhcpServer> {
  const { config, dhcp, lifecycle, metrics } = parts;
  const server = await startDhcpServer({
    config,
    dhcp,
    log: parts.log.child({ mod: 'dhcp' }),
    captures: parts.captures,
    // Each exchange is one timeline event, written with the transition it causes.
    record: (records) =>
      lifecycle.observeAll(
        records.map((r) => ({
          node: { mac: r.mac, discover: r.discover },
          obs: { kind: 'dhcp', exchange: r.exchange },
        })),
      ),
  });
  metrics.addSource({
    subsystem: 'dhcp',
    stats: () => ({ ...server.stats() }),
    labels: {
      received: 'type',
      sent: 'type',
      dropped: 'reason',
      probes: 'method',
      conflicts: 'method',
      unchecked: 'method',
    },
    help: {
      received: 'DHCP packets received, by message type (invalid = unparseable)',
      sent: 'DHCP replies sent, by message type',
      dropped: 'DHCP requests not answered, by reason',
      relayAgentInfoMalformed: 'DHCP requests answered without echoing their malformed option 82',
      probes: 'conflict checks sent before a pool address was first offered, by method (arp, icmp)',
      conflicts: 'pool addresses found in use by the conflict check (quarantined), by method',
      unchecked: 'pool addresses offered unchecked because the kernel refused their probe, by method',
      leaseCommits:
        'lease commits: transactions of the leases granted in one turn, each one fsync before their ACKs leave',
      leaseCommitSeconds: 'time the lease commits took, fsync included (the event loop waits for them)',
    },
  });
  return server;
}

/**
 * A transfer that ended in an error, as the node's timeline says it; null for the
 * ones that are how firmware works, not failures: a client that ends a transfer
 * itself (EDK2 stops after reading tsize, then fetches again), and a loader
 * walking its list of config names (pxelinux.cfg/<uuid>, ... until one exists).
 */
function tftpFailure(rec: FailureRecord<Served>): Failure | null {
  if (rec.status === 'aborted') return null;
  if (rec.failure.kind === 'notFound' && LOADERS.some((l) => isLoaderConfig(l, rec.path))) return null;
  const { sent, detail } = rec.failure;
  const error = sent ? `error ${sent.code} "${sent.message}"` : 'no answer';
  const more = detail && detail !== sent?.message ? `; ${detail}` : '';
  return { what: 'tftp', via: 'tftp', file: rec.path, detail: `${rec.status}: ${error}${more}` };
}

/** What the TFTP server says a rendered file was, for its timeline event. */
interface Served {
  node?: Node;
  role: FileRole;
}

async function startTftp(parts: Parts): Promise<TftpServer> {
  const { config, plane, metrics, clients, captures, endpoint } = parts;
  // Bound to the wildcard, our side of a datagram is the address DHCP sends machines to.
  const ours = (address: string) => (address === '0.0.0.0' ? endpoint.advertise : address);
  const onWire = (d: Datagram): Datagram => ({ ...d, src: ours(d.src), dst: ours(d.dst) });
  const server = await startTftpServer<Served>({
    host: config.http.host,
    port: config.tftp.port,
    blksizeMax: config.tftp.blksizeMax,
    windowsizeMax: config.tftp.windowsizeMax,
    maxTransfersPerClient: config.tftp.maxTransfersPerClient,
    log: parts.log.child({ mod: 'tftp' }),
    // Per-node configs are rendered (pxelinux.cfg/01-<mac>, grub.cfg-01-<mac>,
    // autoexec.ipxe); everything else is a file under assets/, contained by realpath.
    async resolve(req) {
      const rendered = plane.tftpFile(req.path, req.peer.address);
      if (rendered) {
        return {
          data: rendered.content,
          // Loader configs carry the node's token in its installer URLs; a capture shows it masked.
          captureAs: maskSecretsKeepLength(rendered.content),
          tag: { role: 'boot-config', ...(rendered.node ? { node: rendered.node } : {}) },
        };
      }
      const asset = await resolveAsset(config.assets, req.path);
      return asset.ok ? { path: asset.path } : null;
    },
    // Firmware does not say who it is over TFTP: its address does (boot/clients.ts).
    capture(peer, datagrams) {
      const mac = clients.nodeFor(peer.address)?.macs[0];
      if (mac) captures.add(mac, ...datagrams.map(onWire));
    },
    onTransfer(rec) {
      if (rec.status !== 'ok') {
        const failure = tftpFailure(rec);
        return failure ? plane.failed(failure, rec.peer.address, rec.tag?.node) : undefined;
      }
      const { path: file, bytes, durationMs } = rec;
      plane.served({
        via: 'tftp',
        file,
        bytes,
        durationMs,
        client: rec.peer.address,
        node: rec.tag?.node,
        role: rec.tag?.role,
      });
    },
  });
  metrics.addSource({
    subsystem: 'tftp',
    stats: () => {
      const { dropped, ...counts } = server.stats();
      return { ...counts, dropped: { ...dropped } };
    },
    labels: { dropped: 'reason' },
    gauges: ['active'],
    help: { dropped: 'TFTP requests and packets dropped, by reason', active: 'TFTP transfers in flight' },
  });
  return server;
}
