// The DHCP sockets (network.ts says why this layout): udp 0.0.0.0:<port> receives
// broadcasts; <interface address>:<port> sends replies (so 255.255.255.255 leaves
// through the provisioning NIC) and receives unicasts to that address; in proxy
// mode 0.0.0.0:<proxyPort> answers PXE REQUESTs. Both :67 sockets set
// SO_REUSEADDR, which Linux requires to bind a specific address next to the
// wildcard; a server that binds :67 without it (dnsmasq, dhcpd) still makes our
// start fail. The sockets are native (src/udp.ts): the replies to the requests read
// in one turn leave in one sendmmsg, and a datagram arrives with its source as numbers.
import { getSystemErrorName } from 'node:util';
import { intToIp, ipToInt } from '../ip.js';
import type { Logger } from '../log.js';
import { native } from '../native.js';
import { UdpSocket } from '../udp.js';
import { LIMITED_BROADCAST, type Destination, type Source } from './reply.js';

// Enough to ride out a GC pause or a timeline write at thousands of requests/s,
// small enough that an overload cannot queue more than a fraction of a second:
// clients retry after ~1 s, and answering only stale requests collapses throughput.
const RECV_BUFFER = 1024 * 1024;

/** Where a datagram came in (the proxy port or not, the address its socket is bound to), and where its reply leaves. */
export interface Channel {
  proxyPort: boolean;
  local: string;
  replyVia: UdpSocket;
  /** The neighbour entries of unicasts to new clients, on the served link; null: that link is unknown. */
  neighbours: Neighbours | null;
}

export interface SocketPlan {
  port: number;
  /** The proxy port, in proxy mode only. */
  proxyPort: number | null;
  /** Our address on the served link; null: replies follow the default route. */
  bindIp: string | null;
  /** The served link's name; null: unknown (replies to clients without an address are broadcast). */
  link: string | null;
}

export interface DhcpSockets {
  close(): void;
}

export function openSockets(
  plan: SocketPlan,
  onMessage: (msg: Buffer, from: Source, ch: Channel) => void,
  log: Logger,
): DhcpSockets {
  const sockets: UdpSocket[] = [];
  // Bound before its channel exists: the first datagram is read on a later turn of the loop.
  const open = (address: string, port: number, reuseAddress: boolean, ch: () => Channel) => {
    const s = new UdpSocket(address, (m, ip, p) => onMessage(m, { address: intToIp(ip), port: p }, ch()), {
      port,
      reuseAddress,
      broadcast: true,
      recvBuffer: RECV_BUFFER,
      segmentation: false,
    });
    sockets.push(s);
    return s;
  };
  try {
    const neighbours = plan.bindIp === null || plan.link === null ? null : new Neighbours(plan.link, log);
    let broadcasts: Channel | null = null;
    let unicasts: Channel | null = null;
    const rx = open('0.0.0.0', plan.port, true, () => broadcasts!);
    let tx = rx;
    if (plan.bindIp !== null) {
      tx = open(plan.bindIp, plan.port, true, () => unicasts!);
      unicasts = { proxyPort: false, local: plan.bindIp, replyVia: tx, neighbours };
    } else {
      log.warn('dhcp: no local IPv4 address found; broadcast replies follow the default route');
    }
    broadcasts = { proxyPort: false, local: '0.0.0.0', replyVia: tx, neighbours };
    if (plan.proxyPort !== null) {
      let proxy: Channel | null = null;
      const px = open('0.0.0.0', plan.proxyPort, false, () => proxy!);
      proxy = { proxyPort: true, local: '0.0.0.0', replyVia: px, neighbours: null };
    }
  } catch (err) {
    for (const s of sockets) s.close();
    throw err;
  }
  return { close: () => sockets.forEach((s) => s.close()) };
}

/**
 * Send one datagram with the other replies of this turn (src/udp.ts, sendSoon);
 * `done` hears where it went, and the error's name if the kernel refused it
 * (EAGAIN: the socket buffer is full).
 */
export function sendDatagram(
  ch: Channel,
  buf: Buffer,
  to: Destination,
  done: (error: string | null, sentTo: Destination) => void,
): void {
  const reachable = !to.hardware || ch.neighbours?.add(to.address, to.hardware);
  const dest = { address: reachable ? to.address : LIMITED_BROADCAST, port: to.port };
  ch.replyVia.sendSoon(ipToInt(dest.address), dest.port, buf, (error) => done(error, dest));
}

/**
 * The unicast to a client without an address (reply.ts, destination) is possible
 * once the kernel knows the address is at the client's MAC. When that entry cannot
 * be made the reply is broadcast, which every client takes. Without CAP_NET_ADMIN
 * that is said once, and no entry is tried again until a restart.
 */
class Neighbours {
  private refused = false;

  constructor(
    private readonly link: string,
    private readonly log: Logger,
  ) {}

  /** True when `address` is now at `mac` on the link. */
  add(address: string, mac: Buffer): boolean {
    if (this.refused) return false;
    const errno = native.neighbourSet(this.link, ipToInt(address), mac);
    if (errno === 0) return true;
    const error = getSystemErrorName(-errno);
    if (error !== 'EPERM') {
      this.log.debug({ link: this.link, address, error }, 'dhcp: no neighbour entry; reply broadcast');
      return false;
    }
    this.refused = true;
    this.log.warn(
      { link: this.link, error },
      'dhcp: not permitted to add neighbour entries (no CAP_NET_ADMIN); replies to clients without an address are broadcast',
    );
    return false;
  }
}
