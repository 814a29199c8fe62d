// Building replies and choosing where they go; shared by the proxy and lease handlers.
import { DHCP, optU16, replyLength, type DhcpPacket, type DhcpReply } from './codec.js';
import type { DhcpBoot } from '../boot/decide.js';
import type { Fingerprint } from '../boot/firmware.js';
import { intToIp } from '../ip.js';
import type { Subnet } from './network.js';
import { encodeSubOptions, ipBytes, OPT, relayAgentSubOptions, u32Bytes, type OptionPair } from './options.js';

/** Where a datagram came from. */
export interface Source {
  address: string;
  port: number;
}

/** One received request, decoded once. */
export interface Request {
  packet: DhcpPacket;
  type: number;
  mac: string;
  fp: Fingerprint;
  from: Source;
  /** Arrived on the ProxyDHCP port (4011). */
  proxyPort: boolean;
}

export interface Destination {
  address: string;
  port: number;
  /**
   * A client that has no address yet and did not ask for broadcast: its hardware
   * address, for the neighbour entry the unicast to `address` (its yiaddr) needs.
   */
  hardware?: Buffer;
}

export interface Reply {
  type: number;
  packet: DhcpReply;
  to: Destination;
  /** Holds a lease that must be on disk before the reply leaves. */
  durable: boolean;
}

export type Boot = Extract<DhcpBoot, { boot: true }>;

const BROADCAST_FLAG = 0x8000;
const TYPE_BYTES = Array.from({ length: 9 }, (_, i) => Buffer.from([i]));
export const LIMITED_BROADCAST = '255.255.255.255';
/** PXE vendor option 43: sub-option 6 (discovery control) = 8: boot the file given, no menu, no discovery. */
const PXE_NO_DISCOVERY = encodeSubOptions([[6, Buffer.from([8])]], true);
/** iPXE option 175 sub-option 176 (no-pxedhcp) = 1: do not wait ~3 s for ProxyDHCP offers. */
const IPXE_NO_PROXYDHCP = encodeSubOptions([[176, Buffer.from([1])]]);

/**
 * RFC 2131 §4.1: relayed -> giaddr:67; NAK -> broadcast; a client with an address
 * (renewal, INFORM) -> ciaddr:68; a client with an Ethernet address that did not
 * set the broadcast flag -> yiaddr:68 at that address (sockets.ts adds the
 * neighbour entry, or broadcasts when it cannot); otherwise broadcast. The
 * ProxyDHCP port answers the sender where it is.
 */
export function destination(req: Request, type: number, yiaddr: number): Destination {
  if (req.proxyPort) return req.from;
  const p = req.packet;
  if (p.giaddr !== 0) return { address: intToIp(p.giaddr), port: 67 };
  if (type === DHCP.NAK) return { address: LIMITED_BROADCAST, port: 68 };
  if (p.ciaddr !== 0) return { address: intToIp(p.ciaddr), port: 68 };
  if (yiaddr !== 0 && !(p.flags & BROADCAST_FLAG) && p.htype === 1 && p.hlen === 6)
    return { address: intToIp(yiaddr), port: 68, hardware: Buffer.from(p.chaddr.subarray(0, 6)) };
  return { address: LIMITED_BROADCAST, port: 68 };
}

/** A subnet's options never change: encoded once, shared by every reply (read-only). */
const subnetOptions = new WeakMap<Subnet, { base: OptionPair[]; withLease: OptionPair[] }>();

function optionsOf(subnet: Subnet): { base: OptionPair[]; withLease: OptionPair[] } {
  let o = subnetOptions.get(subnet);
  if (!o) {
    const base: OptionPair[] = [[OPT.subnetMask, ipBytes(subnet.net.mask)]];
    if (subnet.routers.length) base.push([OPT.router, ipBytes(...subnet.routers)]);
    if (subnet.dns.length) base.push([OPT.dns, ipBytes(...subnet.dns)]);
    if (subnet.domain) base.push([OPT.domainName, Buffer.from(subnet.domain, 'latin1')]);
    base.push([OPT.broadcast, ipBytes(subnet.net.broadcast)]);
    const s = subnet.leaseSeconds;
    const lease: OptionPair[] = [
      [OPT.leaseTime, u32Bytes(s)],
      [OPT.renewalTime, u32Bytes(Math.floor(s / 2))],
      [OPT.rebindingTime, u32Bytes(Math.floor((s * 7) / 8))],
    ];
    o = { base, withLease: [...base, ...lease] };
    subnetOptions.set(subnet, o);
  }
  return o;
}

/**
 * Options 1, 3, 6, 15, 28, 12 and (with a lease) 51, 58, 59. Without a hostname
 * the subnet's own list is returned: read-only (makeReply copies it).
 */
export function addressOptions(subnet: Subnet, withLease: boolean, hostname: string | null): readonly OptionPair[] {
  const { base, withLease: full } = optionsOf(subnet);
  const out = withLease ? full : base;
  if (!hostname) return out;
  const named: OptionPair = [OPT.hostname, Buffer.from(hostname, 'latin1')];
  return withLease ? [...base, named, ...full.slice(base.length)] : [...base, named];
}

export interface BootFields {
  siaddr: number;
  sname: string;
  file: string;
  options: OptionPair[];
}

/**
 * siaddr, sname/66 and file/67 set together (docs/firmware.md: iPXE reads siaddr,
 * GRUB option 66, old ROMs the file field). `proxy`: a ProxyDHCP answer, which
 * carries the PXE vendor options instead of an address.
 */
export function bootFields(boot: Boot, serverIp: number, fp: Fingerprint, proxy: boolean): BootFields {
  const options: OptionPair[] = [];
  // "PXEClient" is echoed only by ProxyDHCP. In an offer that carries an address and no
  // option 43, EDK2 (OVMF, most UEFI PXE) reads it as a BINL offer and asks port 4011
  // for the boot file, which only proxy mode serves: it gives up and falls back to UEFI
  // HTTP boot ~80 s later (test/e2e uefi-pxe). dnsmasq and ISC dhcpd do not echo it;
  // PXE ROMs take file/siaddr from a plain offer. HTTP-boot firmware needs "HTTPClient".
  if (boot.vendorClass === 'HTTPClient' || (proxy && boot.vendorClass)) {
    options.push([OPT.vendorClass, Buffer.from(boot.vendorClass, 'latin1')]);
  }
  // UEFI PXE firmware ignores ProxyDHCP offers that bypass discovery; without 43 it
  // asks port 4011 for the file instead (pixiecore's finding; docs/firmware.md).
  if (proxy && boot.vendorClass === 'PXEClient' && (fp.arch.firmware === 'bios' || fp.ipxe)) {
    options.push([OPT.vendorSpecific, PXE_NO_DISCOVERY]);
  }
  const server = intToIp(serverIp);
  if (boot.transport === 'tftp') options.push([OPT.tftpServer, Buffer.from(server, 'latin1')]);
  options.push([OPT.bootfile, Buffer.from(boot.bootFile, 'latin1')]);
  if (fp.ipxe && !proxy) options.push([OPT.ipxe, IPXE_NO_PROXYDHCP]);
  return {
    siaddr: serverIp,
    sname: boot.transport === 'tftp' ? server : '',
    // The file field holds 127 characters; a longer URL travels in option 67 only.
    file: boot.bootFile.length < 128 ? boot.bootFile : '',
    options,
  };
}

export interface ReplyFields {
  yiaddr: number;
  serverId: number;
  options: readonly OptionPair[];
  boot?: BootFields;
}

// RFC 2131 §2: a client must accept a 576-byte IP datagram; option 57 says it takes
// more (RFC 2132 §9.10; counted, as ISC dhcpd and Kea count it, with the IP and UDP headers).
const MIN_DATAGRAM = 576;
const IP_UDP_HEADERS = 28;
// What a reply cannot do without: the exchange itself, the lease, the address's mask,
// the boot information PXE firmware acts on, and the relay's option 82.
const ESSENTIAL = new Set<number>([
  OPT.messageType,
  OPT.serverId,
  OPT.leaseTime,
  OPT.renewalTime,
  OPT.rebindingTime,
  OPT.subnetMask,
  OPT.vendorClass,
  OPT.vendorSpecific,
  OPT.clientUuid,
  OPT.tftpServer,
  OPT.bootfile,
  OPT.ipxe,
  OPT.relayAgent,
]);

export interface Fit {
  /** The option codes left out, last added first. */
  omitted: readonly number[];
  /** False: still too long with only the options it cannot do without. */
  fits: boolean;
}

/** A reply that fits as it is (the common case). */
const FITS: Fit = Object.freeze({ omitted: Object.freeze([]), fits: true });

/**
 * Keeps the reply within what the client takes: when it is too long, the options the
 * client did not ask for (option 55) and can do without go, last added first. Returns
 * the codes left out; a reply still too long after that is sent as it is (the codes
 * left are all wanted), and `fits` says so.
 */
export function fitReply(reply: DhcpReply, request: DhcpPacket): Fit {
  const limit = Math.max(MIN_DATAGRAM, optU16(request, OPT.maxMessageSize) ?? 0) - IP_UDP_HEADERS;
  if (replyLength(reply) <= limit) return FITS;
  const asked = request.options.get(OPT.paramRequest);
  const omitted: number[] = [];
  for (let i = reply.options.length - 1; i >= 0 && replyLength(reply) > limit; i--) {
    const code = reply.options[i]![0];
    if (ESSENTIAL.has(code) || asked?.includes(code)) continue;
    omitted.push(code);
    reply.options.splice(i, 1);
  }
  return { omitted, fits: replyLength(reply) <= limit };
}

/**
 * The request's option 82 as the reply echoes it: verbatim (RFC 3046 §2.2), or not
 * at all when it is malformed. The request is answered either way, as Kea answers
 * it. Kea re-encodes the sub-options it could parse before the break and echoes
 * those, and none when none parse (its "empty RAI is not sent" fix); we send none
 * in both cases. A re-encoded prefix is not what the relay sent, so a relay that
 * validates replies (Aruba, Cisco "information check") drops it anyway, while a
 * reply without option 82 is what a server unaware of the option sends (RFC 3046),
 * which relays forward by default. Passing the broken bytes back verbatim would
 * hand a relay input that it, too, must parse.
 */
export function relayAgentEcho(p: DhcpPacket): Buffer | null {
  const o82 = p.options.get(OPT.relayAgent);
  return o82 && relayAgentSubOptions(o82) ? o82 : null;
}

// Option 54 is nearly always the same address: the last one is kept encoded
// (read-only; a relay's server-id override may name any address, so no more).
let lastServerId = { ip: 0, bytes: ipBytes(0) };

function serverIdBytes(ip: number): Buffer {
  if (lastServerId.ip !== ip) lastServerId = { ip, bytes: ipBytes(ip) };
  return lastServerId.bytes;
}

/** The reply datagram: 53 and 54 first, the client's option 82 echoed last (RFC 3046). */
export function makeReply(req: Request, type: number, f: ReplyFields): DhcpReply {
  const p = req.packet;
  const options: OptionPair[] = [
    [OPT.messageType, TYPE_BYTES[type]!],
    [OPT.serverId, serverIdBytes(f.serverId)],
  ];
  for (const o of f.options) options.push(o);
  if (f.boot) for (const o of f.boot.options) options.push(o);
  const uuid = p.options.get(OPT.clientUuid);
  if (uuid && f.boot) options.push([OPT.clientUuid, uuid]); // PXE: echo the machine id
  const o82 = relayAgentEcho(p);
  if (o82) options.push([OPT.relayAgent, o82]);
  const relayedNak = type === DHCP.NAK && p.giaddr !== 0;
  return {
    xid: p.xid,
    flags: relayedNak ? p.flags | BROADCAST_FLAG : p.flags,
    ciaddr: type === DHCP.NAK ? 0 : p.ciaddr,
    yiaddr: f.yiaddr,
    siaddr: f.boot?.siaddr ?? 0,
    giaddr: p.giaddr,
    chaddr: p.chaddr,
    sname: f.boot?.sname ?? '',
    file: f.boot?.file ?? '',
    options,
  };
}
