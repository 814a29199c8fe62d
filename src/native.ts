// rackjoin's native addon (native/*.c, built by `npm run build` with node-gyp):
// what Node's networking cannot do. Each C file says why it is native.
import { createRequire } from 'node:module';

export interface Native {
  /** udp.c: a non-blocking IPv4 socket (port 0: a fresh one), read on this thread's loop; flags: src/udp.ts. */
  bind(
    address: string,
    port: number,
    /** The datagram is `slab[offset, offset + length)` (native/udp.c says why). */
    onMessage: (slab: Buffer, offset: number, length: number, address: number, port: number) => void,
    flags: number,
    recvBuffer: number,
  ): [unknown, number];
  /** udp.c: 0 or an errno. segment 0: data is one datagram; else consecutive datagrams of `segment` bytes. */
  send(socket: unknown, address: number, port: number, data: Buffer, segment: number): number;
  /** udp.c: datagrams[i] to addresses[i]:ports[i], by sendmmsg; errors[i] = 0 or the errno of datagram i. */
  sendEach(socket: unknown, datagrams: Buffer[], addresses: Uint32Array, ports: Uint16Array, errors: Int32Array): void;
  close(socket: unknown): void;
  /** udp.c: the MTU of the route to address, 0 without a route. */
  pathMtu(address: number): number;
  /** ifaddrs.c: null when there is no such interface. */
  interfaceAddresses(name: string): { up: boolean; running: boolean; addresses: number[] } | null;
  /** probe.c: an ARP socket on `iface`; every ARP packet another host sends, by sender. Throws without CAP_NET_RAW. */
  arpOpen(iface: string, onSender: (address: number, mac: Buffer) => void): unknown;
  /** probe.c: broadcast an RFC 5227 probe for `address`; 0 or an errno. */
  arpProbe(socket: unknown, address: number): number;
  /** probe.c: an ICMP socket (raw, else an unprivileged ping socket); echo replies to it. */
  icmpOpen(onReply: (address: number, sequence: number) => void): [unknown, 'raw' | 'dgram'];
  /** probe.c: an echo request to `address`; 0 or an errno. */
  icmpEcho(socket: unknown, address: number, sequence: number): number;
  probeClose(socket: unknown): void;
  /** neigh.c: a neighbour (ARP) entry on `iface`, `address` at `mac`; 0 or an errno (EPERM: no CAP_NET_ADMIN). */
  neighbourSet(iface: string, address: number, mac: Buffer): number;
}

// build/Release is two levels above dist/src/.
export const native = load('../../build/Release/rackjoin_net.node');

function load(path: string): Native {
  try {
    return createRequire(import.meta.url)(path) as Native;
  } catch (err) {
    throw new Error(`the native addon (native/*.c) is not built: run npm run build (${(err as Error).message})`, {
      cause: err,
    });
  }
}
