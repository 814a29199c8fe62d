// Which subnet a request belongs to, and which of our addresses speaks for it.
//
// Interface binding (Node's dgram has no SO_BINDTODEVICE and no IP_PKTINFO, so a
// broadcast does not say which NIC it came in on): rackjoin serves ONE
// provisioning link directly, plus any number of relayed subnets.
//  - `interface` names that link; without it, every non-loopback IPv4 address counts.
//  - Direct (non-relayed) requests belong to the configured subnet that contains an
//    address of that interface. Broadcasts arriving on other NICs are answered as if
//    they came from that link; run rackjoin where other links carry no PXE clients,
//    or filter udp/67 on them.
//  - Relayed requests pick their subnet by option 82 sub-option 5 (link selection),
//    else by giaddr, and are answered whatever NIC they arrived on.
//  - Broadcast replies leave through a socket bound to the interface's address, so
//    the kernel routes 255.255.255.255 out of that NIC and not the default route's.
import type { Config } from '../config.js';
import { advertisedAddress, localAddresses } from '../host.js';
import { inCidr, ipToInt, nonHostAddresses, parseCidr, type Cidr } from '../ip.js';
import type { DhcpPacket } from './codec.js';
import { OPT, relayAgentSubOptions } from './options.js';

export interface Subnet {
  cidr: string;
  net: Cidr;
  /** Pool range, inclusive, pool mode only. */
  range: [number, number] | null;
  routers: number[];
  dns: number[];
  domain: string | null;
  leaseSeconds: number;
  /** Our address inside this subnet, when we have one (the directly served link). */
  localIp: number | null;
  /** Option 54 and siaddr for this subnet's clients. */
  serverIp: number;
  /** Addresses of the range that are never leased (see excludedAddresses). */
  excluded: ReadonlySet<number>;
}

export interface Network {
  subnets: Subnet[];
  /** The subnet of the link we serve directly, if configured. */
  local: Subnet | undefined;
  /** Address the reply sockets bind to (broadcasts leave through its NIC); null: none found. */
  bindIp: number | null;
  /** Option 54 for clients outside any subnet (proxy mode), siaddr for boot replies. */
  serverIp: number;
  /** Every address a REQUEST's option 54 may name to mean us. */
  ours: Set<number>;
}

export function buildNetwork(config: Config, addrs: number[] = localAddresses(config.interface)): Network {
  if (config.interface && addrs.length === 0) throw new Error(`interface ${config.interface} has no IPv4 address`);
  const advertise = config.advertise ? ipToInt(config.advertise) : null;
  const ours = new Set([...addrs, ...(advertise !== null ? [advertise] : [])]);
  const subnets: Subnet[] = config.dhcp.subnets.map((s) => {
    const net = parseCidr(s.cidr);
    const localIp = addrs.find((a) => inCidr(a, net)) ?? null;
    let range: [number, number] | null = null;
    if (s.range) {
      const [a, b] = s.range.split('-').map(ipToInt) as [number, number];
      if (a > b || !inCidr(a, net) || !inCidr(b, net))
        throw new Error(`dhcp.subnets: range ${s.range} is not inside ${s.cidr}`);
      range = [a, b];
    }
    const routers = (s.router ? [s.router] : []).map(ipToInt);
    return {
      cidr: s.cidr,
      net,
      range,
      routers,
      dns: (s.dns ?? []).map(ipToInt),
      domain: s.domain ?? null,
      leaseSeconds: s.leaseSeconds,
      localIp,
      serverIp: advertise ?? localIp ?? addrs[0] ?? 0,
      excluded: excludedAddresses(net, range, [...ours, ...routers]),
    };
  });
  const local = subnets.find((s) => s.localIp !== null);
  const bindIp = local?.localIp ?? addrs[0] ?? null;
  return {
    subnets,
    local,
    bindIp,
    serverIp: advertisedAddress(config, addrs) ?? 0,
    ours,
  };
}

/**
 * What a pool never hands out, even inside its range (as Kea and dnsmasq): the
 * subnet's network and broadcast addresses (a /31 or /32 has none, RFC 3021), our
 * own addresses and the routers. A client holding one breaks the link for everyone.
 * Node reservations move with the inventory and are asked per request instead.
 */
function excludedAddresses(net: Cidr, range: [number, number] | null, hosts: number[]): Set<number> {
  const out = new Set<number>();
  if (!range) return out;
  const { network, broadcast } = nonHostAddresses(net);
  for (const ip of [network, broadcast, ...hosts]) if (ip !== null && ip >= range[0] && ip <= range[1]) out.add(ip);
  return out;
}

export interface RelayInfo {
  link: number | null;
  serverOverride: number | null;
}

const NO_RELAY_INFO: RelayInfo = Object.freeze({ link: null, serverOverride: null });

/** Relay agent sub-options we act on (RFC 3527 link selection, RFC 5107 server-id override). */
export function relayInfo(p: DhcpPacket): RelayInfo {
  const o82 = p.options.get(OPT.relayAgent);
  if (!o82) return NO_RELAY_INFO;
  const subs = relayAgentSubOptions(o82);
  let link: number | null = null;
  let serverOverride: number | null = null;
  for (const [code, v] of subs ?? []) {
    if (code === 5 && v.length === 4) link = v.readUInt32BE(0);
    if (code === 11 && v.length === 4) serverOverride = v.readUInt32BE(0);
  }
  return { link, serverOverride };
}

/** The subnet a request comes from: relayed by link selection or giaddr, direct by ciaddr or the local link. */
export function subnetFor(net: Network, p: DhcpPacket): Subnet | undefined {
  if (p.giaddr !== 0) return subnetHolding(net, relayInfo(p).link ?? p.giaddr);
  return (p.ciaddr !== 0 ? subnetHolding(net, p.ciaddr) : undefined) ?? net.local;
}

function subnetHolding(net: Network, ip: number): Subnet | undefined {
  for (const s of net.subnets) if (inCidr(ip, s.net)) return s;
  return undefined;
}
