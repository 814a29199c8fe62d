// What the DHCP server puts in a machine's packet capture (src/capture/): every
// datagram received that names a MAC, and every reply the kernel took, with the
// addresses and ports it had on the wire. On the hot path this is a timestamp, a
// small record and one copy of the datagram into the store's arena (store.ts).
import { datagramNow } from '../capture/pcap.js';
import type { CaptureStore } from '../capture/store.js';
import { intToIp } from '../ip.js';
import type { Network } from './network.js';
import type { Destination, Source } from './reply.js';
import type { Channel } from './sockets.js';

export interface DhcpCapture {
  received(mac: string, msg: Buffer, from: Source, ch: Channel): void;
  sent(mac: string, reply: Buffer, to: Destination, ch: Channel): void;
}

const GIADDR = 24;

export function dhcpCapture(
  store: Pick<CaptureStore, 'add'>,
  net: Pick<Network, 'serverIp' | 'bindIp'>,
  ports: { port: number; proxyPort: number | null },
): DhcpCapture {
  const server = intToIp(net.serverIp);
  // Replies leave by the socket bound to our address on the link (sockets.ts), else by the route to the server id.
  const ours = intToIp(net.bindIp ?? net.serverIp);
  const portOf = (ch: Channel) => (ch.proxyPort ? ports.proxyPort! : ports.port);
  // A socket is not told its datagram's destination address. One bound to an
  // address got it sent there; on a wildcard socket, a relay (giaddr set) and a PXE
  // client on the proxy port send to the server, anything else is a broadcast
  // (a unicast to our bound address lands on that socket, not this one).
  const arrivedAt = (ch: Channel, msg: Buffer) => {
    if (ch.local !== '0.0.0.0') return ch.local;
    return ch.proxyPort || msg.readUInt32BE(GIADDR) !== 0 ? server : '255.255.255.255';
  };
  return {
    received(mac, msg, from, ch) {
      store.add(mac, datagramNow(false, { address: arrivedAt(ch, msg), port: portOf(ch) }, from, msg));
    },
    sent(mac, reply, to, ch) {
      store.add(mac, datagramNow(true, { address: ours, port: portOf(ch) }, to, reply));
    },
  };
}
