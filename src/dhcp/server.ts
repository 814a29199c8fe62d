// The DHCP service: sockets, dispatch by mode, reply routing, group commit,
// counters and timeline events. Every datagram is handled inside a try/catch:
// malformed input is counted and dropped, never fatal.
//
// Sockets (see network.ts for why): udp 0.0.0.0:<port> receives broadcasts;
// <interface address>:<port> sends replies (so 255.255.255.255 leaves through the
// provisioning NIC) and receives unicasts to that address; in proxy mode
// 0.0.0.0:<proxyPort> answers PXE REQUESTs. Both :67 sockets set SO_REUSEADDR,
// which Linux requires to bind a specific address next to the wildcard; a
// server that binds :67 without it (dnsmasq, dhcpd) still makes our start fail.
//
// Durability: an ACK that grants a lease is queued; the queued leases are written
// in one transaction on the writer thread (leaseWriter.ts), then the queued ACKs
// are sent. OFFERs and NAKs go at once.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Config } from '../config.js';
import type { Db } from '../db.js';
import type { EventLog } from '../events.js';
import type { Node, NodeStore } from '../inventory/store.js';
import type { Logger } from '../log.js';
import { macFromBytes } from '../mac.js';
import { fingerprint } from './bootDecision.js';
import { BOOTREQUEST, DHCP, encode, messageType, optU16, parse } from './codec.js';
import type { HandlerContext, Outcome } from './handler.js';
import { intToIp } from '../ip.js';
import { InventoryView } from './inventoryView.js';
import { LeaseStore, type LeaseView } from './leaseStore.js';
import { LeaseWriter } from './leaseWriter.js';
import { buildNetwork, localAddresses } from './network.js';
import { native } from '../native.js';
import { describeOptions, MESSAGE_TYPES, OPT } from './options.js';
import { handleProxy } from './proxy.js';
import { fitReply, type Boot, type Destination, type Request } from './reply.js';
import { handleLease } from './reservation.js';

export interface BootOfferDetails {
  /** The reply that carried it: OFFER or ACK. */
  reply: 'OFFER' | 'ACK';
  proxy: boolean;
  bootFile: string;
  transport: Boot['transport'];
  arch: string;
  ipxe: boolean;
  yiaddr: string | null;
  reason: string;
}

export interface DhcpServerOptions {
  config: Config;
  db: Db;
  nodes: Pick<NodeStore, 'findByMac' | 'recordDiscovered' | 'getProfile'>;
  events: EventLog;
  log: Logger;
  /** The HTTP port actually bound (URLs in boot files). */
  httpPort: number;
  /** A known node was sent boot instructions; the lifecycle decides what it means. */
  onBootOffer?: (node: Node, details: BootOfferDetails) => void;
  /** Our IPv4 addresses; default: those of config.interface (tests pass their own). */
  addresses?: number[];
}

export interface DhcpStats {
  /** Datagrams in, by DHCP message type ('invalid' when unparseable). */
  received: Record<string, number>;
  /** Replies out, by message type. */
  sent: Record<string, number>;
  /** Requests not answered, by reason. */
  dropped: Record<string, number>;
}

export interface DhcpServer {
  stats(): DhcpStats;
  leases(): LeaseView[];
  close(): Promise<void>;
}

// Enough to ride out a GC pause or a timeline write at thousands of requests/s,
// small enough that an overload cannot queue more than a fraction of a second:
// clients retry after ~1 s, and answering only stale requests collapses throughput.
const RECV_BUFFER = 1024 * 1024;
const SWEEP_MS = 30_000;
const ACK_CHUNK = 32;
// Timeline events are written in batches this far apart (they gate no reply).
const TIMELINE_BATCH_MS = 20;

function bump(counters: Record<string, number>, key: string): void {
  counters[key] = (counters[key] ?? 0) + 1;
}

function bindSocket(address: string, port: number, reuseAddr: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', reuseAddr });
    s.once('error', reject);
    s.bind({ address, port }, () => {
      s.off('error', reject);
      s.setBroadcast(true);
      try {
        s.setRecvBufferSize(RECV_BUFFER); // bursts wait here while a commit runs
      } catch {
        /* capped by net.core.rmem_max; the default still works */
      }
      resolve(s);
    });
  });
}

export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const { config, log } = opts;
  const mode = config.dhcp.mode;
  const stats: DhcpStats = { received: {}, sent: {}, dropped: {} };
  if (mode === 'off') {
    return { stats: () => stats, leases: () => [], close: async () => {} };
  }
  if (config.interface && !opts.addresses) {
    const link = native.interfaceAddresses(config.interface);
    if (!link) throw new Error(`dhcp: interface ${config.interface} does not exist`);
    // Not fatal: the switch port may come up after the daemon (a rack powering on).
    if (!link.running)
      log.warn(
        { interface: config.interface },
        'dhcp: interface has no carrier; clients are answered once its link is up',
      );
  }
  const net = buildNetwork(config, opts.addresses ?? localAddresses(config.interface));
  if (net.serverIp === 0)
    throw new Error('dhcp: no IPv4 address to hand out as server id and boot server; set `advertise` or `interface`');
  const leases = new LeaseStore(opts.db);
  if (mode === 'pool') for (const s of net.subnets) if (s.range) leases.addRange(s.range[0], s.range[1]);
  const inventory = new InventoryView(opts.db, opts.nodes);
  const ctx: HandlerContext = {
    mode,
    net,
    leases,
    nodeByMac: (mac) => inventory.nodeByMac(mac),
    profile: (name) => opts.nodes.getProfile(name),
    reservedByOther: (ip, nodeId) => inventory.reservedByOther(ip, nodeId),
    boot: { serverIp: intToIp(net.serverIp), httpPort: opts.httpPort, installedBoot: config.dhcp.installedBoot },
    offerHoldMs: config.dhcp.offerSeconds * 1000,
    declineSeconds: config.dhcp.declineSeconds,
  };
  const handle = mode === 'proxy' ? handleProxy : handleLease;

  // ---- group commit -----------------------------------------------------------
  // Lease writes go to the writer thread, one batch in flight; the ACKs of a batch
  // leave when its commit returns. Timeline events (node exchanges only, a trickle)
  // are written here in batches, a few ms late: they do not gate any reply.
  const writer = new LeaseWriter(opts.db.name);
  let durable: { buf: Buffer; to: Destination; socket: Socket; sent: (() => void) | undefined }[] = [];
  let committing: Promise<void> | null = null;
  let commitQueued = false;
  const scheduleCommit = () => {
    if (commitQueued || committing) return;
    commitQueued = true;
    setImmediate(commit); // after this burst of datagrams: they join the batch
  };
  function commit(): void {
    commitQueued = false;
    if (committing || (durable.length === 0 && leases.pending === 0)) return;
    const sends = durable;
    const writes = leases.drain();
    durable = [];
    committing = writer
      .commit(writes)
      .then(
        () => sendPaced(sends, 0),
        (err) => {
          // Not on disk, so not granted: the clients will retry their REQUEST.
          leases.requeue(writes);
          for (let i = 0; i < sends.length; i++) bump(stats.dropped, 'store-error');
          log.error({ err }, 'dhcp: lease commit failed; ACKs withheld');
        },
      )
      .finally(() => {
        committing = null;
        if (durable.length > 0 || leases.pending > 0) scheduleCommit();
      });
  }

  /**
   * A slow commit releases a burst of ACKs; a relay or a load generator with a
   * small socket buffer drops most of a burst sent in one go, so send them a
   * chunk per event-loop turn.
   */
  function sendPaced(list: typeof durable, from: number): void {
    const end = Math.min(list.length, from + ACK_CHUNK);
    for (let i = from; i < end; i++) {
      send(list[i]!.socket, list[i]!.buf, list[i]!.to);
      list[i]!.sent?.();
    }
    if (end < list.length) setImmediate(() => sendPaced(list, end));
  }

  let timeline: (() => void)[] = [];
  let timelineQueued = false;
  const scheduleTimeline = () => {
    if (timelineQueued) return;
    timelineQueued = true;
    setTimeout(writeTimeline, TIMELINE_BATCH_MS);
  };
  function writeTimeline(): void {
    timelineQueued = false;
    const records = timeline;
    timeline = [];
    try {
      opts.db.transaction(() => {
        for (const r of records) {
          try {
            r();
          } catch (err) {
            log.warn({ err }, 'dhcp: could not record an event');
          }
        }
      })();
    } catch (err) {
      log.error({ err }, 'dhcp: could not write timeline events');
    }
  }

  function send(socket: Socket, buf: Buffer, to: Destination): void {
    socket.send(buf, to.port, to.address, (err) => {
      if (err) {
        bump(stats.dropped, 'send-error');
        log.debug({ err, to }, 'dhcp: send failed');
      }
    });
  }

  // ---- per datagram -------------------------------------------------------------
  function onMessage(msg: Buffer, rinfo: RemoteInfo, proxyPort: boolean, replyVia: Socket): void {
    try {
      const parsed = parse(msg);
      if (!parsed.ok) {
        bump(stats.received, 'invalid');
        bump(stats.dropped, parsed.error);
        return;
      }
      const p = parsed.packet;
      const type = messageType(p);
      const bad =
        p.op !== BOOTREQUEST
          ? 'not-request'
          : p.htype !== 1 || p.hlen !== 6
            ? 'not-ethernet'
            : type === null
              ? 'no-message-type' // plain BOOTP is not served
              : type < 1 || type > 8
                ? 'unknown-message-type'
                : null;
      if (bad || type === null) {
        bump(stats.received, 'invalid');
        bump(stats.dropped, bad ?? 'no-message-type');
        return;
      }
      const typeName = MESSAGE_TYPES[type]!;
      bump(stats.received, typeName.toLowerCase());
      const req: Request = {
        packet: p,
        type,
        mac: macFromBytes(p.chaddr),
        fp: fingerprint(p),
        from: { address: rinfo.address, port: rinfo.port },
        proxyPort,
      };
      const out = handle(ctx, req);
      if (out.drop) bump(stats.dropped, out.drop);
      if (out.reply) {
        const reply = out.reply;
        const fit = fitReply(reply.packet, p);
        if (fit.omitted.length || !fit.fits) {
          log[fit.fits ? 'debug' : 'warn'](
            { mac: req.mac, omitted: fit.omitted, maxMessageSize: optU16(p, OPT.maxMessageSize) },
            fit.fits
              ? 'dhcp: reply trimmed to the size the client takes'
              : 'dhcp: reply is longer than the client takes, even with only the options it needs',
          );
        }
        const buf = encode(reply.packet);
        bump(stats.sent, MESSAGE_TYPES[reply.type]!.toLowerCase());
        const bootOffer = out.node && out.boot && opts.onBootOffer ? bootOfferOf(out, reply.packet.yiaddr, req) : null;
        const sent = bootOffer ? () => notifyBootOffer(out.node!, bootOffer) : undefined;
        if (reply.durable) {
          durable.push({ buf, to: reply.to, socket: replyVia, sent });
          scheduleCommit();
        } else {
          send(replyVia, buf, reply.to);
          sent?.();
        }
      }
      if (out.node || out.discovered) {
        timeline.push(() => record(req, out));
        scheduleTimeline();
      }
      if (log.isLevelEnabled('debug')) {
        log.debug(
          {
            mac: req.mac,
            type: typeName,
            from: `${rinfo.address}:${rinfo.port}`,
            sent: out.reply ? MESSAGE_TYPES[out.reply.type] : null,
            drop: out.drop,
            reason: out.reason,
          },
          'dhcp exchange',
        );
      }
    } catch (err) {
      bump(stats.dropped, 'handler-error');
      log.warn({ err, from: rinfo.address }, 'dhcp: request handling failed');
    }
  }

  function notifyBootOffer(node: Node, details: BootOfferDetails): void {
    try {
      opts.onBootOffer!(node, details);
    } catch (err) {
      log.warn({ err, node: node.name }, 'dhcp: onBootOffer failed');
    }
  }

  function bootOfferOf(out: Outcome, yiaddr: number, req: Request): BootOfferDetails {
    return {
      reply: out.reply!.type === DHCP.OFFER ? 'OFFER' : 'ACK',
      proxy: mode === 'proxy',
      bootFile: out.boot!.bootFile,
      transport: out.boot!.transport,
      arch: req.fp.arch.name,
      ipxe: req.fp.ipxe,
      yiaddr: yiaddr ? intToIp(yiaddr) : null,
      reason: out.boot!.reason,
    };
  }

  /** One timeline event per exchange: what came in, what went out, why. Runs inside the commit. */
  function record(req: Request, out: Outcome): void {
    const node = out.node ?? opts.nodes.recordDiscovered(req.mac);
    const received = MESSAGE_TYPES[req.type]!;
    const r = out.reply;
    const sentType = r ? MESSAGE_TYPES[r.type]!.toLowerCase() : null;
    const type = sentType ? `dhcp.${mode === 'proxy' ? 'proxy-' : ''}${sentType}` : `dhcp.${received.toLowerCase()}`;
    opts.events.record(node.id, type, 'dhcp', {
      received,
      port: req.proxyPort ? config.dhcp.proxyPort : config.dhcp.port,
      from: `${req.from.address}:${req.from.port}`,
      ...(req.packet.giaddr ? { relay: intToIp(req.packet.giaddr) } : {}),
      arch: req.fp.archCode === null ? null : { code: req.fp.archCode, name: req.fp.arch.name },
      in: describeOptions(req.packet.options),
      ...(r
        ? {
            sent: {
              type: MESSAGE_TYPES[r.type],
              to: `${r.to.address}:${r.to.port}`,
              yiaddr: intToIp(r.packet.yiaddr),
              siaddr: intToIp(r.packet.siaddr),
              file: r.packet.file ?? '',
              sname: r.packet.sname ?? '',
              options: describeOptions(new Map(r.packet.options)),
            },
          }
        : { dropped: out.drop ?? null }),
      reason: out.reason ?? null,
    });
  }

  // ---- sockets ----------------------------------------------------------------
  const sockets: Socket[] = [];
  try {
    const rx = await bindSocket('0.0.0.0', config.dhcp.port, true);
    sockets.push(rx);
    let tx = rx;
    if (net.bindIp !== null) {
      tx = await bindSocket(intToIp(net.bindIp), config.dhcp.port, true);
      sockets.push(tx);
    } else {
      log.warn('dhcp: no local IPv4 address found; broadcast replies follow the default route');
    }
    rx.on('message', (m, r) => onMessage(m, r, false, tx));
    tx.on('message', (m, r) => onMessage(m, r, false, tx));
    if (mode === 'proxy') {
      const px = await bindSocket('0.0.0.0', config.dhcp.proxyPort, false);
      sockets.push(px);
      px.on('message', (m, r) => onMessage(m, r, true, px));
    }
    for (const s of sockets) s.on('error', (err) => log.error({ err }, 'dhcp: socket error'));
  } catch (err) {
    for (const s of sockets) s.close();
    throw err;
  }

  const sweeper = setInterval(() => {
    try {
      if (leases.sweep() > 0 || leases.pending > 0) scheduleCommit();
    } catch (err) {
      log.error({ err }, 'dhcp: lease sweep failed');
    }
  }, SWEEP_MS);
  sweeper.unref();

  log.info(
    {
      mode,
      port: config.dhcp.port,
      ...(mode === 'proxy' ? { proxyPort: config.dhcp.proxyPort } : {}),
      serverIp: intToIp(net.serverIp),
      bindIp: net.bindIp === null ? null : intToIp(net.bindIp),
      localSubnet: net.local?.cidr ?? null,
      subnets: net.subnets.map((s) => s.cidr),
    },
    'dhcp listening',
  );

  return {
    stats: () => structuredClone(stats),
    leases: () => leases.list(),
    async close() {
      clearInterval(sweeper);
      // What was granted is committed and sent before the sockets go.
      await committing;
      commit();
      await committing;
      writeTimeline();
      await writer.close();
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
