// The DHCP service: sockets (sockets.ts), request validation (intake.ts), the
// mode handlers (modes.ts), group commit (commit.ts), and the record of each
// exchange (exchange.ts) once its outcome is known. Every datagram is handled
// inside a try/catch: malformed input is counted and dropped, never fatal.
import type { CaptureStore } from '../capture/store.js';
import type { Config } from '../config.js';
import { intToIp } from '../ip.js';
import type { Logger } from '../log.js';
import { dhcpCapture } from './capture.js';
import { encode, optU16 } from './codec.js';
import { GroupCommit, type CommitStats } from './commit.js';
import { ConflictProbe, interfaceOf, type ProbeStats, type Verdict } from './conflict.js';
import { ExchangeBatcher, exchangeOf, type ExchangeRecord, type Fate } from './exchange.js';
import type { Outcome } from './handler.js';
import { intake } from './intake.js';
import { handle } from './modes.js';
import { MESSAGE_TYPES, OPT } from './options.js';
import { ProbeAhead } from './probeAhead.js';
import { fitReply, relayAgentEcho, type Request, type Source } from './reply.js';
import type { Dhcp } from './service.js';
import { openSockets, sendDatagram, type Channel, type DhcpSockets } from './sockets.js';

export interface DhcpServerOptions {
  config: Config;
  /** The decision side; null when dhcp.mode is off (then nothing starts). */
  dhcp: Dhcp | null;
  log: Logger;
  /** Exchanges for nodes' timelines, in batches, each once its outcome is known. */
  record: (records: ExchangeRecord[]) => void;
  /** Where each machine's packets are kept for `GET /api/v1/nodes/:id/pcap`. */
  captures?: Pick<CaptureStore, 'add'>;
}

export interface DhcpStats extends ProbeStats, CommitStats {
  /** Datagrams in, by DHCP message type ('invalid' when unparseable). */
  received: Record<string, number>;
  /** Replies out, by message type. */
  sent: Record<string, number>;
  /** Requests not answered, by reason. */
  dropped: Record<string, number>;
  /** Requests whose option 82 was malformed: answered, without echoing it (reply.ts). */
  relayAgentInfoMalformed: number;
}

export interface DhcpServer {
  stats(): DhcpStats;
  close(): Promise<void>;
}

const SWEEP_MS = 30_000;
// Addresses one request may find in use before it goes unanswered (its client
// retries, and the walk goes on past the quarantined ones).
const MAX_CONFLICTS = 4;

/** An OFFER waiting for its address's conflict check. */
interface Withheld {
  req: Request;
  out: Outcome;
  ch: Channel;
  done: ((fate: Fate) => void) | null;
  conflicts: number;
}

/** The served link's name: the configured interface, else the one holding our address there; null: none. */
function servedLink(config: Config, dhcp: Dhcp): string | null {
  const localIp = dhcp.net.local?.localIp ?? null;
  return config.interface ?? (localIp === null ? null : interfaceOf(localIp));
}

/** The conflict check of pool mode, unless turned off; ARP on the served link when it has a name. */
function conflictProbe(config: Config, dhcp: Dhcp, link: string | null, log: Logger): ConflictProbe | null {
  if (dhcp.mode !== 'pool' || config.dhcp.conflictCheckMs === 0) return null;
  return new ConflictProbe({ timeoutMs: config.dhcp.conflictCheckMs, link, log });
}

/** Message types as the counters name them (discover, ack, ...), by type number. */
const COUNTER_NAMES = MESSAGE_TYPES.map((name) => name.toLowerCase());

function bump(counters: Record<string, number>, key: string): void {
  counters[key] = (counters[key] ?? 0) + 1;
}

export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const { config, dhcp, log } = opts;
  const stats: Omit<DhcpStats, keyof ProbeStats | keyof CommitStats> = {
    received: {},
    sent: {},
    dropped: {},
    relayAgentInfoMalformed: 0,
  };
  const none = { arp: 0, icmp: 0 };
  const unprobed: ProbeStats = { probes: { ...none }, conflicts: { ...none }, unchecked: { ...none } };
  const uncommitted: CommitStats = { leaseCommits: 0, leaseCommitSeconds: 0 };
  const idle = () => ({ ...structuredClone(stats), ...unprobed, ...uncommitted });
  if (!dhcp) return { stats: idle, close: async () => {} };
  const { mode, net, leases, ctx } = dhcp;
  const commits = new GroupCommit(leases, log);
  const link = servedLink(config, dhcp);
  const probe = conflictProbe(config, dhcp, link, log);
  const ahead = probe && new ProbeAhead(probe, leases);
  const proxyPort = mode === 'proxy' ? config.dhcp.proxyPort : null;
  const capture = opts.captures && dhcpCapture(opts.captures, net, { port: config.dhcp.port, proxyPort });
  const timeline = new ExchangeBatcher((records) => {
    try {
      opts.record(records);
    } catch (err) {
      log.error({ err }, 'dhcp: could not write timeline events');
    }
  });

  function onMessage(msg: Buffer, from: Source, ch: Channel): void {
    try {
      const got = intake(msg, from, ch.proxyPort);
      const mac = got.ok ? got.req.mac : got.mac;
      if (capture && mac) capture.received(mac, msg, from, ch);
      if (!got.ok) {
        bump(stats.received, 'invalid');
        bump(stats.dropped, got.reason);
        return;
      }
      bump(stats.received, COUNTER_NAMES[got.req.type]!);
      if (got.req.packet.options.has(OPT.relayAgent) && !relayAgentEcho(got.req.packet)) {
        stats.relayAgentInfoMalformed++;
      }
      const out = serve(got.req, ch, 0);
      if (log.isLevelEnabled('debug')) debugLine(got.req, from, out);
    } catch (err) {
      bump(stats.dropped, 'handler-error');
      log.warn({ err, from: from.address }, 'dhcp: request handling failed');
    }
  }

  /** Decide, apply and answer; `conflicts`: addresses this request already found in use. */
  function serve(req: Request, ch: Channel, conflicts: number): Outcome {
    const out = handle(ctx, req);
    if (out.lease) leases.apply(out.lease);
    if (out.drop) bump(stats.dropped, out.drop);
    const done = recorder(req, out);
    const ip = out.lease?.kind === 'offer' ? out.lease.ip : null;
    if (out.reply && ip !== null && probe && !leases.hasHistory(ip)) withhold(ip, { req, out, ch, done, conflicts });
    else if (out.reply) reply(req, out, ch, done);
    else done?.(null);
    if (ip !== null && out.subnet) ahead?.soon(out.subnet);
    return out;
  }

  // An OFFER of an address nobody ever held waits for the conflict check; the
  // address is held by the offer meanwhile, and every other request is answered.
  const checking = new Map<number, Withheld>();

  function withhold(ip: number, w: Withheld): void {
    const before = checking.get(ip);
    checking.set(ip, w);
    // A retransmission while the probe runs: the newest gets the answer.
    if (before)
      return before.done?.({ sent: false, withheld: 'superseded by a retransmission during the conflict check' });
    probe!.check(ip, w.req.packet.giaddr === 0, (v) => {
      const cur = checking.get(ip);
      checking.delete(ip);
      try {
        if (cur) checked(ip, cur, v);
      } catch (err) {
        bump(stats.dropped, 'handler-error');
        log.warn({ err, mac: cur?.req.mac }, 'dhcp: request handling failed after the conflict check');
      }
    });
  }

  function checked(ip: number, w: Withheld, v: Verdict): void {
    if (leases.offerFor(w.req.mac) !== ip) return w.done?.({ sent: false, withheld: 'offer withdrawn meanwhile' });
    if (!v.inUse) {
      // Only an address somebody was asked about is settled; an unchecked one is asked about next time.
      if (v.checked) leases.markChecked(ip);
      return reply(w.req, w.out, w.ch, w.done);
    }
    // Quarantined as if the client had DECLINEd it, and the next address is tried.
    const seconds = config.dhcp.declineSeconds;
    const subnet = w.out.subnet?.cidr ?? '';
    leases.apply({ kind: 'decline', mac: w.req.mac, ip, seconds, subnet });
    commits.schedule();
    const address = intToIp(ip);
    log.warn(
      { address, method: v.method, answeredBy: v.mac, client: w.req.mac, quarantineSeconds: seconds },
      `dhcp: ${address} is already in use (${v.method === 'arp' ? `ARP answer from ${v.mac}` : 'echo reply'}); quarantined, offering another`,
    );
    const conflict = { address: ip, method: v.method, mac: v.mac, quarantineSeconds: seconds };
    const reason = `${address} answered the conflict check; quarantined for ${seconds} s`;
    recorder(w.req, { ...w.out, reply: undefined, conflict, reason })?.(null);
    if (w.conflicts + 1 < MAX_CONFLICTS) serve(w.req, w.ch, w.conflicts + 1);
    else bump(stats.dropped, 'address-conflicts');
  }

  /** How to record this exchange once its fate is known; null when no timeline wants it. */
  function recorder(req: Request, out: Outcome): ((fate: Fate) => void) | null {
    if (!out.node && !out.discovered) return null;
    const port = req.proxyPort ? config.dhcp.proxyPort : config.dhcp.port;
    return (fate) => {
      const exchange = exchangeOf({ mode, port }, req, out, fate);
      timeline.add({ mac: req.mac, discover: !out.node, exchange });
    };
  }

  function reply(req: Request, out: Outcome, ch: Channel, done: ((fate: Fate) => void) | null): void {
    const r = out.reply!;
    const fit = fitReply(r.packet, req.packet);
    if (fit.omitted.length || !fit.fits) {
      const maxMessageSize = optU16(req.packet, OPT.maxMessageSize);
      log[fit.fits ? 'debug' : 'warn'](
        { mac: req.mac, omitted: fit.omitted, maxMessageSize },
        fit.fits
          ? 'dhcp: reply trimmed to the size the client takes'
          : 'dhcp: reply is longer than the client takes, even with only the options it needs',
      );
    }
    const buf = encode(r.packet);
    const send = () =>
      sendDatagram(ch, buf, r.to, (error, sentTo) => {
        if (error) {
          bump(stats.dropped, 'send-error');
          log.debug({ error, to: sentTo }, 'dhcp: send failed');
          return done?.({ sent: false, withheld: `send failed: ${error}` });
        }
        bump(stats.sent, COUNTER_NAMES[r.type]!);
        capture?.sent(req.mac, buf, sentTo, ch);
        done?.({ sent: true, to: sentTo });
      });
    if (!r.durable) return send();
    commits.hold({
      send,
      withhold: (reason) => {
        bump(stats.dropped, 'store-error');
        done?.({ sent: false, withheld: reason });
      },
    });
  }

  function debugLine(req: Request, source: Source, out: Outcome): void {
    const type = MESSAGE_TYPES[req.type];
    const sent = out.reply ? MESSAGE_TYPES[out.reply.type] : null;
    const from = `${source.address}:${source.port}`;
    log.debug({ mac: req.mac, type, from, sent, drop: out.drop, reason: out.reason }, 'dhcp exchange');
  }

  const bindIp = net.bindIp === null ? null : intToIp(net.bindIp);
  let sockets: DhcpSockets;
  try {
    sockets = openSockets({ port: config.dhcp.port, proxyPort, bindIp, link }, onMessage, log);
  } catch (err) {
    // Port 67 taken, or no permission: what was opened for it must not keep the process alive.
    probe?.close();
    commits.close();
    throw err;
  }

  const sweeper = setInterval(() => {
    try {
      if (leases.sweep() > 0 || leases.pending > 0) commits.schedule();
    } catch (err) {
      log.error({ err }, 'dhcp: lease sweep failed');
    }
  }, SWEEP_MS);
  sweeper.unref();

  log.info(
    {
      mode,
      port: config.dhcp.port,
      ...(proxyPort !== null ? { proxyPort } : {}),
      serverIp: intToIp(net.serverIp),
      bindIp,
      localSubnet: net.local?.cidr ?? null,
      subnets: net.subnets.map((s) => s.cidr),
    },
    'dhcp listening',
  );

  return {
    stats: () => ({ ...structuredClone(stats), ...structuredClone(probe?.stats ?? unprobed), ...commits.stats }),
    async close() {
      clearInterval(sweeper);
      probe?.close();
      // What was granted is committed and sent before the sockets go.
      commits.close();
      sockets.close();
      timeline.flush();
    },
  };
}
