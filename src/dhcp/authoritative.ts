// Authoritative modes. `reservation`: inventory nodes only, each with its reserved
// address. `pool`: the same, plus leases from the subnets' ranges for everyone else
// (discovered machines included: they get an address, never a boot file).
// Semantics follow Kea: an OFFER holds the address briefly; a REQUEST naming
// another server withdraws our offer silently; a request for an address the
// client may not have gets a NAK; DECLINE quarantines; RELEASE frees; INFORM is
// answered without a lease. A pool never leases its subnet's network, broadcast,
// router or server addresses (Subnet.excluded) nor another node's reservation.
import type { BootPlan } from '../boot/decide.js';
import { wantsNetboot } from '../boot/firmware.js';
import type { Node } from '../inventory/store.js';
import { inCidr, ipToInt } from '../ip.js';
import { DHCP, optIp, optString } from './codec.js';
import { enrolled, type HandlerContext, type Outcome } from './handler.js';
import type { LeaseChange } from './leaseStore.js';
import { relayInfo, subnetFor, type Subnet } from './network.js';
import { OPT } from './options.js';
import { addressOptions, bootFields, destination, makeReply, type Request } from './reply.js';

export function handleLease(ctx: HandlerContext, req: Request): Outcome {
  if (req.proxyPort) return { drop: 'proxy-port-not-proxy-mode' };
  switch (req.type) {
    case DHCP.DISCOVER:
      return discover(ctx, req);
    case DHCP.REQUEST:
      return request(ctx, req);
    case DHCP.DECLINE:
      return decline(ctx, req);
    case DHCP.RELEASE:
      return release(ctx, req);
    case DHCP.INFORM:
      return inform(ctx, req);
    default:
      return { drop: 'unexpected-type' };
  }
}

/** Who is asking: the node for the timeline, the operator's node for the address, and its boot plan. */
interface Client {
  /** Any node behind the MAC, discovered ones too. */
  node: Node | undefined;
  /** An inventory node: its reservation applies. */
  owner: Node | undefined;
  plan: BootPlan;
}

/** The client behind a request, or why this mode does not serve it. */
function clientOf(ctx: HandlerContext, req: Request): Client | { stop: Outcome } {
  const node = ctx.nodeByMac(req.mac);
  const owner = enrolled(node);
  const plan = ctx.plan(req.mac, node);
  if (owner || ctx.mode === 'pool') return { node, owner, plan };
  return { stop: { drop: 'unknown-mac', discovered: wantsNetboot(req.fp), reason: plan.intent.reason, node } };
}

function serverIdFor(req: Request, subnet: Subnet): number {
  return (req.packet.giaddr !== 0 ? relayInfo(req.packet).serverOverride : null) ?? subnet.serverIp;
}

/** Is `ip` one this client may hold in `subnet`? Returns a NAK reason when not. */
function refuse(ctx: HandlerContext, req: Request, owner: Node | undefined, subnet: Subnet, ip: number): string | null {
  if (!inCidr(ip, subnet.net)) return 'address not in the client subnet';
  if (owner?.ip) {
    if (ipToInt(owner.ip) !== ip) return 'not the reserved address of this node';
  } else if (ctx.mode !== 'pool') {
    return 'node has no reserved address';
  } else if (ctx.reservedByOther(ip, owner?.id ?? null)) {
    return 'address reserved for another node';
  } else if (!subnet.range || ip < subnet.range[0] || ip > subnet.range[1]) {
    return 'address not in the pool';
  } else if (subnet.excluded.has(ip)) {
    return 'address is the network, broadcast, a router or the server';
  }
  if (!ctx.leases.availableTo(ip, req.mac)) return 'address in use';
  return null;
}

/** The address to offer: the node's reservation, else the client's lease, offer, wish, or a free one. */
function pick(ctx: HandlerContext, req: Request, owner: Node | undefined, subnet: Subnet): number | string {
  if (owner?.ip) {
    const ip = ipToInt(owner.ip);
    return refuse(ctx, req, owner, subnet, ip) ?? ip;
  }
  if (ctx.mode !== 'pool') return 'node has no reserved address';
  const usable = (ip: number | undefined): ip is number =>
    ip !== undefined && refuse(ctx, req, owner, subnet, ip) === null;
  const lease = ctx.leases.leaseOf(req.mac)?.ip;
  if (usable(lease)) return lease;
  const offered = ctx.leases.offerFor(req.mac);
  if (usable(offered)) return offered;
  const wish = optIp(req.packet, OPT.requestedIp) ?? undefined;
  if (usable(wish)) return wish;
  if (!subnet.range) return 'subnet has no range';
  const reserved = (a: number) => ctx.reservedByOther(a, owner?.id ?? null);
  return ctx.leases.free(req.mac, subnet.range[0], subnet.range[1], reserved) ?? 'pool exhausted';
}

function hostnameOf(req: Request, owner: Node | undefined): string | null {
  return owner?.name ?? optString(req.packet, OPT.hostname);
}

function discover(ctx: HandlerContext, req: Request): Outcome {
  const c = clientOf(ctx, req);
  if ('stop' in c) return c.stop;
  const subnet = subnetFor(ctx.net, req.packet);
  if (!subnet) return { drop: 'no-subnet', reason: 'no configured subnet for this request', node: c.node };
  const ip = pick(ctx, req, c.owner, subnet);
  if (typeof ip === 'string') return { drop: 'no-address', reason: ip, node: c.node };
  const lease = { kind: 'offer', mac: req.mac, ip, holdMs: ctx.offerHoldMs } as const;
  return answer(ctx, req, c, { subnet, type: DHCP.OFFER, yiaddr: ip, withLease: true, durable: false, lease });
}

interface Answer {
  subnet: Subnet;
  type: number;
  yiaddr: number;
  /** Options 51, 58, 59: not in an INFORM reply. */
  withLease: boolean;
  /** Grants a lease: leaves only once the lease is on disk. */
  durable: boolean;
  /** The lease change the reply stands for. */
  lease?: LeaseChange;
}

function answer(ctx: HandlerContext, req: Request, c: Client, a: Answer): Outcome {
  const d = c.plan.dhcp(req.fp);
  const boot = d.boot ? d : undefined;
  const packet = makeReply(req, a.type, {
    yiaddr: a.yiaddr,
    serverId: serverIdFor(req, a.subnet),
    options: addressOptions(a.subnet, a.withLease, hostnameOf(req, c.owner)),
    ...(boot ? { boot: bootFields(boot, ctx.net.serverIp, req.fp, false) } : {}),
  });
  return {
    reply: { type: a.type, packet, to: destination(req, a.type, a.yiaddr), durable: a.durable },
    discovered: !c.owner && wantsNetboot(req.fp),
    reason: d.reason,
    node: c.node,
    subnet: a.subnet,
    boot,
    lease: a.lease,
  };
}

function nak(req: Request, node: Node | undefined, serverId: number, reason: string): Outcome {
  const packet = makeReply(req, DHCP.NAK, { yiaddr: 0, serverId, options: [] });
  const reply = { type: DHCP.NAK, packet, to: destination(req, DHCP.NAK, 0), durable: false };
  return { reply, reason, node };
}

function request(ctx: HandlerContext, req: Request): Outcome {
  const p = req.packet;
  const sid = optIp(p, OPT.serverId);
  if (sid !== null && !ctx.net.ours.has(sid) && sid !== relayInfo(p).serverOverride) {
    // SELECTING another server's offer: ours is free again.
    return { drop: 'other-server', lease: { kind: 'withdraw', mac: req.mac } };
  }
  const c = clientOf(ctx, req);
  if ('stop' in c) return c.stop;
  const subnet = subnetFor(ctx.net, p);
  if (!subnet) return { drop: 'no-subnet', reason: 'no configured subnet for this request', node: c.node };
  // SELECTING / INIT-REBOOT name the address in 50; RENEWING / REBINDING in ciaddr.
  const ip = optIp(p, OPT.requestedIp) ?? (p.ciaddr !== 0 ? p.ciaddr : null);
  if (ip === null) return { drop: 'malformed-request', reason: 'REQUEST without address', node: c.node };
  const why = refuse(ctx, req, c.owner, subnet, ip);
  if (why) return nak(req, c.node, serverIdFor(req, subnet), why);
  const hostname = hostnameOf(req, c.owner);
  const bind = { kind: 'bind', mac: req.mac, ip, seconds: subnet.leaseSeconds, subnet: subnet.cidr, hostname } as const;
  return answer(ctx, req, c, { subnet, type: DHCP.ACK, yiaddr: ip, withLease: true, durable: true, lease: bind });
}

function decline(ctx: HandlerContext, req: Request): Outcome {
  const p = req.packet;
  const ip = optIp(p, OPT.requestedIp);
  const sid = optIp(p, OPT.serverId);
  if (ip === null || (sid !== null && !ctx.net.ours.has(sid))) return { drop: 'decline-not-ours' };
  const h = ctx.leases.holder(ip);
  if (!h || h.mac !== req.mac) return { drop: 'decline-not-ours' };
  const subnet = subnetFor(ctx.net, p)?.cidr ?? '';
  const seconds = ctx.declineSeconds;
  return {
    reason: `address declined, quarantined for ${seconds} s`,
    lease: { kind: 'decline', mac: req.mac, ip, seconds, subnet },
    node: ctx.nodeByMac(req.mac),
  };
}

function release(ctx: HandlerContext, req: Request): Outcome {
  const p = req.packet;
  const sid = optIp(p, OPT.serverId);
  if (sid !== null && !ctx.net.ours.has(sid)) return { drop: 'release-not-ours' };
  if (!ctx.leases.holds(req.mac, p.ciaddr)) return { drop: 'release-not-ours' };
  return {
    reason: 'lease released',
    lease: { kind: 'release', mac: req.mac, ip: p.ciaddr },
    node: ctx.nodeByMac(req.mac),
  };
}

function inform(ctx: HandlerContext, req: Request): Outcome {
  const c = clientOf(ctx, req);
  if ('stop' in c) return c.stop;
  const subnet = subnetFor(ctx.net, req.packet);
  if (!subnet || req.packet.ciaddr === 0) return { drop: 'no-subnet', node: c.node };
  return answer(ctx, req, c, { subnet, type: DHCP.ACK, yiaddr: 0, withLease: false, durable: false });
}
