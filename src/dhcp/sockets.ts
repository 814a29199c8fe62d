// The DHCP sockets (network.ts says why this layout): udp 0.0.0.0:<port> receives
// broadcasts; <interface address>:<port> sends replies (so 255.255.255.255 leaves
// through the provisioning NIC) and receives unicasts to that address; in proxy
// mode 0.0.0.0:<proxyPort> answers PXE REQUESTs. Both :67 sockets set
// SO_REUSEADDR, which Linux requires to bind a specific address next to the
// wildcard; a server that binds :67 without it (dnsmasq, dhcpd) still makes our
// start fail.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { ipToInt } from '../ip.js';
import type { Logger } from '../log.js';
import { native } from '../native.js';
import { LIMITED_BROADCAST, type Destination } from './reply.js';

// Enough to ride out a GC pause or a timeline write at thousands of requests/s,
// small enough that an overload cannot queue more than a fraction of a second:
// clients retry after ~1 s, and answering only stale requests collapses throughput.
const RECV_BUFFER = 1024 * 1024;

/** Where a datagram came in (the proxy port or not, the address its socket is bound to), and where its reply leaves. */
export interface Channel {
  proxyPort: boolean;
  local: string;
  replyVia: Socket;
  /** The served link replies leave through, for the neighbour entries of unicasts to new clients; null: unknown. */
  link: string | null;
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
  close(): Promise<void>;
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

export async function openSockets(
  plan: SocketPlan,
  onMessage: (msg: Buffer, rinfo: RemoteInfo, ch: Channel) => void,
  log: Logger,
): Promise<DhcpSockets> {
  const sockets: Socket[] = [];
  try {
    const rx = await bindSocket('0.0.0.0', plan.port, true);
    sockets.push(rx);
    let tx = rx;
    if (plan.bindIp !== null) {
      tx = await bindSocket(plan.bindIp, plan.port, true);
      sockets.push(tx);
    } else {
      log.warn('dhcp: no local IPv4 address found; broadcast replies follow the default route');
    }
    const link = plan.bindIp === null ? null : plan.link;
    const broadcasts: Channel = { proxyPort: false, local: '0.0.0.0', replyVia: tx, link };
    rx.on('message', (m, r) => onMessage(m, r, broadcasts));
    if (tx !== rx) {
      const unicasts: Channel = { proxyPort: false, local: plan.bindIp!, replyVia: tx, link };
      tx.on('message', (m, r) => onMessage(m, r, unicasts));
    }
    if (plan.proxyPort !== null) {
      const px = await bindSocket('0.0.0.0', plan.proxyPort, false);
      sockets.push(px);
      const proxy: Channel = { proxyPort: true, local: '0.0.0.0', replyVia: px, link: null };
      px.on('message', (m, r) => onMessage(m, r, proxy));
    }
    for (const s of sockets) s.on('error', (err) => log.error({ err }, 'dhcp: socket error'));
  } catch (err) {
    for (const s of sockets) s.close();
    throw err;
  }
  return { close: () => Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => {}) };
}

/** Send one datagram; `done` hears whether the kernel took it, and where it went. */
export function sendDatagram(
  ch: Channel,
  buf: Buffer,
  to: Destination,
  done: (err: Error | null, sentTo: Destination) => void,
): void {
  const dest = to.hardware ? viaNeighbour(ch.link, to, to.hardware) : to;
  ch.replyVia.send(buf, dest.port, dest.address, (err) => done(err ?? null, dest));
}

/**
 * The unicast to a client without an address (reply.ts, destination): possible
 * once the kernel knows the address is at the client's MAC. When that entry cannot
 * be made (no CAP_NET_ADMIN, no link name), a broadcast, which every client takes.
 */
function viaNeighbour(link: string | null, to: Destination, hardware: Buffer): Destination {
  if (link !== null && native.neighbourSet(link, ipToInt(to.address), hardware) === 0)
    return { address: to.address, port: to.port };
  return { address: LIMITED_BROADCAST, port: to.port };
}
