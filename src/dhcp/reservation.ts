// Authoritative modes. `reservation`: inventory nodes only, each with its reserved
// address. `pool`: the same, plus leases from the subnets' ranges for everyone else.
// Semantics follow Kea: an OFFER holds the address briefly; a REQUEST naming
// another server withdraws our offer silently; a request for an address the
// client may not have gets a NAK; DECLINE quarantines; RELEASE frees; INFORM is
// answered without a lease.
import type { Node } from '../inventory/store.js';
import { DHCP, optIp, optString } from './codec.js';
import { bootFor, type HandlerContext, type Outcome } from './handler.js';
import { inCidr, ipToInt } from '../ip.js';
import { subnetFor, relayInfo, type Subnet } from './network.js';
import { OPT } from './options.js';
import { addressOptions, bootFields, destination, makeReply, type Request } from './reply.js';
import { wantsNetboot } from './bootDecision.js';

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

/** The node behind a request, or why this mode does not serve the client. */
function clientOf(ctx: HandlerContext, req: Request): { node: Node | undefined; stop?: Outcome } {
  const node = ctx.nodeByMac(req.mac);
  if (node || ctx.mode === 'pool') return { node };
  return { node, stop: { drop: 'unknown-mac', discovered: wantsNetboot(req.fp), reason: 'unknown MAC' } };
}

function serverIdFor(req: Request, subnet: Subnet): number {
  return (req.packet.giaddr !== 0 ? relayInfo(req.packet).serverOverride : null) ?? subnet.serverIp;
}

/** Is `ip` one this client may hold in `subnet`? Returns a NAK reason when not. */
function refuse(ctx: HandlerContext, req: Request, node: Node | undefined, subnet: Subnet, ip: number): string | null {
  if (!inCidr(ip, subnet.net)) return 'address not in the client subnet';
  if (node?.ip) {
    if (ipToInt(node.ip) !== ip) return 'not the reserved address of this node';
  } else if (ctx.mode !== 'pool') {
    return 'node has no reserved address';
  } else if (ctx.reservedByOther(ip, node?.id ?? null)) {
    return 'address reserved for another node';
  } else if (!subnet.range || ip < subnet.range[0] || ip > subnet.range[1]) {
    return 'address not in the pool';
  }
  if (!ctx.leases.availableTo(ip, req.mac)) return 'address in use';
  return null;
}

/** The address to offer: the node's reservation, else the client's lease, offer, wish, or a free one. */
function pick(ctx: HandlerContext, req: Request, node: Node | undefined, subnet: Subnet): number | string {
  if (node?.ip) {
    const ip = ipToInt(node.ip);
    return refuse(ctx, req, node, subnet, ip) ?? ip;
  }
  if (ctx.mode !== 'pool') return 'node has no reserved address';
  const usable = (ip: number | undefined): ip is number =>
    ip !== undefined && refuse(ctx, req, node, subnet, ip) === null;
  const lease = ctx.leases.leaseOf(req.mac)?.ip;
  if (usable(lease)) return lease;
  const offered = ctx.leases.offerFor(req.mac);
  if (usable(offered)) return offered;
  const wish = optIp(req.packet, OPT.requestedIp) ?? undefined;
  if (usable(wish)) return wish;
  if (!subnet.range) return 'subnet has no range';
  const ip = ctx.leases.allocate(req.mac, subnet.range[0], subnet.range[1], (a) =>
    ctx.reservedByOther(a, node?.id ?? null),
  );
  return ip ?? 'pool exhausted';
}

function hostnameOf(req: Request, node: Node | undefined): string | null {
  return node?.name ?? optString(req.packet, OPT.hostname);
}

function discover(ctx: HandlerContext, req: Request): Outcome {
  const { node, stop } = clientOf(ctx, req);
  if (stop) return stop;
  const subnet = subnetFor(ctx.net, req.packet);
  if (!subnet) return { drop: 'no-subnet', node, reason: 'no configured subnet for this request' };
  const ip = pick(ctx, req, node, subnet);
  if (typeof ip === 'string') return { drop: 'no-address', node, reason: ip };
  ctx.leases.offer(req.mac, ip, ctx.offerHoldMs);
  return answer(ctx, req, node, subnet, DHCP.OFFER, ip, true, false);
}

function answer(
  ctx: HandlerContext,
  req: Request,
  node: Node | undefined,
  subnet: Subnet,
  type: number,
  yiaddr: number,
  withLease: boolean,
  durable: boolean,
): Outcome {
  const d = bootFor(ctx, req, node);
  const b = d.boot ? d : undefined;
  const serverId = serverIdFor(req, subnet);
  const packet = makeReply(req, type, {
    yiaddr,
    serverId,
    options: addressOptions(subnet, withLease, hostnameOf(req, node)),
    ...(b ? { boot: bootFields(b, ctx.net.serverIp, req.fp, false) } : {}),
  });
  return {
    reply: { type, packet, to: destination(req, type), durable },
    node,
    discovered: !node && wantsNetboot(req.fp),
    ...(b ? { boot: b } : {}),
    reason: d.reason,
  };
}

function nak(req: Request, node: Node | undefined, serverId: number, reason: string): Outcome {
  const packet = makeReply(req, DHCP.NAK, { yiaddr: 0, serverId, options: [] });
  return { reply: { type: DHCP.NAK, packet, to: destination(req, DHCP.NAK), durable: false }, node, reason };
}

function request(ctx: HandlerContext, req: Request): Outcome {
  const p = req.packet;
  const sid = optIp(p, OPT.serverId);
  if (sid !== null && !ctx.net.ours.has(sid) && sid !== relayInfo(p).serverOverride) {
    // SELECTING another server's offer: ours is free again.
    ctx.leases.withdrawOffer(req.mac);
    return { drop: 'other-server' };
  }
  const { node, stop } = clientOf(ctx, req);
  if (stop) return stop;
  const subnet = subnetFor(ctx.net, p);
  if (!subnet) return { drop: 'no-subnet', node, reason: 'no configured subnet for this request' };
  const serverId = serverIdFor(req, subnet);
  // SELECTING / INIT-REBOOT name the address in 50; RENEWING / REBINDING in ciaddr.
  const ip = optIp(p, OPT.requestedIp) ?? (p.ciaddr !== 0 ? p.ciaddr : null);
  if (ip === null) return { drop: 'malformed-request', node, reason: 'REQUEST without address' };
  const why = refuse(ctx, req, node, subnet, ip);
  if (why) return nak(req, node, serverId, why);
  ctx.leases.bind(req.mac, ip, subnet.leaseSeconds, subnet.cidr, hostnameOf(req, node));
  return answer(ctx, req, node, subnet, DHCP.ACK, ip, true, true);
}

function decline(ctx: HandlerContext, req: Request): Outcome {
  const p = req.packet;
  const ip = optIp(p, OPT.requestedIp);
  const sid = optIp(p, OPT.serverId);
  if (ip === null || (sid !== null && !ctx.net.ours.has(sid))) return { drop: 'decline-not-ours' };
  const h = ctx.leases.holder(ip);
  if (!h || h.mac !== req.mac) return { drop: 'decline-not-ours' };
  const subnet = subnetFor(ctx.net, p);
  ctx.leases.decline(req.mac, ip, ctx.declineSeconds, subnet?.cidr ?? '');
  return { node: ctx.nodeByMac(req.mac), reason: `address declined, quarantined for ${ctx.declineSeconds} s` };
}

function release(ctx: HandlerContext, req: Request): Outcome {
  const p = req.packet;
  const sid = optIp(p, OPT.serverId);
  if (sid !== null && !ctx.net.ours.has(sid)) return { drop: 'release-not-ours' };
  if (!ctx.leases.release(req.mac, p.ciaddr)) return { drop: 'release-not-ours' };
  return { node: ctx.nodeByMac(req.mac), reason: 'lease released' };
}

function inform(ctx: HandlerContext, req: Request): Outcome {
  const { node, stop } = clientOf(ctx, req);
  if (stop) return stop;
  const subnet = subnetFor(ctx.net, req.packet);
  if (!subnet || req.packet.ciaddr === 0) return { drop: 'no-subnet', node };
  return answer(ctx, req, node, subnet, DHCP.ACK, 0, false, false);
}
